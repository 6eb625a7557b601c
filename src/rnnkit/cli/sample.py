"""``rnnkit sample``: generate text from a trained language model, streamed to stdout."""

from __future__ import annotations

import argparse
import math
import sys

import torch

from ..data import DataError, Tokenizer
from ..data.tokenizers import EOS
from ..decoding import beam_search, generate
from ..models import LanguageModel
from ..tasks import language_modeling
from ..training import CheckpointError
from . import options

DEFAULT_PROMPT = "\n"
# --no-repeat-ngram when not given, for greedy decoding and beam search (sampling: off). A weak model's
# most probable continuation is a loop (on characters, often a run of spaces), and both find it; a
# character n-gram must be long enough to let real text repeat its short pieces (indentation, "self.").
NO_REPEAT_NGRAM = {"char": 8, "word": 3}
# Sampling needs a longer one on characters: in a long run of spaces a briefly trained model gives the next
# space more than any top-p (0.95) and the run never ends; no 24 characters twice caps such runs at 24.
SAMPLE_NO_REPEAT_NGRAM = {"char": 24, "word": 0}
EXAMPLES = f"""examples:
  rnnkit sample runs/demo
      600 characters after a newline, sampled at temperature 1
  rnnkit sample runs/demo --prompt "def " --length 400 --temperature 0.8 --seed 1
      a reproducible continuation of a prompt, a little more conservative
  rnnkit sample runs/demo --top-p 0.9
      nucleus sampling: draw only from the most probable 90% of the mass
  rnnkit sample runs/demo --strategy greedy --length 200
      always the most probable next token that repeats no {NO_REPEAT_NGRAM["char"]}-character n-gram
  rnnkit sample runs/demo --strategy beam --beam-size 8 --length 80
      the most probable continuation found by beam search (printed at the end)
  rnnkit sample runs/demo --strategy greedy --no-repeat-ngram 0
      greedy decoding without n-gram blocking: the model's own argmax, loops and all
  rnnkit sample runs/words --repetition-penalty 1.2
      CTRL's penalty: every word already generated is less likely to come again

Only the generated text goes to stdout (add --echo-prompt to print the prompt before it);
warnings and status go to stderr. Prompt characters (or words) outside the vocabulary are read
as <unk>, with a warning; the model never generates <unk> unless --allow-unk. A word prompt that
does not end with a line break continues its line: the first word generated follows it after a space.

Greedy decoding and beam search block repeated n-grams by default ({NO_REPEAT_NGRAM["char"]} characters,
or {NO_REPEAT_NGRAM["word"]} words): on a model trained for minutes, the most probable continuation is
a loop, often a run of spaces. Sampling from a character model blocks {SAMPLE_NO_REPEAT_NGRAM["char"]}-grams:
deep in a run of spaces such a model gives the next space more than --top-p 0.95, and the run never ends.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample", help="generate text from a trained language model",
        description="Generate text from the best checkpoint of a language-model run, streamed to stdout as it is "
                    "generated. The prompt primes the model's state first.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train lm`")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help="text that primes the state (default: a newline)")
    parser.add_argument("--length", type=int, default=600, metavar="N", help="tokens to generate (default 600)")
    parser.add_argument("--strategy", choices=["sample", "greedy", "beam"], default="sample",
                        help="draw from the distribution (default), take the argmax, or beam search")
    parser.add_argument("--temperature", type=float, default=1.0, metavar="T",
                        help="divide the logits by T before sampling (default 1; lower is more conservative)")
    parser.add_argument("--top-k", type=int, metavar="K", help="sample among the K most probable tokens only")
    parser.add_argument("--top-p", type=float, metavar="P", help="sample within the smallest set of probability P")
    parser.add_argument("--beam-size", type=int, default=5, metavar="W", help="hypotheses kept by beam search "
                        "(default 5)")
    parser.add_argument("--length-penalty", type=float, default=0.0, metavar="A",
                        help="beam search ranks by log p / length^A (default 0: raw log-probability)")
    parser.add_argument("--no-repeat-ngram", type=int, metavar="N",
                        help="never generate an N-gram already generated (0: off). Default: for greedy and beam "
                             f"{NO_REPEAT_NGRAM['char']} on a character model, {NO_REPEAT_NGRAM['word']} on a word "
                             "model, because a briefly trained model's most probable continuation is a loop (often a "
                             f"run of spaces); for sample {SAMPLE_NO_REPEAT_NGRAM['char']} on a character model (a "
                             "run of spaces can outweigh any --top-p), off on a word model")
    parser.add_argument("--repetition-penalty", type=float, default=1.0, metavar="P",
                        help="sample and greedy: divide the logit of every token already generated by P where it is "
                             "positive, multiply it where negative (CTRL, Keskar et al. 2019; default 1: off). Meant "
                             "for word models (e.g. 1.2): a character model soon has generated nearly every "
                             "character, and the penalty then stops telling them apart")
    parser.add_argument("--seed", type=int, help="random seed: the same seed gives the same sample (default: random)")
    parser.add_argument("--echo-prompt", action="store_true", help="print the prompt before the generated text")
    parser.add_argument("--allow-unk", action="store_true", help="let the model generate <unk> (default: never; "
                        "its probability goes to the other tokens in proportion)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        check_args(args)
        model, tokenizer, _ = language_modeling.load_run(args.run_dir)
        prompt = encode_prompt(tokenizer, args.prompt)
        if args.echo_prompt:
            sys.stdout.write(args.prompt)
        decoding = {
            "banned_tokens": () if args.allow_unk else (tokenizer.unk_id,),
            "no_repeat_ngram_size": no_repeat_ngram(args, tokenizer),
        }
        if args.strategy == "beam":
            write_beam(model, tokenizer, prompt, args, decoding)
        else:
            write_stream(model, tokenizer, prompt, args, decoding)
        sys.stdout.write("\n")
        sys.stdout.flush()
    except (DataError, CheckpointError, ValueError, TypeError) as error:
        print(f"rnnkit sample: error: {error}", file=sys.stderr)
        return 2
    return 0


def check_args(args: argparse.Namespace) -> None:
    """Raise naming the flag for values the decoders would refuse, or that would be silently unused."""
    if not args.prompt:
        raise ValueError("--prompt must hold at least one character (the default is a newline)")
    if args.length < 0:
        raise ValueError(f"--length must be non-negative, got {args.length}")
    if args.no_repeat_ngram is not None and args.no_repeat_ngram < 0:
        raise ValueError(f"--no-repeat-ngram must be non-negative (0: off), got {args.no_repeat_ngram}")
    if not (args.repetition_penalty > 0 and math.isfinite(args.repetition_penalty)):
        raise ValueError(f"--repetition-penalty must be a positive number (1: off), got {args.repetition_penalty}")
    if not (args.temperature > 0 and math.isfinite(args.temperature)):
        raise ValueError(f"--temperature must be a positive number, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise ValueError(f"--top-k must be at least 1, got {args.top_k}")
    if args.top_p is not None and not 0 < args.top_p <= 1:
        raise ValueError(f"--top-p must be in (0, 1], got {args.top_p}")
    if args.beam_size < 1:
        raise ValueError(f"--beam-size must be at least 1, got {args.beam_size}")
    if not math.isfinite(args.length_penalty) or args.length_penalty < 0:
        raise ValueError(f"--length-penalty must be a non-negative number, got {args.length_penalty}")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise ValueError(f"--seed must be a non-negative whole number, got {args.seed}")
    if args.strategy == "beam" and args.repetition_penalty != 1:
        raise ValueError("--repetition-penalty applies to --strategy sample and greedy; for beam search, use "
                         "--no-repeat-ngram")


def encode_prompt(tokenizer: Tokenizer, text: str) -> torch.Tensor:
    """The prompt's token ids (P,), with a warning on stderr for tokens outside the vocabulary.

    A word tokenizer ends every line with <eos>, an unterminated last line too; a prompt that does not
    end with a line break is the start of a line to continue, so that last <eos> is dropped (unless it
    is the only token), and the first word generated follows the prompt after a space.
    """
    unknown = tokenizer.unknown(text)
    if unknown:
        print(f"rnnkit sample: warning: the prompt holds {len(unknown)} {tokenizer.kind}(s) outside the "
              f"vocabulary, read as <unk>: {', '.join(map(repr, unknown[:10]))}", file=sys.stderr)
    ids = torch.as_tensor(tokenizer.encode(text))
    if ids.numel() == 0:
        raise ValueError(f"--prompt {text!r} holds no {tokenizer.kind} tokens")
    # A string's last character alone splits into [""] exactly when it is a line break (\n, \r, \x85, …).
    ends_line = text[-1:].splitlines() == [""]
    if not ends_line and ids.numel() > 1 and int(ids[-1]) == tokenizer.index.get(EOS):
        ids = ids[:-1]
    return ids


def no_repeat_ngram(args: argparse.Namespace, tokenizer: Tokenizer) -> int:
    """--no-repeat-ngram, or its default for the strategy and the tokenizer (see NO_REPEAT_NGRAM)."""
    if args.no_repeat_ngram is not None:
        return args.no_repeat_ngram
    return (SAMPLE_NO_REPEAT_NGRAM if args.strategy == "sample" else NO_REPEAT_NGRAM)[tokenizer.kind]


def write_beam(model: LanguageModel, tokenizer: Tokenizer, prompt: torch.Tensor, args: argparse.Namespace,
               decoding: dict) -> None:
    """Beam search's best continuation, written once the search ends."""
    best = beam_search(model, prompt, args.beam_size, args.length, length_penalty=args.length_penalty,
                       use_forward=True, **decoding)[0]
    previous, pieces = int(prompt[-1]), []
    for token in best.tokens:
        pieces.append(tokenizer.piece(token, previous))
        previous = token
    sys.stdout.write("".join(pieces))


def write_stream(model: LanguageModel, tokenizer: Tokenizer, prompt: torch.Tensor, args: argparse.Namespace,
                 decoding: dict) -> None:
    """Sampled or greedy tokens, each written (and flushed) as soon as it is chosen."""
    generator = torch.Generator()
    if args.seed is None:
        generator.seed()
    else:
        generator.manual_seed(args.seed)
    tokens = generate(model, prompt[None], args.length, strategy=args.strategy, temperature=args.temperature,
                      top_k=args.top_k, top_p=args.top_p, repetition_penalty=args.repetition_penalty,
                      generator=generator, use_forward=True, **decoding)
    previous = int(prompt[-1])
    for token in tokens:
        token = int(token[0])
        sys.stdout.write(tokenizer.piece(token, previous))
        sys.stdout.flush()
        previous = token
