"""The bptt engine: a forward loop without a graph and the cells' hand-derived backward through time.

For one layer and direction, :class:`Recurrence` is a ``torch.autograd.Function`` whose input is
``wx = cell.project(x)`` (T, B, G·H), computed outside it under autograd so that the projection's
gradient stays one GEMM done by autograd, plus the initial state and the cell's parameters::

    forward   s_t, saved_t = cell.bptt_forward(wx_t, s_{t-1})        t = 1 … T, no graph
              kept: S[k] = s_0 … s_T (T+1, B, H) per state tensor, saved_t stacked into (T, B, …)
              output h_1 … h_T is a copy of S[0][1:], h_n (c_n) the view S[k][T]
    backward  dwx_t, ds_{t-1}, deltas_t = cell.bptt_backward(ds_t, saved_t, s_{t-1})   t = T … 1
              ds_t = ∂L/∂s_t, from the output h_t, from step t+1, and at t = T from h_n (c_n)
    weights   cell.bptt_weight_grads(dwx, deltas, S[:-1], saved): large GEMMs over all T·B rows

A saved tensor that *is* one of the new state tensors (Elman's h_t, the LSTM's c_t) is not stored
twice: it is read from the state buffer. One that *is* wx_t (the LSTM and GRU families write their
gates over wx_t in place) is kept in wx itself, which becomes its buffer: the gates cost neither a
copy per step nor a second (T, B, G·H) block. In a backward that frees the graph (no
``retain_graph``), step t's saved tensors are dead once step t is done, so ∂L/∂wx_t is written over
the gates kept in wx, and, for a cell whose weight gradients read no saved tensor, each delta over a
saved block of its shape: the backward allocates no (T, B, G·H) block of its own.

Padded steps (``lengths``) carry state and gradient through unchanged; their rows get a zero ∂L/∂s
before the cell's backward, so they add nothing to dwx or the weight gradients (the cell's backward
is linear in ∂L/∂s). With no gradient to compute (under ``torch.no_grad()`` or when nothing requires
one), a plain loop of ``bptt_forward`` keeps no buffers.

``engine="bptt-recompute"`` (:class:`RecomputingRecurrence`) trades time for memory, as activation
checkpointing does (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"), but without
re-running the sequential loop: its forward keeps only the states S (and the layer input x) and
drops the cell's saved tensors and wx. Its backward first rebuilds them for all steps at once,

    wx = cell.project(x)                                   one GEMM over all T·B rows (under autograd)
    saved = cell.bptt_forward(wx, S[:-1])[1]               the T steps as T·B independent rows

which is possible because every step's saved tensors depend only on (wx_t, s_{t-1}), both known
once the states are kept; the recurrent product W_hh h_{t-1} becomes one large GEMM instead of T
small ones. Then it runs the same backward loop. Kept between forward and backward: the states
(LSTM: h, c; GRU: h) instead of states, gates and wx.

Under ``torch.autocast`` (on the input's device type, for an input it would cast: not float64) a
direction runs in autocast's dtype throughout, as PyTorch's fused kernels do: the input, the
initial state and the parameters are cast once per call, under autograd, and the projection, both
loops and the weight gradients run in that dtype with autocast itself off, forward and backward.
Autocast's choice per operation would otherwise mix dtypes in the cells' in-place products
(``wx.addmm_(h_prev, W_hhᵀ)`` with wx in bf16 and W_hh in float32), and on CUDA would run some
of their operations (sums, layer norms) in float32. Autograd takes each gradient back through its cast: float32 master
weights get float32 gradients. The output and the final state are in the autocast dtype.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import partial, wraps

import torch
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable

from ..cells import Cell, Params, State
from .sequences import padding_mask, run_directions

Names = tuple[tuple[str, bool], ...]


def _autocast_dtype(x: Tensor) -> torch.dtype | None:
    """The dtype autocast computes in on ``x``'s device type, or None: autocast is off there, or
    ``x`` is not a tensor it casts (it leaves float64 alone)."""
    device_type = x.device.type
    if not (torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type)):
        return None
    if not x.is_floating_point() or x.dtype == torch.float64:
        return None
    return torch.get_autocast_dtype(device_type)


def _without_autocast(device_type: str) -> torch.autocast | nullcontext:
    """A context with autocast off on ``device_type``; nothing to do where it is off already."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def _autocast_off(backward: Callable[..., tuple[Tensor | None, ...]]) -> Callable[..., tuple[Tensor | None, ...]]:
    """Run a Function's backward with autocast off on its device, as its forward ran (module doc).

    A backward called inside an autocast region (on CPU it runs in the caller's thread) would
    otherwise recast what the loops compute in their one dtype.
    """

    @wraps(backward)
    def run(ctx: FunctionCtx, *grads: Tensor | None) -> tuple[Tensor | None, ...]:
        with _without_autocast(ctx.device_type):
            return backward(ctx, *grads)

    return run


