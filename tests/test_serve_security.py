"""The server's access rules and bad input, over real HTTP: the bearer token, the refusal to start off
loopback without one, media only by clip id and only for files still under an indexed root, uploads
limited while they stream (413), unsupported types (415), bad parameters (422), never a 5xx."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from serve_helpers import LiveServer

httpx = pytest.importorskip("httpx")
TOKEN = "test-token-1234"


@pytest.fixture(scope="module")
def strict(serve_index, serve_library):
    """A server with a bearer token and a 1 MB upload limit."""
    from omnisearch.serve.app import create_app
    from omnisearch.serve.config import ServeConfig

    cfg = ServeConfig(db=str(serve_library[1]), token=TOKEN, max_upload_mb=1)
    with LiveServer(create_app(cfg, index=serve_index)) as base:
        with httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            yield c


def test_loopback_rule():
    from omnisearch.serve.config import ServeConfig, check_config, is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.org"))
    with pytest.raises(ValueError, match="not a loopback address"):
        check_config(ServeConfig(db="x", host="0.0.0.0"))
    with pytest.raises(ValueError, match="empty"):
        check_config(ServeConfig(db="x", host="0.0.0.0", token="  "))
    check_config(ServeConfig(db="x", host="0.0.0.0", token=TOKEN))


def test_serve_refuses_to_start_off_loopback_without_a_token(tmp_path):
    exe = os.path.join(os.path.dirname(sys.executable), "omnisearch")
    env = {k: v for k, v in os.environ.items() if k != "OMNISEARCH_TOKEN"}
    r = subprocess.run(
        [exe, "serve", "--db", str(tmp_path), "--host", "0.0.0.0"], capture_output=True, text=True, env=env
    )
    assert r.returncode == 2
    assert "refusing to start" in r.stderr and "--token" in r.stderr


def test_every_route_but_health_needs_the_token(strict):
    hit = strict.get("/api/search", params={"q": "warehouse"}).json()["hits"][0]
    bare = httpx.Client(base_url=str(strict.base_url), timeout=60)
    assert bare.get("/api/health").status_code == 200
    urls = ["/api/search?q=warehouse", f"/api/clips/{hit['clip_id']}", hit["thumbnail_url"], hit["media_url"]]
    for url in urls:
        r = bare.get(url)
        assert r.status_code == 401, url
        assert r.headers["www-authenticate"] == "Bearer"
        assert bare.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert bare.get(url, headers={"Authorization": TOKEN}).status_code == 401  # no scheme
        assert strict.get(url).status_code == 200, url
    assert bare.post("/api/search", data={"q": "warehouse"}).status_code == 401


def test_unknown_malformed_and_traversing_ids_are_404(strict):
    for url in (
        "/api/clips/0123456789abcdef:0.000-10.000",
        "/api/clips/0123456789abcdef:0.000-10.000/media",
        "/api/clips/not-an-id/thumbnail",
        "/api/clips/..%2F..%2F..%2Fetc%2Fpasswd/media",
        "/api/clips/../../../etc/passwd",
        "/api/clips/%2Fetc%2Fpasswd/thumbnail",
        "/api/clips/0123456789abcdef:0.000-10.000' OR '1'='1/media",
    ):
        assert strict.get(url).status_code == 404, url


def test_a_file_moved_out_of_the_roots_is_not_served(strict, serve_library, tmp_path):
    lib = serve_library[0]
    hit = strict.get("/api/search", params={"q": "chirp", "path": "*spare.wav"}).json()["hits"][0]
    assert strict.get(hit["thumbnail_url"]).status_code == 200
    outside = tmp_path / "outside.wav"
    os.replace(lib / "spare.wav", outside)
    try:
        os.symlink(outside, lib / "spare.wav")  # the indexed path now leads out of the roots
        for url in (hit["media_url"], f"/api/clips/{hit['clip_id']}/media?start=0&end=1"):
            assert strict.get(url).status_code == 404
        os.remove(lib / "spare.wav")  # gone altogether
        assert strict.get(hit["media_url"]).status_code == 404
        assert strict.get(f"/api/clips/{hit['clip_id']}").status_code == 200  # metadata stays
    finally:
        if os.path.lexists(lib / "spare.wav"):
            os.remove(lib / "spare.wav")
        os.replace(outside, lib / "spare.wav")


def _raw_post(base: str, head: str, chunks: list[bytes]) -> tuple[str, int]:
    """Send a request by hand (headers, then body chunks as given): (status line, chunks sent before
    the server answered and closed the connection)."""
    host, port = base.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as s:
        s.sendall(head.encode())
        try:
            for c in chunks:
                s.sendall(c)
                sent += 1
        except (BrokenPipeError, ConnectionResetError):
            pass
        return s.recv(4096).decode(errors="replace").split("\r\n")[0], sent


def test_uploads_over_the_limit_get_413_while_streaming(strict, serve_library):
    base = str(strict.base_url).rstrip("/")
    big = b"\0" * (2 * 1024 * 1024)
    r = strict.post("/api/search", files={"audio": ("big.wav", big, "audio/wav")})
    assert r.status_code == 413 and "max-upload-mb" in r.json()["detail"]
    # a declared length over the limit is refused before any body is sent
    head = f"POST /api/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
    declared = "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 500000000\r\n\r\n"
    assert " 413 " in _raw_post(base, head + declared, [])[0]
    # a chunked body is cut off once it passes the limit, long before its end (of 400 MB)
    boundary = b"--b\r\nContent-Disposition: form-data; name=audio; filename=a.wav\r\n\r\n"
    chunk = 256 * 1024
    body = [f"{len(boundary):x}\r\n".encode() + boundary + b"\r\n"]
    body += [f"{chunk:x}\r\n".encode() + b"\0" * chunk + b"\r\n"] * 1600
    ctype = "Content-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n"
    line, sent = _raw_post(base, head + ctype, body)
    assert " 413 " in line and sent < len(body) // 4
    with open(serve_library[0] / "beep.wav", "rb") as f:  # under the limit: fine
        assert strict.post("/api/search", files={"audio": ("b.wav", f, "audio/wav")}).status_code == 200


def test_unsupported_types_get_415(strict):
    cases = [
        {"audio": ("notes.txt", b"hello", "text/plain")},
        {"audio": ("fake.wav", b"RIFF....not really a wav at all", "audio/wav")},
        {"image": ("x.png", b"\x89PNG broken", "image/png")},
        {"image": ("sound.wav", b"RIFF", "audio/wav")},
        {"video": ("empty.mp4", b"", "video/mp4")},
    ]
    for files in cases:
        r = strict.post("/api/search", files=files)
        assert r.status_code == 415, (files, r.text)
        assert r.json()["detail"]
    assert strict.post("/api/search", json={"q": "x"}).status_code == 415
    assert (
        strict.post("/api/search", content=b"q=x", headers={"Content-Type": "text/plain"}).status_code == 415
    )


def test_bad_parameters_get_422_with_a_message(strict):
    for params in (
        {"q": "x", "k": "0"},
        {"q": "x", "k": "abc"},
        {"q": "x", "k": "100000"},
        {"q": "x", "target": "smell"},
        {"q": "x", "media_type": "hologram"},
        {"q": "x", "rerank": "maybe"},
        {"q": ""},
        {"q": "   "},
        {},
        {"q": "x" * 5000},
        {"q": "nul\x00byte"},
    ):
        r = strict.get("/api/search", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["detail"]
    for data in (
        {"q": "x", "span": "soon"},
        {"q": "x", "span": "9-3"},
        {"q": "x", "span": "0-5"},
        {"k": "3"},
    ):
        r = strict.post("/api/search", data=data)
        assert r.status_code == 422, (data, r.text)
    r = strict.post("/api/search", data={"q": "x"}, files=[("k", (None, "1")), ("k", (None, "2"))])
    assert r.status_code == 422
    hit = strict.get("/api/search", params={"q": "warehouse"}).json()["hits"][0]
    base = f"/api/clips/{hit['clip_id']}/media"
    for q in ("?start=5&end=1", "?start=-1", "?start=0&end=9999", "?end=abc"):
        assert strict.get(base + q).status_code == 422, q


def test_odd_but_valid_input_is_answered_not_crashed(strict):
    for params in (
        {"q": "x", "path": "["},
        {"q": "x", "path": "**/../../*"},
        {"q": "x", "path": "'; DROP TABLE clips; --"},
        {"q": "🦆 квартальный 会議"},
        {"q": "x", "k": "200", "media_type": "image"},
    ):
        r = strict.get("/api/search", params=params)
        assert r.status_code == 200, (params, r.text)
