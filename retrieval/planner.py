"""The any-to-any query planner.

A query is any non-empty combination of text, audio, video (optionally a time span) and image; the
target is one vector column of the index: text, video, audio or fused.

Targets, and the 12 directions of the benchmark:
- a single target (t2v, v2t, t2a, a2t, v2a, a2v, av2t, tv2a, at2v) is that modality's column:
  `--target text|video|audio`;
- a dual target ("av", "tv", "at": t2av, a2tv, v2at) is the fused column: `--target fused`. The index
  keeps one fused vector per clip, the fused tuple of every modality the clip has, and it serves every
  dual target (there are no per-pair columns); `target_column("av")` spells this mapping out;
- no target: the planner picks the fused column and says so in the plan. It is the one column every
  clip has (a silent clip has no audio vector, a clip without words no text vector), and the one the
  single-modality embeddings are trained towards (fusion as teacher).
A dual query (av2t, tv2a, at2v) needs no flag: give both parts (`--video`, or text with `--audio`...).

Plan:
1. embed: one vector per query modality, plus the fused tuple of the query (the encoder's FUSED vector);
2. first stage: each query vector searches the target column for `depth = max(prefetch, 3k)`
   candidates (the filter is applied inside the store; the store returns each hit's target vector).
   The lists are one per query modality, plus the fused query's when the query holds more than one
   modality (but a query holding the target's own modality, e.g. a clip's frames for the video column,
   searches with that part alone, so a clip used as a query finds itself), plus, for a query with
   words, the full-text list "words" over the clips' own words
   (subtitles, transcript, on-screen text, tags: BM25 in LanceDB, the text payload index in Qdrant),
   so a word spoken anywhere is found even where the vectors rank its clip low;
3. merge (`rerankers`): every candidate gets its exact cosine to each query vector from the returned
   vectors; weighted reciprocal rank fusion of all lists (`rrf`, default) orders them, or the weighted
   mean of the cosines (`weighted`). The `score` shown is a cosine (the best among the query vectors),
   with `rrf` and the per-list cosines beside it in `scores`;
4. rerank (`rerank=True`): rescore every candidate by the cosine between the fused query and its fused
   vector; the optional lexical boost (`lexical_weight`) reorders by word overlap;
5. shape (see `shaping.shape`): moments: a hit is its best window, joined by the neighbours that
   overlap it within `moment_margin` of its cosine (at most `moment_windows` windows, the span in
   `span_start`/`span_end`); `group_by_file` keeps one hit per file; top k.

`search` runs the whole plan from a `Query`; `search_vectors` runs steps 2-5 from precomputed query
vectors (benchmarks, tests, evaluation over an index).

Example:
    >>> result = search(store, encoder, Query(text="a dog barking"), SearchOptions(k=5))  # doctest: +SKIP
    >>> result.hits[0].path, result.target.value                                        # doctest: +SKIP
    ('/lib/dog.wav', 'fused')
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from omnisearch.indexers.base import EncoderRecord, Filter, StoreHit, VectorStore, check_encoder
from omnisearch.models.base import Encoder
from omnisearch.retrieval.query import Query, QueryError, decode_query
from omnisearch.retrieval.rerankers import (
    WORDS,
    Candidates,
    FusedRerank,
    LexicalBoost,
    Reranker,
    RRFFusion,
    WeightedFusion,
)
from omnisearch.retrieval.shaping import MomentConfig, shape
from omnisearch.types import Hit, Modality

MERGES = ("rrf", "weighted")
_TARGETS = {
    "t": Modality.TEXT, "text": Modality.TEXT, "v": Modality.VIDEO, "video": Modality.VIDEO,
    "a": Modality.AUDIO, "audio": Modality.AUDIO, "fused": Modality.FUSED, "av": Modality.FUSED,
    "va": Modality.FUSED, "tv": Modality.FUSED, "vt": Modality.FUSED, "at": Modality.FUSED,
    "ta": Modality.FUSED, "tva": Modality.FUSED,
}  # fmt: skip


def target_column(target: str | Modality) -> Modality:
    """The column that serves a target side: 't'/'text' -> text ..., 'av'/'tv'/'at'/'fused' -> fused."""
    key = str(target.value if isinstance(target, Modality) else target).strip().lower()
    if key not in _TARGETS:
        raise QueryError(
            f"unknown target {target!r}: use text, video, audio or fused (fused serves av, tv and at)"
        )
    return _TARGETS[key]


@dataclass
class SearchOptions:
    """How to run a query. `weights` weighs each query modality's first-stage list in the merge."""

    target: Modality | None = None
    k: int = 10
    prefetch: int = 100
    merge: str = "rrf"  # rrf | weighted
    weights: dict[Modality, float] | None = None
    rerank: bool = False
    flt: Filter | None = None
    group_by_file: bool = False
    merge_windows: bool = True
    lexical_text: str | None = None  # query words: the full-text list, and the optional boost
    words_weight: float = 1.0  # RRF weight of the full-text list over the clips' words (0: no list)
    lexical_weight: float = 0.0  # the boost: added per unit of word overlap (0: off)
    moment_margin: float = 0.05  # a neighbouring window joins a hit within this cosine of it
    moment_windows: int = 3  # at most this many windows per hit


