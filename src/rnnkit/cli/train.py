"""``rnnkit train TASK``: train any task through the one trainer, from flags or a TOML config.

Every flag fills one ``[section] key`` of the task's settings (the dataclasses hold every default;
``--help`` reads them from there). ``--config run.toml`` reads the same sections as config.json,
flags override it, and ``--print-config`` writes the effective settings as TOML without training.
``--nproc N`` starts N data-parallel processes through torchrun; the command also runs unchanged
under ``torchrun … -m rnnkit train …``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..data import CorpusConfig, DataError
from ..models import LanguageModelConfig
from ..settings import SettingsError, dump_toml, load_toml
from ..tasks import get_task_class, language_modeling, majority, runs
from ..training import CheckpointError, TrainConfig, distributed
from ..training.precision import resolve_device
from . import baselines, caption, classify, forecast, options, synthetic, tag, translate
from .flags import Flag, train_flags

EXIT_DIVERGED = 3


def lm_flags() -> dict[str, list[Flag]]:
    c, m = CorpusConfig, LanguageModelConfig
    s = language_modeling.SplitConfig
    data = [
        Flag("data", "corpus", "path", "a text file or a directory of text files (default: the running Python's "
             "standard library, *.py)", str, metavar="PATH"),
        Flag("val-data", "split", "val_data", "a separate validation text (default: the last --val-fraction of "
             "--data)", str, metavar="PATH"),
        Flag("tokens", "corpus", "tokens", "characters or whitespace-separated words with <eos> per line", str, c,
             choices=("char", "word")),
        Flag("encoding", "corpus", "encoding", "text encoding of the files", str, c),
        Flag("errors", "corpus", "errors", "undecodable bytes: an error (strict, the default for your files) or "
             "replaced/ignored (default for the standard library)", str, choices=("strict", "replace", "ignore")),
        Flag("min-count", "corpus", "min_count", "tokens seen fewer than N times become <unk>", int, c, metavar="N"),
        Flag("max-vocab", "corpus", "max_vocab", "keep the N most frequent tokens (default: all)", int, metavar="N"),
        Flag("val-fraction", "split", "val_fraction", "last fraction of the text held out for validation, 0 for "
             "none", float, s, metavar="F"),
    ]
    model = [
        Flag("cell", "model", "cell", "recurrent cell, any of `rnnkit cells`", str, m),
        Flag("hidden", "model", "hidden_size", "hidden units per layer", int, m, metavar="H"),
        Flag("layers", "model", "num_layers", "stacked layers", int, m, metavar="L"),
        Flag("embedding-size", "model", "embedding_size", "embedding size (default: --hidden)", int, metavar="E"),
        Flag("engine", "model", "engine", "engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
        Flag("forget-bias", "model", "forget_bias", "initial forget-gate bias of the LSTM family (default: the "
             "cell's own, 0 for PyTorch's init)", float, metavar="B"),
        Flag("tie-weights", "model", "tie_weights", "share embedding and output matrices (a projection is added "
             "when --embedding-size differs from --hidden; with an adaptive softmax the word vectors come from its "
             "head and cluster matrices)", owner=m, switch=True),
        Flag("adaptive-softmax", "model", "adaptive", "adaptive softmax for large vocabularies (auto: on from "
             f"{language_modeling.ADAPTIVE_FROM} tokens)", str, default="auto", choices=("auto", "on", "off")),
    ]
    regularisation = [
        Flag("dropout", "model", "dropout", "dropout between stacked layers", float, m, metavar="P"),
        Flag("input-dropout", "model", "input_dropout", "locked dropout on the embeddings", float, m, metavar="P"),
        Flag("output-dropout", "model", "output_dropout", "locked dropout on the last layer's output", float, m,
             metavar="P"),
        Flag("weight-drop", "model", "weight_drop", "DropConnect on the recurrent matrices W_hh", float, m,
             metavar="P"),
        Flag("embedding-dropout", "model", "embedding_dropout", "drop whole words from the embedding", float, m,
             metavar="P"),
    ]
    groups = {"data": data, "model": model, "regularisation (Merity et al. 2017; all off by default)": regularisation}
    flags = train_flags(lm=True)
    flags["budget"][1] = dataclasses.replace(flags["budget"][1], default=language_modeling.DEFAULT_MINUTES)
    return groups | flags


def majority_flags() -> dict[str, list[Flag]]:
    d, m = majority.MajorityData, majority.ClassifierConfig
    data = [
        Flag("size", "data", "size", "training sequences", int, d, metavar="N"),
        Flag("val-size", "data", "val_size", "validation sequences", int, d, metavar="N"),
        Flag("min-length", "data", "min_length", "shortest sequence", int, d, metavar="T"),
        Flag("max-length", "data", "max_length", "longest sequence", int, d, metavar="T"),
        Flag("data-seed", "data", "seed", "the generated data's seed", int, d),
    ]
    model = [
        Flag("cell", "model", "cell", "recurrent cell, any of `rnnkit cells`", str, m),
        Flag("hidden", "model", "hidden_size", "hidden units per layer", int, m, metavar="H"),
        Flag("layers", "model", "num_layers", "stacked layers", int, m, metavar="L"),
        Flag("engine", "model", "engine", "engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
    ]
    flags = train_flags(lm=False)
    flags["budget"][0] = dataclasses.replace(flags["budget"][0], default=300)
    return {"data": data, "model": model} | flags


LM_EXAMPLES = """examples:
  rnnkit train lm --minutes 3 --out runs/demo
      a character LSTM on the Python standard library's source for 3 minutes
  rnnkit train lm --data input.txt --steps 5000 --hidden 512 --layers 2 --dropout 0.2
      your own text file (or a directory of text files) for 5000 steps
  rnnkit train lm --tokens word --data wikitext-2/train.txt --val-data wikitext-2/valid.txt \\
      --hidden 400 --tie-weights --input-dropout 0.4 --output-dropout 0.4 --weight-drop 0.3 --minutes 30
      a word-level model with the AWD-LSTM regularisers (an adaptive softmax for large vocabularies)
  rnnkit train lm --cell gru --engine autograd --steps 300 --optimizer sgd --lr 1 --schedule constant
      any cell of `rnnkit cells`, on any engine, with plain SGD
  rnnkit train lm --data input.txt --steps 2000 --print-config > run.toml
  rnnkit train lm --config run.toml --lr 1e-3 --out runs/b
      every setting in a TOML file (flags override it)
  rnnkit train lm --nproc 2 --steps 2000 --out runs/ddp
      two data-parallel processes on this machine (torchrun; see the README for several machines)
  rnnkit train lm --resume runs/demo --steps 8000
      continue an interrupted (Ctrl-C) or finished run up to a total of 8000 steps

