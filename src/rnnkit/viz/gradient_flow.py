r"""Gradient flow through time: ‖∂L_T/∂h_t‖ for t = T … 1, the notes' vanishing/exploding argument.

For the Elman RNN h_t = tanh(W_hh h_{t-1} + W_xh x_t + b), the gradient of a loss on the last step
flows back one step at a time as

    ∂L_T/∂h_{t-1} = W_hhᵀ diag(tanh′(a_t)) ∂L_T/∂h_t,

so over T − t steps it is multiplied by T − t such factors (their product is the Jacobian ∂h_T/∂h_t, whose
spectral norm is reported too): its norm shrinks geometrically when the
largest singular value σ_max of W_hh is below 1 (tanh′ ≤ 1 only shrinks it further) and can grow
geometrically above 1. Only the largest singular value is bounded by σ_max: a random matrix with
σ_max = 2 has a spectral radius near 1 and need not explode; ``init="orthogonal"`` with ``scale_whh=s``
makes every singular value s, and the gradient then grows (s > 1) or shrinks (s < 1) by s per step
where tanh is near-linear. The LSTM's cell path c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t is additive: ∂c_t/∂c_{t-1}
contains diag(f_t), which a forget gate near 1 keeps near the identity, so ∂L_T/∂c_t stays flat.

:func:`gradient_flow` measures this on a freshly initialised single-layer :class:`rnnkit.Recurrent` of
each requested cell, by autograd: the layer's own cell and parameters run the sequence one step at a
time, as the autograd engine does, and each state h_t (and c_t) is kept with ``retain_grad``.
Everything runs in float64, so a gradient that vanishes to 1e-30 is still measured rather than lost
to round-off. Input size equals hidden size
(the MUT cells need it). The loss is L_T = Σ_b h_T^{(b)} · u, a fixed random unit projection u of the
last hidden state, summed over the batch. Sequences are independent, so ∂L_T/∂h_t^{(b)} is sequence
b's own gradient; the figure reported for step t is the mean over the batch of its norm,
(1/B) Σ_b ‖∂L_T/∂h_t^{(b)}‖₂.

:func:`run_gradient_flow` measures the same on a *trained* language model (a run directory): its real
loss L_T, the cross-entropy of the token after step T, is backpropagated through the whole stack over
B windows of T tokens of a text, embedded by the model itself (eval mode: no dropout), and ‖∂L_T/∂h_t‖
is reported for every layer, the layers stepped together one time step at a time as the autograd
engine does. What training did to the gradient's reach is then visible next to a fresh
initialisation of the same cell.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from ..cells import cell_names, get_cell_class
from ..layers import Recurrent

DEFAULT_CELLS = ("rnn_tanh", "irnn", "lstm", "gru")


@dataclass(frozen=True)
class GradientFlowConfig:
    cells: tuple[str, ...] = DEFAULT_CELLS  # registered cell names, one curve each
    steps: int = 50                      # sequence length T
    hidden_size: int = 32                # H, also the input size I
    batch_size: int = 8                  # B sequences; the figures average over them
    init: str | None = None              # the layers' init: None (each cell's default), "orthogonal" or "identity"
    scale_whh: float | None = None       # rescale each H×H block of weight_hh_l0 to this σ_max; None keeps the init
    forget_bias: float | None = None     # initial forget-gate bias (LSTM family; other cells ignore it)
    input_scale: float = 1.0             # x_t ~ N(0, input_scale²); small keeps tanh near-linear
    seed: int = 0                        # seeds the weights, the inputs and the projection u

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        if not self.cells:
            raise ValueError("cells must name at least one cell")
        unknown = [name for name in self.cells if name not in cell_names()]
        if unknown:
            raise ValueError(f"unknown cell {unknown[0]!r} in cells; choose from {', '.join(cell_names())}")
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2 (a gradient needs somewhere to flow), got {self.steps}")
        if self.hidden_size < 1:
            raise ValueError(f"hidden_size must be at least 1, got {self.hidden_size}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.init not in (None, "orthogonal", "identity"):
            raise ValueError(f"init must be None, 'orthogonal' or 'identity', got {self.init!r}")
        if self.scale_whh is not None and not self.scale_whh > 0:
            raise ValueError(f"scale_whh must be positive, got {self.scale_whh}")
        if not self.input_scale > 0:
            raise ValueError(f"input_scale must be positive, got {self.input_scale}")


@dataclass
class CellGradients:
    cell: str
    # σ_max of each H×H block of weight_hh_l0, in the cell's packed order (one for Elman; i, f, g, o for the
    # LSTM; r, z, n for the GRU), after any rescaling.
    sigma_max: list[float]
    grad_h: list[float]                  # mean ‖∂L_T/∂h_t‖ for t = 1 … T (index t − 1)
    grad_c: list[float] | None = None    # mean ‖∂L_T/∂c_t‖ for t = 1 … T, for cells with a cell state
    # mean over the batch of the spectral norm ‖∂h_T/∂h_t‖₂ of the Jacobian product, t = 1 … T (fresh cells)
    jacobian: list[float] | None = None

    @property
    def ratio(self) -> float:
        """‖∂L_T/∂h_1‖ / ‖∂L_T/∂h_T‖: below 1 the gradient vanished going back, above 1 it exploded."""
        return self.grad_h[0] / self.grad_h[-1]


@dataclass
class GradientFlow:
    config: GradientFlowConfig
    cells: list[CellGradients] = field(default_factory=list)
    source: str | None = None            # the trained run measured, or None for fresh initialisations

    def to_json(self) -> str:
        """Everything: the configuration, and per cell its singular values and both curves."""
        record = {"config": asdict(self.config) | {"cells": list(self.config.cells)}, "source": self.source,
                  "cells": [asdict(cell) for cell in self.cells]}
        return json.dumps(record, indent=2) + "\n"

    def to_csv(self) -> str:
        """The curves, one row per cell and step: cell, t, steps_back (T − t), grad_h, grad_c (empty if none)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["cell", "t", "steps_back", "grad_h", "grad_c", "jacobian"])
        steps = self.config.steps
        for cell in self.cells:
            for t in range(steps, 0, -1):
                grad_c = "" if cell.grad_c is None else repr(cell.grad_c[t - 1])
                jacobian = "" if cell.jacobian is None else repr(cell.jacobian[t - 1])
                writer.writerow([cell.cell, t, steps - t, repr(cell.grad_h[t - 1]), grad_c, jacobian])
        return buffer.getvalue()


