"""The evaluation core (eval/core.py): one scorer over interchangeable vector sources. A source that
embeds nothing scores every direction as misses (the one NaN fill), the core's figures equal
`metrics.score_all` on the same vectors, and `evaluate_source` returns the vectors it scored."""

from __future__ import annotations

import numpy as np

from omnisearch.eval.core import VectorSource, evaluate_source, fill_missing
from omnisearch.eval.directions import ALL, plan
from omnisearch.eval.manifest import ManifestItem, item_modalities
from omnisearch.eval.metrics import score_all


class TableSource:
    """Vectors from a table (item index -> vector), leaving out the items in `fail`."""

    def __init__(self, items, table, fail=()):
        self.items, self.modalities, self.name, self.dim = items, item_modalities(items), "table", 4
        self.table, self.fail, self.asked = table, set(fail), 0

    def unit_vectors(self, units):
        self.asked += 1
        out = {}
        for side, us in units.items():
            out[side] = {u.key: self.table[u.item_index] for u in us if u.item_index not in self.fail}
        return out


def items() -> list[ManifestItem]:
    return [ManifestItem(f"i{i}", video=f"v{i}.mp4", audio=f"a{i}.wav", texts=[f"c{i}"]) for i in range(4)]


def test_the_core_scores_what_score_all_scores():
    its = items()
    rng = np.random.default_rng(0)
    table = {i: rng.normal(size=4).astype(np.float32) for i in range(4)}
    source = TableSource(its, table)
    assert isinstance(source, VectorSource)
    run = evaluate_source(source)
    units = plan(its, item_modalities(its))
    ref = score_all(its, {s: {u.key: table[u.item_index] for u in us} for s, us in units.items()},
                    item_modalities(its), model="table")  # fmt: skip
    assert list(run.directions) == list(ALL) and source.asked == 1
    for name in ALL:
        assert run.directions[name].ranks.tolist() == ref.directions[name].ranks.tolist(), name
    assert set(run.vectors) == set(units) and all(len(run.vectors[s]) == len(units[s]) for s in units)


def test_units_without_a_vector_are_misses_never_hits():
    its = items()
    same = {i: np.ones(4, np.float32) for i in range(4)}  # every vector ties: ties count against the query
    run = evaluate_source(TableSource(its, same, fail={0, 1, 2, 3}), ["t2v", "a2t"])
    assert all(d.r1 == 0.0 for d in run.directions.values())
    assert all(np.isnan(v).all() and v.shape == (4,) for t in run.vectors.values() for v in t.values())
    half = evaluate_source(TableSource(its, {i: np.eye(4, dtype=np.float32)[i] for i in range(4)}, fail={3}))
    assert half.directions["t2v"].ranks.tolist()[:3] == [1, 1, 1] and half.directions["t2v"].ranks[3] > 1


def test_fill_missing_takes_the_width_of_the_vectors_it_has():
    its = items()
    units = plan(its, item_modalities(its), ["t2a"])
    got = fill_missing(units, {"t": {units["t"][0].key: np.zeros(7, np.float32)}}, dim=3)
    assert {v.shape for t in got.values() for v in t.values()} == {(7,)}
