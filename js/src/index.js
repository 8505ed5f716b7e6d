// tfhist_magic dashboard: drawn in the browser from the Recording's exact rows.
//
// The kernel sends binary packets (see packet.py: encode/decode): the full data once,
// then only what is new. Everything here (tabs, picker, slider, views, hover) runs in
// the page, so it responds while the kernel is busy training. No CDN: build.mjs bundles
// these modules into the one file the package ships (tfhist_magic/view/dashboard.js).
//
// Two ways in: anywidget's (the default export, widget.js: a live widget, its state in
// the kernel's model) and `mount` (saved.js: a packet and a DOM element, no kernel: the
// copy a saved notebook keeps, see saved.py, started by `mountSaved`). The rest is
// exported for the tests (tests/jsnode.py runs them under Node).

export { default } from "./widget.js";
export { mount, mountSaved } from "./saved.js";
export { Store, localModel } from "./store.js";
export { binEdges, decode } from "./codec.js";
export { PERCENTILES } from "./constants.js";
export * as constants from "./constants.js";
export { describe, fmt, fmtStat, frame, outside, pct, percentiles, rebin, robustRange, spaced, statOf, statusText, valueRange } from "./numbers.js";
export { contrast, luminance } from "./theme.js";
export { groupTree } from "./picker.js";
export { gridStat, sortTiles } from "./tiles.js";
export { COMPARE_VIEWS, CompareView, density } from "./compare.js";
