"""Character-level language model on tiny Shakespeare: validation loss against wall-clock time,
and the fused engine's throughput against the same model written on ``torch.nn.LSTM``.

Data: ../shared/data/tinyshakespeare/input.txt (or --data): the first 90% trains, the last 10%
validates (all of it, at every validation). Targets: validation loss ≤ 1.50 nats/char within
30 minutes (goal 1.45); below 1.886 within 75 s (goal: within 40 s); throughput ≥ 0.9× torch.nn.

    python benchmarks/charlm.py --minutes 1.25             # the 75-second target
    python benchmarks/charlm.py --minutes 30 --hidden 512 --output-dropout 0.2
    python benchmarks/charlm.py --throughput-only

Times are of training (validation included, start-up and data encoding excluded). The machine is
shared, so the throughput ratio is measured side by side in this process: medians of interleaved
repetitions after warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.data import CorpusConfig
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.tasks import language_modeling
from rnnkit.training import TrainConfig

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"
TARGETS = ((1.886, "75-s target 1.886"), (1.50, "30-min target 1.50"), (1.45, "goal 1.45"))


class TorchLSTMModel(nn.Module):
    """The same language model written directly on torch.nn: the throughput reference."""

    def __init__(self, vocab_size: int, hidden_size: int, num_layers: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.rnn = nn.LSTM(hidden_size, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, vocab_size)

    def loss(self, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        output, _ = self.rnn(self.embedding(tokens))
        return F.cross_entropy(self.head(output).flatten(0, 1), targets.flatten())


def throughput(vocab_size: int, hidden: int, layers: int, batch: int, seq_len: int, repeats: int) -> None:
    """chars/s of forward + backward + AdamW step, rnnkit (fused engine) against torch.nn.LSTM."""
    torch.manual_seed(0)
    ours = LanguageModel(LanguageModelConfig(vocab_size=vocab_size, hidden_size=hidden, num_layers=layers,
                                             engine="fused"))
    reference = TorchLSTMModel(vocab_size, hidden, layers)
    reference.load_state_dict(ours.state_dict(), strict=False)
    tokens = torch.randint(vocab_size, (seq_len + 1, batch))
    models = {"rnnkit fused": ours, "torch.nn.LSTM": reference}
    optimizers = {name: torch.optim.AdamW(model.parameters(), lr=1e-3) for name, model in models.items()}

    def step(name: str) -> float:
        model, optimizer = models[name], optimizers[name]
        started = time.perf_counter()
        loss = model.loss(tokens[:-1], tokens[1:])
        loss = loss[0] if isinstance(loss, tuple) else loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return time.perf_counter() - started

    for name in models:       # warm-up
        step(name)
        step(name)
    times = {name: [] for name in models}
    for _ in range(repeats):  # interleaved, so drift in the machine's load hits both alike
        for name in models:
            times[name].append(step(name))
    rates = {name: batch * seq_len / statistics.median(values) for name, values in times.items()}
    print(f"throughput (H={hidden}, L={layers}, B={batch}, T={seq_len}, V={vocab_size}, median of {repeats}):")
    for name, rate in rates.items():
        print(f"  {name:<14} {rate:>10,.0f} chars/s")
    print(f"  ratio rnnkit/torch.nn = {rates['rnnkit fused'] / rates['torch.nn.LSTM']:.3f}   (target >= 0.9)")


def train(args: argparse.Namespace) -> None:
    """Train for the budget; print every validation and a summary line."""
    root = Path(args.runs or tempfile.mkdtemp(prefix="charlm-"))
    run_dir = language_modeling.new_run_dir(root)
    options = {"hidden_size": args.hidden, "num_layers": args.layers, "dropout": args.dropout,
               "output_dropout": args.output_dropout, "engine": args.engine}
    config = TrainConfig(minutes=args.minutes, batch_size=args.batch, seq_len=args.seq_len, lr=args.lr,
                         val_every=args.val_every, val_tokens=0, seed=args.seed)
    result = language_modeling.train(run_dir, CorpusConfig(path=str(args.data)), options, "off", config, 0.1)
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    validations = [row for row in rows if row["split"] == "val"]
    speeds = [row["tokens_per_s"] for row in rows if row["split"] == "train"]
    print(f"{'time (s)':>9} {'step':>6} {'val loss (nats/char)':>21}")
    for row in validations:
        print(f"{row['elapsed_s']:>9.1f} {row['step']:>6} {row['loss']:>21.4f}")
    reached = []
    for threshold, label in TARGETS:
        first = next((row for row in validations if row["loss"] < threshold), None)
        reached.append(f"{label}: " + (f"reached at {first['elapsed_s']:.0f} s" if first else "not reached"))
    print(f"SUMMARY charlm: best val loss {result.best_val_loss:.4f} nats/char in {args.minutes:g} min "
          f"(H={args.hidden}, L={args.layers}, B={args.batch}, k={args.seq_len}), median "
          f"{statistics.median(speeds):,.0f} chars/s; " + "; ".join(reached) + f"; run dir {run_dir}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="tiny Shakespeare's input.txt")
    parser.add_argument("--minutes", type=float, default=1.25, help="training budget (default 1.25 = 75 s)")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--dropout", type=float, default=0.0, help="between layers")
    parser.add_argument("--output-dropout", type=float, default=0.0, help="locked dropout before the softmax")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--engine", default="auto")
    parser.add_argument("--val-every", type=int, help="steps between validations (default: ten per run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", help="where the run directory goes (default: a temporary directory)")
    parser.add_argument("--repeats", type=int, default=10, help="throughput repetitions")
    parser.add_argument("--throughput-only", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"tiny Shakespeare not found at {args.data}; give --data", file=sys.stderr)
        return 2
    if not args.skip_throughput:
        throughput(65, args.hidden, args.layers, args.batch, args.seq_len, args.repeats)
    if not args.throughput_only:
        train(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
