"""glibc malloc settings for an indexing process: freed memory is kept for the next allocation instead
of being handed back to the kernel and faulted in again.

By default glibc serves allocations above a moving threshold (at most 32 MB) with fresh `mmap`s,
gives a thread of its own an arena of its own, and trims free memory at the top of a heap. The
encoders allocate and free the same large buffers call after call (Whisper's attention over a batch
of 30-s windows is about 430 MB), so each call faults every page in again: on a 10-min talk that is
two million page faults, 7 s of the 37 s Whisper takes on one core, all of it kernel time. One arena,
with no `mmap` below 1 GB and no trimming below 2 GB, brings it under 1 s (`benchmarks/bench_ingest.py`
shows the whole run).

The cost is a resident size that stays near its peak until the process exits, which suits a
command that indexes and exits. `omnisearch index` and the decoder processes call
`keep_freed_memory()`; the Python API leaves the host process's allocator alone.

Example:
    >>> keep_freed_memory()   # doctest: +SKIP
    True
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -2, -3, -8  # <malloc.h>
SETTINGS = (
    (M_ARENA_MAX, 1),
    (M_MMAP_THRESHOLD, 1 << 30),
    (M_TRIM_THRESHOLD, (1 << 31) - 1),
    (M_TOP_PAD, 256 << 20),
)
_applied = False


def keep_freed_memory() -> bool:
    """Apply `SETTINGS` to this process's glibc malloc, once, before its threads start; False where
    the C library is not glibc (nothing changed)."""
    global _applied
    if _applied:
        return True
    if platform.libc_ver()[0] != "glibc":  # musl, macOS: other allocators, other knobs
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = all(mallopt(param, value) == 1 for param, value in SETTINGS)
    return _applied