def gradient_flow(config: GradientFlowConfig = GradientFlowConfig()) -> GradientFlow:
    """Measure ‖∂L_T/∂h_t‖ (and ‖∂L_T/∂c_t‖) for t = T … 1 for every cell of ``config``.

    Example:
        >>> result = gradient_flow(GradientFlowConfig(cells=("rnn_tanh", "lstm"), steps=10, hidden_size=8))
        >>> [cell.cell for cell in result.cells], len(result.cells[0].grad_h)
        (['rnn_tanh', 'lstm'], 10)
    """
    size = config.hidden_size
    generator = torch.Generator().manual_seed(config.seed)
    x = config.input_scale * torch.randn(config.steps, config.batch_size, size, generator=generator,
                                         dtype=torch.float64)                               # (T, B, I)
    u = torch.randn(size, generator=generator, dtype=torch.float64)
    u /= u.norm()                                                                           # (H,)
    return GradientFlow(config, [_measure(name, x, u, config) for name in config.cells])


def _measure(name: str, x: Tensor, u: Tensor, config: GradientFlowConfig) -> CellGradients:
    """One cell: build, rescale, then backpropagate L_T through the step-by-step copy."""
    cell_class = get_cell_class(name)
    forget_bias = config.forget_bias if cell_class.forget_gate is not None else None
    size = config.hidden_size
    # The same seed for every cell: the figures do not depend on which other cells were asked for.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        layer = Recurrent(name, size, size, init=config.init, forget_bias=forget_bias, dtype=torch.float64)
    weight_hh = layer.weight_hh_l0
    with torch.no_grad():
        if config.scale_whh is not None:
            for block in weight_hh.split(size, dim=0):
                block.mul_(config.scale_whh / torch.linalg.matrix_norm(block, ord=2))
        sigma_max = [torch.linalg.matrix_norm(block, ord=2).item() for block in weight_hh.split(size, dim=0)]

    # The autograd engine's loop, with every state kept: each h_t (and c_t) is the very tensor the next
    # step reads and the loss is computed from, so its .grad is the whole ∂L_T/∂h_t. (RecurrentCell's
    # returned state is a stacked copy, which h_T is not computed from: its c_T would get no gradient.)
    cell, p = layer.cells[0], layer.cell_params(layer=0, direction=0)
    wx = cell.project(x, p)                                                                 # (T, B, G·H)
    state = cell.initial_state(x.size(1), x)
    states: list[tuple[Tensor, ...]] = []
    for wx_t in wx.unbind(0):
        state = cell.step(wx_t, state, p)                                                   # each (B, H)
        for tensor in state:
            tensor.retain_grad()
        states.append(state)
    loss = (states[-1][0] @ u).sum()                                                        # L_T = Σ_b h_T^{(b)} · u
    loss.backward(retain_graph=True)

    def mean_norms(k: int) -> list[float]:
        return [s[k].grad.norm(dim=-1).mean().item() for s in states]                    # t = 1 … T

    grad_c = mean_norms(1) if len(states[0]) > 1 else None
    return CellGradients(cell=name, sigma_max=sigma_max, grad_h=mean_norms(0), grad_c=grad_c,
                         jacobian=_jacobian_norms(states))


