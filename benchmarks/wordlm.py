"""Word-level language model on WikiText-2: validation perplexity against wall-clock time, and the
test perplexity of the best checkpoint at the end.

Data: ../shared/data/wikitext-2/{train,valid,test}.txt (or --data-dir). The vocabulary (about 33k
words, `<unk>` already in the text) comes from train.txt; an adaptive softmax (cut-offs 2000, 10000)
replaces the full one. Targets: validation perplexity below 250 within 17 minutes; test
perplexity ≤ 110 within 60 minutes (goal ≤ 100).

    python benchmarks/wordlm.py --minutes 17
    python benchmarks/wordlm.py --minutes 60                     # measured: test perplexity 99.9
    python benchmarks/wordlm.py --minutes 60 --no-tie-weights    # measured: 116.6

Times are of training (validation included, start-up and data encoding excluded).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

from rnnkit.data import CorpusConfig, encode_corpus
from rnnkit.tasks import language_modeling
from rnnkit.training import TrainConfig

DEFAULT_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wikitext-2"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="holds train.txt, valid.txt, test.txt")
    parser.add_argument("--minutes", type=float, default=17.0, help="training budget (default 17)")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--embedding-size", type=int, default=512)
    parser.add_argument("--input-dropout", type=float, default=0.3)
    parser.add_argument("--output-dropout", type=float, default=0.3)
    parser.add_argument("--weight-drop", type=float, default=0.2)
    parser.add_argument("--embedding-dropout", type=float, default=0.05)
    parser.add_argument("--tie-weights", action=argparse.BooleanOptionalAction, default=True,
                        help="read the word vectors from the adaptive softmax's matrices (tied input and output; "
                             "default on)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--val-every", type=int, help="steps between validations (default: ten per run)")
    parser.add_argument("--val-tokens", type=int, default=60_000,
                        help="validation words per validation during training (0: all); the summary uses all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", help="where the run directory goes (default: a temporary directory)")
    args = parser.parse_args(argv)
    files = {split: args.data_dir / f"{split}.txt" for split in ("train", "valid", "test")}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        print(f"WikiText-2 not found ({', '.join(missing)}); give --data-dir", file=sys.stderr)
        return 2

    run_dir = language_modeling.new_run_dir(Path(args.runs or tempfile.mkdtemp(prefix="wordlm-")))
    corpus = CorpusConfig(path=str(files["train"]), tokens="word")
    options = {"cell": args.cell, "hidden_size": args.hidden, "num_layers": args.layers,
               "embedding_size": args.embedding_size, "input_dropout": args.input_dropout,
               "output_dropout": args.output_dropout, "weight_drop": args.weight_drop,
               "embedding_dropout": args.embedding_dropout, "tie_weights": args.tie_weights}
    config = TrainConfig(minutes=args.minutes, batch_size=args.batch, seq_len=args.seq_len, lr=args.lr,
                         weight_decay=args.weight_decay, val_every=args.val_every, val_tokens=args.val_tokens,
                         seed=args.seed)
    language_modeling.train(run_dir, corpus, options, "auto", config, val_data=str(files["valid"]))

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    validations = [row for row in rows if row["split"] == "val"]
    speeds = [row["tokens_per_s"] for row in rows if row["split"] == "train"]
    print(f"{'time (s)':>9} {'step':>6} {'val perplexity':>15}")
    for row in validations:
        print(f"{row['elapsed_s']:>9.1f} {row['step']:>6} {row['perplexity']:>15.2f}")
    first = next((row for row in validations if row["perplexity"] < 250), None)   # on --val-tokens words
    model, tokenizer, _ = language_modeling.load_run(run_dir)
    losses = {}
    for split in ("valid", "test"):
        tokens = encode_corpus(CorpusConfig(path=str(files[split]), tokens="word"),
                               language_modeling.cache_dir(run_dir), tokenizer).tokens
        losses[split], _ = language_modeling.evaluate_tokens(model, tokens, 16, args.seq_len)
    print(f"SUMMARY wordlm: best checkpoint: val perplexity (all of valid.txt) {math.exp(losses['valid']):.2f}, test perplexity "
          f"{math.exp(losses['test']):.2f} after {args.minutes:g} min (H={args.hidden}, L={args.layers}, "
          f"B={args.batch}, k={args.seq_len}, tied={args.tie_weights}, vocab {len(tokenizer)}), median {statistics.median(speeds):,.0f} "
          f"words/s; val perplexity < 250 " + (f"reached at {first['elapsed_s']:.0f} s" if first else "not reached")
          + f"; run dir {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
