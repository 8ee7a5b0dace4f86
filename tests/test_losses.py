"""Losses against naive Python-loop references (explicit softmax / log sums), plus gradient behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from omnisearch.train import losses as L  # noqa: E402
from omnisearch.train import negatives as N  # noqa: E402
from omnisearch.train import rotation as R  # noqa: E402
from omnisearch.types import Modality  # noqa: E402

B, D = 5, 7


def rand(n: int = B, d: int = D, seed: int = 0, grad: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=-1)
    return x.requires_grad_(grad)


def naive_row_ce(row: list[float], cols: list[list[float]], label: int, t: float) -> float:
    """-log softmax(row . cols[j] / t)[label], written as loops."""
    logits = [sum(x * y for x, y in zip(row, c, strict=True)) / t for c in cols]
    m = max(logits)
    log_z = m + math.log(sum(math.exp(z - m) for z in logits))
    return log_z - logits[label]


def naive_ce(rows: list[list[float]], cols: list[list[float]], t: float) -> float:
    """Mean over rows i of -log softmax(rows[i] . cols[j] / t)[i]."""
    return sum(naive_row_ce(r, cols, i, t) for i, r in enumerate(rows)) / len(rows)


def naive_info_nce(a, b, t=0.01, symmetric=True, hard=None) -> float:
    a, b = a.tolist(), b.tolist()
    h = hard.tolist() if hard is not None else []
    fwd = naive_ce(a, b + h, t)
    return 0.5 * (fwd + naive_ce(b, a + h, t)) if symmetric else fwd


@pytest.mark.parametrize("t", [0.01, 0.1, 1.0])
@pytest.mark.parametrize("symmetric", [True, False])
def test_info_nce_matches_reference(t: float, symmetric: bool) -> None:
    a, b = rand(seed=1), rand(seed=2)
    got = float(L.info_nce(a, b, temperature=t, symmetric=symmetric))
    assert got == pytest.approx(naive_info_nce(a, b, t, symmetric), rel=1e-9)


def test_symmetric_is_mean_of_both_directions() -> None:
    a, b = rand(seed=3), rand(seed=4)
    ab = L.info_nce(a, b, 0.1, symmetric=False)
    ba = L.info_nce(b, a, 0.1, symmetric=False)
    assert float(ab) != pytest.approx(float(ba))
    assert float(L.info_nce(a, b, 0.1)) == pytest.approx(0.5 * float(ab + ba), rel=1e-12)


def test_temperature_effect() -> None:
    a = rand(seed=5)
    b = torch.nn.functional.normalize(a + 0.3 * rand(seed=6), dim=-1)  # noisy positives
    losses = [float(L.info_nce(a, b, t)) for t in (1.0, 0.1, 0.01)]
    assert losses[0] > losses[1] > losses[2]  # well-aligned pairs: sharper softmax, lower loss
    assert losses[0] == pytest.approx(naive_info_nce(a, b, 1.0), rel=1e-9)
    # logit_scale overrides temperature
    scale = torch.tensor(10.0, dtype=torch.float64)
    assert float(L.info_nce(a, b, 0.5, logit_scale=scale)) == pytest.approx(losses[1], rel=1e-12)


def test_learnable_temperature_gets_gradient() -> None:
    lt = L.LearnableTemperature(0.05)
    assert lt().item() == pytest.approx(20.0, rel=1e-5)
    assert lt.temperature == pytest.approx(0.05, rel=1e-5)
    a, b = rand(seed=7).float(), rand(seed=8).float()
    L.info_nce(a, b, logit_scale=lt()).backward()
    assert lt.log_scale.grad is not None and float(lt.log_scale.grad) != 0.0
    with torch.no_grad():
        lt.log_scale.fill_(20.0)
    assert lt().item() == pytest.approx(1000.0, rel=1e-5)  # clamped at min_temperature 1e-3
    lt.clamp_()
    assert lt.log_scale.item() == pytest.approx(math.log(1000.0), rel=1e-6)
    with pytest.raises(ValueError):
        L.LearnableTemperature(0.0001)


def test_gather_identity_when_not_distributed() -> None:
    x = rand(grad=True)
    assert not torch.distributed.is_initialized()
    assert L.gather_with_grad(x) is x
    a, b = rand(seed=9), rand(seed=10)
    assert float(L.info_nce(a, b, distributed=True)) == float(L.info_nce(a, b))


def test_pairwise_loss_reference_and_pairs() -> None:
    e = {"text": rand(seed=11), "video": rand(seed=12), "audio": rand(seed=13)}
    ref = np.mean([naive_info_nce(e[x], e[y], 0.01) for x, y in L.DEFAULT_PAIRS])
    assert float(L.pairwise_loss(e)) == pytest.approx(ref, rel=1e-9)
    two = {Modality.TEXT: e["text"], Modality.AUDIO: e["audio"]}  # Modality keys work; only present pairs
    assert float(L.pairwise_loss(two)) == pytest.approx(naive_info_nce(e["text"], e["audio"]), rel=1e-9)
    only = L.pairwise_loss(e, pairs=[("video", "audio")], temperature=0.1)
    assert float(only) == pytest.approx(naive_info_nce(e["video"], e["audio"], 0.1), rel=1e-9)
    with pytest.raises(ValueError):
        L.pairwise_loss({"text": e["text"]})
    with pytest.raises(KeyError):
        L.pairwise_loss(two, pairs=[("text", "video")])


ROTATION = [("text", "audio"), ("text", "video"), ("audio", "video")]


def naive_step_pair(step: int, keys, masks) -> tuple[str, str]:
    """The rotation over the pairs a batch holds, by loops: a pair is held when both keys are there
    and (with masks) at least 2 rows have both; none held: the plain step % 3 rotation."""
    held = []
    for x, y in ROTATION:
        if x in keys and y in keys:
            n = len(next(iter(masks.values()))) if masks is not None else 0
            rows = sum(1 for i in range(n) if masks[x][i] and masks[y][i]) if masks is not None else 2
            if rows >= 2:
                held.append((x, y))
    return held[step % len(held)] if held else ROTATION[step % 3]


def test_rotation_orders() -> None:
    assert list(R.FUSION_TEACHER_ROTATION) == ROTATION
    assert [R.fusion_teacher_pair(s) for s in range(6)] == ROTATION * 2
    assert [R.hard_negative_kind(s) for s in range(6)] == ["text", "audio", "video"] * 2


def test_step_pair_rotates_over_the_pairs_held_like_a_naive_loop() -> None:
    g = np.random.default_rng(0)
    tri = {m: torch.zeros(6, 2) for m in L.SINGLE_MODALITIES}
    full = {m: torch.ones(6, dtype=torch.bool) for m in L.SINGLE_MODALITIES}
    for step in range(9):  # tri-modal batches: exactly the step % 3 rotation of before
        assert R.step_pair(step, tri) == R.step_pair(step, tri, full) == ROTATION[step % 3]
    ta = {"text": tri["text"], Modality.AUDIO: tri["audio"]}  # text + audio only: (T,A) every step
    no_video = {**full, "video": torch.zeros(6, dtype=torch.bool)}
    assert {R.step_pair(s, ta) for s in range(6)} == {R.step_pair(s, tri, no_video) for s in range(6)}
    assert {R.step_pair(s, ta) for s in range(6)} == {("text", "audio")}
    for trial in range(200):  # random partial batches, 0-4 rows, some keys missing
        n = int(g.integers(0, 5))
        keys = [m for m in L.SINGLE_MODALITIES if g.random() < 0.8]
        emb = {m: torch.zeros(n, 2) for m in keys}
        masks = {m: torch.as_tensor(g.random(n) < 0.6) for m in L.SINGLE_MODALITIES}
        for step in range(4):
            assert R.step_pair(step, emb, masks) == naive_step_pair(step, keys, masks), (trial, step)
            assert R.step_pair(step, emb) == naive_step_pair(step, keys, None)


@pytest.mark.parametrize("step", [0, 1, 2, 5])
def test_fusion_teacher_reference_and_stop_gradient(step: int) -> None:
    fused = rand(seed=20, grad=True)
    e = {m: rand(seed=21 + i, grad=True) for i, m in enumerate(L.SINGLE_MODALITIES)}
    x, y = ROTATION[step % 3]
    loss = L.fusion_teacher_loss(fused, e, step)
    ref = 0.5 * (naive_info_nce(fused, e[x]) + naive_info_nce(fused, e[y]))
    assert loss.item() == pytest.approx(ref, rel=1e-9)
    loss.backward()
    assert fused.grad is None  # the teacher gets no gradient
    (z,) = set(L.SINGLE_MODALITIES) - {x, y}
    assert e[x].grad is not None and e[y].grad is not None and e[z].grad is None
    with pytest.raises(KeyError):
        L.fusion_teacher_loss(fused, {z: e[z]}, step)


def test_tuple_infonce_reference_layout_and_gradient() -> None:
    fused, aug, hn = rand(seed=30, grad=True), rand(seed=31, grad=True), rand(seed=32)
    loss = L.tuple_infonce_loss(fused, aug, hn, step=0)
    assert loss.item() == pytest.approx(naive_info_nce(fused, aug, 0.01, hard=hn), rel=1e-9)
    one_way = L.tuple_infonce_loss(fused, aug, hn, symmetric=False, temperature=0.1)
    assert one_way.item() == pytest.approx(naive_info_nce(fused, aug, 0.1, False, hn), rel=1e-9)
    loss.backward()
    assert fused.grad is not None and float(fused.grad.abs().sum()) > 0  # the anchor learns here
    # hard negatives add columns, so the loss can only grow
    assert loss.item() > L.info_nce(fused, aug).item()


def test_tuple_infonce_picks_kind_from_dict() -> None:
    fused, aug = rand(seed=33), rand(seed=34)
    hns = {k: rand(seed=40 + i) for i, k in enumerate(R.HARD_NEGATIVE_ROTATION)}
    for step in range(3):
        got = L.tuple_infonce_loss(fused, aug, hns, step)
        want = L.tuple_infonce_loss(fused, aug, hns[R.hard_negative_kind(step)])
        assert float(got) == float(want)
    with pytest.raises(ValueError):
        L.tuple_infonce_loss(fused, aug, hns)


@pytest.mark.parametrize("n", [2, 3, 4, 8, 33])
def test_derangement_property(n: int) -> None:
    g = torch.Generator().manual_seed(n)
    for _ in range(50):
        p = N.derangement(n, g)
        assert sorted(p.tolist()) == list(range(n))
        assert all(p[i] != i for i in range(n))
    q = N.derangement(n, np.random.default_rng(0))
    assert all(q[i] != i for i in range(n)) and sorted(q.tolist()) == list(range(n))
    with pytest.raises(ValueError):
        N.derangement(1)


def test_make_hard_negative_pure_and_deranged() -> None:
    feats = torch.arange(6 * 3, dtype=torch.float32).reshape(6, 3)
    tok = {"input_ids": np.arange(6)[:, None] * 10, "attention_mask": np.arange(6)[:, None]}
    batch = {"video": feats, "audio": feats.clone(), "text": tok, "captions": [f"c{i}" for i in range(6)]}
    for kind in ("video", "text", "captions"):
        a = N.make_hard_negative(batch, kind, torch.Generator().manual_seed(1))
        assert set(a) == set(batch) and a is not batch
        for k in batch:
            if k != kind:
                assert a[k] is batch[k]
    hv = N.make_hard_negative(batch, Modality.VIDEO, torch.Generator().manual_seed(2))
    assert hv["video"].shape == feats.shape and not torch.equal(hv["video"], feats)
    assert all(not torch.equal(hv["video"][i], feats[i]) for i in range(6))
    assert torch.equal(batch["video"], torch.arange(18, dtype=torch.float32).reshape(6, 3))  # input untouched
    ht = N.make_hard_negative(batch, "text", torch.Generator().manual_seed(3))["text"]
    assert np.array_equal(ht["input_ids"][:, 0], ht["attention_mask"][:, 0] * 10)  # fields move together
    assert all(ht["attention_mask"][i, 0] != i for i in range(6))
    a = N.make_hard_negative(batch, "captions", torch.Generator().manual_seed(4))["captions"]
    b = N.make_hard_negative(batch, "captions", torch.Generator().manual_seed(4))["captions"]
    assert a == b and all(a[i] != f"c{i}" for i in range(6))
    with pytest.raises(KeyError):
        N.make_hard_negative(batch, "fused", None)


@pytest.mark.parametrize("learnable", [False, True])
def test_omniloss_combines_parts(learnable: bool) -> None:
    names = ["text", "video", "audio", "fused", "fused_aug", "fused_hardneg"]
    out = {k: rand(seed=50 + i).float().requires_grad_(True) for i, k in enumerate(names)}
    crit = L.OmniLoss(w_align=1.0, w_distill=0.5, w_tuple=2.0, learnable_temperature=learnable)
    total, parts = crit(out, step=1)
    want = parts["loss_align"] + 0.5 * parts["loss_distill"] + 2.0 * parts["loss_tuple"]
    assert total.item() == pytest.approx(float(want), rel=1e-5)
    assert float(parts["temperature"]) == pytest.approx(0.01, rel=1e-5)
    singles = {m: out[m] for m in L.SINGLE_MODALITIES}
    assert float(parts["loss_distill"]) == pytest.approx(
        L.fusion_teacher_loss(out["fused"], singles, 1).item(), rel=1e-5
    )
    total.backward()
    assert out["fused"].grad is not None  # through L_T only
    if learnable:
        assert crit.logit_scale.log_scale.grad is not None
        assert len(list(crit.parameters())) == 1
    else:
        assert len(list(crit.parameters())) == 0


def test_omniloss_zero_weight_skips_inputs() -> None:
    out = {"text": rand(seed=60), "video": rand(seed=61)}
    total, parts = L.OmniLoss(w_distill=0.0, w_tuple=0.0)(out, step=0)
    assert set(parts) == {"loss_align", "temperature"}
    assert float(total) == pytest.approx(naive_info_nce(out["text"], out["video"]), rel=1e-6)
    with pytest.raises(ValueError):
        L.OmniLoss(0.0, 0.0, 0.0)(out, step=0)


def test_omniloss_distill_gradient_excludes_fused() -> None:
    out = {k: rand(seed=70 + i, grad=True) for i, k in enumerate(["text", "video", "audio", "fused"])}
    total, _ = L.OmniLoss(w_align=0.0, w_tuple=0.0)(out, step=2)
    total.backward()
    assert out["fused"].grad is None
    assert out["audio"].grad is not None and out["video"].grad is not None and out["text"].grad is None


@pytest.mark.parametrize("partial", [False, True])
def test_rotating_objective_uses_the_pairs_held_every_step(partial: bool) -> None:
    """align_pairs="rotate": a tri-modal batch takes step % 3 as before; a text + audio batch (video
    embedded but masked off, as the heads give it) gets L_A and L_D on (T,A) every step."""
    from omnisearch.train.views import ObjectiveConfig

    out = {k: rand(seed=90 + i) for i, k in enumerate(["text", "video", "audio", "fused"])}
    masks = {m: torch.ones(B, dtype=torch.bool) for m in L.SINGLE_MODALITIES}
    if partial:
        masks["video"] = torch.tensor([True] + [False] * (B - 1))  # one row: (T,V), (A,V) not held
    crit = L.OmniLoss(w_tuple=0.0, objective=ObjectiveConfig.faithful())
    for step in range(6):
        _, parts = crit(out, step, masks)
        x, y = ("text", "audio") if partial else ROTATION[step % 3]
        assert float(parts["loss_align"]) == pytest.approx(naive_info_nce(out[x], out[y]), rel=1e-9)
        want = 0.5 * (naive_info_nce(out["fused"], out[x]) + naive_info_nce(out["fused"], out[y]))
        assert float(parts["loss_distill"]) == pytest.approx(want, rel=1e-9)


def _dist_worker(rank: int, world: int, init: str, a: torch.Tensor, b: torch.Tensor, q) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        n = a.shape[0] // world
        la = a[rank * n : (rank + 1) * n].clone().requires_grad_(True)
        lb = b[rank * n : (rank + 1) * n].clone()
        g = L.gather_with_grad(la)
        loss = L.info_nce(la, lb, 0.1, distributed=True)
        loss.backward()
        # 2 rows with video in all, both on rank 0: every rank must rotate over the same (global) pairs
        emb = {m: la for m in L.SINGLE_MODALITIES}
        masks = {m: torch.ones(n, dtype=torch.bool) for m in L.SINGLE_MODALITIES}
        masks["video"] = torch.tensor([rank == 0] * 2 + [False] * (n - 2))
        pairs = [(R.step_pair(s, emb, masks, True), R.step_pair(s, emb, masks)) for s in range(3)]
        q.put((rank, g.detach().tolist(), loss.item(), la.grad.tolist(), pairs))  # plain data: no shared fds
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_negatives_two_ranks(tmp_path) -> None:
    """Two gloo ranks: local rows against all columns, labels offset by rank * B."""
    mp = torch.multiprocessing.get_context("spawn")
    a, b = rand(n=6, seed=80), rand(n=6, seed=81)
    q = mp.Queue()
    init = f"file://{tmp_path / 'pg'}"
    procs = [mp.Process(target=_dist_worker, args=(r, 2, init, a, b, q)) for r in range(2)]
    for p in procs:
        p.start()
    got = {}
    for _ in procs:
        r, g, loss, grad, pairs = q.get(timeout=120)
        got[r] = (g, loss, grad)
        assert [p for p, _ in pairs] == ROTATION  # globally held: the same pair on both ranks
        assert [p for _, p in pairs] == (ROTATION if r == 0 else [ROTATION[0]] * 3)  # local counts differ
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    al, bl = a.tolist(), b.tolist()
    for r in range(2):
        g, loss, grad = got[r]
        assert g == a.tolist()  # rank order, every rank sees the same global batch
        rows = range(3 * r, 3 * r + 3)
        fwd = np.mean([naive_row_ce(al[i], bl, i, 0.1) for i in rows])
        bwd = np.mean([naive_row_ce(bl[i], al, i, 0.1) for i in rows])
        assert loss == pytest.approx(0.5 * (fwd + bwd), rel=1e-9)
        assert np.shape(grad) == (3, D) and np.abs(grad).sum() > 0


@pytest.mark.parametrize("symmetric", [True, False])
def test_masked_info_nce_matches_a_naive_subset_reference(symmetric: bool) -> None:
    a, b, hard = rand(seed=80), rand(seed=81), rand(seed=82)
    mask = torch.tensor([i % 3 != 1 for i in range(B)])
    hard_mask = torch.tensor([i % 2 == 0 for i in range(B)])
    got = L.masked_info_nce(a, b, mask, 10.0, symmetric, hard=hard, hard_mask=hard_mask)
    keep = [i for i in range(B) if mask[i]]
    hk = [i for i in range(B) if hard_mask[i]]

    def ce(rows, cols, extra):  # row keep[j] matches cols[keep[j]]; candidates: kept cols + hard columns
        out = []
        for i in keep:
            logits = [10.0 * float(rows[i] @ cols[j]) for j in keep] + [
                10.0 * float(rows[i] @ hard[j]) for j in extra
            ]
            m = max(logits)
            lse = m + math.log(sum(math.exp(x - m) for x in logits))
            out.append(lse - logits[keep.index(i)])
        return sum(out) / len(out)

    want = ce(a, b, hk) if not symmetric else 0.5 * (ce(a, b, hk) + ce(b, a, hk))
    assert float(got) == pytest.approx(want, rel=1e-9)
    assert L.masked_info_nce(a, b, torch.tensor([True] + [False] * (B - 1)), 10.0) is None  # < 2 rows
    full = L.masked_info_nce(a, b, None, 100.0)
    assert float(full) == pytest.approx(naive_info_nce(a, b, 0.01), rel=1e-9)
