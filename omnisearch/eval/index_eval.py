"""Evaluation through a vector index: the figures of `evaluator.evaluate`, found by the real query planner.

`evaluate_via_index(manifest, encoder, db_dir, store)` runs `evaluate` (embedding, or reading every unit
vector from the cache), takes the unit vectors it returns, writes each direction's TARGET units into a
vector store under db_dir and runs every query vector through `planner.search_vectors`
(target = the side's column, k = 10, prefetch = 100, no rerank, windows not merged, no lexical boost).
R@K comes from the returned hits with the relevance rules of `metrics`.

Stores: one per target side, DIR/<side>; each unit is a `ClipRecord` (clip id `unit_clip_id`, path =
the item's media path or "caption", the encoder's record on the store) with its vector in the column
the planner searches for that side: t -> text, v -> video, a -> audio, av/tv/at -> fused. A direction
is scored over the items having every modality it needs, so where directions sharing a target side
have different eligible items (mixed manifests: t2a over all items with sound, v2a over videos only),
that side gets one store per target set, DIR/<side>-<needs> (e.g. "a-ta", "a-va"). A dual query side
(av, tv, at) queries with its fused vector alone, as `metrics` scores it.

Why the figures match: with one query vector the planner orders hits by cosine, best first, ties by
clip id; the first relevant hit sits at 1 + (non-relevant hits above it), the `metrics` rank when that
is <= k. Ties: `metrics` counts a non-relevant target scoring exactly the best relevant score against
the query, while the store's order puts tied hits by id. `score_via_index` applies the `metrics` rule
to the hits' scores (a tie of two or more running to the end of the list counts as a miss; a lone
relevant hit at k may still tie targets past the list, unseen) and keeps the rank in the store's own
order too (`IndexEvalResult.store_order`). Scores within float32 rounding (~1e-6) may swap between
a store's kernels and numpy; ranks beyond k are unknown. Units without a (finite, non-zero) vector
are not indexed; as in `metrics` (NaN = -inf), a query without a vector, or whose relevant targets
are all missing, gets rank 1 + (its non-relevant targets).

Example (`evaluate_via_index("bench.jsonl", encoder, "/tmp/evaldb")` -> (in-memory run, via index)):
    >>> ranks_from_rankings([[2, 0], [1, 2], None], [{0}, {0}, {1}], 3, depth=2).tolist()
    [2, 3, 3]
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from omnisearch.eval import directions as dirs
from omnisearch.eval import evaluator, metrics
from omnisearch.eval.core import EvalRun
from omnisearch.eval.directions import Unit, UnitKey
from omnisearch.eval.evaluator import Progress
from omnisearch.eval.manifest import ManifestItem, item_modalities, read_manifest
from omnisearch.eval.metrics import KS, DirectionScore, EvalResult, RelevanceLike
from omnisearch.indexers import STORES, EncoderRecord, VectorStore, open_store
from omnisearch.models.base import Encoder
from omnisearch.retrieval.planner import SearchOptions, search_vectors, target_column
from omnisearch.types import ClipRecord, Modality

MARKER = ".omnisearch-eval-index"  # marks a folder written by this module (it may be wiped and rewritten)
Vectors = Mapping[str, Mapping[UnitKey, np.ndarray]]  # side -> unit key -> vector
Ranking = Sequence[int] | None  # target indices, best first; None: the query could not be searched
Mask = Sequence[bool] | np.ndarray | None


def _tie_rank(ranking: Sequence[int], scores: Sequence[float], wanted: set[int], pos: int, depth: int) -> int:
    """`metrics`' rank when scores tie: 1 + listed non-relevant targets scoring >= the first relevant's;
    depth + 1 (a miss) when a full list ends in a tie of two or more with it (it may run on past)."""
    best = scores[pos]
    if len(ranking) >= depth and scores[-1] >= best and sum(sc == best for sc in scores) > 1:
        return depth + 1
    return 1 + sum(1 for i, t in enumerate(ranking) if t not in wanted and scores[i] >= best)


def ranks_from_rankings(
    rankings: Sequence[Ranking],
    relevance: RelevanceLike,
    n_targets: int,
    *,
    depth: int,
    indexed: Mask = None,
    scores: Sequence[Sequence[float] | None] | None = None,
) -> np.ndarray:
    """Rank of each query from the target indices a search returned, best first (pure).

    rankings[q]: the top (at most `depth`) target indices found for query q, or None when q could not
    be searched (no vector). indexed[t]: whether target t was searchable at all (default: all).
    rank = position of the first relevant target in the list; depth + 1 when none is in it (only
    R@K for K <= depth is exact then); 1 + (non-relevant targets) when the query has no ranking or
    none of its relevant targets is indexed — what `metrics.ranks_from_scores` gives NaN scores.
    With `scores` (each listed target's score), ties count against the query as in `metrics`; without,
    the list's own order (the store's tie-break) decides.
    """
    rel = metrics.as_relevance(relevance, len(rankings), n_targets)
    ok = np.ones(n_targets, dtype=bool) if indexed is None else np.asarray(indexed, dtype=bool)
    ranks = np.empty(len(rankings), dtype=np.int64)
    for q, ranking in enumerate(rankings):
        relevant = rel.indices[rel.indptr[q] : rel.indptr[q + 1]]
        if ranking is None or not ok[relevant].any():
            ranks[q] = 1 + n_targets - len(relevant)
            continue
        wanted = set(relevant.tolist())
        pos = next((i for i, t in enumerate(ranking) if t in wanted), None)
        sc = None if scores is None else scores[q]
        if pos is None:
            ranks[q] = max(depth, len(ranking)) + 1
        else:
            ranks[q] = pos + 1 if sc is None else _tie_rank(ranking, sc, wanted, pos, depth)
    return ranks


def unit_clip_id(side: str, key: UnitKey) -> str:
    """The clip id of a unit in its store, e.g. 'a:3f2c...': side plus a hash of (item id, caption)."""
    return f"{side}:{hashlib.sha256(json.dumps(list(key)).encode()).hexdigest()[:20]}"


def _vector(table: Mapping[UnitKey, np.ndarray] | None, key: UnitKey) -> np.ndarray | None:
    """A unit's vector when it has a usable one (present, finite, non-zero), else None."""
    vec = None if table is None else table.get(key)
    arr = None if vec is None else np.asarray(vec, dtype=np.float32).reshape(-1)
    return arr if arr is not None and np.isfinite(arr).all() and arr.any() else None