exit status: 0 finished, 130 interrupted by Ctrl-C (saved), 143 by SIGTERM (saved),
3 the loss became NaN or infinite (the last good checkpoint is kept), 2 bad arguments or data.
"""

MAJORITY_EXAMPLES = """examples:
  rnnkit train majority --steps 300 --out runs/majority
      a GRU learns whether a random 0/1 sequence holds more ones (accuracy selects the best checkpoint)
  rnnkit train majority --cell rnn_tanh --max-length 41 --patience 3
      a harder version for a plain RNN, stopping after 3 validations without improvement
  rnnkit eval runs/majority
      accuracy and loss on its validation sequences

exit status as for `rnnkit train lm`.
"""

TASKS = {
    "lm": ("a language model on characters or words", lm_flags,
           "Train a recurrent language model with truncated BPTT on a text file, a directory of text files, or (by "
           "default) the Python standard library's source.", LM_EXAMPLES),
    "majority": ("classify generated 0/1 sequences by their majority (a quick many-to-one task)", majority_flags,
                 "Train a recurrent many-to-one classifier on generated binary sequences: is there more 1 than 0?",
                 MAJORITY_EXAMPLES),
    "forecast": forecast.SUMMARY,
    "classify": (classify.SUMMARY, classify.flags, classify.DESCRIPTION, classify.EXAMPLES),
    "tag": (tag.TAG_SUMMARY, tag.tag_flags, tag.TAG_DESCRIPTION, tag.TAG_EXAMPLES),
    "translate": (translate.SUMMARY, translate.flags, translate.DESCRIPTION, translate.EXAMPLES),
    "caption": (caption.SUMMARY, caption.flags, caption.DESCRIPTION, caption.EXAMPLES),
    "window": ("a fixed-window feed-forward language model (the last k tokens → the next)", baselines.window_flags,
               "Train the fixed-window feed-forward language model of the notes on the text and split of "
               "`rnnkit train lm`.", baselines.WINDOW_EXAMPLES),
    **{name: synthetic.entry(name) for name in ("arith", "xml", "adding", "copy")},
}
RUN_FILES = ("Every run writes into its run directory: config.json, the task's artefacts, model.safetensors (best), "
             "trainer.safetensors (resume), metrics.jsonl and curves.png. Ctrl-C saves; --resume continues exactly.")
# With --resume only these may be given: the rest comes from the run's config.json.
RESUME_FLAGS = {"steps", "minutes", "device", "path"}


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help=f"train a model (tasks: {', '.join(TASKS)})", description="Train a model for a task.",
        epilog="examples:\n  rnnkit train lm --minutes 3\n  rnnkit train majority --steps 300\n  rnnkit train lm --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    tasks = train.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, (summary, flags, description, examples) in TASKS.items():
        parser = tasks.add_parser(name, help=summary, description=f"{description} {RUN_FILES}", epilog=examples,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        groups = flags()
        for title, members in groups.items():
            group = parser.add_argument_group(title)
            exclusive = group.add_mutually_exclusive_group() if title == "budget" else group
            for flag in members:
                flag.add_to(exclusive)
        _add_run_options(parser, name)
        parser.set_defaults(func=run, flags=[f for members in groups.values() for f in members])


def _add_run_options(parser: argparse.ArgumentParser, task: str) -> None:
    run = parser.add_argument_group("run directory, configuration and processes")
    run.add_argument("--out", metavar="RUN_DIR", help=f"run directory (default: a new runs/{task}-DATE-TIME)")
    run.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR (settings from its "
                     "config.json; only --steps/--minutes, --device and, for a language model's text or a forecast's "
                     "file that moved, --data may change)")
    run.add_argument("--config", metavar="TOML", help="read the settings from a TOML file (the sections of "
                     "config.json); flags override it")
    run.add_argument("--print-config", action="store_true", help="print the effective settings as TOML and exit")
    run.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files to DIR (losses, "
                     "metrics, learning rate, per-layer gradient norms and histograms)")
    run.add_argument("--nproc", type=options.positive_int, metavar="N", help="train with N data-parallel "
                     "processes on this machine (launches torchrun; each takes 1/N of every batch)")
    run.add_argument("--cache-dir", metavar="DIR", help=f"where encoded data is cached (default: ${runs.CACHE_ENV}, "
                     "else .cache beside the run directory, else ~/.cache/rnnkit)")
    options.add_threads(run)


def run(args: argparse.Namespace) -> int:
    task_class = get_task_class(args.task)
    command = f"rnnkit train {args.task}"
    try:
        if args.nproc is not None and args.nproc > 1 and "WORLD_SIZE" not in os.environ:
            if args.resume is None:      # what every process would refuse, said once, before launching
                _check_shardable(_settings(args, task_class)["train"], args.nproc)
            return _launch(args)
        if args.resume is not None:
            return _finish(command, _resume(args, task_class), Path(args.resume))
        settings = _settings(args, task_class)
        if args.print_config:
            sys.stdout.write(dump_toml({"task": args.task} | task_class.settings_to_record(settings)))
            return 0
        run_dir = Path(args.out) if args.out else _new_run_dir(args.task, settings)
        print(f"run directory: {run_dir}", file=sys.stderr, flush=True)
        result = runs.train(args.task, settings, run_dir, tensorboard=args.tensorboard, cache=args.cache_dir,
                            adapt_threads=args.threads is None)
        return _finish(command, result, run_dir)
    except (DataError, CheckpointError, ValueError) as error:
        print(f"{command}: error: {error}", file=sys.stderr)
        return 2


def _new_run_dir(task: str, settings: dict[str, Any]) -> Path:
    """A fresh runs/TASK-DATE-TIME; under torchrun, rank 0's name for every rank."""
    if int(os.environ.get("WORLD_SIZE", 1)) == 1:
        return runs.new_run_dir(task)
    distributed.setup(resolve_device(settings["train"].device))
    return Path(distributed.gather(str(runs.new_run_dir(task)))[0])


