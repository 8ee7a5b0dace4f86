"""The one evaluation core: plan the side units of the directions, ask a vector source for their
vectors, give the units it could not embed a NaN vector (never a hit), score with `metrics.score_all`.

A `VectorSource` knows its items (and their modalities) and turns planned units into vectors. The
sources of this package:
- `eval.evaluator.EncoderSource`: decode each item once and encode it (vectors cached on disk);
- `train.features.FeatureSource`: cached frozen features through `encoder.project` (heads training);
- `train.media.MediaSource`: decoded media rows through `encoder.encode` (LoRA training);
and `eval.index_eval` scores the vectors `evaluate` returns through a vector index.

Example:
    >>> from omnisearch.eval.manifest import ManifestItem
    >>> from omnisearch.types import Modality
    >>> class Fixed:   # two items; a text vector equals its own item's audio vector
    ...     name, dim = "fixed", 2
    ...     items = [ManifestItem(i, audio=f"{i}.wav", texts=[f"{i} sound"]) for i in ("a", "b")]
    ...     modalities = [frozenset({Modality.TEXT, Modality.AUDIO})] * 2
    ...     def unit_vectors(self, units):
    ...         eye = np.eye(2, dtype=np.float32)
    ...         return {s: {u.key: eye[u.item_index] for u in us} for s, us in units.items()}
    >>> run = evaluate_source(Fixed(), ["t2a", "a2t"])
    >>> run.directions["t2a"].r1, sorted(run.vectors)
    (100.0, ['a', 't'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from omnisearch.eval.directions import SIDES, Unit, UnitKey, plan, vector_modality
from omnisearch.eval.manifest import ManifestItem
from omnisearch.eval.metrics import EvalResult, score_all
from omnisearch.types import Embedding, Modality

Vectors = dict[str, dict[UnitKey, np.ndarray]]  # side -> unit key -> vector
Units = Mapping[str, Sequence[Unit]]  # side -> planned units


@runtime_checkable
class VectorSource(Protocol):
    """Vectors of planned side units over a fixed list of items."""

    name: str  # the model named in results
    dim: int  # vector width (a NaN vector of it stands in when nothing was embedded at all)
    items: Sequence[ManifestItem]
    modalities: Sequence[frozenset[Modality]]

    def unit_vectors(self, units: Units) -> Vectors:
        """vectors[side][unit.key] of the units it could embed; the rest score as misses."""
        ...


@dataclass
class EvalStats:
    """How the run went: units served from the cache / embedded, and seconds spent where."""

    items: int = 0
    units: int = 0
    cached: int = 0
    embedded: int = 0
    decode_s: float = 0.0
    encode_s: float = 0.0
    total_s: float = 0.0


@dataclass
class EvalRun(EvalResult):
    """An `EvalResult` plus the items whose media failed (id -> reason), run statistics and the unit
    vectors it scored (side -> unit key -> vector; NaN where a unit had none)."""

    failed: dict[str, str] = field(default_factory=dict)
    stats: EvalStats = field(default_factory=EvalStats)
    vectors: Vectors = field(default_factory=dict)


def side_vector(side: str, emb: Embedding) -> np.ndarray | None:
    """The vector of an embedding that a side scores with (a dual side: the fused one), float32."""
    vec = emb.vectors.get(vector_modality(SIDES[side]))
    return None if vec is None else np.asarray(vec, dtype=np.float32)


def fill_missing(units: Units, vectors: Mapping[str, Mapping[UnitKey, np.ndarray]], dim: int) -> Vectors:
    """Give every unit without a vector a NaN vector (never a hit), so a side whose units all failed
    still scores (as misses) instead of raising.

    Example:
        >>> u = Unit(("a", ""), (0,))
        >>> fill_missing({"a": [u]}, {}, 3)["a"][("a", "")].tolist()
        [nan, nan, nan]
    """
    dims = [len(v) for table in vectors.values() for v in table.values()]
    nan = np.full(dims[0] if dims else max(1, dim), np.nan, dtype=np.float32)
    return {side: {u.key: vectors.get(side, {}).get(u.key, nan) for u in us} for side, us in units.items()}


def evaluate_source(
    source: VectorSource, directions: Iterable[str] | None = None, model: str | None = None
) -> EvalRun:
    """Score `directions` (all 12 by default) over the source's items; `model` names the results
    (default `source.name`). Raises ValueError for an unknown direction."""
    names = None if directions is None else list(directions)
    items, mods = list(source.items), list(source.modalities)
    units = plan(items, mods, names)
    vectors = fill_missing(units, source.unit_vectors(units), source.dim)
    result = score_all(items, vectors, mods, model=model or source.name, directions=names, on_missing="miss")
    return EvalRun(result.model, result.directions, result.skipped, vectors=vectors)
