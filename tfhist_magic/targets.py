"""Find what a magic line names: models (and sessions) in the user's namespace."""

from __future__ import annotations

import ast
import io
import tokenize

from IPython.core.error import UsageError

from ._errors import tf_message

__all__ = ["evaluate", "resolve_target", "models_in", "default_target", "split_expressions", "tf_message"]


def _parses(text: str) -> bool:
    try:
        ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return False
    return bool(text.strip())


def split_expressions(text: str, flag: str, most: int) -> list[str]:
    """Split ``text`` into at most ``most`` Python expressions separated by spaces or
    commas at the top level: ``x[:, :3] y`` is ``["x[:, :3]", "y"]``.

    Raises:
        UsageError: when it is not such a list, or an ambiguous one.
    """
    text = text.strip()
    try:
        toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in (tokenize.NEWLINE, tokenize.ENDMARKER, tokenize.NL)]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        toks = []
    # Places between two tokens at bracket depth 0 where a space or a comma separates them.
    cuts, depth = [], 0
    for a, b in zip(toks, toks[1:]):
        if a.type == tokenize.OP and a.string in "([{":
            depth += 1
        elif a.type == tokenize.OP and a.string in ")]}":
            depth -= 1
        if depth == 0 and (a.end != b.start or a.string == ","):
            cuts.append((a, b))
    pieces = [text]
    one = bool(toks) and _parses(text) and not any(a.string == "," for a, _ in cuts)  # e.g. x[:, :3]
    if most > 1 and not one:  # the one place where both sides parse is the split
        found = []
        for a, b in cuts:
            left, right = text[: a.end[1]].rstrip(", "), text[b.start[1] :]
            if _parses(left) and _parses(right):
                found.append([left.strip(), right.strip()])
        if len(found) == 1:
            pieces = found[0]
        elif len(found) > 1:
            raise UsageError(f"Received: {flag} {text} (ambiguous: separate the expressions with a comma, as in {flag} X, Y).")
    if not all(_parses(p) for p in pieces):
        raise UsageError(f"Received: {flag} {text} (expected {'one or two Python expressions: X [Y]' if most > 1 else 'a Python expression'}).")
    return pieces


def evaluate(shell, expr: str, what: str = "a Keras model or a tf.compat.v1 Session"):
    """Evaluate ``expr`` in the user's namespace; an unknown name is a UsageError."""
    try:
        return shell.ev(expr)
    except NameError:
        raise UsageError(f"Unknown name {expr!r}: pass the name of {what} defined in this notebook.") from None
    except SyntaxError:
        raise UsageError(f"Received: {expr!r}, which is not a Python expression (expected the name of {what}).") from None
    except Exception as e:
        raise UsageError(f"Evaluating {expr!r} failed with {type(e).__name__}: {e}") from None


def _is_target(obj) -> bool:
    from .watcher import is_model, is_session

    return is_model(obj) or is_session(obj)


def resolve_target(shell, expr: str):
    """``expr`` evaluated and checked to be a model or a Session this package can watch."""
    from .watcher import unsupported

    obj = evaluate(shell, expr, "a Keras model or a tf.compat.v1 Session")
    why = unsupported(obj)
    if why is not None:
        raise UsageError(f"{expr}: {why}")
    if not _is_target(obj):
        raise UsageError(f"{expr!r} is a {type(obj).__name__}, not a model or Session: pass a Keras model or a tf.compat.v1 Session.")
    return obj


def models_in(ns: dict) -> dict:
    """Public names in ``ns`` bound to models or Sessions, in namespace order (one name each)."""
    out: dict = {}
    seen: set[int] = set()
    for name, obj in list(ns.items()):
        if name.startswith("_") or id(obj) in seen:
            continue
        try:
            ok = _is_target(obj)
        except Exception:
            ok = False
        if ok:
            out[name] = obj
            seen.add(id(obj))
    return out


def default_target(shell):
    """The only model (or Session) in the namespace: none or several is a UsageError."""
    found = models_in(shell.user_ns)
    if len(found) == 1:
        return next(iter(found.items()))
    if not found:
        raise UsageError("No Keras model or Session found in the namespace: pass one, as in %tfhist model.")
    raise UsageError(f"Several models in the namespace ({', '.join(found)}): pass one, as in %tfhist {next(iter(found))}.")
