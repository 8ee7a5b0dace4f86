"""Encoders: one interface keyed by modality, an explicit registry, lazily built backends."""

from omnisearch.models.base import Encoder, EncoderOptions, l2_normalize
from omnisearch.models.registry import REGISTRY, EncoderSpec, list_encoders, load_encoder

__all__ = [
    "Encoder",
    "EncoderOptions",
    "EncoderSpec",
    "REGISTRY",
    "l2_normalize",
    "list_encoders",
    "load_encoder",
]
