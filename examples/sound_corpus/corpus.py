"""Corpus rows, the split by source package and by label, the manifests and the counts report.

- `make_row`: one labelled sound -> a row (id, audio path, caption, category, source, license, seconds);
- `cap_per_category`: at most N rows per (source, category), chosen by a hash (the same on every run);
- `split_rows`: each source package goes wholly to one split (`roles`; no test sound shares a package
  with a training sound), and a held-out share of the categories is removed from train and val, so the
  test split also holds labels no training sound has (`heldout_labels`);
- `manifest_rows`: rows in the repo's manifest format (id, audio, text, group = category, start/end);
- `report`: counts per category, source and license, as a dict and as markdown.

Example:
    >>> rows = [make_row("src", "a/dog_1.ogg", "dog", "a dog barking", "CC0", 2.0)]
    >>> manifest_rows(rows)[0]["group"]
    'dog'
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAX_SECONDS = 10.0
SPLITS = ("train", "val", "test")


def _h(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


def make_row(source: str, audio: str, category: str, caption: str, license: str, seconds: float) -> dict:
    """One corpus row; `audio` is relative to the manifests' folder."""
    rid = f"{source}:{audio.rsplit('/', 1)[-1]}:{_h(audio) % 10**6:06d}"
    return {"id": rid, "audio": audio, "category": category, "caption": caption, "source": source,
            "license": license, "seconds": round(seconds, 3)}  # fmt: skip


def cap_per_category(rows: Iterable[dict], cap: int) -> list[dict]:
    """At most `cap` rows per (source, category), the ones with the smallest hash of their id."""
    by: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        by[(r["source"], r["category"])].append(r)
    out = []
    for key in sorted(by):
        out += sorted(by[key], key=lambda r: _h(r["id"]))[:cap]
    return out


def heldout_labels(categories: Iterable[str], share: float, seed: int = 0) -> set[str]:
    """A deterministic `share` of the categories, by hash of (seed, name)."""
    return {c for c in set(categories) if _h(f"{seed}:{c}") % 1000 < share * 1000}


def split_rows(
    rows: Sequence[dict], roles: Mapping[str, str], label_share: float = 0.15, seed: int = 0
) -> dict[str, list[dict]]:
    """{train, val, test}: whole sources by `roles` (a source without a role goes to train); the held-out
    labels (of the test split's categories) are dropped from train and val."""
    bad = {s for s in roles.values() if s not in SPLITS}
    if bad:
        raise ValueError(f"unknown split(s) {sorted(bad)}; use {SPLITS}")
    out: dict[str, list[dict]] = {s: [] for s in SPLITS}
    for r in rows:
        out[roles.get(r["source"], "train")].append(r)
    held = heldout_labels((r["category"] for r in out["test"]), label_share, seed)
    for s in ("train", "val"):
        out[s] = [r for r in out[s] if r["category"] not in held]
    return out


def manifest_rows(rows: Sequence[dict]) -> list[dict[str, Any]]:
    """Rows in the manifest format (docs/benchmark-format.md): the caption as text, category as group;
    a sound longer than MAX_SECONDS is cut to its first MAX_SECONDS."""
    out = []
    for r in rows:
        m: dict[str, Any] = {"id": r["id"], "audio": r["audio"], "text": r["caption"], "group": r["category"]}
        if r["seconds"] > MAX_SECONDS:
            m["start"], m["end"] = 0.0, MAX_SECONDS
        out.append(m)
    return out


def report(splits: Mapping[str, Sequence[dict]], seen: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Counts per split, category (with caption and family), source and license; `seen`: sound files
    found per source before labelling (to show what was left out)."""
    rows = [r for s in SPLITS for r in splits.get(s, [])]
    split_of = {r["id"]: s for s in SPLITS for r in splits.get(s, [])}
    cats: dict[str, dict[str, Any]] = {}
    for r in rows:
        c = cats.setdefault(r["category"], {"caption": r["caption"], **{s: 0 for s in SPLITS}})
        c[split_of[r["id"]]] += 1
    train_cats = {r["category"] for r in splits.get("train", [])}
    test_cats = {r["category"] for r in splits.get("test", [])}
    sources: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = sources.setdefault(r["source"], {"split": split_of[r["id"]], "kept": 0, "licenses": Counter()})
        s["kept"] += 1
        s["licenses"][r["license"]] += 1
    for name, n in (seen or {}).items():
        sources.setdefault(name, {"split": "-", "kept": 0, "licenses": Counter()})["files"] = n
    return {
        "splits": {s: len(splits.get(s, [])) for s in SPLITS},
        "categories": dict(sorted(cats.items())),
        "test_categories_seen_in_train": len(test_cats & train_cats),
        "test_categories_unseen": sorted(test_cats - train_cats),
        "sources": {k: {**v, "licenses": dict(v["licenses"])} for k, v in sorted(sources.items())},
        "licenses": dict(Counter(r["license"] for r in rows).most_common()),
    }


def report_markdown(rep: Mapping[str, Any]) -> str:
    """The report as markdown tables."""
    lines = ["# Sound corpus", "", "| split | sounds |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in rep["splits"].items()]
    lines += ["", "| source | split | sound files | kept | licenses |", "|---|---|---|---|---|"]
    for name, s in rep["sources"].items():
        lic = ", ".join(f"{k} ({v})" for k, v in s["licenses"].items())
        lines.append(f"| {name} | {s['split']} | {s.get('files', '')} | {s['kept']} | {lic} |")
    lines += ["", "| license | sounds |", "|---|---|"] + [
        f"| {k} | {v} |" for k, v in rep["licenses"].items()
    ]
    unseen = ", ".join(rep["test_categories_unseen"]) or "none"
    lines += ["", f"Test categories also in train: {rep['test_categories_seen_in_train']}; unseen: {unseen}"]
    lines += ["", "| category | caption | train | val | test |", "|---|---|---|---|---|"]
    for name, c in rep["categories"].items():
        lines.append(f"| {name} | {c['caption']} | {c['train']} | {c['val']} | {c['test']} |")
    return "\n".join(lines) + "\n"
