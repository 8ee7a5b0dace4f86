"""Run example searches against the demo index built by `make demo` and print them.

    python examples/demo_searches.py demo            # uses demo/db and demo/queries.json
    python examples/demo_searches.py demo --db demo/db-sound   # an index built with another --model

The queries run with the encoder the index was built with (its recorded model).

Each query of queries.json names the file it should find; the script prints the hits of a few of
them and a summary of how many of all the queries found their file first.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from omnisearch.config import set_thread_env

set_thread_env()

SHOWN = ("speech", "onscreen_text", "sound", "description")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("demo_dir")
    ap.add_argument("--db", default=None)
    ap.add_argument("-k", type=int, default=5)
    args = ap.parse_args()

    from rich.console import Console

    from omnisearch.cli.render import print_hits
    from omnisearch.indexers import open_store
    from omnisearch.models import encoder_for_index
    from omnisearch.retrieval.planner import SearchOptions, search
    from omnisearch.retrieval.query import Query

    console = Console()
    base = os.path.abspath(args.demo_dir)
    spec = json.load(open(os.path.join(base, "queries.json")))
    store = open_store("lancedb", args.db or os.path.join(base, "db"))
    index_spec = store.spec()
    encoder = encoder_for_index(index_spec, store.encoder())
    console.print(f"model: {index_spec.model if index_spec else encoder.name}")
    shown: set[str] = set()
    by_via: dict[str, list[bool]] = {}
    for q in spec["queries"]:
        if q["type"] == "text":
            query = Query(text=q["query"])
        else:
            query = Query(**{q["type"]: os.path.join(base, q["query"])})
        t = time.perf_counter()
        hits = search(store, encoder, query, SearchOptions(k=args.k)).hits
        ms = (time.perf_counter() - t) * 1000
        expected = os.path.join(base, q["expect"])
        first = bool(hits) and hits[0].path == expected
        by_via.setdefault(q["via"], []).append(first)
        if q["via"] in SHOWN and q["via"] not in shown:
            shown.add(q["via"])
            verdict = "[green]found first[/]" if first else "[red]not first[/]"
            console.print(
                f"\n[bold]{q['via']}[/] query {query.describe()} -> expect {q['expect']}: "
                f"{verdict} ({ms:.0f} ms)"
            )
            print_hits(hits, title=query.describe())
    console.print("\n[bold]all example queries[/] (right file ranked first / queries):")
    for via, oks in sorted(by_via.items()):
        console.print(f"  {via:15s} {sum(oks)}/{len(oks)}")
    total = [x for v in by_via.values() for x in v]
    console.print(f"  {'total':15s} {sum(total)}/{len(total)}")


if __name__ == "__main__":
    main()
