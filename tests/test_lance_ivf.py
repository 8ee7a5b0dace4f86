"""The LanceDB store's in-process IVF (indexers/lance_ivf.py): built by `maintain`, exact against
brute force when every partition is probed, kept right as rows are added and deleted, rebuilt after a
compaction, and seen by a second reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from store_cases import DIM, ENC, LanceStore, clips

from omnisearch.indexers import Filter
from omnisearch.indexers.ann import AnnPolicy
from omnisearch.indexers.lance_ivf import column_folder
from omnisearch.models.base import l2_normalize
from omnisearch.types import Modality

T = Modality.TEXT
# every partition probed (nlist = sqrt(600) = 24): the IVF must then equal brute force exactly
POLICY = AnnPolicy(threshold=500, nprobes=64, fts_threshold=10_000, refresh_rows=50)


def brute(recs, q, k):
    mat = np.stack([r.vectors[T] for r in recs])
    sims = mat @ q
    top = np.argsort(-sims, kind="stable")[:k]
    return [recs[i].clip_id for i in top], sims[top]


def built(tmp: Path, n: int = 600):
    recs = clips(n, seed=8)
    store = LanceStore(tmp / "db", policy=POLICY)
    store.ensure_encoder(ENC)
    store.upsert(recs)
    done = store.maintain()
    return store, recs, done


def layout_of(store, m: str = "text"):
    """The store's loaded layout of column `m` (None when it has none for this table)."""
    return store._ivf.layout(m, dim=DIM, table_id=store.table_id())


def queries(n: int, seed: int = 9):
    rng = np.random.default_rng(seed)
    return [l2_normalize(rng.standard_normal(DIM)).astype(np.float32) for _ in range(n)]


def test_maintain_writes_a_layout_that_equals_brute_force(tmp_path: Path) -> None:
    store, recs, done = built(tmp_path)
    assert sum("in-process IVF" in line for line in done) == 4
    assert all((column_folder(tmp_path / "db", m.value) / "ivf.json").exists() for m in Modality)
    for q in queries(5):
        hits = store.search(T, q, 10)
        ids, sims = brute(recs, q, 10)
        assert [h.row["clip_id"] for h in hits] == ids
        assert np.allclose([h.score for h in hits], sims, atol=1e-5)
        assert all(np.allclose(h.vector @ q, h.score, atol=1e-5) for h in hits)
        assert hits[0].row == store.clip_rows([ids[0]])[ids[0]]
    ((key, state),) = layout_of(store).live.items()  # the searches went through the layout
    assert key[0] != "maintain" and state is not None and state.dead is None
    # a filtered search goes to LanceDB's prefilter and keeps to the filter
    flt = Filter(path_glob="/lib/f1*.mp4")
    assert all(h.row["path"].startswith("/lib/f1") for h in store.search(T, queries(1)[0], 5, flt))
    store.close()


def test_rows_added_and_deleted_after_the_build_are_searched_exactly(tmp_path: Path) -> None:
    store, recs, _ = built(tmp_path)
    late = clips(8, seed=21)
    for r in late:
        r.path, r.clip_id = "/lib/late.mp4", "late:" + r.clip_id
    store.upsert(late)  # no maintain: the layout is now one version behind
    gone = store.delete_paths(["/lib/f3.mp4"])
    assert gone == 4
    live = [r for r in recs if r.path != "/lib/f3.mp4"] + late
    for q in [late[0].vectors[T], recs[13].vectors[T], *queries(3, seed=2)]:
        assert [h.row["clip_id"] for h in store.search(T, q, 10)] == brute(live, q, 10)[0]
    got = layout_of(store).live
    (state,) = got.values()
    assert state is not None and len(state.new_ids) == 8 and int(state.dead.sum()) == 4
    # a second reader (another process would do the same) sees the same rows
    other = LanceStore(tmp_path / "db", policy=POLICY)
    q = late[3].vectors[T]
    assert [h.row["clip_id"] for h in other.search(T, q, 5)] == brute(live, q, 5)[0]
    other.close()
    store.close()


def test_too_many_new_rows_fall_back_to_lancedb_until_maintain_rebuilds(tmp_path: Path) -> None:
    store, recs, _ = built(tmp_path)
    more = clips(120, seed=30)  # > refresh_rows (50): the layout can't be made current
    for r in more:
        r.path, r.clip_id = "/lib/more-" + r.path.rsplit("/", 1)[1], "more:" + r.clip_id
    store.upsert(more)
    q = more[5].vectors[T]
    assert store.search(T, q, 1)[0].row["clip_id"] == more[5].clip_id  # LanceDB's index answers
    assert next(iter(layout_of(store).live.values())) is None
    done = store.maintain()
    assert any("in-process IVF of vec_text (720 rows" in line for line in done)
    assert [h.row["clip_id"] for h in store.search(T, q, 10)] == brute(recs + more, q, 10)[0]
    store.close()


def test_optimize_rebuilds_the_layout_after_compaction(tmp_path: Path) -> None:
    store, recs, _ = built(tmp_path)
    store.delete_paths(["/lib/f0.mp4"])
    done = store.optimize()
    assert sum("in-process IVF" in line for line in done) == 4
    assert any("kept centroids" in line for line in done)
    live = recs[4:]
    for q in queries(3, seed=4):
        assert [h.row["clip_id"] for h in store.search(T, q, 10)] == brute(live, q, 10)[0]
    state = next(iter(layout_of(store).live.values()))
    assert state is not None and state.dead is None and len(state.new_ids) == 0
    stats = store.stats()
    assert stats["ivf"]["text"]["rows"] == 596 and stats["ivf"]["text"]["partitions"] >= 12
    store.close()


def test_every_row_deleted_leaves_no_layout_and_no_error(tmp_path: Path) -> None:
    store, recs, _ = built(tmp_path)
    store.delete_paths(sorted({r.path for r in recs}))
    assert store.search(T, queries(1)[0], 5) == []
    done = store.maintain() + store.optimize()
    assert any("no rows hold it" in line for line in done)
    assert not column_folder(tmp_path / "db", "text").exists()
    store.close()


def test_a_table_made_again_in_the_same_folder_is_not_served_the_old_layout(tmp_path: Path) -> None:
    import shutil

    store, _, _ = built(tmp_path)
    store.close()
    shutil.rmtree(tmp_path / "db" / "clips.lance")  # the table goes; the old layouts stay on disk
    again = clips(600, seed=77)
    store = LanceStore(tmp_path / "db", policy=POLICY)
    store.ensure_encoder(ENC)
    store.upsert(again)  # row ids start over, as do versions
    store.maintain()
    store.close()
    store = LanceStore(tmp_path / "db", policy=POLICY)
    for q in [again[3].vectors[T], *queries(2, seed=5)]:
        hits = store.search(T, q, 10)
        assert [h.row["clip_id"] for h in hits] == brute(again, q, 10)[0]
        assert np.allclose([h.vector @ q for h in hits], [h.score for h in hits], atol=1e-5)
    assert layout_of(store) is not None
    store.close()
