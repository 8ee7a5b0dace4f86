"""Terminal output with rich: hits, ingest summaries, the encoder list.

Example:
    >>> print_hits([], title="nothing")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import Any

from omnisearch.types import Hit


def _console():
    from rich.console import Console

    return Console()


def snippet(h: Hit, width: int = 70) -> str:
    """The clip's own text, else its transcript, shortened to `width` characters."""
    s = " ".join((h.text or h.transcript or "").split())
    return s if len(s) <= width else s[: width - 1] + "…"


def print_hits(hits: list[Hit], title: str = "") -> None:
    from rich.table import Table

    table = Table(title=title or None, show_lines=False)
    for col, kw in [
        ("#", {"justify": "right"}),
        ("score", {"justify": "right"}),
        ("file", {}),
        ("start-end", {"justify": "right"}),
        ("moment", {"justify": "right"}),
        ("text", {}),
    ]:
        table.add_column(col, **kw)
    for i, h in enumerate(hits, start=1):
        s0 = h.start if h.span_start is None else h.span_start
        s1 = h.end if h.span_end is None else h.span_end
        table.add_row(
            str(i),
            f"{h.score:.3f}",
            os.path.basename(h.path),
            f"{h.start:.1f}-{h.end:.1f}s",
            f"{s0:.1f}-{s1:.1f}s",
            snippet(h),
        )
    console = _console()
    if not hits:
        console.print("[yellow]no hits[/]")
        return
    console.print(table)


def print_ingest_report(report: Any, as_dict: bool = False) -> dict | None:
    summary = {
        "files_found": report.files_found,
        "files_indexed": report.files_indexed,
        "files_unchanged": report.files_unchanged,
        "files_removed": report.files_removed,
        "files_failed": len(report.failed),
        "clips_written": report.clips_written,
        "media_seconds": round(report.media_seconds, 1),
        "wall_seconds": round(report.wall_seconds, 2),
        "clips_per_second": round(report.clips_per_second, 2),
        "realtime_factor": round(report.realtime_factor, 2),
        "stage_seconds": {k: round(v, 2) for k, v in report.timings.items()},
        "busiest_stage": report.busiest,
        "failed": [{"file": p, "reason": r} for p, r in report.failed],
        "index_maintenance": list(report.maintenance),
        "files_kept_unreadable": len(report.kept),
        "kept": [{"file": p, "reason": r} for p, r in report.kept],
        "warnings": [{"file": p, "reason": r} for p, r in report.warnings],
    }
    if as_dict:
        return summary
    console = _console()
    for p, r in report.failed:
        console.print(f"[yellow]failed[/] {p}: {r}", highlight=False)
    for p, r in report.kept + report.warnings:
        console.print(f"[yellow]warning[/] {p}: {r}", highlight=False)
    kept = f", {len(report.kept)} kept (unreadable)" if report.kept else ""
    console.print(
        f"[bold green]done[/]: {report.files_indexed} indexed, {report.files_unchanged} unchanged, "
        f"{report.files_removed} removed{kept}, {len(report.failed)} failed; {report.clips_written} clips "
        f"in {report.wall_seconds:.1f}s ({report.clips_per_second:.2f} clips/s, "
        f"{report.realtime_factor:.1f}x realtime)"
    )
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items())
    if stages:
        busiest = f" (busiest: {report.busiest})" if report.busiest else ""
        console.print(f"stages: {stages}{busiest}")
    for line in report.maintenance:
        console.print(f"index: {line}", highlight=False)
    return None


def print_models() -> None:
    from rich.table import Table

    from omnisearch.models.registry import list_encoders

    table = Table(title="encoders")
    for col in ("name", "dim", "weights from", "what it does"):
        table.add_column(col)
    for spec in list_encoders():
        table.add_row(spec.name, spec.dim, spec.weights_from, spec.description)
    _console().print(table)
