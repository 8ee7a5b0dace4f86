"""Shared by the HTTP server and page tests: a generated, indexed library and a real uvicorn server
on a free loopback port, run in a thread."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import synth

TALK_SPEECH = [
    (0.5, "today we discuss the budget for the new warehouse in Lisbon"),
    (12.5, "next the hiring plan for the support team"),
]


def make_library(root: Path) -> Path:
    """talk.mp4 (24 s: speech + on-screen title), two sounds, a picture, and spare.wav (which the access
    tests move out of the library)."""
    root.mkdir(parents=True, exist_ok=True)
    synth.make_video(root / "talk.mp4", seconds=24, speech=TALK_SPEECH, onscreen_text="QUARTERLY REVIEW")
    synth.tone_wav(root / "beep.wav", 880, 1.5)
    synth.tone_wav(root / "hiss.wav", 0, 2.0, kind="pink")
    synth.tone_wav(root / "spare.wav", 300, 1.5, kind="chirp")
    synth.make_image(root / "card.png", text="HARBOUR", color="white", shape="circle", shape_color="blue")
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`with LiveServer(app) as base:` a uvicorn server for `app` at `base` (http://127.0.0.1:PORT)."""

    def __init__(self, app: Any, start_timeout: float = 300.0) -> None:
        import uvicorn

        self.port = free_port()
        cfg = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.start_timeout = start_timeout

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.time() + self.start_timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
