"""Sound embedding for omni-lite: the aisfx sound-effects CNN (ISMIR 2022, CC-BY-4.0), 512-d.

The network takes log-mel blocks of 100 frames (~2.3 s at 44.1 kHz, hop 1024, 96 mel bins); a clip's
embedding is the mean of its block embeddings. Blocks do not overlap (the package's own script
overlaps them by half: twice the compute for a mean that barely moves), and the blocks of a whole
batch of clips go through the network together. Audio arrives as 16 kHz mono and is resampled to
44.1 kHz (`media.resample`: torchaudio's kernel, in numpy). Content above 8 kHz is therefore absent
(the documented trade-off of decoding every clip once at 16 kHz).

Example:
    >>> AisfxAudio().embed([np.zeros(16000, np.float32)]).shape   # doctest: +SKIP
    (1, 512)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from omnisearch.media.resample import resample
from omnisearch.models.base import l2_normalize

AISFX_DIM = 512
_SR = 44100
_N_FFT, _HOP, _MELS, _BLOCK = 2048, 1024, 96, 100
_SPEC_MAX = 9.457798957824707  # the package's 'original' min-max normalisation


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, np.float64) / 700.0)  # HTK


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, np.float64) / 2595.0) - 1.0)


@functools.cache
def mel_filters(sr: int = _SR, n_fft: int = _N_FFT, n_mels: int = _MELS) -> np.ndarray:
    """(n_mels, 1 + n_fft // 2) HTK triangles from 0 Hz to sr / 2, each row L1-normalised: the filter
    bank of `librosa.filters.mel(sr, n_fft, n_mels, htk=True, norm=1.0)`, computed in numpy."""
    fft_f = np.fft.rfftfreq(n_fft, 1.0 / sr)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sr / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_f)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    w = np.maximum(0.0, np.minimum(lower, upper)).astype(np.float32)
    norm = np.abs(w).sum(-1, keepdims=True)
    return w / np.where(norm < np.finfo(np.float32).tiny, 1.0, norm)


def log_mel(y: np.ndarray, frames_per_step: int = 2048) -> np.ndarray:
    """(frames, 96) spectrogram as aisfx's librosa front end computes it (peak-normalised), in numpy:
    a centred, zero-padded STFT with a periodic Hann window, power 2, the HTK mel bank (no librosa
    import, which costs seconds; equal within float32 rounding, tested)."""
    y = np.asarray(y, np.float32)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    y = y / (peak if peak > 0 else 1.0)
    padded = np.pad(y, _N_FFT // 2)
    n_frames = 1 + (len(padded) - _N_FFT) // _HOP
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(_N_FFT) / _N_FFT)).astype(np.float32)
    bank = mel_filters()
    view = np.lib.stride_tricks.sliding_window_view(padded, _N_FFT)[::_HOP][:n_frames]
    out = np.empty((n_frames, _MELS), np.float32)
    for s in range(0, n_frames, frames_per_step):  # bounded memory for long audio
        spec = np.fft.rfft(view[s : s + frames_per_step] * window, axis=-1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[s : s + frames_per_step] = power @ bank.T
    return (np.log10(out * 10000.0 + 1) / _SPEC_MAX).astype(np.float32)


BLOCK_SECONDS = _BLOCK * _HOP / _SR  # one block: ~2.32 s


@dataclass
class BlockRows:
    """Raw aisfx block embeddings of one signal: rows (n, 512), their start times in seconds from the
    signal's start, and the length of a block."""

    rows: np.ndarray
    starts: np.ndarray
    block_seconds: float


def block_starts(n: int, size: int = _BLOCK, hop: int = _BLOCK) -> np.ndarray:
    """First frame of each block of an n-frame spectrogram (pure): [0] when it fits one block, else every
    `hop` frames, plus one block ending at the last frame when the hop leaves a remainder."""
    if n <= size:
        return np.zeros(1, np.int64)
    starts = list(range(0, n - size + 1, hop))
    if starts[-1] + size < n:
        starts.append(n - size)
    return np.asarray(starts, np.int64)


def blocks(spec: np.ndarray, size: int = _BLOCK, hop: int = _BLOCK) -> np.ndarray:
    """(n_blocks, size, mels): zero-pad short input to one block; the last partial block is kept."""
    n = spec.shape[0]
    if n <= size:
        out = np.zeros((1, size, spec.shape[1]), np.float32)
        out[0, :n] = spec
        return out
    return np.stack([spec[s : s + size] for s in block_starts(n, size, hop)])


def _load_checkpoint(path: str):
    import torch

    allowed = [np.dtype, np.dtypes.Int64DType, np.dtypes.Float64DType]
    allowed.append((np._core.multiarray.scalar, "numpy.core.multiarray.scalar"))
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


MEAN_PATH = Path(__file__).parent / "weights" / "aisfx_mean.npy"


def weights_path() -> str:
    """The aisfx package's checkpoint (where `aisfx.inference.get_path_modelWeights` points, found
    without importing the package, which imports torch)."""
    from importlib.util import find_spec

    spec = find_spec("aisfx")
    if spec is None or not spec.submodule_search_locations:
        from omnisearch.models.batching import packaged

        packaged("aisfx", "the sound tower")  # the clear missing-package error
    return os.path.join(list(spec.submodule_search_locations)[0], "models", "checkpoint.pth")


def build_net(device: str = "cpu"):
    """The aisfx embedding network with the packaged weights (imports torch)."""
    from aisfx.models.cnn2d import EmbeddingNet

    weights, _ = _load_checkpoint(weights_path())
    net = EmbeddingNet("max", 3, 1, 64)
    prefix = "embedding_net."
    net.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
    return net.to(device).eval()


def signal_blocks(audio: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
    """(the network's (n, 100, 96) log-mel blocks, their start times in seconds) of a 16 kHz signal;
    None for absent audio or audio under 10 ms."""
    if audio is None or len(audio) < 160:
        return None
    spec = log_mel(resample(audio, 16000, _SR))
    return blocks(spec), (block_starts(len(spec)) * _HOP / _SR).astype(np.float64)


class AisfxAudio:
    """`center=True` subtracts the packaged calibration mean (examples/calibrate_omnilite.py) before
    normalising: raw aisfx embeddings are non-negative and all sounds score cosines of 0.6-0.9. On the
    CPU the network runs through onnxruntime (`onnx_run`; torch is then imported only to export it
    once), on a GPU in torch."""

    dim = AISFX_DIM

    def __init__(self, device: str = "cpu", center: bool = True) -> None:
        from importlib.metadata import version

        from omnisearch.models.onnx_run import cpu_session

        self.device = device
        self.mean = np.load(MEAN_PATH).astype(np.float32) if center else None
        self._net = None
        self.onnx = None
        if device == "cpu":
            code = [f"aisfx {version('aisfx')}", "EmbeddingNet(max, 3, 1, 64)"]
            self.onnx = cpu_session("aisfx", [weights_path()], code, self._export_args)

    @property
    def net(self):
        """The torch network (built on first use: a GPU, the fallback, or an export)."""
        if self._net is None:
            self._net = build_net(self.device)
        return self._net

    def _export_args(self):
        import torch

        return self.net, torch.zeros(1, _BLOCK, _MELS)

    def embed(self, audios: Sequence[np.ndarray], chunk: int = 32) -> np.ndarray:
        """(N, 512) normalised clip embeddings from 16 kHz mono signals; empty audio -> zero row."""
        out = np.zeros((len(audios), self.dim), np.float32)
        for i, g in enumerate(self.block_rows(audios, chunk)):
            if g is not None:
                out[i] = pool_blocks(g.rows, self.mean)[0]
        return out

    def block_rows(self, audios: Sequence[np.ndarray | None], chunk: int = 32) -> list[BlockRows | None]:
        """Raw block embeddings of each 16 kHz signal (None for empty or absent audio); the blocks of
        all signals go through the network together, `chunk` blocks a call."""
        owners, parts = [], []
        for i, a in enumerate(audios):
            if (got := signal_blocks(a)) is not None:
                parts.append(got)
                owners.append(i)
        out: list[BlockRows | None] = [None] * len(audios)
        if not parts:
            return out
        x = np.concatenate([b for b, _ in parts])
        emb = np.concatenate([self._run(x[s : s + chunk]) for s in range(0, len(x), chunk)])
        at = 0
        for i, (b, st) in zip(owners, parts, strict=True):
            out[i] = BlockRows(emb[at : at + len(b)], st, BLOCK_SECONDS)
            at += len(b)
        return out

    def block_pieces(self, audio: np.ndarray | None, chunk: int = 32) -> Iterator[BlockRows]:
        """The raw block embeddings of one 16 kHz signal, `chunk` blocks at a time, in time order: each
        piece holds its blocks' rows and start times (together they are `block_rows([audio])`'s grid).
        Nothing for empty or absent audio."""
        if (got := signal_blocks(audio)) is None:
            return
        x, starts = got
        for s in range(0, len(x), chunk):
            yield BlockRows(self._run(x[s : s + chunk]), starts[s : s + chunk], BLOCK_SECONDS)

    def _run(self, x: np.ndarray) -> np.ndarray:
        """Raw embeddings of (n, 100, 96) log-mel blocks."""
        if self.onnx is not None:
            return self.onnx.run(x)[0]
        import torch

        with torch.inference_mode(), torch.autocast("cuda", torch.bfloat16, enabled=self.device != "cpu"):
            return self.net(torch.from_numpy(x).to(self.device)).float().cpu().numpy()


def pool_blocks(raw: np.ndarray, centre: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(clip vector, (W, 512) rows) from raw block embeddings (pure): the clip vector is the normalised
    mean, centred and normalised again (`AisfxAudio.embed`); row_j = raw_j / |mean(raw)| - centre, so
    the normalised mean of the rows is the clip vector.

    >>> clip, rows = pool_blocks(np.array([[3.0, 0.0], [1.0, 0.0]]), None)
    >>> clip.tolist(), rows.tolist()
    ([1.0, 0.0], [[1.5, 0.0], [0.5, 0.0]])
    """
    raw = np.asarray(raw, np.float32)
    m = raw.mean(0)
    clip = l2_normalize(m)
    if centre is not None:
        clip = l2_normalize(clip - centre)
    rows = raw / max(float(np.linalg.norm(m)), 1e-12)
    return clip.astype(np.float32), (rows - centre if centre is not None else rows).astype(np.float32)


def blocks_in_span(starts: np.ndarray, block_seconds: float, t0: float, t1: float) -> np.ndarray:
    """Indices of the blocks (start times `starts`, relative to the same origin as t0, t1) whose centre
    lies in [t0, t1); the block nearest the span's middle when none does (pure). A window pooled from
    these blocks of its file's audio stands for the window embedded on its own.

    >>> blocks_in_span(np.array([0.0, 2.0, 4.0, 6.0]), 2.0, 1.5, 5.5).tolist()
    [1, 2]
    >>> blocks_in_span(np.array([0.0, 2.0]), 2.0, 1.1, 1.2).tolist()
    [0]
    """
    centres = np.asarray(starts, np.float64) + block_seconds / 2
    idx = np.nonzero((centres >= t0) & (centres < t1))[0]
    if len(idx):
        return idx
    return np.array([int(np.argmin(np.abs(centres - (t0 + t1) / 2)))])
