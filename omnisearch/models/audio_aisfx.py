"""Sound embedding for omni-lite: the aisfx sound-effects CNN (ISMIR 2022, CC-BY-4.0), 512-d.

The network takes log-mel blocks of 100 frames (~2.3 s at 44.1 kHz, hop 1024, 96 mel bins); a clip's
embedding is the mean of its block embeddings (blocks hop by half a block). Audio arrives as 16 kHz
mono and is resampled to 44.1 kHz (content above 8 kHz is therefore absent; documented trade-off of
decoding every clip once at 16 kHz).

Example:
    >>> AisfxAudio().embed([np.zeros(16000, np.float32)]).shape   # doctest: +SKIP
    (1, 512)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from omnisearch.models.base import l2_normalize

AISFX_DIM = 512
_SR = 44100
_N_FFT, _HOP, _MELS, _BLOCK = 2048, 1024, 96, 100
_SPEC_MAX = 9.457798957824707  # the package's 'original' min-max normalisation


def log_mel(y: np.ndarray) -> np.ndarray:
    """(frames, 96) spectrogram exactly as aisfx's librosa front end computes it (peak-normalised)."""
    import librosa

    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    y = y / (peak if peak > 0 else 1.0)
    spec = librosa.feature.melspectrogram(
        y=y,
        sr=_SR,
        n_mels=_MELS,
        norm=1.0,
        fmin=0.0,
        fmax=_SR / 2,
        htk=True,
        power=2.0,
        hop_length=_HOP,
        win_length=_N_FFT,
        n_fft=_N_FFT,
    )
    spec = np.log10(spec * 10000.0 + 1) / _SPEC_MAX
    return spec.T.astype(np.float32)


def blocks(spec: np.ndarray, size: int = _BLOCK, hop: int = _BLOCK // 2) -> np.ndarray:
    """(n_blocks, size, mels): zero-pad short input to one block; the last partial block is kept."""
    n = spec.shape[0]
    if n <= size:
        out = np.zeros((1, size, spec.shape[1]), np.float32)
        out[0, :n] = spec
        return out
    starts = list(range(0, n - size + 1, hop))
    if starts[-1] + size < n:
        starts.append(n - size)
    return np.stack([spec[s : s + size] for s in starts])


def _load_checkpoint(path: str):
    import torch

    allowed = [np.dtype, np.dtypes.Int64DType, np.dtypes.Float64DType]
    allowed.append((np._core.multiarray.scalar, "numpy.core.multiarray.scalar"))
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


MEAN_PATH = Path(__file__).parent / "weights" / "aisfx_mean.npy"


class AisfxAudio:
    """`center=True` subtracts the packaged calibration mean (examples/calibrate_omnilite.py) before
    normalising: raw aisfx embeddings are non-negative and all sounds score cosines of 0.6-0.9."""

    dim = AISFX_DIM

    def __init__(self, device: str = "cpu", center: bool = True) -> None:
        import torch
        import torchaudio  # noqa: F401  (resampling)
        from aisfx.inference import get_path_modelWeights
        from aisfx.models.cnn2d import EmbeddingNet

        weights, _ = _load_checkpoint(get_path_modelWeights())
        net = EmbeddingNet("max", 3, 1, 64)
        prefix = "embedding_net."
        net.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
        self.net = net.to(device).eval()
        self.device = device
        self._torch = torch
        self.mean = np.load(MEAN_PATH).astype(np.float32) if center else None

    def embed(self, audios: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 512) normalised clip embeddings from 16 kHz mono signals; empty audio -> zero row."""
        import torchaudio.functional as AF

        torch = self._torch
        out = np.zeros((len(audios), self.dim), np.float32)
        for i, a in enumerate(audios):
            if a is None or len(a) < 160:
                continue
            y = AF.resample(torch.from_numpy(np.ascontiguousarray(a, np.float32)), 16000, _SR).numpy()
            x = torch.from_numpy(blocks(log_mel(y))).to(self.device)
            with torch.inference_mode():
                emb = self.net(x)
            out[i] = emb.mean(0).float().cpu().numpy()
        out = l2_normalize(out)
        if self.mean is not None:
            present = np.linalg.norm(out, axis=1) > 0
            out[present] = l2_normalize(out[present] - self.mean)
        return out
