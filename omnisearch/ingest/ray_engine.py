"""The Ray Data engine of `omnisearch index --engine ray`: the same stages as the local engine, on Ray.

1. `ray.data.from_items` over the files to index (walked, hashed and compared on the driver);
2. reader (`map_batches`, CPU actors): probe, segment and decode each file; speech is transcribed per
   decoded chunk, as the local engine does; one row per clip, frames and audio as raw bytes;
3. encoder (`map_batches`, actor pool; `num_gpus` per actor when a GPU is asked for): embeds batches
   of clips, which may mix files;
4. writer, on the driver (which holds the index's writer lock): a file's rows are gathered until all
   of its clips have come, then written in one `store.replace_file`, as the local engine does.

Every worker builds its own encoder from (model, options), so the workers need omnisearch and its
models installed (a cluster: the same image on every node), and the store must be reachable from the
driver only. Pass `address` ("auto", "ray://host:10001") to join a running cluster; without it a local
Ray instance is started in this process.

Example:
    >>> engine = RayEngine(RayOptions(address="auto", encoders=4, gpus_per_encoder=1))  # doctest: +SKIP
    >>> index_paths(["/archive"], store, encoder, engine=engine)                          # doctest: +SKIP
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.indexers.base import VectorStore
from omnisearch.ingest.clips import ClipJob, plan_jobs, records_from
from omnisearch.ingest.pipeline import IngestReport, Progress
from omnisearch.media.errors import MediaError
from omnisearch.media.walk import FoundFile
from omnisearch.models.base import Encoder, EncoderOptions
from omnisearch.types import Embedding, EncoderInput, MediaType, Modality, Span

ROWS_PER_BLOCK = 4  # clips per reader output batch: decoded frames are big, blocks stay small


@dataclass
class RayOptions:
    """Where and how wide the Ray engine runs. `address`: None starts a local Ray instance;
    `num_cpus` caps that local instance. `readers`/`encoders`: actors per stage (None: `pool_sizes`
    picks them from the cluster's resources); `gpus_per_encoder`:
    0 for CPU encoders, else the GPUs each encoder actor reserves (None: 1 when the cluster has a GPU);
    `cpus_per_encoder`: the CPUs (and threads) each encoder actor reserves."""

    address: str | None = None
    num_cpus: int | None = None
    readers: int | None = None
    encoders: int | None = None
    cpus_per_encoder: float = 1.0
    gpus_per_encoder: float | None = 0.0


def _blob(x: np.ndarray | None) -> tuple[bytes, list[int], str]:
    if x is None:
        return b"", [], ""
    x = np.ascontiguousarray(x)
    return x.tobytes(), list(x.shape), x.dtype.str


def _unblob(data: bytes, shape: Any, dtype: str) -> np.ndarray | None:
    if not dtype:
        return None
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape([int(n) for n in shape])


def _clip_row(item: dict, idx: int, n: int, duration: float, job: ClipJob) -> dict:
    frames, fshape, fdtype = _blob(job.input.frames)
    audio, ashape, adtype = _blob(job.input.audio)
    return {
        "path": item["path"],
        "idx": idx,
        "n_clips": n,
        "duration": duration,
        "error": "",
        "start": job.span.start,
        "end": job.span.end,
        "keyframe": job.keyframe,
        "text": job.text,
        "has_transcript": job.input.transcript is not None,
        "transcript": job.input.transcript or "",
        "frames": frames,
        "frames_shape": fshape,
        "frames_dtype": fdtype,
        "audio": audio,
        "audio_shape": ashape,
        "audio_dtype": adtype,
    }


def _batch(rows: list[dict]) -> dict[str, list]:
    return {k: [r[k] for r in rows] for k in rows[0]}


class ReadStage:
    """Ray reader actor: file rows in, clip rows out (probe, segment, decode, transcribe)."""

    def __init__(
        self, model: str, options: EncoderOptions, segment_cfg: SegmentConfig, decode_cfg: DecodeConfig
    ):
        from omnisearch.models import load_encoder

        self.encoder = load_encoder(model, options)  # components load lazily: only Whisper is used here
        self.segment_cfg, self.decode_cfg = segment_cfg, decode_cfg

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, list]]:
        for i in range(len(batch["path"])):
            item = {k: batch[k][i] for k in batch}
            sidecars = [str(x) for x in item["sidecars"]]
            f = FoundFile(str(item["path"]), MediaType(str(item["media_type"])), sidecars)
            rows: list[dict] = []
            try:
                info, spans, jobs = plan_jobs(f, self.encoder, self.segment_cfg, self.decode_cfg, {})
                for idx, job in enumerate(jobs):
                    rows.append(_clip_row(item, idx, len(spans), max(info.duration, 0.0), job))
                    if len(rows) == ROWS_PER_BLOCK:
                        yield _batch(rows)
                        rows = []
            except MediaError as e:
                rows.append(_error_row(item, e.reason))
            if rows:
                yield _batch(rows)


def _error_row(item: dict, reason: str) -> dict:
    empty = ClipJob(Span(0.0, 0.0), EncoderInput(), 0.0, "")
    return _clip_row(item, -1, 0, 0.0, empty) | {"error": reason}


class EncodeStage:
    """Ray encoder actor: clip rows in, the same rows with their vectors and derived text out."""

    def __init__(self, model: str, options: EncoderOptions):
        from omnisearch.models import load_encoder

        self.encoder = load_encoder(model, options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list]:
        n = len(batch["path"])
        todo = [i for i in range(n) if not batch["error"][i]]
        inputs = [
            EncoderInput(
                text=str(batch["text"][i]) or None,
                frames=_unblob(batch["frames"][i], batch["frames_shape"][i], str(batch["frames_dtype"][i])),
                audio=_unblob(batch["audio"][i], batch["audio_shape"][i], str(batch["audio_dtype"][i])),
                transcript=str(batch["transcript"][i]) if batch["has_transcript"][i] else None,
            )
            for i in todo
        ]
        embs = iter(self.encoder.encode(inputs) if inputs else [])
        out: dict[str, list] = {
            k: [] for k in ("path", "idx", "n_clips", "duration", "error", "start", "end")
        }
        out |= {"keyframe": [], "text": [], "embedding": []}
        for i in range(n):
            for k in out:
                if k != "embedding":
                    out[k].append(batch[k][i])
            emb = next(embs) if not batch["error"][i] else Embedding({})
            vectors = {m.value: np.asarray(v, dtype=np.float32) for m, v in emb.vectors.items()}
            out["embedding"].append(pickle.dumps((vectors, dict(emb.derived))))
        return out


def _job(row: dict) -> ClipJob:
    """The part of a clip job that `records_from` reads (its span, keyframe and sidecar text)."""
    return ClipJob(
        Span(float(row["start"]), float(row["end"])), EncoderInput(), float(row["keyframe"]), row["text"]
    )


def _embedding(blob: bytes) -> Embedding:
    vectors, derived = pickle.loads(blob)
    return Embedding({Modality(m): v for m, v in vectors.items()}, derived)


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
    """`Engine` that runs the reader and encoder stages on Ray Data and writes on the driver."""

    def __init__(self, options: RayOptions | None = None, model: str | None = None):
        self.options = options or RayOptions()
        self.model = model  # None: the model the index's spec names (recorded before `run`)

    def run(
        self,
        todo: Iterator[tuple[FoundFile, str]],
        store: VectorStore,
        encoder: Encoder,
        segment_cfg: SegmentConfig,
        decode_cfg: DecodeConfig,
        progress: Progress,
        report: IngestReport,
    ) -> None:
        """Embed `todo` on Ray and write each file as soon as all of its clips are embedded."""
        import ray

        files = list(todo)
        if not files:
            return
        spec = store.spec()
        model = self.model or (spec.model if spec is not None else None)
        if model is None:
            raise RuntimeError("the Ray engine needs the index's model: give RayEngine(model=...)")
        started = not ray.is_initialized()
        if started:
            ray.init(**self._init_args())
        try:
            ds = self._dataset(files, model, encoder.options, segment_cfg, decode_cfg)
            t, w0 = time.perf_counter(), report.timings.get("write", 0.0)
            paths = {f.path: (f, fp) for f, fp in files}
            self._write(ds, paths, store, progress, report)
            report.timings["ray"] += time.perf_counter() - t - (report.timings.get("write", 0.0) - w0)
        finally:
            if started:
                ray.shutdown()

    def _init_args(self) -> dict[str, Any]:
        """ray.init arguments: a local instance (capped at `num_cpus`) or the cluster at `address`;
        workers get this process's offline and thread settings."""
        keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "TOKENIZERS_PARALLELISM", "OMP_NUM_THREADS")
        env = {k: os.environ[k] for k in keys if k in os.environ}
        args: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        args["runtime_env"] = {"env_vars": env}
        if self.options.address is None:
            args["num_cpus"] = self.options.num_cpus
        else:
            args["address"] = self.options.address
        return args

    def _dataset(
        self,
        files: list,
        model: str,
        options: EncoderOptions,
        segment_cfg: SegmentConfig,
        decode_cfg: DecodeConfig,
    ):
        """The reader and encoder stages over `files`, sized to the cluster."""
        import ray
        import ray.data

        opts = self.options
        gpus = opts.gpus_per_encoder
        have = ray.cluster_resources().get("GPU", 0.0)
        if gpus is None:
            gpus = 1.0 if have >= 1 else 0.0
        if gpus > have:
            raise RuntimeError(f"the encoders ask for {gpus:g} GPU each, the Ray cluster has {have:g}")
        readers, encoders = pool_sizes(opts, ray.cluster_resources().get("CPU", 1.0), have, gpus, len(files))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        items = [
            {"path": f.path, "media_type": f.media_type.value, "sidecars": list(f.sidecars)} for f, _ in files
        ]
        ds = ray.data.from_items(items, override_num_blocks=len(items))
        ds = ds.map_batches(
            ReadStage,
            fn_constructor_args=(model, options, segment_cfg, decode_cfg),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=readers),
            num_cpus=1,
        )
        return ds.map_batches(
            EncodeStage,
            fn_constructor_args=(model, options),
            batch_size=max(1, options.batch_size),
            compute=ray.data.ActorPoolStrategy(size=encoders),
            num_cpus=opts.cpus_per_encoder,
            num_gpus=gpus or None,
        )

    def _write(self, ds, paths: dict, store: VectorStore, progress: Progress, report: IngestReport) -> None:
        """Gather each file's rows as they come and write the file once all of its clips are there."""
        pending: dict[str, list[dict]] = {}
        failed: set[str] = set()
        for row in ds.iter_rows():
            path = str(row["path"])
            if path in failed:
                continue
            if row["error"]:
                failed.add(path)
                pending.pop(path, None)
                report.failed.append((path, str(row["error"])))
                progress.on_file_done(path, "failed")
                continue
            if path not in pending:
                pending[path] = []
                progress.on_file(path, int(row["n_clips"]))
            pending[path].append(row)
            progress.on_clips(1)
            if len(pending[path]) == int(row["n_clips"]):
                self._write_file(*paths[path], pending.pop(path), store, report)
                progress.on_file_done(path, "indexed")

    @staticmethod
    def _write_file(
        f: FoundFile, fp: str, rows: list[dict], store: VectorStore, report: IngestReport
    ) -> None:
        rows.sort(key=lambda r: int(r["idx"]))
        jobs = [_job(r) for r in rows]
        records = records_from(f, fp, jobs, [_embedding(r["embedding"]) for r in rows], added_at=time.time())
        t = time.perf_counter()
        store.replace_file(f.path, records)
        report.timings["write"] += time.perf_counter() - t
        report.media_seconds += float(rows[0]["duration"])
        report.files_indexed += 1
        report.clips_written += len(records)
