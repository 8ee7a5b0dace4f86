"""Audio-text benchmark readers for `converters.convert` (clotho, audiocaps, sounddescs).

Layouts (annotation files searched anywhere under the source folder; audio by file name or stem):
- clotho: clotho_captions_evaluation.csv (file_name, caption_1..caption_5); audio in evaluation/
  (e.g. clotho_audio_evaluation/evaluation/<file_name>); a file under a folder named "evaluation" is
  preferred when a name occurs twice. One item per file with its five captions.
- audiocaps: test.csv (audiocap_id, youtube_id, start_time, caption), five rows per clip; rows are
  grouped per (youtube_id, start_time) into one item (id = youtube_id, or youtube_id_start when a
  video has several clips). Audio is looked up as <youtube_id>, Y<youtube_id>, <youtube_id>_<start>,
  Y<youtube_id>_<start>.000_<end>.000, <youtube_id>_<start>_<end> or <audiocap_id> with any audio
  extension. Downloads are normally already cut to the 10 s clip; `cut=True` adds start/end =
  start_time, start_time + 10 for files named by the bare YouTube id (uncut source audio).
- sounddescs: descriptions.pkl (a dict id -> description, as released with the benchmark; loaded with
  an unpickler that refuses anything but plain containers), or descriptions.json / .csv / .tsv
  (id, description); test_list.txt (ids); audio audios/<id>/<id>.wav or <id>.wav (ids are
  lower-case in the release). Values that are lists of token lists (raw-captions.pkl) are joined.

Example:
    >>> captions_from_value([["a", "dog", "barks"]])
    ['a dog barks']
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path
from typing import Any

from omnisearch.eval.converters import Source, read_csv_rows, read_id_list, unique_texts
from omnisearch.eval.manifest import ManifestItem

AUDIOCAPS_CLIP_SECONDS = 10.0


def convert_clotho(src: Source) -> list[ManifestItem]:
    path = src.find_annotation("clotho_captions_evaluation.csv")
    rows = read_csv_rows(path, required=("file_name",))
    items = []
    for row in rows:
        name = row["file_name"]
        texts = unique_texts(v for k, v in row.items() if k.startswith("caption"))
        if not texts:
            src.summary.skip("no captions")
            continue
        audio = src.audios.find(name, prefer="evaluation")
        if audio is None:
            src.summary.missing(name)
            continue
        items.append(ManifestItem(id=Path(name).stem, audio=audio, texts=texts))
    return items


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def convert_audiocaps(src: Source) -> list[ManifestItem]:
    path = src.find_annotation("test.csv")
    rows = read_csv_rows(path, required=("youtube_id", "start_time", "caption"))
    clips: dict[tuple[str, float], dict[str, Any]] = {}
    for row in rows:
        clip = clips.setdefault((row["youtube_id"], _seconds(row["start_time"])), {"texts": [], "ids": []})
        clip["texts"].append(row["caption"])
        if row.get("audiocap_id"):
            clip["ids"].append(row["audiocap_id"])
    starts_per_video: dict[str, int] = {}
    for yt, _ in clips:
        starts_per_video[yt] = starts_per_video.get(yt, 0) + 1
    cut = bool(src.options.get("cut", False))
    items = []
    for (yt, start), clip in clips.items():
        s, e = int(start), int(start + AUDIOCAPS_CLIP_SECONDS)
        named = [
            f"{yt}_{s}",
            f"Y{yt}_{s}",
            f"Y{yt}_{start:.3f}_{start + AUDIOCAPS_CLIP_SECONDS:.3f}",
            f"{yt}_{s}_{e}",
            f"{yt}_{start:.3f}_{start + AUDIOCAPS_CLIP_SECONDS:.3f}",
            *clip["ids"],
        ]
        audio = src.audios.find(*named)
        whole = audio is None
        if whole:
            audio = src.audios.find(yt, f"Y{yt}")
        if audio is None:
            src.summary.missing(f"{yt} @ {start:g}s")
            continue
        items.append(
            ManifestItem(
                id=yt if starts_per_video[yt] == 1 else f"{yt}_{s}",
                audio=audio,
                texts=unique_texts(clip["texts"]),
                start=start if cut and whole else None,
                end=start + AUDIOCAPS_CLIP_SECONDS if cut and whole else None,
            )
        )
    return items


class _PlainUnpickler(pickle.Unpickler):
    """Loads only built-in containers and scalars; any class reference is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: save the descriptions as a plain dict or as JSON/CSV"
        )


def captions_from_value(value: Any) -> list[str]:
    """A description value -> captions: a string, a list of strings, or a list of token lists."""
    if isinstance(value, str):
        return unique_texts([value])
    if isinstance(value, list | tuple):
        out = []
        for v in value:
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, list | tuple) and all(isinstance(t, str) for t in v):
                out.append(" ".join(v))
        return unique_texts(out)
    return []


def _read_descriptions(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        with open(path, "rb") as f:
            data = _PlainUnpickler(f).load()
    elif suffix == ".json":
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    else:
        with open(path, encoding="utf-8-sig", newline="") as f:
            sample = f.read(4096)
            f.seek(0)
            delimiter = "\t" if "\t" in sample.splitlines()[0] else ","
            rows = list(csv.reader(f, delimiter=delimiter))
        if rows and rows[0] and rows[0][0].strip().lower() in ("id", "filename", "file_name"):
            rows = rows[1:]
        data = {}
        for r in rows:
            if len(r) >= 2:
                data.setdefault(r[0].strip(), []).append(r[1])
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping id -> description, got {type(data).__name__}")
    return {str(k): v for k, v in data.items()}


def convert_sounddescs(src: Source) -> list[ManifestItem]:
    path = src.find_annotation(
        "descriptions.pkl", "descriptions.json", "descriptions.csv", "descriptions.tsv"
    )
    descriptions = _read_descriptions(path)
    lower = {k.lower(): k for k in descriptions}
    split = src.split("test_list.txt")
    if split is None:
        src.summary.notes.append("no test list found: all described sounds used")
        ids = list(descriptions)
    else:
        ids = read_id_list(split)
    items = []
    for sid in dict.fromkeys(ids):
        key = sid if sid in descriptions else lower.get(sid.lower())
        texts = captions_from_value(descriptions.get(key)) if key is not None else []
        if not texts:
            src.summary.skip("no description")
            continue
        audio = src.audios.find(sid, sid.lower())
        if audio is None:
            src.summary.missing(sid)
            continue
        items.append(ManifestItem(id=sid, audio=audio, texts=texts))
    return items
