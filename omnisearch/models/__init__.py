"""Encoders: one interface keyed by modality, an explicit registry, lazily built backends."""

from omnisearch.models.base import Encoder, EncoderOptions, l2_normalize
from omnisearch.models.registry import (
    REGISTRY,
    EncoderSpec,
    encoder_for_index,
    encoder_for_spec,
    list_encoders,
    load_encoder,
)

__all__ = [
    "Encoder",
    "EncoderOptions",
    "EncoderSpec",
    "REGISTRY",
    "l2_normalize",
    "list_encoders",
    "encoder_for_index",
    "encoder_for_spec",
    "load_encoder",
]
