"""The names shared by Python and the page, read from ``constants.json`` (one source:
``js/src/constants.js`` imports the same file, and ``tests/test_constants.py`` checks
that both sides agree).

* :data:`KINDS`: the kinds, in display order; :data:`TITLES`, :data:`COLORS` per kind.
* :data:`EXTRA_COLUMNS`: the numbers stored after a row's ``B`` counts
  (``histogram.EXTRA`` of them, in this order).
* :data:`SCALARS`: the scalar series a watch measures beside the histograms, one number
  per sampled step: of a weight, its update ratio, the update's norm ``||Δw||`` and its
  distance from the watch's first sampled step ``||w - w0||``; of an activation, its
  dead-unit and saturated shares; of a model, the global gradient norm of its update.
  :data:`MODEL_SCALARS` are named by a model's label, the others by a tensor's name.
* :data:`PROBES`: kind -> the scalar metrics measured beside its rows, in the column
  order producers hand them over (``Block.probes``).
* :data:`STATS`: row statistics the depth view can draw.
"""

from __future__ import annotations

import json
from pathlib import Path

_C = json.loads((Path(__file__).with_name("constants.json")).read_text(encoding="utf-8"))

KINDS: tuple[str, ...] = tuple(_C["KINDS"])
TITLES: dict[str, str] = dict(_C["TITLES"])
COLORS: dict[str, str] = dict(_C["COLORS"])
EXTRA_COLUMNS: tuple[str, ...] = tuple(_C["EXTRA_COLUMNS"])
PERCENTILES: tuple[float, ...] = tuple(_C["PERCENTILES"])
SCALARS: tuple[str, ...] = tuple(_C["SCALARS"])
MODEL_SCALARS: tuple[str, ...] = tuple(_C["MODEL_SCALARS"])
PROBES: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _C["PROBES"].items()}
STATS: tuple[str, ...] = tuple(_C["STATS"])

__all__ = ["KINDS", "TITLES", "COLORS", "EXTRA_COLUMNS", "PERCENTILES", "SCALARS", "MODEL_SCALARS", "PROBES", "STATS"]
