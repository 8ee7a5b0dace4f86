"""Retrieval metrics, directions and reports against naive loop references (ties, groups, captions)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from omnisearch.eval.directions import ALL, DIRECTIONS, DUAL, SIDES, SINGLE, plan, side_name, vector_modality
from omnisearch.eval.manifest import ManifestItem
from omnisearch.eval.metrics import (
    DirectionScore,
    EvalResult,
    Relevance,
    build_relevance,
    compute_ranks,
    ranks_from_scores,
    recall_at_k,
    score_all,
    score_direction,
    summarize,
)
from omnisearch.eval.report import PAPER_AVG, from_json, plot, rich_table, to_json, to_markdown
from omnisearch.types import Modality

T, V, A = Modality.TEXT, Modality.VIDEO, Modality.AUDIO


def naive_ranks(scores: np.ndarray, rel_sets: list[set[int]]) -> list[int]:
    out = []
    for q, rel in enumerate(rel_sets):
        row = [(-np.inf if np.isnan(s) else s) for s in scores[q]]
        best = max((row[t] for t in rel), default=-np.inf)
        out.append(1 + sum(1 for t in range(len(row)) if t not in rel and row[t] >= best))
    return out


def random_sets(rng: np.random.Generator, nq: int, nt: int) -> list[set[int]]:
    return [set(rng.choice(nt, size=min(nt, rng.integers(1, 4)), replace=False).tolist()) for _ in range(nq)]


@pytest.mark.parametrize("chunk", [None, 1, 7])
def test_ranks_match_naive_with_ties(chunk: int | None) -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        nq, nt = rng.integers(1, 30), rng.integers(1, 40)
        scores = rng.integers(0, 3, size=(nq, nt)).astype(np.float32)  # quantised: many ties
        rel = random_sets(rng, nq, nt)
        assert ranks_from_scores(scores, rel, chunk=chunk).tolist() == naive_ranks(scores, rel)
        mask = np.zeros((nq, nt), dtype=bool)
        for q, r in enumerate(rel):
            mask[q, list(r)] = True
        assert ranks_from_scores(scores, mask, chunk=chunk).tolist() == naive_ranks(scores, rel)


def test_compute_ranks_from_integer_vectors_matches_naive() -> None:
    rng = np.random.default_rng(1)
    q = rng.integers(-1, 2, size=(50, 4)).astype(np.float32)  # exact dot products, many ties
    t = rng.integers(-1, 2, size=(60, 4)).astype(np.float32)
    rel = random_sets(rng, 50, 60)
    expected = naive_ranks(q @ t.T, rel)
    for chunk in (None, 1, 16):
        assert compute_ranks(q, t, rel, chunk=chunk).tolist() == expected


def test_ties_count_against_the_query() -> None:
    s = np.array([[0.5, 0.5, 0.5], [0.9, 0.5, 0.5]])
    assert ranks_from_scores(s, [{0}, {0}]).tolist() == [3, 1]
    # another relevant target at the same score does not push the hit down
    assert ranks_from_scores(s, [{0, 1}, {1, 2}]).tolist() == [2, 2]


def test_constant_model_scores_below_chance_not_100() -> None:
    n = 200
    q, t = np.ones((n, 8), np.float32), np.ones((n, 8), np.float32)
    r = score_direction("t2v", q, t, [{i} for i in range(n)])
    assert r.recall == {1: 0.0, 5: 0.0, 10: 0.0}


def test_random_model_near_chance_and_perfect_model_100() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    q = rng.standard_normal((n, 32)).astype(np.float32)
    t = rng.standard_normal((n, 32)).astype(np.float32)
    r = score_direction("t2v", q, t, [{i} for i in range(n)])
    assert abs(r.recall[10] - 100 * 10 / n) < 1.0
    unit = q / np.linalg.norm(q, axis=1, keepdims=True)
    assert score_direction("t2v", unit, unit, [{i} for i in range(n)]).recall[1] == 100.0


def test_nan_vectors_are_never_hits() -> None:
    q = np.eye(3, dtype=np.float32)
    q[1] = np.nan
    t = np.eye(3, dtype=np.float32)
    t[2] = np.nan
    assert compute_ranks(q, t, [{0}, {1}, {2}]).tolist() == [1, 3, 3]


def test_query_without_relevant_target_is_a_miss() -> None:
    assert ranks_from_scores(np.ones((1, 4)), [set()]).tolist() == [5]


def test_relevance_forms_and_validation() -> None:
    m = np.array([[True, False, True], [False, False, True]])
    rel = Relevance.from_matrix(m)
    assert np.array_equal(rel.mask(0, 2), m)
    assert np.array_equal(Relevance.from_sets([{0, 2}, [2, 2]], 3).mask(0, 2), m)
    with pytest.raises(ValueError):
        Relevance.from_sets([{3}], 3)
    with pytest.raises(ValueError):
        ranks_from_scores(np.ones((2, 3)), [{0}])


def test_build_relevance_matches_naive() -> None:
    rng = np.random.default_rng(3)
    ql = [set(rng.choice(10, size=rng.integers(1, 3)).tolist()) for _ in range(40)]
    tl = [set(rng.choice(10, size=rng.integers(1, 3)).tolist()) for _ in range(30)]
    rel = build_relevance(ql, tl).mask(0, 40)
    naive = np.array([[bool(a & b) for b in tl] for a in ql])
    assert np.array_equal(rel, naive)


def test_recall_and_summarize() -> None:
    assert recall_at_k(np.array([1, 2, 6, 11])) == {1: 25.0, 5: 50.0, 10: 75.0}
    assert summarize({"t2v": 10.0, "v2t": 30.0}) == (20.0, None, 20.0)
    assert summarize({}) == (None, None, None)
    full = {n: (1.0 if n in SINGLE else 3.0) for n in ALL}
    assert summarize(full) == (1.0, 3.0, 2.0)


def test_directions_table() -> None:
    assert len(SINGLE) == len(DUAL) == 6 and set(ALL) == set(DIRECTIONS)
    assert DIRECTIONS["t2av"].query == {T} and DIRECTIONS["t2av"].target == {V, A}
    assert DIRECTIONS["a2tv"].target == {T, V} and DIRECTIONS["v2at"].target == {A, T}
    assert DIRECTIONS["at2v"].query == {A, T} and DIRECTIONS["tv2a"].query == {T, V}
    assert all(DIRECTIONS[n].kind == "single" for n in SINGLE)
    assert side_name({A, V}) == "av" and vector_modality(SIDES["tv"]) == Modality.FUSED
    assert vector_modality(SIDES["a"]) == A


POOL = ["a dog barks", "a car passes", "rain falls", "a man speaks", "music plays", "birds sing"]


def random_items(rng: np.random.Generator, n: int) -> tuple[list[ManifestItem], list[frozenset[Modality]]]:
    items, mods = [], []
    for i in range(n):
        m = {x for x in (T, V, A) if rng.random() < 0.8} or {V}
        texts = list(rng.choice(POOL, size=rng.integers(1, 4), replace=False)) if T in m else []
        group = [None, None, "g1", "g2"][rng.integers(0, 4)]
        items.append(ManifestItem(f"c{i}", texts=[str(t) for t in texts], group=group))
        mods.append(frozenset(m))
    return items, mods


def naive_direction(items, mods, vectors, d, ks=(1, 5, 10)) -> tuple[dict[int, float], int]:
    elig = [i for i in range(len(items)) if d.needs <= mods[i]]

    def units(side):
        if side == SIDES["t"]:
            owners: dict[str, set[int]] = {}
            for i in elig:
                for c in items[i].texts:
                    owners.setdefault(c, set()).add(i)
            return [(("", c), o) for c, o in owners.items()]
        if T in side:
            return [((items[i].id, c), {i}) for i in elig for c in items[i].texts]
        return [((items[i].id, ""), {i}) for i in elig]

    def related(i, j):
        return i == j or (items[i].group is not None and items[i].group == items[j].group)

    qs, ts = units(d.query), units(d.target)
    qv, tv = vectors[side_name(d.query)], vectors[side_name(d.target)]
    ranks = []
    for qk, qo in qs:
        scores = [float(qv[qk] @ tv[tk]) for tk, _ in ts]
        rel = [any(related(a, b) for a in qo for b in to) for _, to in ts]
        best = max(s for s, r in zip(scores, rel, strict=True) if r)
        ranks.append(1 + sum(1 for s, r in zip(scores, rel, strict=True) if not r and s >= best))
    return {k: 100.0 * float(np.mean(np.array(ranks) <= k)) for k in ks}, len(qs)


def test_score_all_matches_naive_with_groups_captions_and_missing_modalities() -> None:
    rng = np.random.default_rng(4)
    items, mods = random_items(rng, 40)
    units = plan(items, mods)
    vectors = {
        side: {u.key: rng.integers(-1, 2, size=3).astype(np.float32) for u in us}
        for side, us in units.items()
    }
    result = score_all(items, vectors, mods, model="rand")
    assert set(result.directions) == set(ALL) and not result.skipped
    for name, score in result.directions.items():
        recall, n_queries = naive_direction(items, mods, vectors, DIRECTIONS[name])
        assert score.queries == n_queries, name
        assert score.recall == pytest.approx(recall), name


def test_duplicate_captions_are_one_query_and_one_target() -> None:
    items = [
        ManifestItem("a", texts=["same", "x"]),
        ManifestItem("b", texts=["same"]),
        ManifestItem("c", texts=["z"]),
    ]
    mods = [frozenset({T, V})] * 3
    units = plan(items, mods, ["t2v", "v2t"])
    assert [u.key for u in units["t"]] == [("", "same"), ("", "x"), ("", "z")]
    assert units["t"][0].owners == (0, 1)
    e = np.eye(3, dtype=np.float32)
    vectors = {
        "t": {("", "same"): e[1], ("", "x"): e[0], ("", "z"): e[2]},
        "v": {("a", ""): e[0], ("b", ""): e[1], ("c", ""): e[2]},
    }
    r = score_all(items, vectors, mods, directions=["t2v", "v2t"])
    assert r.directions["t2v"].queries == 3 and r.directions["v2t"].targets == 3
    # "same" is relevant to both a and b: its best relevant video (b) is at the top
    assert r.directions["t2v"].recall[1] == 100.0 and r.directions["v2t"].recall[1] == 100.0


def test_score_all_skips_and_missing_vectors() -> None:
    items = [ManifestItem(f"c{i}", texts=[f"t{i}"]) for i in range(3)]
    mods = [frozenset({T, V})] * 3
    units = plan(items, mods)
    assert set(units) == {"t", "v"}
    vectors = {s: {u.key: np.ones(2, np.float32) for u in us} for s, us in units.items()}
    r = score_all(items, vectors, mods)
    assert set(r.directions) == {"t2v", "v2t"} and "t2a" in r.skipped and not r.complete
    del vectors["v"][("c0", "")]
    with pytest.raises(KeyError):
        score_all(items, vectors, mods, directions=["t2v"])
    miss = score_all(items, vectors, mods, directions=["t2v"], on_missing="miss")
    assert miss.directions["t2v"].queries == 3


def test_4k_by_4k_in_chunks() -> None:
    rng = np.random.default_rng(5)
    n = 4000
    q = rng.standard_normal((n, 64)).astype(np.float32)
    t = q + 0.5 * rng.standard_normal((n, 64)).astype(np.float32)
    rel = Relevance.from_sets([[i] for i in range(n)], n)
    full = compute_ranks(q, t, rel)
    assert np.array_equal(full, compute_ranks(q, t, rel, chunk=333))
    assert recall_at_k(full)[1] > 90.0


def make_result() -> EvalResult:
    scores = {
        n: DirectionScore(n, {1: 10.0 + i, 5: 20.0 + i, 10: 30.0 + i}, 100, 100)
        for i, n in enumerate(ALL[:-1])
    }
    return EvalResult("toy-model", scores, {"at2v": "0 item(s) have text+video+audio; need at least 2"})


def test_to_json_exact_shape_and_roundtrip() -> None:
    d = to_json(make_result())
    assert list(d) == ["model", "directions", "skipped", "avg_single", "avg_dual", "avg_all"]
    assert d["directions"]["t2a"] == {"R@1": 12.0, "R@5": 22.0, "R@10": 32.0, "queries": 100}
    assert d["skipped"] == ["at2v"] and d["avg_single"] == 12.5
    assert d["avg_dual"] == pytest.approx(np.mean([16, 17, 18, 19, 20])) and d["avg_all"] == pytest.approx(
        (12.5 + 18.0) / 2
    )
    json.dumps(d)
    assert to_json(from_json(d)) == d


def test_markdown_rich_and_plot(tmp_path) -> None:
    r = make_result()
    md = to_markdown(r)
    for model, (s, dual, a) in PAPER_AVG.items():
        assert f"| {model} (paper) | {s:.2f} | {dual:.2f} | {a:.2f} |" in md
    assert (
        "| t2v | 10.00 | 20.00 | 30.00 | 100 |" in md and "Skipped at2v" in md and "against the query" in md
    )
    assert "(paper)" not in to_markdown(r, paper_rows=False)
    from rich.console import Console

    console = Console(record=True, width=140)
    console.print(rich_table(r))
    text = console.export_text()
    assert "OmniRetriever-7B" in text and "t2av" in text
    png = plot(r, tmp_path / "r1.png")
    assert (tmp_path / "r1.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.endswith("r1.png")