@dataclass
class TargetStore:
    """One store to build: folder name, target side, planner column, target units, directions served."""

    name: str
    side: str
    units: list[Unit]
    directions: list[str] = field(default_factory=list)
    rows: int = 0


def plan_stores(
    items: Sequence[ManifestItem],
    modalities: Sequence[frozenset[Modality]],
    directions: Iterable[str] | None = None,
    *,
    min_items: int = 2,
) -> dict[str, TargetStore]:
    """Which stores to build: name -> TargetStore. Directions with fewer than `min_items` eligible
    items (skipped by `metrics.score_all`) get none. A side whose directions all have the same target
    units gets one store named after the side; otherwise one per target set, '<side>-<needs>'."""
    groups: dict[str, dict[tuple[UnitKey, ...], TargetStore]] = {}
    for d in dirs.resolve(directions):
        idx = dirs.eligible_items(modalities, d)
        if len(idx) < min_items:
            continue
        side = dirs.side_name(d.target)
        units = dirs.side_units(items, dirs.SIDES[side], idx)
        needs = "".join(m.value[0] for m in Modality.singles() if m in d.needs)
        by_set = groups.setdefault(side, {})
        store = by_set.setdefault(tuple(u.key for u in units), TargetStore(f"{side}-{needs}", side, units))
        store.directions.append(d.name)
    out = [ts for by_set in groups.values() for ts in by_set.values()]
    for ts in out:
        ts.name = ts.name if len(groups[ts.side]) > 1 else ts.side
    return {ts.name: ts for ts in out}


