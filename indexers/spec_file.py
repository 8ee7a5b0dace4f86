"""The index spec of a folder-based index (LanceDB and its exact-search snapshot) as `index-spec.json`
beside the table, replaced atomically (write, fsync, rename) so a reader sees the old spec or the new.

Example:
    >>> read_spec("/no/such/db") is None
    True
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from omnisearch.spec import IndexSpec

SPEC_NAME = "index-spec.json"


def read_spec(folder: str | Path) -> IndexSpec | None:
    """The spec recorded in `folder`, or None when there is none."""
    try:
        raw = (Path(folder) / SPEC_NAME).read_text()
    except FileNotFoundError:
        return None
    return IndexSpec.from_dict(json.loads(raw))


def write_spec(folder: str | Path, spec: IndexSpec) -> None:
    """Record `spec` in `folder`, atomically."""
    path = Path(folder) / SPEC_NAME
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(spec.to_dict(), f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
