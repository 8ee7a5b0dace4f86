"""OmniRetriever inputs built by hand: prompt token ids, video patches, Whisper audio features.

Qwen2_5OmniProcessor needs torchvision (its video processor), which does not import beside this
project's torch build, so this module reproduces what the processor and the reference wrapper
(embeddings-benchmark/mteb `omniretriever_models.py`, following the training code) produce:

- Prompt (the chat template's user turn, stripped; no system prompt, no instruction suffix):
    T:   caption <|im_end|>
    V:   <|vision_bos|> VIDEO*n <|vision_eos|> (caption | "Please describe the video.") <|im_end|>
    A:   <|audio_bos|> AUDIO*N <|audio_eos|> (caption | same sentence) <|im_end|>
    AV (one video item, use_audio_in_video): <|vision_bos|><|audio_bos|> video and audio tokens
         interleaved in chunks of `seconds_per_chunk` <|audio_eos|><|vision_eos|> text <|im_end|>
  The text is tokenised on its own (special tokens split the template's string the same way), and
  rows are LEFT-padded so every row ends with the pooled <|im_end|>.
- Video: `frames_per_clip` frames at linspace(0, n-1, k); each frame resized (bicubic, aspect kept, to
  multiples of patch*merge = 28) so that min = max pixels = 50176; rescaled, CLIP-normalised; patches of
  14x14 over 2 frames (Qwen2-VL layout), grid (t, h, w); n = t*h*w / merge^2 tokens.
- Audio: 16 kHz mono, at least 1 s (zero-padded), at most 300 s; Whisper log-mel features (128 bins,
  hop 160); N = ((L-1)//2 + 1 - 2)//2 + 1 tokens for L valid frames. With WAVE's BEATs branch every
  <|AUDIO|> of the layout is doubled (data_qwen.py replaces <|AUDIO|> by <|AUDIO|><|AUDIO|> after the
  processor laid the chunks out for N), so an AV chunk of k audio tokens becomes 2k: `audio_repeat=2`.
- Time: fps = frames / clip seconds (the audio's length when present, else 1 fps as the reference
  wrapper assumes); second_per_grid = 2 / fps; seconds_per_chunk = 2 * second_per_grid (a float:
  25 * seconds_per_chunk positions per chunk, boundaries with isclose as in the processor).
- Positions (`rope_positions`, WAVE's get_rope_index): text and audio outside a video one apart; video
  tokens at (t * second_per_grid * 25, h, w) from the bos; in an AV block both bos tokens share one
  position, audio tokens take bos+1, bos+2, ... in order of appearance (all 2N of them), and the eos
  tokens follow the last run's largest position. transformers' own get_rope_index counts N audio
  positions and 2-second chunks, so the thinker gets these positions instead.

Example:
    >>> audio_tokens(3000), smart_resize(360, 640, 28, 50176, 50176)
    (750, (168, 280))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
PATCH, TEMPORAL, MERGE = 14, 2, 2
PIXELS = 50_176  # min = max pixels per frame (224 x 224)
FRAMES = 8
RATE, HOP = 16_000, 160
MIN_AUDIO_S, MAX_AUDIO_S = 1.0, 300.0
DEFAULT_PROMPT = "Please describe the video."
POSITION_ID_PER_SECONDS = 25


@dataclass(frozen=True)
class SpecialIds:
    """Token ids of the omni special tokens, read from the tokenizer."""

    audio: int
    audio_bos: int
    audio_eos: int
    vision_bos: int
    vision_eos: int
    video: int
    im_end: int
    pad: int

    @classmethod
    def from_tokenizer(cls, tok) -> SpecialIds:
        names = dict(
            audio="<|AUDIO|>", audio_bos="<|audio_bos|>", audio_eos="<|audio_eos|>",
            vision_bos="<|vision_bos|>", vision_eos="<|vision_eos|>", video="<|VIDEO|>",
            im_end="<|im_end|>", pad="<|endoftext|>",
        )  # fmt: skip
        ids = {k: tok.convert_tokens_to_ids(v) for k, v in names.items()}
        unk = getattr(tok, "unk_token_id", None)
        missing = [names[k] for k, v in ids.items() if v is None or (unk is not None and v == unk)]
        if missing:
            raise ValueError(f"tokenizer lacks the Qwen2.5-Omni special tokens {missing}")
        if tok.pad_token_id is not None:
            ids["pad"] = tok.pad_token_id
        return cls(**ids)


def smart_resize(h: int, w: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """Qwen2-VL's resize rule: multiples of `factor`, pixels within [min, max], aspect ratio kept."""
    if max(h, w) / min(h, w) > 200:
        raise ValueError(f"aspect ratio {max(h, w) / min(h, w):.0f} is over 200")
    hb, wb = round(h / factor) * factor, round(w / factor) * factor
    if hb * wb > max_pixels:
        beta = math.sqrt(h * w / max_pixels)
        hb, wb = (
            max(factor, math.floor(h / beta / factor) * factor),
            max(factor, math.floor(w / beta / factor) * factor),
        )
    elif hb * wb < min_pixels:
        beta = math.sqrt(min_pixels / (h * w))
        hb, wb = math.ceil(h * beta / factor) * factor, math.ceil(w * beta / factor) * factor
    return hb, wb


