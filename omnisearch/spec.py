"""How an index was built: the one record that ingest writes and everything that opens an index reads.

`EncoderRecord` names the vectors' space (encoder name, version, dimension); `IndexSpec` adds what is
needed to embed a query the way the clips were embedded: the model as `--model` accepts it (a registry
name or an absolute model folder) with the folder's content digest, and the segmentation and decode
settings, plus the roots given to `index` (what the server may serve files from). No heavy imports:
models, stores, the planner and the CLI all import it.

Example:
    >>> from omnisearch.config import DecodeConfig, SegmentConfig
    >>> rec = EncoderRecord("omni-lite", "4", 1152)
    >>> spec = IndexSpec(rec, "omni-lite", "", SegmentConfig(), DecodeConfig(frames=4))
    >>> IndexSpec.from_dict(spec.to_dict()) == spec
    True
    >>> settle(spec, frames=None).decode.frames   # an option not given follows the index
    4
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.paths import is_under

SPEC_VERSION = 1


class EncoderMismatchError(RuntimeError):
    """The index was built by another encoder (or other settings) than the ones asked to query or
    extend it."""


@dataclass(frozen=True)
class EncoderRecord:
    """Which encoder built an index: name, version and vector dimension."""

    name: str
    version: str
    dim: int

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EncoderRecord:
        return cls(name=str(d["name"]), version=str(d["version"]), dim=int(d["dim"]))


def _known(cls: type, d: dict) -> dict:
    """The keys of `d` that dataclass `cls` has (a newer release may have written more)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in d.items() if k in names}


@dataclass
class IndexSpec:
    """Everything an index was built with. `model` is what `--model` accepts (a registry name, or an
    absolute folder); `model_digest` is the folder's content digest ("" for a registry name, whose
    version is in `encoder`); `roots`: the absolute paths given to `index`, in first-use order."""

    encoder: EncoderRecord
    model: str
    model_digest: str = ""
    segment: SegmentConfig = field(default_factory=SegmentConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    roots: list[str] = field(default_factory=list)
    version: int = SPEC_VERSION

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "encoder": self.encoder.to_dict(),
            "model": self.model,
            "model_digest": self.model_digest,
            "segment": asdict(self.segment),
            "decode": asdict(self.decode),
            "roots": list(self.roots),
        }

    @classmethod
    def from_dict(cls, d: dict) -> IndexSpec:
        return cls(
            encoder=EncoderRecord.from_dict(d["encoder"]),
            model=str(d.get("model") or d["encoder"]["name"]),
            model_digest=str(d.get("model_digest", "")),
            segment=SegmentConfig(**_known(SegmentConfig, d.get("segment", {}))),
            decode=DecodeConfig(**_known(DecodeConfig, d.get("decode", {}))),
            roots=[str(r) for r in d.get("roots", [])],
            version=int(d.get("version", SPEC_VERSION)),
        )

    def with_roots(self, roots: list[str]) -> IndexSpec:
        """This spec with `roots` added, in first-use order; a root already inside a recorded one (a file
        re-indexed on its own) adds nothing.

        Example:
            >>> s = IndexSpec(EncoderRecord("e", "1", 2), "e", roots=["/a"])
            >>> s.with_roots(["/a/b.mp4", "/c"]).roots
            ['/a', '/c']
        """
        out = list(self.roots)
        for r in roots:
            if not is_under(r, out):
                out.append(r)
        return replace(self, roots=out)

    def model_flags(self) -> str:
        """This index's encoder and settings as command-line options (those that differ from the
        defaults), e.g. `--model omni-lite-tuned --frames 4`."""
        out = [f"--model {self.model}"]
        for name, value, default in _flag_values(self.segment, self.decode):
            if value != default:
                out.append(
                    f"{CLI_FLAGS[name]} {_show(value)}" if name in CLI_FLAGS else f"({name}={_show(value)})"
                )
        return " ".join(out)


