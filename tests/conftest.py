"""Shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one thread is fastest, and immune to other processes hogging the cores."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def api_library(tmp_path_factory):
    """The README's Python API example run for real, in a home folder whose ~/Videos holds the generated
    library (tests/api_library.py): (home, db, the names the example defined)."""
    import os

    from api_library import make_library, readme_python

    from omnisearch.media import synth

    if not synth.have_tools("ffmpeg", "espeak-ng"):
        pytest.skip("needs Debian ffmpeg and espeak-ng")
    home = tmp_path_factory.mktemp("home")
    make_library(home / "Videos")
    before = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        names: dict = {}
        exec(compile(readme_python("Python API"), "README.md (Python API)", "exec"), names)
    finally:
        if before is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = before
    return home, home / ".omnisearch" / "db", names