def _given(args: argparse.Namespace) -> list[Flag]:
    return [flag for flag in args.flags if getattr(args, flag.dest) is not None]


def _settings(args: argparse.Namespace, task_class: type) -> dict[str, Any]:
    """The settings from --config (if any) overridden by the flags given, checked."""
    record: dict[str, Any] = {}
    if args.config is not None:
        record = load_toml(args.config)
        named = record.get("task", args.task)
        if named != args.task:
            raise SettingsError(f"{args.config} configures task {named!r}, not {args.task!r}")
    given = _given(args)
    for flag in given:
        section = record.setdefault(flag.section, {})
        if not isinstance(section, dict):
            raise SettingsError(f"[{flag.section}] must be a table of settings, got {type(section).__name__}")
        if flag.key in ("steps", "minutes"):             # a flag's budget replaces the file's
            section.pop("steps", None)
            section.pop("minutes", None)
        section[flag.key] = getattr(args, flag.dest)
    try:
        return task_class.settings_from_record(record)
    except SettingsError as error:
        raise SettingsError(_flag_names(str(error), given)) from None


def _flag_names(message: str, given: list[Flag]) -> str:
    """``[section] key`` in an error turned into the flag that set it."""
    for flag in given:
        message = message.replace(f"[{flag.section}] {flag.key}", f"--{flag.name}")
    return message


