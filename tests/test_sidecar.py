"""Subtitle parsing (SRT / WebVTT quirks) and sidecar_text for a span."""

from __future__ import annotations

import os
from pathlib import Path

from omnisearch.media.sidecar import Cue, cues_in_span, parse_srt, parse_subtitles, parse_vtt, sidecar_text
from omnisearch.types import Span

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello there.

2
00:00:03,000 --> 00:00:04,000
<i>Second</i> line
continues here

3
01:00:00,000 --> 01:00:01,250
One hour in.
"""

VTT = """WEBVTT - some title
Kind: captions

STYLE
::cue { color: yellow }

NOTE this is a comment
spanning two lines

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Roger>Hello &amp; welcome</v>

00:00:03.000 --> 00:00:04.000
<c.yellow>Second</c> cue

REGION
id:fred width:40%
"""


def test_parse_srt_basic() -> None:
    cues = parse_srt(SRT)
    assert cues == [
        Cue(1.0, 2.5, "Hello there."),
        Cue(3.0, 4.0, "Second line continues here"),
        Cue(3600.0, 3601.25, "One hour in."),
    ]


def test_parse_srt_bom_crlf_and_cr() -> None:
    assert parse_srt("\ufeff" + SRT.replace("\n", "\r\n")) == parse_srt(SRT)
    assert parse_srt(SRT.replace("\n", "\r")) == parse_srt(SRT)


def test_parse_srt_missing_index_and_blank_lines() -> None:
    text = "00:00:01,000 --> 00:00:02,000\nfirst\n2\n00:00:02,000 --> 00:00:03,000\nsecond\n"
    assert parse_srt(text) == [Cue(1.0, 2.0, "first"), Cue(2.0, 3.0, "second")]
    no_index = "00:00:05,000 --> 00:00:06,000\nfive\n\n00:00:01,000 --> 00:00:02,000\none\n"
    assert [c.text for c in parse_srt(no_index)] == ["one", "five"]  # sorted by start


def test_parse_srt_tags_entities_and_garbage() -> None:
    text = (
        "1\n00:00:00,500 --> 00:00:01,000\n{\\an8}<font color='red'>Tom &amp; Jerry</font>\n\n"
        "garbage line\n\n2\nnot a timing line\nstray text\n\n"
        "3\n00:00:02,000 --> 00:00:03,000\n\n"  # empty cue: dropped
        "4\n00:00:04,5 --> 00:00:05,25\n  spaced   out  \n"
    )
    assert parse_srt(text) == [Cue(0.5, 1.0, "Tom & Jerry"), Cue(4.5, 5.25, "spaced out")]


def test_parse_vtt_headers_blocks_and_short_timestamps() -> None:
    cues = parse_vtt(VTT)
    assert cues == [Cue(1.0, 2.5, "Hello & welcome"), Cue(3.0, 4.0, "Second cue")]
    assert parse_vtt("WEBVTT\n\n12:34.567 --> 12:35.000\nx\n") == [Cue(754.567, 755.0, "x")]


def test_parse_empty_and_nonsense() -> None:
    assert parse_subtitles("") == []
    assert parse_subtitles("WEBVTT\n\nNOTE only a note\n") == []
    assert parse_subtitles("\x00\x01 --> nope\n") == []


def test_cues_in_span_end_exclusive() -> None:
    cues = [Cue(0, 2, "a"), Cue(2, 4, "b"), Cue(5, 9, "c")]
    assert [c.text for c in cues_in_span(cues, Span(2.0, 5.0))] == ["b"]
    assert [c.text for c in cues_in_span(cues, Span(1.0, 6.0))] == ["a", "b", "c"]
    assert [c.text for c in cues_in_span(cues, Span(2.0, 2.0))] == ["a", "b"]  # an instant


def test_sidecar_text_combines_and_dedups(tmp_path: Path) -> None:
    (tmp_path / "v.txt").write_text("  A video about\n pancakes.  \n", encoding="utf-8")
    (tmp_path / "v.srt").write_text(SRT, encoding="utf-8")
    (tmp_path / "v.en.vtt").write_text(
        "WEBVTT\n\n00:01.000 --> 00:02.000\nHello there.\n\n00:01.500 --> 00:02.000\nExtra\n",
        encoding="utf-8",
    )
    sidecars = [str(tmp_path / n) for n in ("v.txt", "v.srt", "v.en.vtt", "missing.srt")]
    assert sidecar_text(sidecars, Span(0.0, 10.0)) == (
        "A video about pancakes. Hello there. Second line continues here Extra"
    )
    assert sidecar_text(sidecars, Span(3600.0, 3610.0)) == "A video about pancakes. One hour in."
    assert sidecar_text(sidecars[1:2], Span(10.0, 20.0)) == ""
    assert sidecar_text([], Span(0.0, 1.0)) == ""


def test_sidecar_text_cp1252_and_cache_refresh(tmp_path: Path) -> None:
    path = tmp_path / "x.srt"
    path.write_bytes("1\n00:00:00,000 --> 00:00:01,000\ncaf\xe9\n".encode("cp1252"))
    assert sidecar_text([str(path)], Span(0.0, 1.0)) == "café"
    path.write_text("1\n00:00:00,000 --> 00:00:01,000\nchanged text\n", encoding="utf-8")
    os.utime(path, ns=(1, 10**18))  # force a different mtime even on coarse clocks
    assert sidecar_text([str(path)], Span(0.0, 1.0)) == "changed text"
