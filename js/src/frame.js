// What every dashboard (a Recording's View, a comparison's CompareView) has around its
// parts: the root element, the widget model's state (kind, tensor, view, step) and its
// changes, the plot's width, the page's theme, and the teardown of all of these.

import { THEME, el } from "./draw.js";
import { applyTheme, watchTheme } from "./theme.js";

// The model's keys whose change redraws.
const STATE = ["kind", "tensor", "view", "step"];

export class Frame {
  /** A root element of class `cls` in `host`, for widget model `model` (or a localModel);
   * `saved`: the saved copy's header entry (no kernel). `redraw()` draws again, when the
   * theme's colours change. */
  constructor(model, host, { cls, saved = null, redraw }) {
    this.born = performance.now();
    this.model = model;
    this.saved = saved;
    this.redraw = redraw;
    this.root = el("div", cls);
    this.root.dataset.saved = saved ? "1" : "0";
    // the dashboard's keys are its own: JupyterLab and Notebook 7 (Lumino) run no shortcut
    // for a key typed in here, so arrows never move the notebook's cell selection. Lumino
    // looks for the attribute from the focused element up, but a binding for ":focus"
    // matches that element first: so whatever takes the focus here gets it too (Notebook 7
    // handles keys before they reach the page; JupyterLab after, where the keys stop them)
    this.root.dataset.lmSuppressShortcuts = "true";
    this.root.addEventListener("focusin", (e) => {
      if (e.target && e.target.dataset) e.target.dataset.lmSuppressShortcuts = "true";
    });
    host.appendChild(this.root);
    this.unwatch = watchTheme(() => this.retheme(true));
    this.undo = [];
  }

  /** Call `fn` on every change of the state the model holds (kind, tensor, view, step). */
  onState(fn) {
    for (const key of STATE) this.model.on("change:" + key, fn);
    this.undo.push(() => { for (const key of STATE) this.model.off("change:" + key, fn); });
  }

  /** Redraw when `plot` changes width (and read the theme once it is on the page). */
  watchWidth(plot) {
    const resize = new ResizeObserver(() => {
      if (!this.themed) this.retheme(true); // attached to the page now: its colours can be read
      const w = plot.clientWidth;
      if (w && w !== this.lastWidth) {
        this.lastWidth = w;
        this.redraw();
      }
    });
    resize.observe(plot);
    this.undo.push(() => resize.disconnect());
  }

  set(changes) {
    for (const [k, v] of Object.entries(changes)) this.model.set(k, v);
    this.model.save_changes(); // reaches the kernel when it is idle; the page does not wait
  }

  /** Read the page's colours again (the theme may have changed: JupyterLab loads the new
   * theme's styles a moment after it says so, hence a second look); redraw if they did. */
  retheme(redraw, again = true) {
    if (!this.root.isConnected) return;
    const was = this.themeKey;
    this.theme = applyTheme(this.root);
    this.themed = true;
    this.themeKey = JSON.stringify(this.theme);
    if (redraw && was !== undefined && was !== this.themeKey) this.redraw();
    if (redraw && again) {
      clearTimeout(this.themeLater);
      this.themeLater = setTimeout(() => this.retheme(true, false), 400);
    }
  }

  /** Before drawing: the canvases' colours are this dashboard's. */
  paint() {
    if (!this.themed) this.retheme(false);
    if (this.theme) Object.assign(THEME, this.theme);
  }

  /** The first draw's timing, once: from the view's creation (decode was before). */
  firstDraw(store) {
    const d = this.root.dataset;
    if (d.firstDrawMs !== undefined) return;
    d.firstDrawMs = (performance.now() - this.born).toFixed(1);
    d.firstDrawAt = performance.now().toFixed(0); // since the page began loading
    const f = store.fullTiming;
    if (f) Object.assign(d, { packetBytes: f.bytes, decodeMs: f.decode.toFixed(1), applyMs: f.apply.toFixed(1) });
  }

  destroy(keepRoot = false) {
    for (const undo of this.undo) undo();
    this.unwatch();
    clearTimeout(this.themeLater);
    if (!keepRoot) this.root.remove();
  }
}
