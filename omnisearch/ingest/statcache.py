"""Skip unchanged files before hashing them: (size, mtime) of each indexed file and its sidecars, kept
beside the index (`file_stats.json` next to its writer lock) with the fingerprint they were taken for.

The content fingerprint stays the identity: a stat entry is trusted only while the store still holds
that file with that same fingerprint, so a run killed between a commit and the save, or a store edited
by another tool, simply hashes again. A file rewritten with the same size and mtime to the nanosecond
is taken as unchanged (as rsync and make do); `--force`-style reindexing bypasses the cache.

Example:
    >>> stats = StatCache(None)            # no lock path (a Qdrant server): nothing is remembered
    >>> stats.unchanged("/x.wav", [], {"/x.wav": "ab"}) is None
    True
"""

from __future__ import annotations

import json
import os
import tempfile

STATS_NAME = "file_stats.json"


def stat_key(path: str, sidecars: list[str]) -> list[list[int]]:
    """[[size, mtime_ns], ...] of the file then each sidecar (sorted); OSError when one is unreadable."""
    out = []
    for p in [path, *sorted(sidecars)]:
        st = os.stat(p)
        out.append([int(st.st_size), int(st.st_mtime_ns)])
    return out


class StatCache:
    """`unchanged(path, sidecars, indexed)` -> the stored fingerprint when the stats match, else None;
    `remember(path, sidecars, fingerprint)` after a commit; `save()` writes the file atomically."""

    def __init__(self, lock_path: str | None) -> None:
        self.file = os.path.join(os.path.dirname(lock_path), STATS_NAME) if lock_path else None
        self.entries: dict[str, dict] = {}
        if self.file and os.path.isfile(self.file):
            try:
                with open(self.file) as f:
                    self.entries = dict(json.load(f))
            except (OSError, ValueError):
                self.entries = {}  # unreadable or torn: every file is hashed again

    def unchanged(self, path: str, sidecars: list[str], indexed: dict[str, str]) -> str | None:
        e = self.entries.get(path)
        if not e or indexed.get(path) != e.get("fingerprint"):
            return None
        try:
            return e["fingerprint"] if stat_key(path, sidecars) == e.get("stat") else None
        except OSError:
            return None

    def remember(self, path: str, sidecars: list[str], fingerprint: str, stat: list[list[int]]) -> None:
        self.entries[path] = {"fingerprint": fingerprint, "stat": stat}

    def forget(self, paths: list[str]) -> None:
        for p in paths:
            self.entries.pop(p, None)

    def save(self) -> None:
        if not self.file:
            return
        folder = os.path.dirname(self.file)
        try:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".file_stats.")
            with os.fdopen(fd, "w") as f:
                json.dump(self.entries, f)
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only or vanished folder: the next run hashes again
