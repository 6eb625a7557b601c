"""Training throughput on a quiet and on a busy machine, for each way of setting PyTorch's threads.

The demo (`make demo`) must give a convincing result on a shared machine too. Two OpenMP threads per
process can collapse when another process takes a core: each parallel region waits for its slowest
thread, and a thread that is descheduled holds up the others. This script measures, side by side,
the character LSTM of the demo (the default corpus, H = 256, B = 32, k = 64) for a fixed number of
steps under each setting, first on the quiet machine, then with ``--busy N`` processes spinning on
the CPU beside it:

- ``--threads 2`` (PyTorch's default here: one per core), OpenMP's default wait policy;
- ``--threads 2`` with ``OMP_WAIT_POLICY=PASSIVE`` (waiting threads sleep instead of spinning);
- ``--threads 1``;
- no ``--threads`` ("threads auto"): ``rnnkit train`` fits the count every few seconds to the cores
  the other processes leave free (:class:`rnnkit.training.threads.ThreadGovernor`).

    python benchmarks/contention.py                 # 150 steps, 1 busy process
    python benchmarks/contention.py --steps 80 --busy 2

The busy processes stop by themselves after the script's last run (and at most after an hour).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "threads 2": (["--threads", "2"], {}),
    "threads 2, OMP passive": (["--threads", "2"], {"OMP_WAIT_POLICY": "PASSIVE"}),
    "threads 1": (["--threads", "1"], {}),
    "threads auto": ([], {}),
}


def spin(stop_at: float) -> None:
    """Keep one core busy until ``stop_at`` (time.time())."""
    x = 0
    while time.time() < stop_at:
        x += 1


def train(out: Path, steps: int, flags: list[str], env: dict[str, str]) -> float:
    """chars/s (median of the training rows after the first) of one short demo-sized run."""
    command = [sys.executable, "-m", "rnnkit", "train", "lm", "--steps", str(steps), "--out", str(out),
               "--val-every", str(steps), "--val-tokens", "20000", "--log-every", "10", "--save-every", "1e9", *flags]
    clean = {key: value for key, value in os.environ.items() if key not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    result = subprocess.run(command, capture_output=True, text=True, env=clean | env)
    if result.returncode != 0:
        raise SystemExit(f"run failed: {' '.join(command)}\n{result.stderr[-2000:]}")
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(row["tokens_per_s"] for row in rows if row["split"] == "train" and row["step"] > 10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150, help="steps per run (default 150)")
    parser.add_argument("--busy", type=int, default=1, help="CPU-bound processes beside the busy runs (default 1)")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="contention-"))
    train(root / "warm-up", 20, ["--threads", "1"], {})          # encodes the default corpus into the cache
    quiet = {name: train(root / f"quiet-{i}", args.steps, *setting) for i, (name, setting) in enumerate(SETTINGS.items())}
    spinners = [multiprocessing.Process(target=spin, args=(time.time() + 3600,), daemon=True) for _ in range(args.busy)]
    for process in spinners:
        process.start()
    try:
        busy = {name: train(root / f"busy-{i}", args.steps, *setting) for i, (name, setting) in enumerate(SETTINGS.items())}
    finally:
        for process in spinners:
            process.terminate()
    print(f"char LSTM of the demo, {args.steps} steps, {os.cpu_count()} cores; chars/s (median of the rows)")
    print(f"{'setting':<26} {'quiet':>9} {f'{args.busy} busy':>9} {'busy/quiet':>11}")
    for name in SETTINGS:
        print(f"{name:<26} {quiet[name]:>9,.0f} {busy[name]:>9,.0f} {busy[name] / quiet[name]:>11.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
