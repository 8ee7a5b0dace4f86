"""Voice-activity check: Silero VAD as faster-whisper ships it (`faster_whisper/assets/silero_vad_v6.onnx`,
run by onnxruntime; nothing is downloaded). The ingest enricher asks it once per decoded chunk whether
there is any speech, and runs Whisper only where there is.

A signal holds speech when at least `min_speech_s` of its 32 ms frames score a speech probability of
`threshold` or more (frames counted, not Silero's padded segments: an amplitude-modulated tone that
peaks once above the threshold is not speech).

Example:
    >>> speech_seconds(np.array([0.1, 0.9, 0.8, 0.2]), threshold=0.5)
    0.064
    >>> SileroSpeech().has_speech(np.zeros(16000, np.float32))   # doctest: +SKIP
    False
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FRAME = 512  # samples per Silero frame (32 ms)


def speech_seconds(probs: np.ndarray, threshold: float, frame_s: float = FRAME / SAMPLE_RATE) -> float:
    """Seconds of frames whose speech probability is at least `threshold` (pure)."""
    return round(float(np.count_nonzero(np.asarray(probs) >= threshold)) * frame_s, 6)


class SileroSpeech:
    """`has_speech(audio)` (`capabilities.SpeechDetector`); the model loads on first use."""

    def __init__(self, min_speech_s: float = 0.3, threshold: float = 0.5) -> None:
        self.min_speech_s, self.threshold = min_speech_s, threshold
        self._model = None

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame of 16 kHz mono audio (zero-padded to whole frames)."""
        if self._model is None:
            from faster_whisper.vad import get_vad_model

            self._model = get_vad_model()
        a = np.ascontiguousarray(audio, np.float32)
        a = np.pad(a, (0, (-len(a)) % FRAME))
        return np.asarray(self._model(a)).reshape(-1)

    def has_speech(self, audio: np.ndarray) -> bool:
        if audio is None or len(audio) < int(self.min_speech_s * SAMPLE_RATE):
            return False
        return speech_seconds(self.probabilities(audio), self.threshold) >= self.min_speech_s