class Recurrence(torch.autograd.Function):
    """One layer and direction of the recurrence, with the cell's analytic backward.

    ``apply(cell, names, mask, num_states, wx, *states, *weights)`` → ``(output, *final_state)``:
    ``names`` lists the cell's parameters (absent biases as ``None`` entries are left out of
    ``weights`` and reappear as ``None`` in the cell's :class:`Params`), ``mask`` is the (T, B, 1)
    padding mask or ``None``.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, cell: Cell, names: Names, mask: Tensor | None, num_states: int, wx: Tensor, *tensors: Tensor
    ) -> tuple[Tensor, ...]:
        """The forward loop t = 1 … T without a graph, keeping what the backward needs."""
        states, weights = tensors[:num_states], tensors[num_states:]
        buffers, own, aliases = _forward_loop(cell, wx, states, _params(names, weights), mask, keep_saved=True)
        ctx.set_materialize_grads(False)
        ctx.cell, ctx.names, ctx.num_states, ctx.aliases = cell, names, num_states, aliases
        ctx.device_type = wx.device.type
        ctx.wx_shape = wx.shape
        ctx.num_own = len(own)
        ctx.wx_own = next((k for k, buffer in enumerate(own) if buffer is wx), None)   # saved kept in wx
        ctx.save_for_backward(mask, *buffers, *own, *weights)
        # wx may now hold saved tensors written over it. It is not marked dirty: it is the engine's
        # own (run_direction made it, for this call only, and drops it), and often a view, which
        # mark_dirty refuses beside several outputs. Its version counter still moves, so a
        # projection whose backward needs its own output fails loudly instead of silently.
        return _outputs(buffers, mask)

    @staticmethod
    @once_differentiable
    @_autocast_off
    def backward(ctx: FunctionCtx, grad_output: Tensor | None, *grad_final: Tensor | None) -> tuple[Tensor | None, ...]:
        """The backward loop t = T … 1, then the weight gradients once."""
        cell, num_states = ctx.cell, ctx.num_states
        mask, *rest = ctx.saved_tensors
        buffers, own = rest[:num_states], rest[num_states : num_states + ctx.num_own]
        weights = rest[num_states + ctx.num_own :]
        p = _params(ctx.names, weights)
        own_iter = iter(own)
        saved = [buffers[a][1:] if a is not None else next(own_iter) for a in ctx.aliases]
        # Saved tensors kept in wx are dead once the loop has passed their step, unless the graph is
        # kept for another backward: then ∂L/∂wx is written over them instead of into a new block.
        # The same holds of every saved tensor for a cell whose weight gradients read none of them:
        # its deltas may go over those of their shape.
        kept = _graph_kept()
        reuse = own[ctx.wx_own] if ctx.wx_own is not None and not kept else None
        spare = [] if kept or cell.bptt_weight_grads_read_saved else [b for b in own if b is not reuse]
        dwx, d_state, deltas = _backward_loop(
            cell, p, mask, buffers, saved, ctx.wx_shape, grad_output, grad_final, dwx_out=reuse, spare=spare
        )
        weight_needs = ctx.needs_input_grad[5 + num_states :]
        grad_weights = _recurrent_weight_grads(cell, p, ctx.names, weight_needs, dwx, deltas, buffers, saved)
        state_needs = ctx.needs_input_grad[5 : 5 + num_states]
        grad_states = [d if need else None for d, need in zip(d_state, state_needs)]
        return (None, None, None, None, dwx, *grad_states, *grad_weights)


class RecomputingRecurrence(torch.autograd.Function):
    """:class:`Recurrence` that keeps only the states and rebuilds the rest in one batch (module doc).

    ``apply(cell, names, mask, num_states, x, *states, *weights)``: it takes the layer input ``x``
    (T, B, I), not ``wx``, because it recomputes the projection in its backward.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx, cell: Cell, names: Names, mask: Tensor | None, num_states: int, x: Tensor, *tensors: Tensor
    ) -> tuple[Tensor, ...]:
        """The projection and the forward loop without a graph, keeping x and the states only."""
        states, weights = tensors[:num_states], tensors[num_states:]
        p = _params(names, weights)
        buffers, _, _ = _forward_loop(cell, _writable(cell.project(x, p), x), states, p, mask, keep_saved=False)
        ctx.set_materialize_grads(False)
        ctx.cell, ctx.names, ctx.num_states = cell, names, num_states
        ctx.device_type = x.device.type
        ctx.save_for_backward(mask, x, *buffers, *weights)
        return _outputs(buffers, mask)

    @staticmethod
    @once_differentiable
    @_autocast_off
    def backward(ctx: FunctionCtx, grad_output: Tensor | None, *grad_final: Tensor | None) -> tuple[Tensor | None, ...]:
        """Rebuild wx and every step's saved tensors at once, then the usual backward loop."""
        cell, names, num_states = ctx.cell, ctx.names, ctx.num_states
        mask, x, *rest = ctx.saved_tensors
        buffers, weights = rest[:num_states], rest[num_states:]
        x_needs = ctx.needs_input_grad[4]
        state_needs = ctx.needs_input_grad[5 : 5 + num_states]
        weight_needs = ctx.needs_input_grad[5 + num_states :]
        # The projection again, this time under autograd, so that its gradient (one GEMM per
        # parameter it uses, whatever the cell's project does) comes from autograd as in `bptt`.
        with torch.enable_grad():
            x_leaf = x.detach().requires_grad_(x_needs)
            leaves = [w.detach().requires_grad_(need) for w, need in zip(weights, weight_needs)]
            wx = cell.project(x_leaf, _params(names, leaves))
        p = _params(names, weights)
        steps, batch = x.shape[:2]
        state_prev = tuple(buffer[:-1].flatten(0, 1) for buffer in buffers)      # (T·B, H) each
        wx_rows = _writable(wx.detach(), x).flatten(0, 1)                  # (T·B, G·H)
        rows = cell.bptt_forward(wx_rows, state_prev, p)[1]                 # the new states: dropped at once
        for tensor in rows:
            if tensor.dim() == 0 or tensor.size(0) != steps * batch:
                raise RuntimeError(
                    f"engine='bptt-recompute' needs cell {cell.name!r}'s bptt_forward to save only "
                    f"per-sequence tensors (first dimension the batch), got one of shape {tuple(tensor.shape)}; "
                    f"use engine='bptt'"
                )
        saved = [tensor.unflatten(0, (steps, batch)) for tensor in rows]
        # The rebuilt saved tensors live for this backward only: one kept in wx takes ∂L/∂wx too.
        reuse = next((tensor for tensor, row in zip(saved, rows) if row is wx_rows), None)
        spare = [] if cell.bptt_weight_grads_read_saved else [t for t in saved if t is not reuse]
        dwx, d_state, deltas = _backward_loop(
            cell, p, mask, buffers, saved, wx.shape, grad_output, grad_final, dwx_out=reuse, spare=spare
        )
        grad_weights = _recurrent_weight_grads(cell, p, names, weight_needs, dwx, deltas, buffers, saved)
        grad_x = None
        targets = [leaf for leaf in (x_leaf, *leaves) if leaf.requires_grad]
        if targets:
            projected = dict(zip(map(id, targets), torch.autograd.grad(wx, targets, dwx, allow_unused=True)))
            grad_x = projected.get(id(x_leaf))
            for index, leaf in enumerate(leaves):
                extra = projected.get(id(leaf))
                if extra is not None:
                    grad_weights[index] = extra if grad_weights[index] is None else grad_weights[index] + extra
        grad_states = [d if need else None for d, need in zip(d_state, state_needs)]
        return (None, None, None, None, grad_x, *grad_states, *grad_weights)


