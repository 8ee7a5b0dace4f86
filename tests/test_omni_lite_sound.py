"""`omni-lite-sound`: the shipped words-to-sound heads load offline from the package, embed text and
audio in one space of the registered size, and link a caption to a sound (omni-lite scores that 0)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_torch_thread")

from omnisearch.models.omni_lite import OmniLite, OmniLiteSound  # noqa: E402
from omnisearch.models.registry import REGISTRY, load_encoder  # noqa: E402
from omnisearch.types import EncoderInput, Modality  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "omnisearch" / "models" / "weights"


def rumble(seconds: float = 2.0, sr: int = 16000) -> np.ndarray:
    """A low noisy rumble with a decaying envelope (no speech), float32 mono at 16 kHz."""
    g = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    noise = np.convolve(g.normal(size=t.size), np.ones(40) / 40, mode="same")
    return (0.6 * noise * np.exp(-t) + 0.1 * np.sin(2 * np.pi * 80 * t)).astype(np.float32)


def test_shipped_files_are_package_data_and_small() -> None:
    conf = json.loads((WEIGHTS / "omni-lite-sound.json").read_text())
    assert conf["name"] == "omni-lite-sound" and conf["weights"] == "omni-lite-sound.safetensors"
    assert conf["dtype"] == "float16" and "sound corpus" in conf["trained_on"]
    assert (WEIGHTS / conf["weights"]).stat().st_size < 8_000_000
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "weights/*" in data["omnisearch.models"]


def test_loads_offline_and_embeds_text_and_audio(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    enc = load_encoder("omni-lite-sound")
    assert isinstance(enc, OmniLiteSound) and REGISTRY["omni-lite-sound"].target.endswith(":OmniLiteSound")
    alpha = json.loads((WEIGHTS / "omni-lite-sound.json").read_text())["alpha"]
    assert enc.dim == (OmniLite.dim if alpha > 0 else 0) + 384
    text, sound = enc.encode([EncoderInput(text="thunder rumbling"), EncoderInput(audio=rumble())])
    t, a = text.vectors[Modality.TEXT], sound.vectors[Modality.AUDIO]
    assert t.shape == a.shape == (enc.dim,)
    assert abs(float(np.linalg.norm(t)) - 1) < 1e-4 and abs(float(np.linalg.norm(a)) - 1) < 1e-4
    plain = load_encoder("omni-lite")
    pt, pa = plain.encode([EncoderInput(text="thunder rumbling"), EncoderInput(audio=rumble())])
    assert float(pt.vectors[Modality.TEXT] @ pa.vectors[Modality.AUDIO]) == 0.0  # omni-lite: no link
    assert abs(float(t @ a)) > 1e-3  # the heads link words to the sound
