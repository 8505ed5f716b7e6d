"""One source for the names Python and the page share: ``tfhist_magic/constants.json``.

Python reads it (``constants.py``), the page's code imports it (``js/src/constants.js``,
inlined into the bundle by esbuild); these tests check that the Recording, the histogram
rows, the packet and the shipped bundle all say the same.
"""

from __future__ import annotations

import json
from pathlib import Path

from jsnode import run

from tfhist_magic import constants as C
from tfhist_magic import histogram as H
from tfhist_magic import recording
from tfhist_magic.view import packet

JSON = json.loads((Path(C.__file__).with_name("constants.json")).read_text(encoding="utf-8"))


def test_python_reads_the_json():
    assert list(C.KINDS) == JSON["KINDS"] and C.TITLES == JSON["TITLES"] and C.COLORS == JSON["COLORS"]
    assert list(C.SCALARS) == JSON["SCALARS"] and list(C.MODEL_SCALARS) == JSON["MODEL_SCALARS"] and list(C.STATS) == JSON["STATS"]
    assert {k: list(v) for k, v in C.PROBES.items()} == JSON["PROBES"]
    assert set(C.TITLES) == set(C.KINDS) == set(C.COLORS)
    # every scalar series is drawn somewhere: under a kind (a tensor's) or named by a model
    drawn = [m for ms in C.PROBES.values() for m in ms] + list(C.MODEL_SCALARS)
    assert sorted(drawn) == sorted(C.SCALARS)


def test_the_recording_and_the_rows_agree():
    assert tuple(recording.KINDS) == C.KINDS
    assert tuple(recording.SCALARS) == C.SCALARS
    # a row's extra columns, in order: histogram.py's indices are constants.json's order
    assert H.EXTRA == len(C.EXTRA_COLUMNS)
    for i, name in enumerate(C.EXTRA_COLUMNS):
        assert getattr(H, name.upper()) == i, name
    assert tuple(H.PERCENTILES) == C.PERCENTILES


def test_the_packet_agrees():
    assert tuple(packet.SCALARS) == C.SCALARS
    assert list(packet.STATS) == list(C.STATS)
    assert packet.STATS == {"norm": H.NORM, "std": H.STD, "mean": H.MEAN}


def test_the_shipped_bundle_agrees():
    """The bundle's constants, evaluated under Node: the JSON's values, and the page's own
    tables (what it draws under each kind) name only scalar series the JSON has."""
    got = run(
        """
        const c = D.constants;
        OUT = { KINDS: c.KINDS, TITLES: c.TITLES, COLORS: c.COLORS, EXTRA_COLUMNS: c.EXTRA_COLUMNS, PERCENTILES: c.PERCENTILES,
                SCALARS: c.SCALARS, MODEL_SCALARS: c.MODEL_SCALARS, STATS: c.STATS, EXTRA: c.EXTRA,
                columns: [c.NAN, c.POSINF, c.NEGINF, c.ZEROS, c.MIN, c.MAX, c.MEAN, c.STD, c.NORM], PROBES: c.PROBES, NORMS: c.NORMS };
        """,
        None,
    )
    for key in ("KINDS", "TITLES", "COLORS", "EXTRA_COLUMNS", "PERCENTILES", "SCALARS", "MODEL_SCALARS", "STATS"):
        assert got[key] == JSON[key], key
    assert got["EXTRA"] == H.EXTRA
    assert got["columns"] == [H.NAN, H.POSINF, H.NEGINF, H.ZEROS, H.MIN, H.MAX, H.MEAN, H.STD, H.NORM]
    # the page draws, under each kind, the JSON's scalar series of that kind (and the model's under the gradients)
    for kind in C.KINDS:
        drawn = [m for m, *_ in got["PROBES"].get(kind, [])] + [m for m, *_ in got["NORMS"].get(kind, [])]
        want = list(C.PROBES.get(kind, ())) + (list(C.MODEL_SCALARS) if kind == "grads" else [])
        assert drawn == want, kind
    assert [by for *_, by in got["NORMS"]["grads"]] == ["model"] and all(by == "tensor" for *_, by in got["NORMS"]["weights"])
