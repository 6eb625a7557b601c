"""The cell base class: what every recurrent cell declares.

A cell is *the equations* of one time step, nothing else. It owns no tensors: the layer that uses it
creates the parameters (with PyTorch's names, so state dicts load both ways) and hands them to the
cell as a :class:`Params` namespace at every call. That keeps one cell object valid for every layer
and direction of the same size, and lets every engine (autograd, bptt, fused) feed it the same way.

The forward of a sequence is split as in the notes:

    wx_t = W_x x_t + b            for all t at once: one large matrix product  (``project``)
    s_t  = step(wx_t, s_{t-1})    the recurrence, one step at a time           (``step``)

A user-defined cell subclasses :class:`Cell`, sets ``name``, ``summary`` and ``gates`` and writes
``step``; it then runs on the autograd engine with every layer feature (stacking, directions,
lengths, dropout). Adding its analytic derivative lets it run on the bptt engine; adding
``gate_values`` lets diagnostics read its gates (``Recurrent.trace``).
"""

from __future__ import annotations

import math
from typing import ClassVar, NoReturn

import torch
from torch import Tensor
from torch.nn import functional as F

State = tuple[Tensor, ...]  # (h,) or (h, c), each (B, H)


class Params(dict):
    """A cell's parameters by name, readable as attributes: ``p.weight_hh``.

    Biases of a layer built with ``bias=False`` are present and ``None``.
    """

    def __getattr__(self, name: str) -> Tensor | None:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"cell parameter {name!r} is not defined") from None


