"""The flags of ``rnnkit train TASK``: each fills one ``[section] key`` of a task's settings.

A task's command-line module gives ``flags() -> {group title: [Flag, ...]}``, usually its own data
and model groups followed by :func:`train_flags` (the trainer's ``[train]`` section); the defaults
that ``--help`` shows are read from the settings dataclasses, so they are written once.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from typing import Any

from ..training import TrainConfig

_UNSET = object()
RESERVED_DESTS = {"task", "command", "func", "flags", "argv"}   # attributes the parser sets itself          # Flag.default: no default of its own


@dataclass(frozen=True)
class Flag:
    """A command-line flag that sets ``[section] key``; its default is read from ``owner``."""

    name: str
    section: str
    key: str
    help: str
    type: Any = None
    owner: type | None = None            # the dataclass whose field default --help shows
    default: Any = _UNSET                # a default that no dataclass field holds (documented here)
    choices: tuple | None = None
    metavar: str | None = None
    switch: bool = False                 # --name / --no-name

    def default_text(self) -> str:
        value = dataclasses.MISSING if self.default is _UNSET else self.default
        if value is dataclasses.MISSING and self.owner is not None:
            value = {f.name: f.default for f in dataclasses.fields(self.owner)}.get(self.key, dataclasses.MISSING)
        if value is dataclasses.MISSING:
            return ""
        if value is None:
            return ""
        return f" (default {value:g})" if isinstance(value, float) else f" (default {value})"

    def add_to(self, group: argparse._ActionsContainer) -> None:
        text = self.help + self.default_text()
        if self.switch:
            group.add_argument(f"--{self.name}", dest=self.dest, action=argparse.BooleanOptionalAction, default=None,
                               help=text)
            return
        group.add_argument(f"--{self.name}", dest=self.dest, type=self.type, choices=self.choices,
                           metavar=self.metavar, default=None, help=text)

    @property
    def dest(self) -> str:
        """The argparse attribute: the flag's name, unless the command line itself uses that name
        (``--task`` of ``rnnkit train TASK``, whose subcommand is ``args.task``)."""
        name = self.name.replace("-", "_")
        return f"{name}_flag" if name in RESERVED_DESTS else name


def train_flags(lm: bool) -> dict[str, list[Flag]]:
    """The trainer's own flags ([train] section), by group; ``lm`` adds truncated BPTT's."""
    t = TrainConfig
    budget = [
        Flag("steps", "train", "steps", "budget: N optimizer steps in total (default: a time budget, --minutes)",
             int, t, metavar="N"),
        Flag("minutes", "train", "minutes", "budget: M minutes of training", float, t, metavar="M"),
    ]
    optimisation = [
        Flag("batch", "train", "batch_size", "sequences per step, over all processes" if not lm else
             "parallel streams, over all processes", int, t, metavar="B"),
        *([Flag("seq-len", "train", "seq_len", "truncated BPTT length", int, t, metavar="K")] if lm else []),
        Flag("optimizer", "train", "optimizer", "adamw or sgd", str, t, choices=("adamw", "sgd")),
        Flag("lr", "train", "lr", "peak learning rate", float, t),
        Flag("weight-decay", "train", "weight_decay", "AdamW's decoupled weight decay, SGD's L2", float, t,
             metavar="W"),
        Flag("momentum", "train", "momentum", "SGD momentum", float, t, metavar="M"),
        Flag("nesterov", "train", "nesterov", "Nesterov momentum (SGD)", owner=t, switch=True),
        Flag("schedule", "train", "schedule", "after the warm-up: cosine decay or constant", str, t,
             choices=("cosine", "constant")),
        Flag("warmup", "train", "warmup_steps", "warm-up steps", int, t, metavar="N"),
        Flag("final-lr-ratio", "train", "final_lr_ratio", "final learning rate of the cosine as a fraction of "
             "--lr", float, t, metavar="R"),
        Flag("clip", "train", "clip", "gradient clipping threshold, 0 for none", float, t, metavar="C"),
        Flag("clip-mode", "train", "clip_mode", "clip by the global norm or each value", str, t,
             choices=("norm", "value")),
    ]
    validation = [
        Flag("val-every", "train", "val_every", "validate every N steps (default: ten times per run)", int, t,
             metavar="N"),
        *([Flag("val-tokens", "train", "val_tokens", "tokens of the validation text read per validation, 0 for "
                "all", int, t, metavar="N")] if lm else []),
        Flag("patience", "train", "patience", "stop after N validations without improvement, 0 never", int, t,
             metavar="N"),
        Flag("save-every", "train", "save_every", "save the trainer state every S seconds", float, t, metavar="S"),
        Flag("log-every", "train", "log_every", "a metrics row every N steps", int, t, metavar="N"),
    ]
    run = [
        Flag("seed", "train", "seed", "random seed", int, t),
        Flag("device", "train", "device", "auto (a GPU when there is one), cpu, cuda or cuda:N", str, t),
        Flag("precision", "train", "precision", "fp32, or autocast in bf16 or fp16 (fp16: GPU only)", str, t,
             choices=("fp32", "bf16", "fp16")),
    ]
    return {"budget": budget, "optimisation": optimisation, "validation and logging": validation, "run": run}


def dropout_flags(owner: type, token: str = "token") -> list[Flag]:
    """The regularisers a model with an embedding and locked dropout takes (``owner`` holds the defaults):
    dropout between layers, whole-``token`` embedding dropout, locked dropout on inputs and outputs."""
    return [
        Flag("dropout", "model", "dropout", "dropout between stacked layers", float, owner, metavar="P"),
        Flag("embedding-dropout", "model", "embedding_dropout", f"drop whole {token}s from the embedding", float,
             owner, metavar="P"),
        Flag("input-dropout", "model", "input_dropout", "locked dropout on the inputs", float, owner, metavar="P"),
        Flag("output-dropout", "model", "output_dropout", "locked dropout on the recurrent outputs", float, owner,
             metavar="P"),
    ]