@dataclass
class FirstStage:
    """One first-stage list: the `query` vector searched against `column`."""

    query: Modality
    column: Modality
    depth: int
    found: int
    seconds: float


@dataclass
class SearchResult:
    """Hits plus how they were found: target column, first-stage lists, plan lines, stage times."""

    hits: list[Hit]
    target: Modality = Modality.FUSED
    target_chosen: bool = False  # True when the planner picked the target
    stages: list[FirstStage] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    candidates: int = 0

    def explain(self) -> str:
        """The plan, candidate counts and each stage's time, one line each."""
        lines = [*self.plan, f"candidates after first stage: {self.candidates}, hits: {len(self.hits)}"]
        lines += [f"time {k}: {v * 1000:.1f} ms" for k, v in self.timings.items()]
        lines.append(f"time total: {sum(self.timings.values()) * 1000:.1f} ms")
        return "\n".join(lines)


def _check_options(opts: SearchOptions) -> Modality:
    """Validate options; return the target column."""
    if opts.merge not in MERGES:
        raise QueryError(f"unknown merge {opts.merge!r}; use rrf or weighted")
    if opts.k < 1:
        raise QueryError("-k must be at least 1")
    if opts.prefetch < 1:
        raise QueryError("--prefetch must be at least 1")
    for name in ("words_weight", "lexical_weight", "moment_margin"):
        if not (np.isfinite(getattr(opts, name)) and getattr(opts, name) >= 0):
            raise QueryError(f"{name} must be a finite number >= 0")
    if opts.moment_windows < 1:
        raise QueryError("moment_windows must be at least 1")
    for m, w in (opts.weights or {}).items():
        if m not in tuple(Modality) or not (np.isfinite(w) and w >= 0):
            raise QueryError(f"weights: want modality -> finite number >= 0, got {m!r}: {w!r}")
    return Modality.FUSED if opts.target is None else target_column(opts.target)


def _index_dim(store: VectorStore, encoder: EncoderRecord | None) -> int:
    stored = store.encoder()
    if stored is None:
        raise QueryError("the index is empty: run `omnisearch index` first")
    if encoder is not None:
        check_encoder(stored, encoder)
    return stored.dim


def _unit_vectors(vectors: Mapping[Modality, np.ndarray], dim: int) -> dict[Modality, np.ndarray]:
    """Query vectors as unit float32 arrays, checked against the index dimension."""
    if not vectors:
        raise QueryError("empty query: no query vector")
    out: dict[Modality, np.ndarray] = {}
    for m, v in vectors.items():
        m = Modality(m)
        arr = np.asarray(v, dtype=np.float32).reshape(-1)
        if arr.shape[0] != dim:
            raise QueryError(f"{m.value} query vector has dim {arr.shape[0]}, the index has {dim}")
        norm = float(np.linalg.norm(arr))
        if not np.isfinite(norm) or norm == 0:
            raise QueryError(f"{m.value} query vector is zero or not finite")
        out[m] = arr / norm
    return out


