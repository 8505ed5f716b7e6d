// The anywidget entry: one Store per widget model (shared by its views), freed with the model.

import { Store } from "./store.js";
import { View } from "./view.js";

// The live widget's data, one Store per widget model (shared by its views), freed when the
// model is destroyed (anywidget calls what `initialize` returns).
export const STORES = new Map();

export function storeFor(model) {
  const uid = model.get("_uid");
  let entry = STORES.get(uid);
  if (!entry) {
    const store = new Store((msg) => model.send(msg));
    const full = () => {
      const d = model.get("_data");
      if (d && d.byteLength) store.receive(d);
    };
    const custom = (msg, buffers) => {
      if (msg && msg.tfhist && buffers && buffers.length) {
        store.receive(buffers[0]);
        store.catchUp(msg.tfhist === "full");
      }
    };
    full();
    model.on("change:_data", full);
    model.on("msg:custom", custom);
    entry = {
      store,
      free() {
        model.off("change:_data", full);
        model.off("msg:custom", custom);
        store.listeners.clear();
        STORES.delete(uid);
      },
    };
    STORES.set(uid, entry);
  }
  return entry;
}

/** The state a page shows: kind, tensor, view, step and the options. */
export function stateOf(model, view) {
  const out = Object.fromEntries(["kind", "tensor", "view", "step"].map((k) => [k, model.get(k)]));
  out.opts = JSON.parse(JSON.stringify(view.opts));
  return out;
}

/** The live views on this page, by widget (page-wide: the saved copy's module is another
 * instance). When a watched cell ends its output becomes the saved copy, whose first
 * script takes the live view's root into its own place (`claimed`) and shows it until
 * the saved dashboard has drawn, then drops it: the output never empties, never shows
 * the no-script picture, and opens where the live view was (saved.js). */
export function liveViews() {
  const g = globalThis;
  if (!g.__tfhistLive) g.__tfhistLive = new Map();
  return g.__tfhistLive;
}

function register(model, view) {
  const uid = model.get("_uid");
  const entry = { root: view.root, height: 0, claimed: false, state: () => stateOf(model, view) };
  const sized = new ResizeObserver(() => {
    const h = view.root.getBoundingClientRect().height;
    if (h > 0) entry.height = h;
    if (h > 0 && Math.abs(h - (entry.told || 0)) > 8) tell(); // the saved copy keeps this height while it starts
  });
  // the state, told to the kernel as a message of its own on every change: ipywidgets
  // holds back a model's updates while the kernel is busy (one in flight), and a watched
  // cell keeps it busy; the kernel notes these as they arrive (widget.py: _listen)
  let timer = null;
  const tell = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      entry.told = Math.round(entry.height);
      model.send({ page: { ...entry.state(), height: entry.told } });
    }, 60);
  };
  const keys = ["kind", "tensor", "view", "step", "opts"];
  for (const k of keys) model.on("change:" + k, tell);
  sized.observe(view.root);
  liveViews().set(uid, entry);
  return () => {
    for (const k of keys) model.off("change:" + k, tell);
    clearTimeout(timer);
    sized.disconnect();
    const st = entry.state();
    entry.state = () => st; // what it showed when it went
    handOver(uid, st);
    view.destroy(true); // its root kept: the saved copy may hold it (or has already)
    if (!entry.claimed) view.root.remove(); // detached, still whole: a saved copy may take it yet
    if (!entry.claimed) setTimeout(() => liveViews().get(uid) === entry && !entry.claimed && liveViews().delete(uid), 60_000);
  };
}

/** What a live view showed when it went (kind, tensor, view, step, options), by widget,
 * for a saved copy that did not take its root (saved.js: `handedOver`). */
export function handOver(uid, state) {
  const g = globalThis;
  if (!g.__tfhistHandOver) g.__tfhistHandOver = new Map();
  g.__tfhistHandOver.set(uid, state);
}

export default {
  initialize({ model }) {
    const entry = storeFor(model);
    return () => entry.free(); // the model is gone: so is its data
  },
  render({ model, el: host }) {
    const view = new View(model, host, storeFor(model).store);
    return register(model, view);
  },
};
