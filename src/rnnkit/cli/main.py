"""Entry point of the ``rnnkit`` command: builds the parser from every command module."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from . import baselines, caption, cells, compare, evaluate, forecast, options, predict, sample, train, translate, viz

# Each command module has ``register(subparsers)``, which adds its parser and sets ``func``.
COMMANDS = [cells, train, sample, evaluate, viz, predict, forecast, baselines, translate, caption, compare]

EPILOG = """examples:
  rnnkit cells                      list every cell with its equations
  rnnkit train lm --minutes 3 --out runs/demo
                                    a character LSTM on Python's own source for 3 minutes
  rnnkit sample runs/demo --length 600 --temperature 0.8
                                    stream 600 generated characters to stdout
  rnnkit eval runs/demo --data FILE bits per character and perplexity on a text
  rnnkit train majority --steps 300 a many-to-one classifier on generated sequences
  rnnkit predict RUN_DIR "some text" --explain
                                    a trained classifier's label, probabilities and token weights
  rnnkit forecast RUN_DIR --data FILE.csv
                                    the next H values of a series (a `train forecast` run)
  rnnkit baselines lm --data FILE   n-gram, HMM and window language models beside an RNN
  rnnkit translate RUN_DIR "vendredi 3 mars 1989"   a `train translate` run's translation (--show-attention)
  rnnkit caption RUN_DIR photo.jpg --show-attention words.png
                                    a `train caption` run's caption, and where each word looked
  rnnkit compare --cells lstm,gru --tasks adding --steps 500
                                    which architecture? every cell on every task, the notes' table beside
  rnnkit viz gradients --cells rnn_tanh,lstm
                                    how far gradients flow back through time, as a PNG, CSV and JSON
  rnnkit --version
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent neural networks on PyTorch: cells, training, sampling, diagnostics.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    options.apply_threads(args)
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        # Ctrl-C outside training (which saves and exits itself): while reading data or starting up.
        print(f"rnnkit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
