// The saved copy's entry: the dashboard from one packet with no kernel (saved.py writes the HTML that calls mountSaved).

import { Store, localModel } from "./store.js";
import { View } from "./view.js";
import { CompareView } from "./compare.js";

/** The dashboard in `host` from one full packet (ArrayBuffer or typed array), with no
 * kernel: the controls' state lives in a `localModel`, nothing is asked for. `state`
 * presets kind, tensor, view and step. A comparison's packet (header `compare`) opens
 * the compare mode (compare.js). Returns {view, model, store, destroy}. */
export function mount(host, packet, state = {}) {
  const store = new Store(null);
  store.receive(packet);
  const model = localModel({ kind: "", tensor: "", view: "step", step: -1, ...handedOver(store.header), ...state });
  // a packet of several runs (comparing.py) opens in compare mode
  const Kind = store.header.compare ? CompareView : View;
  if (store.header.compare && !state.view) model.set("view", "overlay");
  const view = new Kind(model, host, store, store.header.saved || {});
  return { view, model, store, destroy: () => view.destroy() };
}

/** Where the live view this copy replaces was (widget.js: `handOver`): the saved header
 * names its widget (`saved.from`); nothing in a reopened notebook. */
function handedOver(header) {
  const from = header && header.saved && header.saved.from;
  const had = from && globalThis.__tfhistHandOver && globalThis.__tfhistHandOver.get(from);
  return had || {};
}

/** Bytes from base64 text (the packet inlined in a saved output). */
export function fromBase64(text) {
  const bin = atob(text.replace(/\s+/g, ""));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Start the saved copy of a dashboard (saved.py writes it): `root` holds the packet
 * (base64, zlib-compressed when `data-encoding` says "deflate") in `data-packet`, the
 * picture and text to show where no script runs (`.tfh-fallback`, hidden once the
 * dashboard has drawn) and an empty `.tfh-host`. Mounts once per root. */
export async function mountSaved(root) {
  if (root.dataset.mounted) return root.tfhMounted;
  root.dataset.mounted = "1";
  let bytes = fromBase64(root.getAttribute("data-packet") || "");
  if (root.dataset.encoding === "deflate") {
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  }
  const host = root.querySelector(".tfh-host");
  const got = mount(host, bytes.buffer);
  root.removeAttribute("data-packet"); // the page holds it decoded now
  const fallback = root.querySelector(".tfh-fallback");
  if (fallback) fallback.style.display = "none";
  root.tfhMounted = got;
  return got;
}
