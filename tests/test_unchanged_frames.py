"""Work skipped for frames and text crops that did not change: each rule against a naive reference, and
the real OCR reading the same lines with and without its memo.

Example:
    $ .venv/bin/python -m pytest tests/test_unchanged_frames.py -q
"""

from __future__ import annotations

import numpy as np
import pytest

from omnisearch.media.image import thumbnail
from omnisearch.models.concepts import same_as_previous
from omnisearch.models.ocr import RecogniserMemo


def naive_same_as_previous(keys: list[str], frames: np.ndarray) -> list[str]:
    out, kept = [], None  # kept: index of the last frame that was not reused
    for i in range(len(keys)):
        if kept is not None:
            a, b = thumbnail(frames[i]), thumbnail(frames[kept])
            moved = sum(abs(float(x) - float(y)) >= 16 for x, y in zip(a.ravel(), b.ravel(), strict=True))
            if a.shape == b.shape and moved < 3:
                out.append(keys[kept])
                continue
        kept = i
        out.append(keys[i])
    return out


def test_same_as_previous_against_a_naive_loop() -> None:
    rng = np.random.default_rng(0)
    for trial in range(30):
        n = int(rng.integers(1, 9))
        base = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
        frames = np.stack([base] * n)
        for i in range(n):  # some frames change a lot, some by noise only, some drift slowly
            kind = rng.integers(0, 3)
            if kind == 0:
                frames[i] = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
            elif kind == 1:
                frames[i] = np.clip(frames[i].astype(int) + rng.integers(-4, 5, frames[i].shape), 0, 255)
            else:
                frames[i, : 4 * (i + 1), :8] = 255
        keys = [f"k{trial}-{i}" for i in range(n)]
        assert same_as_previous(keys, frames) == naive_same_as_previous(keys, frames)


def test_a_still_picture_is_classified_once_per_clip() -> None:
    from omnisearch.models.concepts import VisualConcepts

    still = np.full((6, 90, 160, 3), 40, np.uint8)
    still[:, 30:60, 40:120] = 200
    noisy = np.clip(still.astype(int) + np.random.default_rng(1).integers(-2, 3, still.shape), 0, 255)
    vc = VisualConcepts(embed_text=lambda t: np.ones((len(t), 4), np.float32), people=False)
    rows = vc._frame_results([noisy.astype(np.uint8)])[0]
    assert len(rows) == 6 and all(np.array_equal(r[0], rows[0][0]) for r in rows)
    assert len(vc._frames._store) == 1  # one frame went through the network


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