def sample_frames(frames: np.ndarray, k: int = FRAMES) -> np.ndarray:
    """k frames at linspace(0, n-1, k) (repeats when the clip has fewer than k)."""
    idx = np.linspace(0, len(frames) - 1, k).round().astype(int)
    return np.asarray(frames)[idx]


def video_patches(frames: np.ndarray, pixels: int = PIXELS) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(n_patches, 3*2*14*14) float32 patches and the (t, h, w) grid of one clip of uint8 RGB frames."""
    from PIL import Image

    n, fh, fw = frames.shape[:3]
    rh, rw = smart_resize(fh, fw, PATCH * MERGE, pixels, pixels)
    x = np.stack([np.asarray(Image.fromarray(f).resize((rw, rh), Image.BICUBIC)) for f in frames])
    x = ((x.astype(np.float32) / 255.0 - CLIP_MEAN) / CLIP_STD).transpose(0, 3, 1, 2)  # (n, C, H, W)
    if pad := -n % TEMPORAL:
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)])
    gt, gh, gw = x.shape[0] // TEMPORAL, rh // PATCH, rw // PATCH
    x = x.reshape(gt, TEMPORAL, 3, gh // MERGE, MERGE, PATCH, gw // MERGE, MERGE, PATCH)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return np.ascontiguousarray(x.reshape(gt * gh * gw, 3 * TEMPORAL * PATCH * PATCH)), (gt, gh, gw)


def audio_tokens(mel_frames: int) -> int:
    """Audio-tower output length for `mel_frames` valid Whisper frames."""
    return ((mel_frames - 1) // 2 + 1 - 2) // 2 + 1


def fit_audio(audio: np.ndarray) -> np.ndarray:
    """float32 mono, zero-padded to 1 s, cut at 300 s."""
    a = np.asarray(audio, dtype=np.float32)[: int(MAX_AUDIO_S * RATE)]
    return np.pad(a, (0, max(0, int(MIN_AUDIO_S * RATE) - len(a))))


def whisper_features(extractor, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(B, mel, T) features and (B, T) masks. Padded to the batch's longest wave plus 1 s, so a wave's
    valid frames do not depend on what else is in the batch."""
    longest = max(len(w) for w in waves)
    target = min(int(math.ceil(longest / RATE) + 1) * RATE, int(MAX_AUDIO_S * RATE) + RATE)
    feats = extractor(
        waves, sampling_rate=RATE, padding="max_length", max_length=target, truncation=True,
        return_attention_mask=True, return_tensors="np",
    )  # fmt: skip
    return feats["input_features"].astype(np.float32), feats["attention_mask"].astype(np.int64)


def chunk_bounds(times: np.ndarray, per_chunk: float) -> list[tuple[int, int]]:
    """(start, end) slices of a non-decreasing position array, a new slice each time a position reaches
    the next multiple of `per_chunk` (the processor's rule: one boundary per token at most, `>=` or
    isclose).

    >>> chunk_bounds(np.array([0, 0, 50, 50, 100]), 100), chunk_bounds(np.arange(5), 2)
    ([(0, 4), (4, 5)], [(0, 2), (2, 4), (4, 5)])
    """
    bounds, start, chunk = [], 0, 1
    for i, t in enumerate(times):
        if t >= chunk * per_chunk or math.isclose(t, chunk * per_chunk, rel_tol=1e-5):
            bounds.append((start, i))
            start, chunk = i, chunk + 1
    bounds.append((start, len(times)))
    return bounds


def av_tokens(
    ids: SpecialIds, grid: tuple[int, int, int], n_audio: int, second_per_grid: float, audio_repeat: int = 1
) -> list[int]:
    """The interleaved video/audio placeholder ids of one audio-visual item (without bos/eos): chunks
    laid out for `n_audio` Whisper tokens, each audio token then repeated `audio_repeat` times."""
    gt, gh, gw = grid
    per_frame = gh * gw // MERGE**2
    vtimes = np.repeat(np.arange(gt) * second_per_grid * POSITION_ID_PER_SECONDS, per_frame)
    per_chunk = POSITION_ID_PER_SECONDS * 2.0 * second_per_grid
    vb, ab = chunk_bounds(vtimes, per_chunk), chunk_bounds(np.arange(n_audio), per_chunk)
    out: list[int] = []
    for j in range(max(len(vb), len(ab))):
        if j < len(vb):
            out += [ids.video] * (vb[j][1] - vb[j][0])
        if j < len(ab):
            out += [ids.audio] * ((ab[j][1] - ab[j][0]) * audio_repeat)
    return out


