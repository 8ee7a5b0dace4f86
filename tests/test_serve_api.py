"""The HTTP API over real HTTP: a uvicorn server in a thread on a free port, serving a generated
library indexed with omni-lite; requests go through httpx. Search (GET and POST with an uploaded
sound, clip or picture), health, clip metadata, thumbnails, media cuts with HTTP Range, OpenAPI and
the offline /docs, concurrent searches, and a file indexed while the server runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading

import pytest
from serve_helpers import LiveServer

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def server(serve_index, serve_library, tmp_path_factory):
    from omnisearch.serve.app import create_app
    from omnisearch.serve.config import ServeConfig

    cache = tmp_path_factory.mktemp("cache")
    cfg = ServeConfig(db=str(serve_library[1]), cache_dir=str(cache), workers=4)
    with LiveServer(create_app(cfg, index=serve_index)) as base:
        with httpx.Client(base_url=base, timeout=120) as client:
            yield client, cache


def _search(client, **params):
    r = client.get("/api/search", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _post(client, field: str, path, mime: str, **data) -> list[str]:
    """POST /api/search with the file at `path` as the query's `field`; the hits' file names."""
    with open(path, "rb") as f:
        r = client.post("/api/search", files={field: (os.path.basename(path), f, mime)}, data=data)
    assert r.status_code == 200, r.text
    return [os.path.basename(h["file"]) for h in r.json()["hits"]]


def test_health_names_the_encoder_and_counts_clips(server, serve_index):
    client, _ = server
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["clips"] == serve_index.info()["clips"] > 0
    assert body["encoder"]["name"] == "omni-lite"


def test_text_search_finds_the_spoken_moment_with_every_field(server):
    client, _ = server
    body = _search(client, q="budget for the warehouse in Lisbon", k=3)
    assert body["took_ms"] >= 0
    top = body["hits"][0]
    assert os.path.basename(top["file"]) == "talk.mp4"
    assert top["start"] < 10  # the warehouse sentence is spoken from 0.5 s
    for key in ("clip_id", "file", "start", "end", "span_start", "span_end", "score", "scores"):
        assert key in top
    assert "warehouse" in top["transcript"].lower()
    assert top["keyframe"] >= top["start"]
    assert top["citation"].startswith("talk.mp4 @ 00:")
    assert top["thumbnail_url"] == f"/api/clips/{top['clip_id']}/thumbnail"
    assert top["media_url"].startswith(f"/api/clips/{top['clip_id']}/media")


def test_filters_and_target_reach_the_index(server):
    client, _ = server
    only_audio = _search(client, q="a beep", k=10, media_type="audio")["hits"]
    assert only_audio and {h["media_type"] for h in only_audio} == {"audio"}
    by_path = _search(client, q="a beep", k=10, path="*beep*")["hits"]
    assert [os.path.basename(h["file"]) for h in by_path] == ["beep.wav"]
    assert _search(client, q="budget", k=2, target="video", rerank="true")["hits"]


def test_post_with_an_uploaded_sound_finds_that_sound(server, serve_library):
    client, _ = server
    lib = serve_library[0]
    with open(lib / "beep.wav", "rb") as f:
        r = client.post("/api/search", files={"audio": ("query.wav", f, "audio/wav")}, data={"k": "3"})
    assert r.status_code == 200, r.text
    top = r.json()["hits"][0]
    assert os.path.basename(top["file"]) == "beep.wav" and top["score"] > 0.99


def test_post_with_a_picture_and_words_and_a_clip_span(server, serve_library):
    client, _ = server
    lib = serve_library[0]
    assert _post(client, "image", lib / "card.png", "image/png", k="2")[0] == "card.png"
    assert (
        _post(client, "video", lib / "talk.mp4", "video/mp4", k="2", span="0-8", q="warehouse")[0]
        == "talk.mp4"
    )


def test_clip_metadata_by_id(server):
    client, _ = server
    hit = _search(client, q="hiring plan for the support team", k=1)["hits"][0]
    r = client.get(f"/api/clips/{hit['clip_id']}")
    assert r.status_code == 200
    clip = r.json()
    assert clip["clip_id"] == hit["clip_id"] and clip["file"] == hit["file"]
    assert (clip["start"], clip["end"]) == (hit["start"], hit["end"])
    assert clip["ocr_text"] or clip["transcript"]


def test_thumbnail_is_a_cached_jpeg_of_the_keyframe(server):
    from io import BytesIO

    from PIL import Image

    client, cache = server
    hits = _search(client, q="warehouse budget", k=10)["hits"]
    kinds = {h["media_type"]: h for h in hits}
    for hit in kinds.values():  # a video frame, a waveform of a sound, a picture scaled down
        r = client.get(hit["thumbnail_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        img = Image.open(BytesIO(r.content))
        assert img.format == "JPEG" and img.width == 320
    video = kinds["video"]
    before = sorted(os.listdir(cache))
    again = client.get(video["thumbnail_url"])
    assert again.status_code == 200 and sorted(os.listdir(cache)) == before  # served from the cache


def _probe(data: bytes, tmp_path) -> dict:
    path = tmp_path / "cut.bin"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_media_is_the_span_cut_playable_with_range_requests(server, tmp_path):
    client, _ = server
    hit = _search(client, q="warehouse budget", k=1)["hits"][0]
    r = client.get(hit["media_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    info = _probe(r.content, tmp_path)
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    want = hit["span_end"] - hit["span_start"]
    assert abs(float(info["format"]["duration"]) - want) < 0.5
    part = client.get(hit["media_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == r.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(r.content)}"
    own = client.get(f"/api/clips/{hit['clip_id']}/media")  # without start/end: the clip's own window
    assert abs(float(_probe(own.content, tmp_path)["format"]["duration"]) - (hit["end"] - hit["start"])) < 0.5


def test_media_of_a_sound_is_audio(server, tmp_path):
    client, _ = server
    hit = _search(client, q="beep", k=1, path="*beep*")["hits"][0]
    r = client.get(hit["media_url"])
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mp4"
    assert {s["codec_type"] for s in _probe(r.content, tmp_path)["streams"]} == {"audio"}


def test_openapi_lists_the_routes_and_docs_load_nothing_from_the_internet(server):
    client, _ = server
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/api/health", "/api/search", "/api/clips/{clip_id}", "/api/clips/{clip_id}/media"):
        assert p in paths
    assert "multipart/form-data" in paths["/api/search"]["post"]["requestBody"]["content"]
    docs = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_concurrent_searches_all_answer_the_same(server):
    client, _ = server
    queries = ["warehouse budget", "hiring plan", "a beep", "quarterly review"]
    alone = {q: [h["clip_id"] for h in _search(client, q=q, k=5)["hits"]] for q in queries}
    got: list[tuple[str, int, list[str]]] = []

    def worker(i: int) -> None:
        for n in range(5):
            q = queries[(i + n) % len(queries)]
            r = client.get("/api/search", params={"q": q, "k": 5})
            got.append((q, r.status_code, [h["clip_id"] for h in r.json()["hits"]]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(got) == 60
    assert all(code == 200 and ids == alone[q] for q, code, ids in got)


def test_a_file_indexed_while_serving_is_found_without_a_restart(server, serve_library, tmp_path):
    import synth

    import omnisearch

    client, _ = server
    lib, db = serve_library
    clips_before = client.get("/api/health").json()["clips"]
    synth.tone_wav(lib / "late.wav", 523, 2.0, kind="square")
    with omnisearch.open(db) as writer:  # a second process in real use: `omnisearch index`
        assert writer.index([lib]).files_indexed == 1
    assert client.get("/api/health").json()["clips"] == clips_before + 1
    assert _post(client, "audio", lib / "late.wav", "audio/wav", k="1") == ["late.wav"]
    shutil.copy(lib / "late.wav", tmp_path / "kept.wav")
