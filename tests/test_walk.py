"""find_media: walking, classification, sidecars, skipped paths; file_hash."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from omnisearch.media.walk import file_hash, find_media, find_sidecars, media_type_of
from omnisearch.types import MediaType


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_tree(root: Path) -> None:
    for name in [
        "b/clip.MP4",
        "b/clip.srt",
        "b/clip.en.vtt",
        "b/clip.mp4.txt",
        "b/clip.wav.srt",  # belongs to a (missing) clip.wav, not to clip.mp4
        "b/other.txt",
        "a/song.flac",
        "a/photo.jpeg",
        "a/deeper/voice.opus",
        "a/notes.pdf",
        ".hidden/secret.mp4",
        "a/.cache/thumb.png",
        "a/._song.flac",
        "top.webm",
    ]:
        touch(root / name)


def test_walk_sorted_classified_and_hidden_skipped(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found, skipped = find_media([str(tmp_path)])
    rel = [os.path.relpath(f.path, tmp_path) for f in found]
    assert rel == ["a/deeper/voice.opus", "a/photo.jpeg", "a/song.flac", "b/clip.MP4", "top.webm"]
    assert [f.media_type for f in found] == [
        MediaType.AUDIO,
        MediaType.IMAGE,
        MediaType.AUDIO,
        MediaType.VIDEO,
        MediaType.VIDEO,
    ]
    assert all(os.path.isabs(f.path) for f in found)
    assert skipped == []


def test_sidecars(tmp_path: Path) -> None:
    make_tree(tmp_path)
    found, _ = find_media([str(tmp_path / "b")])
    assert len(found) == 1
    names = [os.path.basename(s) for s in found[0].sidecars]
    assert names == ["clip.en.vtt", "clip.mp4.txt", "clip.srt"]
    assert all(os.path.isabs(s) for s in found[0].sidecars)
    assert find_sidecars(str(tmp_path / "a/song.flac")) == []


def test_explicit_paths_missing_unsupported_and_duplicates(tmp_path: Path) -> None:
    make_tree(tmp_path)
    song = str(tmp_path / "a/song.flac")
    found, skipped = find_media(
        [song, str(tmp_path / "nope.mp4"), str(tmp_path / "a/notes.pdf"), str(tmp_path / "a"), song]
    )
    assert [os.path.relpath(f.path, tmp_path) for f in found] == [
        "a/song.flac",
        "a/deeper/voice.opus",
        "a/photo.jpeg",
    ]
    assert skipped == [
        (str(tmp_path / "nope.mp4"), "not found"),
        (str(tmp_path / "a/notes.pdf"), "unsupported file type .pdf"),
    ]


def test_explicit_hidden_file_and_relative_path(tmp_path: Path, monkeypatch) -> None:
    make_tree(tmp_path)
    monkeypatch.chdir(tmp_path)
    found, skipped = find_media([".hidden/secret.mp4", "top.webm"])
    assert [f.path for f in found] == [str(tmp_path / ".hidden/secret.mp4"), str(tmp_path / "top.webm")]
    assert skipped == []


def test_symlinked_folder_not_followed(tmp_path: Path) -> None:
    make_tree(tmp_path)
    os.symlink(tmp_path / "a", tmp_path / "link_to_a")
    found, _ = find_media([str(tmp_path)])
    assert not any("link_to_a" in f.path for f in found)


def test_media_type_of() -> None:
    assert media_type_of("x.MkV") == MediaType.VIDEO
    assert media_type_of("x.oga") == MediaType.AUDIO
    assert media_type_of("x.JPG") == MediaType.IMAGE
    assert media_type_of("x.srt") is None and media_type_of("noext") is None


def test_file_hash_streams_large_and_empty_files(tmp_path: Path) -> None:
    data = os.urandom(2 * (1 << 20) + 12345)
    big = touch(tmp_path / "big.bin", data)
    assert file_hash(str(big)) == hashlib.sha256(data).hexdigest()
    empty = touch(tmp_path / "empty.bin", b"")
    assert file_hash(str(empty)) == hashlib.sha256(b"").hexdigest()
