"""Find what a magic line names: models (and sessions) in the user's namespace."""

from __future__ import annotations

from IPython.core.error import UsageError

__all__ = ["evaluate", "resolve_target", "models_in", "default_target"]

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
    obj = evaluate(shell, expr, "a Keras model or a tf.compat.v1 Session")
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
