"""The model folder's `omnisearch.json`: one typed schema, read and written only here.

A model folder (what `omnisearch train` writes, or a folder a user makes to point at local weights)
holds `omnisearch.json` naming its base encoder and what rebuilds it:
- `encoder` (required): the registry name of the base encoder ("omni-lite", "clip-clap", ...);
- heads (`models.heads`): `alpha`, `dtype`, `heads` (HeadsConfig), `layout` (FeatureLayout), `weights`;
- local weights: `clip`, `clap` (clip-clap towers), `model`, `base` (omniretriever-7b checkpoint and
  the base of its adapter); `clip_adapter`, `clap_adapter` (clip-clap LoRA folders);
- flags: `random_head` (test checkpoints), `beats` (BEATs settings); `name`; `train` (the run's config);
- anything else (e.g. "trained_on", "comparison") is kept as is in `extra`.
Paths may be relative to the folder. A wrong type, a missing "encoder" or a file that is not a JSON
object raises `ModelFolderError` (a ValueError) naming the file and the field.

Example:
    >>> info = ModelFolderInfo.from_dict({"encoder": "clip-clap", "clip": "/m/clip", "note": 1})
    >>> info.clip, info.extra, info.to_dict() == {"encoder": "clip-clap", "clip": "/m/clip", "note": 1}
    ('/m/clip', {'note': 1}, True)
    >>> ModelFolderInfo.from_dict({"encoder": "omni-lite", "alpha": "half"})
    Traceback (most recent call last):
    ...
    omnisearch.models.folder.ModelFolderError: omnisearch.json: "alpha" must be a number, got 'half'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

CONFIG_FILE = "omnisearch.json"
STRINGS = ("name", "dtype", "weights", "model", "base", "clip", "clap", "clip_adapter", "clap_adapter")
OBJECTS = ("heads", "layout", "train", "beats")


class ModelFolderError(ValueError):
    """An `omnisearch.json` that is not what a model folder holds."""


@dataclass
class ModelFolderInfo:
    """The parsed `omnisearch.json` of a model folder (see the module doc); None: not given."""

    encoder: str
    name: str | None = None
    alpha: float | None = None
    dtype: str | None = None
    weights: str | None = None
    heads: dict[str, Any] | None = None
    layout: dict[str, Any] | None = None
    train: dict[str, Any] | None = None
    model: str | None = None
    base: str | None = None
    clip: str | None = None
    clap: str | None = None
    clip_adapter: str | None = None
    clap_adapter: str | None = None
    random_head: bool = False
    beats: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any, where: str = CONFIG_FILE) -> ModelFolderInfo:
        """Check and parse the JSON object of an omnisearch.json (`where` names it in errors)."""
        if not isinstance(data, dict):
            raise ModelFolderError(f"{where}: not a JSON object but {type(data).__name__}")
        encoder = data.get("encoder")
        if not isinstance(encoder, str) or not encoder:
            raise ModelFolderError(f'{where}: no "encoder" (the base encoder\'s registry name)')
        known = {f.name for f in fields(cls)} - {"extra"}
        for key in STRINGS:
            _check(where, key, data.get(key), str, "a string")
        for key in OBJECTS:
            _check(where, key, data.get(key), dict, "an object")
        alpha = data.get("alpha")
        if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, int | float)):
            raise ModelFolderError(f'{where}: "alpha" must be a number, got {alpha!r}')
        _check(where, "random_head", data.get("random_head"), bool, "true or false")
        kw = {k: v for k, v in data.items() if k in known and v is not None}
        return cls(**kw, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (fields left at None / False are left out; `extra` merged in)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None and not (f.name == "random_head" and not value):
                out[f.name] = value
        return {**out, **self.extra}

    def link(self, key: str) -> str | None:
        """The path named by a location field ("model", "base", "clip", "clap", "clip_adapter", ...)."""
        if key not in STRINGS[3:]:
            raise KeyError(f"{key!r} is not a location field of omnisearch.json")
        return getattr(self, key)

    def merged(self, over: ModelFolderInfo) -> ModelFolderInfo:
        """This info with every field `over` sets taken from `over`."""
        return ModelFolderInfo.from_dict({**self.to_dict(), **over.to_dict()})


def _check(where: str, key: str, value: Any, kind: type, what: str) -> None:
    if value is not None and not isinstance(value, kind):
        raise ModelFolderError(f'{where}: "{key}" must be {what}, got {value!r}')


def config_path(path: str | Path) -> Path:
    """The omnisearch.json of a model folder, or `path` itself when it names a .json file (the flat
    STEM.json files the package ships)."""
    p = Path(path)
    return p if p.is_file() else p / CONFIG_FILE


def is_model_folder(path: str | Path) -> bool:
    """True when `path` is a folder holding an omnisearch.json."""
    p = Path(path)
    return p.is_dir() and (p / CONFIG_FILE).is_file()


def read_model_info(path: str | Path | None) -> ModelFolderInfo | None:
    """The parsed omnisearch.json of a model folder (or of a STEM.json); None when there is none.

    Raises ModelFolderError when the file is there but not valid JSON or not a model folder's.
    """
    if path is None:
        return None
    f = config_path(path)
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{f}: not valid JSON ({e})") from e
    return ModelFolderInfo.from_dict(data, where=str(f))


def write_model_info(folder: str | Path, info: ModelFolderInfo, filename: str = CONFIG_FILE) -> Path:
    """Write `info` as folder/filename (sorted keys, 2-space indent): the one writer of model folders."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(json.dumps(info.to_dict(), indent=2, sort_keys=True) + "\n")
    return path
