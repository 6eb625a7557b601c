"""Data-parallel and mixed-precision training of the tiny-Shakespeare character LSTM, through the CLI.

Part 1, data-parallel: the same run (same global batch, same steps, same seed) as 1 process × 2
threads and as 2 processes × 1 thread (``--nproc 2``: torchrun, DistributedDataParallel over gloo).
Printed: characters per second (all processes together) and the validation loss after the same
number of steps, which must agree within noise (the two runs differ only in dropout masks and the
order of floating-point sums).

Part 2, precision: fp32 against bf16 autocast on the CPU, for the fused and the bptt engine, same
steps: characters per second and validation loss.

    python benchmarks/ddp.py                       # both parts, 300 steps each
    python benchmarks/ddp.py --steps 100 --part precision

What a 2-core machine can show: that data-parallel training is correct (same loss after the same
steps) and what it costs (gradient all-reduce, one process per core). It cannot show a speed-up
over one process: a single process already uses both cores for its matrix products, so two
processes each on one core do the same arithmetic plus the communication.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"


def train(data: Path, out: Path, steps: int, extra: list[str], threads: int) -> dict:
    """One ``rnnkit train lm`` run; its median chars/s and its last validation loss."""
    command = [sys.executable, "-m", "rnnkit", "train", "lm", "--data", str(data), "--out", str(out),
               "--steps", str(steps), "--val-every", str(steps), "--val-tokens", "0", "--log-every", "10",
               "--save-every", "1e9", "--threads", str(threads), *extra]
    env = os.environ | {"OMP_NUM_THREADS": str(threads)}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"run failed ({' '.join(command)}):\n{result.stderr[-3000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    speeds = [row["tokens_per_s"] for row in rows if row["split"] == "train"][1:]   # the first holds warm-up
    validation = [row for row in rows if row["split"] == "val"][-1]
    return {"chars_per_s": statistics.median(speeds), "val_loss": validation["loss"], "step": validation["step"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="tiny Shakespeare's input.txt")
    parser.add_argument("--steps", type=int, default=300, help="optimizer steps per run (default 300)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32, help="global batch: streams over all processes")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--part", choices=["all", "ddp", "precision"], default="all")
    parser.add_argument("--runs", help="where the run directories go (default: a temporary directory)")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"tiny Shakespeare not found at {args.data}; give --data", file=sys.stderr)
        return 2
    root = Path(args.runs or tempfile.mkdtemp(prefix="ddp-bench-"))
    model = ["--hidden", str(args.hidden), "--batch", str(args.batch), "--seq-len", str(args.seq_len),
             "--adaptive-softmax", "off", "--seed", "0"]
    print(f"tiny Shakespeare, char LSTM H={args.hidden}, global batch {args.batch}, k={args.seq_len}, "
          f"{args.steps} steps; validation loss on the whole held-out 10% (nats/char)")
    if args.part in ("all", "ddp"):
        one = train(args.data, root / "one", args.steps, model, threads=2)
        two = train(args.data, root / "two", args.steps, model + ["--nproc", "2"], threads=1)
        print(f"{'processes x threads':<22} {'chars/s':>10} {'val loss':>10}")
        print(f"{'1 x 2':<22} {one['chars_per_s']:>10,.0f} {one['val_loss']:>10.4f}")
        print(f"{'2 x 1 (DDP, gloo)':<22} {two['chars_per_s']:>10,.0f} {two['val_loss']:>10.4f}")
        print(f"SUMMARY ddp: speed 2x1 / 1x2 = {two['chars_per_s'] / one['chars_per_s']:.2f}; "
              f"val loss difference {two['val_loss'] - one['val_loss']:+.4f} after {args.steps} steps")
    if args.part in ("all", "precision"):
        print(f"{'engine':<8} {'precision':<10} {'chars/s':>10} {'val loss':>10}")
        summary = []
        for engine in ("fused", "bptt"):
            figures = {}
            for precision in ("fp32", "bf16"):
                figures[precision] = train(args.data, root / f"{engine}-{precision}", args.steps,
                                           model + ["--engine", engine, "--precision", precision], threads=2)
                print(f"{engine:<8} {precision:<10} {figures[precision]['chars_per_s']:>10,.0f} "
                      f"{figures[precision]['val_loss']:>10.4f}")
            summary.append(f"{engine}: bf16/fp32 speed {figures['bf16']['chars_per_s'] / figures['fp32']['chars_per_s']:.2f}, "
                           f"val loss {figures['bf16']['val_loss'] - figures['fp32']['val_loss']:+.4f}")
        print("SUMMARY precision: " + "; ".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
