"""pytokens: character-level tagging of Python source, a bidirectional LSTM against a forward-only one.

Data: the running Python's standard library, every character labelled with its token type by
Python's own ``tokenize`` (rnnkit.data.pytokens): up to --max-chars characters of whole files in a
seeded order, the last files (10% of the characters; never a file ten times the median length)
held out, each chunk read with --eval-context characters either side. Both models get the same
data, the same hidden size per direction, the same optimiser and the same time budget. Target: the
bidirectional LSTM ≥ 99.5% character accuracy on the held-out files, the unidirectional figure
beside it visibly lower (a character's type often depends on what follows it: ``f"`` or ``f(``,
``1.5`` or ``1 .real``, the end of a string).

    python benchmarks/tagging.py --minutes 8                   # two runs of 8 minutes
    python benchmarks/tagging.py --minutes 0.2 --max-chars 100000 --json

Wall time is of training (validations included; reading and labelling the files excluded). The
machine is shared: figures are for the budget given, on this machine, with --threads threads.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.tasks import runs
from rnnkit.tasks.tagging import TaggingTask, evaluate_run, load_run
from rnnkit.training import CurvesPlot, MetricsFile, ProgressBar

MODELS = (("bi-lstm", True), ("lstm", False))
TARGET = 0.995


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=8.0, help="training budget per model (default 8)")
    parser.add_argument("--data", metavar="PATH", help="a directory of Python files (default: the standard library)")
    parser.add_argument("--max-chars", type=int, default=3_000_000, help="characters of source read, 0 for every "
                        "file (default 3M)")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units per direction (default 128)")
    parser.add_argument("--embedding-size", type=int, default=32, help="character embedding size (default 32)")
    parser.add_argument("--layers", type=int, default=1, help="stacked layers (default 1)")
    parser.add_argument("--output-dropout", type=float, default=0.0, help="locked dropout on the recurrent output "
                        "(default 0)")
    parser.add_argument("--chunk-length", type=int, default=512, help="characters per sequence (default 512)")
    parser.add_argument("--eval-context", type=int, help="characters read on either side of each chunk at "
                        "validation and evaluation (default: half a chunk)")
    parser.add_argument("--batch", type=int, default=32, help="sequences per step (default 32)")
    parser.add_argument("--lr", type=float, default=5e-3, help="peak learning rate (default 5e-3)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads (default 1)")
    parser.add_argument("--models", default=",".join(name for name, _ in MODELS),
                        help="which of bi-lstm,lstm to train (default both, one after the other; two "
                             "processes given one each train side by side)")
    parser.add_argument("--out", help="keep the run directories here (default: a temporary directory)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out or scratch)
        chosen = args.models.split(",")
        unknown = sorted(set(chosen) - {name for name, _ in MODELS})
        if unknown:
            raise SystemExit(f"--models: unknown model {unknown[0]!r}; choose from bi-lstm, lstm")
        rows = [run(args, name, bidirectional, root / name) for name, bidirectional in MODELS if name in chosen]
    result = {"task": "pytokens", "data": args.data, "minutes": args.minutes, "max_chars": args.max_chars,
              "hidden": args.hidden, "layers": args.layers, "eval_context": args.eval_context,
              "output_dropout": args.output_dropout, "threads": args.threads, "target": TARGET, "models": rows}
    if args.json:
        print(json.dumps(result))
    else:
        print(table(result))
    return 0


def run(args: argparse.Namespace, name: str, bidirectional: bool, run_dir: Path) -> dict:
    """Train one model for the budget, then evaluate its best checkpoint on the held-out files."""
    record = {
        "data": {"kind": "pytokens", "source": args.data, "max_chars": args.max_chars,
                 "chunk_length": args.chunk_length, "eval_context": args.eval_context},
        "model": {"cell": "lstm", "hidden_size": args.hidden, "embedding_size": args.embedding_size,
                  "num_layers": args.layers, "bidirectional": bidirectional, "output_dropout": args.output_dropout},
        "train": {"minutes": args.minutes, "batch_size": args.batch, "lr": args.lr, "warmup_steps": 50},
    }
    settings = TaggingTask.settings_from_record(record)
    print(f"{name}: training for {args.minutes:g} minutes", file=sys.stderr, flush=True)
    start = time.perf_counter()
    result = runs.train("tag", settings, run_dir, handle_signals=False,
                        callbacks=[ProgressBar(), MetricsFile(run_dir), CurvesPlot(run_dir)])
    # The trainer's clock: training and validation, not reading the files.
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    wall = max((row["elapsed_s"] for row in rows), default=time.perf_counter() - start)
    true, predicted, labels, _ = evaluate_run(run_dir)
    per_label = {label: float((predicted[true == i] == i).mean()) for i, label in enumerate(labels)
                 if (true == i).any()}
    parameters = sum(p.numel() for p in load_run(run_dir).model.parameters())
    return {"model": name, "accuracy": float((true == predicted).mean()), "errors": int((true != predicted).sum()),
            "val_chars": int(len(true)), "wall_s": wall, "steps": result.step, "parameters": parameters,
            "recall": per_label}


def table(result: dict) -> str:
    source = result["data"] or "Python standard library"
    read = f"{result['max_chars']:,}" if result["max_chars"] else "all"
    lines = [f"pytokens ({source}, {read} chars read, H={result['hidden']} per "
             f"direction, {result['minutes']:g} min each, {result['threads']} thread(s))",
             f"{'model':<8} {'char acc':>9} {'errors':>8} {'val chars':>10} {'steps':>6} {'params':>8} {'wall s':>7}"
             f"  recall per label"]
    for row in result["models"]:
        recall = " ".join(f"{label[:4]} {value:.3f}" for label, value in row["recall"].items())
        lines.append(f"{row['model']:<8} {row['accuracy']:9.4%} {row['errors']:8,} {row['val_chars']:10,} "
                     f"{row['steps']:6,} {row['parameters']:8,} {row['wall_s']:7.0f}  {recall}")
    for row in result["models"]:
        if row["model"] == "bi-lstm":
            met = "met" if row["accuracy"] >= result["target"] else "not met"
            lines.append(f"target: bi-lstm ≥ {result['target']:.1%}: {met}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
