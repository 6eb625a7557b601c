"""``Recurrent``: any cell as a multilayer, optionally bidirectional ``nn.Module``.

Stacking, directions, inter-layer dropout, residual connections, padded batches (``lengths`` or a
``PackedSequence``) and initial states are handled here once, for every cell and every engine.

Output layout of a bidirectional layer, per time step::

    output[t] = [ forward h_t (H) | backward h_t (H) ]      (…, 2·H)
    h_n       = [l0 forward, l0 backward, l1 forward, …]     (num_layers · 2, B, H)
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from .. import engines
from ..cells import Cell, Params, State, get_cell_class
from ..engines.sequences import padding_mask, reverse_padded

StateInput = Tensor | tuple[Tensor, ...] | None


@dataclass(frozen=True)
class Trace:
    """Every layer's state at every step, and its gates when asked: what :meth:`Recurrent.trace` records.

    - states[l][name]: (T, B, D·H) for each of the cell's state names (``"h"``; ``"c"`` too for the
      LSTM family), layer l = 0 … L − 1. Directions side by side as in the output: [forward | backward].
    - gates[l][name]: (T, B, D·H) for each gate the cell reports (``Cell.gate_values``; ``{}`` for an
      Elman cell), or ``None`` when the trace was not asked for gates.

    At a padded step (t ≥ lengths[b]) every value is zero, as the output is. Sequence b's final state
    (h_n) is at t = lengths[b] − 1 in the forward half and at t = 0 in the backward half.
    With ``batch_first`` every sequence is (B, T, D·H); for an unbatched input, (T, D·H).
    """

    states: list[dict[str, Tensor]]
    gates: list[dict[str, Tensor]] | None


def check_stack(num_layers: int, dropout: float) -> None:
    """The checks of a layer stack's ``num_layers`` and ``dropout`` (a warning: dropout with one layer)."""
    if not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout <= 1.0:
        raise ValueError(f"dropout must be a number in [0, 1], got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        # stacklevel 3: the user's call, through the layer's __init__.
        warnings.warn(f"dropout={dropout} has no effect with num_layers=1: it applies between layers", stacklevel=3)


def check_state_tensor(label: str, name: str, tensor: Tensor, x: Tensor, autocast: bool, owner: str) -> Tensor:
    """A state tensor on the input's device and in its dtype (cast there only under autocast).

    ``label`` names it in messages ("initial state h_0 (in hx)"), ``name`` in the fix, ``owner``
    whose parameters the input's dtype must match.
    """
    if tensor.device != x.device:
        raise ValueError(f"{label} is on {tensor.device} but the input is on {x.device}: "
                         f"move it with {name}.to({str(x.device)!r})")
    if tensor.dtype == x.dtype:
        return tensor
    if autocast and tensor.is_floating_point():
        return tensor.to(x.dtype)
    expected = "the input is" if autocast else f"the input and {owner} are"
    raise ValueError(f"{label} has dtype {tensor.dtype} but {expected} {x.dtype}: convert it with {name}.to({x.dtype})")


class Recurrent(nn.Module):
    r"""A stack of recurrent layers of any registered cell.

    Args:
        cell: a cell name (see :func:`rnnkit.cell_names`) or a subclass of :class:`rnnkit.cells.Cell`.
        input_size: features I of the input.
        hidden_size: features H of the hidden state.
        num_layers: stacked layers; layer l > 0 reads layer l − 1's output.
        bias: whether the cells have biases.
        batch_first: inputs and outputs are (B, T, ·) instead of (T, B, ·). States stay (L·D, B, H).
        dropout: dropout on every layer's output except the last (training mode only).
        bidirectional: add a second direction that reads each sequence backwards.
        residual: add each layer's input to its output where their sizes match (layers > 0).
        engine: ``"auto"`` (fused where PyTorch has the exact kernel, else bptt where the cell has
            its analytic derivative, else autograd), ``"fused"``, ``"bptt"``, ``"bptt-recompute"``
            (bptt keeping only the states for the backward: less memory, more time) or ``"autograd"``.
        init: ``None`` (the cell's default: PyTorch's uniform ±1/√H for the standard cells),
            ``"orthogonal"`` or ``"identity"``.
        forget_bias: initial forget-gate bias for cells that have one (LSTM family).

    Inputs: ``input, hx=None, lengths=None``
        - input: (T, B, I), (B, T, I) with ``batch_first``, (T, I) unbatched, or a ``PackedSequence``;
          in the parameters' dtype (another floating dtype only under ``torch.autocast``).
        - hx: initial state, (L·D, B, H); a tuple ``(h_0, c_0)`` for cells with a cell state.
          Zeros when omitted. On the input's device and in its dtype, as in ``torch.nn``.
        - lengths: (B,) integers in [1, T], on the CPU or the input's device: sequence b is
          ``input[:lengths[b], b]``. Its state stops there, later outputs are zero, and its backward
          direction starts there.

    Outputs: ``output, h_n`` (or ``output, (h_n, c_n)``)
        - output: (T, B, D·H) last layer's hidden states (a ``PackedSequence`` for packed input).
        - h_n (, c_n): (L·D, B, H) final state of every layer and direction.

    Diagnostics: :meth:`trace` returns every layer's states (and gates) at every step, without
    touching the forward above.

    Example:
        >>> layer = rnnkit.Recurrent("peephole_lstm", 10, 20, num_layers=2)
        >>> output, (h_n, c_n) = layer(torch.randn(5, 3, 10))
        >>> output.shape
        torch.Size([5, 3, 20])
    """

    def __init__(
        self,
        cell: str | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        residual: bool = False,
        engine: str = "auto",
        init: str | None = None,
        forget_bias: float | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        cell_class = get_cell_class(cell)
        check_stack(num_layers, dropout)
        self.cell_name = cell_class.name
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.residual = residual
        self.num_directions = 2 if bidirectional else 1
        # One cell object per layer (layers differ in input size); directions share it.
        self.cells: list[Cell] = [
            cell_class(input_size if layer == 0 else hidden_size * self.num_directions, hidden_size, bias)
            for layer in range(num_layers)
        ]
        engines.check_engine(engine, self.cells[0])
        self.engine = engine
        self.state_size = len(self.cells[0].state_names)
        factory = {"device": device, "dtype": dtype}
        for layer, layer_cell in enumerate(self.cells):
            for direction in range(self.num_directions):
                for name, shape in layer_cell.parameter_shapes().items():
                    if bias or not layer_cell.is_bias(name):
                        param = nn.Parameter(torch.empty(shape, **factory))
                        self.register_parameter(self._parameter_name(name, layer, direction), param)
        self.init = init
        self.forget_bias = forget_bias
        self.reset_parameters()

    # ----------------------------------------------------------------------------------------------

    @staticmethod
    def _parameter_name(name: str, layer: int, direction: int) -> str:
        return f"{name}_l{layer}{'_reverse' if direction else ''}"

    def cell_params(self, layer: int, direction: int) -> Params:
        """The parameters of one layer and direction, by the cell's own names (absent biases None).

        Read afresh at every call, so ``torch.func.functional_call`` and weight-dropping wrappers
        that substitute a parameter are seen by every engine.
        """
        names = self.cells[layer].parameter_shapes()
        return Params({name: getattr(self, self._parameter_name(name, layer, direction), None) for name in names})

    def reset_parameters(self) -> None:
        """Initialise every parameter with the layer's ``init`` scheme and ``forget_bias``."""
        for layer, layer_cell in enumerate(self.cells):
            for direction in range(self.num_directions):
                layer_cell.reset_parameters(self.cell_params(layer, direction), self.init, self.forget_bias)

    def extra_repr(self) -> str:
        text = f"{self.cell_name!r}, {self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in [("bias", True), ("batch_first", False), ("dropout", 0.0),
                              ("bidirectional", False), ("residual", False), ("engine", "auto"), ("init", None)]:
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)!r}"
        return text

    # ----------------------------------------------------------------------------------------------

    def forward(self, input: Tensor | PackedSequence, hx: StateInput = None, lengths: Tensor | None = None):
        packed = isinstance(input, PackedSequence)
        unbatched = False
        if packed:
            if lengths is not None:
                raise ValueError("lengths must not be given with a PackedSequence input: it carries its own")
            # Both None for a pack built with enforce_sorted=True: its batch is already in order.
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
            x, lengths = pad_packed_sequence(input)                       # (T, B, I), original order
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"input must be a Tensor or a PackedSequence, got {type(input).__name__}")
            if input.dim() == 2:
                unbatched = True
                x = input.unsqueeze(1)
            elif input.dim() == 3:
                x = input.transpose(0, 1) if self.batch_first else input
            else:
                raise ValueError(
                    f"input must have 3 dimensions ({'B, T' if self.batch_first else 'T, B'}, input_size) "
                    f"or 2 (T, input_size) unbatched; got shape {tuple(input.shape)}"
                )
        steps, batch = x.size(0), x.size(1)
        if steps == 0:
            raise ValueError("input is an empty sequence (T = 0); give at least one time step")
        if x.size(-1) != self.input_size:
            raise ValueError(
                f"input has {x.size(-1)} features in its last dimension; "
                f"this layer was built with input_size={self.input_size}"
            )
        # Under autocast, an input of another floating dtype than the parameters is mixed precision.
        autocast = torch.is_autocast_enabled(x.device.type)
        self._check_input_dtype(x, autocast)
        if lengths is not None and not packed:
            lengths = self._check_lengths(lengths, steps, batch, x.device)
        states = self._initial_states(hx, batch, x, unbatched, autocast)

        finals: list[State] = []
        layer_input = x
        for layer, layer_cell in enumerate(self.cells):
            run_layer = engines.select(self.engine, layer_cell)
            params = [self.cell_params(layer, d) for d in range(self.num_directions)]
            layer_states = states[layer * self.num_directions : (layer + 1) * self.num_directions]
            output, layer_finals = run_layer(layer_cell, layer_input, params, layer_states, lengths, self.training)
            finals.extend(layer_finals)
            if self.residual and layer > 0 and output.shape == layer_input.shape:
                output = output + layer_input
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                output = nn.functional.dropout(output, self.dropout, training=True)
            layer_input = output

        state_out = tuple(torch.stack([final[k] for final in finals]) for k in range(self.state_size))
        if packed:
            output = self._repack(output, lengths, sorted_indices, unsorted_indices)
        elif unbatched:
            output = output.squeeze(1)
            state_out = tuple(s.squeeze(1) for s in state_out)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (state_out[0] if self.state_size == 1 else state_out)

    # ----------------------------------------------------------------------------------------------

    @torch.no_grad()
    def trace(
        self, input: Tensor | PackedSequence, hx: StateInput = None, lengths: Tensor | None = None, gates: bool = False
    ) -> Trace:
        r"""Run the layer for diagnostics, recording every layer's states and optionally its gates.

        Inputs are :meth:`forward`'s (``input, hx, lengths``); the result is a :class:`Trace` with
        ``states[l]["h"]`` (and ``["c"]``) of every layer l, (T, B, D·H), and with ``gates=True`` the
        cell's gates ``gates[l][name]``, (T, B, D·H), named as in the cell's docstring (i, f, g, o for
        the LSTM; r, z, n for the GRU; …). The top layer's ``states[-1]["h"]`` is the output of
        :meth:`forward` (without ``residual``: the output then adds the layer's input), and the
        recorded final states are its h_n (, c_n), to round-off.

        Whatever the layer's engine, the trace runs its own loop, one step at a time without a graph,
        through the cells' ``project``, ``step`` and ``gate_values``: any cell traces its states, and a
        cell whose ``supports_gates`` is true its gates. No dropout is applied (as in eval mode);
        residual connections are. :meth:`forward` is untouched by it and keeps its speed.

        Example:
            >>> layer = rnnkit.Recurrent("lstm", 10, 20, num_layers=2, bidirectional=True)
            >>> trace = layer.trace(torch.randn(5, 3, 10), gates=True)
            >>> trace.gates[1]["f"].shape                       # layer 1's forget gates, both directions
            torch.Size([5, 3, 40])
        """
        if gates and not self.cells[0].supports_gates:
            raise ValueError(
                f"trace(gates=True) needs the cell's gate values, and cell {self.cell_name!r} "
                f"({type(self.cells[0]).__name__}) defines no gate_values(); trace(gates=False) records its states"
            )
        x, lengths, unbatched = self._trace_input(input, lengths)
        steps, batch = x.size(0), x.size(1)
        autocast = torch.is_autocast_enabled(x.device.type)
        self._check_input_dtype(x, autocast)
        states = self._initial_states(hx, batch, x, unbatched, autocast)
        mask = None if lengths is None else padding_mask(lengths, steps, x)

        traced_states: list[dict[str, Tensor]] = []
        traced_gates: list[dict[str, Tensor]] = []
        layer_input = x
        for layer, layer_cell in enumerate(self.cells):
            direction_states, direction_gates = [], []
            for direction in range(self.num_directions):
                inputs = reverse_padded(layer_input, lengths) if direction else layer_input
                state = states[layer * self.num_directions + direction]
                params = self.cell_params(layer, direction)
                recorded_states, recorded_gates = _trace_direction(layer_cell, inputs, params, state, mask, gates)
                if direction:
                    # The backward direction's sequences go back into time order, as its outputs do.
                    recorded_states = {name: reverse_padded(v, lengths) for name, v in recorded_states.items()}
                    recorded_gates = {name: reverse_padded(v, lengths) for name, v in recorded_gates.items()}
                direction_states.append(recorded_states)
                direction_gates.append(recorded_gates)
            traced_states.append(_join_directions(direction_states))
            traced_gates.append(_join_directions(direction_gates))
            output = traced_states[-1]["h"]
            if self.residual and layer > 0 and output.shape == layer_input.shape:
                output = output + layer_input
            layer_input = output

        def layout(sequence: Tensor) -> Tensor:
            if unbatched:
                return sequence.squeeze(1)
            return sequence.transpose(0, 1) if self.batch_first else sequence

        return Trace(
            states=[{name: layout(v) for name, v in layer.items()} for layer in traced_states],
            gates=[{name: layout(v) for name, v in layer.items()} for layer in traced_gates] if gates else None,
        )

    def _trace_input(
        self, input: Tensor | PackedSequence, lengths: Tensor | None
    ) -> tuple[Tensor, Tensor | None, bool]:
        """``trace``'s input as (T, B, I) with checked lengths, and whether it was unbatched."""
        unbatched = False
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths must not be given with a PackedSequence input: it carries its own")
            x, lengths = pad_packed_sequence(input)                       # (T, B, I), original order
            return x, lengths.to(torch.int64), False
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor or a PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(
                f"input must have 3 dimensions ({'B, T' if self.batch_first else 'T, B'}, input_size) "
                f"or 2 (T, input_size) unbatched; got shape {tuple(input.shape)}"
            )
        if input.dim() == 2:
            unbatched, x = True, input.unsqueeze(1)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        if x.size(0) == 0:
            raise ValueError("input is an empty sequence (T = 0); give at least one time step")
        if x.size(-1) != self.input_size:
            raise ValueError(f"input has {x.size(-1)} features in its last dimension; "
                             f"this layer was built with input_size={self.input_size}")
        if lengths is not None:
            lengths = self._check_lengths(lengths, x.size(0), x.size(1), x.device)
        return x, lengths, unbatched

    def _check_input_dtype(self, x: Tensor, autocast: bool) -> None:
        """Refuse an input the parameters cannot multiply, before an engine fails on it obscurely."""
        expected = self._parameter_dtype()
        if x.dtype == expected:
            return
        if not x.is_floating_point():
            raise ValueError(
                f"input has dtype {x.dtype}; a recurrent layer reads floating-point features, like its "
                f"parameters ({expected}). Convert it with input.to({expected}) (token ids go through an "
                f"nn.Embedding first)"
            )
        if not autocast:
            raise ValueError(
                f"input has dtype {x.dtype} but this layer's parameters are {expected}: convert the input "
                f"with input.to({expected}), or the layer with layer.to({x.dtype})"
            )

    def _parameter_dtype(self) -> torch.dtype:
        """The dtype of the parameters, as the engines will read them (substitutes included)."""
        return next(t for t in self.cell_params(0, 0).values() if t is not None).dtype

    def _check_lengths(self, lengths: Tensor, steps: int, batch: int, device: torch.device) -> Tensor:
        if not isinstance(lengths, Tensor):
            lengths = torch.as_tensor(lengths)
        if lengths.dim() != 1 or lengths.numel() != batch:
            raise ValueError(f"lengths must be a 1-D tensor of {batch} entries (one per sequence), "
                             f"got shape {tuple(lengths.shape)}")
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        if lengths.device.type != "cpu" and lengths.device != device:
            raise ValueError(
                f"lengths is on {lengths.device} but the input is on {device}: give lengths on the CPU "
                f"(as torch's pack_padded_sequence wants) or on the input's device"
            )
        low, high = int(lengths.min()), int(lengths.max())
        if low < 1:
            raise ValueError(f"lengths must be at least 1 (empty sequences cannot be run); got {low}")
        if high > steps:
            raise ValueError(f"lengths must be at most the input's T = {steps}; got {high}")
        return lengths.to(torch.int64)

    def _initial_states(
        self, hx: StateInput, batch: int, x: Tensor, unbatched: bool, autocast: bool
    ) -> list[State]:
        """Split ``hx`` into one state tuple per layer and direction (zeros when ``hx`` is None)."""
        count = self.num_layers * self.num_directions
        if hx is None:
            return [self.cells[0].initial_state(batch, x) for _ in range(count)]
        tensors = (hx,) if isinstance(hx, Tensor) else tuple(hx)
        names = "(h_0, c_0)" if self.state_size == 2 else "h_0"
        if len(tensors) != self.state_size or not all(isinstance(t, Tensor) for t in tensors):
            raise TypeError(
                f"hx must be {'a tuple ' if self.state_size == 2 else 'a Tensor '}{names} for cell "
                f"{self.cell_name!r}, got {type(hx).__name__} of {len(tensors)}"
            )
        expected = (count, batch, self.hidden_size)
        checked = []
        for name, tensor in zip(self.cells[0].state_names, tensors):
            if unbatched and tensor.dim() == 2:
                tensor = tensor.unsqueeze(1)
            if tuple(tensor.shape) != expected:
                raise ValueError(
                    f"initial state {name}_0 must have shape (num_layers * num_directions, B, hidden_size) "
                    f"= {expected}, got {tuple(tensor.shape)}"
                )
            checked.append(check_state_tensor(f"initial state {name}_0 (in hx)", f"{name}_0", tensor, x, autocast,
                                              "this layer's parameters"))
        return [tuple(t[index] for t in checked) for index in range(count)]

    @staticmethod
    def _repack(
        output: Tensor, lengths: Tensor, sorted_indices: Tensor | None, unsorted_indices: Tensor | None
    ) -> PackedSequence:
        """The padded (T, B, D·H) output as a ``PackedSequence`` with the input's own batch order."""
        if sorted_indices is not None:
            output = output.index_select(1, sorted_indices)
        # The lengths sorted by value: the same whichever order ties were packed in, and no index
        # on the input's device has to meet the CPU lengths.
        packed = pack_padded_sequence(output, lengths.sort(descending=True).values)
        return PackedSequence(packed.data, packed.batch_sizes, sorted_indices, unsorted_indices)