def _resume(args: argparse.Namespace, task_class: type):
    refused = [f"--{flag.name}" for flag in _given(args) if flag.key not in RESUME_FLAGS]
    refused += ["--out"] if args.out else []
    refused += ["--config"] if args.config else []
    if refused:
        raise ValueError(f"--resume takes its settings from {Path(args.resume) / runs.CONFIG_FILE}; only --steps or "
                         f"--minutes (and --device; --data for a language model's text or a forecast's file that "
                         f"moved) may be given, not "
                         f"{' '.join(refused)}")
    run_dir = Path(args.resume)
    budget = None
    if args.steps is not None or args.minutes is not None:
        budget = TrainConfig(steps=args.steps, minutes=args.minutes)
    print(f"run directory: {run_dir}", file=sys.stderr, flush=True)
    moved = None
    data_flag = next((flag for flag in args.flags if flag.name == "data"), None)
    if getattr(args, "data", None) is not None and data_flag is not None:
        # The task's own data setting (a language model's [corpus] path, a forecast's [data] path).
        moved = {data_flag.section: {data_flag.key: str(Path(args.data).expanduser().resolve())}}
    return runs.train(args.task, None, run_dir, resume=True, budget=budget, tensorboard=args.tensorboard,
                      cache=args.cache_dir, device=args.device, moved=moved, adapt_threads=args.threads is None)


def _finish(command: str, result, run_dir: Path) -> int:
    if result.status == "interrupted":
        print(f"{command}: {result.message}", file=sys.stderr)
        return 128 + result.signal
    if result.status == "diverged":
        print(f"{command}: error: {result.message}", file=sys.stderr)
        return EXIT_DIVERGED
    if result.message:
        print(f"{command}: {result.message}", file=sys.stderr)
    best = "" if result.best_value is None else f", best validation {result.best_metric} {result.best_value:.4f}"
    follow = f"sample with: rnnkit sample {run_dir}" if command.endswith(" lm") else f"evaluate with: rnnkit eval {run_dir}"
    print(f"finished at step {result.step}{best}; {follow}", file=sys.stderr)
    return 0


def _check_shardable(train: TrainConfig, processes: int) -> None:
    if train.batch_size % processes:
        raise ValueError(f"--batch {train.batch_size} must be divisible by --nproc {processes}: each process "
                         f"takes an equal share of every batch")


def _launch(args: argparse.Namespace) -> int:
    """Run this same command under torchrun with ``--nproc`` processes on this machine."""
    argv = list(args.argv)
    index = argv.index("--nproc") if "--nproc" in argv else next(i for i, a in enumerate(argv) if a.startswith("--nproc="))
    del argv[index: index + (1 if argv[index].startswith("--nproc=") else 2)]
    if args.out is None and args.resume is None and not args.print_config:
        out = runs.new_run_dir(args.task)
        argv += ["--out", str(out)]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.nproc}",
               "-m", "rnnkit.cli.main", *argv]
    return subprocess.run(command).returncode
