"""`evaluate` and `omnisearch eval` / `convert` end to end with the REAL omni-lite encoder on a generated
tiny benchmark: 4 videos whose caption is spoken and shown on screen, 2 beeps sharing a group.

Only the first evaluation embeds anything (about 30 units); every other test reads the on-disk cache,
which is itself under test (a cached run must not call the encoder)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import synth

pytestmark = pytest.mark.skipif(
    not synth.have_tools("ffmpeg", "ffprobe", "espeak-ng"), reason="needs Debian ffmpeg and espeak-ng"
)

VIDEOS = {
    "v1": dict(caption="seven red apples", color="red", shape="circle"),
    "v2": dict(caption="a broken bicycle", color="blue", shape="box"),
    "v3": dict(caption="the frozen lake", color="green", shape="triangle"),
    "v4": dict(caption="twelve paper lanterns", color="yellow", shape="star"),
}
BEEPS = {"b1": (880, 1.5, "a high beep"), "b2": (900, 1.2, "a short high beep")}
VIDEO_ONLY_DIRECTIONS = ("t2v", "v2t", "v2a", "a2v", "t2av", "av2t", "a2tv", "tv2a", "v2at", "at2v")


def write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    (root / "m").mkdir()
    records = []
    for vid, kw in VIDEOS.items():
        kw = dict(kw)
        cap = kw.pop("caption")
        synth.make_video(root / "m" / f"{vid}.mp4", seconds=None, speech=cap, onscreen_text=cap.upper(), **kw)
        records.append({"id": vid, "video": f"m/{vid}.mp4", "text": cap})
    beeps = []
    for bid, (hz, seconds, cap) in BEEPS.items():
        synth.tone_wav(root / "m" / f"{bid}.wav", hz, seconds)
        beeps.append({"id": bid, "audio": f"m/{bid}.wav", "text": cap, "group": "beep"})
    synth.corrupt_file(root / "m" / "broken.mp4")
    broken = {"id": "broken", "video": "m/broken.mp4", "text": "a corrupt file"}
    return {
        "root": root,
        "main": write_jsonl(root / "main.jsonl", records + beeps),
        "audio": write_jsonl(root / "audio.jsonl", beeps),
        "broken": write_jsonl(root / "broken.jsonl", records + beeps + [broken]),
        "cache": root / "cache",
    }


@pytest.fixture(scope="module")
def encoder():
    from omnisearch.models import load_encoder

    return load_encoder("omni-lite")


class CountingEncoder:
    """Counts `encode` / `transcribe` calls of a wrapped encoder (the cache must avoid both)."""

    def __init__(self, encoder, monkeypatch) -> None:
        self.calls = {"encode": 0, "transcribe": 0}
        for name, owner in (("encode", encoder), ("transcribe", encoder.transcriber())):
            original = getattr(owner, name)

            def counted(*args, _name=name, _original=original, **kwargs):
                self.calls[_name] += 1
                return _original(*args, **kwargs)

            monkeypatch.setattr(owner, name, counted)


@pytest.fixture(scope="module")
def first_run(bench, encoder):
    from omnisearch.eval.evaluator import evaluate

    return evaluate(bench["main"], encoder, cache_dir=bench["cache"])


def test_json_shape_and_counts(first_run):
    from omnisearch.eval.directions import ALL
    from omnisearch.eval.report import to_json

    data = to_json(first_run)
    assert set(data) == {"model", "directions", "skipped", "avg_single", "avg_dual", "avg_all"}
    assert data["model"] == "omni-lite" and data["skipped"] == []
    assert list(data["directions"]) == list(ALL)
    for entry in data["directions"].values():
        assert set(entry) == {"R@1", "R@5", "R@10", "queries"}
        assert all(0.0 <= entry[k] <= 100.0 for k in ("R@1", "R@5", "R@10"))
    queries = {name: entry["queries"] for name, entry in data["directions"].items()}
    assert queries == {**{n: 4 for n in ALL}, "t2a": 6, "a2t": 6}  # beeps join only text<->audio
    assert all(isinstance(data[k], float) for k in ("avg_single", "avg_dual", "avg_all"))
    s = first_run.stats
    assert (s.items, s.cached, s.embedded, first_run.failed) == (6, 0, s.units, {})
    vectors = [v for table in first_run.vectors.values() for v in table.values()]  # what it scored
    assert len(vectors) == s.units and len({v.shape for v in vectors}) == 1
    assert all(np.isfinite(v).all() for v in vectors)


def test_spoken_and_written_captions_are_found(first_run):
    # omni-lite matches words heard (Whisper) and read (OCR): every direction over the 4 videos is perfect
    for name in VIDEO_ONLY_DIRECTIONS:
        assert first_run.directions[name].r1 == 100.0, name
    # text <-> audio: the spoken captions rank first; omni-lite cannot name a beep, so no claim on those
    assert first_run.directions["t2a"].ranks[:4].tolist() == [1, 1, 1, 1]
    assert first_run.directions["a2t"].ranks[:4].tolist() == [1, 1, 1, 1]


def test_second_run_comes_from_cache(bench, encoder, first_run, monkeypatch):
    from omnisearch.eval.evaluator import evaluate
    from omnisearch.eval.report import to_json

    counter = CountingEncoder(encoder, monkeypatch)
    seen = []
    again = evaluate(bench["main"], encoder, cache_dir=bench["cache"], progress=lambda d, t: seen.append(d))
    assert counter.calls == {"encode": 0, "transcribe": 0}
    assert again.stats.cached == again.stats.units and again.stats.embedded == 0
    assert to_json(again) == to_json(first_run)
    assert seen[-1] == again.stats.units


def test_skipped_directions_for_missing_modalities(bench, encoder, first_run, monkeypatch):
    from omnisearch.eval.evaluator import evaluate

    counter = CountingEncoder(encoder, monkeypatch)
    run = evaluate(bench["audio"], encoder, cache_dir=bench["cache"])
    assert sorted(run.directions) == ["a2t", "t2a"]
    assert sorted(run.skipped) == sorted(VIDEO_ONLY_DIRECTIONS)
    assert "0 item(s) have" in run.skipped["t2v"]
    assert counter.calls["encode"] == 0  # same files and captions as in the first run: shared cache


def test_broken_item_is_reported_and_scored_as_miss(bench, encoder, first_run):
    from omnisearch.eval.evaluator import evaluate

    run = evaluate(bench["broken"], encoder, cache_dir=bench["cache"])
    assert list(run.failed) == ["broken"] and "video:" in run.failed["broken"]
    assert run.directions["t2v"].queries == 5 and run.directions["t2v"].r1 == 80.0
    assert run.stats.embedded == 1  # only the new caption as a query; its "v"/"tv" units are misses


def test_changed_file_or_no_cache_embeds_again(bench, encoder, first_run, monkeypatch):
    from omnisearch.eval.evaluator import evaluate

    wav = bench["root"] / "m" / "b1.wav"
    st = wav.stat()
    os.utime(wav, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    counter = CountingEncoder(encoder, monkeypatch)
    run = evaluate(bench["audio"], encoder, directions=["t2a"], cache_dir=bench["cache"])
    assert run.stats.embedded == 1 and counter.calls["encode"] == 1  # only b1's audio unit
    run = evaluate(bench["audio"], encoder, directions=["t2a"], cache_dir=bench["cache"], use_cache=False)
    assert run.stats.cached == 0 and run.stats.embedded == run.stats.units == 4


def test_cli_eval_writes_reports(bench, first_run, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from omnisearch.cli.main import app
    from omnisearch.eval.report import to_json

    monkeypatch.setenv("OMNISEARCH_CACHE", str(bench["cache"]))
    out = {ext: tmp_path / f"r.{ext}" for ext in ("json", "md", "png")}
    args = ["eval", bench["main"], "--json", str(out["json"]), "--markdown", str(out["md"])]
    result = CliRunner().invoke(app, [*args, "--plot", str(out["png"])])
    assert result.exit_code == 0, result.output
    assert json.loads(out["json"].read_text()) == to_json(first_run)
    assert "| t2v | 100.00 |" in out["md"].read_text()
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert "Retrieval: omni-lite" in result.stdout

    bad = CliRunner().invoke(app, ["eval", bench["main"], "--json", str(out["json"]), "--directions", "t2x"])
    assert bad.exit_code == 2 and "unknown direction" in bad.output


def test_cli_eval_lists_failed_items(bench, first_run, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from omnisearch.cli.main import app

    monkeypatch.setenv("OMNISEARCH_CACHE", str(bench["cache"]))
    md = tmp_path / "r.md"
    args = ["eval", bench["broken"], "--json", str(tmp_path / "r.json"), "--markdown", str(md)]
    result = CliRunner().invoke(app, [*args, "--directions", "t2v,v2t"])
    assert result.exit_code == 0, result.output
    assert "failed broken" in result.output and "| broken |" in md.read_text()


def test_cli_convert(tmp_path):
    from typer.testing import CliRunner

    from omnisearch.cli.eval_cmds import FORMAT_NAMES
    from omnisearch.cli.main import app
    from omnisearch.eval.converters import FORMATS

    assert FORMAT_NAMES == tuple(FORMATS)
    src = tmp_path / "msrvtt"
    (src / "videos").mkdir(parents=True)
    (src / "videos" / "video7010.mp4").write_bytes(b"")
    (src / "MSRVTT_JSFUSION_test.csv").write_text(
        "key,vid_key,video_id,sentence\nret0,msr7010,video7010,a man talks\nret1,msr7011,video7011,a cat\n"
    )
    result = CliRunner().invoke(app, ["convert", "msrvtt", str(src), str(tmp_path / "m.jsonl")])
    assert result.exit_code == 0, result.output
    assert "wrote 1 item(s)" in result.output and "missing media" in result.output
    assert CliRunner().invoke(app, ["convert", "nope", str(src), str(tmp_path / "x.jsonl")]).exit_code == 2


def test_help_imports_no_heavy_libraries():
    code = "import omnisearch.cli.main"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    heavy = [
        ln for ln in proc.stderr.splitlines() if any(m in ln for m in ("torch", "transformers", "lancedb"))
    ]
    assert heavy == []
