"""Every patch has an undo (line_profiler's pattern, with a sentinel for "was absent")."""

from __future__ import annotations

__all__ = ["Patches"]

_ABSENT = object()


class Patches:
    """Set attributes now; put every one back exactly as it was with :meth:`undo`."""

    def __init__(self) -> None:
        self._undo: list[tuple[object, str, object]] = []

    def set(self, obj, name: str, value) -> None:
        # For a class, look only at its own __dict__: an inherited attribute must be
        # restored by deleting ours, not by copying the parent's onto the class.
        # An instance's own attribute likewise: a method patched on one object is undone
        # by deleting it, so the class's method shows through again.
        if isinstance(obj, type) or hasattr(obj, "__dict__"):
            old = obj.__dict__.get(name, _ABSENT)
        else:
            old = getattr(obj, name, _ABSENT)
        setattr(obj, name, value)
        self._undo.append((obj, name, old))

    def undo(self) -> None:
        """Undo every patch, newest first; keep going if one fails, then raise it."""
        error = None
        while self._undo:
            obj, name, old = self._undo.pop()
            try:
                if old is _ABSENT:
                    delattr(obj, name)
                else:
                    setattr(obj, name, old)
            except Exception as e:  # pragma: no cover - defensive
                error = error or e
        if error is not None:  # pragma: no cover
            raise error

    def __len__(self) -> int:
        return len(self._undo)
