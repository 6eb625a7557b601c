"""Shared checks for the cell tests: a reference stack runner and the bptt contract against autograd.

``reference_forward`` runs a test file's own per-step reference equations over layers, directions
and per-sequence lengths, plainly (one sequence at a time), so a layer's output can be compared with
it. ``check_bptt_contract`` runs a cell's analytic derivative the way the bptt engine does (forward
t = 1 … T, backward t = T … 1, weight gradients once) and compares it with autograd through ``step``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from rnnkit.cells import Cell, Params

RefStep = Callable[[Tensor, tuple[Tensor, ...], dict[str, Tensor | None]], tuple[Tensor, ...]]


def layer_params(layer: torch.nn.Module, names: list[str], index: int, direction: int) -> dict[str, Tensor | None]:
    """One layer-direction's parameters by their cell names, read by the layer's public names."""
    suffix = f"_l{index}{'_reverse' if direction else ''}"
    return {name: getattr(layer, name + suffix, None) for name in names}


def reference_forward(
    layer: torch.nn.Module,
    ref_step: RefStep,
    names: list[str],
    x: Tensor,
    hx: tuple[Tensor, ...],
    lengths: Tensor,
) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Outputs (T, B, D·H) and final states (L·D, B, H) of a stack, one sequence at a time.

    Sequence b is ``x[:lengths[b], b]``; the backward direction reads it from its own last element.
    Outputs past a sequence's end are zero.
    """
    steps, batch = x.shape[:2]
    directions = 2 if layer.bidirectional else 1
    hidden = layer.hidden_size
    output = x.new_zeros(steps, batch, directions * hidden)
    finals = [[[None] * batch for _ in range(layer.num_layers * directions)] for _ in hx]
    for b in range(batch):
        length = int(lengths[b])
        layer_input = x[:length, b : b + 1]                                 # (length, 1, I)
        for index in range(layer.num_layers):
            halves = []
            for direction in range(directions):
                row = index * directions + direction
                params = layer_params(layer, names, index, direction)
                state = tuple(s[row, b : b + 1] for s in hx)
                sequence = layer_input.flip(0) if direction else layer_input
                hs = []
                for x_t in sequence:
                    state = ref_step(x_t, state, params)
                    hs.append(state[0])
                out = torch.stack(hs)
                halves.append(out.flip(0) if direction else out)
                for k, s in enumerate(state):
                    finals[k][row][b] = s[0]
            layer_input = torch.cat(halves, dim=-1)
        output[:length, b] = layer_input[:, 0]
    final = tuple(torch.stack([torch.stack(per_batch) for per_batch in per_row]) for per_row in finals)
    return output, final


def random_params(cell: Cell, bias: bool, generator: torch.Generator) -> Params:
    """Every parameter of ``cell`` random in float64 (biases None when ``bias`` is False), requiring grad."""
    params = Params()
    for name, shape in cell.parameter_shapes().items():
        if not bias and cell.is_bias(name):
            params[name] = None
        else:
            params[name] = (0.5 * torch.randn(shape, generator=generator, dtype=torch.float64)).requires_grad_()
    return params


def check_bptt_contract(cell: Cell, steps: int, bias: bool = True, batch: int = 3, seed: int = 0) -> None:
    """The cell's bptt_forward/bptt_backward/bptt_weight_grads over ``steps`` steps equal autograd.

    Loss: Σ_t ⟨g_t, h_t⟩ + ⟨ds_T, s_T⟩ with random g_t and ds_T, so every step receives ∂L/∂h_t both
    from its own output and from the future, as in the engine.
    """
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    hidden = cell.hidden_size
    p = random_params(cell, bias, generator)
    wx = rand(steps, batch, cell.gates * hidden).requires_grad_()
    state0 = tuple((0.5 * rand(batch, hidden)).requires_grad_() for _ in cell.state_names)
    g_out = rand(steps, batch, hidden)
    d_final = tuple(rand(batch, hidden) for _ in cell.state_names)

    # Reference: autograd through the readable step.
    state, outputs = state0, []
    for wx_t in wx.unbind(0):
        state = cell.step(wx_t, state, p)
        outputs.append(state[0])
    loss = (torch.stack(outputs) * g_out).sum() + sum((s * d).sum() for s, d in zip(state, d_final))
    used = {name: t for name, t in p.items() if t is not None}
    grads = torch.autograd.grad(loss, [wx, *state0, *used.values()], allow_unused=True)
    expected_dwx, expected_dstate0 = grads[0], grads[1 : 1 + len(state0)]
    expected_params = dict(zip(used, grads[1 + len(state0) :]))

    with torch.no_grad():
        # Forward t = 1 … T without a graph; each state must equal step's.
        state, states_prev, saved_all = state0, [], []
        for t, wx_t in enumerate(wx.unbind(0)):
            reference = cell.step(wx_t, state, p)
            # bptt_forward may write over its wx_t (the engine's, used for nothing else): a copy.
            new, saved = cell.bptt_forward(wx_t.clone(), state, p)
            for ours, theirs in zip(new, reference):
                torch.testing.assert_close(ours, theirs, msg=lambda m: f"bptt_forward state at t={t}: {m}")
            states_prev.append(state)
            saved_all.append(saved)
            state = new
        # Backward t = T … 1, carrying ∂L/∂s and adding each output's own gradient.
        d_state = d_final
        dwx_all, deltas_all = [None] * steps, [None] * steps
        for t in reversed(range(steps)):
            d_state = (d_state[0] + g_out[t], *d_state[1:])
            dwx_all[t], d_state, deltas_all[t] = cell.bptt_backward(d_state, saved_all[t], states_prev[t], p)
        weight_grads = cell.bptt_weight_grads(
            torch.stack(dwx_all),
            tuple(torch.stack(k) for k in zip(*deltas_all)),
            tuple(torch.stack(k) for k in zip(*states_prev)),
            tuple(torch.stack(k) for k in zip(*saved_all)),
            p,
        )

    torch.testing.assert_close(torch.stack(dwx_all), expected_dwx, msg=lambda m: f"∂L/∂wx: {m}")
    for name, ours, theirs in zip(cell.state_names, d_state, expected_dstate0):
        torch.testing.assert_close(ours, theirs, msg=lambda m: f"∂L/∂{name}_0: {m}")
    # Exactly the parameters step uses have gradients, and they agree.
    step_params = {name for name, grad in expected_params.items() if grad is not None}
    assert set(weight_grads) == step_params, f"weight grads for {sorted(weight_grads)}, step uses {sorted(step_params)}"
    for name in step_params:
        torch.testing.assert_close(weight_grads[name], expected_params[name], msg=lambda m: f"∂L/∂{name}: {m}")
