// Bundle js/src/*.js into tfhist_magic/view/dashboard.js, the one ES module anywidget loads
// and the saved output inlines. The bundle is committed, so `pip install` needs no npm:
// after editing js/src, run `cd js && npm install && npm run build` and commit both.
// Its first lines name the sources' SHA-256 (tests/test_dashboard_js.py checks that the
// committed bundle was built from the committed sources).
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const src = join(here, "src");

// Besides js/src, the bundle inlines the names Python and the page share.
const shared = join(here, "..", "tfhist_magic", "constants.json");

/** The sources' digest: each file's path (relative to js/src, "/"-separated, sorted), a
 * NUL, its bytes, a NUL; then "tfhist_magic/constants.json", a NUL, its bytes, a NUL.
 * tests/test_dashboard_js.py computes the same. */
export function digest() {
  const files = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".js")) files.push(relative(src, p).split(sep).join("/"));
    }
  };
  walk(src);
  files.sort();
  const h = createHash("sha256");
  for (const f of files) h.update(f + "\0").update(readFileSync(join(src, f))).update("\0");
  h.update("tfhist_magic/constants.json\0").update(readFileSync(shared)).update("\0");
  return h.digest("hex");
}

await build({
  entryPoints: [join(src, "index.js")],
  bundle: true,
  format: "esm",
  target: "es2020",
  outfile: join(here, "..", "tfhist_magic", "view", "dashboard.js"),
  banner: {
    js: "// tfhist_magic dashboard: bundled by js/build.mjs from js/src/*.js (edit those, then\n" +
      "// `cd js && npm install && npm run build`). No imports, nothing from a CDN.\n" +
      `// sources: sha256 ${digest()}`,
  },
  legalComments: "none",
  logLevel: "warning",
});
