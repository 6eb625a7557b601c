"""``rnnkit eval``: bits per character and perplexity of a trained language model on a text."""

from __future__ import annotations

import argparse
import json
import sys

from ..data import DataError
from ..tasks import language_modeling
from ..training import CheckpointError
from . import options

EXAMPLES = """examples:
  rnnkit eval runs/demo --data held_out.py
      loss, bits per character and perplexity of the run's best model on a file
  rnnkit eval runs/wiki --data wikitext-2/test.txt --json
      one JSON object: loss (nats/token), bpc (bits/token), perplexity, tokens, unknown_tokens
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="bits per character / perplexity of a language model on a text",
        description="Evaluate the best checkpoint of a language-model run on a text file or a directory of text "
                    "files, read as contiguous streams with the state carried from chunk to chunk.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train lm`")
    parser.add_argument("--data", required=True, metavar="PATH", help="the text to evaluate on")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the file (default utf-8)")
    parser.add_argument("--errors", choices=["strict", "replace", "ignore"], help="undecodable bytes: an error "
                        "(strict, the default) or replaced/ignored")
    parser.add_argument("--batch", type=int, default=16, metavar="B", help="parallel streams (default 16)")
    parser.add_argument("--seq-len", type=int, default=256, metavar="K", help="steps per chunk (default 256)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        result = language_modeling.evaluate_file(args.run_dir, args.data, args.encoding, args.errors,
                                                 args.batch, args.seq_len)
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit eval: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        unit = "char" if result["tokenizer"] == "char" else "word"
        print(f"loss {result['loss']:.4f} nats/{unit}   {result['bpc']:.4f} bits/{unit}   "
              f"perplexity {result['perplexity']:.2f}   ({result['tokens']:,} {unit}s predicted, "
              f"{result['unknown_tokens']:,} unknown)")
    return 0
