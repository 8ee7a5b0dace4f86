"""Render an `EvalResult`: JSON, Markdown (with the paper's published rows), a PNG chart, a rich table.

Example:
    >>> import numpy as np
    >>> from omnisearch.eval.metrics import EvalResult, score_direction
    >>> r = EvalResult("toy", {"t2v": score_direction("t2v", np.eye(2), np.eye(2), [{0}, {1}])},
    ...                {"t2a": "0 item(s) have text+audio; need at least 2"})
    >>> d = to_json(r)
    >>> d["directions"]["t2v"], d["skipped"], d["avg_all"]
    ({'R@1': 100.0, 'R@5': 100.0, 'R@10': 100.0, 'queries': 2}, ['t2a'], 100.0)
    >>> "| toy (this run) | 100.00 | - | 100.00 |" in to_markdown(r)
    True
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from omnisearch.eval.directions import ALL, DUAL, SINGLE
from omnisearch.eval.metrics import DirectionScore, EvalResult

if TYPE_CHECKING:
    from omnisearch.eval.core import EvalRun
    from omnisearch.eval.index_eval import IndexEvalResult

# OmniRetriever-Bench R@1 averages published in the paper (arXiv 2605.26641): single, dual, all.
PAPER_AVG: dict[str, tuple[float, float, float]] = {
    "WAVE-7B": (19.27, 31.37, 25.32),
    "Omni-Embed-Nemotron": (21.79, 31.84, 26.81),
    "Gemini Embedding 2": (25.44, 40.80, 33.12),
    "OmniRetriever-7B": (28.63, 41.05, 34.84),
}

TIE_NOTE = (
    "R@K in percent. Ties count against the query: rank = 1 + the number of non-relevant targets "
    "scoring >= the best relevant one (the paper's code counts only those strictly above, so ties "
    "favour the query there)."
)
PAPER_NOTE = (
    "Paper rows are OmniRetriever-Bench (3,782 triples) results, shown for context; they are "
    "comparable only when this run is on that benchmark with all 12 directions."
)


def _r(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def to_json(result: EvalResult) -> dict[str, Any]:
    """{"model", "directions": {name: {"R@1", "R@5", "R@10", "queries"}}, "skipped", "avg_single",
    "avg_dual", "avg_all"}; directions in canonical order, numbers in percent."""
    directions = {}
    for name in ALL:
        if name in result.directions:
            s = result.directions[name]
            entry: dict[str, Any] = {f"R@{k}": _r(v) for k, v in s.recall.items()}
            entry["queries"] = int(s.queries)
            directions[name] = entry
    avg = result.averages
    return {
        "model": result.model,
        "directions": directions,
        "skipped": [n for n in ALL if n in result.skipped] + sorted(set(result.skipped) - set(ALL)),
        "avg_single": _r(avg.avg_single),
        "avg_dual": _r(avg.avg_dual),
        "avg_all": _r(avg.avg_all),
    }


def from_json(data: dict[str, Any]) -> EvalResult:
    """Rebuild an `EvalResult` (without per-query ranks) from `to_json` output."""
    scored = {}
    for name, entry in data.get("directions", {}).items():
        recall = {int(k[2:]): float(v) for k, v in entry.items() if k.startswith("R@") and v is not None}
        scored[name] = DirectionScore(name, recall, int(entry.get("queries", 0)), 0)
    return EvalResult(data.get("model", "model"), scored, {n: "" for n in data.get("skipped", [])})


def _fmt(x: float | None) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.2f}"


def _coverage(result: EvalResult) -> str:
    n_s = sum(n in result.directions for n in SINGLE)
    n_d = sum(n in result.directions for n in DUAL)
    return f"{n_s}/6 single and {n_d}/6 dual directions"


def to_markdown(result: EvalResult, paper_rows: bool = True) -> str:
    """A per-direction table, the averages (with the paper's rows when paper_rows) and notes."""
    ks = sorted({k for s in result.directions.values() for k in s.recall}) or [1, 5, 10]
    lines = [f"## Retrieval: {result.model}", ""]
    lines.append("| direction | " + " | ".join(f"R@{k}" for k in ks) + " | queries |")
    lines.append("|---|" + "---:|" * (len(ks) + 1))
    for name in ALL:
        if name in result.directions:
            s = result.directions[name]
            cells = " | ".join(_fmt(s.recall.get(k)) for k in ks)
            lines.append(f"| {name} | {cells} | {s.queries} |")
        elif name in result.skipped:
            lines.append(f"| {name} | " + " | ".join("-" for _ in ks) + " | skipped |")
    avg = result.averages
    lines += ["", "| model | AVG-single | AVG-dual | AVG-all |", "|---|---:|---:|---:|"]
    lines.append(
        f"| {result.model} (this run) | {_fmt(avg.avg_single)} | {_fmt(avg.avg_dual)} | {_fmt(avg.avg_all)} |"
    )
    if paper_rows:
        for model, (s, d, a) in PAPER_AVG.items():
            lines.append(f"| {model} (paper) | {s:.2f} | {d:.2f} | {a:.2f} |")
    lines += ["", f"- {TIE_NOTE}", "- AVG columns are mean R@1."]
    if not result.complete:
        lines.append(
            f"- Averages cover {_coverage(result)}; AVG-all is the mean of the available AVG columns "
            "and is not comparable with the paper's."
        )
    for name, reason in result.skipped.items():
        lines.append(f"- Skipped {name}" + (f": {reason}" if reason else ""))
    if paper_rows:
        lines.append(f"- {PAPER_NOTE}")
    return "\n".join(lines) + "\n"


def plot(result: EvalResult, png_path: str | os.PathLike[str], paper_lines: bool = True) -> str:
    """Bar chart of R@1 per direction (skipped ones marked), with this run's and the paper's AVG-single
    / AVG-dual as horizontal lines over the single / dual halves. Returns the path written."""
    from omnisearch.extras import require

    require("plot", "a plot (--plot)")
    from matplotlib.figure import Figure  # lazy; Figure + savefig uses Agg without touching pyplot

    fig = Figure(figsize=(11, 4.8), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(ALL))
    heights = [result.directions[n].recall.get(1, 0.0) if n in result.directions else 0.0 for n in ALL]
    colors = ["#4C72B0" if n in SINGLE else "#DD8452" for n in ALL]
    bars = ax.bar(x, heights, color=colors, width=0.7)
    for i, (name, bar) in enumerate(zip(ALL, bars, strict=True)):
        label = f"{heights[i]:.1f}" if name in result.directions else "skipped"
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.5, label, ha="center", fontsize=7)
    halves = ((-0.45, 5.45), (5.55, 11.45))
    avg = result.averages
    lines = [(f"{result.model} (this run)", (avg.avg_single, avg.avg_dual), "black", "-")]
    if paper_lines:
        styles = ["--", ":", "-.", (0, (5, 1))]
        palette = ["#8172B3", "#55A868", "#C44E52", "#937860"]
        for j, (model, (s, d, _)) in enumerate(PAPER_AVG.items()):
            lines.append((f"{model} (paper)", (s, d), palette[j % 4], styles[j % 4]))
    for label, values, color, style in lines:
        for k, ((lo, hi), v) in enumerate(zip(halves, values, strict=True)):
            if v is not None:
                ax.hlines(
                    v, lo, hi, colors=color, linestyles=style, linewidth=1.2, label=label if k == 0 else None
                )
    ax.set_xticks(x, list(ALL))
    ax.set_ylabel("R@1 (%)")
    top = max([*heights, *(v for _, vals, _, _ in lines for v in vals if v is not None), 1.0])
    ax.set_ylim(0, min(100.0, top * 1.2 + 2))
    ax.set_title(f"{result.model}: R@1 per direction (single | dual); lines: AVG-single / AVG-dual")
    ax.axvline(5.5, color="grey", linewidth=0.6)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(os.fspath(png_path))
    return os.fspath(png_path)


