// The saved copy's entry: the dashboard from one packet with no kernel (saved.py writes the HTML that calls mountSaved).

import { Store, localModel } from "./store.js";
import { View } from "./view.js";
import { CompareView } from "./compare.js";

const STATE_KEYS = ["kind", "tensor", "view", "step", "opts"];

/** The dashboard in `host` from one full packet (ArrayBuffer or typed array), with no
 * kernel: the controls' state lives in a `localModel`, nothing is asked for. The state it
 * opens on: `state` (kind, tensor, view, step, opts), else where the live view it replaces
 * was, else what the saved header says the page showed when the cell ended. A
 * comparison's packet (header `compare`) opens the compare mode (compare.js). Returns
 * {view, model, store, destroy}. */
export function mount(host, packet, state = {}) {
  const store = new Store(null);
  store.receive(packet);
  const saved = store.header.saved || {};
  const model = localModel({ kind: "", tensor: "", view: "step", step: -1, opts: {}, ...pick(saved.state), ...pick(handedOver(store.header)), ...pick(state) });
  // a packet of several runs (comparing.py) opens in compare mode
  const Kind = store.header.compare ? CompareView : View;
  if (store.header.compare && !state.view) model.set("view", "overlay");
  const view = new Kind(model, host, store, saved);
  return { view, model, store, destroy: () => view.destroy() };
}

function pick(state) {
  const out = {};
  if (state && typeof state === "object") for (const k of STATE_KEYS) if (state[k] !== undefined && state[k] !== null) out[k] = state[k];
  return out;
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

/** What the user last showed in this saved output, in this browser (localStorage, by the
 * output's key): a change made after the cell ended, which the notebook file cannot
 * hold (the kernel wrote it when the cell ended). */
function remembered(key) {
  try {
    return key ? JSON.parse(localStorage.getItem("tfhist:" + key) || "null") || {} : {};
  } catch {
    return {};
  }
}

function remember(key, model) {
  if (!key) return;
  let timer = null;
  const save = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      try {
        localStorage.setItem("tfhist:" + key, JSON.stringify(Object.fromEntries(STATE_KEYS.map((k) => [k, model.get(k)]))));
      } catch {
        // storage off (a sandboxed frame, a full quota): the file's state still opens
      }
    }, 200);
  };
  for (const k of STATE_KEYS) model.on("change:" + k, save);
}

/** Start the saved copy of a dashboard (saved.py writes it): `root` holds the packet
 * (base64, zlib-compressed when `data-encoding` says "deflate") in `data-packet`, the
 * picture and text to show where no script runs (`.tfh-fallback`), and an empty
 * `.tfh-host`. The boot script hid the fallback (`data-booting`) and put the live view
 * this copy replaces in its place (`root.tfhHeld`); the dashboard is built hidden in the
 * host, at the same width, and takes the held view's place in the same frame, once it has
 * drawn: the output never empties or jumps twice. Mounts once per root. */
export async function mountSaved(root) {
  if (root.dataset.mounted) return root.tfhMounted;
  root.dataset.mounted = "1";
  const host = root.querySelector(".tfh-host");
  try {
    let bytes = fromBase64(root.getAttribute("data-packet") || "");
    if (root.dataset.encoding === "deflate") {
      const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    }
    const live = root.tfhLive; // the live view's entry (widget.js), when the boot took one
    const state = live ? live.state() : remembered(root.dataset.key);
    host.classList.add("tfh-building");
    const got = mount(host, bytes.buffer, state);
    remember(root.dataset.key, got.model);
    root.removeAttribute("data-packet"); // the page holds it decoded now
    // drawn: in one go, the held live view goes and the saved one shows in its place
    if (root.tfhHeld) root.tfhHeld.remove();
    if (live) globalThis.__tfhistLive.delete(root.dataset.from);
    host.classList.remove("tfh-building");
    root.removeAttribute("data-booting");
    root.style.minHeight = "";
    root.dataset.opened = live ? "live" : Object.keys(state).length ? "remembered" : "file"; // where its state came from
    const fallback = root.querySelector(".tfh-fallback");
    if (fallback) fallback.style.display = "none";
    root.tfhMounted = got;
    return got;
  } catch (e) {
    unboot(root);
    throw e;
  }
}

/** The dashboard could not start: the picture and text show after all. */
export function unboot(root) {
  if (root.tfhHeld) root.tfhHeld.remove();
  root.removeAttribute("data-booting");
  root.style.minHeight = "";
  const host = root.querySelector(".tfh-host");
  if (host) host.classList.remove("tfh-building");
}
