"""Device and dtype choice shared by every encoder.

Example:
    >>> resolve_device("cpu")
    'cpu'
"""

from __future__ import annotations


def resolve_device(device: str = "auto") -> str:
    """auto -> cuda when a GPU is visible, else cpu; an explicit cuda without a GPU is an error."""
    if device == "cpu":
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device} was asked for but no CUDA GPU is visible; use --device cpu")
    return device


def resolve_dtype(dtype: str, device: str):
    """auto -> bfloat16 on CUDA (float32 on CPU); otherwise the named torch dtype."""
    import torch

    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; choose auto, {', '.join(names)}")
    return names[dtype]
