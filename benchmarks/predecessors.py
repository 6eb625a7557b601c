"""The predecessors of recurrent language models against an LSTM, on tiny Shakespeare.

Deck 004's argument, measured: bits per character of the best Kneser-Ney n-gram (order chosen on
validation), hidden Markov models of 16, 64 and 256 states (Baum–Welch on a bounded slice of the
training text), the fixed-window feed-forward model and an LSTM, all on the language model's
standard split (first 90% trains, last 10% validates, every validation character scored), with
their training time on this machine. The notes predict: the HMM highest, falling with more states;
the n-gram and window models below it; the LSTM lowest.

    python benchmarks/predecessors.py                      # ~12 minutes on one core
    python benchmarks/predecessors.py --run runs/demo      # the LSTM of an existing lm run instead
    python benchmarks/predecessors.py --states 16,64 --hmm-tokens 20000 --lstm-minutes 1 --window-minutes 1

Data: ../shared/data/tinyshakespeare/input.txt (or --data). One thread (the machines are shared).
Writes results.json and bpc.png into --out (default: a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnkit.baselines.hmm import HMMConfig
from rnnkit.baselines.window import WindowConfig
from rnnkit.cli import baselines
from rnnkit.data import CorpusConfig
from rnnkit.tasks import language_modeling, runs, window_lm
from rnnkit.training import TrainConfig

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"


def lstm_run(args: argparse.Namespace, out: Path, cache: Path) -> tuple[str, float]:
    """The LSTM's run directory (trained here unless --run) and its training seconds (nan if given)."""
    if args.run:
        return args.run, float("nan")
    run_dir = out / "lstm"
    config = TrainConfig(minutes=args.lstm_minutes, batch_size=32, seq_len=64, val_tokens=0, seed=args.seed)
    started = time.perf_counter()
    language_modeling.train(run_dir, CorpusConfig(path=str(args.data)), {"hidden_size": args.hidden}, "off", config,
                            0.1, handle_signals=False, cache=cache)
    return str(run_dir), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="tiny Shakespeare's input.txt")
    parser.add_argument("--run", help="an lm run directory on the same text (default: train an LSTM here)")
    parser.add_argument("--lstm-minutes", type=float, default=3.0, help="the LSTM's budget (default 3)")
    parser.add_argument("--hidden", type=int, default=256, help="the LSTM's hidden size (default 256)")
    parser.add_argument("--max-order", type=int, default=10)
    parser.add_argument("--states", default="16,64,256")
    parser.add_argument("--hmm-tokens", type=int, default=30_000, help="Baum–Welch slice (default 30000)")
    parser.add_argument("--hmm-iterations", type=int, default=10)
    parser.add_argument("--window-minutes", type=float, default=3.0)
    parser.add_argument("--context", type=int, default=WindowConfig.context)
    parser.add_argument("--sample", type=int, default=200, help="characters sampled from the n-gram and each HMM")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="where results.json, bpc.png and the runs go")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"predecessors: {args.data} not found; give --data (tiny Shakespeare's input.txt)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    out = args.out or Path(tempfile.mkdtemp(prefix="predecessors-"))
    out.mkdir(parents=True, exist_ok=True)
    cache = runs.cache_dir(out / "x")
    corpus, split = CorpusConfig(path=str(args.data.resolve())), language_modeling.SplitConfig(val_fraction=0.1)
    reader = window_lm.read_split(corpus, split, cache)
    results = baselines.compare(
        reader, corpus, split, out, skip=set(), max_order=args.max_order, states=baselines.parse_states(args.states),
        hmm=HMMConfig(train_tokens=args.hmm_tokens, iterations=args.hmm_iterations, seed=args.seed),
        window=WindowConfig(context=args.context),
        window_train=TrainConfig(minutes=args.window_minutes, batch_size=window_lm.DEFAULT_BATCH, seed=args.seed),
        sample=args.sample, seed=args.seed)
    run_dir, seconds = lstm_run(args, out, cache)
    lstm = baselines.rnn_result(run_dir, reader.val_tokens, reader.tokenizer)
    lstm.seconds = seconds
    results.append(lstm)
    baselines.plot(results, out / "bpc.png", "char")
    (out / "results.json").write_text(json.dumps([r.to_json() for r in results], indent=2, ensure_ascii=False))
    print(baselines.table(results, "char", len(reader.val_tokens)))
    for result in results:
        if result.sample is not None:
            print(f"\n--- {result.model} ---\n{result.sample}")
    hmms = [r.bits for r in sorted((r for r in results if r.kind == "hmm"), key=lambda r: r.states)]
    others = {r.kind: r.bits for r in results if r.kind != "hmm"}
    checks = {
        "HMM falls with more states": all(b < a for a, b in zip(hmms, hmms[1:])),
        "n-gram below every HMM": others["ngram"] < min(hmms),
        "window below every HMM": others["window"] < min(hmms),
        "LSTM lowest": others["rnn"] < min(r.bits for r in results if r.kind != "rnn"),
    }
    print("\nSUMMARY predecessors: " + "; ".join(f"{claim}: {'yes' if held else 'NO'}" for claim, held in
                                                  checks.items()) + f"; files in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
