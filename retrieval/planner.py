"""The any-to-any query planner.

Plan for a query holding modalities Q and a target column C (text, video, audio or fused):
1. embed the query: one vector per modality in Q, plus the fused tuple of Q;
2. first stage: for each query vector (each modality of Q, and the fused query when |Q| > 1) search
   column C for `prefetch` candidates;
3. merge the lists: reciprocal rank fusion (`rrf`) or the mean of the cosines (`weighted`);
4. optionally rerank (`rerank=True`): rescore the candidates by cosine between the fused query and
   their fused vectors. Reranking only reorders what the first stage found: `prefetch` sets recall.
5. shape: overlapping windows of one file become one hit; optionally one hit per file.

When no target is given the planner searches the fused column (the clip's words, picture and sound
together) and says so in the plan.

Example:
    >>> result = search(store, encoder, Query(text="a dog barking"), SearchOptions(k=5))  # doctest: +SKIP
    >>> result.hits[0].path                                                             # doctest: +SKIP
    '/lib/dog.wav'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from omnisearch.indexers.base import Filter, StoreHit, VectorStore, check_encoder
from omnisearch.models.base import Encoder
from omnisearch.retrieval.query import Query, QueryError, decode_query
from omnisearch.retrieval.shaping import group_by_file, merge_overlaps, rrf
from omnisearch.types import Hit, Modality


@dataclass
class SearchOptions:
    target: Modality | None = None
    k: int = 10
    prefetch: int = 100
    merge: str = "rrf"  # rrf | weighted
    rerank: bool = False
    flt: Filter | None = None
    group_by_file: bool = False
    merge_windows: bool = True


@dataclass
class SearchResult:
    hits: list[Hit]
    plan: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    candidates: int = 0

    def explain(self) -> str:
        lines = list(self.plan)
        lines.append(f"candidates after first stage: {self.candidates}")
        lines += [f"time {k}: {v * 1000:.1f} ms" for k, v in self.timings.items()]
        return "\n".join(lines)


def _hit(sh: StoreHit, score: float) -> Hit:
    r = sh.row
    return Hit(
        path=r["path"],
        start=float(r["start"]),
        end=float(r["end"]),
        score=float(score),
        text=r.get("text") or "",
        media_type=r.get("media_type", ""),
        clip_id=r["clip_id"],
        keyframe=float(r.get("keyframe", r["start"])),
        transcript=r.get("transcript") or "",
        scores={},
    )


def search(
    store: VectorStore, encoder: Encoder, query: Query, opts: SearchOptions | None = None
) -> SearchResult:
    """Run a query end to end (see the module docstring for the plan)."""
    opts = opts or SearchOptions()
    if opts.merge not in ("rrf", "weighted"):
        raise QueryError(f"unknown merge {opts.merge!r}; use rrf or weighted")
    if opts.k < 1:
        raise QueryError("-k must be at least 1")
    stored = store.encoder()
    if stored is None:
        raise QueryError("the index is empty: run `omnisearch index` first")
    check_encoder(stored, encoder.record)
    timings: dict[str, float] = {}
    plan: list[str] = [f"query: {query.describe()}"]

    t = time.perf_counter()
    inp = decode_query(query)
    timings["decode"] = time.perf_counter() - t
    t = time.perf_counter()
    emb = encoder.encode([inp])[0]
    timings["embed"] = time.perf_counter() - t
    qmods = [m for m in Modality.singles() if m in emb.vectors]

    target = opts.target or Modality.FUSED
    plan.append(
        f"target column: {target.value}"
        + ("" if opts.target else " (default: the clip's fused tuple of words, picture and sound)")
    )
    lists = [(m, emb.vectors[m]) for m in qmods]
    if len(qmods) > 1:
        lists.append((Modality.FUSED, emb.vectors[Modality.FUSED]))
    depth = max(opts.prefetch, opts.k * 3)
    t = time.perf_counter()
    found: dict[str, StoreHit] = {}
    rankings: list[list[str]] = []
    cosines: dict[str, dict[str, float]] = {}
    for qm, vec in lists:
        hits = store.search(target, vec, depth, opts.flt)
        plan.append(
            f"first stage: {qm.value} query vector -> {target.value} column, top {depth}: {len(hits)}"
        )
        rankings.append([h.row["clip_id"] for h in hits])
        for h in hits:
            found.setdefault(h.row["clip_id"], h)
            cosines.setdefault(h.row["clip_id"], {})[f"{qm.value}->{target.value}"] = h.score
    timings["first_stage"] = time.perf_counter() - t

    if len(lists) == 1:
        scores = {cid: next(iter(c.values())) for cid, c in cosines.items()}
    elif opts.merge == "rrf":
        scores = rrf(rankings)
        plan.append(f"merge: reciprocal rank fusion of {len(lists)} lists")
    else:
        scores = {cid: float(np.mean(list(c.values()))) for cid, c in cosines.items()}
        plan.append(f"merge: mean cosine over {len(lists)} lists (missing = not found)")

    if opts.rerank and found:
        t = time.perf_counter()
        fused_q = emb.vectors[Modality.FUSED]
        vecs = store.vectors(list(found), Modality.FUSED)
        scores = {cid: float(vecs[cid] @ fused_q) if cid in vecs else -1.0 for cid in found}
        for cid in found:
            if cid in vecs:
                cosines[cid]["rerank fused->fused"] = scores[cid]
        timings["rerank"] = time.perf_counter() - t
        plan.append(f"rerank: fused query vs fused vectors of {len(found)} candidates")

    hits = []
    for cid, sh in found.items():
        h = _hit(sh, scores[cid])
        h.scores = cosines[cid]
        hits.append(h)
    hits.sort(key=lambda h: -h.score)
    if opts.merge_windows:
        hits = merge_overlaps(hits)
    if opts.group_by_file:
        hits = group_by_file(hits)
        plan.append("shape: one hit per file")
    return SearchResult(hits=hits[: opts.k], plan=plan, timings=timings, candidates=len(found))
