"""``rnnkit cells``: every registered cell with its one-line equations and the engines that run it."""

from __future__ import annotations

import argparse
import json

from .. import engines
from ..cells import cell_names, get_cell_class

HEADER = ("cell", "engines", "equations")
EXAMPLES = """examples:
  rnnkit cells            a table: name, engines, equations
  rnnkit cells --json     the same as a JSON list
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cells",
        help="list every cell with its equations",
        description="List every registered recurrent cell, the engines that can run it, and its equations.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(func=run)


def describe() -> list[dict]:
    """One record per cell: name, state, engines and summary."""
    records = []
    for name in cell_names():
        cls = get_cell_class(name)
        probe = cls(1, 1)
        records.append({
            "name": name,
            "state": ", ".join(cls.state_names),
            "engines": [e for e in engines.engine_names()[1:] if engines.can_run(e, probe)],
            "summary": cls.summary,
        })
    return records


def run(args: argparse.Namespace) -> int:
    records = describe()
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    rows = [HEADER, *((r["name"], ",".join(r["engines"]), r["summary"]) for r in records)]
    width = max(len(name) for name, _, _ in rows)
    engine_width = max(len(names) for _, names, _ in rows)
    for name, names, summary in rows:
        print(f"{name:<{width}}  {names:<{engine_width}}  {summary}")
    return 0