def _jacobian_norms(states: list[tuple[Tensor, ...]]) -> list[float]:
    """Mean over the batch of ‖∂h_T/∂h_t‖₂ for t = 1 … T, row k of every Jacobian from one backward pass
    of Σ_b h_T^{(b)}[k] (the sequences are independent, so each one's rows are its own)."""
    h = [state[0] for state in states]
    rows = [torch.autograd.grad(h[-1][:, k].sum(), h, retain_graph=True, allow_unused=True)
            for k in range(h[-1].size(1))]
    norms = []
    for t, h_t in enumerate(h):
        jacobian = torch.stack([torch.zeros_like(h_t) if row[t] is None else row[t] for row in rows], dim=1)
        norms.append(torch.linalg.matrix_norm(jacobian, ord=2).mean().item())              # (B, H, H) → mean
    return norms


@dataclass(frozen=True)
class RunGradientFlowConfig:
    run_dir: str                         # a language-model run directory (`rnnkit train lm`)
    text: str                            # the text whose windows are read
    steps: int = 50                      # window length T
    batch_size: int = 8                  # B windows, evenly spaced over the text
    encoding: str = "utf-8"

    def __post_init__(self) -> None:
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2 (a gradient needs somewhere to flow), got {self.steps}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")


def run_gradient_flow(config: RunGradientFlowConfig) -> GradientFlow:
    """‖∂L_T/∂h_t^l‖ (and ‖∂L_T/∂c_t^l‖) of a trained language model, one curve per layer l.

    The result's ``cells`` holds one entry per layer, named ``"CELL layer l"``, with the σ_max of that
    layer's W_hh blocks; its ``config`` is a :class:`GradientFlowConfig` recording the cell, T, H and B.
    Raises :class:`rnnkit.training.CheckpointError` for a directory that is not a language-model run
    and ``ValueError`` for a bidirectional model or a text shorter than T + 1 tokens.
    """
    from ..tasks.language_modeling import load_run      # the task layer: imported only for trained runs

    model, tokenizer, _ = load_run(config.run_dir)
    layer = model.rnn
    if layer.num_directions != 1:
        raise ValueError(f"{config.run_dir} has a bidirectional layer; L_T at step T depends on every step of "
                         f"the backward direction, so the flow back through time is not defined")
    path = Path(config.text)
    if not path.is_file():
        raise ValueError(f"text file {path} does not exist" if not path.exists() else f"{path} is not a file")
    ids = tokenizer.encode(path.read_text(encoding=config.encoding))
    span = config.steps + 1                               # T inputs and the target after them
    if len(ids) < span:
        raise ValueError(f"{path} holds {len(ids)} {tokenizer.kind} token(s); T = {config.steps} steps need "
                         f"at least {span}")
    starts = torch.linspace(0, len(ids) - span, config.batch_size).long().tolist()
    device = next(model.parameters()).device
    windows = torch.as_tensor([list(ids[s: s + span]) for s in starts], device=device).T          # (T + 1, B)
    model = model.double()
    with torch.enable_grad():
        x = model.embedding(windows[:-1]) if model.embedding is not None else model._embed(windows[:-1])
        params = [layer.cell_params(layer=l, direction=0) for l in range(layer.num_layers)]
        states = [cell.initial_state(x.size(1), x) for cell in layer.cells]
        kept: list[list[tuple[Tensor, ...]]] = [[] for _ in layer.cells]
        for x_t in x.unbind(0):
            below = x_t
            for l, cell in enumerate(layer.cells):
                states[l] = cell.step(cell.project(below, params[l]), states[l], params[l])
                for tensor in states[l]:
                    tensor.retain_grad()
                kept[l].append(states[l])
                output = states[l][0]
                below = output + below if layer.residual and l > 0 and output.shape == below.shape else output
        hidden = model.projection(below) if model.projection is not None else below
        logits = model.logits(hidden.unsqueeze(0))[0]                                        # (B, V)
        loss = torch.nn.functional.cross_entropy(logits, windows[-1], reduction="sum")
        loss.backward()
    size = layer.hidden_size
    curves = []
    for l, states_l in enumerate(kept):
        weight_hh = params[l].weight_hh
        sigma_max = [torch.linalg.matrix_norm(block, ord=2).item() for block in weight_hh.detach().split(size, 0)]
        norms = [[s[k].grad.norm(dim=-1).mean().item() for s in states_l] for k in range(len(states_l[0]))]
        curves.append(CellGradients(f"{layer.cell_name} layer {l}", sigma_max, norms[0],
                                    norms[1] if len(norms) > 1 else None))
    summary = GradientFlowConfig(cells=(layer.cell_name,), steps=config.steps, hidden_size=size,
                                 batch_size=config.batch_size)
    return GradientFlow(summary, curves, source=str(config.run_dir))