class Cell:
    """Base class of every recurrent cell: the equations of one time step, not a module.

    A cell object holds no weights and cannot be called (``LSTMCell(10, 20)(x)`` raises a TypeError).
    It tells a layer which parameters to create (:meth:`parameter_shapes`) and how to initialise them,
    how one step runs (:meth:`step`) and, for the bptt engine, its derivative. It is not the one-step
    module ``torch.nn.LSTMCell`` whose name it shares: to run a cell over sequences, use a layer,
    ``rnnkit.Recurrent("lstm", 10, 20)`` or the drop-in ``rnnkit.LSTM``, ``rnnkit.GRU``, ``rnnkit.RNN``.
    For one step at a time, as with ``torch.nn.LSTMCell`` (a decoder whose x_t depends on h_{t-1}),
    use the one-step module ``rnnkit.RecurrentCell`` (the layer's parameter names: state dicts load both ways)::

        decoder = rnnkit.RecurrentCell("lstm", 10, 20)
        state = None
        for x_t in x:                                 # x (T, B, 10), x_t (B, 10)
            output, state = decoder(x_t, state)       # output (B, 20); state = (h, c), each (1, B, 20)

    Subclasses set the class attributes and write :meth:`step`. The default parameters are PyTorch's
    four (``weight_ih (G·H, I)``, ``weight_hh (G·H, H)``, ``bias_ih (G·H)``, ``bias_hh (G·H)``) where
    ``G = gates``; a cell with other parameters overrides :meth:`parameter_shapes`.
    """

    name: ClassVar[str]                         # registry name, e.g. "lstm"
    summary: ClassVar[str]                      # one-line equation summary for `rnnkit cells`
    gates: ClassVar[int] = 1                    # H-wide blocks in the input projection
    state_names: ClassVar[tuple[str, ...]] = ("h",)  # ("h", "c") for the LSTM family
    fused_mode: ClassVar[str | None] = None     # "LSTM", "GRU", "RNN_TANH", "RNN_RELU": PyTorch kernel
    forget_gate: ClassVar[int | None] = None    # index of the forget-gate block, for forget_bias
    default_init: ClassVar[str | None] = None   # scheme used when the layer asks for none
    needs_square_input: ClassVar[str | None] = None  # the equation that uses x_t as a hidden vector
    # False promises that bptt_weight_grads reads no saved tensor (only dwx, deltas, states): the bptt
    # engine may then write a step's deltas over that step's saved tensors of the same shape.
    bptt_weight_grads_read_saved: ClassVar[bool] = True

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        if not isinstance(input_size, int) or input_size < 1:
            raise ValueError(f"input_size must be a positive integer, got {input_size!r}")
        if not isinstance(hidden_size, int) or hidden_size < 1:
            raise ValueError(f"hidden_size must be a positive integer, got {hidden_size!r}")
        if self.needs_square_input and input_size != hidden_size:
            raise ValueError(
                f"cell {self.name!r} needs input_size == hidden_size because its equation "
                f"{self.needs_square_input} uses x_t where a hidden-size vector is needed; "
                f"got input_size={input_size}, hidden_size={hidden_size} "
                f"(put a Linear layer or a first layer of another cell in front)"
            )
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, bias={self.bias})"

    def __call__(self, *args: object, **kwargs: object) -> NoReturn:
        """Refuse, naming the modules to use: a torch user reads ``LSTMCell`` as torch's one-step module."""
        cls = type(self).__name__
        sizes = f"{self.input_size}, {self.hidden_size}{'' if self.bias else ', bias=False'}"
        drop_in = {
            "lstm": f"rnnkit.LSTM({sizes})",
            "gru": f"rnnkit.GRU({sizes})",
            "rnn_tanh": f"rnnkit.RNN({sizes})",
            "rnn_relu": f"rnnkit.RNN({sizes}, nonlinearity='relu')",
        }.get(getattr(self, "name", None))
        layer = f"rnnkit.Recurrent({cls}, {sizes})"
        raise TypeError(
            f"{cls} objects are not callable: an rnnkit cell is the equations of one time step (parameter "
            f"shapes, step, derivative) that a layer runs; it holds no weights and is not a module like "
            f"torch.nn.LSTMCell. For sequences, use a layer: {f'{drop_in}, or ' if drop_in else ''}{layer}; "
            f"for one step at a time, as torch.nn.LSTMCell does, use rnnkit.RecurrentCell({cls}, {sizes}): "
            f"output, state = module(x_t, state)"
        )

    # ----------------------------------------------------------------------------------------------
    # Parameters

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every parameter the cell uses, by name, with its shape (biases included)."""
        width = self.gates * self.hidden_size
        return {
            "weight_ih": (width, self.input_size),
            "weight_hh": (width, self.hidden_size),
            "bias_ih": (width,),
            "bias_hh": (width,),
        }

    def is_bias(self, name: str) -> bool:
        """Whether a parameter is left out of a layer built with ``bias=False``."""
        return name.startswith("bias")

    def reset_parameters(self, p: Params, init: str | None = None, forget_bias: float | None = None) -> None:
        """Initialise ``p`` in place.

        ``init=None`` is PyTorch's default for its RNN modules: every entry uniform in ±1/√H.
        ``"orthogonal"``: each gate's block of every recurrent matrix orthogonal, each block of every
        input matrix Xavier-uniform, biases zero (the blocks separately, as the recitation notes
        advise). ``"identity"``: recurrent matrices identity, input matrices N(0, 0.001²), biases zero
        (IRNN, Le et al. 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear
        Units"). ``forget_bias`` sets the forget gate's bias (its ``bias_ih`` block; ``bias_hh`` block
        zero) for cells that have one.
        """
        init = init if init is not None else self.default_init
        with torch.no_grad():
            if init is None:
                bound = 1.0 / math.sqrt(self.hidden_size)
                for tensor in p.values():
                    if tensor is not None:
                        tensor.uniform_(-bound, bound)
            elif init in ("orthogonal", "identity"):
                for name, tensor in p.items():
                    if tensor is None:
                        continue
                    if tensor.dim() < 2:
                        tensor.fill_(1.0) if self._is_gain(name) else tensor.zero_()
                    elif self._is_recurrent(name, tensor):
                        for block in tensor.split(self.hidden_size, dim=0):
                            if init == "orthogonal":
                                torch.nn.init.orthogonal_(block)
                            else:
                                block.copy_(torch.eye(*block.shape, dtype=block.dtype, device=block.device))
                    else:
                        for block in tensor.split(self.hidden_size, dim=0):
                            if init == "orthogonal":
                                torch.nn.init.xavier_uniform_(block)
                            else:
                                block.normal_(0.0, 0.001)
            else:
                raise ValueError(f"unknown init {init!r}; choose None, 'orthogonal' or 'identity'")
            if forget_bias is not None:
                if self.forget_gate is None:
                    raise ValueError(f"forget_bias was given but cell {self.name!r} has no forget gate")
                block = slice(self.forget_gate * self.hidden_size, (self.forget_gate + 1) * self.hidden_size)
                if p.get("bias_ih") is None:
                    raise ValueError("forget_bias needs a layer built with bias=True")
                p["bias_ih"][block] = forget_bias
                p["bias_hh"][block] = 0.0

    def _is_recurrent(self, name: str, tensor: Tensor) -> bool:
        """Square recurrent matrices: the ones that multiply h (``*_hh``)."""
        return name.endswith("hh") or name.startswith("weight_h")

    def _is_gain(self, name: str) -> bool:
        """Layer-norm gains start at one under the named schemes."""
        return False

    # ----------------------------------------------------------------------------------------------
    # Forward

    def project(self, x: Tensor, p: Params) -> Tensor:
        """The input projection for all time steps at once: ``x (T, B, I) → (T, B, G·H)``."""
        return F.linear(x, p.weight_ih, p.bias_ih)

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        """One time step. ``wx`` (B, G·H) is this step's slice of :meth:`project`."""
        raise NotImplementedError(f"cell {type(self).__name__} must define step()")

    def initial_state(self, batch_size: int, like: Tensor) -> State:
        """Zeros for every state tensor, on ``like``'s device and dtype."""
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return tuple(zeros.clone() if i else zeros for i in range(len(self.state_names)))

    # ----------------------------------------------------------------------------------------------
    # Gate values, for diagnostics (optional: a cell that defines ``gate_values`` declares
    # ``supports_gates``; a layer's ``trace`` then records them at every step).
    #
    # The method is ``gate_values``, not ``gates``: ``gates`` is the class attribute G above (the number
    # of H-wide blocks), which every cell, user cells included, already sets.
    #
    # Contract: ``gate_values(wx_t, s_{t-1}, p)`` evaluates the cell's own equations for one step and
    # returns its gates by the names of its docstring, in the cell's block order, each (B, H) and
    # activated (after σ, tanh, or whatever the equation applies: LN before it for the layer-normalised
    # cells). Only gates the cell has: a removed gate is absent, not the constant 1; states (c) are not
    # gates. A cell without gates returns an empty dict. It must not modify its arguments, and it is not
    # on any engine's path: the forward and its speed never depend on it.

    @property
    def supports_gates(self) -> bool:
        """Whether the cell can report its gate values (:meth:`gate_values`)."""
        return type(self).gate_values is not Cell.gate_values

    def gate_values(self, wx: Tensor, state: State, p: Params) -> dict[str, Tensor]:
        """This step's activated gates by name, each (B, H), from ``wx`` (B, G·H) and s_{t-1}. Optional."""
        raise TypeError(
            f"cell {getattr(self, 'name', type(self).__name__)!r} ({type(self).__name__}) does not report its "
            f"gate values: it defines no gate_values(wx, state, p) (supports_gates is False). Define it to "
            f"return the gates of its step by name, each (B, H); states can be traced without it"
        )

    # ----------------------------------------------------------------------------------------------
    # Backward through time (optional: a cell that defines both methods below runs on engine="bptt").
    #
    # The bptt engine runs, for one layer and direction:
    #
    #   forward   for t = 1 … T:   s_t, saved_t = cell.bptt_forward(wx_t, s_{t-1}, p)   (no graph)
    #   backward  for t = T … 1:   dwx_t, ds_{t-1}, deltas_t = cell.bptt_backward(ds_t, saved_t, s_{t-1}, p)
    #   weights   grads = cell.bptt_weight_grads(dwx, deltas, s_prev, saved, p)          (big GEMMs)
    #
    # ``ds_t`` is the total ∂L/∂s_t: from the output h_t, from step t+1, and (at t = T) from h_n/c_n.
    # ``dwx`` is ∂L/∂wx for all steps, (T, B, G·H); autograd carries it on through ``project``.
    # ``deltas`` are whatever per-step tensors the weight gradients need beyond dwx (often none):
    # per-row terms (B, …), or a step's share of a vector's gradient already summed over the batch;
    # the engine stacks each over time into (T, …). ``s_prev`` and ``saved`` arrive stacked the
    # same way. Padded steps never reach the cell: the engine passes their state and gradient through.
    #
    # What the engine (engines/bptt.py) relies on, and offers:
    # - A saved tensor that *is* one of the new state tensors (``return (h, c), (gates, c)``) is stored
    #   once, as a view of the engine's (T+1, B, H) state buffer, not copied: save the state itself
    #   rather than a copy of it. On padded rows it then holds the carried state; those rows always
    #   receive a zero ∂L/∂s_t, so a backward that is linear in ∂L/∂s (every derivative is) ignores them.
    # - bptt_forward may write over wx_t in place (it is the engine's, used for nothing after this
    #   step), e.g. the LSTM's gate pre-activations ``wx.addmm_(h_prev, W_hh.T)``. A saved tensor that
    #   *is* wx_t is then kept in wx itself, without a copy. ``project``'s backward must not need its
    #   own output then (a linear map or a layer norm does not); if it does, autograd's version check
    #   fails loudly in the backward. A projection that returns x itself is copied first.
    #   Once the backward loop has passed step t, the engine may write ∂L/∂wx_t over such a saved
    #   tensor (unless the graph is retained), so bptt_weight_grads must not read one kept in wx.
    #   With ``bptt_weight_grads_read_saved = False`` it may likewise write each step's deltas over
    #   that step's other saved tensors of the same shape.
    # - bptt_backward must not modify its arguments in place (a retained graph runs it again).
    # - Without a gradient to compute, the engine runs bptt_forward alone and drops what it saves.

    @property
    def supports_bptt(self) -> bool:
        """Whether the cell provides its analytic derivative for the bptt engine."""
        return type(self).bptt_backward is not Cell.bptt_backward

    def bptt_forward(self, wx: Tensor, state: State, p: Params) -> tuple[State, tuple[Tensor, ...]]:
        """One step without autograd: the new state and what ``bptt_backward`` needs of this step.

        The default runs :meth:`step` and saves nothing; cells that support bptt override it.
        """
        return self.step(wx, state, p), ()

    def bptt_backward(
        self, d_state: State, saved: tuple[Tensor, ...], state_prev: State, p: Params
    ) -> tuple[Tensor, State, tuple[Tensor, ...]]:
        """∂L/∂s_t → (∂L/∂wx_t, ∂L/∂s_{t-1} through this step, per-step deltas). Abstract."""
        raise NotImplementedError(f"cell {self.name!r} has no analytic derivative; use engine='autograd'")

    def bptt_weight_grads(
        self, dwx: Tensor, deltas: tuple[Tensor, ...], state_prev: State, saved: tuple[Tensor, ...], p: Params
    ) -> dict[str, Tensor]:
        """Gradients of the parameters ``step`` uses, from all T steps at once (each (T, B, …)).

        Return only the parameters the recurrence touches; what ``project`` touches, autograd adds.
        The default is the common case: the recurrence multiplies h_{t-1} by ``weight_hh`` and the
        gradient of that product is dwx, so ``dW_hh = Σ_t dwx_tᵀ h_{t-1}`` as one GEMM.
        """
        h_prev = state_prev[0]
        return {"weight_hh": dwx.flatten(0, 1).T @ h_prev.flatten(0, 1)}
