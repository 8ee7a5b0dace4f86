"""`eval --db`: R@K through the real planner and real stores equals the in-memory `metrics.score_all`.

Random unit vectors on a mixed manifest (items with t+v+a, t+a, t+v; groups, several and shared
captions, failed units) are scored both ways on LanceDB (a folder) and Qdrant (in memory); the pure
rankings -> ranks helper is checked against `metrics.ranks_from_scores` on random score matrices; and
`evaluate_via_index` runs end to end with a tiny fake encoder on generated WAV files (Qdrant folder).

Example:
    $ OMP_NUM_THREADS=2 .venv/bin/python -m pytest tests/test_index_eval.py -q
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from omnisearch.eval.directions import ALL, plan
from omnisearch.eval.index_eval import (
    MARKER,
    differences,
    evaluate_via_index,
    plan_stores,
    ranks_from_rankings,
    score_via_index,
)
from omnisearch.eval.manifest import ManifestItem
from omnisearch.eval.metrics import KS, ranks_from_scores, recall_at_k, score_all
from omnisearch.indexers import EncoderRecord, VectorStore
from omnisearch.indexers.lancedb_store import LanceStore
from omnisearch.indexers.qdrant_store import QdrantStore
from omnisearch.models.base import Encoder, l2_normalize
from omnisearch.types import Embedding, EncoderInput, Modality

T, V, A = Modality.TEXT, Modality.VIDEO, Modality.AUDIO
DIM = 16
CAP = max(KS) + 1  # ranks beyond k are only known to be > k


def _random_case(rng: np.random.Generator) -> tuple[np.ndarray, list[set[int]]]:
    nq, nt = int(rng.integers(1, 30)), int(rng.integers(1, 40))
    scores = rng.standard_normal((nq, nt)).astype(np.float32)
    scores[rng.random(nq) < 0.15] = np.nan  # queries that failed
    scores[:, rng.random(nt) < 0.15] = np.nan  # targets that failed
    rel = [
        set(np.flatnonzero(rng.random(nt) < rng.choice([0.0, 0.05, 0.2, 0.9])).tolist()) for _ in range(nq)
    ]
    return scores, rel


def _rankings(scores: np.ndarray, depth: int) -> tuple[list[list[int] | None], np.ndarray]:
    """What a store returns: finite targets by score, best first, ties by index; None for NaN queries."""
    indexed = ~np.isnan(scores).all(axis=0) if scores.size else np.zeros(scores.shape[1], bool)
    out: list[list[int] | None] = []
    for row in scores:
        if np.isnan(row).all():
            out.append(None)
            continue
        order = sorted(np.flatnonzero(indexed), key=lambda t: (-row[t], t))
        out.append([int(t) for t in order[:depth]])
    return out, indexed


def test_ranks_from_rankings_match_metrics_on_random_scores() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        scores, rel = _random_case(rng)
        rankings, indexed = _rankings(scores, depth=10)
        ours = ranks_from_rankings(rankings, rel, scores.shape[1], depth=10, indexed=indexed)
        ref = ranks_from_scores(scores, rel)
        assert np.array_equal(np.minimum(ours, CAP), np.minimum(ref, CAP))
        assert recall_at_k(ours) == recall_at_k(ref)


def test_tied_scores_count_against_the_query_as_in_metrics() -> None:
    rng = np.random.default_rng(3)
    open_ties = 0
    for _ in range(200):
        scores, rel = _random_case(rng)
        scores = np.round(scores, 1)  # many exact ties
        if rng.random() < 0.2:
            scores[0] = np.where(np.isnan(scores[0]), np.nan, 0.0)  # orthogonal to every target: all tie
        rankings, indexed = _rankings(scores, depth=10)
        listed = [None if r is None else [float(scores[q, t]) for t in r] for q, r in enumerate(rankings)]
        ours = ranks_from_rankings(rankings, rel, scores.shape[1], depth=10, indexed=indexed, scores=listed)
        ref = ranks_from_scores(scores, rel)
        for q, ranking in enumerate(rankings):
            hit = None if ranking is None else next((i for i, t in enumerate(ranking) if t in rel[q]), None)
            if hit is None or len(ranking) < 10 or listed[q][-1] != listed[q][hit]:
                assert min(ours[q], CAP) == min(ref[q], CAP)  # the list shows every tie: exact
                continue
            # a full list ending on the first relevant score: targets past its end may tie too
            best = listed[q][hit]
            seen = sum(t not in rel[q] and listed[q][i] >= best for i, t in enumerate(ranking))
            assert ref[q] >= 1 + seen
            tied = sum(sc == best for sc in listed[q]) > 1
            assert ours[q] == (CAP if tied else 10)  # a miss, or a lone relevant hit listed last
            open_ties += tied
    assert open_ties > 10


def test_ranks_from_rankings_rules() -> None:
    # first relevant position; beyond the list -> depth + 1; unsearchable query -> 1 + non-relevant
    assert ranks_from_rankings([[2, 0], [1, 2], None], [{0}, {0}, {1}], 3, depth=2).tolist() == [2, 3, 3]
    # relevant target not indexed: as metrics' NaN (-inf) score, rank 1 + non-relevant targets
    assert ranks_from_rankings([[1, 2]], [{0}], 3, depth=10, indexed=[False, True, True]).tolist() == [3]
    # a query without relevant targets never hits
    assert ranks_from_rankings([[0, 1]], [set()], 2, depth=10).tolist() == [3]
    # ties (the one documented difference): metrics counts a tied non-relevant target against the
    # query; a store that ordered the tie relevant-first ranks it 1
    assert ranks_from_scores(np.array([[0.5, 0.5]]), [{1}]).tolist() == [2]
    assert ranks_from_rankings([[1, 0]], [{1}], 2, depth=10).tolist() == [1]
    assert ranks_from_rankings([[1, 0]], [{1}], 2, depth=10, scores=[[0.5, 0.5]]).tolist() == [2]
    tied = [[0.0] * 10]  # all ten listed hits tie: the rank is 10 or worse, unknown here -> a miss
    assert ranks_from_rankings([list(range(10))], [{3}], 30, depth=10, scores=tied).tolist() == [11]


def mixed_items() -> tuple[list[ManifestItem], list[frozenset[Modality]]]:
    """27 items: 12 t+v+a, 9 t+a, 6 t+v; two groups, items with two captions, one shared caption."""
    items, mods = [], []
    for i in range(27):
        texts = [f"caption {i}"] + ([f"another caption {i}"] if i % 5 == 0 else [])
        if i in (7, 17):
            texts.append("a caption two items share")
        group = "g1" if i in (1, 2, 3) else "g2" if i in (15, 24) else None
        kind = frozenset({T, V, A} if i < 12 else {T, A} if i < 21 else {T, V})
        video = f"/m/{i}.mp4" if V in kind else None
        audio = f"/m/{i}.wav" if kind == {T, A} else None
        items.append(ManifestItem(f"item{i}", video=video, audio=audio, texts=texts, group=group))
        mods.append(kind)
    return items, mods


def random_vectors(
    items: Sequence[ManifestItem], mods: Sequence[frozenset[Modality]], seed: int = 1
) -> dict[str, dict[tuple[str, str], np.ndarray]]:
    """Unit vectors near a per-item latent (so figures are neither 0 nor 100); some units failed:
    absent (item 5's sound) or NaN (one caption, one video); items 13 and 14 sound the same (a tie)."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((len(items), DIM)).astype(np.float32)
    out: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    for side, units in plan(items, mods).items():
        table = out.setdefault(side, {})
        for u in units:
            if u.key[0] == "item5" and "a" in side:
                continue
            table[u.key] = l2_normalize(latent[u.item_index] + 1.1 * rng.standard_normal(DIM))
    if ("item13", "") in out.get("a", {}):  # captions 13 and 14 find sounds 13 and 14 with cosine 1
        same = out["a"][("item14", "")] = out["a"][("item13", "")]
        out["t"][("", "caption 13")] = out["t"][("", "caption 14")] = same
    out["t"][("", "caption 9")] = np.full(DIM, np.nan, np.float32)
    if "v" in out:
        out["v"][("item11", "")] = np.full(DIM, np.nan, np.float32)
    return out


def _lance(tmp_path: Path) -> Callable[[str], VectorStore]:
    return lambda name: LanceStore(tmp_path / name)


def _qdrant(tmp_path: Path) -> Callable[[str], VectorStore]:
    return lambda name: QdrantStore(path=":memory:")


@pytest.mark.parametrize("opener", [_lance, _qdrant], ids=["lancedb", "qdrant"])
def test_index_path_equals_score_all(tmp_path: Path, opener) -> None:
    items, mods = mixed_items()
    vectors = random_vectors(items, mods)
    expected = score_all(items, vectors, mods, model="toy", on_missing="miss")
    got = score_via_index(
        items, vectors, mods, opener(tmp_path), EncoderRecord("toy", "1", DIM), model="toy", prefetch=100
    )
    assert set(got.directions) == set(expected.directions) == set(ALL)
    for name, exp in expected.directions.items():
        mine = got.directions[name]
        assert (mine.queries, mine.targets) == (exp.queries, exp.targets), name
        assert mine.recall == exp.recall, name
        assert np.array_equal(np.minimum(mine.ranks, CAP), np.minimum(exp.ranks, CAP)), name
    assert differences(expected, got) == []
    assert 0 < expected.directions["t2a"].recall[1] < 100  # not a trivial benchmark
    # mixed manifest: t2a's targets are all items with sound, v2a's only the videos
    assert set(got.stores) == {"t-tv", "t-ta", "t-tva", "v-tv", "v-va", "a-ta", "a-va", "av", "tv", "at"}
    assert got.stores["a-ta"].directions == ["t2a"]
    assert got.stores["a-ta"].rows == 21 - 1  # item 5's sound failed
    assert got.averages == expected.averages
    # the tie (items 13 and 14 share a sound vector): the store's id order favours one of them
    own, ranks = got.store_order["t2a"].ranks, got.directions["t2a"].ranks
    assert np.any(own < ranks) and np.all(own <= ranks)


def test_skipped_directions_and_differences(tmp_path: Path) -> None:
    items, mods = mixed_items()
    items, mods = items[12:21], mods[12:21]  # t+a only: 2 directions scored, 10 skipped
    vectors = random_vectors(items, mods)
    expected = score_all(items, vectors, mods, on_missing="miss")
    got = score_via_index(items, vectors, mods, _qdrant(tmp_path), EncoderRecord("toy", "1", DIM))
    assert list(got.directions) == ["t2a", "a2t"]
    assert got.skipped == expected.skipped
    assert differences(expected, got) == []
    other = random_vectors(items, mods, seed=9)
    worse = score_via_index(items, other, mods, _qdrant(tmp_path), EncoderRecord("toy", "1", DIM))
    assert differences(expected, worse)  # other vectors, other figures: reported


def _seeded(key: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)


class LevelEncoder(Encoder):
    """Fake encoder: text "n" and audio at level n/100 are one concept (plus per-modality noise)."""

    name, version, dim = "level-fake", "1", DIM

    def encode(self, items: Sequence[EncoderInput], progress=None) -> list[Embedding]:
        out = []
        for it in items:
            keys = {}
            if it.text:
                keys[T] = it.text.split()[-1]
            if it.audio is not None and len(it.audio):
                keys[A] = str(round(float(np.mean(it.audio)) * 100))
            vecs = {m: l2_normalize(_seeded(k) + 0.9 * _seeded(f"{k}|{m}")) for m, k in keys.items()}
            vecs[Modality.FUSED] = l2_normalize(np.sum(list(vecs.values()), axis=0))
            out.append(Embedding(vectors=vecs))
        return out


def test_evaluate_via_index_end_to_end(tmp_path: Path) -> None:
    import soundfile as sf

    rows = []
    for n in range(1, 15):
        sf.write(tmp_path / f"s{n}.wav", np.full(8000, n / 100, np.float32), 16000, subtype="FLOAT")
        group = "pair" if n in (3, 4) else None
        rows.append(
            {"id": f"s{n}", "audio": f"s{n}.wav", "text": [f"level {n}", f"sound {n % 6}"], "group": group}
        )
    rows.append({"id": "lost", "audio": "missing.wav", "text": "level 99"})  # fails: scored as a miss
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({k: v for k, v in r.items() if v}) + "\n" for r in rows))
    db = tmp_path / "db"
    run, via = evaluate_via_index(manifest, LevelEncoder(), db, "qdrant", cache_dir=tmp_path / "cache")
    assert "lost" in run.failed and list(run.directions) == ["t2a", "a2t"]
    assert differences(run, via) == []
    assert {p.name for p in db.iterdir()} == {MARKER, "a", "t"}
    again, via2 = evaluate_via_index(manifest, LevelEncoder(), db, "lancedb", use_cache=False)
    assert differences(again, via2) == [] and differences(run, via2) == []
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        evaluate_via_index(manifest, LevelEncoder(), foreign, cache_dir=tmp_path / "cache")
    assert (foreign / "keep.txt").exists()
    with pytest.raises(ValueError):
        evaluate_via_index(manifest, LevelEncoder(), tmp_path / "x", "faiss")


def test_plan_stores_one_per_side_when_targets_agree() -> None:
    items, mods = mixed_items()
    items, mods = items[:12], mods[:12]  # all t+v+a: one store per target side
    assert set(plan_stores(items, mods)) == {"t", "v", "a", "av", "tv", "at"}
    assert plan_stores(items, mods)["t"].directions == ["v2t", "a2t", "av2t"]
