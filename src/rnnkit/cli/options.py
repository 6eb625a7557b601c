"""Options that every command running a model shares."""

from __future__ import annotations

import argparse

import torch


def positive_int(text: str) -> int:
    """argparse type: an integer ≥ 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def comma_choices(choices: tuple[str, ...]):
    """argparse type: a comma-separated, non-empty list of names, each one of ``choices``.

    Example:
        >>> comma_choices(("lstm", "gru"))("gru, lstm")
        ['gru', 'lstm']
    """
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [name for name in names if name not in choices]
        if unknown or not names:
            named = f"unknown {', '.join(map(repr, unknown))}" if unknown else "no names"
            raise argparse.ArgumentTypeError(f"{named} in {text!r}: choose from {', '.join(choices)}")
        return names
    return parse


def add_threads(parser: argparse._ActionsContainer) -> None:
    """``--threads N`` on a command's parser (or one of its groups): CPU threads for PyTorch's kernels."""
    parser.add_argument("--threads", type=positive_int, metavar="N",
                        help="CPU threads for PyTorch's kernels (default: PyTorch's, one per core; `rnnkit train` "
                             "fits it, every few seconds, to the cores other processes leave free); on a machine "
                             "shared with other work, 1 avoids stalls of threads waiting for each other")


def apply_threads(args: argparse.Namespace) -> None:
    """Set PyTorch's thread count from ``--threads``, if the command has it and it was given."""
    threads = getattr(args, "threads", None)
    if threads is not None:
        torch.set_num_threads(threads)
