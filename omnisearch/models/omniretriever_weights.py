"""Reading an OmniRetriever checkpoint's files: config.json, the classify_linear head, the BEATs branch.

Example:
    >>> weight_files("/models/WAVE-7B")[:1]                     # doctest: +SKIP
    [PosixPath('/models/WAVE-7B/model-00001-of-00005.safetensors')]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from omnisearch.models.batching import hub_kwargs

HEAD_FILE = "head.safetensors"


def config_json(location: str) -> dict:
    """config.json of a local folder or of a hub id already in the local cache."""
    p = Path(location)
    if p.is_dir():
        return json.loads((p / "config.json").read_text())
    from huggingface_hub import hf_hub_download

    return json.loads(Path(hf_hub_download(location, "config.json", **hub_kwargs())).read_text())


def thinker_config(cfg: dict) -> dict:
    return cfg.get("thinker_config", cfg)  # a full Qwen2.5-Omni config nests the thinker's


def head_tensors(files: Sequence[Path]) -> dict[str, object] | None:
    """`classify_linear` tensors of the first safetensors file that has them, keyed '<index>.<param>'
    (PEFT's modules_to_save wrappers removed; a trained copy wins over original_module)."""
    from safetensors import safe_open

    for f in files:
        if not f.is_file():
            continue
        with safe_open(str(f), framework="pt") as sf:
            keys = [k for k in sf.keys() if "classify_linear." in k]
            if not keys:
                continue
            out: dict[str, object] = {}
            for k in sorted(
                keys, key=lambda k: "original_module." not in k
            ):  # originals first, then override
                short = k.split("classify_linear.", 1)[1]
                short = short.replace("modules_to_save.default.", "").replace("original_module.", "")
                out[short] = sf.get_tensor(k)
            return out
    return None


def weight_files(folder: str | Path) -> list[Path]:
    """The safetensors files of a local model folder (shards in index order)."""
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        shards = dict.fromkeys(json.loads(index.read_text())["weight_map"].values())
        return [folder / s for s in shards]
    return sorted(folder.glob("*.safetensors"))


def beats_state(files: Sequence[Path]) -> dict[str, object]:
    """The BEATs branch's tensors (beats.*, beats_ln.*, beats_proj.*; see beats.branch_state) of the
    existing files, later files overriding earlier ones (base shards, then the adapter)."""
    from safetensors import safe_open

    from omnisearch.models.beats import BRANCH_KEY, branch_state

    state: dict[str, object] = {}
    for f in files:
        if f.is_file():
            with safe_open(str(f), framework="pt") as sf:
                state.update(branch_state({k: sf.get_tensor(k) for k in sf.keys() if BRANCH_KEY.search(k)}))
    return state
