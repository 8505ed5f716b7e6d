// What the findings say, beside the plot and on the tensors they name.

import { covered, el, mark } from "./draw.js";
import { fmt } from "./numbers.js";

/** The tensors a finding of `store`'s header names, or whose latest snapshot holds
 * NaN/Inf: kind \t name -> {message, severity} (an error wins over a warning). */
export function badges(store) {
  const out = new Map();
  const put = (key, message, severity) => {
    const had = out.get(key);
    if (!had || (severity === "error" && had.severity !== "error")) out.set(key, { message, severity });
  };
  const h = store.header;
  for (const f of (h && h.findings) || []) for (const n of covered(f)) put(f.kind + "\t" + n, f.message, f.severity);
  for (const s of store.series.values()) {
    const last = s.snaps[s.snaps.length - 1];
    if (last && last.nan + last.posinf + last.neginf > 0) put(s.kind + "\t" + s.name, "NaN/Inf in the latest snapshot", "error");
  }
  return out;
}

/** A finding's line: its mark, message and count of tensors; `open(f)` on a click. */
function finding(f, open) {
  const error = f.severity === "error";
  const n = covered(f).length;
  const d = el("div", "tfh-finding" + (error ? " tfh-error" : ""));
  d.append(mark(f.severity), el("span", "tfh-finding-text", f.message));
  if (n > 1) d.prepend(el("span", "tfh-count", `×${n}`)); // one problem on n tensors
  d.title = `${f.rule}: ${fmt(f.value)} against ${f.threshold === null ? "—" : fmt(f.threshold)}, steps ${f.first_step}–${f.last_step}` + (n > 1 ? `\n${covered(f).join("\n")}` : "");
  Object.assign(d.dataset, { kind: f.kind, name: f.name || "", step: f.step, rule: f.rule || "", severity: f.severity || "", count: n });
  d.addEventListener("click", () => open(f));
  return d;
}

/** The findings and notes of `header` in `box`; `open(f)`: a finding clicked. Returns the
 * key of what it shows: rebuilt only when `key` (the last one) differs. */
export function showFindings(box, header, key, open) {
  const found = (header && header.findings) || [];
  const notes = (header && header.notes) || [];
  const now = JSON.stringify([found, notes]);
  if (now === key) return key;
  const items = [el("div", "tfh-head", found.length ? `Findings (${found.length})` : "No findings")];
  for (const f of found) items.push(finding(f, open));
  for (const n of notes) items.push(el("div", "tfh-note", n));
  box.replaceChildren(...items);
  return now;
}
