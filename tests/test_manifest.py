"""Manifest reading, validation errors, writing and item modalities."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest

from omnisearch.eval.manifest import (
    ManifestError,
    ManifestItem,
    item_modalities,
    probe_has_audio_track,
    read_manifest,
    write_manifest,
)
from omnisearch.types import Modality

T, V, A = Modality.TEXT, Modality.VIDEO, Modality.AUDIO


def write_lines(path: Path, records: list) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


@pytest.fixture()
def media(tmp_path: Path) -> Path:
    for rel in ("v/pancake.mkv", "a/dog_1.flac", "i/apple.png", "a/apple.ogg"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    return tmp_path


def test_reads_the_documented_example(media: Path) -> None:
    m = write_lines(
        media / "m.jsonl",
        [
            {"id": "c0001", "video": "v/pancake.mkv", "text": ["a person flips a pancake in a pan"],
             "start": 0.0, "end": 10.4},
            {"id": "c0002", "audio": "a/dog_1.flac", "text": "dog barking", "group": "dog"},
            "",
            {"id": "c0003", "image": "i/apple.png", "audio": "a/apple.ogg", "text": "A red apple."},
        ],
    )  # fmt: skip
    items = read_manifest(m)
    assert [it.id for it in items] == ["c0001", "c0002", "c0003"]
    assert items[0].video == str(media / "v/pancake.mkv") and items[0].start == 0.0 and items[0].end == 10.4
    assert items[1].texts == ["dog barking"] and items[1].group == "dog" and items[1].line == 2
    assert items[2].image == str(media / "i/apple.png") and items[2].line == 4
    no_track = item_modalities(items, has_audio_track=lambda p: False)
    assert no_track == [frozenset({T, V}), frozenset({T, A}), frozenset({T, V, A})]
    with_track = item_modalities(items, has_audio_track=lambda p: p.endswith(".mkv"))
    assert with_track[0] == frozenset({T, V, A})


def test_texts_are_stripped_and_deduplicated(media: Path) -> None:
    m = write_lines(
        media / "m.jsonl", [{"id": "a", "text": [" x ", "x", "", "y"]}, {"id": "b", "text": "  "}]
    )
    with pytest.raises(ManifestError, match="line 2: item 'b' has no modality"):
        read_manifest(m)
    write_lines(m, [{"id": "a", "text": [" x ", "x", "", "y"]}])
    assert read_manifest(m)[0].texts == ["x", "y"]


def test_errors_name_their_lines(media: Path) -> None:
    m = write_lines(
        media / "m.jsonl",
        [
            {"id": "a", "text": "ok"},
            "{not json",
            {"text": "no id"},
            {"id": "a", "text": "dup"},
            {"id": "b"},
            {"id": "c", "video": "v/pancake.mkv", "image": "i/apple.png"},
            {"id": "d", "text": "t", "start": 5, "end": 2},
            {"id": "e", "text": 3},
            {"id": "f", "text": "t", "start": "0"},
            [1, 2],
        ],
    )
    with pytest.raises(ManifestError) as info:
        read_manifest(m)
    text = str(info.value)
    for expected in (
        "line 2: invalid JSON",
        "line 3: 'id' is required",
        "line 4: duplicate id 'a' (first on line 1)",
        "line 5: item 'b' has no modality",
        "line 6: give 'video' or 'image', not both",
        "line 7: 'end' (2) must be greater than 'start' (5)",
        "line 8: 'text' must be a string or a list of strings",
        "line 9: 'start' must be a finite number",
        "line 10: expected a JSON object",
    ):
        assert expected in text
    assert len(info.value.errors) == 9


def test_missing_files_reported_skipped_or_ignored(media: Path) -> None:
    m = write_lines(
        media / "m.jsonl",
        [{"id": "a", "audio": "a/dog_1.flac"}, {"id": "b", "video": "v/gone.mp4", "audio": "a/gone.wav"}],
    )
    with pytest.raises(ManifestError) as info:
        read_manifest(m)
    assert "line 2: item 'b': missing file" in str(info.value) and len(info.value.errors) == 2
    assert [it.id for it in read_manifest(m, on_missing="skip")] == ["a"]
    assert [it.id for it in read_manifest(m, on_missing="ignore")] == ["a", "b"]
    with pytest.raises(ValueError):
        read_manifest(m, on_missing="nope")


def test_write_then_read_roundtrip_with_relative_paths(media: Path) -> None:
    items = [
        ManifestItem("c1", video=str(media / "v/pancake.mkv"), texts=["one", "two"], start=1.0, end=3.5),
        ManifestItem("c2", audio=str(media / "a/dog_1.flac"), texts=["dog"], group="g", extra={"src": "x"}),
    ]
    out = media / "sub" / "out.jsonl"
    assert write_manifest(out, items) == 2
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0] == {
        "id": "c1",
        "video": "../v/pancake.mkv",
        "text": ["one", "two"],
        "start": 1.0,
        "end": 3.5,
    }
    assert records[1] == {"id": "c2", "audio": "../a/dog_1.flac", "text": "dog", "group": "g", "src": "x"}
    back = read_manifest(out)
    assert [(b.id, b.video, b.audio, b.texts, b.start, b.end, b.group) for b in back] == [
        (i.id, i.video, i.audio, i.texts, i.start, i.end, i.group) for i in items
    ]
    assert back[1].extra == {"src": "x"}


def test_default_probe_uses_pyav(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(1600) / 5) * 8000).astype(np.int16).tobytes())
    silent_video = tmp_path / "video_only.mp4"
    import av

    with av.open(str(silent_video), "w") as container:
        stream = container.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for _ in range(2):
            frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video")
    assert probe_has_audio_track(str(wav)) is True
    assert probe_has_audio_track(str(silent_video)) is False
    assert probe_has_audio_track(str(garbage)) is False
    assert ManifestItem("x", video=str(silent_video)).modalities() == frozenset({V})
