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
        if (store.stale && !store.askedFull) {
          store.askedFull = true;
          model.send({ want: "full" });
        }
        if (msg.tfhist === "full") store.askedFull = false;
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

/** What a live view showed when it went (kind, tensor, view, step), by widget: when a
 * watched cell ends its output becomes the saved copy, which opens where the live view
 * was (saved.js: `handedOver`). Page-wide, as the saved copy's module is another instance. */
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
    return () => {
      handOver(model.get("_uid"), Object.fromEntries(["kind", "tensor", "view", "step"].map((k) => [k, model.get(k)])));
      view.destroy();
    };
  },
};
