"""The Python API: open an index, search it, look clips up, index more files.

One `Index` per index folder (or Qdrant collection). Its encoder is the one that built the index,
loaded once, on the first search that needs it, and shared by every thread (a lock around its
`encode`). Searches read through a store opened read-only, so an `omnisearch index` process may write
the same index meanwhile: LanceDB handles see each commit; an exact-search snapshot that a write made
stale is replaced by a fresh handle before the next search.

Example:
    >>> import omnisearch
    >>> idx = omnisearch.open("~/.omnisearch/db")                   # doctest: +SKIP
    >>> hits = idx.search("someone flips a pancake", k=5)           # doctest: +SKIP
    >>> hits[0].citation                                            # doctest: +SKIP
    'kitchen.mp4 @ 01:10-01:25'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from omnisearch.hits import SearchHit
from omnisearch.indexers.base import Filter, VectorStore
from omnisearch.models.shared import LockedEncoder
from omnisearch.retrieval.query import FILTER_KEYS, Query, QueryError, check_span, make_filter
from omnisearch.types import Modality

if TYPE_CHECKING:
    from omnisearch.ingest.pipeline import Engine, IngestReport, Progress
    from omnisearch.models.base import Encoder
    from omnisearch.retrieval.planner import SearchOptions, SearchResult
    from omnisearch.spec import IndexSpec


class NoIndexError(FileNotFoundError):
    """There is no index at the given folder (or it holds no clips yet)."""


class ReadOnlyIndexError(RuntimeError):
    """`index` was called on an Index opened with read_only=True."""


@dataclass(frozen=True)
class OpenOptions:
    """How `open` reaches an index and runs its encoder. `model` overrides the encoder the index
    records (a registry name or a model folder); it is what a new index is built with."""

    store: str = "lancedb"  # lancedb | qdrant
    qdrant_url: str | None = None
    qdrant_api_key: str | None = None
    device: str = "cpu"  # auto | cpu | cuda | cuda:N
    read_only: bool = False
    model: str | None = None
    batch_size: int = 16


def open(db: str | os.PathLike[str], **options: Any) -> Index:  # noqa: A001 - omnisearch.open
    """Open the index at `db` (a LanceDB folder, a Qdrant local folder, or with `qdrant_url` a
    collection's name space). Options: see `OpenOptions`. Nothing heavy loads until it is needed."""
    return Index(db, OpenOptions(**options))


def _load_encoder(store: VectorStore, opts: OpenOptions) -> Encoder:
    """The encoder the index in `store` was built with (its spec, or for an older index its encoder
    record); `opts.model` may repeat it, and names the model of a new index (default omni-lite)."""
    from omnisearch.models import EncoderOptions, encoder_for_index

    enc_opts = EncoderOptions(device=opts.device, batch_size=opts.batch_size)
    return encoder_for_index(store.spec(), store.encoder(), opts.model, enc_opts)


class Index:
    """An open index. Thread-safe: searches may run concurrently from many threads.

    Example:
        >>> with Index("/tmp/db", OpenOptions(read_only=True)) as idx:   # doctest: +SKIP
        ...     print(idx.info()["clips"])
    """

    def __init__(
        self, db: str | os.PathLike[str], options: OpenOptions | None = None, store: VectorStore | None = None
    ) -> None:
        self.options = options or OpenOptions()
        if self.options.store not in ("lancedb", "qdrant"):
            raise ValueError(f"unknown store {self.options.store!r}; use lancedb or qdrant")
        self.db = os.path.abspath(os.path.expanduser(os.fspath(db))) if db and db != ":memory:" else str(db)
        self._reader = store  # given: the caller opened (and will close) it
        self._owns_reader = store is None
        self._lock = threading.Lock()
        self._encoder_lock = threading.Lock()
        self._encoder: LockedEncoder | None = None
        self._closed = False

    # -- stores -----------------------------------------------------------------------------------
    def _local(self) -> bool:
        return self.options.store == "lancedb" or not self.options.qdrant_url

    def _exists(self) -> bool:
        return not self._local() or self.db == ":memory:" or os.path.isdir(self.db)

    def _open_store(self, read_only: bool) -> VectorStore:
        from omnisearch.indexers import open_store

        o = self.options
        return open_store(o.store, self.db, url=o.qdrant_url, api_key=o.qdrant_api_key, read_only=read_only)

    def _store(self, create: bool = False) -> VectorStore:
        """The reading store, opened on first use and again when it went stale."""
        with self._lock:
            if self._closed:
                raise RuntimeError("this Index is closed")
            if self._reader is None or (self._owns_reader and self._reader.stale()):
                if not (create or self._exists()):
                    raise NoIndexError(f"no index at {self.db}: index files into it first")
                old, self._reader = self._reader, None
                # Qdrant's local mode allows one client per folder: it reads and writes through one
                self._reader = self._open_store(read_only=self.options.store == "lancedb")
                if old is not None:
                    old.close()
            return self._reader

    @property
    def store(self) -> VectorStore:
        """The store searches read (for what the API does not wrap: rows, stats)."""
        return self._store()

    def encoder(self, store: VectorStore | None = None) -> LockedEncoder:
        """The shared encoder, loaded on first use: the one the index (in `store`, default the reading
        store) was built with. Raises EncoderMismatchError when that model is gone or changed."""
        with self._encoder_lock:
            if self._encoder is None:
                self._encoder = LockedEncoder(_load_encoder(store or self._store(), self.options))
            return self._encoder

    # -- search -----------------------------------------------------------------------------------
    def search(
        self,
        text: str | None = None,
        *,
        k: int = 10,
        audio: str | os.PathLike[str] | None = None,
        video: str | os.PathLike[str] | None = None,
        image: str | os.PathLike[str] | None = None,
        span: tuple[float, float] | None = None,
        target: str | Modality | None = None,
        filters: Mapping[str, Any] | Filter | None = None,
        rerank: bool = False,
        **options: Any,
    ) -> list[SearchHit]:
        """Search by text and/or a sound, a clip or a picture (file paths); hits best first.

        span: (start, end) seconds of the audio/video query file; target: text | video | audio | fused
        (default: the planner's choice, fused); filters: dict(path=glob, media_type=, after=date,
        start=s, end=s) or a Filter; more options: the fields of retrieval.planner.SearchOptions
        (prefetch, merge, group_by_file, words_weight, lexical_weight, ...). Bad input: QueryError.

        Example:
            >>> idx.search("budget for the warehouse", k=3, filters={"media_type": "video"})  # doctest: +SKIP
        """
        query = make_query(text, audio=audio, video=video, image=image, span=span)
        opts = search_options(k=k, target=target, filters=filters, rerank=rerank, **options)
        return [SearchHit.from_hit(h) for h in self.run(query, opts).hits]

    def run(self, query: Query, opts: SearchOptions) -> SearchResult:
        """The planner's whole result (hits, plan, stage times) for a Query and SearchOptions."""
        from omnisearch.retrieval.planner import search

        store = self._store()
        if store.encoder() is None:
            raise NoIndexError(f"the index at {self.db} holds no clips yet: index files into it first")
        return search(store, self.encoder(), query, opts)

    def clip(self, clip_id: str) -> SearchHit | None:
        """One clip by id (its own window, score 0.0), or None when the index has no such clip."""
        row = self._store().clip_rows([str(clip_id)]).get(str(clip_id))
        return None if row is None else SearchHit.from_row(row)

    # -- index ------------------------------------------------------------------------------------
    def index(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        progress: Progress | None = None,
        force: bool = False,
        wait: bool = True,
        workers: int | None = None,
        engine: Engine | None = None,
        **settings: Any,
    ) -> IngestReport:
        """Index files and folders (new or changed files only; `force`: every file again) with the
        index's own encoder and settings (`settings`: window, overlap, frames... for a new index; on an
        existing one they must repeat its own). Holds the writer lock meanwhile (`wait=False`: raise
        IndexBusyError when another writer has it); the spec records the roots. `workers`: decoding
        processes (default from the core count). `engine`: where files
        are embedded (None: this process; `omnisearch.ingest.ray_engine.RayEngine()`: Ray Data).

        Example:
            >>> omnisearch.open("db").index(["~/Videos"]).files_indexed     # doctest: +SKIP
            12
        """
        from omnisearch.ingest.pipeline import index_paths
        from omnisearch.media.walk import find_media

        if self.options.read_only:
            raise ReadOnlyIndexError(f"the index at {self.db} was opened read-only")
        roots = [os.path.abspath(os.path.expanduser(os.fspath(p))) for p in paths]
        missing = [p for p in roots if not os.path.exists(p)]
        if missing:
            raise FileNotFoundError(f"not found: {', '.join(missing)}")
        if engine is None and workers != 0:
            from omnisearch.ingest.stages.reader import start_readers

            start_readers()  # the decoders' imports run beside the store's and the model's
        forced = frozenset(f.path for f in find_media(roots)[0]) if force else frozenset()
        writer = self._writer()
        try:
            spec = self.settings(writer, **settings)  # a conflicting setting fails before a model loads
            with self.encoder(writer).exclusive() as enc:  # searches on this Index wait meanwhile
                return index_paths(
                    roots,
                    writer,
                    enc,
                    spec.segment,
                    spec.decode,
                    progress=progress,
                    wait=wait,
                    force=forced,
                    workers=workers,
                    engine=engine,
                )
        finally:
            if writer is not self._reader:
                writer.close()

    def _writer(self) -> VectorStore:
        """The store `index` writes through: the caller's store or Qdrant's one client (both also read),
        else a LanceDB handle of its own (closed after the run)."""
        if not self._owns_reader or self.options.store == "qdrant":
            return self._store(create=True)
        return self._open_store(read_only=False)

    def settings(self, store: VectorStore | None = None, **options: Any) -> IndexSpec:
        """The spec an index run uses: each option given (window, overlap, frames, ...; None: not
        given) wins, the others follow the index (defaults for a new one). Raises ValueError for a bad
        value, EncoderMismatchError for a model or option that differs from the index's own."""
        from omnisearch.models.registry import model_source
        from omnisearch.spec import check_spec, settle

        stored = (store or self._store()).spec() if store is not None or self._exists() else None
        model = self.options.model
        spec = settle(stored, model_source(model) if model else None, **options)
        check_spec(stored, spec)
        return spec

    # -- about ------------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """clips, files, encoder (name, version, dim), model, store kind, db, roots."""
        if not self._exists():
            raise NoIndexError(f"no index at {self.db}: index files into it first")
        store = self._store()
        rec, spec = store.encoder(), store.spec()
        return {
            "db": self.db,
            "store": self.options.store,
            "clips": store.count(),
            "files": len(store.files()),
            "encoder": rec.to_dict() if rec is not None else None,
            "model": spec.model if spec is not None else (rec.name if rec is not None else None),
            "roots": self.roots(),
        }

    def roots(self) -> list[str]:
        """The absolute paths given to `index` (its spec), in first-use order; for an index built
        before specs were recorded, the folder of each indexed file."""
        store = self._store()
        spec = store.spec()
        return list(spec.roots) if spec is not None else sorted({os.path.dirname(p) for p in store.files()})

    def close(self) -> None:
        with self._lock:
            if self._reader is not None and self._owns_reader:
                self._reader.close()
            self._reader, self._closed = None, True

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index({self.db!r}, store={self.options.store!r})"


def make_query(
    text: str | None = None,
    *,
    audio: str | os.PathLike[str] | None = None,
    video: str | os.PathLike[str] | None = None,
    image: str | os.PathLike[str] | None = None,
    span: tuple[float, float] | Sequence[float] | None = None,
) -> Query:
    """A checked Query from API arguments (files: paths, `~` expanded)."""

    def path(p: str | os.PathLike[str] | None) -> str | None:
        return None if p is None else os.path.expanduser(os.fspath(p))

    if text is not None and not isinstance(text, str):
        raise QueryError(f"text must be a string, got {type(text).__name__}")
    q = Query(text=text, audio=path(audio), video=path(video), image=path(image))
    if q.is_empty():
        raise QueryError("empty query: give a text and/or --audio / --video / --image")
    for name in ("audio", "video", "image"):
        given = getattr(q, name)
        if given is not None and os.path.isdir(given):
            raise QueryError(f"--{name} {given} is a folder: give one file")
    if span is not None:
        q.span = check_span(span)
    return q


def search_options(
    *,
    k: int = 10,
    target: str | Modality | None = None,
    filters: Mapping[str, Any] | Filter | None = None,
    rerank: bool = False,
    **more: Any,
) -> SearchOptions:
    """SearchOptions from API arguments; unknown names and bad values raise QueryError."""
    from omnisearch.retrieval.planner import SearchOptions, target_column

    if isinstance(filters, Mapping):
        unknown = sorted(set(filters) - set(FILTER_KEYS))
        if unknown:
            raise QueryError(f"unknown filter {', '.join(unknown)}: use {', '.join(FILTER_KEYS)}")
        flt = make_filter(**filters)
    elif filters is None or isinstance(filters, Filter):
        flt = None if filters is None or filters.is_empty() else filters
    else:
        raise QueryError(f"filters must be a dict or a Filter, got {type(filters).__name__}")
    names = {f.name for f in fields(SearchOptions)} - {"target", "k", "rerank", "flt"}
    unknown = sorted(set(more) - names)
    if unknown:
        raise QueryError(f"unknown search option {', '.join(unknown)}: use {', '.join(sorted(names))}")
    if isinstance(k, bool) or not isinstance(k, int):
        raise QueryError(f"k must be an integer, got {k!r}")
    col = None if target is None or target == "" else target_column(target)
    return replace(SearchOptions(), target=col, k=k, rerank=bool(rerank), flt=flt, **more)