def _forward_loop(
    cell: Cell, wx: Tensor, states: State, p: Params, mask: Tensor | None, keep_saved: bool
) -> tuple[list[Tensor], list[Tensor], list[int | None]]:
    """Run t = 1 … T: the state buffers S, and (``keep_saved``) the cell's saved tensors stacked.

    Returns ``(buffers, own, aliases)``: ``own`` the (T, B, …) buffers of the saved tensors that are
    not state tensors, ``aliases`` for each saved tensor the index of the state tensor it is, or None.
    """
    steps = wx.size(0)
    # S[k] = s_0 … s_T of state tensor k, (T+1, B, H).
    buffers = [wx.new_empty(steps + 1, *s.shape) for s in states]
    for buffer, s in zip(buffers, states):
        buffer[0].copy_(s)
    saved_buffers: list[Tensor | None] = []    # (T, B, …) per saved tensor; None: read from S
    aliases: list[int | None] = []             # which state tensor a saved tensor is, if any
    # Per-step views made once (unbind), not indexed in the loop: the loop is Python, and at small
    # sizes its per-call overhead is what costs.
    state_steps = list(zip(*(buffer.unbind(0) for buffer in buffers)))    # T+1 tuples of (B, H)
    masks = mask.unbind(0) if mask is not None else ()
    saved_steps: list[tuple[Tensor, ...]] = []
    for t, wx_t in enumerate(wx.unbind(0)):
        new, saved = cell.bptt_forward(wx_t, state_steps[t], p)
        if t == 0 and keep_saved:
            aliases = [_alias(tensor, new) for tensor in saved]
            # A saved tensor that is wx_t itself (written over in place) keeps wx as its buffer.
            saved_buffers = [
                None if alias is not None else wx if tensor is wx_t else tensor.new_empty(steps, *tensor.shape)
                for tensor, alias in zip(saved, aliases)
            ]
            own_steps = [buffer.unbind(0) for buffer in saved_buffers if buffer is not None]
            saved_steps = list(zip(*own_steps)) if own_steps else [()] * steps
        for out, s, s_prev in zip(state_steps[t + 1], new, state_steps[t]):
            if mask is None:
                out.copy_(s)
            else:
                # Past a sequence's end its state is carried through unchanged.
                torch.where(masks[t], s, s_prev, out=out)
        if keep_saved:
            for out, tensor in zip(saved_steps[t], (s for s, a in zip(saved, aliases) if a is None)):
                if tensor is not wx_t:                     # wx_t is already in its place
                    out.copy_(tensor)
    return buffers, [buffer for buffer in saved_buffers if buffer is not None], aliases


