"""Retrieval metrics: ranks with ties counted against the query, R@K, per-direction and average scores.

Rank rule (docs/benchmark-format.md): for a query, let s* be the best score of any relevant target;
rank = 1 + the number of NON-relevant targets scoring >= s*. Ties therefore count against the query
(a constant model ranks every relevant target below all non-relevant ones and scores ~0, not 100 %);
other relevant targets never push a hit down. NaN scores (a failed embedding) count as -inf, so a
NaN query or target is never a hit by luck. The paper's own code counts only targets strictly above
(ties in the query's favour); reports say so.

Scores are dot products of the given vectors (they are expected to be L2-normalised, so cosines).
The query side is processed in chunks (about 16 M scores at a time), so 4k x 4k or 50k x 50k fit.

Example:
    >>> import numpy as np
    >>> s = np.array([[0.9, 0.9, 0.1], [0.2, 0.8, 0.8]])
    >>> ranks_from_scores(s, [{0}, {2}]).tolist()   # query 0 ties with a non-relevant target
    [2, 2]
    >>> r = score_direction("t2v", np.eye(3), np.eye(3), [{0}, {1}, {2}])
    >>> r.recall[1], r.queries
    (100.0, 3)
    >>> summarize({"t2v": 40.0, "v2t": 20.0, "t2av": 50.0})
    Averages(avg_single=30.0, avg_dual=50.0, avg_all=40.0)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from omnisearch.eval.directions import (
    ALL,
    DUAL,
    SIDES,
    SINGLE,
    eligible_items,
    resolve,
    side_name,
    side_units,
)
from omnisearch.types import Modality

if TYPE_CHECKING:
    from omnisearch.eval.directions import Unit
    from omnisearch.eval.manifest import ManifestItem

KS: tuple[int, ...] = (1, 5, 10)
CHUNK_ELEMENTS = 1 << 24  # scores held at once while ranking (64 MiB of float32)


def _int_array(values: Iterable[int]) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype(np.int64, copy=False)
    return np.fromiter(values, dtype=np.int64)


@dataclass(frozen=True)
class Relevance:
    """Relevant targets per query in CSR form: query q's are indices[indptr[q]:indptr[q + 1]]."""

    indptr: np.ndarray
    indices: np.ndarray
    n_targets: int

    @property
    def n_queries(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def from_sets(cls, sets: Sequence[Iterable[int]], n_targets: int) -> Relevance:
        arrays = [np.unique(_int_array(s)) for s in sets]
        indptr = np.zeros(len(arrays) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(a) for a in arrays])
        indices = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
        if indices.size and (indices.min() < 0 or indices.max() >= n_targets):
            raise ValueError(f"relevant target index out of range [0, {n_targets})")
        return cls(indptr, indices.astype(np.int64), n_targets)

    @classmethod
    def from_matrix(cls, matrix: np.ndarray) -> Relevance:
        m = np.asarray(matrix, dtype=bool)
        if m.ndim != 2:
            raise ValueError(f"relevance matrix must be 2-D, got shape {m.shape}")
        _, cols = np.nonzero(m)
        indptr = np.zeros(m.shape[0] + 1, dtype=np.int64)
        indptr[1:] = np.cumsum(m.sum(axis=1))
        return cls(indptr, cols.astype(np.int64), m.shape[1])

    def mask(self, start: int, stop: int) -> np.ndarray:
        """Dense boolean (stop - start, n_targets) relevance of queries start..stop-1."""
        out = np.zeros((stop - start, self.n_targets), dtype=bool)
        counts = np.diff(self.indptr[start : stop + 1])
        rows = np.repeat(np.arange(stop - start), counts)
        out[rows, self.indices[self.indptr[start] : self.indptr[stop]]] = True
        return out


RelevanceLike = Relevance | np.ndarray | Sequence[Iterable[int]]


def as_relevance(relevance: RelevanceLike, n_queries: int, n_targets: int) -> Relevance:
    """Accept a `Relevance`, a boolean (nq, nt) matrix or one iterable of target indices per query."""
    if isinstance(relevance, Relevance):
        rel = relevance
    elif isinstance(relevance, np.ndarray) and relevance.ndim == 2:
        rel = Relevance.from_matrix(relevance)
    else:
        rel = Relevance.from_sets(relevance, n_targets)
    if rel.n_queries != n_queries or rel.n_targets != n_targets:
        raise ValueError(
            f"relevance is for {rel.n_queries} x {rel.n_targets}, scores are {n_queries} x {n_targets}"
        )
    return rel