def rich_table(result: EvalResult, paper_rows: bool = True) -> Any:
    """A rich renderable for `Console.print`: the per-direction table and the averages table (with the
    paper's rows when paper_rows). rich is imported lazily."""
    from rich.console import Group
    from rich.table import Table

    ks = sorted({k for s in result.directions.values() for k in s.recall}) or [1, 5, 10]
    table = Table(title=f"Retrieval: {result.model}")
    table.add_column("direction")
    for k in ks:
        table.add_column(f"R@{k}", justify="right")
    table.add_column("queries", justify="right")
    for name in ALL:
        if name in result.directions:
            s = result.directions[name]
            table.add_row(name, *(_fmt(s.recall.get(k)) for k in ks), str(s.queries))
        elif name in result.skipped:
            table.add_row(f"[dim]{name}[/dim]", *("-" for _ in ks), "[dim]skipped[/dim]")
    avg = result.averages
    averages = Table(
        title="Mean R@1",
        caption=TIE_NOTE if result.complete else f"{TIE_NOTE} Averages cover {_coverage(result)}.",
    )
    averages.add_column("model")
    for label in ("AVG-single", "AVG-dual", "AVG-all"):
        averages.add_column(label, justify="right")
    averages.add_row(f"[bold]{result.model}[/bold] (this run)", *map(_fmt, avg))
    if paper_rows:
        for model, values in PAPER_AVG.items():
            averages.add_row(f"[dim]{model} (paper)[/dim]", *(f"{v:.2f}" for v in values))
    return Group(table, averages)


