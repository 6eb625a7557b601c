r"""Gate saturation of a trained language model: how often each σ gate is nearly shut or nearly open.

Karpathy, Johnson & Fei-Fei 2015, "Visualizing and Understanding Recurrent Networks", section 4.3
("Gate activation statistics"): a gate value below 0.1 is *left-saturated* (nearly shut), above 0.9
*right-saturated* (nearly open). For each unit j of a gate, over the T steps of a text,

    left_j  = #{t : gate_t[j] < 0.1} / T,        right_j = #{t : gate_t[j] > 0.9} / T,

and one scatter point (left_j, right_j) per unit shows the layer's gates at a glance: a forget gate
with units up in the top-left corner keeps those units' cells for long stretches (integrators); a unit
on the diagonal left + right = 1 is always saturated and acts as a switch.

Only the σ gates are counted, whose values lie in [0, 1]: i, f, o of the LSTM family (``lstm``,
``peephole_lstm``, ``ln_lstm``, the ablations of Greff et al. and ``cifg_lstm``, each with the gates it
keeps) and r, z of the GRU family (``gru``, ``gru_cho``, ``ln_gru``, ``mut1``–``mut3``). The candidates
(the LSTM's g, the GRU's n, MUT's h̃) are tanh, in [−1, 1], and excluded. A cell without gates (the Elman
family: ``rnn_tanh``, ``rnn_relu``, ``irnn``) has nothing to measure.

:func:`gate_saturation` reads the first N tokens of a text with the run's tokenizer, embeds them with
the model's own embedding (eval mode: no dropout of any kind) and runs the model's recurrent layer over
them as one sequence (B = 1) from a zero state, through :meth:`rnnkit.Recurrent.trace` with ``gates=True``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..models import LanguageModel
from ..tasks.language_modeling import load_run

SIGMOID_GATES = ("i", "f", "o", "r", "z")   # gate names whose values are σ(·); any other gate is left out
LEFT = 0.1                                  # a gate value below this is left-saturated (nearly shut)
RIGHT = 0.9                                 # a gate value above this is right-saturated (nearly open)
DEFAULT_LENGTH = 5000                       # tokens of the text read by default


@dataclass(frozen=True)
class GateSaturationConfig:
    run_dir: str                 # a language-model run directory written by `rnnkit train lm`
    text: str                    # the text file to read
    length: int = DEFAULT_LENGTH  # read at most this many tokens (characters or words) of it
    encoding: str = "utf-8"      # the text file's encoding

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"length must be at least 1 token, got {self.length}")


@dataclass
class GateFractions:
    layer: int                   # 0-based layer of the stack
    gate: str                    # the cell's name for the gate (i, f, o, r or z)
    left: list[float]            # per unit (D·H of them), the fraction of steps with the gate < LEFT
    right: list[float]           # per unit, the fraction of steps with the gate > RIGHT

    @property
    def mean_left(self) -> float:
        return sum(self.left) / len(self.left)

    @property
    def mean_right(self) -> float:
        return sum(self.right) / len(self.right)


@dataclass
class GateSaturation:
    config: GateSaturationConfig
    cell: str                    # the run's cell name
    steps: int                   # T, the tokens read and run through the layer
    gates: list[GateFractions] = field(default_factory=list)   # layer by layer, in the cell's gate order

    def to_json(self) -> str:
        """Everything: the configuration, the thresholds, and per layer and gate the units' fractions and means."""
        record = {
            "config": asdict(self.config), "cell": self.cell, "steps": self.steps, "left_below": LEFT,
            "right_above": RIGHT,
            "gates": [asdict(gate) | {"mean_left": gate.mean_left, "mean_right": gate.mean_right}
                      for gate in self.gates],
        }
        return json.dumps(record, indent=2) + "\n"

    def to_csv(self) -> str:
        """One row per layer, gate and unit: layer, gate, unit, left, right."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["layer", "gate", "unit", "left", "right"])
        for gate in self.gates:
            for unit, (left, right) in enumerate(zip(gate.left, gate.right)):
                writer.writerow([gate.layer, gate.gate, unit, repr(left), repr(right)])
        return buffer.getvalue()


def gate_saturation(config: GateSaturationConfig) -> GateSaturation:
    """Per layer, σ gate and unit, the fractions of the text's steps where the gate is < 0.1 and > 0.9.

    Raises :class:`rnnkit.training.CheckpointError` for a directory that is not a language-model run,
    and ``ValueError`` for a cell without σ gates or a text of fewer than 2 tokens.

    Example:
        >>> result = gate_saturation(GateSaturationConfig("runs/demo", "input.txt", length=2000))  # doctest: +SKIP
        >>> [(gate.layer, gate.gate) for gate in result.gates]                                   # doctest: +SKIP
        [(0, 'i'), (0, 'f'), (0, 'o')]
    """
    model, tokenizer, _ = load_run(config.run_dir)
    layer = model.rnn
    if not layer.cells[0].supports_gates:
        raise ValueError(f"cell {layer.cell_name!r} of run {config.run_dir} has no gates to saturate "
                         f"(the Elman family has none); train an LSTM- or GRU-family cell")
    text = _read_text(config)
    tokens = torch.as_tensor(tokenizer.encode(text)[: config.length]).unsqueeze(1)        # (T, 1)
    if tokens.size(0) < 2:
        raise ValueError(f"{config.text} holds {tokens.size(0)} {tokenizer.kind} token(s); "
                         f"gate saturation needs at least 2")
    with torch.no_grad():
        trace = layer.trace(_embed(model, tokens), gates=True)
    gates = [_fractions(index, name, values)
             for index, layer_gates in enumerate(trace.gates)
             for name, values in layer_gates.items() if name in SIGMOID_GATES]
    if not gates:
        raise ValueError(f"cell {layer.cell_name!r} reports no σ gates ({', '.join(SIGMOID_GATES)}) to saturate")
    return GateSaturation(config, layer.cell_name, tokens.size(0), gates)


def _read_text(config: GateSaturationConfig) -> str:
    path = Path(config.text)
    if not path.is_file():
        raise ValueError(f"text file {path} does not exist" if not path.exists() else f"{path} is not a file")
    return path.read_text(encoding=config.encoding)


def _embed(model: LanguageModel, tokens: Tensor) -> Tensor:
    """The recurrent layer's input (T, B, E): the model's own embedding path, as ``hidden`` in eval mode."""
    return model.embedding(tokens) if model.embedding is not None else model._embed(tokens)


def _fractions(layer: int, name: str, values: Tensor) -> GateFractions:
    """Per unit, the fraction of the T steps of ``values`` (T, 1, D·H) below LEFT and above RIGHT."""
    steps = values.size(0)
    values = values.squeeze(1)                                                            # (T, D·H)
    left = ((values < LEFT).sum(0).double() / steps).tolist()
    right = ((values > RIGHT).sum(0).double() / steps).tolist()
    return GateFractions(layer, name, left, right)


def plot_gate_saturation(result: GateSaturation, png_path: str | Path) -> None:
    """One scatter panel per layer (rows) and σ gate (columns): a point (left, right) per unit (Agg)."""
    # Imported here: matplotlib takes half a second to import, and only the picture needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    layers = sorted({gate.layer for gate in result.gates})
    names = list(dict.fromkeys(gate.gate for gate in result.gates))
    figure = Figure(figsize=(2.3 * len(names) + 0.4, 2.3 * len(layers) + 0.6), dpi=90)
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(layers), len(names), squeeze=False, sharex=True, sharey=True)
    for gate in result.gates:
        column = names.index(gate.gate)
        axes = grid[layers.index(gate.layer)][column]
        # Units on the line left + right = 1 are saturated at every step.
        axes.plot([0, 1], [1, 0], color="0.75", linewidth=0.8)
        axes.scatter(gate.left, gate.right, s=9, alpha=0.6, color=f"C{column % 10}", edgecolors="none")
        axes.set_xlim(-0.02, 1.02)
        axes.set_ylim(-0.02, 1.02)
        axes.set_aspect("equal")
        axes.set_title(f"layer {gate.layer}, {gate.gate} gate", fontsize=9)      # 0-based, as in the CSV
        axes.tick_params(labelsize=7)
        axes.grid(alpha=0.3)
    for axes in grid[-1]:
        axes.set_xlabel(f"fraction < {LEFT:g}", fontsize=8)
    for row in grid:
        row[0].set_ylabel(f"fraction > {RIGHT:g}", fontsize=8)
    figure.suptitle(f"Gate saturation of {result.cell} over {result.steps} tokens", fontsize=10)
    figure.tight_layout()
    figure.savefig(png_path)