CLI_FLAGS = {
    "window": "--window",
    "overlap": "--overlap",
    "frames": "--frames",
    "mode": "--segment",
    "min_len": "--min-len",
    "max_len": "--max-len",
}


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag_values(seg: SegmentConfig, dec: DecodeConfig) -> list[tuple[str, Any, Any]]:
    s0, d0 = SegmentConfig(), DecodeConfig()
    return [
        *((f.name, getattr(seg, f.name), getattr(s0, f.name)) for f in fields(SegmentConfig)),
        *((f.name, getattr(dec, f.name), getattr(d0, f.name)) for f in fields(DecodeConfig)),
    ]


def settle(stored: IndexSpec | None, model: str | None = None, **options: Any) -> IndexSpec:
    """The spec a run uses: every option given (not None) wins, every other one follows the index
    (`stored`), or the defaults for a new index. `options` are SegmentConfig / DecodeConfig field names.
    Raises ValueError for an unknown option or an invalid value. The encoder record is the stored one
    (or a placeholder for a new index: the loaded encoder fills it in)."""
    seg_names = {f.name for f in fields(SegmentConfig)}
    dec_names = {f.name for f in fields(DecodeConfig)}
    unknown = set(options) - seg_names - dec_names
    if unknown:
        raise ValueError(f"unknown index option(s): {', '.join(sorted(unknown))}")
    base = stored or IndexSpec(EncoderRecord("", "", 0), model or "omni-lite")
    given = {k: v for k, v in options.items() if v is not None}
    segment = replace(base.segment, **{k: v for k, v in given.items() if k in seg_names})
    decode = replace(base.decode, **{k: v for k, v in given.items() if k in dec_names})
    return replace(base, model=model or base.model, segment=segment, decode=decode)


def check_encoder(stored: EncoderRecord | None, wanted: EncoderRecord) -> None:
    """Raise EncoderMismatchError when an index built by `stored` is used with `wanted`."""
    if stored is None:
        return
    if stored.name == wanted.name and (stored.version, stored.dim) != (wanted.version, wanted.dim):
        raise EncoderMismatchError(
            f"this index was built by encoder {stored.name!r} v{stored.version} ({stored.dim}-d); this "
            f"release's {wanted.name!r} is v{wanted.version} ({wanted.dim}-d), whose vectors differ. "
            "Re-index: "
            "`omnisearch index PATHS --db NEW_DIR` (or delete the old index folder and index again)."
        )
    if (stored.name, stored.version, stored.dim) != (wanted.name, wanted.version, wanted.dim):
        raise EncoderMismatchError(
            f"this index was built by encoder {stored.name!r} v{stored.version} ({stored.dim}-d) but "
            f"{wanted.name!r} v{wanted.version} ({wanted.dim}-d) was asked for. Leave --model out to use "
            "the index's own encoder, or index into a new --db folder."
        )


def check_spec(stored: IndexSpec | None, wanted: IndexSpec) -> None:
    """Raise EncoderMismatchError when an index built as `stored` is extended as `wanted` (another
    model, another model folder content, or other segmentation / decode settings). The message names
    the stored settings in the form the command line accepts."""
    if stored is None:
        return
    differs = []
    if stored.model != wanted.model:
        differs.append(f"model {stored.model!r}, not {wanted.model!r}")
    elif stored.model_digest != wanted.model_digest:
        differs.append(f"the model folder's content changed since ({stored.model_digest[:12]} then)")
    theirs = {n: v for n, v, _ in _flag_values(wanted.segment, wanted.decode)}
    for name, value, _ in _flag_values(stored.segment, stored.decode):
        if value != theirs[name]:
            differs.append(f"{name} {_show(value)}, not {_show(theirs[name])}")
    if differs:
        raise EncoderMismatchError(
            f"this index was built with {stored.model_flags()} ({'; '.join(differs)}). Leave the option "
            "out to use the index's own settings, or index into a new --db folder."
        )