def _outputs(buffers: list[Tensor], mask: Tensor | None) -> tuple[Tensor, ...]:
    """The output sequence and the final state tensors from the state buffers.

    The output is a copy, not a view of the saved buffer: users may modify it in place, as they may
    torch.nn.LSTM's, without touching what the backward reads.
    """
    output = buffers[0][1:]                                                 # (T, B, H)
    output = output.clone() if mask is None else output.masked_fill(~mask, 0.0)
    return (output, *(buffer[-1] for buffer in buffers))


def _backward_loop(
    cell: Cell,
    p: Params,
    mask: Tensor | None,
    buffers: list[Tensor],
    saved: list[Tensor],
    wx_shape: torch.Size,
    grad_output: Tensor | None,
    grad_final: tuple[Tensor | None, ...],
    dwx_out: Tensor | None = None,
    spare: Sequence[Tensor] = (),
) -> tuple[Tensor, list[Tensor], list[Tensor]]:
    """t = T … 1 with the cell's derivative: ∂L/∂wx (T, B, G·H), ∂L/∂s_0, and the stacked deltas.

    ``dwx_out``: a (T, B, G·H) saved tensor whose step t is read by nothing after step t's
    derivative; ∂L/∂wx_t is then written over it there, instead of into a new block. ``spare``:
    saved tensors of that kind that a delta of the same shape and dtype may take likewise.
    """
    steps = wx_shape[0]
    like = buffers[0]
    spare = list(spare)                                                    # _take removes what it hands out
    keep = None if mask is None else mask.to(like.dtype)                   # (T, B, 1): 1 inside, 0 padding
    if grad_output is not None and keep is not None:
        grad_output = grad_output * keep                                   # padded outputs are constants
    # ds = ∂L/∂s_t, starting from what reached h_n (c_n).
    d_state = [g if g is not None else b.new_zeros(b.shape[1:]) for g, b in zip(grad_final, buffers)]
    dwx = like.new_empty(wx_shape) if dwx_out is None else dwx_out        # (T, B, G·H)
    dwx_steps = dwx.unbind(0)
    state_steps = list(zip(*(buffer.unbind(0) for buffer in buffers)))
    saved_steps = list(zip(*(tensor.unbind(0) for tensor in saved))) if saved else [()] * steps
    grad_steps = grad_output.unbind(0) if grad_output is not None else ()
    keep_steps = keep.unbind(0) if keep is not None else ()
    drop_steps = (1 - keep).unbind(0) if keep is not None else ()
    delta_buffers: list[Tensor] = []
    for t in range(steps - 1, -1, -1):
        if grad_output is not None:
            d_state[0] = d_state[0] + grad_steps[t]
        d_in = d_state if keep is None else [d * keep_steps[t] for d in d_state]
        dwx_t, d_prev, deltas = cell.bptt_backward(tuple(d_in), saved_steps[t], state_steps[t], p)
        dwx_steps[t].copy_(dwx_t)
        if t == steps - 1:
            delta_buffers = [_take(spare, delta, steps) for delta in deltas]
        for buffer, delta in zip(delta_buffers, deltas):
            buffer[t].copy_(delta)
        if keep is None:
            d_state = list(d_prev)
        else:
            # Padded rows hand their gradient to the step before unchanged.
            d_state = [torch.addcmul(dp, d, drop_steps[t]) for dp, d in zip(d_prev, d_state)]
    return dwx, d_state, delta_buffers