def unit_record(side: str, unit: Unit, item: ManifestItem, vec: np.ndarray) -> ClipRecord:
    """The stored row of a unit: its vector in the column the planner searches for `side`."""
    if side == "t":
        path, media = "caption", "text"
    elif "v" in side:
        path, media = item.video or item.image or "", "image" if item.image and not item.video else "video"
    else:
        path, media = item.audio or item.video or "", "audio"
    cid = unit_clip_id(side, unit.key)
    start = float(item.start or 0.0)
    return ClipRecord(
        clip_id=cid,
        path=path,
        media_type=media,
        start=start,
        end=float(item.end if item.end is not None else start),
        file_hash=cid,
        text=unit.key[1],
        transcript="",
        vectors={target_column(side): vec},
        keyframe=start,
    )


@dataclass
class IndexEvalResult(EvalResult):
    """Scores found through the index (ties against the query), the same ranked in the store's own
    order (ties by clip id), the stores built (name -> TargetStore) and timings."""

    store_order: dict[str, DirectionScore] = field(default_factory=dict)
    stores: dict[str, TargetStore] = field(default_factory=dict)
    k: int = 10
    prefetch: int = 100
    build_s: float = 0.0
    search_s: float = 0.0


def score_via_index(
    items: Sequence[ManifestItem],
    vectors: Vectors,
    modalities: Sequence[frozenset[Modality]],
    open_one: Callable[[str], VectorStore],
    encoder: EncoderRecord,
    *,
    model: str = "model",
    directions: Iterable[str] | None = None,
    k: int = 10,
    prefetch: int = 100,
    min_items: int = 2,
    progress: Progress | None = None,
) -> IndexEvalResult:
    """Score every direction like `metrics.score_all(..., on_missing="miss")`, but through stores.

    vectors[side][unit.key] as for `score_all` (missing / NaN = failed). open_one(name) must return a
    new, empty store; it is closed when its directions are done. progress(done, total) counts queries.
    """
    if k < max(KS):
        raise ValueError(f"R@{max(KS)} needs k >= {max(KS)}, got k={k}")
    directions = None if directions is None else list(directions)
    stores = plan_stores(items, modalities, directions, min_items=min_items)
    eligible = functools.partial(dirs.eligible_items, modalities)
    result = IndexEvalResult(model, {}, {}, stores=stores, k=k, prefetch=prefetch)
    for d in dirs.resolve(directions):
        if not any(d.name in s.directions for s in stores.values()):
            need, n = "+".join(m.value for m in Modality.singles() if m in d.needs), len(eligible(d))
            result.skipped[d.name] = f"{n} item(s) have {need}; need at least {min_items}"
    labels = [metrics._label(it) for it in items]
    served = [d for s in stores.values() for d in dirs.resolve(s.directions)]
    queries = {d.name: dirs.side_units(items, d.query, eligible(d)) for d in served}
    total, done = sum(len(q) for q in queries.values()), 0

    def score(store: VectorStore, d: dirs.Direction, opts: SearchOptions) -> DirectionScore:
        """Run every query unit of `d` through the planner over `store` (d's target units)."""
        nonlocal done
        tside, q_units = dirs.side_name(d.target), queries[d.name]
        t_units = dirs.side_units(items, d.target, eligible(d))
        index_of = {unit_clip_id(tside, u.key): i for i, u in enumerate(t_units)}
        qmod, qtable = dirs.vector_modality(d.query), vectors.get(dirs.side_name(d.query))
        rankings: list[list[int] | None] = []
        scores: list[list[float] | None] = []
        for u in q_units:
            qvec = _vector(qtable, u.key)
            hits = None if qvec is None else search_vectors(store, {qmod: qvec}, opts, encoder=encoder).hits
            rankings.append(None if hits is None else [index_of[h.clip_id] for h in hits])
            scores.append(None if hits is None else [h.score for h in hits])
            done += 1
            if progress is not None:
                progress(done, total)
        rel = metrics.build_relevance(
            [{labels[o] for o in u.owners} for u in q_units], [{labels[o] for o in u.owners} for u in t_units]
        )
        indexed = [_vector(vectors.get(tside), u.key) is not None for u in t_units]
        own = ranks_from_rankings(rankings, rel, len(t_units), depth=k, indexed=indexed)
        ranks = ranks_from_rankings(rankings, rel, len(t_units), depth=k, indexed=indexed, scores=scores)
        n, m = len(ranks), len(t_units)
        result.store_order[d.name] = DirectionScore(d.name, metrics.recall_at_k(own), n, m, own)
        return DirectionScore(d.name, metrics.recall_at_k(ranks), n, m, ranks)

    for ts in stores.values():
        t0 = time.perf_counter()
        store = open_one(ts.name)
        try:
            store.ensure_encoder(encoder)
            with_vec = [(u, _vector(vectors.get(ts.side), u.key)) for u in ts.units]
            recs = [unit_record(ts.side, u, items[u.item_index], v) for u, v in with_vec if v is not None]
            store.upsert(recs)
            ts.rows = len(recs)
            t1 = time.perf_counter()
            opts = SearchOptions(
                target=target_column(ts.side), k=k, prefetch=prefetch, merge_windows=False, lexical_weight=0
            )
            for d in dirs.resolve(ts.directions):
                result.directions[d.name] = score(store, d, opts)
            result.build_s += t1 - t0
            result.search_s += time.perf_counter() - t1
        finally:
            store.close()
    result.directions = {n: result.directions[n] for n in dirs.ALL if n in result.directions}
    return result