def _hit(sh: StoreHit, score: float, rank_score: float | None, scores: dict[str, float]) -> Hit:
    r = sh.row
    start, end = float(r["start"]), float(r["end"])
    kf = r.get("keyframe")
    kf = float(kf) if kf is not None and start <= float(kf) <= end else (start + end) / 2
    return Hit(
        path=r["path"],
        start=start,
        end=end,
        score=float(score),
        text=r.get("text") or "",
        media_type=r.get("media_type") or "",
        clip_id=r["clip_id"],
        keyframe=kf,
        transcript=r.get("transcript") or "",
        scores=scores,
        span_start=start,
        span_end=end,
        rank_score=rank_score,
        ocr_text=r.get("ocr_text") or "",
        tags=r.get("tags") or "",
    )


def search(
    store: VectorStore, encoder: Encoder, query: Query, opts: SearchOptions | None = None
) -> SearchResult:
    """Run a query end to end (see the module docstring for the plan)."""
    opts = opts or SearchOptions()
    target = _check_options(opts)
    dim = _index_dim(store, encoder.record)
    if query.span is not None:
        if not (query.audio or query.video):
            raise QueryError("--span applies to an --audio or --video query file")
        if not 0 <= query.span[0] < query.span[1]:
            raise QueryError(f"--span {query.span[0]:g}-{query.span[1]:g}: need 0 <= START < END")
    t = time.perf_counter()
    spec = store.spec() if query.has_files() else None  # a query file is decoded as the clips were
    inp = decode_query(query, spec.decode if spec is not None else None)
    timings = {"decode": time.perf_counter() - t}
    t = time.perf_counter()
    emb = encoder.encode([inp])[0]
    timings["embed"] = time.perf_counter() - t
    vectors = _unit_vectors(emb.vectors, dim)
    if query.text and opts.lexical_text is None:
        opts = replace(opts, lexical_text=query.text)
    result = SearchResult(hits=[], plan=[f"query: {query.describe()}"], timings=timings)
    result.plan.append("embed: " + ", ".join(m.value for m in vectors) + " query vectors")
    return _run(store, vectors, opts, target, result)


def search_vectors(
    store: VectorStore,
    query_vectors: Mapping[Modality, np.ndarray],
    opts: SearchOptions | None = None,
    *,
    encoder: EncoderRecord | None = None,
) -> SearchResult:
    """Run the plan from precomputed query vectors: {modality: vector}, FUSED being the query tuple's.

    Give the vectors of the query's modalities and, for a multi-modal query or `rerank`, the fused
    one; `{FUSED: v}` alone queries by a precomputed tuple. `encoder`, when given, is checked against
    the index's encoder record.
    """
    opts = opts or SearchOptions()
    target = _check_options(opts)
    vectors = _unit_vectors(query_vectors, _index_dim(store, encoder))
    result = SearchResult(hits=[], plan=["query: " + ", ".join(m.value for m in vectors) + " vectors"])
    return _run(store, vectors, opts, target, result)


def _describe(flt: Filter) -> str:
    """The clauses of a filter that are set, e.g. "media_type='audio', start_after=5.0"."""
    return ", ".join(f"{k}={v!r}" for k, v in flt.__dict__.items() if v is not None)


