"""What one server process holds: the open index (models loaded once, shared by every request), the
worker pool searches run in, the media cache and the folder uploads are saved under.

Everything the server asks of the index goes through here, on the Python API
(`omnisearch.open(db) -> Index`): `search`, `clip`, `info`, `roots`.

Example:
    state = ServerState.start(ServeConfig(db="omnisearch-db"))
    hits = state.search(SearchParams(q="warehouse budget", k=3), {}, None)
    state.stop()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from omnisearch.serve.config import ServeConfig
from omnisearch.serve.media import MediaCache
from omnisearch.serve.schemas import SearchParams

WARM_UP_QUERY = "warm up"


def warm_up(index: Any, folder: str) -> None:
    """Run one search of each kind (text, sound, picture, clip) on a generated 2 s clip, so that every
    model the encoder loads lazily is loaded at start, not on a user's first request."""
    clip = os.path.join(folder, "warm-up.mp4")
    still = os.path.join(folder, "warm-up.png")
    lavfi = ["-f", "lavfi", "-i", "testsrc=duration=2:size=160x120:rate=10", "-f", "lavfi"]
    lavfi += ["-i", "sine=frequency=440:duration=2", "-shortest", "-c:v", "libx264", "-c:a", "aac", clip]
    for args in (lavfi, ["-i", clip, "-frames:v", "1", still]):
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *args]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    try:
        index.search(WARM_UP_QUERY, k=1)
        index.search(audio=clip, k=1)
        index.search(image=still, k=1)
        index.search(video=clip, k=1)
    finally:
        for p in (clip, still):
            os.remove(p)


@dataclass
class ServerState:
    cfg: ServeConfig
    index: Any
    pool: ThreadPoolExecutor
    cache: MediaCache
    upload_dir: str
    owns_index: bool = True
    _temp: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, cfg: ServeConfig, index: Any = None) -> ServerState:
        """Open the index (unless one is given), load its models with one warm-up search, and make
        the pool, the cache and the upload folder."""
        owns = index is None
        if index is None:
            import omnisearch

            index = omnisearch.open(cfg.db, read_only=True)
        temp: list[str] = []
        cache_dir = cfg.cache_dir
        if cache_dir is None:
            cache_dir = tempfile.mkdtemp(prefix="omnisearch-serve-cache-")
            temp.append(cache_dir)
        upload_dir = tempfile.mkdtemp(prefix="omnisearch-serve-uploads-")
        temp.append(upload_dir)
        state = cls(
            cfg=cfg,
            index=index,
            pool=ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="search"),
            cache=MediaCache(cache_dir, int(cfg.cache_max_mb * 1024 * 1024)),
            upload_dir=upload_dir,
            owns_index=owns,
            _temp=temp,
        )
        if index.info().get("clips"):
            warm_up(index, upload_dir)
        return state

    def stop(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.owns_index:
            self.index.close()
        for d in self._temp:
            shutil.rmtree(d, ignore_errors=True)

    def search(
        self, params: SearchParams, files: dict[str, str], span: tuple[float, float] | None
    ) -> list[Any]:
        """Run one search on the index (called in a pool thread)."""
        filters = {}
        if params.path:
            filters["path"] = params.path
        if params.media_type:
            filters["media_type"] = params.media_type.value
        return self.index.search(
            params.q.strip() if params.q and params.q.strip() else None,
            k=params.k,
            audio=files.get("audio"),
            video=files.get("video"),
            image=files.get("image"),
            span=span,
            target=params.target.value if params.target else None,
            filters=filters or None,
            rerank=params.rerank,
        )

    def clip(self, clip_id: str) -> Any:
        """The clip with this id, or None."""
        try:
            return self.index.clip(clip_id)
        except KeyError:
            return None
