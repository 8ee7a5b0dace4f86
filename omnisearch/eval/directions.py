"""The 12 OmniRetriever-Bench directions as data, and what to embed for each side of them.

A *side* is a set of modalities, named "t", "v", "a" (single) or "av", "tv", "at" (dual). The vector
that represents a side is that modality's vector for a single side, and the FUSED vector of an
input holding exactly those two modalities (the third absent) for a dual side.

What is embedded for a side is a list of `Unit`s, each keyed `(item_id, caption)`:
- side "t": one unit per distinct caption string, item_id "" (identical captions are one query /
  one target, owned by every item that has that caption);
- a dual side with text ("tv", "at"): one unit per (item, caption) pair;
- a side without text ("v", "a", "av"): one unit per item, caption "".
Unit vectors do not depend on the direction, so one embedding pass over `plan(...)` serves all 12.

Example:
    >>> DIRECTIONS["t2av"].query == frozenset({Modality.TEXT})
    True
    >>> side_name(DIRECTIONS["t2av"].target), DIRECTIONS["t2av"].kind
    ('av', 'dual')
    >>> vector_modality(DIRECTIONS["a2t"].query).value, vector_modality(SIDES["at"]).value
    ('audio', 'fused')
    >>> from omnisearch.eval.manifest import ManifestItem
    >>> items = [ManifestItem("c1", texts=["a dog", "dog barks"]), ManifestItem("c2", texts=["a dog"])]
    >>> [u.key for u in side_units(items, SIDES["t"], [0, 1])]
    [('', 'a dog'), ('', 'dog barks')]
    >>> side_units(items, SIDES["t"], [0, 1])[0].owners
    (0, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from omnisearch.types import Modality

if TYPE_CHECKING:
    from omnisearch.eval.manifest import ManifestItem

T, V, A = Modality.TEXT, Modality.VIDEO, Modality.AUDIO

Side = frozenset[Modality]
UnitKey = tuple[str, str]

SIDES: dict[str, Side] = {
    "t": frozenset({T}),
    "v": frozenset({V}),
    "a": frozenset({A}),
    "av": frozenset({A, V}),
    "tv": frozenset({T, V}),
    "at": frozenset({A, T}),
}
_SIDE_NAMES: dict[Side, str] = {mods: name for name, mods in SIDES.items()}


@dataclass(frozen=True)
class Direction:
    """A retrieval direction: query side -> target side; kind is "single" or "dual"."""

    name: str
    query: Side
    target: Side
    kind: str

    @property
    def needs(self) -> Side:
        """Every modality an item must have to take part in this direction."""
        return self.query | self.target


def _direction(name: str, kind: str) -> Direction:
    q, t = name.split("2")
    return Direction(name, SIDES[q], SIDES[t], kind)


SINGLE: tuple[str, ...] = ("t2v", "v2t", "t2a", "a2t", "v2a", "a2v")
DUAL: tuple[str, ...] = ("t2av", "av2t", "a2tv", "tv2a", "v2at", "at2v")
ALL: tuple[str, ...] = SINGLE + DUAL
DIRECTIONS: dict[str, Direction] = {
    name: _direction(name, "single" if name in SINGLE else "dual") for name in ALL
}


def side_name(side: Iterable[Modality]) -> str:
    """Canonical name of a side: 't', 'v', 'a', 'av', 'tv' or 'at'."""
    key = frozenset(side)
    if key not in _SIDE_NAMES:
        raise ValueError(f"not a retrieval side: {sorted(m.value for m in key)}")
    return _SIDE_NAMES[key]


def vector_modality(side: Iterable[Modality]) -> Modality:
    """Which `Embedding.vectors` entry represents a side: the modality itself, or FUSED for two."""
    mods = frozenset(side)
    side_name(mods)
    return next(iter(mods)) if len(mods) == 1 else Modality.FUSED


def resolve(directions: Iterable[str] | None = None) -> list[Direction]:
    """Directions by name in canonical order (all 12 by default); unknown names raise ValueError."""
    names = list(ALL if directions is None else directions)
    unknown = [n for n in names if n not in DIRECTIONS]
    if unknown:
        raise ValueError(f"unknown direction(s) {unknown}; known: {', '.join(ALL)}")
    return [DIRECTIONS[n] for n in ALL if n in names]


@dataclass(frozen=True)
class Unit:
    """One thing to embed for a side. key = (item_id, caption); owners = indices of the items it
    stands for (several only for a collapsed caption on the text side)."""

    key: UnitKey
    owners: tuple[int, ...]

    @property
    def item_index(self) -> int:
        """The item whose media goes into the input (the first owner)."""
        return self.owners[0]

    @property
    def text(self) -> str | None:
        return self.key[1] or None


def side_units(
    items: Sequence[ManifestItem], side: Iterable[Modality], eligible: Iterable[int]
) -> list[Unit]:
    """The units of one side over the items at indices `eligible` (items must have the side's
    modalities; this function does not check), in item order."""
    mods = frozenset(side)
    side_name(mods)
    if mods == SIDES["t"]:
        owners: dict[str, list[int]] = {}
        for i in eligible:
            for caption in items[i].texts:
                owners.setdefault(caption, []).append(i)
        return [Unit(("", c), tuple(dict.fromkeys(o))) for c, o in owners.items()]
    if T in mods:
        return [Unit((items[i].id, c), (i,)) for i in eligible for c in items[i].texts]
    return [Unit((items[i].id, ""), (i,)) for i in eligible]


def eligible_items(modalities: Sequence[frozenset[Modality]], direction: Direction) -> list[int]:
    """Indices of the items having every modality the direction needs."""
    return [i for i, mods in enumerate(modalities) if direction.needs <= mods]


def plan(
    items: Sequence[ManifestItem],
    modalities: Sequence[frozenset[Modality]],
    directions: Iterable[str] | None = None,
) -> dict[str, list[Unit]]:
    """What to embed: side name -> units, covering every unit the given directions will look up.

    For a side, a unit comes from each item having that side's modalities and taking part in at least
    one of the directions that use the side. Encode unit u of side s as an `EncoderInput` holding
    u.text if "t" is in s, and the frames / audio of items[u.item_index] for "v" / "a"; store
    `embedding.vectors[vector_modality(SIDES[s])]` under vectors[s][u.key].
    """
    if len(items) != len(modalities):
        raise ValueError(f"{len(items)} items but {len(modalities)} modality sets")
    wanted: dict[str, set[int]] = {}
    for d in resolve(directions):
        idx = eligible_items(modalities, d)
        for side in (d.query, d.target):
            wanted.setdefault(side_name(side), set()).update(idx)
    return {name: side_units(items, SIDES[name], sorted(idx)) for name, idx in wanted.items() if idx}
