"""The import graph follows the data flow (DESIGN.md): the Recording knows no screen, the
capture knows no magics, the text view needs no matplotlib, and TensorFlow's private
APIs are named in capture/_compat.py only. Pure Python and NumPy: no TensorFlow here."""

import ast
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tfhist_magic
from tfhist_magic import histogram as H
from tfhist_magic import recording
from tfhist_magic.recording import Recording

PKG = Path(tfhist_magic.__file__).parent


def _imports_of(source: str, package: str) -> set[str]:
    """Every module ``source`` (a module of ``package``) imports, anywhere in it
    (functions included), as absolute names; ``from m import x`` adds ``m`` and ``m.x``."""
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # from . import view
    return out


def _imports(path: Path) -> set[str]:
    return _imports_of(path.read_text(), ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1]))


def _under(names: set[str], *modules: str) -> set[str]:
    return {n for n in names if any(n == m or n.startswith(m + ".") for m in modules)}


def test_the_import_helper_sees_relative_and_nested_imports():
    """The checks below are only as good as _imports_of: it must see an import inside a
    function, and resolve relative ones from any depth."""
    src = "import os\nfrom . import tensorboard\ndef f():\n    from .view.text import summary\n    from ..health import findings\n"
    got = _imports_of(src, "tfhist_magic.capture")
    assert _under(got, "tfhist_magic.capture.view", "tfhist_magic.capture.tensorboard", "tfhist_magic.health", "os") == {
        "os", "tfhist_magic.capture.tensorboard", "tfhist_magic.capture.view.text", "tfhist_magic.capture.view.text.summary",
        "tfhist_magic.health", "tfhist_magic.health.findings",
    }
    got = _imports(PKG / "view" / "text.py")
    assert "tfhist_magic.view._labels" in got and "tfhist_magic.health" in got  # ``from ..health import`` in a function


def test_recording_imports_no_view_and_no_exporter():
    path = PKG / "recording.py"
    assert _under(_imports(path), "tfhist_magic.view", "tfhist_magic.tensorboard", "tfhist_magic.magics", "IPython", "matplotlib", "tensorflow") == set()
    # nor names them in a string it imports by hand: the package registers the faces
    strings = [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert [s for s in strings if re.fullmatch(r"\.*(tfhist_magic\.)?(view|tensorboard)[\w.]*(:\w+)?", s)] == []


def test_the_recordings_faces_are_registered_by_the_package():
    assert recording.FACES == {
        "summary": "tfhist_magic.view.text:summary",
        "show": "tfhist_magic.view:show",
        "figure": "tfhist_magic.view.figure:overview_figure",
        "png": "tfhist_magic.view.static:overview_png",
        "to_tensorboard": "tfhist_magic.tensorboard:to_tensorboard",
        "from_tensorboard": "tfhist_magic.tensorboard:from_tensorboard",
    }
    for target in recording.FACES.values():
        module, _, attr = target.partition(":")
        assert importlib.util.find_spec(module) is not None and attr, target


def test_the_recordings_methods_still_show_it():
    rec = Recording(bins=8)
    rec.add("weights", "dense/kernel", 3, H.reference_row(np.arange(6, dtype=np.float32), 8))
    text = rec.summary()
    assert text.splitlines()[:2] == ["tfhist Recording: 1 series, 1 steps recorded (3–3), 8 bins", "Weights (1):"]
    assert repr(rec) == text
    png, meta = rec._repr_png_()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and meta == {"width": 230}
    fig = rec.figure()
    assert [ax.get_title() for ax in fig.axes] == ["Weights: dense/kernel"]
    assert rec.show(mode="none") is None
    assert Recording(bins=8)._repr_png_() is None


def test_an_unregistered_face_is_one_clear_sentence(monkeypatch):
    monkeypatch.delitem(recording.FACES, "summary")
    with pytest.raises(LookupError, match=r"^Received: face 'summary', which tfhist_magic\.recording\.FACES does not register \(registered: figure, from_tensorboard, png, show, to_tensorboard\)$"):
        Recording(bins=8).summary()


def test_text_view_and_summary_do_not_import_matplotlib():
    code = (
        "import sys, numpy as np\n"
        "import tfhist_magic.view.text\n"
        "from tfhist_magic import Recording, histogram as H\n"
        "rec = Recording(bins=8)\n"
        "rec.add('grads', 'g', 0, H.reference_row(np.arange(4.0), 8))\n"
        "text = rec.summary() + repr(rec)\n"
        "print('Gradients (1):' in text, 'matplotlib' in sys.modules, 'tensorflow' in sys.modules)\n"
    )
    env = dict(os.environ, MPLBACKEND="Agg")
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert got.returncode == 0, got.stderr
    assert got.stdout.split() == ["True", "False", "False"]


def test_views_take_their_labels_from_a_module_without_matplotlib():
    assert _under(_imports(PKG / "view" / "_labels.py"), "matplotlib") == set()
    for name in ("text.py", "static.py"):
        assert "tfhist_magic.view.figure" not in _imports(PKG / "view" / name), name
    assert _under(_imports(PKG / "view" / "text.py"), "matplotlib", "PIL") == set()


def test_the_capture_does_not_import_the_magics_side():
    from tfhist_magic import _errors, targets

    for path in sorted((PKG / "capture").glob("*.py")):
        assert _under(_imports(path), "tfhist_magic.targets", "tfhist_magic.magics", "tfhist_magic.view", "IPython") == set(), path.name
    assert targets.tf_message is _errors.tf_message  # still importable where tests and magics.py look
    assert _under(_imports(PKG / "_errors.py"), "tensorflow", "IPython") == set()


#: What capture modules must not spell out themselves: TensorFlow/Keras private
#: attributes, which _compat.py names (and tests against each release).
_PRIVATE = re.compile(r"\._id\b|\._ref\(|\b_closed\b|[\"']_noinline[\"']|[\"']_distributed_\w+[\"']")


def test_private_tf_apis_are_named_in_compat_only():
    found = {}
    for path in sorted((PKG / "capture").glob("*.py")):
        if path.name == "_compat.py":
            continue
        hits = [f"{i}: {ln.strip()}" for i, ln in enumerate(path.read_text().splitlines(), 1) if _PRIVATE.search(ln)]
        if hits:
            found[path.name] = hits
    assert found == {}
    text = (PKG / "capture" / "_compat.py").read_text()
    for name in ("def op_order", "def ref_variable_tensor", "def session_closed", "NOINLINE = ", "KERAS3_DISTRIBUTED_UPDATE = ", "TF_KERAS_DISTRIBUTED_APPLY = ", "TF_KERAS_LEGACY_DISTRIBUTED_APPLY = "):
        assert name in text, name
