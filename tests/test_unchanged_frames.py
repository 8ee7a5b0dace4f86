"""Work skipped for text crops that did not change: the memo against a counting recogniser, and the real
OCR reading the same lines with and without it.

Example:
    $ .venv/bin/python -m pytest tests/test_unchanged_frames.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from omnisearch.models.ocr import RecogniserMemo


class CountingRecogniser:
    """Stands in for RapidOCR's recogniser: the 'text' of a crop is its mean grey level."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, crops, return_word_box=False):
        self.seen += len(crops)
        return [(f"{float(np.mean(c)):.0f}", 0.9) for c in crops], 0.01


def test_recogniser_memo_reads_a_changed_crop_and_reuses_an_unchanged_one() -> None:
    rng = np.random.default_rng(2)
    title = rng.integers(0, 255, (20, 80, 3), dtype=np.uint8)
    inner = CountingRecogniser()
    memo = RecogniserMemo(inner, keep=4)
    first, _ = memo([title, np.zeros((20, 30, 3), np.uint8)])
    again, _ = memo([np.clip(title.astype(int) + 2, 0, 255).astype(np.uint8)])  # noise only
    other, _ = memo([np.full((20, 80, 3), 7, np.uint8)])  # same size, other content
    assert inner.seen == 3 and again == [first[0]] and other == [("7", 0.9)]
    assert (memo.read, memo.reused) == (3, 1)
    for i in range(6):  # the memo keeps the last `keep` crops only
        memo([np.full((5, 5 + i, 3), i, np.uint8)])
    memo([title])
    assert inner.seen == 3 + 6 + 1


@pytest.mark.parametrize("moving", [False, True])
def test_real_ocr_reads_the_same_lines_with_and_without_the_memo(moving: bool) -> None:
    pytest.importorskip("rapidocr_onnxruntime")
    from PIL import Image, ImageDraw, ImageFont

    from omnisearch.models.ocr import FrameOCR

    font = ImageFont.load_default(size=28)
    frames = []
    for i in range(6):
        img = Image.new("RGB", (320, 180), (20, 20, 60))
        d = ImageDraw.Draw(img)
        d.text((20, 20), "SPRING REPORT", fill=(255, 255, 255), font=font)
        d.text((20, 110), f"ROOM {100 + i * 11 if moving else 100}", fill=(255, 255, 0), font=font)
        frames.append(np.asarray(img))
    with_memo, plain = FrameOCR(), FrameOCR()
    plain.engine.text_rec = plain.recogniser.recognise
    got = [with_memo.read_lines(f) for f in frames]
    want = [plain.read_lines(f) for f in frames]
    # a crop recognised in another batch is padded to another width, which can move a space
    squeeze = lambda lines: ["".join(line.split()) for line in lines]  # noqa: E731
    assert [squeeze(g) for g in got] == [squeeze(w) for w in want]
    assert any("SPRING" in " ".join(lines) for lines in got)
    assert with_memo.recogniser.reused >= 5  # the title, at least, is recognised once