def failures_markdown(failed: dict[str, str]) -> str:
    """A Markdown section listing items whose media failed (empty when none failed).

    Example:
        >>> print(failures_markdown({"x": "audio: file not found"}).splitlines()[1])
        ### 1 item(s) failed to decode (scored as misses)
    """
    if not failed:
        return ""
    lines = ["", f"### {len(failed)} item(s) failed to decode (scored as misses)", "", "| id | reason |"]
    lines.append("|---|---|")
    lines += [f"| {i} | {r.replace('|', '/')} |" for i, r in failed.items()]
    return "\n".join(lines) + "\n"


def index_summary(
    run: EvalResult, via: IndexEvalResult, store: str, db: str | os.PathLike[str]
) -> dict[str, Any]:
    """The `index` block of the JSON written by `eval --db`: how the index was built and searched, the
    in-memory figures and where the two differ (empty list: identical R@1/5/10)."""
    from omnisearch.eval.index_eval import differences
    from omnisearch.retrieval.planner import target_column

    return {
        "store": store,
        "db": str(db),
        "k": via.k,
        "prefetch": via.prefetch,
        "stores": {
            name: {
                "side": ts.side,
                "column": target_column(ts.side).value,
                "rows": ts.rows,
                "directions": ts.directions,
            }
            for name, ts in via.stores.items()
        },
        "build_s": round(via.build_s, 3),
        "search_s": round(via.search_s, 3),
        "differences": differences(run, via),
        "store_order": store_order(via),
        "in_memory": to_json(run),
    }


def store_order(via: IndexEvalResult) -> dict[str, Any]:
    """Directions whose figures change when tied hits keep the store's order (clip id) instead of
    counting against the query: how many queries move, and R@K in that order."""
    out: dict[str, Any] = {}
    for name, own in via.store_order.items():
        cap = via.k + 1
        moved = int((np.minimum(own.ranks, cap) != np.minimum(via.directions[name].ranks, cap)).sum())
        if moved:
            out[name] = {"tied_queries": moved, **{f"R@{k}": round(v, 4) for k, v in own.recall.items()}}
    return out


def write_reports(
    run: EvalRun,
    json_out: str | os.PathLike[str],
    markdown: str | os.PathLike[str] | None = None,
    plot_png: str | os.PathLike[str] | None = None,
    via: IndexEvalResult | None = None,
    store: str = "lancedb",
    db: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Write what `omnisearch eval` writes: the JSON (the index figures with their `index` block when
    `via` is given), and optionally the Markdown report (+ failed items) and the R@1 plot; returns the
    JSON data."""
    from pathlib import Path

    shown = run if via is None else via
    data = to_json(shown)
    if via is not None:
        data["index"] = index_summary(run, via, store, db or "")
    for path in (json_out, markdown, plot_png):
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_out).write_text(json.dumps(data, indent=2) + "\n")
    if markdown is not None:
        Path(markdown).write_text(to_markdown(shown) + failures_markdown(run.failed))
    if plot_png is not None:
        plot(shown, plot_png)
    return data
