// The tensor picker: a tree of groups (model, layer, name prefix), collapsible, from the keyboard too.

import { el, mark } from "./draw.js";

// -- the picker's groups, the grid's statistics, the status line ----------------------------

/** A level of the picker with more entries than this is split by name prefix. */
export const CROWD = 12;

/** The tensors `names` (model order) as a tree for the picker: by model, by path ("/"),
 * and where a level holds more than CROWD entries, by the leading "_"-separated words of
 * its names (Keras' conv4_block3_2_conv falls under conv4 › conv4_block3). A group is
 * `{key, label, entries, names}` (entries: groups and items `{name, label}`, in model
 * order); a group of one entry is that entry, and a model's group is always shown. */
export function groupTree(names, modelOf = {}) {
  const group = (key, label) => ({ key, label, entries: [], index: new Map() });
  const root = group("", "");
  const child = (at, label, key) => {
    let c = at.index.get(label);
    if (!c) {
      c = group(key || (at.key ? at.key + "/" : "") + label, label);
      at.index.set(label, c);
      at.entries.push(c);
    }
    return c;
  };
  for (const name of names) {
    const model = modelOf[name] || "";
    // the model's name leads the tensor's path: the model's group says it once. A label made
    // unique in the watch ("net#2") leads a path that still starts with "net/"
    const base = model.replace(/#\d+$/, "");
    const path = model && name.startsWith(model + "/") ? name.slice(model.length + 1) : base && name.startsWith(base + "/") ? name.slice(base.length + 1) : name;
    const segs = path.split("/");
    const leaf = segs.pop();
    let at = root;
    if (model) (at = child(root, model, "model:" + model)).model = true;
    for (const seg of segs) at = child(at, seg);
    at.entries.push({ name, label: leaf });
  }
  const split = (g) => {
    for (let k = 1; k <= 3 && g.entries.length > CROWD; k++) {
      const by = new Map();
      for (const e of g.entries) {
        const w = e.label.split("_");
        if (w.length > k) {
          const p = w.slice(0, k).join("_");
          if (!by.has(p)) by.set(p, []);
          by.get(p).push(e);
        }
      }
      const real = [...by.entries()].filter(([, es]) => es.length > 1);
      const left = g.entries.length - real.reduce((a, [, es]) => a + es.length - 1, 0);
      if (real.length < 2 || left > 0.6 * g.entries.length) continue; // no real split
      const of = new Map();
      for (const [p, es] of real) {
        const sub = { key: `${g.key}/${p}_`, label: p, entries: es, index: new Map() };
        for (const e of es) of.set(e, sub);
      }
      const out = [];
      for (const e of g.entries) {
        const sub = of.get(e);
        if (!sub) out.push(e);
        else if (!out.includes(sub)) out.push(sub);
      }
      g.entries = out;
    }
    for (const e of g.entries) if (e.entries) split(e);
  };
  const finish = (g) => {
    g.entries = g.entries.map((e) => {
      if (!e.entries) return e;
      finish(e);
      if (e.entries.length !== 1 || e.model) return e;
      const only = e.entries[0];
      return only.entries ? { ...only, label: e.label + "/" + only.label } : { name: only.name, label: e.label + "/" + only.label };
    });
    g.names = new Set();
    for (const e of g.entries) e.entries ? e.names.forEach((n) => g.names.add(n)) : g.names.add(e.name);
    delete g.index;
    return g;
  };
  split(root);
  return finish(root);
}

/** The picker: the tensors of a kind as a tree in `list` (an element), groups opened and
 * closed by click or key. `pick(name)`: a tensor chosen; `refresh()`: show again (a group
 * opened or closed); `root`: where it says how many rows it built and in how long. */
export class Picker {
  constructor(list, { root, pick, refresh }) {
    Object.assign(this, { list, root, pick, refresh });
    this.openState = new Map(); // group key -> open, where the user chose
    this.cursor = null;
    list.addEventListener("keydown", (e) => this.onKey(e));
  }

  /** The tree of `series` (one kind, filtered by `q`; `cur` selected), with `badges`
   * (kind \t name -> {message, severity}) and `models` (name -> model label). Rebuilt
   * only when what it shows changed. */
  show(input) {
    const { kind, cur, q, series: list, badges, models } = input;
    const key = [kind, q, cur && cur.name, list.length, [...this.openState].join(","), [...badges.keys()].join("|")].join("\n");
    if (key === this.key) return;
    this.key = key;
    const t0 = performance.now();
    const tree = groupTree(list.map((s) => s.name), models);
    const all = list.length <= 40;
    const isOpen = (g, depth) => {
      if (q || all) return true;
      if (this.openState.has(g.key)) return this.openState.get(g.key);
      return depth === 0 || (cur && g.names.has(cur.name));
    };
    const rows = [];
    const walk = (g, depth) => {
      for (const e of g.entries) {
        if (!e.entries) {
          rows.push(this.item(e, depth, kind, cur, badges));
          continue;
        }
        const open = isOpen(e, depth);
        rows.push(this.node(e, depth, open, kind, badges));
        if (open) walk(e, depth + 1);
      }
    };
    walk(tree, 0);
    if (!list.length) rows.push(el("div", "tfh-none", "no tensor matches"));
    this.list.replaceChildren(...rows);
    this.markCursor();
    this.root.dataset.pickerRows = rows.length;
    this.root.dataset.pickerMs = (performance.now() - t0).toFixed(1);
  }

  /** A tensor's row. */
  item(e, depth, kind, cur, badges) {
    const item = el("div", "tfh-item" + (cur && e.name === cur.name ? " tfh-on" : ""));
    item.dataset.name = e.name;
    item.title = e.name;
    item.setAttribute("role", "treeitem");
    item.style.paddingLeft = 6 + 12 * depth + "px";
    item.append(el("span", "tfh-name", e.label));
    const b = badges.get(kind + "\t" + e.name);
    if (b) {
      const badge = el("span", "tfh-badge");
      badge.append(mark(b.severity));
      badge.title = b.message;
      item.append(badge);
    }
    item.addEventListener("click", () => this.pickTensor(e.name));
    return item;
  }

  /** A group's row: its caret, name and count; a closed one shows its tensors' marks. */
  node(e, depth, open, kind, badges) {
    const head = el("div", "tfh-node" + (e.model ? " tfh-group" : ""));
    head.dataset.key = e.key;
    head.dataset.depth = depth;
    head.setAttribute("role", "treeitem");
    head.setAttribute("aria-expanded", String(open));
    head.style.paddingLeft = 2 + 12 * depth + "px";
    head.append(el("span", "tfh-caret", open ? "▾" : "▸"), el("span", "tfh-name", e.label), el("span", "tfh-n", String(e.names.size)));
    const flagged = [...e.names].map((n) => badges.get(kind + "\t" + n)).filter(Boolean);
    if (flagged.length && !open) {
      const badge = el("span", "tfh-badge");
      badge.append(mark(flagged.some((b) => b.severity === "error") ? "error" : "warning", flagged.length));
      head.append(badge);
    }
    head.title = `${e.label}: ${e.names.size} tensors (click to ${open ? "collapse" : "expand"})`;
    head.addEventListener("click", () => this.toggle(e.key, !open));
    return head;
  }

  /** Select tensor `name` from the picker. */
  pickTensor(name) {
    this.cursor = "i:" + name;
    this.pick(name);
    this.markCursor(); // when the list was not rebuilt (the same tensor)
  }

  toggle(key, open) {
    this.openState.set(key, open);
    this.cursor = "n:" + key;
    this.refresh();
  }

  markCursor() {
    const rows = [...this.list.children];
    let at = rows.find((r) => (r.dataset.key !== undefined ? "n:" + r.dataset.key : "i:" + r.dataset.name) === this.cursor);
    if (!at) at = rows.find((r) => r.classList.contains("tfh-on"));
    for (const r of rows) r.classList.toggle("tfh-cursor", r === at);
    if (at && this.list.contains(document.activeElement)) at.scrollIntoView({ block: "nearest" });
  }

  /** The picker from the keyboard: ↑/↓ move (an item is selected), → opens a group,
   * ← closes it or goes to the enclosing group, Enter/Space toggles, Home/End. */
  onKey(e) {
    const rows = [...this.list.querySelectorAll(".tfh-node, .tfh-item")];
    if (!rows.length) return;
    let i = rows.findIndex((r) => r.classList.contains("tfh-cursor"));
    if (i < 0) i = Math.max(0, rows.findIndex((r) => r.classList.contains("tfh-on")));
    const row = rows[i];
    const isNode = row.dataset.key !== undefined;
    const open = isNode && row.getAttribute("aria-expanded") === "true";
    const go = (j) => {
      const r = rows[Math.max(0, Math.min(rows.length - 1, j))];
      if (r.dataset.key !== undefined) {
        this.cursor = "n:" + r.dataset.key;
        this.markCursor();
      } else this.pickTensor(r.dataset.name);
    };
    const depthOf = (r) => (r.dataset.key !== undefined ? +r.dataset.depth : (parseFloat(r.style.paddingLeft) - 6) / 12);
    switch (e.key) {
      case "ArrowDown": go(i + 1); break;
      case "ArrowUp": go(i - 1); break;
      case "Home": go(0); break;
      case "End": go(rows.length - 1); break;
      case "ArrowRight":
        if (isNode && !open) this.toggle(row.dataset.key, true);
        else go(i + 1);
        break;
      case "ArrowLeft":
        if (isNode && open) this.toggle(row.dataset.key, false);
        else {
          const d = depthOf(row);
          for (let j = i - 1; j >= 0; j--) if (rows[j].dataset.key !== undefined && +rows[j].dataset.depth < d) return void (go(j), e.preventDefault());
        }
        break;
      case "Enter":
      case " ":
        if (isNode) this.toggle(row.dataset.key, !open);
        else this.pickTensor(row.dataset.name);
        break;
      default:
        return;
    }
    e.preventDefault();
  }
}
