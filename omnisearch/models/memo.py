"""A small content-keyed memo for expensive per-array work (OCR of frames, the sound CNN).

The evaluator hands the same decoded arrays to several units of one item (v, av, tv all carry the
item's frames), so omni-lite computes each array's OCR text and sound embedding once.

Example:
    >>> memo = ArrayMemo(maxsize=2)
    >>> calls = []
    >>> f = lambda a: calls.append(1) or float(a.sum())
    >>> x = np.arange(4.0)
    >>> memo.get(x, f), memo.get(x.copy(), f), len(calls)
    (6.0, 6.0, 1)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np


def array_key(a: np.ndarray) -> str:
    """Content hash of an array (dtype, shape and bytes)."""
    h = hashlib.blake2b(digest_size=16)
    h.update(str((a.dtype.str, a.shape)).encode())
    h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class ArrayMemo:
    """Least-recently-used memo of `fn(array)` keyed by the array's content."""

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._store: OrderedDict[str, Any] = OrderedDict()

    def get(self, a: np.ndarray, fn: Callable[[np.ndarray], Any]) -> Any:
        key = array_key(a)
        if key in self._store:
            self._store.move_to_end(key)
            return self._store[key]
        value = fn(a)
        self.put(key, value)
        return value

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def put(self, key: str, value: Any) -> None:
        """Store `value` under a key made by `array_key` (least recently used entries leave first)."""
        self._store[key] = value
        self._store.move_to_end(key)
        if len(self._store) > self.maxsize:
            self._store.popitem(last=False)

    def peek(self, key: str) -> Any:
        """The value stored under `key` (KeyError when absent), marked as recently used."""
        self._store.move_to_end(key)
        return self._store[key]
