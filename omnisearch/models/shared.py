"""An encoder shared by threads: the server's searches and the API's callers embed through one loaded
model, one `encode` at a time (the backends hold mutable state: torch modules, ONNX sessions, caches).

Example:
    >>> from omnisearch.models import load_encoder                 # doctest: +SKIP
    >>> enc = LockedEncoder(load_encoder("omni-lite"))              # doctest: +SKIP
    >>> enc.record == enc.inner.record                              # doctest: +SKIP
    True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from omnisearch.models.base import Encoder
from omnisearch.types import Embedding, EncoderInput


class LockedEncoder(Encoder):
    """`inner` with its `encode` serialised by a lock; name, version, dim and options are inner's."""

    def __init__(self, inner: Encoder) -> None:
        super().__init__(inner.options)
        self.inner = inner
        self.name, self.version, self.dim = inner.name, inner.version, inner.dim
        self.weights_from = inner.weights_from
        self.source, self.source_digest = inner.source, inner.source_digest
        self._lock = threading.Lock()

    @contextmanager
    def exclusive(self) -> Iterator[Encoder]:
        """`inner` itself, every other user of this encoder waiting meanwhile: for work that uses more
        than `encode` (ingest drives the encoder's capabilities: transcriber, sound blocks...)."""
        with self._lock:
            yield self.inner

    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        with self._lock:
            return self.inner.encode(items, progress)