def prompt_ids(
    ids: SpecialIds,
    text_ids: list[int] | None,
    default_ids: list[int],
    grid: tuple[int, int, int] | None,
    n_audio: int | None,
    second_per_grid: float,
    audio_repeat: int = 1,
) -> list[int]:
    """Token ids of one item (see the module docstring for the layouts); `n_audio` Whisper tokens,
    each audio placeholder repeated `audio_repeat` times (2 with WAVE's BEATs branch)."""
    body = text_ids if text_ids else (default_ids if grid or n_audio else [])
    if grid is not None and n_audio is not None:
        media = [ids.vision_bos, ids.audio_bos, *av_tokens(ids, grid, n_audio, second_per_grid, audio_repeat)]
        media += [ids.audio_eos, ids.vision_eos]
    elif grid is not None:
        media = [ids.vision_bos] + [ids.video] * (grid[0] * grid[1] * grid[2] // MERGE**2) + [ids.vision_eos]
    elif n_audio is not None:
        media = [ids.audio_bos] + [ids.audio] * (n_audio * audio_repeat) + [ids.audio_eos]
    else:
        media = []
    if not media and not body:
        raise ValueError("an item needs text, frames or audio")
    return media + list(body) + [ids.im_end]


def left_pad(rows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask), rows right-aligned."""
    n = max(len(r) for r in rows)
    input_ids = np.full((len(rows), n), pad, dtype=np.int64)
    mask = np.zeros((len(rows), n), dtype=np.int64)
    for i, r in enumerate(rows):
        input_ids[i, n - len(r) :] = r
        mask[i, n - len(r) :] = 1
    return input_ids, mask


def video_positions(grid: tuple[int, int, int], second_per_grid: float) -> np.ndarray:
    """(3, n) (t, h, w) positions of a video's tokens from 0: t = int(t_index * second_per_grid * 25) in
    float32 as the model computes it, (h, w) on the merged grid, t-major order."""
    gt, gh, gw = grid[0], grid[1] // MERGE, grid[2] // MERGE
    t = np.arange(gt, dtype=np.float32) * np.float32(second_per_grid) * np.float32(POSITION_ID_PER_SECONDS)
    t, h, w = np.meshgrid(t.astype(np.int64), np.arange(gh), np.arange(gw), indexing="ij")
    return np.stack([t.ravel(), h.ravel(), w.ravel()])


def rope_positions(
    row: list[int], ids: SpecialIds, grid: tuple[int, int, int] | None, second_per_grid: float
) -> np.ndarray:
    """(3, len(row)) M-RoPE positions of one unpadded row (rules in the module docstring).

    >>> ids = SpecialIds(audio=1, audio_bos=2, audio_eos=3, vision_bos=4, vision_eos=5, video=6, im_end=7,
    ...                  pad=0)
    >>> rope_positions([4, 2, 6, 1, 1, 3, 5, 7], ids, (1, 2, 2), 1.0).tolist()
    [[0, 0, 1, 1, 2, 3, 3, 4], [0, 0, 1, 1, 2, 3, 3, 4], [0, 0, 1, 1, 2, 3, 3, 4]]
    """
    pos = np.zeros((3, len(row)), dtype=np.int64)
    vpos = video_positions(grid, second_per_grid) if grid is not None else None
    nxt, i = 0, 0
    while i < len(row):
        if row[i] != ids.vision_bos:
            pos[:, i], nxt, i = nxt, nxt + 1, i + 1
            continue
        n_bos = 2 if i + 1 < len(row) and row[i + 1] == ids.audio_bos else 1
        pos[:, i : i + n_bos] = nxt
        start, i = nxt + 1, i + n_bos
        kv = ka = 0
        last_run = np.array([nxt])
        while i < len(row) and row[i] in (ids.video, ids.audio):
            run = i
            kind = row[i]
            while i < len(row) and row[i] == kind:
                if kind == ids.video:
                    pos[:, i], kv = vpos[:, kv] + start, kv + 1
                else:
                    pos[:, i], ka = start + ka, ka + 1
                i += 1
            last_run = pos[:, run:i]
        nxt = int(last_run.max()) + 1
        while i < len(row) and row[i] in (ids.audio_eos, ids.vision_eos):
            pos[:, i], i = nxt, i + 1
        nxt += 1
    return pos


def batch_positions(
    rows: list[list[int]], ids: SpecialIds, grids: list, second_per_grids: list[float]
) -> np.ndarray:
    """(3, B, L) positions of left-padded rows (pads at 1, as transformers does); `grids[i]` None for a
    row without video."""
    n = max(len(r) for r in rows)
    out = np.ones((3, len(rows), n), dtype=np.int64)
    for b, (r, g, s) in enumerate(zip(rows, grids, second_per_grids, strict=True)):
        out[:, b, n - len(r) :] = rope_positions(r, ids, g, s)
    return out
