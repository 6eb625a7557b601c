"""``rnnkit sample``: generate text from a trained language model, streamed to stdout."""

from __future__ import annotations

import argparse
import sys

import torch

from ..data import DataError
from ..decoding import beam_search, generate
from ..tasks import language_modeling
from ..training import CheckpointError
from . import options

DEFAULT_PROMPT = "\n"
EXAMPLES = """examples:
  rnnkit sample runs/demo
      600 characters after a newline, sampled at temperature 1
  rnnkit sample runs/demo --prompt "def " --length 400 --temperature 0.8 --seed 1
      a reproducible continuation of a prompt, a little more conservative
  rnnkit sample runs/demo --top-p 0.9
      nucleus sampling: draw only from the most probable 90% of the mass
  rnnkit sample runs/demo --strategy greedy --length 200
      always the most probable next token
  rnnkit sample runs/demo --strategy beam --beam-size 8 --length 80
      the most probable continuation found by beam search (printed at the end)

Only the generated text goes to stdout (add --echo-prompt to print the prompt before it);
warnings and status go to stderr. Prompt characters (or words) outside the vocabulary are read
as <unk>, with a warning; the model never generates <unk> unless --allow-unk.
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
    parser.add_argument("--seed", type=int, help="random seed: the same seed gives the same sample (default: random)")
    parser.add_argument("--echo-prompt", action="store_true", help="print the prompt before the generated text")
    parser.add_argument("--allow-unk", action="store_true", help="let the model generate <unk> (default: never; "
                        "its probability goes to the other tokens in proportion)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        model, tokenizer, _ = language_modeling.load_run(args.run_dir)
        if not args.prompt:
            raise ValueError("--prompt must hold at least one character (the default is a newline)")
        if args.length < 0:
            raise ValueError(f"--length must be non-negative, got {args.length}")
        unknown = tokenizer.unknown(args.prompt)
        if unknown:
            print(f"rnnkit sample: warning: the prompt holds {len(unknown)} {tokenizer.kind}(s) outside the "
                  f"vocabulary, read as <unk>: {', '.join(map(repr, unknown[:10]))}", file=sys.stderr)
        prompt = torch.as_tensor(tokenizer.encode(args.prompt))
        if prompt.numel() == 0:
            raise ValueError(f"--prompt {args.prompt!r} holds no {tokenizer.kind} tokens")
        if args.echo_prompt:
            sys.stdout.write(args.prompt)
        previous = int(prompt[-1])
        banned = () if args.allow_unk else (tokenizer.unk_id,)
        if args.strategy == "beam":
            best = beam_search(model, prompt, args.beam_size, args.length, length_penalty=args.length_penalty,
                               banned_tokens=banned, use_forward=True)[0]
            pieces = []
            for token in best.tokens:
                pieces.append(tokenizer.piece(token, previous))
                previous = token
            sys.stdout.write("".join(pieces))
        else:
            generator = torch.Generator()
            if args.seed is None:
                generator.seed()
            else:
                generator.manual_seed(args.seed)
            tokens = generate(model, prompt[None], args.length, strategy=args.strategy,
                              temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                              banned_tokens=banned, generator=generator, use_forward=True)
            for token in tokens:
                token = int(token[0])
                sys.stdout.write(tokenizer.piece(token, previous))
                sys.stdout.flush()
                previous = token
        sys.stdout.write("\n")
        sys.stdout.flush()
    except (DataError, CheckpointError, ValueError, TypeError) as error:
        print(f"rnnkit sample: error: {error}", file=sys.stderr)
        return 2
    return 0
