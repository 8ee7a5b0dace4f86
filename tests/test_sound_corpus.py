"""The sound corpus builder's pure parts: label cleaning, caption templates, split by source and label,
the license lookup and the counts report (no network; fixtures are generated here)."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
labels = importlib.import_module("sound_corpus.labels")
corpus = importlib.import_module("sound_corpus.corpus")
sources = importlib.import_module("sound_corpus.sources")
score = importlib.import_module("sound_corpus.score")


def test_tokens_split_camel_case_separators_and_drop_digits() -> None:
    assert labels.tokens("sfx/airplane_jetEngine-02.ogg") == ["airplane", "jet", "engine"]
    assert labels.tokens("audio/actor/fauna/chicken/chicken_1.ogg") == [
        "actor",
        "fauna",
        "chicken",
        "chicken",
    ]


@pytest.mark.parametrize(
    ("path", "category", "caption", "family"),
    [
        ("audio/actor/fauna/chicken/chicken_1.ogg", "chicken", "a chicken clucking", "animal"),
        ("farm/sheep_02.ogg", "sheep", "a sheep bleating", "animal"),
        ("sounds/Cattle_03.wav", "cow", "a cow mooing", "animal"),  # alias
        ("gnu_flute.ogg", "flute", "a flute playing", "instrument"),
        ("ambient/weather/rain_loop.ogg", "rain", "rain falling", "thing"),
        ("woodcutting/tree_falling_00.ogg", "tree falling", "a tree falling", "thing"),  # two-word key
        ("actor/singlesteps/fs_gravel8.ogg", "footstep gravel", "footsteps on gravel", "thing"),
        ("Footsteps/dogs_walk.ogg", "footstep", "footsteps", "thing"),  # the file name's last word wins
    ],
)
def test_label_for_uses_the_most_specific_vocabulary_word(path, category, caption, family) -> None:
    assert labels.label_for(path) == labels.Label(category, caption, family)


def test_one_category_per_caption() -> None:
    words = [*labels.ANIMALS, *labels.INSTRUMENTS, *labels.THINGS, *labels.ALIASES]
    found = [lab for w in words if (lab := labels.label_for(w.replace(" ", "_")))]
    by_caption: dict[str, set[str]] = {}
    for lab in found:
        by_caption.setdefault(lab.caption, set()).add(lab.category)
    assert len(found) > 250
    assert {c: cats for c, cats in by_caption.items() if len(cats) > 1} == {}


def test_label_for_leaves_out_paths_without_an_everyday_word() -> None:
    assert labels.label_for("units/orc-die-1.ogg") is None
    assert labels.label_for("music/Lava_Theme.ogg") is not None  # the builder's exclude regex drops music
    assert labels.label_for("interface/sel_gymnasium.ogg") is None


def test_dep5_license_most_specific_stanza_wins_and_tails_match_installed_paths() -> None:
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: x\nLicense: GPL-2\n\n"
        "Files: share/hedgewars/Data/Sounds/*\nLicense: GFDL-1.3\n\n"
        "Files: share/hedgewars/Data/Sounds/Droplet*.ogg\n others/*.wav\nLicense: CC-BY-SA-3.0\n\n"
        "Files: hedgewars/*\nLicense: GPL-2\n\nFiles: hedgewars/adler32.pas\nLicense: zlib\n"
    )
    base = "usr/share/games/hedgewars/Data/Sounds/"
    assert sources.dep5_license(text, base + "bee.ogg") == "GFDL-1.3"
    assert sources.dep5_license(text, base + "Droplet2.ogg") == "CC-BY-SA-3.0"
    assert sources.dep5_license(text, "usr/share/games/hedgewars/Data/Music/a.ogg") == "GPL-2"
    assert sources.dep5_license(text, "usr/share/x/hedgewars/adler32.pas") == "zlib"
    assert sources.dep5_license(text, "usr/share/x/others/a.wav") == "CC-BY-SA-3.0"
    assert sources.dep5_license("This package was debianized by someone.\n", base + "bee.ogg") is None


def test_license_of_falls_back_when_the_copyright_file_is_not_machine_readable(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "usr/share/doc/pkg").mkdir(parents=True)
    (root / "usr/share/doc/pkg/copyright").write_text("Upstream Author: someone. GPL-2 or later.\n")
    sound = root / "usr/share/games/pkg/sounds/dog.ogg"
    src = sources.Source("pkg", "deb", license_fallback="GPL-2+")
    assert sources.license_of(src, root, sound) == "GPL-2+"


def _write_wav(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    pcm = (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(pcm.tobytes())


def test_sound_files_filters_music_and_voices(tmp_path: Path) -> None:
    for rel in ("sounds/dog_1.wav", "music/theme.wav", "sounds/voices/hello.wav", "sounds/readme.txt"):
        _write_wav(tmp_path / rel, 0.2)
    got = [
        p.relative_to(tmp_path).as_posix() for p in sources.sound_files(sources.Source("x", "deb"), tmp_path)
    ]
    assert got == ["sounds/dog_1.wav"]


def _rows() -> list[dict]:
    rows = []
    for src, cats in (("a", ["dog", "cat", "rain"]), ("b", ["dog", "rain"]), ("c", ["dog", "bell", "frog"])):
        for cat in cats:
            for i in range(3):
                rows.append(corpus.make_row(src, f"{src}/{cat}_{i}.ogg", cat, f"a {cat}", "CC0", 1.0 + i * 6))
    return rows


def test_split_keeps_each_source_whole_and_holds_out_labels_from_train() -> None:
    rows = _rows()
    splits = corpus.split_rows(rows, {"a": "train", "b": "val", "c": "test"}, label_share=1.0)
    assert {r["source"] for r in splits["train"]} == {"a"}
    assert {r["source"] for r in splits["test"]} == {"c"}
    # share 1.0: every test category ("dog") is removed from train and val
    assert "dog" not in {r["category"] for r in splits["train"] + splits["val"]}
    assert len(splits["test"]) == 9
    none_held = corpus.split_rows(rows, {"a": "train", "b": "val", "c": "test"}, label_share=0.0)
    assert len(none_held["train"]) == 9 and len(none_held["val"]) == 6
    with pytest.raises(ValueError, match="unknown split"):
        corpus.split_rows(rows, {"a": "dev"})


def test_cap_per_category_is_deterministic_and_per_source() -> None:
    rows = _rows()
    capped = corpus.cap_per_category(rows, 2)
    assert len(capped) == 2 * 8
    assert capped == corpus.cap_per_category(list(reversed(rows)), 2)


def test_manifest_rows_are_valid_manifests_and_long_sounds_are_cut(tmp_path: Path) -> None:
    from omnisearch.eval.manifest import read_manifest

    rows = _rows()[:3]
    for r in rows:
        _write_wav(tmp_path / r["audio"], 0.3)
    ms = corpus.manifest_rows(rows)
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(m) + "\n" for m in ms))
    items = read_manifest(tmp_path / "m.jsonl")
    assert [it.group for it in items] == ["dog"] * 3
    assert "end" not in ms[0] and ms[2]["end"] == corpus.MAX_SECONDS  # 13 s -> first 10 s


def test_report_counts_categories_sources_and_licenses() -> None:
    rows = _rows()
    rows[0]["license"] = "GPL-2+"
    splits = corpus.split_rows(rows, {"a": "train", "b": "val", "c": "test"}, label_share=0.0)
    rep = corpus.report(splits, seen={"a": 20, "d": 4})
    assert rep["splits"] == {"train": 9, "val": 6, "test": 9}
    assert rep["categories"]["dog"] == {"caption": "a dog", "train": 3, "val": 3, "test": 3}
    assert rep["sources"]["a"]["licenses"] == {"GPL-2+": 1, "CC0": 8} and rep["sources"]["a"]["files"] == 20
    assert rep["sources"]["d"]["kept"] == 0  # found but nothing labelled
    assert rep["licenses"] == {"CC0": 23, "GPL-2+": 1}
    assert rep["test_categories_unseen"] == ["bell", "frog"]
    assert "| dog | a dog | 3 | 3 | 3 |" in corpus.report_markdown(rep)


def test_zero_shot_accuracy_counts_ties_as_wrong() -> None:
    s = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.7]], np.float32)
    assert score.zero_shot_accuracy(s, [0, 1, 1]) == pytest.approx(2 / 3)
    assert score.zero_shot_accuracy(np.full((4, 3), np.nan), [0, 1, 2, 0]) == 0.0


def test_builder_help_runs_without_network() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "build_sound_corpus.py"), "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "tuxpaint" in out.stdout


def test_chance_recall_matches_a_direct_count() -> None:
    # 1 relevant of 4 targets: R@1 = 1/4, R@2 = 1/2; 2 relevant of 4: R@1 = 1/2, R@2 = 1 - (2/4)(1/3)
    assert score.chance_recall([1], 4, 1) == pytest.approx(25.0)
    assert score.chance_recall([2], 4, 2) == pytest.approx(100 * (1 - 2 / 4 * 1 / 3))
    assert score.chance_recall([1], 3, 10) == pytest.approx(100.0)


def test_train_log_prints_a_missing_average_as_a_dash(capsys: pytest.CaptureFixture[str]) -> None:
    from cli.train_cmds import _print_log

    _print_log({"epoch": 1, "step": 36, "val": {"avg_single": 12.34, "avg_dual": None, "avg_all": 12.34}})
    assert "AVG-single 12.3  AVG-dual -  AVG-all 12.3" in capsys.readouterr().out


ablation = importlib.import_module("sound_corpus.ablation")


def test_ablation_default_preset_is_the_heads_trainers_default_objective() -> None:
    from omnisearch.train.fidelity import BASE, config
    from omnisearch.train.trainer import TrainConfig

    cfg, default = config("mean+target", BASE), TrainConfig()
    assert cfg.objective == default.objective
    assert cfg.heads == default.heads


def _runs(t2a: list[float]) -> list[dict]:
    return [{"seed": s, "r1": {"t2a": v, "a2t": v / 2}, "avg_single": v * 0.75, "seconds": 1.0}
            for s, v in enumerate(t2a)]  # fmt: skip


def test_ablation_summary_pairs_every_variant_with_l_a_by_seed() -> None:
    runs = {"L_A": _runs([10.0, 20.0, 30.0]), "L_A+L_T": list(reversed(_runs([11.0, 22.0, 30.0])))}
    text = ablation.summary({"mean+target/100": {"setup": {"train_items": 591}, "runs": runs}})
    # t2a differences 1, 2, 0: mean 1.0, std 1.0, paired SE 1/sqrt(3) = 0.577; none below L_A
    assert "| mean+target | 591 | L_A+L_T | +1.0 ± 0.6 (0/3) | +0.5 ± 0.3 (0/3) |" in text
    assert "| mean+target | 591 | L_A | 20.0 ± 10.0 |" in text
    with pytest.raises(ValueError, match="no seed in common"):
        ablation.paired(runs["L_A"], [{"seed": 7, "r1": {"t2a": 1.0}}], "t2a")
