"""``rnnkit train lm``: train a language model on any text (default: Python's own standard library)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data import CorpusConfig, DataError
from ..models import LanguageModelConfig
from ..tasks import language_modeling
from ..training import CheckpointError, TrainConfig
from . import options

EXAMPLES = """examples:
  rnnkit train lm --minutes 3 --out runs/demo
      a character LSTM on the Python standard library's source for 3 minutes
  rnnkit train lm --data input.txt --steps 5000 --hidden 512 --layers 2 --dropout 0.2
      your own text file (or a directory of text files) for 5000 steps
  rnnkit train lm --tokens word --data wikitext-2/train.txt --val-data wikitext-2/valid.txt \\
      --hidden 400 --tie-weights --input-dropout 0.4 --output-dropout 0.4 --weight-drop 0.3 --minutes 30
      a word-level model with the AWD-LSTM regularisers (an adaptive softmax for large vocabularies)
  rnnkit train lm --cell gru --engine autograd --steps 300
      any cell of `rnnkit cells`, on any engine
  rnnkit train lm --resume runs/demo --steps 8000
      continue an interrupted (Ctrl-C) or finished run up to a total of 8000 steps

exit status: 0 finished, 130 interrupted by Ctrl-C (saved), 143 by SIGTERM (saved),
3 the loss became NaN or infinite (the last good checkpoint is kept), 2 bad arguments or data.
"""

EXIT_DIVERGED = 3
# Flags that --resume takes from the run's config.json instead.
SETTINGS = (
    "data", "val_data", "tokens", "encoding", "errors", "min_count", "max_vocab", "val_fraction", "out", "seed",
    "cell", "hidden", "layers", "embedding_size", "dropout", "input_dropout", "output_dropout", "weight_drop",
    "embedding_dropout", "tie_weights", "adaptive_softmax", "engine", "forget_bias", "seq_len", "batch", "lr",
    "weight_decay", "warmup", "final_lr_ratio", "clip", "val_every", "val_tokens", "save_every", "log_every",
)
DEFAULT_MINUTES = 3.0


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train a model (tasks: lm)", description="Train a model for a task.",
        epilog="examples:\n  rnnkit train lm --minutes 3\n  rnnkit train lm --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    parser = tasks.add_parser(
        "lm", help="a language model on characters or words",
        description="Train a recurrent language model with truncated BPTT on a text file, a directory of text "
                    "files, or (by default) the Python standard library's source. Every run writes into its run "
                    "directory: config.json, vocab.json, model.safetensors (best), trainer.safetensors (resume), "
                    "metrics.jsonl and curves.png. Ctrl-C saves; --resume continues exactly.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults, model = TrainConfig(steps=1), LanguageModelConfig(vocab_size=2)
    data = parser.add_argument_group("data")
    data.add_argument("--data", metavar="PATH", help="a text file or a directory of text files "
                      "(default: the running Python's standard library, *.py)")
    data.add_argument("--val-data", metavar="PATH", help="a separate validation text (default: the last "
                      "--val-fraction of --data)")
    data.add_argument("--tokens", choices=["char", "word"], help="characters (default) or whitespace-separated "
                      "words with <eos> per line")
    data.add_argument("--encoding", help="text encoding of the files (default utf-8)")
    data.add_argument("--errors", choices=["strict", "replace", "ignore"], help="undecodable bytes: an error "
                      "(strict, the default for your files) or replaced/ignored (default for the standard library)")
    data.add_argument("--min-count", type=int, metavar="N", help="tokens seen fewer than N times become <unk> "
                      "(default 1)")
    data.add_argument("--max-vocab", type=int, metavar="N", help="keep the N most frequent tokens (default: all)")
    data.add_argument("--val-fraction", type=float, metavar="F", help="last fraction of the text held out for "
                      "validation (default 0.1; 0 for none)")

    run = parser.add_argument_group("run")
    run.add_argument("--out", metavar="RUN_DIR", help="run directory (default: a new runs/lm-DATE-TIME)")
    budget = run.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, metavar="N", help="budget: N optimizer steps in total")
    budget.add_argument("--minutes", type=float, metavar="M", help=f"budget: M minutes of training "
                        f"(default {DEFAULT_MINUTES:g})")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR (settings from its "
                     "config.json; only --steps/--minutes may change)")
    run.add_argument("--seed", type=int, help=f"random seed (default {defaults.seed})")

    net = parser.add_argument_group("model")
    net.add_argument("--cell", help=f"recurrent cell, any of `rnnkit cells` (default {model.cell})")
    net.add_argument("--hidden", type=int, metavar="H", help=f"hidden units per layer (default {model.hidden_size})")
    net.add_argument("--layers", type=int, metavar="L", help=f"stacked layers (default {model.num_layers})")
    net.add_argument("--embedding-size", type=int, metavar="E", help="embedding size (default: --hidden)")
    net.add_argument("--engine", help="engine: auto, fused, bptt, bptt-recompute, autograd (default auto)")
    net.add_argument("--forget-bias", type=float, metavar="B", help="initial forget-gate bias (LSTM family)")
    net.add_argument("--tie-weights", action="store_true", default=None, help="share embedding and output "
                     "matrices (a projection is added when --embedding-size differs from --hidden; with an "
                     "adaptive softmax the word vectors come from its head and cluster matrices)")
    net.add_argument("--adaptive-softmax", choices=["auto", "on", "off"], help="adaptive softmax for large "
                     f"vocabularies (default auto: on from {language_modeling.ADAPTIVE_FROM} tokens)")

    reg = parser.add_argument_group("regularisation (Merity et al. 2017; all off by default)")
    reg.add_argument("--dropout", type=float, metavar="P", help="dropout between stacked layers")
    reg.add_argument("--input-dropout", type=float, metavar="P", help="locked dropout on the embeddings")
    reg.add_argument("--output-dropout", type=float, metavar="P", help="locked dropout on the last layer's output")
    reg.add_argument("--weight-drop", type=float, metavar="P", help="DropConnect on the recurrent matrices W_hh")
    reg.add_argument("--embedding-dropout", type=float, metavar="P", help="drop whole words from the embedding")

    opt = parser.add_argument_group("optimisation")
    opt.add_argument("--seq-len", type=int, metavar="K", help=f"truncated BPTT length (default {defaults.seq_len})")
    opt.add_argument("--batch", type=int, metavar="B", help=f"parallel streams (default {defaults.batch_size})")
    opt.add_argument("--lr", type=float, help=f"peak AdamW learning rate (default {defaults.lr:g})")
    opt.add_argument("--weight-decay", type=float, metavar="W", help=f"AdamW weight decay "
                     f"(default {defaults.weight_decay:g})")
    opt.add_argument("--warmup", type=int, metavar="N", help=f"warm-up steps (default {defaults.warmup_steps})")
    opt.add_argument("--final-lr-ratio", type=float, metavar="R", help="final learning rate of the cosine decay "
                     f"as a fraction of --lr (default {defaults.final_lr_ratio:g})")
    opt.add_argument("--clip", type=float, metavar="C", help=f"gradient clipping by global norm "
                     f"(default {defaults.clip:g}; 0 turns it off)")

    log = parser.add_argument_group("validation and logging")
    log.add_argument("--val-every", type=int, metavar="N", help="validate every N steps (default: ten times per run)")
    log.add_argument("--val-tokens", type=int, metavar="N", help=f"tokens of the validation text read per "
                     f"validation (default {defaults.val_tokens}; 0 for all)")
    log.add_argument("--save-every", type=float, metavar="S", help=f"save the trainer state every S seconds "
                     f"(default {defaults.save_every:g})")
    log.add_argument("--log-every", type=int, metavar="N", help=f"a metrics row every N steps "
                     f"(default {defaults.log_every})")
    options.add_threads(run)
    parser.set_defaults(func=run_lm)


def _given(args: argparse.Namespace, mapping: dict[str, str]) -> dict:
    """The flags of ``mapping`` (flag → field) that were given, by field name."""
    return {field: getattr(args, flag) for flag, field in mapping.items() if getattr(args, flag) is not None}


def run_lm(args: argparse.Namespace) -> int:
    try:
        if args.resume is not None:
            given = [f"--{name.replace('_', '-')}" for name in SETTINGS if getattr(args, name) is not None]
            if given:
                raise ValueError(f"--resume takes its settings from {Path(args.resume) / 'config.json'}; "
                                 f"only --steps or --minutes may be given, not {' '.join(given)}")
            run_dir = Path(args.resume)
            budget = None
            if args.steps is not None or args.minutes is not None:
                budget = TrainConfig(steps=args.steps, minutes=args.minutes)
            print(f"run directory: {run_dir}", file=sys.stderr, flush=True)
            result = language_modeling.train(run_dir, train_config=budget, resume=True)
        else:
            corpus = CorpusConfig(**{"path": args.data} | _given(args, {
                "tokens": "tokens", "encoding": "encoding", "errors": "errors", "min_count": "min_count",
                "max_vocab": "max_vocab"}))
            model_options = _given(args, {
                "cell": "cell", "hidden": "hidden_size", "layers": "num_layers", "embedding_size": "embedding_size",
                "dropout": "dropout", "input_dropout": "input_dropout", "output_dropout": "output_dropout",
                "weight_drop": "weight_drop", "embedding_dropout": "embedding_dropout", "tie_weights": "tie_weights",
                "engine": "engine", "forget_bias": "forget_bias"})
            train_options = _given(args, {
                "steps": "steps", "minutes": "minutes", "batch": "batch_size", "seq_len": "seq_len", "lr": "lr",
                "weight_decay": "weight_decay", "warmup": "warmup_steps", "final_lr_ratio": "final_lr_ratio",
                "val_every": "val_every", "val_tokens": "val_tokens", "save_every": "save_every",
                "log_every": "log_every", "seed": "seed"})
            if args.steps is None and args.minutes is None:
                train_options["minutes"] = DEFAULT_MINUTES
            if args.clip is not None:
                train_options["clip"] = args.clip if args.clip > 0 else None
            train_config = TrainConfig(**train_options)
            run_dir = Path(args.out) if args.out else language_modeling.new_run_dir()
            print(f"run directory: {run_dir}", file=sys.stderr, flush=True)
            result = language_modeling.train(
                run_dir, corpus, model_options, args.adaptive_softmax or "auto", train_config,
                0.1 if args.val_fraction is None else args.val_fraction, args.val_data,
            )
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit train lm: error: {error}", file=sys.stderr)
        return 2
    if result.status == "interrupted":
        print(f"rnnkit train lm: {result.message}", file=sys.stderr)
        return 128 + result.signal
    if result.status == "diverged":
        print(f"rnnkit train lm: error: {result.message}", file=sys.stderr)
        return EXIT_DIVERGED
    best = "" if result.best_val_loss is None else f", best validation loss {result.best_val_loss:.4f} nats/token"
    print(f"finished at step {result.step}{best}; sample with: rnnkit sample {run_dir}", file=sys.stderr)
    return 0
