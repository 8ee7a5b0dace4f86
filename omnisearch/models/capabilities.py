"""What an encoder can do besides `encode`, declared as explicit protocols.

The ingest pipeline asks `isinstance(encoder, Enriching)` / `isinstance(encoder, SoundBlockEncoder)`
instead of probing attributes by name: an encoder takes part in a stage by implementing its protocol.

- `Transcriber`: speech segments of a 16 kHz mono signal (the enricher fills a clip's transcript).
- `StreamingTranscriber`: a transcriber whose segments come out as they are decoded, in time order.
- `TextReader`: the lines of text seen in one frame (the enricher fills a clip's on-screen text).
- `SpeechDetector`: does a signal hold speech at all (gates the transcriber, per decoded chunk).
- `Enriching`: an encoder whose clips carry text made by such tools (omni-lite).
- `LoraTrainable`, `TowerLoraTrainable`: what `omnisearch train` may train with LoRA (heads training
  needs a `base.HeadsHost`).
- `SoundBlockEncoder`: an encoder whose sound vector is a pool of short block embeddings, so that a
  file's audio is embedded once in blocks and each window pools the blocks it covers;
  `StreamingSoundBlocks`: one whose blocks come out piece by piece, so early windows go on.
- `Preparing`: an encoder that can do the part of its work that does not depend on a clip's text
  (transcript, on-screen text) ahead, while that text is still being made (omni-lite: its frames).
- `FeatureEncoder`: vectors built from frozen features that can be cached (`feature_key`, `features`,
  `project`): what heads train on and what `train.features` caches.
- `FolderLoaded`: an encoder whose model folder (`path`) shapes its vectors (omni-lite + heads), so
  evaluation caches never mix a folder's vectors with its base's.

Example:
    >>> class Echo:
    ...     def transcribe(self, audio): return []
    >>> isinstance(Echo(), Transcriber), isinstance(Echo(), TextReader)
    (True, False)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from omnisearch.models.asr import Segment
    from omnisearch.models.audio_aisfx import BlockRows
    from omnisearch.types import Embedding, EncoderInput


@runtime_checkable
class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray) -> list[Segment]:
        """Speech segments (seconds from the signal's start) of float32 16 kHz mono audio."""
        ...


@runtime_checkable
class StreamingTranscriber(Protocol):
    def stream(self, audio: np.ndarray) -> Iterator[Segment]:
        """`transcribe(audio)` segment by segment, in time order, as they are decoded."""
        ...


@runtime_checkable
class TextReader(Protocol):
    def read_lines(self, frame: np.ndarray) -> list[str]:
        """Lines of text read in one RGB uint8 frame (H, W, 3), confident ones only."""
        ...


@runtime_checkable
class SpeechDetector(Protocol):
    def has_speech(self, audio: np.ndarray) -> bool:
        """True when float32 16 kHz mono audio holds speech."""
        ...


@runtime_checkable
class Enriching(Protocol):
    """An encoder whose clips carry a transcript and on-screen text (read by its own tools)."""

    ocr_frames: int  # frames read per clip (spread over its frames, `ocr.pick_frames`)

    def transcriber(self) -> Transcriber: ...

    def text_reader(self) -> TextReader: ...

    def speech_detector(self) -> SpeechDetector: ...


@runtime_checkable
class SoundBlockEncoder(Protocol):
    """Sound embedded in short blocks, a window's sound vector pooled from the blocks it covers."""

    def sound_blocks(self, audios: Sequence[np.ndarray | None]) -> list[BlockRows | None]:
        """Raw block embeddings of each signal (None without audio), all signals batched together."""
        ...

    def encode_pooled(
        self, items: Sequence[EncoderInput], sounds: Sequence[np.ndarray | None]
    ) -> list[Embedding]:
        """`encode(items)`, with item i's sound taken from the raw block rows `sounds[i]` (None: embed
        its audio as `encode` does)."""
        ...


@runtime_checkable
class Preparing(Protocol):
    """Text-independent work done ahead: `encode` of the same inputs later reuses it."""

    def prepare(self, items: Sequence[EncoderInput]) -> None:
        """Compute and keep what `encode(items)` needs that does not depend on their text."""
        ...


@runtime_checkable
class StreamingSoundBlocks(Protocol):
    """A sound-block encoder that hands out a signal's blocks as they are embedded."""

    def sound_block_pieces(self, audio: np.ndarray | None) -> Iterator[BlockRows]:
        """`sound_blocks([audio])[0]` in pieces of consecutive blocks, in time order."""
        ...


@runtime_checkable
class FeatureEncoder(Protocol):
    """Vectors built in two steps, frozen features then a cheap projection (omni-lite, clip-clap)."""

    name: str

    @property
    def feature_key(self) -> str:
        """Identity of the frozen features (caches of `features` are keyed by it)."""
        ...

    def features(self, items: Sequence[EncoderInput]) -> list[dict]:
        """The frozen feature dict of each input (no heads involved)."""
        ...

    def project(self, features: Sequence[dict]) -> list[Embedding]:
        """Embeddings from feature dicts (through attached heads, if any)."""
        ...


@runtime_checkable
class FolderLoaded(Protocol):
    """An encoder loaded from a model folder whose files change its vectors (None: the plain model)."""

    path: str | None


@runtime_checkable
class LoraTrainable(Protocol):
    """A model trained with LoRA over decoded media (omniretriever-7b: `train.lora`)."""

    def lora_location(self) -> str:
        """The checkpoint (or adapter) folder training starts from."""
        ...


@runtime_checkable
class TowerLoraTrainable(Protocol):
    """A heads host whose towers also take LoRA (clip-clap --lora: `train.clip_clap_lora`)."""

    def tower_paths(self) -> dict[str, str]:
        """Tower name -> its local folder."""
        ...
