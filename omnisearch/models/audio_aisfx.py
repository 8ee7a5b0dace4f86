"""Sound embedding for omni-lite: the aisfx sound-effects CNN (ISMIR 2022, CC-BY-4.0), 512-d.

The network takes log-mel blocks of 100 frames (~2.3 s at 44.1 kHz, hop 1024, 96 mel bins); a clip's
embedding is the mean of its block embeddings. Blocks do not overlap (the package's own script
overlaps them by half: twice the compute for a mean that barely moves), and the blocks of a whole
batch of clips go through the network together. Audio arrives as 16 kHz
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


def blocks(spec: np.ndarray, size: int = _BLOCK, hop: int = _BLOCK) -> np.ndarray:
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
        import torchaudio
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
        self.resample = torchaudio.transforms.Resample(16000, _SR)  # kernel computed once

    def embed(self, audios: Sequence[np.ndarray], chunk: int = 8) -> np.ndarray:
        """(N, 512) normalised clip embeddings from 16 kHz mono signals; empty audio -> zero row."""
        torch = self._torch
        out = np.zeros((len(audios), self.dim), np.float32)
        owners, parts = [], []
        for i, a in enumerate(audios):
            if a is None or len(a) < 160:
                continue
            with torch.inference_mode():
                y = self.resample(torch.from_numpy(np.ascontiguousarray(a, np.float32))).numpy()
            b = blocks(log_mel(y))
            parts.append(b)
            owners += [i] * len(b)
        if not parts:
            return out
        x = torch.from_numpy(np.concatenate(parts))
        embs = []
        with torch.inference_mode():
            for s in range(0, len(x), chunk):
                embs.append(self.net(x[s : s + chunk].to(self.device)).float().cpu().numpy())
        emb = np.concatenate(embs)
        owners_arr = np.asarray(owners)
        for i in np.unique(owners_arr):
            out[i] = emb[owners_arr == i].mean(0)
        out = l2_normalize(out)
        if self.mean is not None:
            present = np.linalg.norm(out, axis=1) > 0
            out[present] = l2_normalize(out[present] - self.mean)
        return out
