"""Reproduce omni-lite's centring statistics (omnisearch/models/weights/aisfx_mean.npy).

The aisfx sound embedding is non-negative (ReLU + max pooling), so any two sounds score a cosine of
~0.6-0.9 and a speech clip looks "close" to a duck. omni-lite subtracts the mean embedding of a
calibration set before normalising, which spreads cosines around 0. The calibration set is generated
here (espeak-ng speech in several voices, tones, chirps and noises from ffmpeg), so no evaluation
media is involved:

    python examples/calibrate_omnilite.py            # writes the .npy into the package
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import numpy as np

from omnisearch.config import set_thread_env

set_thread_env()

SENTENCES = [
    "the weather will be sunny tomorrow",
    "please close the door behind you",
    "one two three four five",
    "where is the nearest station",
    "good morning everyone",
    "the meeting starts at nine",
    "turn left at the next corner",
    "my favourite colour is green",
]
VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb+m3"]
TONES = [(kind, f) for kind in ("sine", "square", "saw", "chirp") for f in (110, 440, 1760)]
NOISES = ["noise", "pink", "brown"]

OUT = Path(__file__).resolve().parents[1] / "omnisearch" / "models" / "weights" / "aisfx_mean.npy"


def calibration_audio(workdir: Path) -> list[np.ndarray]:
    import synth

    from omnisearch.media.audio import decode_audio

    paths = []
    for i, (text, voice) in enumerate(itertools.product(SENTENCES[:4], VOICES)):
        paths.append(synth.speech_wav(workdir / f"s{i}.wav", text, voice=voice))
    for i, text in enumerate(SENTENCES[4:]):
        paths.append(synth.speech_wav(workdir / f"t{i}.wav", text, speed=120 + 20 * i))
    for kind, f in TONES:
        paths.append(synth.tone_wav(workdir / f"{kind}{f}.wav", f, 2.0, kind=kind))
    for i, kind in enumerate(NOISES):
        paths.append(synth.tone_wav(workdir / f"{kind}.wav", 440, 2.0, kind=kind, seed=i))
    return [decode_audio(str(p)) for p in paths]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    from omnisearch.models.audio_aisfx import AisfxAudio

    with tempfile.TemporaryDirectory() as tmp:
        audio = calibration_audio(Path(tmp))
    emb = AisfxAudio(center=False).embed(audio)
    mean = emb.mean(0).astype(np.float32)
    np.save(args.out, mean)
    raw = emb @ emb.T
    c = emb - mean
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    iu = np.triu_indices(len(emb), 1)
    print(
        f"{len(audio)} calibration sounds; mean pairwise cosine {raw[iu].mean():.3f} raw, "
        f"{(c @ c.T)[iu].mean():.3f} centred; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