def plot_gradient_flow(result: GradientFlow, png_path: str | Path) -> None:
    """Every cell's ‖∂L_T/∂h_t‖ (solid) and ‖∂L_T/∂c_t‖ (dashed) against steps back from T, log scale (Agg)."""
    # Imported here: matplotlib takes half a second to import, and only the picture needs it.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    steps = result.config.steps
    back = list(range(steps))                                                               # T − t
    for index, cell in enumerate(result.cells):
        color = f"C{index % 10}"
        sigma = max(cell.sigma_max)
        label = f"{cell.cell}  (σ_max(W_hh) {sigma:.2f})"
        axes.plot(back, cell.grad_h[::-1], "-", color=color, label=f"{label}: ‖∂L/∂h_t‖")
        if cell.grad_c is not None:
            axes.plot(back, cell.grad_c[::-1], "--", color=color, label=f"{cell.cell}: ‖∂L/∂c_t‖")
        if cell.jacobian is not None:
            axes.plot(back, cell.jacobian[::-1], ":", color=color, linewidth=1, label=f"{cell.cell}: ‖∂h_T/∂h_t‖₂")
    axes.set_yscale("log")
    axes.set_xlabel("steps back from T  (T − t)")
    axes.set_ylabel("mean ‖∂L_T / ∂state_t‖")
    config = result.config
    settings = [f"T={steps}", f"H={config.hidden_size}"]
    settings += [f"init {config.init}"] if config.init else []
    settings += [f"σ_max(W_hh) set to {config.scale_whh:g}"] if config.scale_whh is not None else []
    settings += [f"forget bias {config.forget_bias:g}"] if config.forget_bias is not None else []
    where = f" in {Path(result.source).name}" if result.source else ""
    axes.set_title(f"Gradient flow back through time{where} ({', '.join(settings)})", fontsize=10)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(png_path)
