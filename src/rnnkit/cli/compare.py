"""``rnnkit compare``: every cell on every synthetic task under one budget, with a random search per cell
and task and several seeds; writes the notes' table beside the measured one, a CSV and two plots."""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from ..cells import Cell
from ..compare import TASKS, CompareConfig, CompareError, compare, write_report
from . import options

EXAMPLES = """examples:
  rnnkit compare --cells rnn_tanh,lstm,lstm_nfg,lstm_b,gru,mut1 --tasks arith,xml,adding,copy --budget 2m
      the shape of Jozefowicz et al.'s table: 4 trials × 3 seeds of 2 minutes per cell and task
  rnnkit compare --cells lstm,gru --tasks adding --steps 500 --seeds 2 --trials 3 --out runs/small
      a small grid; run the same command again after a Ctrl-C or a kill: finished runs are not retrained
  rnnkit compare --cells lstm,mycells:MyCell --tasks copy --steps 1000
      your own cell (a rnnkit.cells.Cell subclass in mycells.py, importable from here) against the LSTM

writes OUT/table.md (with the notes' numbers and the verdict on seed noise), OUT/table.csv, OUT/bars.png,
OUT/curves.png; OUT/study.db is the Optuna study (several processes may share it, each given other --cells) and OUT/runs/ the runs.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare", help="which architecture? every cell on every task under one budget (the notes' tables)",
        description="Train every cell on every task under the same budget, with a small random hyperparameter "
                    "search per cell and task (learning rate, initial weight scale, dropout; Optuna) and several "
                    "seeds, and report mean ± standard deviation of the best trial next to Jozefowicz et al. "
                    "2015's numbers. lstm_b is the LSTM with forget-gate bias 1. Tasks: "
                    f"{', '.join(TASKS)} (rnnkit train TASK --help describes each).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--cells", default="rnn_tanh,lstm,lstm_b,gru", metavar="NAMES",
                        help="comma-separated cells: registered names, lstm_b, or module:ClassName (default "
                             "rnn_tanh,lstm,lstm_b,gru)")
    parser.add_argument("--tasks", default="arith,adding", metavar="NAMES",
                        help=f"comma-separated tasks of {', '.join(TASKS)} (default arith,adding)")
    budget = parser.add_mutually_exclusive_group(required=True)
    budget.add_argument("--budget", type=_duration, metavar="TIME", help="training time of every run: 90s, 2m, 1h")
    budget.add_argument("--steps", type=int, metavar="N", help="optimizer steps of every run")
    parser.add_argument("--seeds", type=int, default=3, metavar="S", help="seeds per trial (default 3)")
    parser.add_argument("--trials", type=int, default=4, metavar="K",
                        help="random-search trials per cell and task (default 4)")
    parser.add_argument("--hidden", type=options.positive_int, default=64, metavar="H", help="hidden units (default 64)")
    parser.add_argument("--batch", type=options.positive_int, default=32, metavar="B", help="batch size (default 32)")
    parser.add_argument("--out", default="runs/compare", metavar="DIR", help="output directory (default runs/compare)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        cells = [_cell(name) for name in args.cells.split(",") if name.strip()]
        tasks = [name.strip() for name in args.tasks.split(",") if name.strip()]
        config = CompareConfig(cells=cells, tasks=tasks, steps=args.steps, minutes=args.budget, seeds=args.seeds,
                               trials=args.trials, hidden_size=args.hidden, batch_size=args.batch, out=args.out)
        comparison = compare(config)
    except (CompareError, ValueError, ImportError) as error:
        print(f"rnnkit compare: error: {error}", file=sys.stderr)
        return 2
    paths = write_report(comparison)
    print(paths[0].read_text())
    print(f"{comparison.trained} runs trained, {comparison.reused} read back, in {comparison.wall_s / 60:.1f} "
          f"minutes; wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 0


def _cell(name: str) -> str | type[Cell]:
    """A cell name, or ``module:ClassName`` imported (it must subclass rnnkit.cells.Cell)."""
    name = name.strip()
    if ":" not in name:
        return name
    module, _, attribute = name.partition(":")
    try:
        value = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError) as error:
        raise CompareError(f"cannot load cell {name!r}: {error}") from None
    if not (isinstance(value, type) and issubclass(value, Cell)):
        raise CompareError(f"{name} is not a subclass of rnnkit.cells.Cell")
    return value


def _duration(text: str) -> float:
    """argparse type: 90s, 2m, 1.5h or a bare number of minutes → minutes (positive)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration such as 90s, 2m or 1h, got {text!r}")
    value = float(match.group(1)) * {"s": 1 / 60, "m": 1.0, "": 1.0, "h": 60.0}[match.group(2)]
    if not value > 0:
        raise argparse.ArgumentTypeError(f"the budget must be positive, got {text!r}")
    return value
