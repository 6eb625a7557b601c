"""``rnnkit train arith|xml|adding|copy``: the architecture comparison's synthetic tasks, one at a time."""

from __future__ import annotations

import dataclasses

from ..tasks import synthetic
from .flags import Flag, train_flags

# task → (data dataclass, [(flag, key, help, type)])
_DATA = {
    "arith": (synthetic.ArithData, [
        ("max-digits", "max_digits", "the most digits of an argument (the paper: 8)", int),
        ("max-distractors", "max_distractors", "the most random letters between two input characters", int),
        ("problems", "problems", "problems per sequence, read with no state reset between them (ours: the continual "
         "form, where an LSTM without forget gate fails)", int)]),
    "xml": (synthetic.XMLData, [
        ("num-tags", "num_tags", "elements per document", int),
        ("min-name-length", "min_name_length", "shortest tag name", int),
        ("max-name-length", "max_name_length", "longest tag name (the paper: 10)", int),
        ("close-probability", "close_probability", "chance of closing the innermost tag", float)]),
    "adding": (synthetic.AddingData, [("length", "length", "steps per sequence (the delay to bridge)", int)]),
    "copy": (synthetic.CopyData, [
        ("length", "length", "symbols to copy", int), ("delay", "delay", "blanks before the delimiter", int),
        ("alphabet-size", "alphabet_size", "distinct symbols", int)]),
}

SUMMARIES = {
    "arith": "Jozefowicz et al.'s Arith: read 3123-423=, write 2700. (whole-answer accuracy)",
    "xml": "Jozefowicz et al.'s XML: predict the closing tags of random nested tags (accuracy)",
    "adding": "the adding problem: the sum of two marked values after T steps (mean squared error)",
    "copy": "the copy problem: reproduce K symbols after a delay (accuracy on the copied symbols)",
}


def flags_for(task: str):
    data_class, rows = _DATA[task]

    def flags() -> dict[str, list[Flag]]:
        data = [Flag(name, "data", key, text, kind, data_class, metavar="N") for name, key, text, kind in rows]
        data += [Flag("val-size", "data", "val_size", "validation examples (one fixed set)", int, data_class,
                      metavar="N"),
                 Flag("data-seed", "data", "seed", "the generated data's seed", int, data_class)]
        m = synthetic.SyntheticModel
        model = [
            Flag("cell", "model", "cell", "recurrent cell, any of `rnnkit cells`", str, m),
            Flag("hidden", "model", "hidden_size", "hidden units per layer", int, m, metavar="H"),
            Flag("layers", "model", "num_layers", "stacked layers", int, m, metavar="L"),
            Flag("engine", "model", "engine", "engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
            Flag("forget-bias", "model", "forget_bias", "initial forget-gate bias (LSTM family)", float,
                 metavar="B"),
            Flag("init-scale", "model", "init_scale", "multiply the recurrent layer's initial weights", float, m,
                 metavar="S"),
            Flag("dropout", "model", "dropout", "dropout on the recurrent output", float, m, metavar="P"),
        ]
        groups = train_flags(lm=False)
        groups["budget"][0] = dataclasses.replace(groups["budget"][0], default=1000)
        return {"data": data, "model": model} | groups

    return flags


def entry(task: str) -> tuple:
    """The TASKS table entry of ``rnnkit train TASK``."""
    examples = (f"examples:\n  rnnkit train {task} --steps 2000 --cell gru --out runs/{task}\n"
                f"  rnnkit eval runs/{task}\n"
                f"  rnnkit compare --tasks {task} --cells lstm,gru --steps 500\n"
                f"      the same task for several cells, with a random search and seeds\n\n"
                f"exit status as for `rnnkit train lm`.\n")
    description = (f"Train a recurrent network on {SUMMARIES[task]}; training data is generated afresh for every "
                   f"batch, validation is one fixed set.")
    return SUMMARIES[task], flags_for(task), description, examples
