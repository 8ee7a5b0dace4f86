"""Random media for encoder tests: frames and audio, and one input per combination of modalities."""

from __future__ import annotations

import numpy as np

from omnisearch.types import EncoderInput, Modality

T, V, A = Modality.TEXT, Modality.VIDEO, Modality.AUDIO


def random_media(
    seed: int = 0, seconds: float = 3.0, frames: int = 8, size: tuple[int, int] = (40, 56)
) -> tuple[np.ndarray, np.ndarray]:
    """(frames uint8 (N, H, W, 3) of noise, 16 kHz noise audio of `seconds`), fixed by `seed`."""
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 255, (frames, *size, 3), dtype=np.uint8)
    return video, (rng.standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32)


def modality_cases(frames: np.ndarray, audio: np.ndarray) -> dict[tuple[Modality, ...], EncoderInput]:
    """An input per non-empty combination of text, video and audio, keyed by its modalities."""
    return {
        (T,): EncoderInput(text="a dog barks"),
        (V,): EncoderInput(frames=frames),
        (A,): EncoderInput(audio=audio),
        (T, V): EncoderInput(text="a dog", frames=frames),
        (T, A): EncoderInput(text="a dog", audio=audio),
        (V, A): EncoderInput(frames=frames, audio=audio),
        (T, V, A): EncoderInput(text="a dog", frames=frames, audio=audio),
    }


def text_vectors(encoder, texts: list[str]) -> np.ndarray:
    """(N, dim) text vectors of `texts`, one `encode` call."""
    return np.stack([e.vectors[T] for e in encoder.encode([EncoderInput(text=t) for t in texts])])


def assert_fused_follows_each_modality(
    encoder, frames: np.ndarray, audio: np.ndarray, other: np.ndarray
) -> None:
    """The fused vector of (text, frames, audio) changes when any one of them changes (`other`: frames)."""
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(len(audio)) / 16000)).astype(np.float32)  # vs noise
    base = EncoderInput(text="a dog barks", frames=frames, audio=audio)
    variants = [
        EncoderInput(text="a cat meows", frames=frames, audio=audio),
        EncoderInput(text="a dog barks", frames=other, audio=audio),
        EncoderInput(text="a dog barks", frames=frames, audio=tone),
    ]
    embs = encoder.encode([base, *variants])
    for e in embs[1:]:
        assert float(np.abs(e.vectors[Modality.FUSED] - embs[0].vectors[Modality.FUSED]).max()) > 1e-4
