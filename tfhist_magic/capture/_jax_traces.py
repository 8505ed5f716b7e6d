"""Each JAX watch traces in a context of its own (``jax.make_user_context``, part of
every ``jax.jit`` cache key): functions compiled before a watch are traced again inside
it, with the recording; none traced inside it is used after it; and what was compiled
before it is found again after it, not compiled anew.

JAX counts its contexts in every cache key, so creating the context misses every
entry made before it, once. The package creates it as early as it can (on import, or
on ``%load_ext``, when JAX is imported or Keras is set to JAX), so that this happens
before the user compiles anything. A JAX without user contexts clears every cache on
entry and exit instead.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys

_context = None
_watches = itertools.count(1)


def context():
    """The process's context (created on the first call), or None where JAX has none."""
    global _context
    if _context is None:
        import jax

        if hasattr(jax, "make_user_context"):
            _context = jax.make_user_context(None)
    return _context


def early(import_jax: bool = False) -> None:
    """Create the context now if JAX is imported, or (``import_jax``) Keras is set to it."""
    if "jax" in sys.modules or (import_jax and os.environ.get("KERAS_BACKEND", "").lower() == "jax"):
        context()


def _clear() -> None:
    import jax

    jax.clear_caches()


class Traces:
    """From ``__enter__`` to ``__exit__``: every function traces and compiles for this
    watch alone (a value of the context no other watch has)."""

    def __enter__(self):
        self._user = context()
        if self._user is None:
            _clear()
        else:
            self._before = self._user.get_global()
            self._user.set_global(("tfhist_magic watch", next(_watches)))
        return self

    def __exit__(self, *exc) -> None:
        if self._user is None:
            _clear()
        else:
            self._user.set_global(self._before)

    @contextlib.contextmanager
    def outside(self):
        """Eager work that traces none of the watch's code (an optimizer's new variables)
        in the context from before the watch, where its small computations are compiled
        already; unchanged while tracing (a trace keeps one context)."""
        from jax._src import core

        if self._user is None or not isinstance(core.trace_ctx.trace, core.EvalTrace):
            yield
            return
        with self._user(self._before):  # this thread's only: another may be tracing in the watch's
            yield