def build_relevance(
    query_labels: Sequence[Iterable[Hashable]], target_labels: Sequence[Iterable[Hashable]]
) -> Relevance:
    """Query q is relevant to target t when they share a label.

    Labels encode the benchmark rules: give each item the label of its group (or its own id when it has
    none); a unit (a caption, an item, an item+caption pair) carries the labels of the items it stands
    for. Then a collapsed caption query is relevant to every item having that caption and their group
    mates, and a collapsed caption target is a hit for any query whose relevant items own it.
    """
    inverted: dict[Hashable, list[int]] = {}
    for t, labels in enumerate(target_labels):
        for label in set(labels):
            inverted.setdefault(label, []).append(t)
    arrays = {label: np.asarray(ts, dtype=np.int64) for label, ts in inverted.items()}
    empty = np.zeros(0, dtype=np.int64)
    per_query = []
    for labels in query_labels:
        parts = [arrays[label] for label in set(labels) if label in arrays]
        per_query.append(parts[0] if len(parts) == 1 else np.unique(np.concatenate(parts or [empty])))
    return Relevance.from_sets(per_query, len(target_labels))


def _chunk_rows(n_targets: int, chunk: int | None) -> int:
    return max(1, chunk if chunk else CHUNK_ELEMENTS // max(1, n_targets))


def _ranks(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Ranks for one chunk; `scores` is a private copy and is modified."""
    scores[np.isnan(scores)] = -np.inf
    best = np.where(mask, scores, -np.inf).max(axis=1)
    above = (scores >= best[:, None]) & ~mask
    return 1 + above.sum(axis=1, dtype=np.int64)


def ranks_from_scores(
    scores: np.ndarray, relevance: RelevanceLike, *, chunk: int | None = None
) -> np.ndarray:
    """Rank (1 = top) of the best relevant target of each query given a (nq, nt) score matrix.
    A query without relevant targets gets rank nt + 1 (never a hit)."""
    s = np.asarray(scores)
    if s.ndim != 2:
        raise ValueError(f"scores must be 2-D, got shape {s.shape}")
    nq, nt = s.shape
    rel = as_relevance(relevance, nq, nt)
    ranks = np.empty(nq, dtype=np.int64)
    step = _chunk_rows(nt, chunk)
    for lo in range(0, nq, step):
        hi = min(nq, lo + step)
        ranks[lo:hi] = _ranks(np.array(s[lo:hi], dtype=np.float64), rel.mask(lo, hi))
    return ranks


def compute_ranks(
    queries: np.ndarray, targets: np.ndarray, relevance: RelevanceLike, *, chunk: int | None = None
) -> np.ndarray:
    """Ranks from query vectors (nq, d) and target vectors (nt, d), scoring by dot product in float32."""
    q = np.asarray(queries, dtype=np.float32)
    t = np.asarray(targets, dtype=np.float32)
    if q.ndim != 2 or t.ndim != 2 or q.shape[1] != t.shape[1]:
        raise ValueError(f"need (nq, d) queries and (nt, d) targets, got {q.shape} and {t.shape}")
    rel = as_relevance(relevance, q.shape[0], t.shape[0])
    tt = np.ascontiguousarray(t.T)
    ranks = np.empty(q.shape[0], dtype=np.int64)
    step = _chunk_rows(t.shape[0], chunk)
    for lo in range(0, q.shape[0], step):
        hi = min(q.shape[0], lo + step)
        ranks[lo:hi] = _ranks(q[lo:hi] @ tt, rel.mask(lo, hi))
    return ranks


def recall_at_k(ranks: np.ndarray, ks: Iterable[int] = KS) -> dict[int, float]:
    """Percent of queries whose rank is <= k, for each k (NaN when there are no queries)."""
    r = np.asarray(ranks)
    return {k: float(100.0 * np.mean(r <= k)) if r.size else float("nan") for k in ks}


@dataclass
class DirectionScore:
    """R@K (percent) of one direction over `queries` query units and `targets` target units."""

    name: str
    recall: dict[int, float]
    queries: int
    targets: int
    ranks: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def r1(self) -> float:
        return self.recall[1]


def score_direction(
    name: str,
    queries: np.ndarray,
    targets: np.ndarray,
    relevance: RelevanceLike,
    *,
    ks: Iterable[int] = KS,
    chunk: int | None = None,
) -> DirectionScore:
    """Rank every query against every target and return its R@K."""
    ranks = compute_ranks(queries, targets, relevance, chunk=chunk)
    return DirectionScore(name, recall_at_k(ranks, ks), len(ranks), int(np.shape(targets)[0]), ranks)


class Averages(NamedTuple):
    avg_single: float | None
    avg_dual: float | None
    avg_all: float | None


def summarize(results: Mapping[str, DirectionScore | float], k: int = 1) -> Averages:
    """AVG-single / AVG-dual: mean R@k over the single / dual directions PRESENT in `results`
    (None when none of that kind is present). AVG-all = mean(AVG-single, AVG-dual) when both exist,
    else whichever exists, else None. With skipped directions the averages cover fewer directions and
    are not comparable with the paper's (report.py says so)."""

    def value(r: DirectionScore | float) -> float:
        return r.recall[k] if isinstance(r, DirectionScore) else float(r)

    single = [value(results[n]) for n in SINGLE if n in results]
    dual = [value(results[n]) for n in DUAL if n in results]
    avg_s = float(np.mean(single)) if single else None
    avg_d = float(np.mean(dual)) if dual else None
    parts = [a for a in (avg_s, avg_d) if a is not None]
    return Averages(avg_s, avg_d, float(np.mean(parts)) if parts else None)


@dataclass
class EvalResult:
    """Scores of one model: scored directions, and skipped ones with the reason."""

    model: str
    directions: dict[str, DirectionScore]
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def averages(self) -> Averages:
        return summarize(self.directions)

    @property
    def complete(self) -> bool:
        """True when all 12 directions were scored (only then compare the averages with the paper)."""
        return all(n in self.directions for n in ALL)

    def r1_summary(self) -> dict[str, Any]:
        """{"r1": {direction: R@1}, "avg_single", "avg_dual", "avg_all"}: what trainers log per epoch."""
        avg = self.averages
        r1 = {name: round(d.r1, 2) for name, d in self.directions.items()}
        return {"r1": r1, "avg_single": avg.avg_single, "avg_dual": avg.avg_dual, "avg_all": avg.avg_all}


def _label(item: ManifestItem) -> tuple[str, str]:
    return ("group", item.group) if item.group is not None else ("item", item.id)


def _stack(
    side: str, units: Sequence[Unit], table: Mapping[Any, np.ndarray] | None, on_missing: str
) -> np.ndarray:
    rows = [None if table is None else table.get(u.key) for u in units]
    missing = [u.key for u, r in zip(units, rows, strict=True) if r is None]
    if missing and on_missing == "error":
        raise KeyError(f"no '{side}' vector for {len(missing)} unit(s), e.g. {missing[:3]}")
    present = [np.asarray(r, dtype=np.float32).ravel() for r in rows if r is not None]
    if not present:
        raise KeyError(f"no '{side}' vectors at all")
    out = np.full((len(units), present[0].shape[0]), np.nan, dtype=np.float32)
    for i, r in enumerate(rows):
        if r is not None:
            out[i] = np.asarray(r, dtype=np.float32).ravel()
    return out


def score_all(
    items: Sequence[ManifestItem],
    vectors: Mapping[Any, Mapping[tuple[str, str], np.ndarray]],
    modalities: Sequence[frozenset[Modality]],
    *,
    model: str = "model",
    directions: Iterable[str] | None = None,
    ks: Iterable[int] = KS,
    chunk: int | None = None,
    on_missing: str = "error",
    min_items: int = 2,
) -> EvalResult:
    """Score every direction from precomputed unit vectors.

    vectors[side][unit.key] is the vector of a unit from `directions.plan(items, modalities)`; sides are
    keyed by name ("t", "av", ...) or by a set of Modality. A direction is scored over the items having
    every modality it needs; with fewer than `min_items` such items it is skipped (reason recorded).
    on_missing="error" raises on a unit without a vector; "miss" scores it as never retrieved.
    """
    if on_missing not in ("error", "miss"):
        raise ValueError(f"on_missing must be 'error' or 'miss', not {on_missing!r}")
    table = {k if isinstance(k, str) else side_name(k): v for k, v in vectors.items()}
    labels = [_label(it) for it in items]
    ks = tuple(ks)
    scored: dict[str, DirectionScore] = {}
    skipped: dict[str, str] = {}
    for d in resolve(directions):
        idx = eligible_items(modalities, d)
        if len(idx) < min_items:
            need = "+".join(m.value for m in (Modality.TEXT, Modality.VIDEO, Modality.AUDIO) if m in d.needs)
            skipped[d.name] = f"{len(idx)} item(s) have {need}; need at least {min_items}"
            continue
        sides = []
        for side in (d.query, d.target):
            name = side_name(side)
            units = side_units(items, SIDES[name], idx)
            unit_labels = [{labels[o] for o in u.owners} for u in units]
            sides.append((_stack(name, units, table.get(name), on_missing), unit_labels))
        (q, q_labels), (t, t_labels) = sides
        scored[d.name] = score_direction(
            d.name, q, t, build_relevance(q_labels, t_labels), ks=ks, chunk=chunk
        )
    return EvalResult(model, scored, skipped)
