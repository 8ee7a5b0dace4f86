"""The small generated library the API, retriever and MCP tests share, and the README's code blocks.

talk.mp4: a 20 s talk (espeak-ng speech about a warehouse budget, "QUARTERLY REVIEW" on screen);
garden.mp4 with garden.srt subtitles; doorbell.wav: a tone, no words.
"""

from __future__ import annotations

import re
from pathlib import Path

import synth

README = Path(__file__).resolve().parents[1] / "README.md"
TALK = [
    (0.3, "welcome to the quarterly review"),
    (6.0, "today we discuss the budget for the new warehouse in Lisbon"),
    (13.0, "and the hiring plan for the support team"),
]


def make_library(root: Path) -> Path:
    """Write the library into `root` (once); returns `root`."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "talk.mp4").exists():
        synth.make_video(root / "talk.mp4", seconds=20.0, color="red", shape="circle", speech=TALK,
                         onscreen_text="QUARTERLY REVIEW")  # fmt: skip
    if not (root / "garden.mp4").exists():
        synth.make_video(root / "garden.mp4", seconds=None, color="green", shape="triangle",
                         speech="the roses need water every morning")  # fmt: skip
        synth.write_srt(root / "garden.srt", [(0.0, 4.0, "Gardening tips: water the roses at dawn")])
    if not (root / "doorbell.wav").exists():
        synth.tone_wav(root / "doorbell.wav", 880, 1.5)
    return root


def readme_python(heading: str) -> str:
    """The first ```python block of the README section `## heading`."""
    text = README.read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, f"no python block under ## {heading}"
    return match.group(1)
