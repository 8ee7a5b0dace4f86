"""`omnisearch mcp --db DIR` driven by the real MCP client over stdio (mcp.client.stdio)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("mcp")

import anyio  # noqa: E402 - after the skip
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

OMNI = str(Path(sys.executable).with_name("omnisearch"))


async def _session_calls(db: str) -> dict:
    params = StdioServerParameters(command=OMNI, args=["mcp", "--db", db], env=dict(os.environ))
    out: dict = {}
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            out["tools"] = {t.name: t for t in (await s.list_tools()).tools}
            found = await s.call_tool("search", {"query": "budget for the warehouse", "k": 3})
            out["search"] = found
            cid = found.structured_content["hits"][0]["clip_id"]
            out["clip"] = await s.call_tool("clip", {"clip_id": cid})
            out["filtered"] = await s.call_tool(
                "search", {"query": "anything", "k": 5, "filters": {"media_type": "audio"}}
            )
            out["bad_target"] = await s.call_tool("search", {"query": "x", "target": "smell"})
            out["no_clip"] = await s.call_tool("clip", {"clip_id": "nope"})
    return out


@pytest.fixture(scope="module")
def calls(api_library):
    return anyio.run(_session_calls, str(api_library[1]))


def test_tools_are_listed_with_their_arguments(calls) -> None:
    tools = calls["tools"]
    assert set(tools) == {"search", "clip"}
    props = tools["search"].input_schema["properties"]
    assert {"query", "k", "target", "filters"} <= set(props) and tools["search"].input_schema["required"] == [
        "query"
    ]
    assert tools["clip"].input_schema["required"] == ["clip_id"]


def test_search_returns_cited_clips(calls) -> None:
    res = calls["search"]
    assert not res.is_error
    hits = res.structured_content["hits"]
    assert hits[0]["file"].endswith("talk.mp4") and hits[0]["citation"].startswith("talk.mp4 @ ")
    assert "warehouse" in hits[0]["words"].lower() and hits[0]["span_start"] <= hits[0]["start"]
    assert json.loads(res.content[0].text)["hits"] == hits  # the same as text for clients without structure


def test_clip_returns_words_and_spans(calls) -> None:
    res = calls["clip"]
    c = res.structured_content
    hit = calls["search"].structured_content["hits"][0]
    assert not res.is_error and c["clip_id"] == hit["clip_id"] and c["file"] == hit["file"]
    assert "warehouse" in c["transcript"].lower() and c["start"] <= c["keyframe"] <= c["end"]


def test_filters_and_errors(calls) -> None:
    hits = calls["filtered"].structured_content["hits"]
    assert hits and {h["media_type"] for h in hits} == {"audio"}
    assert calls["bad_target"].is_error and "unknown target" in calls["bad_target"].content[0].text
    assert calls["no_clip"].is_error and "no clip 'nope'" in calls["no_clip"].content[0].text


def test_mcp_without_an_index_exits_2(tmp_path) -> None:
    import subprocess

    res = subprocess.run([OMNI, "mcp", "--db", str(tmp_path / "none")], capture_output=True, text=True)
    assert res.returncode == 2 and "no index at" in res.stderr
