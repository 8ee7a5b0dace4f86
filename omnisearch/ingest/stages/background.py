"""A stage's helper thread: work handed to it runs beside the caller, one job after the other, and the
time it spends is added up. Disabled, the same calls run the work at once in the caller's thread, so
the stage code is the same either way.

The local engine gives the enricher (speech) and the encoder stage (sound blocks) one each: their
networks run in native code that releases the GIL, so on a CPU each keeps a core busy.

Example:
    >>> bg = Background("omnisearch-demo", enabled=False)
    >>> bg.submit(sum, [1, 2]).result(), bg.seconds >= 0.0
    (3, True)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS (OpenBLAS) on one thread inside the block, restored after it. The stages' threads
    each call small matrix products (resampling, log-mel, pooling); with its own threads OpenBLAS
    busy-waits between them and takes CPU from the networks: 60 short sounds index in 8.5 s against
    11.8 s on 2 cores. Large products (a long file's resampling) lose little."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def pin_blas_to_one_thread() -> None:
    """`one_blas_thread` for the rest of this process: the decoders and the Ray actors, which exist
    only to index. Every engine then computes with the same BLAS settings, so the local and the Ray
    engine write the same clips: OpenBLAS's results move by about 1e-7 with its thread count (in the
    resampler's product, say), and that is enough to change a word of a Whisper transcript."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def wait_until(future: Future, ready: Callable[[], bool], poll: float = 0.05) -> None:
    """Block until `ready()` holds or `future` is done (its error is raised here): for work that
    hands out partial results (segments, sound blocks) before it ends."""
    while not ready():
        if future.done():
            future.result()
            return
        try:
            future.result(timeout=poll)
        except TimeoutError:
            pass


def done(value: object) -> Future:
    """A future that already holds `value`."""
    fut: Future = Future()
    fut.set_result(value)
    return fut


class Background:
    """`submit(fn, *args)` -> a Future of `fn(*args)`; `add(seconds)` counts time spent elsewhere in the
    stage; `seconds` is the total; `close()` drops the jobs not started."""

    def __init__(self, name: str, enabled: bool) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name) if enabled else None
        self._lock = threading.Lock()
        self._seconds = 0.0

    @property
    def enabled(self) -> bool:
        return self._pool is not None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        if self._pool is not None:
            return self._pool.submit(self._timed, fn, *args)
        return done(self._timed(fn, *args))

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.add(time.perf_counter() - t)

    def add(self, seconds: float) -> None:
        with self._lock:
            self._seconds += seconds

    @property
    def seconds(self) -> float:
        with self._lock:
            return self._seconds

    def close(self) -> None:
        """Stop the thread: jobs not started are dropped; one running ends on its own."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
