"""The HTTP routes under /api: health, search (GET by text, POST with uploaded files), and a clip's
metadata, thumbnail and media, addressed by clip id only.

Example:

"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from omnisearch.serve.media import ClipFile, MediaCutError, media_type_of
from omnisearch.serve.schemas import ClipOut, HealthOut, SearchOut, SearchParams, UploadParams
from omnisearch.serve.security import not_found, under_roots, valid_clip_id
from omnisearch.serve.state import ServerState
from omnisearch.serve.uploads import FILE_FIELDS, form_fields, save_upload

MAX_FORM_FIELD_BYTES = 64 * 1024


def _inlined(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its local `#/$defs/...` references replaced by what they point at, and
    `anyOf [X, null]` by X (a form field is absent, never null)."""
    if isinstance(node, dict):
        ref = node.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        options = [o for o in node.get("anyOf", []) if o != {"type": "null"}]
        if len(options) == 1 and len(node["anyOf"]) == 2:
            rest = {k: v for k, v in node.items() if k != "anyOf"}
            return _inlined({**options[0], **rest}, defs)
        return {k: _inlined(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(v, defs) for v in node]
    return node


def _upload_body() -> dict[str, Any]:
    """The OpenAPI request body of POST /api/search: the query files and UploadParams' fields."""
    params = UploadParams.model_json_schema()
    files = {
        name: {"type": "string", "format": "binary", "description": f"Query {name} file."}
        for name in FILE_FIELDS
    }
    props = {**files, **_inlined(params["properties"], params.get("$defs", {}))}
    body = {"multipart/form-data": {"schema": {"type": "object", "properties": props}}}
    return {"requestBody": {"required": True, "content": body}}


FILE_RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown clip, or its file is gone"}}


MAX_CUT_S = 600.0  # the longest span /media cuts


def clip_urls(clip_id: str, span: tuple[float, float] | None = None) -> dict[str, str]:
    """The thumbnail and media URLs of a clip; `span` (a hit's merged moment) widens the media cut."""
    base = f"/api/clips/{quote(clip_id, safe=':')}"
    media = f"{base}/media" + (f"?start={span[0]:.3f}&end={span[1]:.3f}" if span else "")
    return {"thumbnail_url": f"{base}/thumbnail", "media_url": media}


def hit_json(hit: Any) -> dict[str, Any]:
    """A SearchHit as the API's hit object: its fields, its citation and the URLs of its media (the
    media URL plays the hit's whole moment, span_start-span_end)."""
    wider = (hit.span_start, hit.span_end) != (hit.start, hit.end)
    return {**hit.to_dict(), **clip_urls(hit.clip_id, (hit.span_start, hit.span_end) if wider else None)}


def server_state(request: Request) -> ServerState:
    """The running server's state (set by the app's lifespan)."""
    return request.app.state.omni


State = Annotated[ServerState, Depends(server_state)]


def api_router(guard: Callable[[Request], None]) -> APIRouter:
    """The /api routes; every one but health depends on `guard` (the bearer token check)."""
    r = APIRouter(prefix="/api")
    auth = [Depends(guard)]

    @r.get("/health", response_model=HealthOut, summary="Server status, clips and encoder")
    async def health(state: State) -> dict[str, Any]:
        info = await run_in_threadpool(state.index.info)
        return {"status": "ok", "clips": int(info.get("clips") or 0), "encoder": info.get("encoder")}

    @r.get("/search", response_model=SearchOut, dependencies=auth, summary="Search by text")
    async def search_get(state: State, params: Annotated[SearchParams, Query()]) -> dict[str, Any]:
        if not (params.q and params.q.strip()):
            raise HTTPException(status_code=422, detail="empty query: give q (or POST files)")
        return await _search(state, params, {}, None)

    @r.post(
        "/search",
        response_model=SearchOut,
        dependencies=auth,
        openapi_extra=_upload_body(),
        summary="Search by text and/or uploaded audio, video or image files",
    )
    async def search_post(state: State, request: Request) -> dict[str, Any]:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("multipart/form-data", "application/x-www-form-urlencoded"):
            raise HTTPException(status_code=415, detail="send multipart/form-data (q and/or files)")
        folder = tempfile.mkdtemp(prefix="q-", dir=state.upload_dir)
        try:
            form_cm = request.form(
                max_files=len(FILE_FIELDS), max_fields=32, max_part_size=MAX_FORM_FIELD_BYTES
            )
            async with form_cm as form:
                params = _validated(form_fields(form))
                files = {name: await save_upload(up, name, folder) for name, up in _uploads(form).items()}
                try:
                    span = params.span_seconds()
                except ValueError as e:
                    raise HTTPException(status_code=422, detail=str(e)) from None
                if not files and not (params.q and params.q.strip()):
                    raise HTTPException(
                        status_code=422, detail="empty query: give q and/or an audio, video or image file"
                    )
                if span is not None and not ("audio" in files or "video" in files):
                    raise HTTPException(status_code=422, detail="span applies to an audio or video file")
                return await _search(state, params, files, span)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    @r.get("/clips/{clip_id}", response_model=ClipOut, dependencies=auth, responses=FILE_RESPONSES)
    async def clip(state: State, clip_id: str) -> dict[str, Any]:
        d = (await _lookup(state, clip_id)).to_dict()
        return {**d, **clip_urls(clip_id)}

    @r.get(
        "/clips/{clip_id}/thumbnail",
        dependencies=auth,
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, **FILE_RESPONSES},
        summary="A JPEG of the clip's keyframe (cached)",
    )
    async def thumbnail(state: State, clip_id: str) -> FileResponse:
        cf = await _clip_file(state, clip_id)
        path = await _made(state.cache.thumbnail, cf)
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})

    @r.get(
        "/clips/{clip_id}/media",
        dependencies=auth,
        response_class=FileResponse,
        responses={200: {"content": {"video/mp4": {}, "audio/mp4": {}}}, **FILE_RESPONSES},
        summary="The clip's span, cut to a playable file (HTTP Range supported)",
    )
    async def media(
        state: State,
        clip_id: str,
        start: Annotated[
            float | None, Query(ge=0, le=1e7, description="Cut from (default: clip start)")
        ] = None,
        end: Annotated[float | None, Query(ge=0, le=1e7, description="Cut to (default: clip end)")] = None,
    ) -> FileResponse:
        cf = await _clip_file(state, clip_id)
        a, b = cf.start if start is None else start, cf.end if end is None else end
        if not (b > a and b - a <= MAX_CUT_S):
            raise HTTPException(status_code=422, detail=f"need start < end, at most {MAX_CUT_S:g} s apart")
        cf = replace(cf, start=a, end=b)
        path = await _made(state.cache.cut, cf)
        return FileResponse(path, media_type=media_type_of(cf.media_type, path))

    return r