def _take(spare: list[Tensor], delta: Tensor, steps: int) -> Tensor:
    """A (T, …) buffer for ``delta``'s steps: a spare saved tensor of that shape (removed from
    ``spare``), or a new one."""
    shape = (steps, *delta.shape)
    for index, tensor in enumerate(spare):
        if tensor.shape == shape and tensor.dtype == delta.dtype and tensor.device == delta.device:
            return spare.pop(index)
    return delta.new_empty(shape)


def _recurrent_weight_grads(
    cell: Cell,
    p: Params,
    names: Names,
    weight_needs: tuple[bool, ...],
    dwx: Tensor,
    deltas: list[Tensor],
    buffers: list[Tensor],
    saved: list[Tensor],
) -> list[Tensor | None]:
    """The gradients of the present weights, in order, from the cell's big GEMMs (None: not needed)."""
    if not any(weight_needs):
        return [None] * len(weight_needs)
    state_prev = tuple(buffer[:-1] for buffer in buffers)                  # s_0 … s_{T-1}
    grads = cell.bptt_weight_grads(dwx, tuple(deltas), state_prev, tuple(saved), p)
    present = [name for name, is_present in names if is_present]
    return [grads.get(name) if need else None for name, need in zip(present, weight_needs)]


def _graph_kept() -> bool:
    """Whether the backward now running keeps the graph for another one (``retain_graph=True``).

    PyTorch's own compiled autograd functions ask the engine the same question (through this
    private binding) to reuse saved memory in their backward; without the binding, or outside a
    backward, the answer is the safe one: kept.
    """
    kept = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    if kept is None:
        return True
    try:
        return bool(kept())
    except RuntimeError:
        return True


