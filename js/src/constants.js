// What every part shares: the kinds, their names and colours, the columns of a row, the views.

export const KINDS = ["activations", "weights", "grads"];

export const TITLES = { activations: "Activations", weights: "Weights", grads: "Gradients" };

export const COLORS = { activations: "#2a9d8f", weights: "#e76f51", grads: "#457b9d" };

export const EXTRA = 10;

export const [NAN, POSINF, NEGINF, ZEROS, MIN, MAX, MEAN, STD, NORM] = [0, 1, 2, 3, 4, 5, 6, 7, 8];

export const PERCENTILES = [0, 6.68, 15.87, 30.85, 50, 69.15, 84.13, 93.32, 100];

export const VIEWS = [
  ["step", "step"],
  ["overlay", "overlay"],
  ["offset", "offset"],
  ["heatmap", "heatmap"],
  ["distribution", "distribution"],
  ["grid", "all tensors"],
  ["depth", "depth × step"],
];

// The scalar series drawn under a kind's histogram: [metric, label, log scale].
export const PROBES = {
  weights: [["update_ratio", "update / weight ratio, std(Δw) / std(w) (grey: the other weight matrices)", true]],
  activations: [["dead_units", "dead units: zero on the whole batch", false], ["saturation", "saturated: within 0.03 of the bounds", false]],
};

// Drawn below them, on a log axis: sizes per sampled step, [metric, label, named by]: a
// weight's update norm and distance from the start (named by the tensor), the global
// gradient norm of the tensor's model (named by the model, header.models).
export const NORMS = {
  weights: [["update_norm", "update norm ‖Δw‖", "tensor"], ["init_distance", "distance from init ‖w − w₀‖", "tensor"]],
  grads: [["grad_norm", "global gradient norm of the model's update", "model"]],
};

export const SCALARS = ["update_ratio", "update_norm", "init_distance", "dead_units", "saturation", "grad_norm"];

// Statistics of the rows (widget.STATS): a page that fetched one for the depth view keeps
// it as the scalar series "<kind>.<stat>", and the deltas' rows extend it.
export const STATS = ["norm", "std", "mean"];

// The depth × step view's statistic per kind: [metric, label, colour scale].
export const DEPTH = {
  grads: [["norm", "gradient norm", "log"]],
  weights: [["update_ratio", "update ratio", "log"], ["norm", "weight norm", "log"]],
  activations: [["std", "activation std", "log"], ["dead_units", "dead share", "linear"]],
};
