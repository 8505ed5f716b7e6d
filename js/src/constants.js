// What every part shares. The names Python and the page share come from one file,
// tfhist_magic/constants.json (esbuild inlines it; tests/test_constants.py checks both
// sides): the kinds, their names and colours, the columns of a row, the percentiles, the
// scalar series, the statistics. What only the page has is here: the views, the labels,
// the depth view's choices.

import C from "../../tfhist_magic/constants.json";

export const KINDS = C.KINDS;

export const TITLES = C.TITLES;

export const COLORS = C.COLORS;

// The numbers stored after a row's counts, in this order (histogram.EXTRA of them).
export const EXTRA_COLUMNS = C.EXTRA_COLUMNS;

export const EXTRA = EXTRA_COLUMNS.length;

export const [NAN, POSINF, NEGINF, ZEROS, MIN, MAX, MEAN, STD, NORM] = ["nan", "posinf", "neginf", "zeros", "min", "max", "mean", "std", "norm"].map((c) => EXTRA_COLUMNS.indexOf(c));

export const PERCENTILES = C.PERCENTILES;

export const SCALARS = C.SCALARS;

// The scalar series named by a model's label (the others by a tensor's name).
export const MODEL_SCALARS = C.MODEL_SCALARS;

// Statistics of the rows (packet.STATS): a page that fetched one for the depth view keeps
// it as the scalar series "<kind>.<stat>", and the deltas' rows extend it.
export const STATS = C.STATS;

export const VIEWS = [
  ["step", "step"],
  ["overlay", "overlay"],
  ["offset", "offset"],
  ["heatmap", "heatmap"],
  ["distribution", "distribution"],
  ["grid", "all tensors"],
  ["depth", "depth × step"],
];

// How the page draws each scalar series: [label, strip, log scale]. Strip "probe": under
// the histogram, with the rule's threshold or band; "norms": below it, sizes on a log axis.
const LOOK = {
  update_ratio: ["update / weight ratio, std(Δw) / std(w)", "probe", true],
  dead_units: ["dead units: zero on the whole batch", "probe", false],
  saturation: ["saturated: within 0.03 of the bounds", "probe", false],
  update_norm: ["update norm ‖Δw‖", "norms", true],
  init_distance: ["distance from init ‖w − w₀‖", "norms", true],
  grad_norm: ["global gradient norm of the model's update", "norms", true],
};

// The scalar series drawn under a kind's histograms, in constants.json's order: a tensor's
// (PROBES) and, under the gradients, their model's (MODEL_SCALARS).
const under = (kind) => [...(C.PROBES[kind] || []), ...(kind === "grads" ? MODEL_SCALARS : [])];
const strip = (name, entry) => Object.fromEntries(KINDS.map((k) => [k, under(k).filter((m) => LOOK[m][1] === name).map((m) => entry(m, LOOK[m]))]).filter(([, v]) => v.length));

// The scalar series drawn under a kind's histogram: [metric, label, log scale].
export const PROBES = strip("probe", (m, [label, , log]) => [m, label, log]);

// Drawn below them, on a log axis: sizes per sampled step, [metric, label, named by]: a
// weight's update norm and distance from the start (named by the tensor), the global
// gradient norm of the tensor's model (named by the model, header.models).
export const NORMS = strip("norms", (m, [label]) => [m, label, MODEL_SCALARS.includes(m) ? "model" : "tensor"]);

// The depth × step view's statistic per kind: [metric, label, colour scale].
export const DEPTH = {
  grads: [["norm", "gradient norm", "log"]],
  weights: [["update_ratio", "update ratio", "log"], ["norm", "weight norm", "log"]],
  activations: [["std", "activation std", "log"], ["dead_units", "dead share", "linear"]],
};
