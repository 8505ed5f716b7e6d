"""Execute a notebook headless in a real Jupyter kernel; write it and an HTML page.

    python tools/run_notebook.py notebooks/quickstart.ipynb --out out/

The widget state is not stored (as JupyterLab saves by default): each watched cell's output
is the dashboard the notebook keeps (the page code and the data inlined as text/html, with a
PNG and text beside it), so the HTML page draws it with no kernel.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time


def run(path, out_dir, timeout: int = 600):
    import nbformat
    from nbclient import NotebookClient
    from nbconvert import HTMLExporter

    path = pathlib.Path(path)
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    os.environ.update(env)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}, store_widget_state=False)
    client.execute()
    nb_out = out_dir / path.name
    nbformat.write(nb, nb_out)
    html, _ = HTMLExporter().from_notebook_node(nb)
    html_out = nb_out.with_suffix(".html")
    html_out.write_text(html, encoding="utf-8")
    return nb, nb_out, html_out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebooks", nargs="+")
    ap.add_argument("--out", default="out")
    args = ap.parse_args(argv)
    for p in args.notebooks:
        t = time.perf_counter()
        _, nb_out, html_out = run(p, args.out)
        print(f"{p}: executed in {time.perf_counter() - t:.0f}s -> {nb_out}, {html_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