def _trace_direction(
    cell: Cell, x: Tensor, p: Params, state: State, mask: Tensor | None, gates: bool
) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """One direction over ``x`` (T, B, I): its states and (if ``gates``) gate values by name, each (T, B, H).

    Past a sequence's end the state is carried and nothing is recorded (zeros), as the engines do.
    """
    wx = cell.project(x, p)                                                 # (T, B, G·H)
    states: list[State] = []
    gate_steps: list[dict[str, Tensor]] = []
    for t, wx_t in enumerate(wx.unbind(0)):
        if gates:
            gate_steps.append(cell.gate_values(wx_t, state, p))
        new = cell.step(wx_t, state, p)
        if mask is not None:
            new = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
        state = new
        states.append(state)
    recorded_states = {name: torch.stack([s[k] for s in states]) for k, name in enumerate(cell.state_names)}
    recorded_gates = {name: torch.stack([g[name] for g in gate_steps]) for name in gate_steps[0]} if gates else {}
    if mask is not None:
        recorded_states = {name: v.masked_fill(~mask, 0.0) for name, v in recorded_states.items()}
        recorded_gates = {name: v.masked_fill(~mask, 0.0) for name, v in recorded_gates.items()}
    return recorded_states, recorded_gates


def _join_directions(directions: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Each named sequence of every direction side by side: (T, B, H) each → (T, B, D·H)."""
    return {name: torch.cat([d[name] for d in directions], dim=-1) for name in directions[0]}
