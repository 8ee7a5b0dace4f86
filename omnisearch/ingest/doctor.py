"""`omnisearch doctor`: check an index against the disk and against itself, and repair it.

Finds, one `Problem` each: damaged storage (unreadable table versions, stale ANN / scalar indexes),
a stale writer lock, a missing encoder record or vectors of another dimension (spec), files that no
longer exist (missing), files that cannot be read (unreadable: reported, never "fixed" by deletion),
files whose content hash changed (changed), media files under the indexed folders that are not
indexed (never indexed; the index does not record the folders it was given, so the top-most folders
holding indexed files, walked recursively, stand in for them; a file that fails to probe, which index
skips too, is only a note), NaN / infinite / zero / denormal / non-unit vectors, duplicate clip ids
and duplicate (file, start, end) rows.

`repair` restores the last readable version, clears a stale lock, deduplicates, deletes the rows of
missing files, and re-indexes changed, never-indexed and bad-vector files (with default segment and
decode settings unless told); it holds the writer lock and returns what it did, one line each.

Example:
    >>> report = diagnose(open_store("lancedb", "db"))       # doctest: +SKIP
    >>> [p.kind for p in report.problems]                     # doctest: +SKIP
    ['changed', 'missing']
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from omnisearch.config import SegmentConfig
from omnisearch.indexers.base import VectorStore
from omnisearch.indexers.lock import WriterLock, lock_state
from omnisearch.ingest.stages.reader import drop_bad_sidecars, fingerprint, missing_reason
from omnisearch.media.errors import MediaError
from omnisearch.media.probe import probe
from omnisearch.media.walk import find_media
from omnisearch.models.base import Encoder
from omnisearch.paths import is_under
from omnisearch.types import ClipRecord, Modality

_TINY = float(np.finfo(np.float32).tiny)


@dataclass
class Problem:
    """kind: storage | lock | spec | missing | unreadable | changed | never_indexed | bad_vector |
    duplicate_id | duplicate_span; `path` names the file (or the index), `detail` says what is wrong."""

    kind: str
    path: str
    detail: str


@dataclass
class DoctorReport:
    files: int = 0
    clips: int = 0
    problems: list[Problem] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "notes": self.notes,
            "files": self.files,
            "clips": self.clips,
            "healthy": not self.problems,
            "problems": [asdict(p) for p in self.problems],
            "fixed": self.fixed,
        }


def vector_problem(v: np.ndarray, dim: int) -> str | None:
    """What is wrong with a stored vector, or None.

    Example:
        >>> vector_problem(np.array([np.nan, 1.0], np.float32), 2)
        'NaN or infinite values'
    """
    if v.shape[0] != dim:
        return f"dimension {v.shape[0]} != {dim}"
    if not np.all(np.isfinite(v)):
        return "NaN or infinite values"
    norm = float(np.linalg.norm(v.astype(np.float64)))
    if norm < 1e-6:
        return "zero vector"
    if np.any((v != 0) & (np.abs(v) < _TINY)):
        return "denormal values"
    if abs(norm - 1.0) > 1e-3:
        return f"not unit length (norm {norm:.4f})"
    return None


def diagnose(store: VectorStore) -> DoctorReport:
    """Every problem of `store` (reads every row and vector, and hashes every indexed file)."""
    report = DoctorReport()
    storage = store.storage_problems()
    report.problems += [Problem("storage", "(index)", s) for s in storage]
    lock = store.lock_path()
    if lock:
        state, holder = lock_state(lock)
        if state == "stale":
            report.problems.append(Problem("lock", lock, f"stale lock left by {holder.describe()}"))
        elif state == "held":
            report.notes.append(f"a writer is running ({holder.describe()}): files in flight may show up")
    if any(s.startswith("unreadable") for s in storage):
        return report  # the rows cannot be read until the table is restored
    rec = store.encoder()
    rows = list(store.scan(with_vectors=True))
    report.clips = len(rows)
    if rows and rec is None:
        report.problems.append(
            Problem("spec", "(index)", "no encoder record: the index does not say what built it")
        )
    _row_problems(rows, rec.dim if rec else None, report)
    _file_problems(rows, report)
    return report


def _row_problems(rows: list[dict], dim: int | None, report: DoctorReport) -> None:
    ids = Counter(r["clip_id"] for r in rows)
    spans = Counter((r["path"], r["start"], r["end"]) for r in rows)
    paths_by_id = {r["clip_id"]: r["path"] for r in rows}
    for cid, n in sorted(ids.items()):
        if n > 1:
            report.problems.append(
                Problem("duplicate_id", paths_by_id[cid], f"clip id {cid} stored {n} times")
            )
    for (path, start, end), n in sorted(spans.items()):
        if n > 1 and ids[_first_id(rows, path, start, end)] < n:
            report.problems.append(Problem("duplicate_span", path, f"{start:g}-{end:g}s stored {n} times"))
    bad: dict[str, str] = {}
    for r in rows:
        for m, v in r["vectors"].items():
            why = vector_problem(v, dim if dim is not None else v.shape[0])
            if why and r["path"] not in bad:
                bad[r["path"]] = f"{Modality(m).value} vector of {r['start']:g}-{r['end']:g}s: {why}"
                if why.startswith("dimension"):
                    report.problems.append(Problem("spec", r["path"], f"vectors of another encoder ({why})"))
    report.problems += [Problem("bad_vector", p, why) for p, why in sorted(bad.items())]


def _first_id(rows: list[dict], path: str, start: float, end: float) -> str:
    return next(r["clip_id"] for r in rows if (r["path"], r["start"], r["end"]) == (path, start, end))


def _file_problems(rows: list[dict], report: DoctorReport) -> None:
    hashes: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        hashes[r["path"]].add(r["file_hash"])
    report.files = len(hashes)
    for path, hs in sorted(hashes.items()):
        reason = missing_reason(path)
        if reason == "gone":
            report.problems.append(Problem("missing", path, "file no longer exists"))
            continue
        if reason:
            report.problems.append(Problem("unreadable", path, f"{reason} (its clips are kept)"))
            continue
        found, bad = find_media([path])
        for f in found:
            drop_bad_sidecars(f)  # as index does, so the fingerprints compare
        try:
            fp = fingerprint(found[0]) if found else None
        except OSError as e:
            report.problems.append(Problem("unreadable", path, f"cannot read: {e.strerror or e}"))
            continue
        if fp is None:
            report.problems.append(Problem("unreadable", path, bad[0][1] if bad else "not a media file"))
        elif hs != {fp}:
            what = "rows of two versions" if len(hs) > 1 else "content hash differs from the indexed one"
            report.problems.append(Problem("changed", path, what))
    found, unreadable = find_media(indexed_roots(list(hashes)))
    report.notes += [f"{p}: {why}" for p, why in unreadable]
    for f in found:
        if f.path in hashes:
            continue
        try:  # a file that index would skip too (corrupt, empty, too large) is a note, not a problem
            probe(f.path, f.media_type)
        except MediaError as e:
            report.notes.append(f"{f.path}: not indexable ({e.reason})")
            continue
        report.problems.append(Problem("never_indexed", f.path, "under an indexed folder, not in the index"))


def indexed_roots(paths: list[str]) -> list[str]:
    """The top-most folders holding indexed files (the index does not record the folders it was given).

    Example:
        >>> indexed_roots(["/m/a.mp4", "/m/sub/b.mp4", "/n/c.wav"])
        ['/m', '/n']
    """
    roots: list[str] = []
    for folder in sorted({os.path.dirname(p) for p in paths}):
        if not is_under(folder, roots):
            roots.append(folder)
    return roots


def repair(
    store: VectorStore,
    report: DoctorReport,
    load_encoder: Callable[[], Encoder],
    segment_cfg: SegmentConfig | None = None,
    wait: bool = True,
) -> list[str]:
    """Fix what `report` found (see the module docstring); files are re-indexed with the index's own
    segment and decode settings (its spec; `segment_cfg` for an index that recorded none). Returns what
    was done, one line each."""
    from omnisearch.ingest.pipeline import index_paths

    done: list[str] = []
    lock_file = store.lock_path()
    lock = WriterLock(lock_file) if lock_file else None
    if lock:
        lock.acquire(wait=wait)
        if lock.took_over:
            done.append(f"cleared the stale lock left by {lock.took_over.describe()}")
    try:
        kinds = defaultdict(list)
        for p in report.problems:
            kinds[p.kind].append(p.path)
        if kinds["storage"]:
            done += store.repair_storage()
            if any(p.detail.startswith("unreadable") for p in report.problems if p.kind == "storage"):
                rest = diagnose(store)
                rest.problems = [p for p in rest.problems if p.kind != "lock"]
                return done + repair(store, rest, load_encoder, segment_cfg, wait) if rest.problems else done
        done += _dedupe(store, sorted(set(kinds["duplicate_id"] + kinds["duplicate_span"])))
        missing = sorted(set(kinds["missing"]))
        if missing:
            n = store.delete_paths(missing)
            done.append(f"removed {n} clips of {len(missing)} missing file(s)")
        redo = sorted(set(kinds["changed"] + kinds["never_indexed"] + kinds["bad_vector"]) - set(missing))
        if redo:
            force = frozenset(kinds["bad_vector"])
            spec = store.spec()
            seg, dec = (spec.segment, spec.decode) if spec is not None else (segment_cfg, None)
            r = index_paths(redo, store, load_encoder(), seg, dec, force=force)
            done.append(f"re-indexed {r.files_indexed} file(s) ({r.clips_written} clips)")
            done += [f"could not index {p}: {why}" for p, why in r.failed]
    finally:
        if lock:
            lock.release()
    return done


def _dedupe(store: VectorStore, paths: list[str]) -> list[str]:
    """Keep one row per clip id and per (start, end) of each file. Two writes per file (delete, then
    write back): a store cannot drop one of two rows that share a key in one merge."""
    if not paths:
        return []
    wanted = set(paths)
    by_path: dict[str, list[dict]] = defaultdict(list)
    for r in store.scan(with_vectors=True):
        if r["path"] in wanted:
            by_path[r["path"]].append(r)
    dropped = 0
    for path, rows in sorted(by_path.items()):
        seen_ids, seen_spans, keep = set(), set(), []
        for r in sorted(rows, key=lambda r: -r["added_at"]):  # the newest copy wins
            if r["clip_id"] in seen_ids or (r["start"], r["end"]) in seen_spans:
                continue
            seen_ids.add(r["clip_id"])
            seen_spans.add((r["start"], r["end"]))
            keep.append(ClipRecord(**{k: v for k, v in r.items()}))
        store.delete_paths([path])
        store.upsert(keep)
        dropped += len(rows) - len(keep)
    return [f"removed {dropped} duplicate clip(s) of {len(by_path)} file(s)"]
