"""The Ray Data engine of `omnisearch index --engine ray`: the local engine's stages, on Ray.

The driver selects the files (`reader.select_files`: walk, stat skip, hash) as the local engine does,
then `ray.data.from_items(tasks)` runs:

1. reader + enricher (`map_batches`, CPU actors, one file a call): `reader.read_file` probes,
   segments and decodes; an `Enricher` adds speech (voice-activity gated) and on-screen text; each
   file's messages (`items`) become rows, a `Clips` group carrying the audio of its chunk when the
   encoder embeds sound blocks per chunk (omni-lite), so that any encoder actor can pool them;
2. encoder (`map_batches`, an actor pool; `num_gpus` per actor when a GPU is asked for): an
   `EncodeStage` embeds the clips of several groups at once (batches cross files); frames and audio
   stop here;
3. writer, on the driver (which holds the index's writer lock): a file's embedded clips are gathered
   until all of them have come, then committed at once by the `Writer` thread.

Rows hold one pickled message each (`kind`, `path`, `payload`): numpy arrays inside, at most
`CLIPS_PER_MESSAGE` clips a row. Every worker builds its own encoder from the index's model, so
the workers need omnisearch and its models installed (a cluster: the same image on every node) and
the media at the driver's paths; only the driver opens the store.

Example:
    >>> engine = RayEngine(RayOptions(address="auto", gpus_per_encoder=1))  # doctest: +SKIP
    >>> index_paths(["/archive"], store, encoder, engine=engine)             # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.extras import require
from omnisearch.ingest.clips import OpenFile
from omnisearch.ingest.stages.background import pin_blas_to_one_thread
from omnisearch.ingest.stages.encode_stage import EncodeStage
from omnisearch.ingest.stages.enricher import Enricher
from omnisearch.ingest.stages.items import ChunkAudio, Clips, FileEnd, FileFailed, FileStart, FileTask
from omnisearch.ingest.stages.local import IngestJob, LocalResult, StageTimes
from omnisearch.ingest.stages.reader import read_file
from omnisearch.ingest.stages.writer import Writer
from omnisearch.models.base import EncoderOptions
from omnisearch.models.capabilities import SoundBlockEncoder

KEEP_GRIDS = 8  # files whose chunk block embeddings an encoder actor keeps (their groups may follow)


@dataclass
class RayOptions:
    """Where and how wide the Ray engine runs. `address`: None starts a local Ray instance (`num_cpus`
    caps it); "auto" or "ray://HOST:10001" joins a cluster. `readers`/`encoders`: actors per stage
    (None: `pool_sizes` picks them from the cluster's resources). `gpus_per_encoder`: 0 for CPU
    encoders, else the GPUs each encoder actor reserves (None: 1 when the cluster has a GPU);
    `cpus_per_encoder`: the CPUs (and threads) each encoder actor reserves."""

    address: str | None = None
    num_cpus: int | None = None
    readers: int | None = None
    encoders: int | None = None
    cpus_per_encoder: float = 1.0
    gpus_per_encoder: float | None = 0.0


def _row(kind: str, path: str, payload: Any) -> dict[str, list]:
    return {"kind": [kind], "path": [path], "payload": [pickle.dumps(payload, protocol=5)]}


def _concat(rows: list[dict[str, list]]) -> dict[str, list]:
    return {k: [v for r in rows for v in r[k]] for k in ("kind", "path", "payload")}


class ReadStage:
    """Ray reader actor: a batch of pickled `FileTask`s in, their enriched messages out (one row each)."""

    def __init__(self, model: str, options: EncoderOptions, seg: SegmentConfig, dec: DecodeConfig) -> None:
        from omnisearch.models import load_encoder

        pin_blas_to_one_thread()  # as the local engine computes
        encoder = load_encoder(model, options)  # its parts load lazily: only VAD, Whisper and OCR run here
        self.enricher = Enricher(encoder)
        self.blocks = isinstance(encoder, SoundBlockEncoder)
        self.seg, self.dec = seg, dec

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, list]]:
        for blob in batch["task"]:
            task: FileTask = pickle.loads(blob)
            yield from self._file(task)

    def _file(self, task: FileTask) -> Iterator[dict[str, list]]:
        path, audio = task.found.path, {}
        t0 = self.enricher.seconds
        try:
            for msg in read_file(task, self.seg, self.dec):
                if isinstance(msg, ChunkAudio):
                    self.enricher.chunk(msg)
                    audio[msg.chunk] = msg if self.blocks else None
                elif isinstance(msg, Clips):
                    self.enricher.clips(msg.path, msg.jobs)
                    yield _row("clips", path, (msg, audio.get(msg.jobs[0].chunk) if msg.jobs else None))
                elif isinstance(msg, FileEnd | FileFailed):
                    kind = "end" if isinstance(msg, FileEnd) else "failed"
                    yield _row(kind, path, (msg, self.enricher.seconds - t0))
                elif isinstance(msg, FileStart):
                    yield _row("start", path, msg)
        except Exception as e:  # an unexpected decoder error fails the file, not the run (as locally)
            yield _row("failed", path, (FileFailed(path, f"cannot decode: {type(e).__name__}: {e}"), 0.0))
        finally:
            self.enricher.end(path)


class EncodeActor:
    """Ray encoder actor: `clips` rows become one `clip` row per embedded clip (its frames and audio
    dropped); every other row passes through."""

    def __init__(self, model: str, options: EncoderOptions) -> None:
        from omnisearch.models import load_encoder

        pin_blas_to_one_thread()  # as the local engine computes
        self.stage = EncodeStage(load_encoder(model, options))
        self.recent: list[str] = []

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        out: list[dict[str, list]] = []
        for kind, path, payload in zip(batch["kind"], batch["path"], batch["payload"], strict=True):
            if kind != "clips":
                out.append({"kind": [kind], "path": [path], "payload": [payload]})
                continue
            msg, chunk = pickle.loads(payload)
            if chunk is not None and (path, chunk.chunk) not in self.stage.grids:
                self.stage.chunk(chunk)
            self.stage.add(str(path), msg.jobs)
            self._touch(str(path))
        t = time.perf_counter()
        done = list(self.stage.drain(final=True))
        share = (time.perf_counter() - t) / max(1, len(done))
        for path, job, emb in done:
            light = replace(job, input=replace(job.input, frames=None, audio=None))
            out.append(_row("clip", path, (light, emb, share)))
        return _concat(out) if out else {"kind": [], "path": [], "payload": []}

    def _touch(self, path: str) -> None:
        """Keep the chunk block embeddings of the last KEEP_GRIDS files; forget older ones."""
        if path in self.recent:
            self.recent.remove(path)
        self.recent.append(path)
        while len(self.recent) > KEEP_GRIDS:
            self.stage.end(self.recent.pop(0))


def pool_sizes(
    opts: RayOptions, cpus: float, gpus: float, per_encoder_gpus: float, n_files: int
) -> tuple[int, int]:
    """(max readers, encoders): the options' counts, else one encoder per GPU share (CPU encoders: one
    per 4 CPUs, at least one) and readers on the CPUs left over, at most one per file.

    Example:
        >>> pool_sizes(RayOptions(), cpus=2, gpus=0, per_encoder_gpus=0, n_files=10)
        (1, 1)
        >>> pool_sizes(RayOptions(), cpus=64, gpus=4, per_encoder_gpus=1, n_files=1000)
        (60, 4)
    """
    if opts.encoders is not None:
        encoders = opts.encoders
    elif per_encoder_gpus > 0:
        encoders = max(1, int(gpus // per_encoder_gpus))
    else:
        encoders = max(1, int(cpus // 4))
    readers = opts.readers or max(1, int(cpus - encoders * opts.cpus_per_encoder))
    return min(readers, max(1, n_files)), encoders


class RayEngine:
    """`pipeline.Engine` on Ray Data (see the module docstring)."""

    def __init__(self, options: RayOptions | None = None, model: str | None = None) -> None:
        require("ray", "the Ray engine (--engine ray)")
        self.options = options or RayOptions()
        self.model = model  # None: the model the index's spec records

    def run(self, tasks: list[FileTask], job: IngestJob) -> LocalResult:
        """Read, enrich and embed `tasks` on Ray; commit each file on this process's writer thread."""
        import ray

        times, failed = StageTimes(), []
        writer = Writer(job.store, job.progress, job.stats)
        started = bool(tasks) and not ray.is_initialized()
        if started:
            ray.init(**self._init_args())
        try:
            if tasks:
                spec = job.store.spec()  # recorded before the engine runs: the model as `--model` accepts it
                enc = job.encoder
                model = self.model or (spec.model if spec is not None else enc.source or enc.name)
                ds = self._dataset(tasks, model, enc.options, job.seg, job.dec)
                self._collect(ds, writer, job.progress, times, failed)
        finally:
            try:
                writer.close()
            finally:
                times.write = writer.seconds
                if started:
                    ray.shutdown()
        return LocalResult(times, failed, writer.files, writer.clips, writer.media_seconds)

    def _init_args(self) -> dict[str, Any]:
        """ray.init arguments: a local instance or the cluster at `address`; workers get this process's
        offline and thread settings."""
        keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS")
        env = {k: os.environ[k] for k in keys if k in os.environ}
        args: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        args["runtime_env"] = {"env_vars": env}
        if self.options.address is None:
            args["num_cpus"] = self.options.num_cpus
        else:
            args["address"] = self.options.address
        return args

    def _dataset(self, tasks: list[FileTask], model: str, options: EncoderOptions, seg, dec):
        """The reader and encoder stages over `tasks`, sized to the cluster."""
        import ray
        import ray.data

        opts = self.options
        gpus = opts.gpus_per_encoder
        have = ray.cluster_resources().get("GPU", 0.0)
        if gpus is None:
            gpus = 1.0 if have >= 1 else 0.0
        if gpus > have:
            raise RuntimeError(f"the encoders ask for {gpus:g} GPU each, the Ray cluster has {have:g}")
        readers, encoders = pool_sizes(opts, ray.cluster_resources().get("CPU", 1.0), have, gpus, len(tasks))
        ray.data.DataContext.get_current().enable_progress_bars = False
        items = [{"task": pickle.dumps(t)} for t in tasks]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            ReadStage,
            fn_constructor_args=(model, options, seg, dec),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=readers),
            num_cpus=1,
        )
        return ds.map_batches(
            EncodeActor,
            fn_constructor_args=(model, options),
            batch_size=max(1, options.batch_size),  # rows: groups of clips, or a file's other messages
            compute=ray.data.ActorPoolStrategy(size=encoders),
            num_cpus=opts.cpus_per_encoder,
            num_gpus=gpus or None,
        )

    def _collect(self, ds, writer: Writer, progress, times: StageTimes, failed: list) -> None:
        """Gather each file's embedded clips as rows come (in any order) and commit a file once its
        reader has finished and every one of its clips is embedded."""
        files: dict[str, OpenFile] = {}
        dropped: set[str] = set()
        added_at = time.time()
        for row in ds.iter_rows():
            path, kind = str(row["path"]), str(row["kind"])
            if path in dropped:
                continue
            payload = pickle.loads(row["payload"])
            o = files.setdefault(path, OpenFile())
            if kind == "start":
                o.start = payload
                progress.on_file(path, len(payload.spans))
            elif kind == "clip":
                job, emb, encode_s = payload
                o.jobs.append((job, emb))
                times.encode += encode_s
            elif kind in ("end", "failed"):
                msg, enrich_s = payload
                times.read += msg.read_s
                times.enrich += enrich_s
                o.read_all = True
                if kind == "failed":
                    failed.append((path, msg.reason))
                    dropped.add(path)
                    del files[path]
                    progress.on_file_done(path, "failed")
                    continue
            if o.read_all and o.start is not None and len(o.jobs) == len(o.start.spans):
                del files[path]
                o.jobs.sort(key=lambda je: (je[0].span.start, je[0].span.end))
                writer.put(o.commit(added_at))
        for path in files:  # never finished (should not happen): reported, not written
            failed.append((path, "the Ray engine lost some of its clips"))
