"""The index spec: the pure rules (settle, check_spec, roots), its storage in LanceDB and Qdrant, the
encoder an index opens with, and end to end through the CLI: `search` with no `--model` on an index
built with `--model omni-lite-tuned --frames 4`, and a clip used as a query finding itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synth
from test_cli_errors import _one_line_error, omni

from omnisearch.config import DecodeConfig, SegmentConfig
from omnisearch.spec import EncoderMismatchError, EncoderRecord, IndexSpec, check_spec, settle

REC = EncoderRecord("omni-lite-tuned", "4+h1", 1536)


def spec(**kw) -> IndexSpec:
    base = dict(
        encoder=REC, model="omni-lite-tuned", segment=SegmentConfig(8, 4), decode=DecodeConfig(frames=4)
    )
    return IndexSpec(**{**base, **kw})


def test_settle_follows_the_index_unless_an_option_is_given() -> None:
    stored = spec()
    same = settle(stored, None, window=None, overlap=None, frames=None)
    assert same == stored
    other = settle(stored, None, frames=2)
    assert other.decode.frames == 2 and other.segment == stored.segment and other.model == stored.model
    new = settle(None, None, frames=None)  # a new index: the defaults
    assert (new.model, new.segment, new.decode) == ("omni-lite", SegmentConfig(), DecodeConfig())
    with pytest.raises(ValueError, match="overlap"):
        settle(None, None, window=4.0, overlap=5.0)
    with pytest.raises(ValueError, match="unknown index option"):
        settle(None, None, colour=3)


def test_check_spec_names_the_stored_settings_as_flags() -> None:
    check_spec(None, spec())
    check_spec(spec(), spec(roots=["/elsewhere"]))  # roots never conflict
    with pytest.raises(EncoderMismatchError) as e:
        check_spec(spec(), settle(spec(), None, frames=8))
    msg = str(e.value)
    assert "--model omni-lite-tuned --window 8 --overlap 4 --frames 4" in msg and "frames 4, not 8" in msg
    with pytest.raises(EncoderMismatchError, match="model 'omni-lite-tuned', not 'omni-lite'"):
        check_spec(spec(), spec(model="omni-lite"))
    with pytest.raises(EncoderMismatchError, match="content changed"):
        check_spec(spec(model="/m", model_digest="aa"), spec(model="/m", model_digest="bb"))


def test_roots_accumulate_and_a_file_inside_a_root_adds_nothing() -> None:
    s = spec().with_roots(["/lib"]).with_roots(["/lib/a.mp4", "/lib2", "/lib"])
    assert s.roots == ["/lib", "/lib2"]
    assert IndexSpec.from_dict(s.to_dict()) == s
    d = s.to_dict()
    d["segment"]["from_a_newer_release"] = 1  # unknown keys are ignored
    assert IndexSpec.from_dict(d) == s


@pytest.mark.parametrize("kind", ["lancedb", "qdrant"])
def test_stores_keep_the_spec(kind: str, tmp_path: Path) -> None:
    from omnisearch.indexers import open_store

    store = open_store(kind, str(tmp_path / "db"))
    store.ensure_encoder(REC)
    assert store.spec() is None
    store.save_spec(spec(roots=["/lib"]))
    store.save_spec(spec(roots=["/lib", "/more"]))
    store.close()
    again = open_store(kind, str(tmp_path / "db"))
    assert again.spec() == spec(roots=["/lib", "/more"]) and again.encoder() == REC
    again.close()


def test_encoder_for_index_refuses_another_model_before_loading_it(tmp_path: Path) -> None:
    from omnisearch.models.registry import encoder_for_index, folder_digest

    with pytest.raises(EncoderMismatchError, match="built with --model omni-lite-tuned --window 8"):
        encoder_for_index(spec(), REC, "omni-lite")
    with pytest.raises(EncoderMismatchError, match="not there any more"):
        encoder_for_index(spec(model=str(tmp_path / "gone")), REC)
    with pytest.raises(EncoderMismatchError, match="before indexes recorded their model"):
        encoder_for_index(None, EncoderRecord("omni-lite+heads", "1", 8))
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"1")
    d1 = folder_digest(tmp_path / "m")
    (tmp_path / "m" / "w.bin").write_bytes(b"2")
    assert folder_digest(tmp_path / "m") != d1
    with pytest.raises(EncoderMismatchError, match="changed since"):
        encoder_for_index(spec(model=str(tmp_path / "m"), model_digest=d1), REC)


@pytest.fixture(scope="module")
def tuned_index(tmp_path_factory):
    if not synth.have_tools("ffmpeg", "espeak-ng"):
        pytest.skip("needs Debian ffmpeg and espeak-ng")
    root = tmp_path_factory.mktemp("spec")
    lib = root / "lib"
    lib.mkdir()
    synth.make_video(
        lib / "talk.mp4", seconds=24.0, speech="the budget for the new warehouse", onscreen_text="REVIEW"
    )
    synth.make_video(
        lib / "other.mp4", seconds=16.0, color="green", shape="triangle", speech="roses need water"
    )
    db = root / "db"
    args = ["--model", "omni-lite-tuned", "--frames", "4", "--window", "8", "--overlap", "4"]
    r = omni("index", str(lib), "--db", str(db), *args)
    assert r.returncode == 0, r.stderr
    return lib, db


def test_search_needs_no_model_and_a_clip_finds_itself(tuned_index) -> None:
    lib, db = tuned_index
    info = json.loads(omni("info", "--db", str(db)).stdout)
    assert info["spec"]["model"] == "omni-lite-tuned" and info["spec"]["decode"]["frames"] == 4
    assert info["spec"]["roots"] == [str(lib.resolve())]
    r = omni("search", "warehouse budget", "--db", str(db), "--json", "-k", "3")
    assert r.returncode == 0, r.stderr
    assert Path(json.loads(r.stdout)[0]["file"]).name == "talk.mp4"
    r = omni(
        "search",
        "--video",
        str(lib / "talk.mp4"),
        "--span",
        "8-16",
        "--target",
        "video",
        "--db",
        str(db),
        "--json",
    )
    assert r.returncode == 0, r.stderr
    top = json.loads(r.stdout)[0]
    assert Path(top["file"]).name == "talk.mp4" and abs(top["start"] - 8.0) < 1e-6, top
    assert top["score"] >= 0.99, top


def test_a_conflicting_model_or_setting_fails_naming_the_index_settings(tuned_index) -> None:
    lib, db = tuned_index
    line = _one_line_error(omni("search", "warehouse", "--db", str(db), "--model", "omni-lite"))
    assert "--model omni-lite-tuned" in line and "--frames 4" in line
    line = _one_line_error(omni("index", str(lib), "--db", str(db), "--frames", "8"))
    assert "frames 4, not 8" in line
    r = omni("index", str(lib), "--db", str(db), "--json")  # no options: the index's own; all unchanged
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files_unchanged"] == 2


def test_is_under_matches_a_path_parts_reference() -> None:
    from pathlib import PurePosixPath

    from omnisearch.paths import is_under

    paths = ["/lib", "/lib/a.mp4", "/lib/sub/b.wav", "/library/a.mp4", "/li", "/other/lib/a.mp4"]
    roots = [["/lib"], ["/lib/"], ["/lib/sub"], ["/other", "/lib"], []]
    for p in paths:
        for rs in roots:
            want = any(
                PurePosixPath(p).parts[: len(PurePosixPath(r).parts)] == PurePosixPath(r).parts for r in rs
            )
            assert is_under(p, rs) == want, (p, rs)
