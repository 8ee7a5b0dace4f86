"""End to end: a generated library -> `index` -> `search`, with the real omni-lite encoder (packaged
weights) and a real LanceDB index. Also incremental re-indexing and a corrupt file in the library."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import synth

pytestmark = pytest.mark.skipif(
    not synth.have_tools("ffmpeg", "espeak-ng"), reason="needs Debian ffmpeg and espeak-ng"
)

VIDEOS = {
    "harbour.mp4": dict(
        color="red",
        shape="circle",
        speech="the fishing boats return to the harbour at dawn",
        onscreen_text="LIGHTHOUSE",
    ),
    "kitchen.mp4": dict(
        color="blue", shape="box", speech="add two spoons of sugar to the hot coffee", onscreen_text="BAKERY"
    ),
    "garden.mp4": dict(
        color="green",
        shape="triangle",
        speech="the roses need water every morning",
        onscreen_text="TELESCOPE",
    ),
}


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    for name, kw in VIDEOS.items():
        synth.make_video(root / name, seconds=None, **kw)
    synth.tone_wav(root / "beep.wav", 880, 1.5)
    synth.corrupt_file(root / "broken.mp4")
    (root / "notes.txt").write_text("not media, no media file with this stem")
    return root


@pytest.fixture(scope="module")
def encoder():
    from omnisearch.models import load_encoder

    return load_encoder("omni-lite")


@pytest.fixture(scope="module")
def indexed(library, encoder, tmp_path_factory):
    from omnisearch.indexers import open_store
    from omnisearch.ingest.pipeline import index_paths

    db = tmp_path_factory.mktemp("db")
    store = open_store("lancedb", str(db))
    report = index_paths([str(library)], store, encoder)
    return store, report, db


def _top(store, encoder, **query):
    from omnisearch.retrieval.planner import SearchOptions, search
    from omnisearch.retrieval.query import Query

    return search(store, encoder, Query(**query), SearchOptions(k=3)).hits


def test_first_index_reports_corrupt_file_and_indexes_the_rest(indexed, library):
    store, report, _ = indexed
    assert report.files_found == 5
    assert report.files_indexed == 4
    assert [os.path.basename(p) for p, _ in report.failed] == ["broken.mp4"]
    assert report.failed[0][1]  # a reason is given
    assert report.clips_written == store.count() == 4
    files = store.files()
    assert sorted(os.path.basename(p) for p in files) == [
        "beep.wav",
        "garden.mp4",
        "harbour.mp4",
        "kitchen.mp4",
    ]


@pytest.mark.parametrize(
    "query,expected",
    [
        ("boats coming back to the harbour", "harbour.mp4"),  # spoken words
        ("sugar in my coffee", "kitchen.mp4"),
        ("watering roses in the morning", "garden.mp4"),
        ("LIGHTHOUSE", "harbour.mp4"),  # on-screen text
        ("BAKERY", "kitchen.mp4"),
        ("TELESCOPE", "garden.mp4"),
    ],
)
def test_text_query_ranks_the_right_clip_first(indexed, encoder, query, expected):
    store, _, _ = indexed
    hits = _top(store, encoder, text=query)
    assert os.path.basename(hits[0].path) == expected, [(h.path, h.score) for h in hits]
    assert hits[0].score > hits[1].score


def test_sound_query_finds_the_same_sound(indexed, encoder, library, tmp_path):
    store, _, _ = indexed
    q = synth.tone_wav(tmp_path / "q.wav", 880, 1.0)
    from omnisearch.retrieval.planner import SearchOptions, search
    from omnisearch.retrieval.query import Query
    from omnisearch.types import Modality

    hits = search(store, encoder, Query(audio=str(q)), SearchOptions(k=3, target=Modality.AUDIO)).hits
    assert os.path.basename(hits[0].path) == "beep.wav"


def test_reindex_is_incremental(library, encoder, tmp_path):
    from omnisearch.indexers import open_store
    from omnisearch.ingest.pipeline import index_paths

    lib = tmp_path / "lib"
    shutil.copytree(library, lib)
    shutil.copy(lib / "beep.wav", lib / "beep_copy.wav")  # identical content at a second path
    store = open_store("lancedb", str(tmp_path / "db"))
    first = index_paths([str(lib)], store, encoder)
    assert first.files_indexed == 5 and store.count() == 5

    again = index_paths([str(lib)], store, encoder)
    assert (again.files_indexed, again.files_unchanged, again.clips_written) == (0, 5, 0)
    os.remove(lib / "beep_copy.wav")

    # a changed file is re-embedded, a deleted one removed, a new one added
    synth.tone_wav(lib / "beep.wav", 440, 2.0)
    os.remove(lib / "garden.mp4")
    synth.tone_wav(lib / "new.wav", 660, 1.0)
    third = index_paths([str(lib)], store, encoder)
    assert third.files_indexed == 2 and third.files_removed == 2 and third.files_unchanged == 2
    names = sorted(os.path.basename(p) for p in store.files())
    assert names == ["beep.wav", "harbour.mp4", "kitchen.mp4", "new.wav"]
    assert store.count() == 4


def test_cli_search_json(indexed):
    from typer.testing import CliRunner

    from omnisearch.cli.main import app

    _, _, db = indexed
    res = CliRunner().invoke(app, ["search", "BAKERY", "--db", str(db), "-k", "2", "--json"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)
    assert os.path.basename(hits[0]["file"]) == "kitchen.mp4"
    assert {"file", "start", "end", "score", "text"} <= set(hits[0])


def test_cli_errors_are_clear(indexed, tmp_path):
    from typer.testing import CliRunner

    from omnisearch.cli.main import app

    _, _, db = indexed
    runner = CliRunner()
    res = runner.invoke(app, ["search", "--db", str(db)])
    assert res.exit_code == 2 and "empty query" in res.output
    res = runner.invoke(app, ["search", "--audio", str(tmp_path / "nope.wav"), "--db", str(db)])
    assert res.exit_code == 2 and "not found" in res.output
    bad = tmp_path / "x.xyz"
    bad.write_text("x")
    res = runner.invoke(app, ["search", "--audio", str(bad), "--db", str(db)])
    assert res.exit_code == 2 and "unsupported format" in res.output
    res = runner.invoke(app, ["search", "hello", "--db", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "no index" in res.output
