"""The in-process IVF's pure functions (indexers/ivf.py) against naive references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnisearch.indexers.ivf import (
    assign,
    build_layout,
    load_layout,
    nlist_for,
    save_layout,
    search_layout,
    train_centroids,
)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, dim: int = 16, clusters: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, dim)))
    return unit(centres[rng.integers(0, clusters, n)] + 0.5 * unit(rng.standard_normal((n, dim))))


def test_assign_equals_a_loop_over_rows() -> None:
    x, cent = clustered(300), unit(np.random.default_rng(1).standard_normal((7, 16)))
    want = [max(range(7), key=lambda j, r=r: (float(r @ cent[j]), -j)) for r in x]
    assert assign(x, cent, chunk=64).tolist() == want


def test_centroids_are_unit_distinct_and_seeded() -> None:
    x = clustered(500)
    a, b = train_centroids(x, 10, seed=3), train_centroids(x, 10, seed=3)
    assert a.shape == (10, 16) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1, atol=1e-5)
    assert len({tuple(np.round(c, 5)) for c in a}) == 10
    # k-means improves on its random start: rows lie closer to their centroid than to the start's
    start = x[np.random.default_rng(3).choice(500, 10, replace=False)]
    fit = float(np.mean(np.max(x @ a.T, axis=1)))
    assert fit >= float(np.mean(np.max(x @ start.T, axis=1)))
    assert train_centroids(x[:4], 10).shape == (4, 16)  # never more partitions than rows


def test_layout_groups_rows_by_their_nearest_centroid() -> None:
    x = clustered(200)
    ids = np.arange(1000, 1200)
    cent = train_centroids(x, 9, seed=0)
    lay = build_layout(x, ids, cent, version=7)
    part = assign(x, cent)
    assert lay.version == 7 and len(lay) == 200 and lay.offsets[-1] == 200
    for p in range(9):
        a, b = lay.offsets[p], lay.offsets[p + 1]
        assert lay.rowids[a:b].tolist() == [int(ids[i]) for i in range(200) if part[i] == p]
        assert np.array_equal(lay.vectors[a:b], x[part == p])


def live_sizes(lay, dead: np.ndarray) -> np.ndarray:
    return np.array([int((~dead[lay.offsets[p] : lay.offsets[p + 1]]).sum()) for p in range(lay.nlist)])


def naive_search(lay, q, k, nprobes, dead=None):
    """Brute force over the rows of the nprobes best partitions, and more until they hold k live rows
    (ties: lower partition, lower row)."""
    scores = [float(c @ q) for c in lay.centroids]
    parts = sorted(range(lay.nlist), key=lambda p: (-scores[p], p))
    chosen, held = [], 0
    for p in parts:  # at least nprobes partitions, and enough to hold k rows
        if len(chosen) >= nprobes and held >= k:
            break
        chosen.append(p)
        held += sum(1 for i in range(lay.offsets[p], lay.offsets[p + 1]) if dead is None or not dead[i])
    cand = [
        (float(lay.vectors[i] @ q), i)
        for p in chosen
        for i in range(lay.offsets[p], lay.offsets[p + 1])
        if dead is None or not dead[i]
    ]
    cand.sort(key=lambda si: -si[0])
    return [i for _, i in cand[:k]], [s for s, _ in cand[:k]]


def test_search_equals_the_naive_scan_of_the_probed_partitions() -> None:
    x = clustered(400, seed=2)
    lay = build_layout(x, np.arange(400), train_centroids(x, 20, seed=1))
    rng = np.random.default_rng(5)
    dead = rng.random(400) < 0.2
    for nprobes in (1, 3, 20):
        for d in (None, dead):
            q = unit(rng.standard_normal(16))
            sizes = None if d is None else live_sizes(lay, d)
            pos, sims = search_layout(lay, q, 10, nprobes, d, sizes)
            want_pos, want_sims = naive_search(lay, q, 10, nprobes, d)
            assert set(pos.tolist()) == set(want_pos) and np.allclose(sims, want_sims, atol=1e-6)
            assert list(sims) == sorted(sims, reverse=True)
            assert d is None or not d[pos].any()


def test_all_partitions_is_exact_search_and_k_widens_the_probe() -> None:
    x = clustered(300, seed=4)
    lay = build_layout(x, np.arange(300), train_centroids(x, 15))
    q = unit(np.random.default_rng(6).standard_normal(16))
    pos, _ = search_layout(lay, q, 10, nprobes=15)
    assert set(lay.rowids[pos].tolist()) == set(np.argsort(-(x @ q))[:10].tolist())
    pos, _ = search_layout(lay, q, 250, nprobes=1)  # one partition holds fewer than 250 rows
    assert len(pos) == 250 and len(set(pos.tolist())) == 250
    assert len(search_layout(lay, q, 0, 3)[0]) == 0
    # dead rows do not count toward k: the probe widens past a partition whose rows are mostly gone
    dead = np.zeros(300, bool)
    first = int(np.argmax(lay.centroids @ q))
    a, b = lay.offsets[first], lay.offsets[first + 1]
    dead[a + 1 : b] = True
    pos, _ = search_layout(lay, q, 5, nprobes=1, dead=dead, sizes=live_sizes(lay, dead))
    assert len(pos) == 5 and not dead[pos].any()
    with pytest.raises(ValueError):
        train_centroids(np.zeros((0, 16), np.float32), 4)


def test_save_and_load_round_trip_memory_mapped(tmp_path: Path) -> None:
    x = clustered(100)
    lay = build_layout(x, np.arange(100) * 3, train_centroids(x, 5), version=4)
    save_layout(tmp_path / "c", lay, {"dim": 16})
    got, head = load_layout(tmp_path / "c")
    assert head["dim"] == 16 and head["rows"] == 100 and got.version == 4
    assert isinstance(got.vectors, np.memmap) and np.array_equal(got.vectors, lay.vectors)
    assert np.array_equal(got.rowids, lay.rowids) and np.array_equal(got.offsets, lay.offsets)
    assert load_layout(tmp_path / "missing") is None
    assert nlist_for(1_000_000) == 1000 and nlist_for(0) == 1
