"""Each converter on a tiny fixture in its public layout (dummy media files: nothing is decoded)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from omnisearch.eval.converters import FORMATS, MediaIndex, convert
from omnisearch.eval.manifest import read_manifest


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"\0")


def run(fmt: str, src: Path, **kw):
    out = src / "out" / f"{fmt}.jsonl"
    summary = convert(fmt, src, out, **kw)
    return summary, {it.id: it for it in read_manifest(out)}


def test_msrvtt(tmp_path: Path) -> None:
    touch(tmp_path, "videos/all/video7010.mp4", "videos/all/video7020.mp4")
    (tmp_path / "MSRVTT_JSFUSION_test.csv").write_text(
        "key,vid_key,video_id,sentence\n"
        "ret0,msr7010,video7010,a man is talking about a car\n"
        "ret1,msr7020,video7020,people dance\n"
        "ret2,msr7030,video7030,missing video\n"
    )
    s, items = run("msrvtt", tmp_path)
    assert (s.written, s.missing_media, s.missing_examples) == (2, 1, ["video7030"])
    assert items["video7010"].texts == ["a man is talking about a car"]
    assert items["video7010"].video == str(tmp_path / "videos/all/video7010.mp4")


def test_msvd_text_layout_with_test_list(tmp_path: Path) -> None:
    touch(tmp_path, "YouTubeClips/-4wsuPCjDBc_5_15.avi", "YouTubeClips/zv2RIbUsnSw_335_341.avi")
    (tmp_path / "AllVideoDescriptionDataEnglish.txt").write_text(
        "-4wsuPCjDBc_5_15 a squirrel is eating a peanut\n"
        "-4wsuPCjDBc_5_15 a chipmunk eats\n"
        "zv2RIbUsnSw_335_341 a man plays guitar\n"
        "notest_1_2 not in the test list\n"
    )
    (tmp_path / "test_list.txt").write_text("-4wsuPCjDBc_5_15\nzv2RIbUsnSw_335_341\nabsent_0_1\n")
    s, items = run("msvd", tmp_path)
    assert set(items) == {"-4wsuPCjDBc_5_15", "zv2RIbUsnSw_335_341"}
    assert items["-4wsuPCjDBc_5_15"].texts == ["a squirrel is eating a peanut", "a chipmunk eats"]
    assert s.skipped == {"no captions": 1} and s.missing_media == 0


def test_msvd_corpus_csv_and_mapping(tmp_path: Path) -> None:
    touch(tmp_path, "YouTubeClips/abc_1_5.avi")
    (tmp_path / "MSR Video Description Corpus.csv").write_text(
        "VideoID,Start,End,WorkerID,Source,AnnotationTime,Language,Description\n"
        "abc,1,5,1,clean,10,English,a cat sleeps\n"
        "abc,1,5,2,clean,10,German,eine Katze\n"
        "xyz,2,3,1,clean,10,English,no file\n"
    )
    (tmp_path / "youtube_mapping.txt").write_text("abc_1_5 vid1\nxyz_2_3 vid2\n")
    (tmp_path / "test_list.txt").write_text("vid1\nvid2\n")
    s, items = run("msvd", tmp_path)
    assert items["abc_1_5"].texts == ["a cat sleeps"] and s.missing_media == 1


def test_didemo_paragraphs(tmp_path: Path) -> None:
    touch(tmp_path, "videos/111@N00_222_aaa.mov.mp4", "videos/333@N00_444_bbb.mp4")
    records = [
        {"video": "111@N00_222_aaa.mov", "description": "a dog runs.", "times": [[0, 0]]},
        {"video": "333@N00_444_bbb.mov", "description": "a car.", "times": [[1, 1]]},
        {"video": "111@N00_222_aaa.mov", "description": "the dog stops.", "times": [[1, 2]]},
        {"video": "555@N00_666_ccc.mov", "description": "gone", "times": [[0, 0]]},
    ]
    (tmp_path / "test_data.json").write_text(json.dumps(records))
    s, items = run("didemo", tmp_path)
    assert items["111@N00_222_aaa"].texts == ["a dog runs. the dog stops."]
    assert items["333@N00_444_bbb"].video.endswith("333@N00_444_bbb.mp4")
    assert s.written == 2 and s.missing_media == 1


def test_vatex_clip_files_and_full_videos(tmp_path: Path) -> None:
    touch(tmp_path, "clips/Ptf_2VRj-V0_000122_000132.mp4", "full/abc_def.mkv")
    records = [
        {"videoID": "Ptf_2VRj-V0_000122_000132", "enCap": ["A man cooks.", "Someone cooks."], "chCap": []},
        {"videoID": "abc_def_000010_000020", "enCap": ["A dog."]},
        {"videoID": "missing0000_000001_000011", "enCap": ["gone"]},
        {"videoID": "nocap_000001_000011", "chCap": ["x"]},
    ]
    (tmp_path / "vatex_validation_v1.0.json").write_text(json.dumps(records))
    s, items = run("vatex", tmp_path)
    clip = items["Ptf_2VRj-V0_000122_000132"]
    assert clip.start is None and clip.texts == ["A man cooks.", "Someone cooks."]
    cut = items["abc_def_000010_000020"]
    assert (cut.start, cut.end) == (10.0, 20.0) and cut.video.endswith("abc_def.mkv")
    assert s.missing_media == 1 and s.skipped == {"no English captions": 1}


def test_clotho_prefers_evaluation_folder(tmp_path: Path) -> None:
    touch(tmp_path, "clotho_audio_evaluation/evaluation/Bird song.wav", "development/Bird song.wav")
    header = "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
    (tmp_path / "clotho_captions_evaluation.csv").write_text(
        header + "Bird song.wav,birds sing,a bird chirps,birds sing,b,c\nGone.wav,x,y,z,u,v\n"
    )
    s, items = run("clotho", tmp_path)
    assert items["Bird song"].texts == ["birds sing", "a bird chirps", "b", "c"]
    assert "evaluation/Bird song.wav" in items["Bird song"].audio
    assert s.missing_media == 1


def test_audiocaps_groups_captions_and_finds_names(tmp_path: Path) -> None:
    touch(
        tmp_path,
        "audio/test/--0w1YA1Hm4.wav",
        "audio/test/Y-0xzrMun0Rs_30.000_40.000.flac",
        "audio/103550.wav",
    )
    (tmp_path / "test.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "103541,--0w1YA1Hm4,30,A vehicle driving\n"
        "103542,--0w1YA1Hm4,30,A car engine idles\n"
        "103543,-0xzrMun0Rs,30,Rain falls\n"
        "103550,zzz,0,named by audiocap id\n"
        "103560,gone,0,no file\n"
    )
    s, items = run("audiocaps", tmp_path)
    assert items["--0w1YA1Hm4"].texts == ["A vehicle driving", "A car engine idles"]
    assert items["--0w1YA1Hm4"].start is None
    assert items["-0xzrMun0Rs"].audio.endswith(".flac") and items["zzz"].audio.endswith("103550.wav")
    assert s.written == 3 and s.missing_media == 1
    _, cut = run("audiocaps", tmp_path, cut=True)
    assert (cut["--0w1YA1Hm4"].start, cut["--0w1YA1Hm4"].end) == (30.0, 40.0)
    assert cut["-0xzrMun0Rs"].start is None  # the file is already the cut clip
    with pytest.raises(TypeError):
        convert("audiocaps", tmp_path, tmp_path / "x.jsonl", nope=1)


def test_sounddescs_pickle_and_list(tmp_path: Path) -> None:
    touch(tmp_path, "audios/07033137/07033137.wav", "audios/nhu05091190.wav")
    descriptions = {"07033137": "Birds in a forest.", "nhu05091190": "Wind.", "07070057": "No audio."}
    (tmp_path / "sounddescs_data").mkdir()
    (tmp_path / "sounddescs_data" / "descriptions.pkl").write_bytes(pickle.dumps(descriptions))
    (tmp_path / "test_list.txt").write_text("07033137\nNHU05091190\n07070057\nnodesc\n")
    s, items = run("sounddescs", tmp_path)
    assert items["07033137"].texts == ["Birds in a forest."] and items["NHU05091190"].texts == ["Wind."]
    assert s.missing_media == 1 and s.skipped == {"no description": 1}


def test_sounddescs_refuses_pickled_objects(tmp_path: Path) -> None:
    (tmp_path / "descriptions.pkl").write_bytes(pickle.dumps({"a": Path("x")}))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        convert("sounddescs", tmp_path, tmp_path / "o.jsonl")


def test_omnibench_jsonl_layouts(tmp_path: Path) -> None:
    bench = tmp_path / "benchmark"
    touch(bench, "videos/001.mp4", "videos/002.mp4", "videos/002.wav", "videos/003.mp4")
    records = [
        {"id": "001", "text": "two women dance", "video": "videos/001.mp4", "audio": "videos/001.mp4"},
        {
            "id": "002",
            "text": "a drum",
            "video": "benchmark/videos/002.mp4",
            "audio": "benchmark/videos/002.wav",
        },
        {"id": "003", "text": "a bell", "video": "/elsewhere/003.mp4"},
        {"id": "004", "text": "gone", "video": "videos/004.mp4", "audio": "videos/004.mp4"},
    ]
    (bench / "manifests").mkdir()
    (bench / "manifests" / "omniretriever_bench.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    s, items = run("omnibench", bench)
    assert items["001"].video == str(bench / "videos/001.mp4") and items["001"].audio is None
    assert items["002"].audio == str(bench / "videos/002.wav")
    assert items["003"].video == str(bench / "videos/003.mp4")  # found by file name
    assert s.written == 3 and s.missing_media == 1


def test_omnibench_csv_assumed_layout(tmp_path: Path) -> None:
    touch(tmp_path, "clips/7001.mp4")
    (tmp_path / "OmniRetriever-Bench.csv").write_text(
        "id,url,start,end,caption\n7001,https://x/1,1.5,4.0,a cat meows\n7002,https://x/2,0,2,gone\n"
    )
    s, items = run("omnibench", tmp_path)
    assert items["7001"].texts == ["a cat meows"] and items["7001"].start is None and s.missing_media == 1
    _, cut = run("omnibench", tmp_path, cut=True)
    assert (cut["7001"].start, cut["7001"].end) == (1.5, 4.0)


def test_media_index_and_errors(tmp_path: Path) -> None:
    touch(tmp_path, "a/x.mp4", "b/x.avi", "c/Mixed.MKV", "d/y.txt")
    idx = MediaIndex(tmp_path, (".mp4", ".avi", ".mkv"))
    assert idx.find("x").endswith("x.mp4") and idx.find("x.avi").endswith("x.avi")
    assert idx.find("mixed").endswith("Mixed.MKV") and idx.find("y") is None and len(idx) == 3
    with pytest.raises(ValueError, match="unknown format"):
        convert("nope", tmp_path, tmp_path / "o.jsonl")
    with pytest.raises(FileNotFoundError, match="MSRVTT_JSFUSION_test.csv"):
        convert("msrvtt", tmp_path, tmp_path / "o.jsonl")
    assert set(FORMATS) == {
        "msrvtt",
        "msvd",
        "didemo",
        "vatex",
        "omnibench",
        "clotho",
        "audiocaps",
        "sounddescs",
    }
