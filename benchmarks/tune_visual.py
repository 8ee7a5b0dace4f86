"""Tune omni-lite's "what is seen" vector on the visual dev set (examples/build_visual_devset.py).

    python benchmarks/tune_visual.py vis [--split dev] [--variants lite0,lite1,lite2]

For each EfficientNet-Lite variant it classifies every picture once (cached in OUT/tune_cache.npz),
then scores, with the manifest's group rules, text->picture R@1/5/10 and picture->text R@1/5 of the
ConSE vector over a grid of top-k, temperature, class-name template and synonym choice, and
picture->picture likeness (nearest other picture of the same category) for the colour/layout
descriptor, the 1280-d penultimate features and both. It prints markdown tables; the choice is made on
the dev split and reported on the test split.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from omnisearch.config import set_thread_env

set_thread_env()

import numpy as np  # noqa: E402

from omnisearch.models.seen import conse  # noqa: E402

TEMPLATES = ["a photo of a {}", "a {}", "{}", "a picture of a {}, a kind of thing"]


def recall(scores: np.ndarray, relevant: np.ndarray, ks=(1, 5, 10)) -> list[float]:
    """scores (Q, T), relevant (Q, T) bool -> R@k in percent, by the evaluator's own rank rule (ties
    count against the query)."""
    from omnisearch.eval.metrics import ranks_from_scores, recall_at_k

    r = recall_at_k(ranks_from_scores(scores, relevant), ks)
    return [r[k] for k in ks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("devset", type=Path)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--variants", default="lite0,lite1,lite2")
    ap.add_argument("--blend", action="store_true", help="also vary omni-lite's SEEN_WEIGHT")
    args = ap.parse_args()

    from omnisearch.media.decode import decode_frames
    from omnisearch.models.concepts import ConceptTower
    from omnisearch.models.imagenet_names import imagenet_lemmas
    from omnisearch.models.text_minilm import MiniLMText
    from omnisearch.models.visual import describe

    items = [json.loads(x) for x in open(args.devset / f"{args.split}.jsonl")]
    cache_path = args.devset / f"tune_cache_{args.split}.npz"
    cache = dict(np.load(cache_path)) if cache_path.exists() else {}
    frames = None
    for v in args.variants.split(","):
        if f"{v}_probs" in cache:
            continue
        if frames is None:
            frames = [decode_frames(str(args.devset / it["image"]), [0.0], 320) for it in items]
        tower = ConceptTower(v)
        t = time.perf_counter()
        out = [tower.classify(f) for f in frames]
        cache[f"{v}_ms"] = np.array(1000 * (time.perf_counter() - t) / len(frames))
        cache[f"{v}_probs"] = np.concatenate([o[0] for o in out])
        cache[f"{v}_feats"] = np.concatenate([o[1] for o in out])
    if "desc" not in cache:
        frames = frames or [decode_frames(str(args.devset / it["image"]), [0.0], 320) for it in items]
        cache["desc"] = np.stack([describe(f) for f in frames])
    np.savez(cache_path, **cache)

    text = MiniLMText()
    groups = np.array([it["group"] for it in items])
    captions = sorted({it["text"] for it in items})
    cap_group = {it["text"]: it["group"] for it in items}
    cap_vecs = text.embed(captions)
    rel_t2v = np.array([[cap_group[c] == g for g in groups] for c in captions])
    lemmas = imagenet_lemmas()
    class_vecs = {}
    for ti, tpl in enumerate(TEMPLATES):
        class_vecs[(ti, "first")] = text.embed([tpl.format(s[0]) for s in lemmas])
    syn_rows = [(i, s) for i, names in enumerate(lemmas) for s in names[:3]]
    syn = text.embed([TEMPLATES[0].format(s) for _, s in syn_rows])
    acc = np.zeros((1000, syn.shape[1]), np.float32)
    np.add.at(acc, [i for i, _ in syn_rows], syn)
    class_vecs[(0, "synonyms")] = acc / np.linalg.norm(acc, axis=1, keepdims=True)

    print(f"\n{args.split}: {len(items)} pictures, {len(captions)} categories")
    print("\n| variant | ms/frame | template | names | top-k | temp | t2v R@1 | R@5 | R@10 | v2t R@1 | R@5 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for v in args.variants.split(","):
        probs = cache[f"{v}_probs"]
        for (ti, names), cv in class_vecs.items():
            for k in (1, 3, 5, 10, 20):
                for temp in (0.5, 1.0, 2.0):
                    if k == 1 and temp != 1.0:
                        continue
                    seen = conse(probs, cv, k, temp)
                    s = cap_vecs @ seen.T
                    t2v = recall(s, rel_t2v)
                    v2t = recall(s.T, rel_t2v.T, ks=(1, 5))
                    rows.append((t2v[0] + v2t[0], v, ti, names, k, temp, t2v, v2t, float(cache[f"{v}_ms"])))
    rows.sort(key=lambda r: -r[0])
    for _, v, ti, names, k, temp, t2v, v2t, ms in rows[:25]:
        print(
            f"| {v} | {ms:.0f} | {TEMPLATES[ti]} | {names} | {k} | {temp} | {t2v[0]:.1f} | {t2v[1]:.1f} "
            f"| {t2v[2]:.1f} | {v2t[0]:.1f} | {v2t[1]:.1f} |"
        )
    best = {}
    for r in rows:
        best.setdefault(r[1], r)
    for v, r in best.items():
        print(f"best {v}: template {TEMPLATES[r[2]]!r}, {r[3]}, top-k {r[4]}, T {r[5]}: t2v {r[6][0]:.1f}")

    print("\n| picture->picture likeness | nearest other of the same category (%) |")
    print("|---|---|")
    same = groups[:, None] == groups[None, :]
    np.fill_diagonal(same, False)
    for name, feats in [("colour/layout descriptor (128)", cache["desc"])] + [
        (f"{v} penultimate (1280)", cache[f"{v}_feats"]) for v in args.variants.split(",")
    ]:
        f = feats - feats.mean(0) if "penultimate" in name else feats
        f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
        s = f @ f.T
        np.fill_diagonal(s, -np.inf)
        nn = s.argmax(1)
        print(f"| {name} | {100 * same[np.arange(len(nn)), nn].mean():.1f} |")
    if args.blend:
        blend(items, args.devset, captions, rel_t2v)


def blend(items: list[dict], devset: Path, captions: list[str], rel_t2v: np.ndarray) -> None:
    """omni-lite's real video vectors with SEEN_WEIGHT varied (what is seen against OCR + colour words)."""
    from omnisearch.media.decode import decode_frames
    from omnisearch.models import omni_lite
    from omnisearch.types import EncoderInput, Modality

    enc = omni_lite.OmniLite()
    frames = [decode_frames(str(devset / it["image"]), [0.0], 320) for it in items]
    feats = enc.features([EncoderInput(frames=f) for f in frames])
    q = np.stack([e.vectors[Modality.TEXT] for e in enc.encode([EncoderInput(text=c) for c in captions])])
    print("\n| SEEN_WEIGHT (OCR 1.0, colour 0.35) | t2v R@1 | R@5 | R@10 | v2t R@1 | R@5 |")
    print("|---|---|---|---|---|---|")
    for w in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
        vids = []
        for f in feats:
            rest = f["video_sem"] - omni_lite.SEEN_WEIGHT * f["video_seen"]
            vids.append(enc._vector(w * f["video_seen"] + rest, f["video_vis"], None))
        s = q @ np.stack(vids).T
        t2v, v2t = recall(s, rel_t2v), recall(s.T, rel_t2v.T, ks=(1, 5))
        print(f"| {w} | {t2v[0]:.1f} | {t2v[1]:.1f} | {t2v[2]:.1f} | {v2t[0]:.1f} | {v2t[1]:.1f} |")


if __name__ == "__main__":
    main()
