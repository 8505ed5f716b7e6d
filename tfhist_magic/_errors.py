"""The one sentence of a TensorFlow error worth showing a user.

Neutral ground: the capture backends and the magics both report TensorFlow's errors,
and neither should import the other to do it."""

from __future__ import annotations

import re

__all__ = ["tf_message"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def tf_message(e: BaseException) -> str:
    """The sentence of an error that says what is wrong, without colour codes, node
    tracebacks or TensorFlow's "Graph execution error:" preamble."""
    text = _ANSI.sub("", getattr(e, "message", None) or str(e))
    lines = [ln.strip() for ln in text.splitlines()]
    for ln in lines:
        if ln.startswith("You must feed a value"):
            return ln
    skip = ("Graph execution error", "Detected at node", "File ", "[[", "Traceback", "Arguments received", "•", "Exception encountered")
    keep = [ln for ln in lines if ln and not ln.startswith(skip)]
    first = keep[0] if keep else text.strip() or type(e).__name__
    first = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", first)  # eager op noise
    first = re.sub(r"\s*\[Op:\w+\].*$", "", first)
    return first.rstrip(".")
