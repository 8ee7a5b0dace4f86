"""The objective's fidelity options (omnisearch.train.views) against naive per-row Python loops."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

import torch.nn.functional as F  # noqa: E402

from omnisearch.models.heads import MODALITIES, HeadsConfig, OmniHeads  # noqa: E402
from omnisearch.train.batches import Batch, make_batch, toy_row  # noqa: E402
from omnisearch.train.losses import OmniLoss  # noqa: E402
from omnisearch.train.rotation import FUSION_TEACHER_ROTATION  # noqa: E402
from omnisearch.train.trainer import TrainModule  # noqa: E402
from omnisearch.train.views import PAIR_VIEWS, ObjectiveConfig, view_outputs  # noqa: E402

T = 0.05
TRI = ("text", "video", "audio")


def rows(text_audio_only: bool = False) -> list:
    """Six complete tuples and three text + audio ones (partial rows must be handled too); or, with
    `text_audio_only`, six text + audio ones (the sound corpus's batches)."""
    if text_audio_only:
        return [toy_row(10 + i, ("text", "audio")) for i in range(6)]
    return [toy_row(i) for i in range(6)] + [toy_row(10 + i, ("text", "audio")) for i in range(3)]


def module(obj: ObjectiveConfig, weights=(1.0, 1.0, 1.0), seed: int = 0) -> TrainModule:
    torch.manual_seed(seed)
    heads = OmniHeads(HeadsConfig(dropout=0.0))
    # move the fusion off its identity start, so the fused views differ from plain means
    with torch.no_grad():
        for p in heads.fusion.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return TrainModule(heads, OmniLoss(*weights, T, objective=obj)).eval()


def naive_nce(a, b, rows_ok, hard=None, hard_ok=None) -> float:
    """Symmetric InfoNCE over the rows where rows_ok holds, hard negatives as extra columns, by loops."""
    a, b = a.detach().double().tolist(), b.detach().double().tolist()
    h = hard.detach().double().tolist() if hard is not None else []
    idx = [i for i, ok in enumerate(rows_ok) if ok]
    hidx = [i for i, ok in enumerate(hard_ok) if ok] if hard is not None else []

    def dot(x, y):
        return sum(p * q for p, q in zip(x, y, strict=True))

    def side(q, c):
        total = 0.0
        for i in idx:
            logits = [dot(q[i], c[j]) / T for j in idx] + [dot(q[i], h[j]) / T for j in hidx]
            top = max(logits)
            lse = top + math.log(sum(math.exp(x - top) for x in logits))
            total += lse - dot(q[i], c[i]) / T
        return total / len(idx)

    return 0.5 * (side(a, b) + side(b, a))


def fuse_row(heads, singles, i: int, keep) -> torch.Tensor:
    """The fusion of row i over the modalities in `keep` that it has, one row at a time."""
    one = {m: singles[m][i : i + 1] for m in MODALITIES}
    mask = {m: torch.tensor([m in keep]) for m in MODALITIES}
    return heads.fuse(one, mask)[0]


def embed(mod: TrainModule, inputs, masks):
    p = next(mod.heads.parameters())
    t = {m: torch.as_tensor(inputs[m], dtype=p.dtype) for m in MODALITIES}
    k = {m: torch.as_tensor(masks[m]) for m in MODALITIES}
    return mod.heads.singles(t, k), k


@dataclass
class Case:
    """A module's loss on the toy batch, with (singles, masks) of its plain, augmented and
    hard-negative inputs."""

    batch: Batch
    mod: TrainModule
    loss: torch.Tensor
    parts: dict
    plain: tuple
    aug: tuple
    hard: tuple

    @property
    def have(self) -> list[list[str]]:
        """The modalities each row has."""
        return [[m for m in MODALITIES if self.batch.masks[m][i]] for i in range(len(self.batch))]

    @property
    def full(self) -> list[bool]:
        """Whether each row is a full tuple."""
        return [len(h) == 3 for h in self.have]


def case(cfg: ObjectiveConfig, weights, step: int, seed: int | None = None, ta: bool = False) -> Case:
    """The loss of a module with `cfg` and `weights` on the toy batch of `step` (rng `seed`, else `step`;
    `ta`: the text + audio batch)."""
    b = make_batch(rows(ta), np.random.default_rng(step if seed is None else seed), step)
    mod = module(cfg, weights=weights)
    loss, parts = mod(b, step)
    plain, aug, hard = (embed(mod, x, b.masks) for x in (b.inputs, b.aug_inputs, b.hardneg_inputs))
    return Case(b, mod, loss, parts, plain, aug, hard)


@pytest.mark.parametrize("step", [0, 1, 2, 3, 4])
@pytest.mark.parametrize("ta", [False, True])
def test_rotating_align_pair_matches_naive(step, ta):
    """The mixed batch holds every pair (6 complete rows): step % 3, as before the rotation skipped
    pairs; the text + audio batch holds only (T,A), so every step aligns it (not one step in three)."""
    c = case(ObjectiveConfig(align_pairs="rotate"), (1.0, 0.0, 0.0), step, ta=ta)
    s, k = c.plain
    x, y = ("text", "audio") if ta else FUSION_TEACHER_ROTATION[step % 3]
    ref = naive_nce(s[x], s[y], (k[x] & k[y]).tolist())
    assert float(c.parts["loss_align"]) == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("step", [0, 1, 2])
def test_pair_views_of_tuple_infonce_match_naive(step):
    c = case(ObjectiveConfig(tuple_views="full+pairs"), (0.0, 0.0, 1.0), step)
    b, heads, have, full = c.batch, c.mod.heads, c.have, c.full
    (s, _), (sa, _), (sh, _) = c.plain, c.aug, c.hard
    n = len(b)
    views = [
        naive_nce(
            torch.stack([fuse_row(heads, s, i, have[i]) for i in range(n)]),
            torch.stack([fuse_row(heads, sa, i, have[i]) for i in range(n)]),
            [True] * n,
            torch.stack([fuse_row(heads, sh, i, have[i]) for i in range(n)]),
            b.hardneg_mask.tolist(),
        )
    ]
    for pair in PAIR_VIEWS:
        keep = [p if full[i] else have[i] for i, p in enumerate([pair] * n)]
        hard_ok = [full[i] and b.hardneg_mask[i] and b.hardneg_kinds[i] in pair for i in range(n)]
        views.append(
            naive_nce(
                torch.stack([fuse_row(heads, s, i, keep[i]) for i in range(n)]),
                torch.stack([fuse_row(heads, sa, i, keep[i]) for i in range(n)]),
                full,
                torch.stack([fuse_row(heads, sh, i, keep[i]) for i in range(n)]),
                hard_ok,
            )
        )
    assert float(c.parts["loss_tuple"]) == pytest.approx(float(np.mean(views)), rel=1e-5)
    # the pair views differ from the full view: the test would catch a pair view that fused all three
    assert len({round(v, 6) for v in views}) == 4


@pytest.mark.parametrize("step", [0, 1, 2])
@pytest.mark.parametrize("anchor", ["tuple", "complement"])
@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("ta", [False, True])
def test_distillation_matches_naive_and_reaches_the_fusion_only_with_gradient(step, anchor, grad, ta):
    """L_D by a loop over rows for both anchors; the fusion gets gradient through it only with
    `distill_grad=True` (else the anchor is detached: the method's stop-gradient). The text + audio
    batch distils into (T,A) every step (no complete tuple: both anchors are the fused pair)."""
    c = case(ObjectiveConfig(distill_anchor=anchor, distill_grad=grad), (0.0, 1.0, 0.0), step, ta=ta)
    (s, k), have, n = c.plain, c.have, len(c.batch)
    x, y = ("text", "audio") if ta else FUSION_TEACHER_ROTATION[step % 3]
    terms = []
    for m in (x, y):
        rest = [o for o in MODALITIES if o != m] if anchor == "complement" else list(MODALITIES)
        keep = [rest if len(have[i]) == 3 else have[i] for i in range(n)]
        a = torch.stack([fuse_row(c.mod.heads, s, i, keep[i]) for i in range(n)])
        terms.append(naive_nce(a, s[m], (k[x] & k[y]).tolist()))
    assert float(c.parts["loss_distill"]) == pytest.approx(0.5 * sum(terms), rel=1e-5)
    if anchor == "complement" and not ta:  # the anchors differ: the loop would catch one for the other
        tuple_anchor = case(ObjectiveConfig(distill_grad=grad), (0.0, 1.0, 0.0), step).parts["loss_distill"]
        assert float(tuple_anchor) != pytest.approx(float(c.parts["loss_distill"]), rel=1e-3)
    c.loss.backward()
    assert any(p.grad is not None and p.grad.any() for p in c.mod.heads.fusion.parameters()) == grad
    for m in (x, y):  # the students of the step's pair always learn
        assert any(p.grad is not None and p.grad.any() for p in c.mod.heads.heads[m].parameters())


@pytest.mark.parametrize("views", ["full", "full+pairs"])
def test_constant_hard_negatives_equal_a_detached_reference(views):
    """hardneg_grad=False gives the gradient of the same loss with every hard negative detached."""
    step = 1
    grads = {}
    for grad in (False, True):
        c = case(ObjectiveConfig(hardneg_grad=grad, tuple_views=views), (0.0, 0.0, 1.0), step, seed=3)
        c.loss.backward()
        grads[grad] = [p.grad.clone() for p in c.mod.heads.parameters()]
    # reference: build the outputs by hand with gradient everywhere, then detach the hard negatives
    c = case(ObjectiveConfig(tuple_views=views), (0.0, 0.0, 1.0), step, seed=3)
    b, mod, (s, k), (sa, _), (sh, _) = c.batch, c.mod, c.plain, c.aug, c.hard
    out = {**s, "fused": mod.heads.fuse(s, k), "fused_aug": mod.heads.fuse(sa, k)}
    out["fused_hardneg"] = mod.heads.fuse(sh, k).detach()
    hn_mask = torch.as_tensor(b.hardneg_mask)
    extra = view_outputs(mod.heads, s, sa, sh, k, k, b.hardneg_kinds, hn_mask, step, mod.loss.objective)
    for v in extra.get("pairs", {}).values():
        v["fused_hardneg"] = v["fused_hardneg"].detach()
    mod.loss(out, step, k, hn_mask, extra)[0].backward()
    for got, ref in zip(grads[False], mod.heads.parameters(), strict=True):
        assert torch.allclose(got, ref.grad, atol=1e-6)
    assert not all(torch.allclose(a, c, atol=1e-6) for a, c in zip(grads[True], grads[False], strict=True))


@pytest.mark.parametrize("train_mode", [False, True])
def test_mean_init_fusion_is_the_unit_mean(train_mode):
    torch.manual_seed(0)
    heads = OmniHeads(HeadsConfig(fusion_init="mean")).train(train_mode)
    tokens = {m: F.normalize(torch.randn(5, 384), dim=-1) for m in MODALITIES}
    for keep in [TRI, *PAIR_VIEWS, ("audio",)]:
        masks = {m: torch.full((5,), m in keep) for m in MODALITIES}
        got = heads.fuse(tokens, masks)
        naive = torch.stack([sum(tokens[m][i] for m in keep) / len(keep) for i in range(5)])
        assert torch.allclose(got, F.normalize(naive, dim=-1), atol=1e-6)
    identity = OmniHeads(
        HeadsConfig(fusion_init="identity")
    ).eval()  # the old start: random modality embeddings move it
    masks = {m: torch.ones(5, dtype=torch.bool) for m in MODALITIES}
    naive = F.normalize(sum(tokens[m] for m in MODALITIES), dim=-1)
    assert not torch.allclose(identity.fuse(tokens, masks), naive, atol=1e-3)


def test_objective_config_rejects_unknown_options():
    with pytest.raises(ValueError, match="tuple_views"):
        ObjectiveConfig(tuple_views="pairs")
    with pytest.raises(ValueError, match="tuple_target"):
        ObjectiveConfig(tuple_target="singles")
    with pytest.raises(ValueError, match="fusion_init"):
        HeadsConfig(fusion_init="zero")


@pytest.mark.parametrize("views", ["full", "full+pairs"])
def test_mean_target_of_tuple_infonce_matches_naive(views):
    """tuple_target="mean": the positive of every L_T view is the unit mean of the augmented singles."""
    step = 2
    c = case(ObjectiveConfig(tuple_views=views, tuple_target="mean"), (0.0, 0.0, 1.0), step, seed=5)
    b, heads, have, full = c.batch, c.mod.heads, c.have, c.full
    (s, _), (sa, _), (sh, _) = c.plain, c.aug, c.hard
    n = len(b)

    def mean_row(i, keep):
        return F.normalize(sum(sa[m][i] for m in keep), dim=-1)

    def one(keep, rows_ok, hard_ok):
        return naive_nce(
            torch.stack([fuse_row(heads, s, i, keep[i]) for i in range(n)]),
            torch.stack([mean_row(i, keep[i]) for i in range(n)]),
            rows_ok,
            torch.stack([fuse_row(heads, sh, i, keep[i]) for i in range(n)]),
            hard_ok,
        )

    want = [one(have, [True] * n, b.hardneg_mask.tolist())]
    if views == "full+pairs":
        for pair in PAIR_VIEWS:
            keep = [pair if full[i] else have[i] for i in range(n)]
            hard_ok = [full[i] and b.hardneg_mask[i] and b.hardneg_kinds[i] in pair for i in range(n)]
            want.append(one(keep, full, hard_ok))
    assert float(c.parts["loss_tuple"]) == pytest.approx(float(np.mean(want)), rel=1e-5)
    fused_target = case(ObjectiveConfig(tuple_views=views), (0.0, 0.0, 1.0), step, seed=5).parts
    assert float(fused_target["loss_tuple"]) != pytest.approx(float(c.parts["loss_tuple"]), rel=1e-3)


@pytest.mark.parametrize("train_mode", [False, True])
def test_gated_fusion_starts_as_the_unit_mean_and_its_gate_learns(train_mode):
    torch.manual_seed(0)
    heads = OmniHeads(HeadsConfig(fusion_init="gated", dropout=0.0)).train(train_mode)
    tokens = {m: F.normalize(torch.randn(5, 384), dim=-1) for m in MODALITIES}
    for keep in [TRI, *PAIR_VIEWS, ("video",)]:
        masks = {m: torch.full((5,), m in keep) for m in MODALITIES}
        naive = torch.stack([sum(tokens[m][i] for m in keep) / len(keep) for i in range(5)])
        got = heads.fuse(tokens, masks)
        assert torch.allclose(got, F.normalize(naive, dim=-1), atol=1e-6)
    # at gate 0 only the gate gets gradient; the transformer adds something, so the gate does move
    masks = {m: torch.ones(5, dtype=torch.bool) for m in MODALITIES}
    heads.fuse(tokens, masks)[:, 0].sum().backward()
    assert heads.fusion.gate.grad is not None and float(heads.fusion.gate.grad) != 0.0
    assert all(p.grad is None or not p.grad.any() for p in heads.fusion.encoder.parameters())
    # a gate of g: unit(mean + g * (pooled transformer output - mean)), by a loop over rows
    with torch.no_grad():
        heads.fusion.gate.fill_(0.5)
        got = heads.fuse(tokens, masks)
        stack = torch.stack([tokens[m] for m in MODALITIES], dim=1)
        for i in range(5):
            h = heads.fusion.encoder(stack[i : i + 1])[0]
            base = stack[i].mean(0)
            want = F.normalize(base + 0.5 * (h.mean(0) - base), dim=-1)
            assert torch.allclose(got[i], want, atol=1e-5)


def test_frozen_fusion_stays_the_parameter_free_mean():
    heads = OmniHeads(HeadsConfig(fusion_init="mean", train_fusion=False))
    assert not any(p.requires_grad for p in heads.fusion.parameters())
    assert all(p.requires_grad for p in heads.heads["video"].parameters())