def _params(names: Names, weights: tuple[Tensor, ...] | list[Tensor]) -> Params:
    """The cell's Params from its names (with presence flags) and the present tensors in order."""
    tensors = iter(weights)
    return Params({name: next(tensors) if present else None for name, present in names})


def _alias(tensor: Tensor, new_state: State) -> int | None:
    """The index of the new state tensor that ``tensor`` is, or None."""
    return next((k for k, s in enumerate(new_state) if s is tensor), None)


def run_direction(
    cell: Cell, x: Tensor, p: Params, state: State, lengths: Tensor | None, recompute: bool = False
) -> tuple[Tensor, State]:
    """Run one direction over ``x`` (T, B, I) from ``state``; returns outputs (T, B, H) and final state.

    Under autocast, in its dtype throughout, with the casts under autograd (module doc).
    """
    dtype = _autocast_dtype(x)
    if dtype is None:
        return _run_direction(cell, x, p, state, lengths, recompute)
    with torch.autocast(x.device.type, enabled=False):
        p = Params({name: None if tensor is None else tensor.to(dtype) for name, tensor in p.items()})
        state = tuple(s.to(dtype) for s in state)
        return _run_direction(cell, x.to(dtype), p, state, lengths, recompute)


def _run_direction(
    cell: Cell, x: Tensor, p: Params, state: State, lengths: Tensor | None, recompute: bool
) -> tuple[Tensor, State]:
    """:func:`run_direction` with ``x``, ``p`` and ``state`` in one dtype."""
    mask = None if lengths is None else padding_mask(lengths, x.size(0), x)
    weights = [tensor for tensor in p.values() if tensor is not None]
    # wx needs a gradient exactly when x or a parameter does, so the test is the same for both Functions.
    if not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, *state, *weights))):
        return _run_without_grad(cell, _writable(cell.project(x, p), x), p, state, mask)
    names = tuple((name, tensor is not None) for name, tensor in p.items())
    if recompute:
        output, *final = RecomputingRecurrence.apply(cell, names, mask, len(state), x, *state, *weights)
    else:
        wx = _writable(cell.project(x, p), x)                               # (T, B, G·H), one GEMM
        output, *final = Recurrence.apply(cell, names, mask, len(state), wx, *state, *weights)
    return output, tuple(final)


def _writable(wx: Tensor, x: Tensor) -> Tensor:
    """``wx``, or a copy of it if it shares memory with the layer input ``x``.

    Cells may overwrite wx_t in place in ``bptt_forward``; a projection that returns its input
    (or a view of it) must not let that reach the caller's tensor.
    """
    return wx.clone() if wx.untyped_storage().data_ptr() == x.untyped_storage().data_ptr() else wx


def _run_without_grad(cell: Cell, wx: Tensor, p: Params, state: State, mask: Tensor | None) -> tuple[Tensor, State]:
    """The plain forward loop: nothing is kept for a backward.

    It runs ``bptt_forward`` (and drops what it saves), so that outputs do not depend on whether a
    gradient was wanted.
    """
    output = wx.new_empty(wx.size(0), wx.size(1), cell.hidden_size)         # (T, B, H)
    with torch.no_grad():
        for t in range(wx.size(0)):
            new, _ = cell.bptt_forward(wx[t], state, p)
            if mask is not None:
                new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
            state = new
            output[t] = state[0]
        if mask is not None:
            output.masked_fill_(~mask, 0.0)
    return output, state


def run_layer(
    cell: Cell,
    x: Tensor,
    params: list[Params],
    states: list[State],
    lengths: Tensor | None,
    training: bool,
    recompute: bool = False,
) -> tuple[Tensor, list[State]]:
    """One layer, every direction: direction 1 (if any) reads each sequence backwards.

    ``recompute``: run :class:`RecomputingRecurrence` (engine ``bptt-recompute``).
    """
    return run_directions(partial(run_direction, recompute=recompute), cell, x, params, states, lengths)
