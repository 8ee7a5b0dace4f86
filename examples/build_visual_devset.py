"""Build the visual dev set: labelled pictures from Debian's `openclipart-png` package, as manifests.

    apt-get install openclipart-png            # Debian's Open Clip Art Library (public domain)
    python examples/build_visual_devset.py vis  # -> vis/dev.jsonl, vis/test.jsonl, vis/images/...
    omnisearch eval vis/test.jsonl --directions t2v,v2t

Labels come from the package's own folder names (`food/fruit/...` -> "fruit"); no file is labelled
by hand. Each category keeps up to PER_CATEGORY pictures, split by a hash of the file name into a
`dev` half (for tuning) and a `test` half (for reporting). Items carry `group` = category, so every
picture of a category is relevant to its caption (the manifest format's class-labelled sets).
Pictures are flattened onto white and scaled to at most 320 px.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

ROOT = Path("/usr/share/openclipart/png")
PER_CATEGORY = 10

# folder under ROOT -> caption (the folder's own name, made into a short description)
CATEGORIES: dict[str, str] = {
    "animals/birds": "a bird",
    "animals/bugs": "an insect",
    "animals/dinosaurs": "a dinosaur",
    "animals/fish": "a fish",
    "animals/mammals/bears": "a bear",
    "animals/mammals/big_cats": "a big cat, a lion or a tiger",
    "animals/mammals/horses": "a horse",
    "animals/mammals/housecats": "a cat",
    "buildings/furniture": "furniture",
    "buildings/homes": "a house",
    "computer/hardware": "computer hardware",
    "education/books": "a book",
    "electronics/bulb": "a light bulb",
    "food/beverages": "a drink",
    "food/beverages/alcohol": "a bottle of wine or beer",
    "food/breads_and_carbs": "bread",
    "food/desserts": "a dessert, a cake",
    "food/fruit": "fruit",
    "food/meats_and_eggs": "meat and eggs",
    "food/vegetables": "vegetables",
    "geography/astronomy": "a planet in space",
    "office/telephone": "a telephone",
    "people/clothing/hats": "a hat",
    "people": "a person",
    "plants/flowers": "a flower",
    "plants/trees": "a tree",
    "recreation/games/chess": "chess pieces",
    "recreation/music": "a musical instrument",
    "recreation/sports": "sports",
    "recreation/toys": "a toy",
    "signs_and_symbols/clocks": "a clock",
    "signs_and_symbols/flags": "a flag",
    "signs_and_symbols/money": "money",
    "tools": "a tool",
    "tools/weapons": "a weapon",
    "transportation/boating": "a boat",
    "transportation/vehicles": "a car, a vehicle",
}


def _rank(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


def _flatten(src: Path, dst: Path, size: int = 320) -> None:
    from PIL import Image

    with Image.open(src) as img:
        img = img.convert("RGBA")
        img.thumbnail((size, size))
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        Image.alpha_composite(white, img).convert("RGB").save(dst)


def build(out: Path, root: Path = ROOT, per_category: int = PER_CATEGORY) -> dict[str, int]:
    """Write out/images/... and out/{dev,test}.jsonl; returns the item count per split."""
    if not root.is_dir():
        raise SystemExit(f"{root} not found: apt-get install openclipart-png")
    splits: dict[str, list[dict]] = {"dev": [], "test": []}
    for folder, caption in CATEGORIES.items():
        files = sorted((root / folder).glob("*.png"), key=lambda p: _rank(p.name))[:per_category]
        group = folder.replace("/", "_")
        for i, src in enumerate(files):
            split = "dev" if i % 2 == 0 else "test"
            rel = Path("images") / group / src.name
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            if not (out / rel).exists():
                _flatten(src, out / rel)
            splits[split].append({"id": f"{group}-{i}", "image": str(rel), "text": caption, "group": group})
    for split, items in splits.items():
        with open(out / f"{split}.jsonl", "w") as f:
            f.writelines(json.dumps(it) + "\n" for it in items)
    return {k: len(v) for k, v in splits.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-category", type=int, default=PER_CATEGORY)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    counts = build(args.out, per_category=args.per_category)
    print(f"{len(CATEGORIES)} categories; " + ", ".join(f"{k}: {v} items" for k, v in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
