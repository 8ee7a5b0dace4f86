"""What `omnisearch serve` is started with, and the rule that decides whether it may start.

Example:
    >>> cfg = ServeConfig(db="omnisearch-db", host="0.0.0.0", token="s3cret")
    >>> check_config(cfg)  # a token is given: fine
    >>> is_loopback("0.0.0.0")  # so ServeConfig(db=..., host="0.0.0.0") without a token is refused
    False
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

LOOPBACK_NAMES = ("localhost",)


@dataclass
class ServeConfig:
    """Server settings. `token` None: no auth (allowed on loopback only); `workers`: searches that
    run at once; `cache_dir` None: a temporary folder for thumbnails and cut spans, removed at exit."""

    db: str
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_upload_mb: float = 100.0
    workers: int = 4
    cache_dir: str | None = None
    cache_max_mb: float = 512.0

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and 'localhost'; False for anything else (0.0.0.0, a LAN address)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_config(cfg: ServeConfig) -> None:
    """Raise ValueError when the server must refuse to start."""
    if cfg.token is not None and not cfg.token.strip():
        raise ValueError("--token is empty")
    if not is_loopback(cfg.host) and not cfg.token:
        raise ValueError(
            f"--host {cfg.host} is not a loopback address: give --token T "
            "(clients send 'Authorization: Bearer T')"
        )
    if not 0 < cfg.max_upload_mb <= 10_000:
        raise ValueError(f"--max-upload-mb {cfg.max_upload_mb:g}: expected 0 < MB <= 10000")
    if not 1 <= cfg.workers <= 64:
        raise ValueError(f"--workers {cfg.workers}: expected 1..64")
    if not 1 <= cfg.port <= 65535:
        raise ValueError(f"--port {cfg.port}: expected 1..65535")
