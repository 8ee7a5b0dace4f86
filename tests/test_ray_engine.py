"""`index_paths(engine=RayEngine())` on a local in-process Ray instance (2 CPUs) writes exactly the
clips the local engine writes: the same ids, spans, words and vectors (within 1e-5), the same failures."""

from __future__ import annotations

import numpy as np
import pytest
import synth

from omnisearch.config import SegmentConfig

ray = pytest.importorskip("ray", reason="needs the ray extra (pip install 'omnisearch[ray]')")
pytestmark = [
    pytest.mark.skipif(not synth.have_tools("ffmpeg", "espeak-ng"), reason="needs ffmpeg, espeak-ng"),
    pytest.mark.slow,  # 62-108 s on the 2-core build machine (Ray start, two model loads, both engines)
]


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    root = tmp_path_factory.mktemp("lib")
    speech = [(0.5, "the fishing boats return to the harbour"), (8.0, "the gulls follow them")]
    synth.make_video(
        root / "harbour.mp4", 14, color="red", shape="circle", onscreen_text="LIGHTHOUSE", speech=speech
    )
    synth.make_video(root / "kitchen.mp4", None, color="blue", shape="box", speech="add sugar to the coffee")
    synth.tone_wav(root / "beep.wav", 880, 1.5)
    synth.make_image(root / "still.png")
    synth.corrupt_file(root / "broken.mp4")
    (root / "kitchen.srt").write_text("1\n00:00:00,000 --> 00:00:02,000\nsugar and coffee\n")
    return root


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _index(library, db, engine):
    from omnisearch.indexers import open_store
    from omnisearch.ingest.pipeline import index_paths
    from omnisearch.models import load_encoder

    store = open_store("lancedb", str(db))
    report = index_paths([str(library)], store, load_encoder("omni-lite"), SegmentConfig(), engine=engine)
    rows = {r["clip_id"]: r for r in store.scan(with_vectors=True)}
    store.close()
    return report, rows


def test_ray_writes_the_same_clips(library, local_ray, tmp_path):
    from omnisearch.ingest.ray_engine import RayEngine

    local, want = _index(library, tmp_path / "local", None)
    remote, got = _index(library, tmp_path / "ray", RayEngine())
    assert local.files_indexed == remote.files_indexed == 4
    assert local.clips_written == remote.clips_written == len(want) == 5  # harbour.mp4: 2 windows
    assert (
        sorted(p for p, _ in local.failed)
        == sorted(p for p, _ in remote.failed)
        == [str(library / "broken.mp4")]
    )
    assert sorted(got) == sorted(want)
    for cid, w in want.items():
        g = got[cid]
        for key in (
            "path",
            "start",
            "end",
            "keyframe",
            "text",
            "transcript",
            "ocr_text",
            "tags",
            "file_hash",
        ):
            assert g[key] == w[key], (cid, key)
        assert sorted(g["vectors"]) == sorted(w["vectors"])
        for m, v in w["vectors"].items():
            np.testing.assert_allclose(g["vectors"][m], v, atol=1e-5, err_msg=f"{cid} {m}")
    assert any(r["transcript"] for r in want.values()), "no clip had words: the library tests too little"
    assert remote.media_seconds == pytest.approx(local.media_seconds)
