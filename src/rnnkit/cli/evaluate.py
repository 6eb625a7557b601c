"""``rnnkit eval``: a trained run's best model on held-out data, whatever its task.

The run's config.json names its task: a language model is evaluated on a text (``--data``: bits per
character and perplexity); a generated task on its own validation set.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..data import DataError
from ..tasks import language_modeling, majority, runs
from ..training import CheckpointError
from . import baselines, caption, classify, forecast, options, tag, translate

EXAMPLES = """examples:
  rnnkit eval runs/demo --data held_out.py
      loss, bits per character and perplexity of a language model's best checkpoint on a file
  rnnkit eval runs/wiki --data wikitext-2/test.txt --json
      one JSON object: loss (nats/token), bpc (bits/token), perplexity, tokens, unknown_tokens
  rnnkit eval runs/majority
      accuracy and loss of a `train majority` run on its validation sequences
  rnnkit eval runs/demo --baselines
      the n-gram, HMM and window language models on the run's own text and split, beside it
  rnnkit eval runs/en-de --src test.en.gz --tgt test.de.gz --beam-size 5
      BLEU and chrF (sacrebleu, detokenised) and exact match of a `train translate` run
  rnnkit eval runs/flickr8k --split dev
      BLEU-1…4 and CIDEr-D of a `train caption` run against all references (shapes: captions true of their scene)
  rnnkit eval runs/neg --data test.csv
      accuracy, macro-F1, per-class precision/recall and the confusion matrix of a classify run (or tag run)
  rnnkit eval runs/co2
      MASE, sMAPE and RMSE of a forecast run beside naive, seasonal naive, ETS, ARIMA, Theta and Kalman
  rnnkit eval runs/copy
      the validation metrics of an arith, xml, adding or copy run
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a trained run (bits per character / perplexity, accuracy)",
        description="Evaluate the best checkpoint of a run. A language model reads a text file or a directory of "
                    "text files as contiguous streams, the state carried from chunk to chunk.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train`")
    parser.add_argument("--data", metavar="PATH", help="the text to evaluate a language model on")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    parser.add_argument("--encoding", default="utf-8", help="text encoding of the file (default utf-8)")
    parser.add_argument("--errors", choices=["strict", "replace", "ignore"], help="undecodable bytes: an error "
                        "(strict, the default) or replaced/ignored")
    parser.add_argument("--batch", type=options.positive_int, default=16, metavar="B",
                        help="parallel streams (default 16)")
    parser.add_argument("--seq-len", type=options.positive_int, default=256, metavar="K",
                        help="steps per chunk (default 256)")
    parser.add_argument("--confusion", metavar="PNG", help="classify runs: where to save the confusion matrix "
                        "(default RUN_DIR/confusion.png)")
    forecast.add_eval_arguments(parser)
    translate.add_eval_arguments(parser)
    caption.add_eval_arguments(parser)
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        task = runs.read_config(args.run_dir)["task"]
        if task not in EVALUATORS:
            raise CheckpointError(f"rnnkit eval does not know how to evaluate a {task!r} run")
        return EVALUATORS[task](args)
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit eval: error: {error}", file=sys.stderr)
        return 2


def _majority(args: argparse.Namespace) -> int:
    result = majority.evaluate_run(args.run_dir)
    print(json.dumps(result) if args.json else
          f"accuracy {result['accuracy']:.4f}   loss {result['loss']:.4f} nats   "
          f"({result['count']:,} validation sequences)")
    return 0


def _language_model(args: argparse.Namespace) -> int:
    if getattr(args, "baselines", None):         # --baselines [ngram,hmm,window]
        return baselines.evaluate_run(args)
    if args.data is None:
        raise ValueError(f"{args.run_dir} is a language model: give the text to evaluate on with --data FILE")
    result = language_modeling.evaluate_file(args.run_dir, args.data, args.encoding, args.errors,
                                             args.batch, args.seq_len)
    if args.json:
        print(json.dumps(result))
    else:
        unit = "char" if result["tokenizer"] == "char" else "word"
        print(f"loss {result['loss']:.4f} nats/{unit}   {result['bpc']:.4f} bits/{unit}   "
              f"perplexity {result['perplexity']:.2f}   ({result['tokens']:,} {unit}s predicted, "
              f"{result['unknown_tokens']:,} unknown)")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from ..tasks import synthetic

    result = synthetic.evaluate_run(args.run_dir)
    print(json.dumps(result) if args.json else "   ".join(
        f"{name} {value:.4f}" if isinstance(value, float) else f"({value:,} validation examples)"
        for name, value in result.items()))
    return 0


# The evaluation of each task, by the name its run's config.json records: ``function(args) -> exit status``.
EVALUATORS = {
    "lm": _language_model,
    "majority": _majority,
    **{name: _synthetic for name in ("arith", "xml", "adding", "copy")},
    "forecast": forecast.evaluate,
    "classify": classify.evaluate,
    "tag": tag.evaluate,
    "translate": translate.evaluate,
    "caption": caption.evaluate,
    "window": baselines.evaluate_window,
}