def _run(
    store: VectorStore,
    vecs: dict[Modality, np.ndarray],
    opts: SearchOptions,
    target: Modality,
    result: SearchResult,
) -> SearchResult:
    """Steps 2-5 of the plan, recorded into `result`."""
    result.target, result.target_chosen = target, opts.target is None
    qmods = [m for m in Modality.singles() if m in vecs]
    lists = list(qmods)
    if Modality.FUSED in vecs and len(qmods) != 1:
        lists.append(Modality.FUSED)
    if target in qmods and len(lists) > 1:  # same-modality search: a clip or picture finds its match
        result.plan.append(
            f"{target.value} query -> {target.value} column alone (the query's "
            + ", ".join(m.value for m in lists if m != target)
            + " vectors are left out; --target fused combines them)"
        )
        lists = [target]
    if opts.rerank and Modality.FUSED not in vecs:
        raise QueryError("--rerank needs the fused query vector")
    result.plan.append(
        f"target column: {target.value}"
        + (" (chosen by the planner: every clip has a fused vector)" if result.target_chosen else "")
    )
    if opts.flt is not None and not opts.flt.is_empty():
        result.plan.append(f"filter (applied inside the store): {_describe(opts.flt)}")
    depth = max(opts.prefetch, 3 * opts.k)
    cands = Candidates(found={}, lists={}, weights={}, queries={})
    t_all = time.perf_counter()
    for qm in lists:
        t = time.perf_counter()
        hits = store.search(target, vecs[qm], depth, opts.flt)
        stage = FirstStage(qm, target, depth, len(hits), time.perf_counter() - t)
        result.stages.append(stage)
        result.plan.append(
            f"first stage: {qm.value} query -> {target.value} column, top {depth}: "
            f"{len(hits)} found in {stage.seconds * 1000:.1f} ms"
        )
        name = f"{qm.value}->{target.value}"
        cands.queries[name] = vecs[qm]
        cands.weights[name] = float((opts.weights or {}).get(qm, 1.0))
        cands.lists[name] = _collect(cands, hits)
    query_words = (opts.lexical_text or "").strip()
    words = query_words if opts.words_weight > 0 else ""
    if words:
        t = time.perf_counter()
        hits = store.text_search(words, target, depth, opts.flt)
        cands.lists[WORDS] = _collect(cands, hits)
        cands.weights[WORDS] = opts.words_weight
        for h in hits:
            cands.extra.setdefault(h.row["clip_id"], {})[WORDS] = h.score
        result.plan.append(
            f"first stage: full-text words -> clips' own words, top {depth}: {len(hits)} found in "
            f"{(time.perf_counter() - t) * 1000:.1f} ms"
        )
    result.timings["first_stage"] = time.perf_counter() - t_all

    t = time.perf_counter()
    _fill_vectors(store, cands, target)
    cands.compute_cosines()
    result.candidates = len(cands.found)
    result.timings["merge"] = time.perf_counter() - t
    steps: list[tuple[str, Reranker]] = []
    if len(cands.lists) > 1:
        steps.append(("merge", RRFFusion() if opts.merge == "rrf" else WeightedFusion()))
    if opts.rerank:
        steps.append(("rerank", FusedRerank(store, vecs[Modality.FUSED], target == Modality.FUSED)))
    if query_words and opts.lexical_weight > 0:
        steps.append(("lexical", LexicalBoost(query_words, opts.lexical_weight)))
    if not steps:
        result.plan.append("merge: one list, scored by its cosines")
    for key, step in steps:
        t = time.perf_counter()
        result.plan.append(step.apply(cands))
        result.timings[key] = result.timings.get(key, 0.0) + time.perf_counter() - t

    t = time.perf_counter()
    hits = [
        _hit(
            sh,
            cands.score[cid],
            None if cands.order_is_cosine and cands.order[cid] == cands.score[cid] else cands.order[cid],
            {**cands.cosines.get(cid, {}), **cands.extra.get(cid, {})},
        )
        for cid, sh in cands.found.items()
    ]
    moments = MomentConfig(opts.moment_margin, opts.moment_windows)
    result.hits = shape(hits, opts.k, opts.merge_windows, opts.group_by_file, moments)
    result.timings["shape"] = time.perf_counter() - t
    result.plan.append(
        "shape: "
        + (
            f"moments (best window + overlapping neighbours within {opts.moment_margin:g} of its cosine, "
            f"at most {opts.moment_windows} windows)"
            if opts.merge_windows
            else "windows kept apart"
        )
        + (", one hit per file" if opts.group_by_file else "")
        + f", top {opts.k}"
    )
    return result


def _collect(cands: Candidates, hits: list[StoreHit]) -> list[str]:
    """Add a first-stage list's rows to the candidates; return its ids in rank order."""
    for h in hits:
        cid = h.row["clip_id"]
        if cands.found.get(cid) is None or cands.found[cid].vector is None:
            cands.found[cid] = h
    return [h.row["clip_id"] for h in hits]


def _fill_vectors(store: VectorStore, cands: Candidates, target: Modality) -> None:
    """Fetch target vectors the store did not return with its hits (the stores here always do)."""
    missing = [cid for cid, h in cands.found.items() if h.vector is None]
    if missing:
        for cid, vec in store.vectors(missing, target).items():
            cands.found[cid] = StoreHit(cands.found[cid].row, cands.found[cid].score, vec)
