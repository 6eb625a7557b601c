"""``RecurrentCell``: any cell, one time step per call, like ``torch.nn.LSTMCell`` for every cell.

For loops where x_t depends on h_{t-1} (a seq2seq decoder with attention or input feeding, an image
captioner, sampling), which a whole-sequence layer cannot run. Its parameters are those of the
matching unidirectional :class:`~rnnkit.Recurrent` (same names, shapes and initialisation), so a model
trained with one runs with the other after ``load_state_dict``. One call is each layer's
``project`` and ``step`` under autograd, as the autograd engine runs one time step::

    x (B, I) ─ layer 0 ─ h'_0 ─ dropout ─ layer 1 ─ h'_1 ─ … ─ layer L−1 ─ h'_{L−1} = output (B, H)
                 ↑ s_0                      ↑ s_1                  ↑ s_{L−1}    state: (L, B, H)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..cells import Cell, Params, State, get_cell_class
from .recurrent import Recurrent, check_stack, check_state_tensor

StateInput = Tensor | tuple[Tensor, ...] | None


class RecurrentCell(nn.Module):
    r"""A stack of recurrent layers of any registered cell, run one time step per call.

    The one-step analogue of :class:`rnnkit.Recurrent`, as ``torch.nn.LSTMCell`` is of
    ``torch.nn.LSTM``, for every cell and any number of layers. Its parameters have the names and
    shapes of a unidirectional ``Recurrent`` (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, …),
    so state dicts load both ways; a bidirectional layer's state dict is refused, since the reverse
    direction reads a sequence from its end and cannot run one step at a time.

    Args:
        cell: a cell name (see :func:`rnnkit.cell_names`) or a subclass of :class:`rnnkit.cells.Cell`.
        input_size: features I of the input.
        hidden_size: features H of the hidden state.
        num_layers: stacked layers; layer l > 0 reads layer l − 1's new hidden state.
        bias: whether the cells have biases.
        dropout: dropout on every layer's new hidden state fed to the next layer, except the last
            (training mode only). The returned state is never dropped out.
        init: ``None`` (the cell's default: PyTorch's uniform ±1/√H for the standard cells),
            ``"orthogonal"`` or ``"identity"``.
        forget_bias: initial forget-gate bias for cells that have one (LSTM family).

    Inputs: ``input, state=None``
        - input: (B, I), or (I) unbatched; in the parameters' dtype (another floating dtype only
          under ``torch.autocast``).
        - state: the previous state, (L, B, H) (or (L, H) unbatched); a tuple ``(h, c)`` of those for
          cells with a cell state. Zeros when omitted. On the input's device and in its dtype.

    Outputs: ``output, state``
        - output: (B, H) (or (H)): the last layer's new hidden state, ``state[-1]`` (``h[-1]``).
        - state: the new state of every layer, shaped as the input state: pass it to the next call.

    Example:
        >>> decoder = rnnkit.RecurrentCell("peephole_lstm", 10, 20, num_layers=2)
        >>> state = None
        >>> for x_t in torch.randn(5, 3, 10):
        ...     output, state = decoder(x_t, state)
        >>> output.shape, state[0].shape
        (torch.Size([3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(
        self,
        cell: str | type[Cell],
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        dropout: float = 0.0,
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
        self.dropout = float(dropout)
        self.cells: list[Cell] = [
            cell_class(input_size if layer == 0 else hidden_size, hidden_size, bias) for layer in range(num_layers)
        ]
        self.state_size = len(self.cells[0].state_names)
        # Per layer, (the cell's name, this module's name) of every parameter the cell reads.
        self._names: list[list[tuple[str, str]]] = []
        factory = {"device": device, "dtype": dtype}
        for layer, layer_cell in enumerate(self.cells):
            names = []
            for name, shape in layer_cell.parameter_shapes().items():
                # Recurrent's own naming, direction 0: the state dicts are the same by construction.
                names.append((name, Recurrent._parameter_name(name, layer, 0)))
                if bias or not layer_cell.is_bias(name):
                    self.register_parameter(names[-1][1], nn.Parameter(torch.empty(shape, **factory)))
            self._names.append(names)
        self.init = init
        self.forget_bias = forget_bias
        self.reset_parameters()
        self.register_load_state_dict_pre_hook(_refuse_reverse_direction)

    def cell_params(self, layer: int) -> Params:
        """The parameters of one layer, by the cell's own names (absent biases None).

        Read afresh at every call, so ``torch.func.functional_call`` and weight-dropping wrappers
        that substitute a parameter are seen.
        """
        return Params({name: getattr(self, attribute, None) for name, attribute in self._names[layer]})

    def reset_parameters(self) -> None:
        """Initialise every parameter as :class:`~rnnkit.Recurrent` does: the cell's scheme for ``init``."""
        for layer, layer_cell in enumerate(self.cells):
            layer_cell.reset_parameters(self.cell_params(layer), self.init, self.forget_bias)

    def extra_repr(self) -> str:
        text = f"{self.cell_name!r}, {self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for name, default in [("bias", True), ("dropout", 0.0), ("init", None), ("forget_bias", None)]:
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)!r}"
        return text

    # ----------------------------------------------------------------------------------------------

    def forward(self, input: Tensor, state: StateInput = None) -> tuple[Tensor, Tensor | State]:
        params = [self.cell_params(layer) for layer in range(self.num_layers)]
        x, unbatched = self._check_input(input, params[0])
        autocast = torch.is_autocast_enabled(x.device.type)
        states = self._layer_states(state, x, unbatched, autocast)

        new_states: list[State] = []
        layer_input = x
        for layer, (layer_cell, p) in enumerate(zip(self.cells, params)):
            new = layer_cell.step(layer_cell.project(layer_input, p), states[layer], p)
            new_states.append(new)
            layer_input = new[0]                                                    # (B, H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = nn.functional.dropout(layer_input, self.dropout, training=True)

        output = new_states[-1][0]
        state_out = tuple(torch.stack([new[k] for new in new_states]) for k in range(self.state_size))
        if unbatched:
            output = output.squeeze(0)
            state_out = tuple(s.squeeze(1) for s in state_out)
        return output, (state_out[0] if self.state_size == 1 else state_out)

    # ----------------------------------------------------------------------------------------------

    def _check_input(self, input: Tensor, p: Params) -> tuple[Tensor, bool]:
        """The input as (B, I), and whether it came unbatched; refuse what the cells cannot read."""
        if not isinstance(input, Tensor):
            raise TypeError(f"input must be a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            hint = "; for a whole sequence (T, B, I) use rnnkit.Recurrent" if input.dim() == 3 else ""
            raise ValueError(
                f"input must have 2 dimensions (B, input_size) or 1 (input_size) unbatched; "
                f"got shape {tuple(input.shape)}{hint}"
            )
        if input.size(-1) != self.input_size:
            raise ValueError(
                f"input has {input.size(-1)} features in its last dimension; "
                f"this module was built with input_size={self.input_size}"
            )
        # The first parameter the cells read, as the layer sees it (substitutes included).
        weight = next(t for t in p.values() if t is not None)
        if input.device != weight.device:
            raise ValueError(
                f"input is on {input.device} but this module's parameters are on {weight.device}: move the "
                f"input with input.to({str(weight.device)!r}), or the module with module.to({str(input.device)!r})"
            )
        if input.dtype != weight.dtype:
            if not input.is_floating_point():
                raise ValueError(
                    f"input has dtype {input.dtype}; a recurrent cell reads floating-point features, like its "
                    f"parameters ({weight.dtype}). Convert it with input.to({weight.dtype}) (token ids go through "
                    f"an nn.Embedding first)"
                )
            if not torch.is_autocast_enabled(input.device.type):
                raise ValueError(
                    f"input has dtype {input.dtype} but this module's parameters are {weight.dtype}: convert the "
                    f"input with input.to({weight.dtype}), or the module with module.to({input.dtype})"
                )
        return (input.unsqueeze(0), True) if input.dim() == 1 else (input, False)

    def _layer_states(self, state: StateInput, x: Tensor, unbatched: bool, autocast: bool) -> list[State]:
        """One state tuple per layer from ``state`` (zeros when it is None)."""
        batch = x.size(0)
        if state is None:
            return [self.cells[0].initial_state(batch, x) for _ in range(self.num_layers)]
        names = self.cells[0].state_names
        if self.state_size == 1:
            if not isinstance(state, Tensor):
                raise TypeError(
                    f"state must be a Tensor h of shape (num_layers, B, hidden_size) for cell {self.cell_name!r}, "
                    f"which has no cell state; got {_describe(state)}"
                )
            tensors = (state,)
        else:
            if not (isinstance(state, (tuple, list)) and len(state) == 2 and all(isinstance(t, Tensor) for t in state)):
                raise TypeError(
                    f"state must be a tuple (h, c) of Tensors, each (num_layers, B, hidden_size), for cell "
                    f"{self.cell_name!r}; got {_describe(state)}"
                )
            tensors = tuple(state)
        expected = (self.num_layers, batch, self.hidden_size)
        checked = []
        for name, tensor in zip(names, tensors):
            if unbatched and tensor.dim() == 2:
                tensor = tensor.unsqueeze(1)
            if tuple(tensor.shape) != expected:
                shape = (f"(num_layers, hidden_size) = {(self.num_layers, self.hidden_size)} for an unbatched input"
                         if unbatched else f"(num_layers, B, hidden_size) = {expected}")
                raise ValueError(f"state {name} must have shape {shape}, got {tuple(tensor.shape)}")
            checked.append(check_state_tensor(f"state {name}", name, tensor, x, autocast, "this module's parameters"))
        return list(zip(*(t.unbind(0) for t in checked)))


def _describe(state: object) -> str:
    """What was passed as a state, for an error message: a Tensor's shape, a tuple's length and kinds."""
    if isinstance(state, Tensor):
        return f"a Tensor of shape {tuple(state.shape)}"
    if isinstance(state, (tuple, list)):
        kinds = ", ".join(type(item).__name__ for item in state)
        return f"a {type(state).__name__} of {len(state)} ({kinds})"
    return f"a {type(state).__name__}"


def _refuse_reverse_direction(module: RecurrentCell, state_dict: dict, prefix: str, *args: object) -> None:
    """Refuse a bidirectional layer's state dict by name, before torch reports its shapes one by one."""
    reverse = [key[len(prefix):] for key in state_dict if key.startswith(prefix) and key.endswith("_reverse")]
    if reverse:
        named = ", ".join(reverse[:2]) + (", …" if len(reverse) > 2 else "")
        raise ValueError(
            f"this state_dict is a bidirectional layer's (it has {named}): "
            f"RecurrentCell runs one direction, forwards, and a reverse direction, which reads each sequence from "
            f"its end, cannot run one step at a time. Load it into rnnkit.Recurrent(..., bidirectional=True)"
        )
