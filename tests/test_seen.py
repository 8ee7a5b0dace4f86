"""The "what is seen" math (ConSE, people mix, look projection) and the face-box helpers, each against a
naive reference."""

from __future__ import annotations

import numpy as np
import pytest

from omnisearch.models.people import letterbox, nms_count, people_concepts
from omnisearch.models.seen import conse, conse_weights, look_rows, seen_vector, sign_projection


def _naive_conse(probs, vecs, k, temp):
    out = []
    for row in probs:
        top = sorted(range(len(row)), key=lambda i: (-row[i], i))[:k]
        w = [row[i] ** (1.0 / temp) for i in top]
        s = sum(w)
        v = sum((wi / s) * vecs[i] for wi, i in zip(w, top, strict=True))
        out.append(v / np.linalg.norm(v))
    return np.array(out)


@pytest.mark.parametrize("k,temp", [(1, 1.0), (3, 0.5), (5, 2.0), (10, 1.0)])
def test_conse_matches_naive_loop(k, temp):
    g = np.random.default_rng(k)
    probs = g.dirichlet(np.ones(20) * 0.3, size=6)
    vecs = g.normal(size=(20, 8))
    assert np.allclose(conse(probs, vecs, k, temp), _naive_conse(probs, vecs, k, temp), atol=1e-5)
    w = conse_weights(probs, k, temp)
    assert np.allclose(w.sum(1), 1.0) and ((w > 0).sum(1) == k).all()


def test_seen_vector_pools_frames_then_mixes_people():
    g = np.random.default_rng(0)
    probs = g.dirichlet(np.ones(12), size=4)
    vecs = g.normal(size=(12, 6))
    people = {"a person": 0.5, "people": 0.25}
    pvecs = {"a person": g.normal(size=6), "people": g.normal(size=6)}
    got = seen_vector(probs, vecs, people, pvecs, top_k=3, temperature=2.0, extra_mix=0.5)
    base = _naive_conse(probs.mean(0, keepdims=True), vecs, 3, 2.0)[0]
    mixed = (0.5 * pvecs["a person"] + 0.25 * pvecs["people"]) / 0.75
    mix = 0.5 * 0.5  # extra_mix * the largest weight
    want = (1 - mix) * base + mix * mixed / np.linalg.norm(mixed)
    assert np.allclose(got, want / np.linalg.norm(want), atol=1e-5)
    # no people: the plain ConSE of the pooled probabilities
    assert np.allclose(seen_vector(probs, vecs, {}, pvecs, top_k=3, temperature=2.0), base, atol=1e-5)


def test_sign_projection_is_fixed_and_keeps_cosines():
    p = sign_projection(1280, 256)
    assert p.shape == (1280, 256) and np.array_equal(p, sign_projection(1280, 256))
    assert set(np.unique(np.round(p * 16, 6))) == {-1.0, 1.0}  # +-1/sqrt(256)
    assert abs(float((p > 0).mean()) - 0.5) < 0.01
    g = np.random.default_rng(1)
    a, b = np.abs(g.normal(size=(2, 1280)))
    rows = look_rows(np.stack([a, b]), p)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    sa, sb = np.sqrt(a) / np.linalg.norm(np.sqrt(a)), np.sqrt(b) / np.linalg.norm(np.sqrt(b))
    assert abs(float(rows[0] @ rows[1]) - float(sa @ sb)) < 0.1  # Johnson-Lindenstrauss, 256 dims


def _naive_nms(boxes, scores, iou):
    def overlap(a, b):
        w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = w * h
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union

    kept = []
    for i in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if all(overlap(boxes[i], boxes[j]) <= iou for j in kept):
            kept.append(i)
    return len(kept)


def test_nms_count_matches_naive():
    g = np.random.default_rng(2)
    for _ in range(20):
        xy = g.random((12, 2)) * 0.8
        wh = 0.05 + g.random((12, 2)) * 0.2
        boxes = np.concatenate([xy, xy + wh], 1)
        scores = g.random(12)
        assert nms_count(boxes, scores, 0.3) == _naive_nms(boxes, scores, 0.3)


def test_people_concepts_and_letterbox():
    assert people_concepts(np.array([0, 1, 3, 0])) == {"a person": 0.5, "a face": 0.5, "people": 0.25}
    assert people_concepts(np.array([], int)) == {}
    frame = np.full((50, 100, 3), 255, np.uint8)
    box = letterbox(frame, 64)
    assert box.shape == (64, 64, 3)
    assert np.allclose(box[:16], -1.0) and np.allclose(box[16:48], 1.0) and np.allclose(box[48:], -1.0)
