"""``rnnkit baselines lm``: the models the notes compare RNNs against, on the lm task's data and split.

Deck 004 argues that an RNN's distributed, non-linear state beats its predecessors. This command
trains them on exactly the text and split of ``rnnkit train lm`` (the last 10% held out) and prints
their bits per character (or per word) and perplexity side by side:

- an n-gram model with interpolated modified Kneser-Ney smoothing, its order chosen on validation
  (:mod:`rnnkit.baselines.ngram`);
- hidden Markov models of N = 16, 64, 256 states fitted by Baum–Welch on a bounded slice of the
  training text (:mod:`rnnkit.baselines.hmm`): bits per character against log₂ N;
- the fixed-window feed-forward model (the last k tokens → the next), trained by the one trainer as
  task ``window`` (:mod:`rnnkit.tasks.window_lm`);
- with ``--run RUN_DIR`` (or ``rnnkit eval RUN_DIR --baselines ngram,hmm,window``), the recurrent run's figure
  on the same validation text — and then the text and split come from that run.

It writes OUT/results.json, OUT/bpc.png (bits against model size, and the HMM against log₂ N) and
OUT/window/ (the window model's run directory). This module also holds the ``train window`` flags.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from ..baselines.hmm import HiddenMarkovLM, HMMConfig
from ..baselines.ngram import KEY_LIMIT, KneserNeyLM
from ..baselines.window import WindowConfig
from ..data import CorpusConfig, DataError, Tokenizer
from ..tasks import language_modeling, runs, window_lm
from ..training import CheckpointError, TrainConfig
from . import options
from .flags import Flag, train_flags

KINDS = ("ngram", "hmm", "window")
DEFAULT_STATES = (16, 64, 256)
DEFAULT_WINDOW_MINUTES = 2.0

EXAMPLES = """examples:
  rnnkit baselines lm --data ../shared/data/tinyshakespeare/input.txt
      n-gram (order chosen on validation), HMM with 16/64/256 states, window model: bits per character
  rnnkit baselines lm --run runs/demo --sample 300
      the same beside the LSTM of runs/demo, on its text and split, with 300 sampled characters each
  rnnkit eval runs/demo --baselines ngram,hmm,window
      the same as --run runs/demo (the run's text and split; files in runs/demo/baselines)
  rnnkit baselines lm --data input.txt --states 16,64 --hmm-tokens 20000 --window-minutes 0.5
      a quicker look: smaller HMMs on a shorter slice, a shorter window-model run
  rnnkit baselines lm --data input.txt --skip hmm,window --max-order 12 --json
      only the n-gram models, as one JSON object
"""


@dataclass
class Result:
    """One model's figure on the validation text."""

    model: str                      # e.g. "n-gram (KN, order 7)"
    kind: str                       # ngram, hmm, window, rnn
    size: int                       # parameters (stored n-grams for the n-gram model)
    loss: float                     # nats per predicted token
    tokens: int                     # tokens predicted
    seconds: float                  # training time
    states: int | None = None       # the HMM's N
    note: str = ""
    sample: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bits(self) -> float:
        return self.loss / math.log(2)

    @property
    def perplexity(self) -> float:
        return math.exp(min(self.loss, 700.0))

    def to_json(self) -> dict:
        seconds = None if math.isnan(self.seconds) else self.seconds          # strict JSON has no NaN
        return dataclasses.asdict(self) | {"seconds": seconds, "bits": self.bits, "perplexity": self.perplexity}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "baselines", help="n-gram, HMM and window language models beside an RNN, on the same data",
        description="Train the predecessors of recurrent language models on the data and split of "
                    "`rnnkit train lm` and report their bits per character / perplexity side by side.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES)
    kinds = parser.add_subparsers(dest="baselines_task", metavar="TASK", required=True)
    lm = kinds.add_parser("lm", help="language-model baselines", description=__doc__, epilog=EXAMPLES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(lm)
    lm.set_defaults(func=run)


def add_arguments(parser: argparse.ArgumentParser, with_data: bool = True) -> None:
    """The baselines' options (``rnnkit eval --baselines`` uses the run's data, so not ``with_data``)."""
    if with_data:
        data = parser.add_argument_group("data (as `rnnkit train lm` reads it)")
        data.add_argument("--data", metavar="PATH", help="a text file or a directory of text files (default: the "
                          "Python standard library's source)")
        data.add_argument("--tokens", choices=("char", "word"), default="char", help="tokenizer (default char)")
        data.add_argument("--val-fraction", type=float, default=0.1, metavar="F",
                          help="last fraction held out for validation (default 0.1)")
        data.add_argument("--run", metavar="RUN_DIR", help="an `rnnkit train lm` run: its text and split, and its "
                          "figure beside the baselines")
    models = parser.add_argument_group("baselines")
    models.add_argument("--skip", default="", metavar="LIST", help="leave out any of ngram,hmm,window")
    models.add_argument("--max-order", type=options.positive_int, default=10, metavar="N",
                        help="n-gram orders 1 … N are fitted and the best on validation is reported (default 10)")
    models.add_argument("--states", default=",".join(map(str, DEFAULT_STATES)), metavar="LIST",
                        help="HMM state counts (default 16,64,256)")
    models.add_argument("--hmm-tokens", type=int, default=HMMConfig.train_tokens, metavar="N",
                        help=f"Baum–Welch reads the last N training tokens, 0 all (default {HMMConfig.train_tokens}; "
                             "O(N·states²) per iteration)")
    models.add_argument("--hmm-iterations", type=options.positive_int, default=HMMConfig.iterations, metavar="N",
                        help=f"at most N Baum–Welch iterations (default {HMMConfig.iterations})")
    models.add_argument("--window-minutes", type=float, default=DEFAULT_WINDOW_MINUTES, metavar="M",
                        help=f"training budget of the window model (default {DEFAULT_WINDOW_MINUTES:g})")
    models.add_argument("--context", type=options.positive_int, default=WindowConfig.context, metavar="K",
                        help=f"tokens the window model sees (default {WindowConfig.context})")
    output = parser.add_argument_group("output")
    output.add_argument("--sample", type=int, default=0, metavar="N", help="print N tokens sampled from the best "
                        "n-gram and from each HMM")
    output.add_argument("--out", metavar="DIR", help="results.json, bpc.png and the window run (default: a new "
                        "runs/baselines-DATE-TIME)")
    output.add_argument("--json", action="store_true", help="print exactly one JSON object")
    output.add_argument("--seed", type=int, default=0, help="seed of the HMMs, the window model and sampling")
    options.add_threads(parser)


def run(args: argparse.Namespace) -> int:
    try:
        return report(args, getattr(args, "run", None), getattr(args, "data", None))
    except (DataError, CheckpointError, ValueError, ImportError) as error:
        print(f"rnnkit baselines: error: {error}", file=sys.stderr)
        return 2


def evaluate_run(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR --baselines [ngram,hmm,window]``: those baselines (all with no names) with
    their defaults, beside the lm run, into RUN_DIR/baselines."""
    defaults = argparse.ArgumentParser()
    add_arguments(defaults, with_data=False)
    settings = defaults.parse_args([])
    chosen = set(KINDS) if tuple(args.baselines) == ("all",) else set(args.baselines)
    if chosen - set(KINDS):
        raise ValueError(f"a language model's baselines are {', '.join(KINDS)}; got {', '.join(sorted(chosen))}")
    settings.skip = ",".join(kind for kind in KINDS if kind not in chosen)
    settings.json, settings.out = args.json, str(Path(args.run_dir) / "baselines")
    return report(settings, args.run_dir, None)


def evaluate_window(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR`` of a window run: its figures on the whole validation part."""
    result = window_lm.evaluate_run(args.run_dir)
    unit = "char" if result["tokenizer"] == "char" else "word"
    print(json.dumps(result) if args.json else
          f"loss {result['loss']:.4f} nats/{unit}   {result['bpc']:.4f} bits/{unit}   perplexity "
          f"{result['perplexity']:.2f}   ({result['tokens']:,} validation {unit}s predicted)")
    return 0


def report(args: argparse.Namespace, run_dir: str | None, data: str | None) -> int:
    """Train and evaluate every baseline the flags ask for, print the table, write the files."""
    skip = {name.strip() for name in args.skip.split(",") if name.strip()}
    if skip - set(KINDS):
        raise ValueError(f"--skip takes ngram, hmm and window, got {', '.join(sorted(skip))}")
    states = parse_states(args.states) if "hmm" not in skip else []
    if args.window_minutes <= 0:
        raise ValueError(f"--window-minutes must be positive, got {args.window_minutes}")
    out = Path(args.out) if args.out else runs.new_run_dir("baselines")
    corpus, split = _data(run_dir, data, getattr(args, "tokens", "char"), getattr(args, "val_fraction", 0.1))
    cache = runs.cache_dir(out)
    reader = window_lm.read_split(corpus, split, cache)
    if len(reader.val_tokens) < 2:
        raise DataError("the baselines are compared on validation text: give --val-fraction above 0")
    results = compare(reader, corpus, split, out, skip=skip, max_order=args.max_order, states=states,
                      hmm=HMMConfig(train_tokens=args.hmm_tokens, iterations=args.hmm_iterations, seed=args.seed),
                      window=WindowConfig(context=args.context),
                      window_train=TrainConfig(minutes=args.window_minutes, seed=args.seed,
                                               batch_size=window_lm.DEFAULT_BATCH),
                      sample=args.sample, seed=args.seed)
    if run_dir is not None:
        results.append(rnn_result(run_dir, reader.val_tokens, reader.tokenizer))
    out.mkdir(parents=True, exist_ok=True)
    unit = "char" if reader.tokenizer.kind == "char" else "word"
    record = {"data": corpus.path, "tokens": unit, "train_tokens": len(reader.train_tokens),
              "val_tokens": len(reader.val_tokens), "results": [r.to_json() for r in results]}
    (out / "results.json").write_text(json.dumps(record, indent=2, ensure_ascii=False))
    plot(results, out / "bpc.png", unit)
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        print(table(results, unit, len(reader.val_tokens)))
        for result in results:
            if result.sample is not None:
                print(f"\n--- sample from the {result.model} ---\n{result.sample}")
        print(f"\nwrote {out / 'results.json'} and {out / 'bpc.png'}", file=sys.stderr)
    return 0


def parse_states(text: str) -> list[int]:
    """``--states``: comma-separated state counts, each at least 1."""
    try:
        states = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--states takes whole numbers separated by commas, got {text!r}") from None
    if not states or min(states) < 1:
        raise ValueError(f"--states: an HMM needs at least 1 hidden state, got {text!r}")
    return states


def _data(run_dir: str | None, data: str | None, tokens: str,
          val_fraction: float) -> tuple[CorpusConfig, language_modeling.SplitConfig]:
    """The corpus and split: a run's (``run_dir``), else from the flags, read as `train lm` reads them."""
    if run_dir is None:
        settings = language_modeling.LanguageModelingTask.settings_from_record(
            {"corpus": {"path": data, "tokens": tokens}, "split": {"val_fraction": val_fraction}})
        return settings["corpus"], settings["split"]
    config = runs.read_config(run_dir)
    if config["task"] != "lm":
        raise CheckpointError(f"{run_dir} holds a {config['task']!r} run; the baselines compare with an lm run")
    settings = language_modeling.LanguageModelingTask.settings_from_record(config, derived=True)
    corpus = settings["corpus"]
    if data is not None and Path(data).expanduser().resolve() != Path(corpus.path or "").resolve():
        text = corpus.path or "the standard library"
        raise ValueError(f"--data {data} is not the text of the run in {run_dir} ({text}); give one of them")
    return corpus, settings["split"]


def compare(reader: language_modeling.LanguageModelingTask, corpus: CorpusConfig,
            split: language_modeling.SplitConfig, out: Path, skip: set[str], max_order: int, states: list[int],
            hmm: HMMConfig, window: WindowConfig, window_train: TrainConfig, sample: int = 0,
            seed: int = 0) -> list[Result]:
    """Every baseline not in ``skip``, trained on ``reader``'s training part, on its validation part."""
    train, val, tokenizer = reader.train_tokens, reader.val_tokens, reader.tokenizer
    results: list[Result] = []
    if "ngram" not in skip:
        results.append(ngram_result(train, val, len(tokenizer), max_order, sample, seed, tokenizer))
    for count in tqdm(states, desc="HMMs", file=sys.stderr, leave=False, disable=not states):
        results.append(hmm_result(train, val, len(tokenizer), replace(hmm, states=count), sample, tokenizer))
    if "window" not in skip:
        results.append(window_result(corpus, split, out / "window", window, window_train, reader.cache_dir))
    return results


def ngram_result(train: np.ndarray, val: np.ndarray, vocab_size: int, max_order: int, sample: int, seed: int,
                 tokenizer: Tokenizer) -> Result:
    """The Kneser-Ney model of the order (1 … max_order) with the lowest validation loss."""
    largest = max(1, int(math.log(KEY_LIMIT) / math.log(vocab_size))) if vocab_size > 1 else max_order
    max_order = min(max_order, largest)
    started = time.perf_counter()
    print(f"n-gram: counting orders 1 … {max_order} of {len(train):,} tokens", file=sys.stderr, flush=True)
    model = KneserNeyLM(np.asarray(train), vocab_size, max_order)
    seconds = time.perf_counter() - started
    losses = {}
    for order in range(1, max_order + 1):
        total, count = model.log_likelihood(np.asarray(val), order)
        losses[order] = -total / count
    best = min(losses, key=losses.get)
    text = None
    if sample:
        text = tokenizer.decode(model.sample(sample, best, generator=np.random.default_rng(seed)))
    return Result(f"n-gram (Kneser-Ney, order {best})", "ngram", model.size(best), losses[best], len(val) - 1,
                  seconds, note=f"order chosen on validation among 1–{max_order}", sample=text,
                  extra={"order": best, "losses_by_order": losses})


def hmm_result(train: np.ndarray, val: np.ndarray, vocab_size: int, config: HMMConfig, sample: int,
               tokenizer: Tokenizer) -> Result:
    """An HMM of ``config.states`` states, Baum–Welch on the last ``config.train_tokens`` training tokens."""
    started = time.perf_counter()
    print(f"HMM: {config.states} states, Baum–Welch on {min(config.train_tokens or len(train), len(train)):,} "
          f"tokens, at most {config.iterations} iterations", file=sys.stderr, flush=True)
    model = HiddenMarkovLM(np.asarray(train), vocab_size, config)
    seconds = time.perf_counter() - started
    total, count = model.log_likelihood(np.asarray(val))
    text = tokenizer.decode(model.sample(sample, config.seed)) if sample else None
    note = f"Baum–Welch: {model.iterations} iterations on the last {len(model.training):,} training tokens"
    return Result(f"HMM ({config.states} states)", "hmm", model.size(), -total / count, count, seconds,
                  states=config.states, note=note, sample=text, extra={"log2_states": math.log2(config.states)})


def window_result(corpus: CorpusConfig, split: language_modeling.SplitConfig, run_dir: Path, config: WindowConfig,
                  train_config: TrainConfig, cache: Path) -> Result:
    """The window model trained by the one trainer into ``run_dir``, on the whole validation part."""
    started = time.perf_counter()
    outcome = window_lm.train(run_dir, corpus, split, config, train_config, handle_signals=False, cache=cache)
    seconds = time.perf_counter() - started
    if outcome.status != "finished":
        raise ValueError(f"the window model's training {outcome.status}: {outcome.message}")
    figures = window_lm.evaluate_run(run_dir, cache)
    return Result(f"window model (last {config.context} tokens)", "window", figures["parameters"], figures["loss"],
                  figures["tokens"],
                  seconds, note=f"{outcome.step} steps; run directory {run_dir}")


def rnn_result(run_dir: str, val: np.ndarray, tokenizer: Tokenizer) -> Result:
    """The recurrent run's best model on the same validation tokens (read as `rnnkit eval` reads a
    text: 16 streams of chunks of 256)."""
    model, saved, config = language_modeling.load_run(run_dir)
    if saved.tokens != tokenizer.tokens:
        raise DataError(f"the text of the run in {run_dir} changed since it trained: its vocabulary differs")
    loss, count = language_modeling.evaluate_tokens(model, np.asarray(val), 16, 256, progress=True)
    size = sum(p.numel() for p in model.parameters())
    cell = config["model"].get("cell", "rnn")
    return Result(f"{cell.upper()} ({Path(run_dir).name})", "rnn", size, loss, count, float("nan"),
                  note="trained by rnnkit train lm")


def table(results: list[Result], unit: str, val_tokens: int) -> str:
    """The results as an aligned text table."""
    lines = [f"validation: {val_tokens:,} {unit}s (bits/{unit} over the last {val_tokens - 1:,})", "",
             f"{'model':<36} {'size':>11} {'bits/' + unit:>10} {'perplexity':>10} {'train s':>8}  note"]
    for r in results:
        seconds = "" if math.isnan(r.seconds) else f"{r.seconds:.1f}"
        lines.append(f"{r.model:<36} {r.size:>11,} {r.bits:>10.4f} {r.perplexity:>10.3f} {seconds:>8}  {r.note}")
    return "\n".join(lines)


def plot(results: list[Result], path: Path, unit: str) -> None:
    """bits/token against model size (log scale) for every model; the HMMs against log₂ N."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(figure)
    sizes, states = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    markers = {"ngram": "s", "hmm": "o", "window": "^", "rnn": "*"}
    for kind, marker in markers.items():
        chosen = [r for r in results if r.kind == kind]
        if chosen:
            sizes.plot([r.size for r in chosen], [r.bits for r in chosen], marker, label=kind, markersize=8)
            for r in chosen:
                sizes.annotate(r.model, (r.size, r.bits), fontsize=7, xytext=(4, 4), textcoords="offset points")
    sizes.set_xscale("log")
    sizes.set(xlabel="model size (parameters; stored n-grams for the n-gram model)", ylabel=f"bits/{unit}",
              title="validation bits against model size")
    sizes.legend()
    hmms = sorted((r for r in results if r.kind == "hmm"), key=lambda r: r.states)
    if hmms:
        states.plot([math.log2(r.states) for r in hmms], [r.bits for r in hmms], "o-", label="HMM")
    for r in results:
        if r.kind != "hmm":
            states.axhline(r.bits, linestyle="--", linewidth=0.8, color="grey")
            states.annotate(r.model, (0, r.bits), xycoords=("axes fraction", "data"), fontsize=7)
    states.set(xlabel="log₂ N (the bits of memory of an N-state HMM)", ylabel=f"bits/{unit}",
               title="HMM: bits against log₂ of its states")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


# --------------------------------------------------------------------------------------------------
# ``rnnkit train window``


def window_flags() -> dict[str, list[Flag]]:
    """The flags of ``rnnkit train window``: the lm task's data flags, the window model's, the trainer's."""
    from .train import lm_flags          # here: train imports this module for its TASKS table

    w = WindowConfig
    model = [
        Flag("context", "model", "context", "k, the tokens the model sees", int, w, metavar="K"),
        Flag("embedding-size", "model", "embedding_size", "embedding size per token", int, w, metavar="D"),
        Flag("hidden", "model", "hidden_size", "hidden units of the one tanh layer", int, w, metavar="H"),
    ]
    flags = train_flags(lm=False)
    flags["budget"][1] = dataclasses.replace(flags["budget"][1], default=language_modeling.DEFAULT_MINUTES)
    flags["optimisation"][0] = dataclasses.replace(flags["optimisation"][0], help="windows per step",
                                                   default=window_lm.DEFAULT_BATCH)
    return {"data": lm_flags()["data"], "model": model} | flags


WINDOW_EXAMPLES = """examples:
  rnnkit train window --data input.txt --context 16 --minutes 2 --out runs/window
      the last 16 characters → the next, on the same text and 90/10 split as `rnnkit train lm`
  rnnkit eval runs/window
      loss, bits per character and perplexity on the whole validation part
  rnnkit baselines lm --data input.txt
      the window model beside the n-gram and HMM models

exit status as for `rnnkit train lm`.
"""
