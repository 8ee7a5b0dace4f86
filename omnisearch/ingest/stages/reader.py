"""Reader stage: choose the files to (re)index, then probe, segment and decode them, ahead of the
encoder, in worker processes.

`select_files` walks the folders, removes the rows of files that are gone, and skips unchanged files by
(size, mtime) before any hashing (`statcache`); only new or touched files are hashed, and the content
fingerprint stays their identity. `read_file` turns one file into messages (`items`): its spans, then
per decoded chunk its audio and its clips. `read_all(tasks, ..., workers=N)` runs `read_file` in N
processes feeding one bounded queue (N = 0: in this process, lazily).

Example:
    >>> tasks = select_files(["~/Videos"], store, frozenset(), StatCache(None), report)  # doctest: +SKIP
    >>> for msg in read_all(tasks, SegmentConfig(), DecodeConfig(), workers=1): ...     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import closing

from omnisearch.config import DecodeConfig, SegmentConfig, set_thread_env
from omnisearch.ingest.stages.items import (
    CLIPS_PER_MESSAGE,
    ChunkAudio,
    ClipJob,
    Clips,
    FileEnd,
    FileFailed,
    FileStart,
    FileTask,
    Message,
)
from omnisearch.ingest.statcache import StatCache, stat_key
from omnisearch.media.boundaries import file_spans
from omnisearch.media.decode import CHUNK_SECONDS, DecodedClip, decode_file_clips
from omnisearch.media.errors import MediaError
from omnisearch.media.probe import probe
from omnisearch.media.sidecar import sidecar_problem
from omnisearch.media.walk import FoundFile, file_hash, find_media
from omnisearch.paths import is_under
from omnisearch.types import EncoderInput, MediaType


def default_workers() -> int:
    """Decoder processes by default: one per core beyond the first (the encoder's), at least 1, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def fingerprint(found: FoundFile) -> str:
    """Content hash of the media file, extended by its sidecars' contents (so an edited subtitle
    file re-indexes its video)."""
    h = file_hash(found.path)
    if not found.sidecars:
        return h
    acc = hashlib.sha256(h.encode())
    for side in sorted(found.sidecars):
        acc.update(os.path.basename(side).encode())
        acc.update(file_hash(side).encode())
    return acc.hexdigest()


def drop_bad_sidecars(f: FoundFile) -> list[tuple[str, str]]:
    """Remove binary, oversized or unreadable sidecars from `f` (before its fingerprint is taken);
    returns (sidecar, reason) of each one left out."""
    out = []
    for side in list(f.sidecars):
        problem = sidecar_problem(side)
        if problem:
            f.sidecars.remove(side)
            out.append((side, f"sidecar left out: {problem}"))
    return out


def missing_reason(path: str) -> str | None:
    """None when `path` exists; "gone" when it no longer exists;
    otherwise why it cannot be checked (permissions, I/O error, a mount gone stale).

    Example:
        >>> missing_reason("/no/such/file.wav")
        'gone'
    """
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return "gone"
    except OSError as e:
        return f"cannot read: {e.strerror or e}"
    return None


def select_files(paths: list[str], store, force: frozenset[str], stats: StatCache, report) -> list[FileTask]:
    """The files to embed, in walk order; fills `report` (found, removed, unchanged, failed, kept,
    warnings, timings["hash"]) and removes the rows of files that are gone."""
    found, bad = find_media([os.path.expanduser(p) for p in paths])
    report.failed.extend(bad)
    report.files_found = len(found)
    indexed = store.files()
    roots = [os.path.abspath(os.path.expanduser(p)) for p in paths]
    present = {f.path for f in found}
    gone = []
    for p in indexed:
        if is_under(p, roots) and p not in present:
            reason = missing_reason(p)
            if reason == "gone":
                gone.append(p)
            else:  # unreadable, or under an unreadable folder: missing is not deleted
                report.kept.append((p, f"{reason or 'not reachable by the walk'}; its clips are kept"))
    if gone:
        store.delete_paths(gone)
        stats.forget(gone)
        report.files_removed = len(gone)
    tasks = []
    for f in found:
        t = time.perf_counter()
        report.warnings += drop_bad_sidecars(f)
        try:
            known = None if f.path in force else stats.unchanged(f.path, f.sidecars, indexed)
            stat = stat_key(f.path, f.sidecars)
            fp = known or fingerprint(f)
        except OSError as e:
            reason = f"cannot read: {e.strerror or e}"
            report.failed.append((f.path, reason + ("; its clips are kept" if f.path in indexed else "")))
            continue
        finally:
            report.timings["hash"] += time.perf_counter() - t
        if indexed.get(f.path) == fp and f.path not in force:
            report.files_unchanged += 1
            stats.remember(f.path, f.sidecars, fp, stat)
            continue
        tasks.append(FileTask(f, fp, stat))
    return tasks


def job_from_clip(f: FoundFile, clip: DecodedClip, chunk: int) -> ClipJob:
    """The encoder input of one decoded clip, with its sidecar text (the enricher adds speech and
    on-screen text)."""
    span = clip.span
    assert span is not None
    text = clip.text  # the sidecars' words in the span (the clip source reads them)
    inp = EncoderInput(text=text or None, frames=clip.frames, audio=clip.audio)
    times = clip.frame_times  # keyframe: a video's middle frame, else the span start (stills are at 0 s)
    keyframe = times[len(times) // 2] if times and f.media_type == MediaType.VIDEO else span.start
    return ClipJob(span, inp, float(keyframe), text, list(times), chunk)


def read_file(task: FileTask, seg: SegmentConfig, dec: DecodeConfig) -> Iterator[Message]:
    """Messages for one file: FileStart, per chunk ChunkAudio then Clips groups, FileEnd (whose
    `read_s` counts the time spent reading, not the time the consumer held a message); FileFailed (and
    nothing more) when the file cannot be read."""
    f = task.found
    busy, t = 0.0, time.perf_counter()
    try:
        info = probe(f.path, f.media_type)
        spans = file_spans(f.path, info, seg)  # fixed windows, shots or speech (SegmentConfig.mode)
        busy += time.perf_counter() - t
        yield FileStart(task, info, spans)
        t = time.perf_counter()
        chunks = decode_file_clips(f.path, info, spans, dec, CHUNK_SECONDS, f.sidecars)
        with closing(chunks):
            for k, chunk in enumerate(chunks):
                busy += time.perf_counter() - t
                yield ChunkAudio(f.path, k, chunk.start, chunk.audio)
                t = time.perf_counter()
                group: list[ClipJob] = []
                for clip in chunk.clips:
                    group.append(job_from_clip(f, clip, k))
                    if len(group) == CLIPS_PER_MESSAGE:
                        busy += time.perf_counter() - t
                        yield Clips(f.path, group)
                        group, t = [], time.perf_counter()
                if group:
                    busy += time.perf_counter() - t
                    yield Clips(f.path, group)
                    t = time.perf_counter()
    except MediaError as e:
        yield FileFailed(f.path, e.reason, busy + time.perf_counter() - t)
        return
    yield FileEnd(f.path, busy + time.perf_counter() - t)


_DONE = "done"


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc (macOS): ask the kernel
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _exit_with(owner: int, every: float = 0.5) -> None:
    """Exit this process (a decoder) soon after process `owner` is gone, wherever the process is blocked:
    on its queues, or at exit, flushing messages that nobody will read any more. Without it a decoder
    whose indexing process was killed (SIGKILL) waits on its queues forever."""

    def watch() -> None:
        while _alive(owner):
            time.sleep(every)
        os._exit(0)

    threading.Thread(target=watch, name="omnisearch-owner-watch", daemon=True).start()


def _worker(tasks: mp.Queue, out: mp.Queue, seg: SegmentConfig, dec: DecodeConfig, owner: int) -> None:
    from omnisearch.ingest.malloc import keep_freed_memory
    from omnisearch.ingest.stages.background import pin_blas_to_one_thread

    _exit_with(owner)
    keep_freed_memory()  # a decoder process only decodes, then exits
    pin_blas_to_one_thread()  # as in the indexing process: the same numbers as every other engine
    while (task := tasks.get()) is not None:
        try:
            for msg in read_file(task, seg, dec):
                out.put(msg)
        except Exception as e:  # an unexpected decoder error fails the file, not the run
            out.put(FileFailed(task.found.path, f"cannot decode: {type(e).__name__}: {e}"))
    out.put(_DONE)


# forkserver, not fork: the parent holds lancedb's async runtime (and torch's threads), which a forked
# child may deadlock on. The server imports this module (PyAV, numpy; no torch) once, then forks each
# worker cheaply from that state.
PRELOAD = [__name__]


def _context():
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start_readers() -> None:
    """Start the decoder processes' server now (idempotent), so that its imports run on another core
    while the caller imports the store and the models, instead of after them. `index` calls it first.

    Example:
        >>> start_readers()   # doctest: +SKIP
    """
    from multiprocessing import forkserver

    set_thread_env()  # the decoders' numpy starts with the same thread settings
    _context()
    forkserver.ensure_running()


def read_all(
    tasks: list[FileTask], seg: SegmentConfig, dec: DecodeConfig, workers: int = 0, queue_size: int = 8
) -> Iterator[Message]:
    """Every message of every task. workers = 0: read in this process, lazily, file after file; otherwise
    `workers` processes (forked from a clean forkserver) decode ahead into a queue of `queue_size`
    messages (messages of different files interleave; each file's own messages keep their order). A
    worker that dies fails the files it had not finished."""
    if workers <= 0 or not tasks:
        for task in tasks:
            yield from read_file(task, seg, dec)
        return
    ctx = _context()
    todo: mp.Queue = ctx.Queue()
    out: mp.Queue = ctx.Queue(maxsize=queue_size)
    n = min(workers, len(tasks))
    for task in tasks:
        todo.put(task)
    for _ in range(n):
        todo.put(None)
    me = os.getpid()
    procs = [ctx.Process(target=_worker, args=(todo, out, seg, dec, me), daemon=True) for _ in range(n)]
    for p in procs:
        p.start()
    pending = {t.found.path for t in tasks}
    done = 0
    try:
        while done < n:
            try:
                msg = out.get(timeout=0.5)
            except queue.Empty:
                if all(not p.is_alive() for p in procs):
                    break  # every worker is gone (some died): what is still pending fails below
                continue
            if msg == _DONE:
                done += 1
                continue
            if isinstance(msg, FileEnd | FileFailed):
                pending.discard(msg.path)
            yield msg
        for path in [t.found.path for t in tasks if t.found.path in pending]:
            yield FileFailed(path, "the decoder process died while reading it")
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
            p.join(timeout=5)
        todo.close()
        out.close()
