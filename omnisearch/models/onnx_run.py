"""Packaged torch networks run by onnxruntime on the CPU: exported to ONNX once, then cached.

On 2 CPU cores onnxruntime runs EfficientNet-Lite0 about 4x faster than eager torch (10-13 against
56 ms a frame) and the aisfx CNN about 1.5x faster, to float rounding (features within 1e-5). The
export needs the `onnx` package and takes a few seconds the first time; the file is kept in
`cache_dir()` under a digest of the weight files, the network's code and the exporting torch, so a
changed network is exported again. A cached network loads without importing torch. When the export
is impossible the caller keeps eager torch (`cpu_session` gives None).

Example:
    >>> build = lambda: (net, torch.zeros(1, 100, 96))                       # doctest: +SKIP
    >>> sess = cpu_session("aisfx", [weights], ["aisfx 0.1.2"], build)       # doctest: +SKIP
    >>> sess.run(np.zeros((4, 100, 96), np.float32))[0].shape                # doctest: +SKIP
    (4, 512)
    >>> session_threads({"OMP_NUM_THREADS": "2"})
    2
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

EXPORT_VERSION = 1  # bump when the export settings below change


def cache_dir() -> Path:
    """Where exported networks are kept: $OMNISEARCH_CACHE/onnx, else ~/.cache/omnisearch/onnx."""
    root = os.environ.get("OMNISEARCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "omnisearch")
    return Path(root) / "onnx"


def session_threads(env: Mapping[str, str] = os.environ) -> int:
    """onnxruntime's intra-op threads: OMP_NUM_THREADS when set (0: onnxruntime's own choice)."""
    try:
        return max(0, int(env.get("OMP_NUM_THREADS", "0") or 0))
    except ValueError:
        return 0


_FILE_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: str) -> str:
    """sha256 of a file's bytes, remembered per (path, size, mtime) in this process."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _FILE_DIGESTS[key] = h.hexdigest()
    return _FILE_DIGESTS[key]


def export_key(name: str, weights: Sequence[str], code: Sequence[str]) -> str:
    """What an export depends on: the weight files' bytes, the code that builds the network (package
    versions, given by the caller), the exporting torch and these export settings."""
    h = hashlib.sha256(f"{name}|{EXPORT_VERSION}|{version('torch')}|{'|'.join(code)}".encode())
    for w in weights:
        h.update(file_digest(w).encode())
    return h.hexdigest()[:20]


class OnnxNet:
    """An onnxruntime session over one exported network: `run(x)` -> its outputs as numpy arrays."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = session_threads()
        opts.inter_op_num_threads = 1
        # no busy-waiting between calls: on a few cores it would take CPU from the decoders
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.path = path

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)})


def _outputs(module: Any, example: Any) -> list[np.ndarray]:
    import torch

    with torch.no_grad():
        out = module(example)
    return [t.detach().float().cpu().numpy() for t in (out if isinstance(out, tuple | list) else (out,))]


def export(module: Any, example: Any, path: Path) -> OnnxNet:
    """Write `module` (eval mode, batch axis 0 dynamic) as ONNX to `path`, atomically, once onnxruntime
    has loaded it and given the module's own outputs on `example` (ValueError otherwise); returns that
    session."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                (example,),
                str(tmp),
                dynamo=False,
                input_names=["x"],
                dynamic_axes={"x": {0: "batch"}},
            )
        net = OnnxNet(tmp)
        got, want = net.run(example.numpy()), _outputs(module, example)
        if len(got) != len(want) or not all(
            np.allclose(g, w, atol=1e-4) for g, w in zip(got, want, strict=False)
        ):
            raise ValueError("the exported network does not give the module's outputs")
        os.replace(tmp, path)  # concurrent processes: each writes its own file, the last rename wins
        net.path = path
        return net
    finally:
        tmp.unlink(missing_ok=True)


def cpu_session(
    name: str, weights: Sequence[str], code: Sequence[str], build: Callable[[], tuple[Any, Any]]
) -> OnnxNet | None:
    """The cached ONNX session of a network, or None when it cannot be made (no `onnx` package, an
    operator the exporter lacks, an unwritable cache): then run the torch module. `build()` gives
    (module, example input) and is called only when the network must be exported, so a cached network
    loads without importing torch."""
    try:
        path = cache_dir() / f"{name}-{export_key(name, weights, code)}.onnx"
        if path.exists():
            return OnnxNet(path)
        module, example = build()
        return export(module, example, path)
    except Exception as e:  # noqa: BLE001 - any failure means: stay on torch
        warnings.warn(f"{name}: running on torch ({type(e).__name__}: {e})", RuntimeWarning, stacklevel=2)
        return None
