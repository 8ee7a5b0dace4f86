"""The Python API end to end on the generated library (tests/api_library.py), with the real omni-lite
encoder and a real LanceDB index built by the README's own example (the `api_library` fixture)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import omnisearch
from omnisearch.api import Index, NoIndexError, OpenOptions, ReadOnlyIndexError
from omnisearch.hits import SearchHit
from omnisearch.indexers import Filter
from omnisearch.retrieval.query import QueryError

CITATION = re.compile(r"^[\w.-]+ @ (\d+:)?\d\d:\d\d-(\d+:)?\d\d:\d\d$")


@pytest.fixture(scope="module")
def idx(api_library):
    _, db, _ = api_library
    with omnisearch.open(db, read_only=True) as index:
        yield index


def test_readme_python_api_example_ran(api_library) -> None:
    home, db, ns = api_library
    assert ns["report"].files_indexed == 3 and not ns["report"].failed
    h = ns["h"]
    assert isinstance(h, SearchHit) and Path(h.file).name == "talk.mp4"
    assert "budget" in h.words.lower() and CITATION.match(h.citation), h
    assert Path(ns["sounds"][0].file).name == "doorbell.wav"
    assert ns["videos"] and all(v.media_type == "video" for v in ns["videos"])
    assert ns["same"].clip_id == h.clip_id and ns["same"].file == h.file
    assert (db / "clips.lance").is_dir()


def test_text_search_hits_are_typed_moments(idx) -> None:
    hits = idx.search("budget for the warehouse", k=3)
    top = hits[0]
    assert Path(top.file).name == "talk.mp4" and top.media_type == "video"
    assert isinstance(top.score, float) and -1.0 <= top.score <= 1.0
    assert top.scores["text->fused"] == pytest.approx(top.score) and "rrf" in top.scores
    assert top.span_start <= top.start < top.end <= top.span_end
    assert top.start <= top.keyframe <= top.end
    assert "warehouse" in top.transcript.lower() and "QUARTERLY" in top.ocr_text.replace(" ", "")
    d = json.loads(json.dumps(top.to_dict()))
    assert d["citation"] == top.citation and d["file"] == top.file and d["words"] == top.words
    with pytest.raises(AttributeError):
        top.score = 1.0  # type: ignore[misc]


def test_subtitles_are_words(idx) -> None:
    h = idx.search("gardening tips", k=1)[0]
    assert Path(h.file).name == "garden.mp4" and "Gardening tips" in h.text and "Gardening tips" in h.words


def test_sound_query_and_targets(idx, api_library) -> None:
    home, _, _ = api_library
    hits = idx.search(audio=home / "Videos" / "doorbell.wav", target="audio", k=2)
    assert Path(hits[0].file).name == "doorbell.wav" and hits[0].score > 0.9
    assert idx.search("gardening tips", target="text", k=1)[0].file.endswith("garden.mp4")
    talk = str(home / "Videos" / "talk.mp4")
    spans = idx.search(video=talk, span=(5.0, 12.0), k=1)
    assert spans[0].file == talk


def test_filters_dict_and_filter_object(idx) -> None:
    assert {h.media_type for h in idx.search("water", k=10, filters={"media_type": "audio"})} == {"audio"}
    only = idx.search("budget", k=10, filters={"path": "*garden*"})
    assert only and {Path(h.file).name for h in only} == {"garden.mp4"}
    late = idx.search("hiring plan", k=10, filters={"start": 5, "media_type": "video"})
    assert late and all(h.start >= 5 for h in late)
    assert idx.search("budget", k=10, filters=Filter(media_type="audio"))[0].media_type == "audio"
    assert idx.search("budget", k=10, filters={"after": "2999-01-01"}) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), "empty query"),
        (dict(text="x", target="smell"), "unknown target"),
        (dict(text="x", k=0), "-k must be at least 1"),
        (dict(text="x", filters={"colour": "red"}), "unknown filter colour"),
        (dict(text="x", filters={"start": 9, "end": 3}), "must be after --start"),
        (dict(text="x", filters={"after": "last tuesday"}), "expected an ISO date"),
        (dict(text="x", filters={"media_type": "smell"}), "use video, audio or image"),
        (dict(text="x", frobnicate=1), "unknown search option frobnicate"),
        (dict(audio="/no/such.wav"), "file not found"),
        (dict(audio="/tmp"), "is a folder"),
        (dict(text="x", span=(3, 1)), "END must be after START"),
        (dict(text="x", span=(1, 3)), "--span applies to an --audio or --video"),
    ],
)
def test_bad_input_is_a_query_error(idx, kwargs, message) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        idx.search(**kwargs)


def test_clip_by_id(idx) -> None:
    h = idx.search("budget for the warehouse", k=1)[0]
    c = idx.clip(h.clip_id)
    assert (c.file, c.start, c.end, c.transcript) == (h.file, h.start, h.end, h.transcript)
    assert c.score == 0.0 and (c.span_start, c.span_end) == (c.start, c.end)
    assert idx.clip("0123456789abcdef:0.000-10.000") is None and idx.clip("../../etc/passwd") is None


def test_info_and_roots(idx, api_library) -> None:
    home, db, _ = api_library
    info = idx.info()
    assert info["clips"] == idx.store.count() > 3 and info["files"] == 3
    assert info["encoder"]["name"] == "omni-lite" and info["encoder"]["dim"] > 0
    assert (info["store"], info["db"]) == ("lancedb", str(db))
    assert idx.roots() == [str(home / "Videos")]


def test_one_encoder_shared_by_concurrent_searches(idx) -> None:
    queries = ["budget for the warehouse", "roses need water", "hiring plan", "quarterly review"]
    expected = {q: [h.clip_id for h in idx.search(q, k=3)] for q in queries}
    enc = idx.encoder()
    got: list[tuple[str, list[str]]] = []
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for n in range(6):
                q = queries[(i + n) % len(queries)]
                got.append((q, [h.clip_id for h in idx.search(q, k=3)]))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(got) == 48
    assert all(ids == expected[q] for q, ids in got)
    assert idx.encoder() is enc


def test_search_while_another_index_writes(api_library, tmp_path) -> None:
    """A reader keeps answering while a writer adds a file; the next search sees it."""
    home, db, _ = api_library
    copy = tmp_path / "db"
    shutil.copytree(db, copy)
    extra = tmp_path / "more"
    extra.mkdir()
    shutil.copy(home / "Videos" / "talk.mp4", extra / "talk-copy.mp4")
    reader = omnisearch.open(copy, read_only=True)
    before = {h.file for h in reader.search("warehouse", k=10)}
    writer = omnisearch.open(copy)
    done, errors, answered = threading.Event(), [], []

    def write() -> None:
        try:
            writer.index([extra])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            done.set()

    t = threading.Thread(target=write)
    t.start()
    while not done.is_set():
        answered.append(len(reader.search("warehouse", k=10)))
    t.join()
    assert not errors and answered and min(answered) >= 1
    after = {h.file for h in reader.search("warehouse", k=10)}
    assert str(extra / "talk-copy.mp4") in after - before
    reader.close()
    writer.close()


def test_read_only_and_missing_index(tmp_path, api_library) -> None:
    _, db, _ = api_library
    with omnisearch.open(db, read_only=True) as ro, pytest.raises(ReadOnlyIndexError):
        ro.index([tmp_path])
    missing = tmp_path / "nothing-here"
    idx = Index(missing, OpenOptions())
    with pytest.raises(NoIndexError, match="no index at"):
        idx.search("x")
    assert not missing.exists()
    with pytest.raises(FileNotFoundError, match="not found"):
        idx.index([tmp_path / "no-such-folder"])
    idx.close()
    with pytest.raises(RuntimeError, match="closed"):
        idx.search("x")


def test_import_and_help_stay_light() -> None:
    code = (
        "import sys, omnisearch, omnisearch.api, omnisearch.hits\n"
        "heavy = [m for m in ('torch', 'lancedb', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "assert callable(omnisearch.open)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    help_run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "omnisearch.cli.main", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "mcp" in help_run.stdout
    heavy = {line.split("|")[-1].strip().split(".")[0] for line in help_run.stderr.splitlines()}
    assert not heavy & {"torch", "lancedb", "transformers"}


def test_qdrant_local_index_through_the_api(api_library, tmp_path) -> None:
    """The same clips moved into a Qdrant local folder (export/import, no re-embedding) answer the same
    search through the API, and the encoder comes from the imported spec."""
    from omnisearch.indexers import open_store
    from omnisearch.indexers.transfer import export_lines, import_lines

    _, db, _ = api_library
    src = open_store("lancedb", str(db))
    dst = open_store("qdrant", str(tmp_path / "q"))
    import_lines(export_lines(src, vectors=True), dst)
    src.close()
    dst.close()
    with omnisearch.open(db, read_only=True) as lance, omnisearch.open(tmp_path / "q", store="qdrant") as q:
        a = lance.search("budget for the warehouse", k=3, words_weight=0.0)
        b = q.search("budget for the warehouse", k=3, words_weight=0.0)
        assert [h.clip_id for h in a] == [h.clip_id for h in b]
        assert [round(h.score, 4) for h in a] == [round(h.score, 4) for h in b]
        assert q.clip(a[0].clip_id) == lance.clip(a[0].clip_id) and q.clip("nope") is None
        assert q.info()["clips"] == lance.info()["clips"] and q.roots() == lance.roots()
