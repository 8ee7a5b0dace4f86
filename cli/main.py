"""The `omnisearch` command line: a thin layer over the library. Heavy libraries (torch, transformers,
lancedb) are imported inside the commands, so `omnisearch --help` stays fast.

Example:
    $ omnisearch index ~/Videos --db ~/.omnisearch/db
    $ omnisearch search "someone flips a pancake" --db ~/.omnisearch/db -k 5
    $ omnisearch search --audio bark.wav --target audio --db ~/.omnisearch/db --json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from omnisearch.cli import options as opt
from omnisearch.cli.guard import DEFAULT_DB, fail, open_checked
from omnisearch.config import set_thread_env
from omnisearch.types import Modality

set_thread_env()

app = typer.Typer(
    help="omnisearch: any-to-any audio / video / text search over a media library.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _load_model(model: str, device: str, batch_size: int):
    """An encoder by registry name or model folder (no index involved: eval)."""
    from omnisearch.models import EncoderOptions, load_encoder

    try:
        return load_encoder(model, EncoderOptions(device=device, batch_size=batch_size))
    except (ValueError, RuntimeError) as e:
        fail(str(e))


def _engine(engine: str, address: str | None, device: str):
    """None for the local engine, else a RayEngine (a GPU per encoder actor unless --device cpu)."""
    if engine not in ("local", "ray"):
        fail(f"--engine {engine!r}: choose local or ray")
    if engine == "local":
        if address:
            fail("--ray-address needs --engine ray")
        return None
    from omnisearch.extras import require

    require("ray", "--engine ray")
    from omnisearch.ingest.ray_engine import RayEngine, RayOptions

    gpus = {"cpu": 0.0, "auto": None}.get(device, 1.0)  # auto: a GPU per encoder when the cluster has one
    return RayEngine(RayOptions(address=address, gpus_per_encoder=gpus))


@app.command()
def index(
    paths: list[Path] = typer.Argument(..., help="Files and folders to index (folders are walked)."),
    db: opt.Db = DEFAULT_DB,
    model: str = typer.Option(
        None,
        "--model",
        help="Encoder name or model folder (default: the index's own; omni-lite for a new one).",
    ),
    store: opt.Store = opt.StoreKind.lancedb,
    qdrant_url: opt.QdrantUrl = None,
    qdrant_api_key: opt.QdrantKey = None,
    window: float = typer.Option(
        None, "--window", help="Clip length in seconds (default: the index's, or 10)."
    ),
    overlap: float = typer.Option(None, "--overlap", help="Overlap of clips in seconds (the index's, or 5)."),
    segment: str = typer.Option(
        None,
        "--segment",
        help="fixed (windows) | shots (cut at picture changes) | speech (in pauses); the index's, or fixed.",
    ),
    min_len: float = typer.Option(
        None, "--min-len", help="Shortest clip, s (shots, speech; the index's, or 2)."
    ),
    max_len: float = typer.Option(
        None, "--max-len", help="Longest clip, s (shots, speech; the index's, or 20)."
    ),
    frames: int = typer.Option(None, "--frames", help="Frames decoded per clip (the index's, or 8)."),
    device: opt.Device = "cpu",
    batch_size: int = typer.Option(16, "--batch-size"),
    workers: int = typer.Option(
        None, "--workers", help="Decoder processes (default: cores - 1, 1 to 4; 0: decode in-process)."
    ),
    engine: str = typer.Option("local", "--engine", help="local (this process) | ray (Ray Data)."),
    ray_address: str = typer.Option(
        None, "--ray-address", help="Ray cluster to join (auto, ray://HOST:10001); default: start Ray here."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON (alone on stdout)."),
    wait: opt.Wait = True,
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when any file or folder was skipped."),
) -> None:
    """Index media files: new or changed files are embedded, deleted ones removed."""
    from omnisearch.api import Index, OpenOptions
    from omnisearch.cli.guard import print_json, store_errors, writer_section
    from omnisearch.cli.progress import IngestProgress
    from omnisearch.cli.render import print_ingest_report
    from omnisearch.indexers import EncoderMismatchError

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"not found: {', '.join(missing)}")
    runner = _engine(engine, ray_address, device)  # before the store: a bad --engine fails fast
    from omnisearch.ingest.malloc import keep_freed_memory

    keep_freed_memory()  # this process indexes and exits: no page faults for buffers freed and reused
    if runner is None and workers != 0:
        from omnisearch.ingest.stages.reader import start_readers

        start_readers()  # the decoders' imports run on another core while the store and model load
    settings = dict(
        window=window, overlap=overlap, mode=segment, min_len=min_len, max_len=max_len, frames=frames
    )
    opts = OpenOptions(store=store.value, device=device, model=model, batch_size=batch_size)
    with writer_section(db, qdrant_url, wait):
        st = open_checked(
            store, db, qdrant_url, qdrant_api_key, wait=wait
        )  # before the model: busy fails fast
        idx = Index(db, opts, store=st)
        try:  # the index's own settings unless given; a conflicting one fails before any model loads
            idx.settings(st, **settings)
            idx.encoder(st)
        except (ValueError, RuntimeError) as e:  # RuntimeError: another encoder, a model that cannot load
            st.close()
            fail(str(e))
        try:
            with IngestProgress(disable=as_json) as prog, store_errors(db):
                report = idx.index(
                    paths, progress=prog.callbacks(), wait=wait, workers=workers, engine=runner, **settings
                )
        except EncoderMismatchError as e:
            fail(str(e))
        finally:
            st.close()
    if as_json:
        print_json(print_ingest_report(report, as_dict=True))
    else:
        print_ingest_report(report)
    if report.failed and (strict or (report.files_indexed == 0 and report.files_unchanged == 0)):
        raise typer.Exit(1)


@app.command()
def search(
    text: str = typer.Argument(None, help="Text query (optional when a file query is given)."),
    db: opt.Db = DEFAULT_DB,
    audio: Path = typer.Option(None, "--audio", help="Query by a sound (audio or video file)."),
    video: Path = typer.Option(None, "--video", help="Query by a clip (its frames and its sound)."),
    image: Path = typer.Option(None, "--image", help="Query by a picture."),
    span: str = typer.Option(None, "--span", help="START-END seconds of the query file, e.g. 12-20."),
    target: Modality = typer.Option(None, "--target", help="Column; fused (default) serves av/tv/at too."),
    k: int = typer.Option(10, "-k", help="Number of hits."),
    rerank: bool = typer.Option(False, "--rerank", help="Rerank candidates by the fused query."),
    prefetch: int = typer.Option(100, "--prefetch", help="Candidates per first-stage list."),
    merge: str = typer.Option("rrf", "--merge", help="Merge first-stage lists: rrf | weighted."),
    group_by: str = typer.Option(None, "--group-by", help="'file': one hit per file."),
    path_glob: str = typer.Option(None, "--path", help="Only files matching this glob."),
    media_type: str = typer.Option(None, "--media-type", help="video | audio | image"),
    after: str = typer.Option(None, "--after", help="Only clips indexed after DATE (ISO, e.g. 2024-05-01)."),
    start: float = typer.Option(None, "--start", help="Only clips starting at or after START seconds."),
    end: float = typer.Option(None, "--end", help="Only clips ending at or before END seconds."),
    model: str = typer.Option(
        None, "--model", help="Encoder name or model folder (default: the one that built the index)."
    ),
    store: opt.Store = opt.StoreKind.lancedb,
    qdrant_url: opt.QdrantUrl = None,
    qdrant_api_key: opt.QdrantKey = None,
    device: opt.Device = "cpu",
    as_json: bool = typer.Option(False, "--json", help="Print hits as a JSON list."),
    explain: bool = typer.Option(False, "--explain", help="Print the plan and each stage's time."),
    lexical_weight: float = typer.Option(
        0.0, "--lexical-weight", help="Boost for query words found in a clip's own words (0: off)."
    ),
    words_weight: float = typer.Option(
        1.0, "--words-weight", help="RRF weight of the full-text list over the clips' words (0: off)."
    ),
) -> None:
    """Search by text, sound, clip or picture, or any combination of them."""
    from omnisearch.api import Index, OpenOptions, make_query, search_options
    from omnisearch.cli.guard import store_errors
    from omnisearch.cli.render import print_hits
    from omnisearch.indexers import EncoderMismatchError
    from omnisearch.retrieval.query import QueryError, parse_span

    if group_by not in (None, "file"):
        fail("--group-by accepts only 'file'")
    try:
        q = make_query(text, audio=audio, video=video, image=image, span=parse_span(span) if span else None)
        filters = dict(path=path_glob, media_type=media_type, after=after, start=start, end=end)
        opts = search_options(
            k=k,
            target=target.value if target else None,
            filters={key: v for key, v in filters.items() if v is not None},
            rerank=rerank,
            lexical_weight=lexical_weight,
            words_weight=words_weight,
            prefetch=prefetch,
            merge=merge,
            group_by_file=group_by == "file",
        )
    except QueryError as e:
        fail(str(e))
    opt.require_index(db, qdrant_url)
    st = open_checked(
        store, db, qdrant_url, qdrant_api_key, read_only=True
    )  # before the model: busy fails fast
    idx = Index(db, OpenOptions(store=store.value, device=device, model=model, read_only=True), store=st)
    try:
        with store_errors(db):
            result = idx.run(q, opts)
    except (QueryError, EncoderMismatchError) as e:
        fail(str(e))
    except ValueError as e:  # an unknown --model
        fail(str(e))
    finally:
        st.close()
    if as_json:
        print(json.dumps([h.to_dict() for h in result.hits], indent=2, ensure_ascii=False))
    else:
        print_hits(result.hits, title=q.describe())
    if explain:
        print(result.explain(), file=sys.stderr if as_json else sys.stdout)


@app.command()
def models() -> None:
    """List the encoders with their dimensions and where their weights come from."""
    from omnisearch.cli.render import print_models

    print_models()


@app.command()
def info(db: opt.Db = DEFAULT_DB, store: opt.Store = opt.StoreKind.lancedb) -> None:
    """Show what an index holds: encoder, files, clips; rows, fragments, versions, indexes."""
    from omnisearch.cli.guard import store_errors

    opt.require_index(db)
    st = open_checked(store, db, None, None)
    with store_errors(db):
        rec, spec = st.encoder(), st.spec()
        files = st.files()
        summary = {
            "encoder": rec.to_dict() if rec else None,
            "spec": spec.to_dict() if spec else None,
            "files": len(files),
            "clips": st.count(),
            "store": st.stats(),
        }
    print(json.dumps(summary, indent=2, default=str))
    st.close()


def _register_more() -> None:
    from omnisearch.cli import (
        doctor_cmds,
        eval_cmds,
        export_cmds,
        http_cmds,
        mcp_cmds,
        store_cmds,
        train_cmds,
    )

    eval_cmds.register(app)
    train_cmds.register(app)
    store_cmds.register(app)
    doctor_cmds.register(app)
    export_cmds.register(app)
    mcp_cmds.register(app)
    http_cmds.register(app)


_register_more()


def main() -> None:
    """The console script: a feature used without its extra ends in one line naming the extra."""
    from omnisearch.extras import MissingExtra

    try:
        app()
    except MissingExtra as e:
        from omnisearch.cli.guard import error_line

        error_line(str(e))
        sys.exit(2)


if __name__ == "__main__":
    main()
