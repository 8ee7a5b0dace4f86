"""A store `Filter` as Qdrant runs it: the conditions sent with the request, and the path glob that is
left to python, once for every read of QdrantStore (count, rows, search, text search).

`path_glob` has no native match: a server gets the glob resolved against the distinct indexed paths
(fnmatch, the reference semantics) as `MatchAny`; local mode, where MatchAny costs points x values,
gets a wildcard glob applied in python to what comes back. A glob that matches no path gives an empty
plan, which reads nothing.

Example:
    >>> plan = plan_filter(Filter(media_type="audio"), local=True, paths=lambda: [])  # doctest: +SKIP
    >>> plan.empty, plan.keeps("a.wav")                                                # doctest: +SKIP
    (False, True)
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qdrant_client import models

from omnisearch.indexers.base import Filter

WILDCARDS = "*?["


@dataclass(frozen=True)
class FilterPlan:
    """What a read sends (`qfilter`, None = everything) and what it keeps afterwards (`glob`)."""

    qfilter: models.Filter | None = None
    glob: str | None = None
    empty: bool = False  # nothing can match: read nothing

    def keeps(self, path: str) -> bool:
        """Whether a point of `path` passes the glob applied in python."""
        return self.glob is None or fnmatch.fnmatch(path, self.glob)


EMPTY = FilterPlan(empty=True)


def plan_filter(flt: Filter | None, local: bool, paths: Callable[[], Iterable[str]]) -> FilterPlan:
    """The plan of `flt`; `paths()` lists the indexed paths (called only for a server's wildcard glob)."""
    if flt is None or flt.is_empty():
        return FilterPlan()
    wild = bool(flt.path_glob) and any(c in flt.path_glob for c in WILDCARDS)
    glob = flt.path_glob if local and wild else None
    must: list[models.Condition] = []
    if flt.path_glob and glob is None:
        if wild:
            hits = fnmatch.filter(sorted(paths()), flt.path_glob)
            if not hits:
                return EMPTY
            must.append(models.FieldCondition(key="path", match=models.MatchAny(any=hits)))
        else:
            must.append(models.FieldCondition(key="path", match=models.MatchValue(value=flt.path_glob)))
    if flt.media_type:
        must.append(models.FieldCondition(key="media_type", match=models.MatchValue(value=flt.media_type)))
    for key, bound, side in (
        ("start", flt.start_after, "gte"),
        ("end", flt.end_before, "lte"),
        ("added_at", flt.added_after, "gte"),
    ):
        if bound is not None:
            must.append(models.FieldCondition(key=key, range=models.Range(**{side: float(bound)})))
    return FilterPlan(qfilter=models.Filter(must=must) if must else None, glob=glob)