def _validated(fields: dict[str, str]) -> UploadParams:
    try:
        return UploadParams.model_validate(fields)
    except ValidationError as e:
        raise RequestValidationError(e.errors(include_url=False, include_context=False)) from None


def _uploads(form: Any) -> dict[str, UploadFile]:
    out: dict[str, UploadFile] = {}
    for name in FILE_FIELDS:
        items = form.getlist(name)
        if len(items) > 1:
            raise HTTPException(status_code=422, detail=f"{name}: give one file")
        if not items or (isinstance(items[0], str) and not items[0]):
            continue  # an empty text field stands for "no file"
        if not isinstance(items[0], UploadFile):
            raise HTTPException(status_code=422, detail=f"{name}: expected a file upload")
        out[name] = items[0]
    return out


async def _search(
    state: ServerState, params: SearchParams, files: dict[str, str], span: tuple[float, float] | None
) -> dict[str, Any]:
    t = time.perf_counter()
    job = state.pool.submit(state.search, params, files, span)
    try:
        hits = await asyncio.wrap_future(job)
    except ValueError as e:  # QueryError and bad filters: the request's fault
        raise HTTPException(status_code=422, detail=str(e)) from None
    took_ms = (time.perf_counter() - t) * 1000
    return {"hits": [hit_json(h) for h in hits], "took_ms": round(took_ms, 1)}


async def _lookup(state: ServerState, clip_id: str) -> Any:
    if not valid_clip_id(clip_id):
        raise not_found()
    hit = await run_in_threadpool(state.clip, clip_id)
    if hit is None:
        raise not_found()
    return hit


async def _clip_file(state: ServerState, clip_id: str) -> ClipFile:
    """The clip's file, if the access rules let it out (see omnisearch.serve.security), else 404."""
    hit = await _lookup(state, clip_id)
    roots = await run_in_threadpool(state.index.roots)
    if not under_roots(hit.file, roots):
        raise not_found("the clip's file is not under an indexed root any more")
    real = os.path.realpath(hit.file)
    return ClipFile(real, hit.media_type, hit.start, hit.end, hit.keyframe, hit.clip_id)


async def _made(make: Callable[[ClipFile], str], cf: ClipFile) -> str:
    try:
        return await run_in_threadpool(make, cf)
    except (MediaCutError, FileNotFoundError) as e:
        raise not_found(f"cannot cut this clip's media: {e}") from None
