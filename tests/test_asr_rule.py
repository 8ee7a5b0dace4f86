"""Which Whisper segments are kept: the silence rule against a naive reference, and real Whisper on
continuous generated speech longer than one 30 s window (every window's words kept)."""

from __future__ import annotations

import itertools

import pytest
import synth

from omnisearch.models.asr import HALLUCINATIONS, LOW_LOGPROB, NO_SPEECH, not_speech


def test_silence_rule_matches_a_naive_reference() -> None:
    texts = ["", "  ", "you", "Thank you.", "the budget for the warehouse"]
    for text, nsp, lp in itertools.product(texts, [0.1, 0.6, 0.61, 0.83, 0.99], [-0.2, -1.0, -1.01, -2.0]):
        silent = nsp > NO_SPEECH and lp < LOW_LOGPROB
        want = text.strip() == "" or text.strip().lower() in HALLUCINATIONS or silent
        assert not_speech(text, nsp, lp) == want, (text, nsp, lp)
    assert not not_speech("the budget", 0.83, -0.2)  # confident words despite a high no-speech probability


@pytest.mark.skipif(not synth.have_tools("ffmpeg", "espeak-ng"), reason="needs ffmpeg and espeak-ng")
def test_whisper_keeps_the_words_of_every_window(tmp_path) -> None:
    import numpy as np

    from omnisearch.media.audio import decode_audio
    from omnisearch.models.asr import WhisperASR

    one = synth.speech_wav(tmp_path / "s.wav", "the budget for the new warehouse in lisbon")
    speech = decode_audio(str(one))
    gap = np.zeros(4000, np.float32)
    audio = np.concatenate([np.concatenate([speech, gap])] * 26)  # continuous speech, over 60 s
    assert len(audio) > 60 * 16000
    segs = WhisperASR().transcribe(audio)
    late = [s for s in segs if s.start > 35.0 and "budget" in s.text.lower()]
    assert late, [(s.start, s.text) for s in segs]  # words after the first 30 s window are kept
