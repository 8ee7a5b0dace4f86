"""The encoder interface, keyed by modality.

An encoder maps any non-empty combination of text, frames and audio (`EncoderInput`) to one vector per
modality present plus the fused tuple of the modalities present (`Embedding`). All vectors of one encoder
live in one space of `dim` dimensions and are L2-normalised, so a dot product is a cosine.

Dual-modal queries and targets (the benchmark's t2av, av2t, a2tv, tv2a, v2at, at2v) are the fused
embedding of an input holding exactly those two modalities, the third absent (as in the paper):
`encoder.encode([EncoderInput(frames=f, audio=a)])[0].vectors[Modality.FUSED]` is the "av" vector.

Example:
    >>> from omnisearch.models import load_encoder          # doctest: +SKIP
    >>> enc = load_encoder("omni-lite")                      # doctest: +SKIP
    >>> emb = enc.encode([EncoderInput(text="a dog barks")])[0]   # doctest: +SKIP
    >>> sorted(m.value for m in emb.vectors)                 # doctest: +SKIP
    ['fused', 'text']
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from omnisearch.spec import EncoderRecord
from omnisearch.types import Embedding, EncoderInput


@dataclass
class EncoderOptions:
    """Runtime options shared by every encoder."""

    device: str = "cpu"  # auto | cpu | cuda | cuda:N
    dtype: str = "auto"  # auto | float32 | bfloat16 | float16
    batch_size: int = 16


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise L2 normalisation; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, eps)


class Encoder(ABC):
    """Base class of every encoder. Subclasses set `name`, `version`, `dim` and implement `encode`."""

    name: str = "encoder"
    version: str = "0"
    dim: int = 0
    weights_from: str = ""
    # what it was loaded from, as `--model` accepts it (set by `load_encoder`): a registry name or an
    # absolute model folder, and that folder's content digest ("" for a registry name)
    source: str = ""
    source_digest: str = ""

    def __init__(self, options: EncoderOptions | None = None) -> None:
        self.options = options or EncoderOptions()

    @property
    def record(self) -> EncoderRecord:
        return EncoderRecord(self.name, self.version, self.dim)

    @abstractmethod
    def encode(
        self,
        items: Sequence[EncoderInput],
        progress: Callable[[int], None] | None = None,
    ) -> list[Embedding]:
        """Embed items; `progress(n)` is called as batches of n items finish."""


class HeadsHost:
    """Mixin of encoders that trained heads can sit on (omni-lite, clip-clap).

    Such an encoder has `features(items)` (frozen feature dicts, cached by the trainer under
    `feature_key`), `feature_layout` (how those dicts become head inputs) and `project(features)`, which
    builds its vectors and passes them through `self.with_heads` so that attached heads (an
    `omnisearch.models.heads.HeadsBlend`) replace or blend them. Name, version and dim follow the heads,
    so an index records which heads built it.
    """

    _heads: object | None = None
    _plain: tuple[str, str, int] | None = None

    def heads_setup(self) -> tuple[object, dict]:
        """(the `HeadsConfig` heads trained on this encoder's features start from, what a model folder
        of such heads must record to rebuild the encoder): omni-lite's defaults and nothing."""
        from omnisearch.models.heads import HeadsConfig

        return HeadsConfig(), {}

    def attach_heads(self, blend: object) -> None:
        """Use trained heads from now on (`HeadsBlend`: `name`, `tag`, `output_dim`, `blend`)."""
        if self._plain is None:
            self._plain = (self.name, self.version, self.dim)  # type: ignore[attr-defined]
        _, version, dim = self._plain
        self._heads = blend
        self.name = blend.name  # type: ignore[attr-defined]
        self.version = f"{version}+{blend.tag}"  # type: ignore[attr-defined]
        self.dim = blend.output_dim(dim)  # type: ignore[attr-defined]

    def plain_copy(self) -> HeadsHost:
        """A shallow copy without heads (it shares the loaded towers): what new heads are scored on."""
        import copy

        c = copy.copy(self)
        if self._plain is not None:
            c.name, c.version, c.dim = self._plain  # type: ignore[attr-defined]
        c._heads, c._plain = None, None
        return c

    def with_heads(self, features: Sequence[dict], blocks: list[dict]) -> list[dict]:
        """The block vectors per item, blended with the heads' vectors when heads are attached."""
        return blocks if self._heads is None else self._heads.blend(features, blocks)  # type: ignore[attr-defined]
