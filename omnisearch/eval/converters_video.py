"""Video-text benchmark readers for `converters.convert` (msrvtt, msvd, didemo, vatex, omnibench).

Layouts (file names are searched anywhere under the source folder; media by name or stem):
- msrvtt: MSRVTT_JSFUSION_test.csv (key,vid_key,video_id,sentence; the 1k-A test split, one
  caption per video) and videos/all/<video_id>.mp4.
- msvd: captions as "<clip> <caption>" lines (AllVideoDescriptionDataEnglish.txt, annotations.txt,
  captions.txt) or the original "MSR Video Description Corpus.csv" (English rows; clip =
  VideoID_Start_End); test_list.txt (clip names, or vidN names with youtube_mapping.txt); videos
  YouTubeClips/<clip>.avi. Without a test list every captioned clip is used (noted in the summary).
- didemo: test_data.json, a list of {"video", "description", "times", ...}; whole-video paragraph
  retrieval: one item per video whose caption is its descriptions joined in file order. Videos are
  matched by name, by stem, or as <name>.<ext> (e.g. x.mov.mp4).
- vatex: vatex_public_test_english_v1.1.json or vatex_validation_v1.0.json, a list of
  {"videoID": "<youtube id>_<start 6 digits>_<end 6 digits>", "enCap": [...]}. A clip file named by
  the videoID is used whole; otherwise a file named by the YouTube id is cut with start/end.
- omnibench (OmniRetriever-Bench, github yunzeliu/Omni-Retriever docs/benchmark.md):
  manifests/omniretriever_bench.jsonl with records {id, text, video, audio} and videos/ holding .mp4
  files with their audio muxed in (some copies also have a .wav per clip). Paths are tried relative to
  the JSONL folder, the benchmark root (above manifests/), its parent (records like
  "benchmark/videos/x.mp4") and src, then by file name under media_dir. An audio path naming the video
  file itself is dropped (the video's own track is the audio). Assumed, not seen: the Hub's
  OmniRetriever-Bench.csv (source URLs + clip intervals) is read with columns guessed from
  id/clip_id/video_id, text/caption/description, video/video_path/file_name, start/end; clips are
  looked up as files named by the video column or by the id; `cut=True` adds start/end (for uncut
  source videos).

Example:
    >>> parse_vatex_id("Ptf_2VRj-V0_000122_000132")
    ('Ptf_2VRj-V0', 122.0, 132.0)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from omnisearch.eval.converters import Source, read_csv_rows, read_id_list, unique_texts
from omnisearch.eval.manifest import ManifestItem


def _video_items(src: Source, captions: dict[str, list[str]]) -> list[ManifestItem]:
    items = []
    for vid, texts in captions.items():
        path = src.videos.find(vid)
        if path is None:
            src.summary.missing(vid)
            continue
        items.append(ManifestItem(id=vid, video=path, texts=unique_texts(texts)))
    return items


def convert_msrvtt(src: Source) -> list[ManifestItem]:
    path = src.find_annotation("MSRVTT_JSFUSION_test.csv")
    captions: dict[str, list[str]] = {}
    for row in read_csv_rows(path, required=("video_id", "sentence")):
        captions.setdefault(row["video_id"], []).append(row["sentence"])
    return _video_items(src, captions)


def _msvd_captions(path: Path) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    if path.suffix.lower() == ".csv":
        for row in read_csv_rows(path, required=("VideoID", "Start", "End", "Description")):
            if row.get("Language", "English") == "English" and row["Description"]:
                captions.setdefault(f"{row['VideoID']}_{row['Start']}_{row['End']}", []).append(
                    row["Description"]
                )
        return captions
    with open(path, encoding="utf-8-sig") as f:
        for line in f:
            parts = line.strip().split(maxsplit=1)
            if len(parts) == 2:
                captions.setdefault(parts[0], []).append(parts[1])
    return captions


def convert_msvd(src: Source) -> list[ManifestItem]:
    path = src.find_annotation(
        "AllVideoDescriptionDataEnglish.txt",
        "annotations.txt",
        "captions.txt",
        "MSR Video Description Corpus.csv",
    )
    captions = _msvd_captions(path)
    mapping_file = src.find_optional("youtube_mapping.txt")
    mapping: dict[str, str] = {}
    if mapping_file is not None:
        with open(mapping_file, encoding="utf-8-sig") as f:
            mapping = {p[1]: p[0] for p in (line.split() for line in f) if len(p) == 2}
    norm = {}
    for vid, texts in captions.items():
        norm.setdefault(mapping.get(vid, vid), []).extend(texts)
    split = src.split("test_list.txt")
    if split is None:
        src.summary.notes.append("no test list found: all captioned clips used")
        return _video_items(src, norm)
    keep = [mapping.get(v, v) for v in read_id_list(split)]
    src.summary.skip("no captions", sum(1 for v in keep if v not in norm))
    return _video_items(src, {v: norm[v] for v in dict.fromkeys(keep) if v in norm})


def convert_didemo(src: Source) -> list[ManifestItem]:
    path = src.find_annotation("test_data.json")
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    paragraphs: dict[str, list[str]] = {}
    for rec in records:
        video, text = rec.get("video"), rec.get("description")
        if video and isinstance(text, str) and text.strip():
            paragraphs.setdefault(video, []).append(text.strip())
    keep = set(read_id_list(src.split_file)) if src.split_file else None
    items = []
    for video, texts in paragraphs.items():
        stem = Path(video).stem
        if keep is not None and video not in keep and stem not in keep:
            continue
        media = src.videos.find(video, stem)
        if media is None:
            src.summary.missing(video)
            continue
        items.append(ManifestItem(id=stem, video=media, texts=[" ".join(texts)]))
    return items


def parse_vatex_id(video_id: str) -> tuple[str, float, float]:
    """'<youtube id>_<start>_<end>' -> (youtube id, start s, end s); YouTube ids may hold '_'."""
    yt, start, end = video_id.rsplit("_", 2)
    return yt, float(int(start)), float(int(end))


def convert_vatex(src: Source) -> list[ManifestItem]:
    path = src.find_annotation("vatex_public_test_english_v1.1.json", "vatex_validation_v1.0.json")
    with open(path, encoding="utf-8") as f:
        records = json.load(f)
    keep = set(read_id_list(src.split_file)) if src.split_file else None
    items = []
    for rec in records:
        vid = rec.get("videoID", "")
        if keep is not None and vid not in keep:
            continue
        texts = unique_texts(rec.get("enCap") or [])
        if not texts:
            src.summary.skip("no English captions")
            continue
        clip = src.videos.find(vid)
        if clip is not None:
            items.append(ManifestItem(id=vid, video=clip, texts=texts))
            continue
        try:
            yt, start, end = parse_vatex_id(vid)
        except ValueError:
            src.summary.skip("unparsable videoID")
            continue
        full = src.videos.find(yt)
        if full is None:
            src.summary.missing(vid)
            continue
        items.append(ManifestItem(id=vid, video=full, texts=texts, start=start, end=end))
    return items


def _first(row: dict[str, Any], *names: str) -> Any:
    return next((row[n] for n in names if row.get(n) not in (None, "")), None)


def _resolve(src: Source, raw: Any, bases: list[Path]) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    p = Path(raw.strip())
    for cand in [p] if p.is_absolute() else [b / p for b in bases]:
        if cand.is_file():
            return str(cand.absolute())
    return src.videos.find(p.name) or src.audios.find(p.name)


def _omnibench_csv(src: Source, path: Path) -> list[ManifestItem]:
    items = []
    cut = bool(src.options.get("cut", False))
    for n, row in enumerate(read_csv_rows(path)):
        item_id = str(_first(row, "id", "clip_id", "video_id", "uid") or f"{n:05d}")
        video_col = _first(row, "video", "video_path", "file_name", "filename", "file", "path")
        video = src.videos.find(*(x for x in (video_col and Path(video_col).name, item_id) if x))
        if video is None:
            src.summary.missing(video_col or item_id)
            continue
        start, end = (
            _first(row, "start", "start_time", "clip_start"),
            _first(row, "end", "end_time", "clip_end"),
        )
        text = _first(row, "text", "caption", "description", "sentence")
        items.append(
            ManifestItem(
                id=item_id,
                video=video,
                texts=unique_texts([text] if text else []),
                start=float(start) if cut and start is not None else None,
                end=float(end) if cut and end is not None else None,
            )
        )
    return items


def convert_omnibench(src: Source) -> list[ManifestItem]:
    path = src.find_annotation(
        "omniretriever_bench.jsonl", "omniretriever_bench_final.jsonl", "OmniRetriever-Bench.csv"
    )
    if path.suffix.lower() == ".csv":
        return _omnibench_csv(src, path)
    folder = path.parent.absolute()
    root = folder.parent if folder.name == "manifests" else folder
    bases = list(dict.fromkeys([folder, root, root.parent, src.root.absolute()]))
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            rec = json.loads(line)
            item_id = str(rec.get("id", f"{n:05d}"))
            text = rec.get("text") or rec.get("caption") or []
            texts = unique_texts([text] if isinstance(text, str) else text)
            video_raw, audio_raw = rec.get("video"), rec.get("audio")
            video, audio = _resolve(src, video_raw, bases), _resolve(src, audio_raw, bases)
            if (video_raw and video is None) or (audio_raw and audio is None):
                src.summary.missing(str(video_raw if video_raw and video is None else audio_raw))
                continue
            if audio is not None and video is not None and Path(audio).resolve() == Path(video).resolve():
                audio = None
            if video is None and audio is None and not texts:
                src.summary.skip("empty record")
                continue
            items.append(ManifestItem(id=item_id, video=video, audio=audio, texts=texts))
    return items
