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

    import synth
    from api_library import make_library, readme_python

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


@pytest.fixture(scope="session")
def serve_library(tmp_path_factory):
    """A generated library indexed with omni-lite: (library folder, db folder). For the server tests."""
    import synth

    if not synth.have_tools("ffmpeg", "espeak-ng"):
        pytest.skip("needs Debian ffmpeg and espeak-ng")
    pytest.importorskip("fastapi")
    from serve_helpers import make_library

    import omnisearch

    lib = make_library(tmp_path_factory.mktemp("serve") / "lib")
    db = lib.parent / "db"
    with omnisearch.open(db) as idx:
        report = idx.index([lib])
    assert report.files_indexed == 5, report
    return lib, db


@pytest.fixture(scope="session")
def serve_index(serve_library):
    """The served index, opened read-only once per session (its models are loaded once)."""
    import omnisearch

    idx = omnisearch.open(serve_library[1], read_only=True)
    yield idx
    idx.close()
