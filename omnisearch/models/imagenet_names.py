"""ImageNet-1k class names, read from the metadata that the `timm` package ships (no committed copy).

timm is installed with `--no-deps` (see the Makefile): only two of its data files are read, through
`importlib.metadata`, so timm itself (and torchvision) is never imported.

- `imagenet_synsets.txt`: the 1000 WordNet ids in the classifier's output order;
- `imagenet_synset_to_lemma.txt`: "n01440764<TAB>tench, Tinca tinca" (synonyms, comma-separated).

Example:
    >>> names = imagenet_lemmas()                       # doctest: +SKIP
    >>> len(names), names[0]                            # doctest: +SKIP
    (1000, ['tench', 'Tinca tinca'])
    >>> class_phrase(["great white shark", "white shark"])
    'great white shark'
"""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata
from pathlib import Path

_INFO = "timm/data/_info/"


def _read(name: str) -> str:
    try:
        dist = metadata.distribution("timm")
    except metadata.PackageNotFoundError as e:
        raise RuntimeError(
            "ImageNet class names come from the PyPI package 'timm' (pip install --no-deps timm)"
        ) from e
    path = dist.locate_file(_INFO + name)
    try:
        return Path(str(path)).read_text(encoding="utf-8")
    except OSError as e:
        raise RuntimeError(f"timm's ImageNet metadata is missing ({path}); reinstall timm") from e


@lru_cache(maxsize=1)
def imagenet_lemmas() -> list[list[str]]:
    """The 1000 classes in output order, each as its list of synonyms (the first is the usual name)."""
    synsets = _read("imagenet_synsets.txt").split()
    lemmas: dict[str, list[str]] = {}
    for line in _read("imagenet_synset_to_lemma.txt").splitlines():
        wnid, _, names = line.partition("\t")
        if wnid:
            lemmas[wnid] = [n.strip() for n in names.split(",") if n.strip()]
    if len(synsets) != 1000 or any(s not in lemmas for s in synsets):
        raise RuntimeError("timm's ImageNet metadata does not list 1000 named classes")
    return [lemmas[s] for s in synsets]


def class_phrase(synonyms: list[str]) -> str:
    """The words a class is named by in the text space: its first synonym (pure)."""
    return synonyms[0].replace("_", " ")
