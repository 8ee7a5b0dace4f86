"""`omnisearch mcp --db DIR`: a stdio MCP server (the `mcp` package, extra `serve`) with two tools over
one open Index (models loaded once, on the first search):

- `search(query, k, target, filters)`: the clips found, best first, each with its citation
  ("talk.mp4 @ 01:23-01:33"), file, time span, score and words;
- `clip(clip_id)`: one clip's words (transcript, subtitles, on-screen text, what is seen) and spans.

Example (an MCP client's configuration):
    {"mcpServers": {"omnisearch": {"command": "omnisearch", "args": ["mcp", "--db", "/home/me/db"]}}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from omnisearch.extras import MissingExtra

try:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
except ImportError as e:
    raise MissingExtra("mcp", "the MCP server (omnisearch mcp)", "mcp") from e

from omnisearch.api import Index, NoIndexError
from omnisearch.hits import SearchHit
from omnisearch.retrieval.query import QueryError

INSTRUCTIONS = (
    "Search a local audio/video library by meaning. `search` returns moments of files (with a citation "
    "'file @ mm:ss-mm:ss' to quote and the words spoken or shown there); `clip` returns one moment's words."
)


class SearchFilters(BaseModel):
    """Optional filters of a search."""

    path: str | None = Field(None, description="glob on the file path, e.g. '*/talks/*'")
    media_type: str | None = Field(None, description="video | audio | image")
    after: str | None = Field(None, description="only files indexed after this ISO date, e.g. 2024-05-01")
    start: float | None = Field(None, description="only clips starting at or after START seconds")
    end: float | None = Field(None, description="only clips ending at or before END seconds")


def _moment(h: SearchHit) -> dict[str, Any]:
    return {
        "citation": h.citation,
        "file": h.file,
        "start": round(h.start, 3),
        "end": round(h.end, 3),
        "span_start": round(h.span_start, 3),
        "span_end": round(h.span_end, 3),
        "score": round(h.score, 6),
        "clip_id": h.clip_id,
        "media_type": h.media_type,
        "words": h.words,
    }


def build_server(idx: Index) -> MCPServer:
    """The MCP server answering over `idx` (tools `search` and `clip`)."""
    server = MCPServer(name="omnisearch", instructions=INSTRUCTIONS)

    @server.tool()
    def search(
        query: str,
        k: int = 5,
        target: str | None = None,
        filters: SearchFilters | None = None,
    ) -> dict[str, Any]:
        """Find the moments of the library that match a text query, best first. `target`: text |
        video | audio | fused (default fused: all of a clip). Quote a hit by its `citation`."""
        flt = {key: v for key, v in (filters.model_dump() if filters else {}).items() if v is not None}
        try:
            hits = idx.search(query, k=k, target=target, filters=flt)
        except (QueryError, NoIndexError) as e:
            raise ToolError(str(e)) from e
        return {"query": query, "hits": [_moment(h) for h in hits]}

    @server.tool()
    def clip(clip_id: str) -> dict[str, Any]:
        """One clip by its `clip_id` (from `search`): its file, time span and all of its words."""
        try:
            h = idx.clip(clip_id)
        except NoIndexError as e:
            raise ToolError(str(e)) from e
        if h is None:
            raise ToolError(f"no clip {clip_id!r} in this index")
        return {
            **_moment(h),
            "transcript": h.transcript,
            "text": h.text,
            "ocr_text": h.ocr_text,
            "tags": h.tags,
            "keyframe": round(h.keyframe, 3),
        }

    return server


def serve_stdio(idx: Index) -> None:
    """Answer MCP requests on stdin/stdout until the client closes them."""
    build_server(idx).run("stdio")