def prepare_db_dir(db_dir: str | os.PathLike[str]) -> Path:
    """Make `db_dir` an empty folder holding only MARKER. A folder this module wrote before is emptied;
    any other non-empty folder raises FileExistsError (an index of yours is never overwritten)."""
    root = Path(db_dir)
    if root.is_dir():
        entries = list(root.iterdir())
        if entries and not (root / MARKER).is_file():
            raise FileExistsError(f"--db {root}: not empty and not written by `omnisearch eval --db`")
        for entry in entries:
            if entry.name != MARKER:
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by `omnisearch eval --db`; emptied by its next run\n")
    return root


def _open_in(kind: str, root: Path, name: str) -> VectorStore:
    return open_store(kind, str(root / name))


def evaluate_via_index(
    manifest_path: str | os.PathLike[str],
    encoder: Encoder,
    db_dir: str | os.PathLike[str],
    store: str = "lancedb",
    *,
    search_progress: Progress | None = None,
    **eval_options: Any,
) -> tuple[EvalRun, IndexEvalResult]:
    """(the in-memory `evaluate` run, its unit vectors scored through `store` stores under `db_dir`).

    eval_options go to `evaluator.evaluate` (directions, cache_dir, progress, use_cache, model_name,
    decode). Raises ValueError for an unknown store, FileExistsError for a foreign non-empty db_dir
    (both before anything is embedded).
    """
    if store not in STORES:
        raise ValueError(f"unknown store {store!r}; choose one of {', '.join(STORES)}")
    root = prepare_db_dir(db_dir)
    run = evaluator.evaluate(manifest_path, encoder, **eval_options)
    items = read_manifest(manifest_path, on_missing="ignore")
    names = eval_options.get("directions")
    kw = {"model": run.model, "directions": names, "progress": search_progress}
    opener = functools.partial(_open_in, store, root)
    return run, score_via_index(items, run.vectors, item_modalities(items), opener, encoder.record, **kw)


def differences(a: EvalResult, b: EvalResult, ks: tuple[int, ...] = KS) -> list[str]:
    """Where two results disagree: directions scored in one only, and R@K values that differ (with
    how many queries' ranks differ within the top max(ks)). Empty when the figures are the same."""
    out = []
    for name in dirs.ALL:
        da, db = a.directions.get(name), b.directions.get(name)
        if da is None or db is None:
            out += [f"{name}: scored in one result only"] if da is not db else []
            continue
        bad = [f"R@{k} {da.recall[k]:.2f} vs {db.recall[k]:.2f}" for k in ks if da.recall[k] != db.recall[k]]
        if bad:
            ra, rb = (np.minimum(x.ranks, max(ks) + 1) for x in (da, db))
            moved = f" ({int(np.sum(ra != rb))} queries ranked differently)" if len(ra) == len(rb) else ""
            out.append(f"{name}: " + ", ".join(bad) + moved)
    return out
