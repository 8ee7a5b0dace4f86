"""The query planner on the real stores (LanceDB in a folder, Qdrant in memory), with a tiny
deterministic encoder: all 12 directions, backend parity, filters, rerank on and off, bad queries.

`ConceptEncoder` maps each part of an input to a concept key (the text itself; the mean pixel value of
the frames; the mean audio sample x 100) and each (key, modality) to a fixed vector near the key's
base vector, so text "7", frames filled with 7 and audio at 0.07 are one concept in three modalities.

Example:
    $ .venv/bin/python -m pytest tests/test_planner.py -q
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from store_cases import LanceStore, QdrantStore, clip_row

from omnisearch.eval.directions import DIRECTIONS, side_name
from omnisearch.indexers import EncoderMismatchError, Filter, VectorStore
from omnisearch.models.base import Encoder, l2_normalize
from omnisearch.retrieval.planner import SearchOptions, search, search_vectors, target_column
from omnisearch.retrieval.query import Query, QueryError
from omnisearch.types import ClipRecord, Embedding, EncoderInput, Modality, clip_id

T, V, A, F = Modality.TEXT, Modality.VIDEO, Modality.AUDIO, Modality.FUSED
CONCEPTS = 12


def _seeded(*parts: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256("|".join(parts).encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(ConceptEncoder.dim).astype(np.float32)


class ConceptEncoder(Encoder):
    """Hash-based fake encoder (see the module docstring); FUSED = mean of the parts present."""

    name, version, dim = "concept-fake", "1", 32

    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        out = []
        for it in items:
            keys = {}
            if it.text and it.text.strip():
                keys[T] = it.text.strip()
            if it.frames is not None and len(it.frames):
                keys[V] = str(round(float(np.mean(it.frames))))
            if it.audio is not None and len(it.audio):
                keys[A] = str(round(float(np.mean(it.audio)) * 100))
            vecs = {m: l2_normalize(_seeded(k) + 0.35 * _seeded(k, m.value)) for m, k in keys.items()}
            vecs[F] = l2_normalize(np.sum(list(vecs.values()), axis=0))
            out.append(Embedding(vectors=vecs))
        if progress:
            progress(len(items))
        return out


def concept_input(c: int, mods: frozenset[Modality] | set[Modality]) -> EncoderInput:
    return EncoderInput(
        text=str(c) if T in mods else None,
        frames=np.full((2, 4, 4, 3), c, np.uint8) if V in mods else None,
        audio=np.full(160, c / 100, np.float32) if A in mods else None,
    )


def records(enc: Encoder) -> list[ClipRecord]:
    """Concept c: file /lib/c{c}.mp4 with two overlapping windows (0-10 s, 5-15 s) holding t, v, a,
    plus a silent picture /lib/c{c}.jpg (video only). added_at grows with c."""
    out = []
    for c in range(CONCEPTS):
        for path, start, mods, media in (
            (f"/lib/c{c}.mp4", 0.0, {T, V, A}, "video"),
            (f"/lib/c{c}.mp4", 5.0, {T, V, A}, "video"),
            (f"/lib/c{c}.jpg", 0.0, {V}, "image"),
        ):
            vecs = dict(enc.encode([concept_input(c, mods)])[0].vectors)
            if start:  # the second window: same concept, slightly different vectors
                vecs = {m: l2_normalize(v + 0.2 * _seeded(path, m.value)) for m, v in vecs.items()}
            words = dict(text=f"concept {c}" if T in mods else "", transcript="")
            out.append(
                clip_row(path, start, 10.0, vecs, media, **words, keyframe=start + 4.0, added_at=1000.0 + c)
            )
    return out


@pytest.fixture(scope="module")
def enc() -> ConceptEncoder:
    return ConceptEncoder()


@pytest.fixture(scope="module")
def recs(enc: ConceptEncoder) -> list[ClipRecord]:
    return records(enc)


@pytest.fixture(scope="module", params=["lancedb", "qdrant"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, enc: Encoder, recs: list
) -> Iterator[VectorStore]:
    s: VectorStore
    if request.param == "lancedb":
        s = LanceStore(tmp_path_factory.mktemp("lance"))
    else:
        s = QdrantStore(path=":memory:")
    s.ensure_encoder(enc.record)
    s.upsert(recs)
    yield s
    s.close()


@pytest.mark.parametrize("name", list(DIRECTIONS))
def test_each_direction_reaches_its_target_column(store: VectorStore, enc: Encoder, name: str) -> None:
    d = DIRECTIONS[name]
    want = target_column(side_name(d.target))
    assert want == (next(iter(d.target)) if d.kind == "single" or len(d.target) == 1 else F)
    for c in (3, 8):
        emb = enc.encode([concept_input(c, d.query)])[0]
        res = search_vectors(store, emb.vectors, SearchOptions(target=want, k=3))
        assert res.target == want and not res.target_chosen
        assert {s.column for s in res.stages} == {want}
        expect_lists = {*d.query, F} if len(d.query) > 1 else set(d.query)
        assert {s.query for s in res.stages} == expect_lists
        top = res.hits[0]  # the picture (video only) is concept c too: its fused vector is its video's
        assert top.path.startswith(f"/lib/c{c}.") and top.start <= top.keyframe <= top.end
        spans = [(h.start, h.end, h.keyframe) for h in res.hits if h.path == f"/lib/c{c}.mp4"]
        assert spans == [(0.0, 10.0, 4.0)]  # the two overlapping windows are one moment: the best one
        assert [h.span_end for h in res.hits if h.path == f"/lib/c{c}.mp4"][0] in (10.0, 15.0)


def test_default_target_is_fused_and_said(store: VectorStore, enc: Encoder) -> None:
    emb = enc.encode([concept_input(5, {T, A})])[0]
    res = search_vectors(store, emb.vectors, SearchOptions(k=2))
    assert res.target == F and res.target_chosen
    assert "target column: fused (chosen by the planner" in res.explain()
    assert [(s.query, s.column) for s in res.stages] == [(T, F), (A, F), (F, F)]


def exhaustive(recs: list[ClipRecord], q: np.ndarray, k: int, flt: Filter | None = None) -> list[str]:
    cand = [r for r in recs if F in r.vectors and (flt is None or flt.matches(r.__dict__))]
    sims = np.stack([r.vectors[F] for r in cand]) @ (q / np.linalg.norm(q))
    return [cand[i].clip_id for i in np.argsort(-sims, kind="stable")[:k]]


@pytest.mark.parametrize(
    "flt", [None, Filter(media_type="video"), Filter(added_after=1006.0, end_before=12.0)]
)
def test_rerank_with_full_prefetch_equals_exhaustive_fused_search(
    store: VectorStore, enc: Encoder, recs: list, flt: Filter | None
) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        qv = {m: l2_normalize(rng.standard_normal(enc.dim)) for m in (T, A, F)}
        opts = SearchOptions(k=6, prefetch=len(recs), rerank=True, merge_windows=False, flt=flt)
        res = search_vectors(store, qv, opts)
        assert [h.clip_id for h in res.hits] == exhaustive(recs, qv[F], 6, flt)
        fused = store.vectors([h.clip_id for h in res.hits], F)
        for h in res.hits:
            assert h.score == pytest.approx(float(fused[h.clip_id] @ qv[F]), abs=1e-5)
            assert h.scores["rerank fused->fused"] == h.score and "rrf" in h.scores
        off = search_vectors(store, qv, SearchOptions(k=6, prefetch=len(recs), merge_windows=False, flt=flt))
        assert [h.rank_score for h in off.hits] == sorted((h.rank_score for h in off.hits), reverse=True)
        for h in off.hits:  # rerank off: RRF order, the score shown is the best cosine of the lists
            assert h.rank_score == h.scores["rrf"]
            cos = [v for key, v in h.scores.items() if "->" in key]
            assert len(cos) == 3 and h.score == pytest.approx(max(cos), abs=1e-6)


FILTERS = [
    Filter(media_type="image"),
    Filter(path_glob="/lib/c1*.mp4"),
    Filter(start_after=5.0),
    Filter(end_before=10.0, media_type="video"),
    Filter(added_after=1009.0),
    Filter(path_glob="/nowhere/*"),
]


@pytest.mark.parametrize("flt", FILTERS)
@pytest.mark.parametrize("merge", ["rrf", "weighted"])
def test_filters_hold_in_every_stage(store: VectorStore, enc: Encoder, flt: Filter, merge: str) -> None:
    rows = {r["clip_id"]: r for r in store.rows()}
    allowed = {cid for cid, r in rows.items() if flt.matches(r)}
    for mods, target in (({T}, V), ({T, A}, F), ({V, A}, T)):
        emb = enc.encode([concept_input(4, mods)])[0]
        res = search_vectors(store, emb.vectors, SearchOptions(target=target, k=50, merge=merge, flt=flt))
        assert {h.clip_id for h in res.hits} <= allowed
        assert len(res.hits) <= res.candidates <= len(allowed)
        assert "filter (applied inside the store)" in res.explain()
        if not allowed:
            assert res.hits == [] and res.candidates == 0


AUDIO_ONLY = Filter(media_type="audio")


def test_parity_lancedb_vs_qdrant(tmp_path: Path, enc: Encoder) -> None:
    """Random vectors over overlapping windows: both stores give the same hits for every option set."""
    rng = np.random.default_rng(11)
    recs = []
    for i in range(240):
        path, start = f"/p/f{i % 30}.{'mp4' if i % 3 else 'wav'}", 5.0 * (i // 30)
        mods = [m for m in (T, V, A) if rng.random() > 0.2] or [V]
        vecs = {m: l2_normalize(rng.standard_normal(enc.dim)) for m in [*mods, F]}
        fh = hashlib.sha256(path.encode()).hexdigest()
        recs.append(
            ClipRecord(clip_id(fh, start, start + 10), path, "video" if i % 3 else "audio", start, start + 10,
                       fh, f"t{i}", "", vecs, keyframe=start + 1, added_at=float(i))
        )  # fmt: skip
    stores = [LanceStore(tmp_path / "lance"), QdrantStore(path=":memory:")]
    for s in stores:
        s.ensure_encoder(enc.record)
        s.upsert(recs)
    checked = 0
    for target in (T, V, A, F):
        for mods in ((T,), (A, V), (T, V, A)):
            for opts in (
                SearchOptions(target=target, k=8, prefetch=20),
                SearchOptions(target=target, k=8, prefetch=20, merge="weighted", weights={T: 2.0}),
                SearchOptions(target=target, k=8, prefetch=20, rerank=True, group_by_file=True),
                SearchOptions(target=target, k=5, prefetch=40, merge_windows=False, flt=AUDIO_ONLY),
            ):  # fmt: skip
                qv = {m: rng.standard_normal(enc.dim) for m in [*mods, F]}
                a, b = (search_vectors(s, qv, opts) for s in stores)
                assert a.candidates == b.candidates
                assert [(h.clip_id, h.start, h.end) for h in a.hits] == [
                    (h.clip_id, h.start, h.end) for h in b.hits
                ]
                np.testing.assert_allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-5)
                checked += len(a.hits)
    assert checked > 300
    for s in stores:
        s.close()


def test_search_end_to_end_with_files(store: VectorStore, enc: Encoder, tmp_path: Path) -> None:
    """Text + picture query decoded from a file (audio files would import torch: covered elsewhere)."""
    from PIL import Image

    png = tmp_path / "q.png"
    Image.fromarray(np.full((24, 32, 3), 7, np.uint8)).save(png)
    res = search(store, enc, Query(text="7", image=str(png)), SearchOptions(k=3, rerank=True))
    assert (res.hits[0].path, res.hits[0].start, res.hits[0].end) == ("/lib/c7.mp4", 0.0, 10.0)
    text = res.explain()
    for line in (
        "query: text='7' image=q.png",
        "first stage: video query -> fused column",
        "rerank:",
        "time embed:",
        "time first_stage:",
        "time rerank:",
        "candidates after first stage:",
    ):
        assert line in text, text
    res = search(store, enc, Query(image=str(png)), SearchOptions(target=V, k=2, group_by_file=True))
    assert {h.path for h in res.hits} == {"/lib/c7.jpg", "/lib/c7.mp4"}  # same picture: one hit per file


def test_bad_queries_give_clear_errors(store: VectorStore, enc: Encoder, tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("x")
    for query, msg in [
        (Query(), "empty query"),
        (Query(text="   "), "empty query"),
        (Query(audio=str(tmp_path / "nope.wav")), "file not found"),
        (Query(audio=str(bad)), "unsupported format .txt"),
        (Query(image=str(bad)), "unsupported format"),
        (Query(text="7", span=(1.0, 2.0)), "--span applies to an --audio or --video"),
    ]:
        with pytest.raises(QueryError, match=msg):
            search(store, enc, query)
    for opts, msg in [
        (SearchOptions(merge="max"), "unknown merge"),
        (SearchOptions(k=0), "-k must be"),
        (SearchOptions(prefetch=0), "--prefetch"),
        (SearchOptions(target="tva-ish"), "unknown target"),  # type: ignore[arg-type]
    ]:
        with pytest.raises(QueryError, match=msg):
            search(store, enc, Query(text="7"), opts)

    class Other(ConceptEncoder):
        name = "other-enc"

    with pytest.raises(EncoderMismatchError, match=r"built by encoder 'concept-fake' v1 \(32-d\)"):
        search(store, Other(), Query(text="7"))
    with pytest.raises(QueryError, match="dim 8, the index has 32"):
        search_vectors(store, {T: np.ones(8)})
    with pytest.raises(QueryError, match="zero"):
        search_vectors(store, {T: np.zeros(32)})
    with pytest.raises(QueryError, match="rerank needs the fused"):
        search_vectors(store, {T: np.ones(32)}, SearchOptions(rerank=True))
    with pytest.raises(QueryError, match="index is empty"):
        search(QdrantStore(path=":memory:"), enc, Query(text="7"))


def test_target_column_names() -> None:
    assert [target_column(x) for x in ("t", "video", "A", "av", "tv", "at", "fused", F)] == [
        T,
        V,
        A,
        F,
        F,
        F,
        F,
        F,
    ]


def test_cli_search_filters_and_explain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`search --after DATE --start/--end --explain --json` through the CLI, with the fake encoder."""
    from datetime import datetime

    from typer.testing import CliRunner

    from omnisearch import api
    from omnisearch.cli import main as cli

    enc = ConceptEncoder()
    old, new = datetime(2020, 1, 1).timestamp(), datetime(2024, 6, 1).timestamp()
    recs = records(enc)
    for r in recs:
        r.added_at = new if "/c7." in r.path or "/c9." in r.path else old
    db = tmp_path / "db"
    st = LanceStore(db)
    st.ensure_encoder(enc.record)
    st.upsert(recs)
    monkeypatch.setattr(api, "_load_encoder", lambda *a: enc)  # the index's encoder: the fake
    run = CliRunner().invoke
    res = run(cli.app, ["search", "7", "--db", str(db), "--json", "--explain", "--after", "2023-01-01",
                        "--start", "5", "-k", "3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    assert [(h["file"], h["start"], h["end"]) for h in hits] == [
        ("/lib/c7.mp4", 5.0, 15.0),
        ("/lib/c9.mp4", 5.0, 15.0),
    ]
    assert "filter (applied inside the store): start_after=5.0" in res.stderr and "time total" in res.stderr
    res = run(cli.app, ["search", "7", "--db", str(db), "--json", "--end", "10", "--target", "audio"])
    assert res.exit_code == 0 and {(h["start"], h["end"]) for h in json.loads(res.stdout)} == {(0, 10)}
    for args, msg in (
        (["--after", "last tuesday"], "expected an ISO date"),
        (["--start", "10", "--end", "5"], "must be after --start"),
        (["--span", "1-2"], "--span applies to an --audio or --video"),
    ):
        res = run(cli.app, ["search", "7", "--db", str(db), *args])
        assert res.exit_code == 2 and msg in res.output, res.output
