"""A small least-recently-used cache under a lock, for the process-wide caches of both
backends (row functions, shared functions, compiled computations). No TensorFlow, no JAX."""

from __future__ import annotations

import collections
import threading

__all__ = ["Lru"]


class Lru:
    """At most ``size`` values by key, the most recently used last, under one lock (an
    ``RLock``, which a caller may hold across its own steps: ``with lru.lock:``).
    :meth:`get` makes a missing value with ``make()`` and drops the least recently used
    beyond ``size`` (read when it drops, so a caller may lower it)."""

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.RLock()
        self._items: collections.OrderedDict = collections.OrderedDict()

    def get(self, key, make):
        with self.lock:
            value = self._items.get(key)
            if value is None:
                value = self._items[key] = make()
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
            return value

    def drop(self, key, value) -> None:
        """Forget ``key`` if it still holds ``value``."""
        with self.lock:
            if self._items.get(key) is value:
                del self._items[key]

    def clear(self) -> None:
        with self.lock:
            self._items.clear()

    def items(self) -> list:
        with self.lock:
            return list(self._items.items())

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self):
        return iter([k for k, _ in self.items()])
