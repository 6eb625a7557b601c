"""The bptt engine: hand-derived backward through time, proven against gradcheck, autograd and torch.

Every cell whose ``supports_bptt`` is true is covered, so cells added later are tested as soon as they
give their analytic derivative. Sizes are tiny and float64; expected values always come from a
reference (the autograd engine, PyTorch's fused kernels, finite differences in gradcheck).
"""

from __future__ import annotations

import pytest
import torch
import torch.utils.checkpoint
from torch import Tensor
from torch.func import functional_call

import rnnkit
from rnnkit import engines
from rnnkit.cells import Cell, Params, State, get_cell_class

HIDDEN = 3
# The engines with the cells' hand-derived backward: every test of exactness and autograd behaviour
# runs on both.
BPTT_ENGINES = pytest.mark.parametrize("engine", ["bptt", "bptt-recompute"])
STANDARD = ["rnn_tanh", "rnn_relu", "irnn", "lstm", "gru"]          # cells with a fused PyTorch kernel


def input_size(name: str) -> int:
    """2, or H for the cells whose equations use x_t as a hidden-size vector (MUT1, MUT2)."""
    return HIDDEN if get_cell_class(name).needs_square_input else 2


def bptt_cells() -> list[str]:
    """Every registered cell that provides its analytic derivative."""
    return [n for n in rnnkit.cell_names() if get_cell_class(n)(input_size(n), HIDDEN).supports_bptt]


def stack_cases(stacks: list[tuple[int, bool]]) -> list[tuple[str, int, bool]]:
    """(cell, num_layers, bidirectional) for every bptt cell and each of ``stacks`` it can be built as.

    A cell that needs I = H cannot have a second bidirectional layer (it would read 2·H features):
    it gets one bidirectional layer there instead.
    """
    cases = []
    for name in bptt_cells():
        for num_layers, bidirectional in stacks:
            if get_cell_class(name).needs_square_input and num_layers == 2 and bidirectional:
                num_layers = 1
            if (name, num_layers, bidirectional) not in cases:
                cases.append((name, num_layers, bidirectional))
    return cases


GRADCHECK_STACKS = stack_cases([(2, False), (2, True)])
ALL_STACKS = stack_cases([(1, False), (2, False), (1, True), (2, True)])


def make_layer(name: str, engine: str, num_layers: int = 1, bidirectional: bool = False,
               bias: bool = True, dtype: torch.dtype = torch.float64, hidden: int = HIDDEN) -> rnnkit.Recurrent:
    """A layer with every parameter uniform in ±0.8 (the same for every engine).

    Not the cells' own initialisation: the IRNN's starts with pre-activations near 0, where finite
    differences would straddle ReLU's kink.
    """
    torch.manual_seed(0)
    square = get_cell_class(name).needs_square_input
    layer = rnnkit.Recurrent(name, hidden if square else 2, hidden, num_layers=num_layers, bias=bias,
                             bidirectional=bidirectional, engine=engine, dtype=dtype)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.uniform_(-0.8, 0.8)
    return layer


def make_inputs(layer: rnnkit.Recurrent, steps: int = 4, batch: int = 3,
                dtype: torch.dtype = torch.float64) -> tuple[Tensor, tuple[Tensor, ...]]:
    """An input and an initial state (h_0, or h_0 and c_0), all requiring grad."""
    generator = torch.Generator().manual_seed(1)
    rows = layer.num_layers * layer.num_directions
    x = torch.randn(steps, batch, layer.input_size, generator=generator, dtype=dtype).requires_grad_()
    hx = tuple(torch.randn(rows, batch, layer.hidden_size, generator=generator, dtype=dtype).requires_grad_()
               for _ in range(layer.state_size))
    return x, hx


def run(layer: rnnkit.Recurrent, x: Tensor, hx: tuple[Tensor, ...], lengths: Tensor | None) -> tuple[Tensor, ...]:
    """output, h_n (, c_n) as one flat tuple."""
    output, state = layer(x, hx if layer.state_size == 2 else hx[0], lengths)
    return (output, *(state if layer.state_size == 2 else (state,)))


def gradients(layer: rnnkit.Recurrent, x: Tensor, hx: tuple[Tensor, ...], lengths: Tensor | None,
              into: str) -> tuple[tuple[Tensor, ...], list[Tensor]]:
    """Results and every gradient (x, initial states, parameters) for a random linear loss.

    ``into`` picks where the gradient enters: ``"all"`` outputs, only the ``"output"`` sequence, or
    only the ``"final"`` state(s) h_n (, c_n).
    """
    results = run(layer, x, hx, lengths)
    generator = torch.Generator().manual_seed(2)
    # Drawn in float64 whatever the dtype, so that a bfloat16 run weighs its results as float64 does.
    weights = [torch.randn(r.shape, generator=generator, dtype=torch.float64).to(r.dtype) for r in results]
    terms = [(r * w).sum() for r, w in zip(results, weights)]
    loss = sum({"all": terms, "output": terms[:1], "final": terms[1:]}[into])
    inputs = [x, *hx, *layer.parameters()]
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return results, [g if g is not None else torch.zeros_like(i) for g, i in zip(grads, inputs)]


def assert_all_close(ours: list[Tensor] | tuple[Tensor, ...], reference: list[Tensor] | tuple[Tensor, ...],
                     tolerance: float, what: str, rtol: float = 0.0) -> None:
    assert len(ours) == len(reference)
    for index, (a, b) in enumerate(zip(ours, reference)):
        torch.testing.assert_close(a, b, atol=tolerance, rtol=rtol, msg=lambda m: f"{what} #{index}: {m}")


LENGTHS = torch.tensor([4, 1, 3])


# --------------------------------------------------------------------------------------------------
# Exactness


@BPTT_ENGINES
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("name, num_layers, bidirectional", GRADCHECK_STACKS)
def test_gradcheck_whole_layer(engine, name, num_layers, bidirectional, with_lengths):
    """Finite differences agree with the bptt backward for inputs, initial states and parameters,
    with gradients flowing into the output and into h_n (c_n) at once."""
    layer = make_layer(name, engine, num_layers, bidirectional)
    x, hx = make_inputs(layer, steps=3)
    lengths = torch.tensor([3, 1, 2]) if with_lengths else None
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def layer_function(x, *rest):
        states, values = rest[: len(hx)], rest[len(hx):]
        return run_functional(layer, dict(zip(names, values)), x, states, lengths)

    assert torch.autograd.gradcheck(layer_function, (x, *hx, *params), fast_mode=True)


def run_functional(layer, params, x, states, lengths):
    hx = states if layer.state_size == 2 else states[0]
    output, state = functional_call(layer, params, (x, hx, lengths))
    return (output, *(state if layer.state_size == 2 else (state,)))


@BPTT_ENGINES
@pytest.mark.parametrize("name", bptt_cells())
def test_gradcheck_full_jacobian_single_layer(engine, name):
    """The complete Jacobian (not fast mode's random projection) of one layer with padding."""
    layer = make_layer(name, engine, hidden=2)
    x, hx = make_inputs(layer, steps=3, batch=2)
    lengths = torch.tensor([3, 2])
    names = [n for n, _ in layer.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in layer.parameters()]

    def layer_function(x, *rest):
        states, values = rest[: len(hx)], rest[len(hx):]
        return run_functional(layer, dict(zip(names, values)), x, states, lengths)

    assert torch.autograd.gradcheck(layer_function, (x, *hx, *params))


@BPTT_ENGINES
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("name, num_layers, bidirectional", ALL_STACKS)
def test_bptt_equals_autograd(engine, name, num_layers, bidirectional, with_lengths):
    """Outputs, final states and every gradient agree with the autograd engine to 1e-10."""
    check_against_autograd(engine, name, num_layers, bidirectional, LENGTHS if with_lengths else None, "all")


@BPTT_ENGINES
@pytest.mark.parametrize("into", ["output", "final"])
@pytest.mark.parametrize("name", bptt_cells())
def test_bptt_equals_autograd_with_gradient_into_one_end_only(engine, name, into):
    """Only the output sequence, or only h_n (c_n), receives a gradient (the other arrives as None)."""
    check_against_autograd(engine, name, 1, True, LENGTHS, into)


def check_against_autograd(engine: str, name: str, num_layers: int, bidirectional: bool, lengths: Tensor | None,
                           into: str) -> None:
    reference = make_layer(name, "autograd", num_layers, bidirectional)
    layer = make_layer(name, engine, num_layers, bidirectional)
    layer.load_state_dict(reference.state_dict())
    x, hx = make_inputs(layer)
    results, grads = gradients(layer, x, hx, lengths, into)
    ref_results, ref_grads = gradients(reference, x, hx, lengths, into)
    assert_all_close(results, ref_results, 1e-10, "result")
    assert_all_close(grads, ref_grads, 1e-10, "gradient")


@BPTT_ENGINES
@pytest.mark.parametrize("name", bptt_cells())
def test_bptt_equals_autograd_without_bias(engine, name):
    reference = make_layer(name, "autograd", bias=False)
    layer = make_layer(name, engine, bias=False)
    layer.load_state_dict(reference.state_dict())
    x, hx = make_inputs(layer)
    results, grads = gradients(layer, x, hx, LENGTHS, "all")
    ref_results, ref_grads = gradients(reference, x, hx, LENGTHS, "all")
    assert_all_close(results, ref_results, 1e-10, "result")
    assert_all_close(grads, ref_grads, 1e-10, "gradient")


@BPTT_ENGINES
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("name", STANDARD)
def test_bptt_equals_fused_for_standard_cells(engine, name, with_lengths):
    """Against PyTorch's own kernel, two bidirectional layers."""
    lengths = LENGTHS if with_lengths else None
    reference = make_layer(name, "fused", 2, True)
    layer = make_layer(name, engine, 2, True)
    layer.load_state_dict(reference.state_dict())
    x, hx = make_inputs(layer)
    results, grads = gradients(layer, x, hx, lengths, "all")
    ref_results, ref_grads = gradients(reference, x, hx, lengths, "all")
    assert_all_close(results, ref_results, 1e-10, "result")
    assert_all_close(grads, ref_grads, 1e-10, "gradient")


@BPTT_ENGINES
@pytest.mark.parametrize("name", bptt_cells())
def test_frozen_parameters_still_give_input_gradients(engine, name):
    """With every parameter frozen, ∂L/∂x and ∂L/∂h_0 still match autograd."""
    reference = make_layer(name, "autograd")
    layer = make_layer(name, engine)
    layer.load_state_dict(reference.state_dict())
    for module in (layer, reference):
        module.requires_grad_(False)
    x, hx = make_inputs(layer)
    grads = [torch.autograd.grad(run(m, x, hx, LENGTHS)[0].square().sum(), [x, *hx]) for m in (layer, reference)]
    assert_all_close(grads[0], grads[1], 1e-10, "gradient")


# --------------------------------------------------------------------------------------------------
# Autograd behaviour


@BPTT_ENGINES
def test_second_backward_without_retain_graph_raises(engine):
    layer = make_layer("lstm", engine)
    x, hx = make_inputs(layer)
    loss = run(layer, x, hx, None)[0].sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


@BPTT_ENGINES
def test_second_backward_with_retain_graph_accumulates_the_same_gradient(engine):
    layer = make_layer("gru", engine)
    x, hx = make_inputs(layer)
    loss = run(layer, x, hx, LENGTHS)[0].sum()
    loss.backward(retain_graph=True)
    first = [x.grad.clone(), *(p.grad.clone() for p in layer.parameters())]
    loss.backward()
    second = [x.grad, *(p.grad for p in layer.parameters())]
    assert_all_close(second, [2 * g for g in first], 1e-12, "accumulated gradient")


def saved_tensor_count(function) -> int:
    """How many tensors autograd is asked to keep while ``function`` runs."""
    count = 0

    def pack(tensor: Tensor) -> Tensor:
        nonlocal count
        count += 1
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function()
    return count


@BPTT_ENGINES
@pytest.mark.parametrize("name", ["lstm", "gru_cho"])
def test_no_grad_inference_keeps_nothing_and_gives_the_same_outputs(engine, name):
    layer = make_layer(name, engine, bidirectional=True)
    x, hx = make_inputs(layer)
    with_graph = run(layer, x, hx, LENGTHS)
    assert saved_tensor_count(lambda: run(layer, x, hx, LENGTHS)) > 0
    with torch.no_grad():
        assert saved_tensor_count(lambda: run(layer, x, hx, LENGTHS)) == 0
        results = run(layer, x, hx, LENGTHS)
    assert all(r.grad_fn is None for r in results)
    assert_all_close(results, [r.detach() for r in with_graph], 0.0, "result")


@BPTT_ENGINES
def test_nothing_requiring_grad_keeps_nothing(engine):
    layer = make_layer("lstm", engine).requires_grad_(False)
    x, hx = make_inputs(layer)
    x, hx = x.detach(), tuple(h.detach() for h in hx)
    assert saved_tensor_count(lambda: run(layer, x, hx, None)) == 0


def saved_bytes(layer: rnnkit.Recurrent, x: Tensor, hx: tuple[Tensor, ...]) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of ``layer``, its parameters,
    input and initial state left out: the activations the engine saved."""
    excluded = {t.untyped_storage().data_ptr() for t in (x, *hx, *layer.parameters())}
    storages = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run(layer, x, hx, None)
    return sum(storages.values())


def test_saved_activations_are_fewer_than_autograds():
    """The bptt engine keeps less for the backward than autograd does (LSTM: 6 vs 7 T·B·H)."""
    sizes = {}
    for engine in ("bptt", "autograd"):
        layer = make_layer("lstm", engine)
        x, hx = make_inputs(layer, steps=8)
        sizes[engine] = saved_bytes(layer, x, hx)
    assert sizes["bptt"] < sizes["autograd"]


@pytest.mark.parametrize("name", [n for n in bptt_cells() if get_cell_class(n).gates > 1])
def test_recompute_keeps_at_most_half_of_autograds_activations(name):
    """bptt-recompute keeps the states alone (LSTM: h, c against autograd's gates, c, tanh c, …).

    Elman cells are left out: autograd keeps only h for them too, which is already the least a
    backward can start from (h_{t-1} is what dW_hh is made of).
    """
    sizes = {}
    for engine in ("bptt-recompute", "bptt", "autograd"):
        layer = make_layer(name, engine, hidden=8)
        x, hx = make_inputs(layer, steps=10, batch=4)
        sizes[engine] = saved_bytes(layer, x, hx)
    assert sizes["bptt-recompute"] <= 0.5 * sizes["autograd"]
    assert sizes["bptt-recompute"] < sizes["bptt"]


def test_lstm_keeps_its_gates_in_wx_without_a_second_block():
    """The LSTM writes its gates over wx_t: bptt keeps wx (T·B·4H) and the two state buffers
    ((T+1)·B·H each), and nothing else."""
    layer = make_layer("lstm", "bptt")
    x, hx = make_inputs(layer, steps=8, batch=3)
    steps, batch, hidden = x.size(0), x.size(1), layer.hidden_size
    elements = steps * batch * 4 * hidden + 2 * (steps + 1) * batch * hidden
    assert saved_bytes(layer, x, hx) == elements * x.element_size()


def saved_of_shape(layer: rnnkit.Recurrent, x: Tensor, shape: tuple[int, ...]) -> tuple[Tensor, list[Tensor]]:
    """``layer(x)``'s output, and the tensors of ``shape`` its forward kept for the backward."""
    kept = []

    def pack(tensor: Tensor) -> Tensor:
        if tensor.shape == shape:
            kept.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output, _ = layer(x)
    return output, kept


@pytest.mark.parametrize("retain", [False, True])
def test_dwx_is_written_over_the_gates_in_wx_unless_the_graph_is_retained(retain):
    """After a backward that frees the graph, the memory that held the LSTM's gates holds ∂L/∂wx
    (no second T·B·4H block); a retained graph keeps its gates for the next backward."""
    layer = make_layer("lstm", "bptt", bias=False)
    x = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    output, (wx,) = saved_of_shape(layer, x, (5, 3, 4 * layer.hidden_size))
    gates = wx.clone()
    output.sum().backward(retain_graph=retain)
    if retain:
        torch.testing.assert_close(wx, gates, rtol=0, atol=0)
    else:
        # x.grad = ∂L/∂wx · W_ih (no bias: the projection is W_ih x alone).
        torch.testing.assert_close(wx.flatten(0, 1) @ layer.weight_ih_l0, x.grad.flatten(0, 1), rtol=0, atol=1e-12)


def test_ln_lstm_writes_its_recurrent_delta_over_the_saved_product():
    """ln_lstm's weight gradients read no saved tensor, so after a backward that frees the graph the
    block that held W_h h_{t-1} holds ∂L/∂(W_h h_{t-1}), whose product with h_{t-1} is dW_hh."""
    layer = make_layer("ln_lstm", "bptt")
    x = torch.randn(5, 3, 2, dtype=torch.float64, requires_grad=True)
    output, blocks = saved_of_shape(layer, x, (5, 3, 4 * layer.hidden_size))
    h_prev = torch.cat([torch.zeros(1, 3, layer.hidden_size, dtype=torch.float64), output[:-1].detach()])
    products = [b for b in blocks if torch.allclose(b, h_prev @ layer.weight_hh_l0.detach().T, rtol=0, atol=1e-12)]
    assert len(products) == 1
    output.sum().backward()
    torch.testing.assert_close(products[0].flatten(0, 1).T @ h_prev.flatten(0, 1), layer.weight_hh_l0.grad,
                               rtol=0, atol=1e-12)


@BPTT_ENGINES
@pytest.mark.parametrize("reentrant", [False, True])
@pytest.mark.parametrize("name", ["lstm", "ln_lstm", "gru"])
def test_activation_checkpointing_gives_autograds_gradients(engine, name, reentrant):
    """Under torch.utils.checkpoint the saved tensors are rebuilt in the backward; writing ∂L/∂wx
    and the deltas over them must still give autograd's gradients, whichever checkpoint flavour."""
    reference = make_layer(name, "autograd")
    layer = make_layer(name, engine)
    x, _ = make_inputs(reference)
    reference(x)[0].pow(2).sum().backward()
    expected = [x.grad.clone(), *(p.grad for p in reference.parameters())]
    x.grad = None
    output = torch.utils.checkpoint.checkpoint(lambda inputs: layer(inputs)[0], x, use_reentrant=reentrant)
    output.pow(2).sum().backward()
    assert_all_close([x.grad, *(p.grad for p in layer.parameters())], expected, 1e-12, "gradient")


class IdentityProjectionLSTM(get_cell_class("lstm")):
    """The LSTM with wx = x itself (I = 4H): its bptt_forward writes its gates over wx_t."""

    name = "identity_projection_test_lstm"

    def project(self, x: Tensor, p: Params) -> Tensor:
        return x


@pytest.mark.parametrize("engine", ["bptt", "bptt-recompute", "bptt-no-grad"])
def test_a_projection_returning_x_leaves_the_callers_input_alone(engine):
    """The cell overwrites wx_t in place; when wx is the layer's input, that must not reach it."""
    torch.manual_seed(0)
    reference = rnnkit.Recurrent(IdentityProjectionLSTM, 8, 2, engine="autograd", dtype=torch.float64)
    layer = rnnkit.Recurrent(IdentityProjectionLSTM, 8, 2, engine=engine.removesuffix("-no-grad"),
                             dtype=torch.float64)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(5, 3, 8, dtype=torch.float64, requires_grad=engine != "bptt-no-grad")
    before = x.detach().clone()
    with torch.set_grad_enabled(engine != "bptt-no-grad"):
        output, _ = layer(x)
        if x.requires_grad:
            (grad,) = torch.autograd.grad(output.sum(), x)
    torch.testing.assert_close(x.detach(), before, rtol=0, atol=0)
    expected, _ = reference(x)
    torch.testing.assert_close(output, expected.detach() if not x.requires_grad else expected, rtol=0, atol=1e-12)
    if x.requires_grad:
        torch.testing.assert_close(grad, torch.autograd.grad(expected.sum(), x)[0], rtol=0, atol=1e-12)


class TanhProjectionLSTM(get_cell_class("lstm")):
    """The LSTM with wx = tanh(W_ih x): tanh's backward needs its output, which bptt overwrites."""

    name = "tanh_projection_test_lstm"

    def project(self, x: Tensor, p: Params) -> Tensor:
        return torch.tanh(x @ p.weight_ih.T)


def test_a_projection_needing_its_output_fails_loudly_not_silently():
    layer = rnnkit.Recurrent(TanhProjectionLSTM, 3, 2, engine="bptt")
    output, _ = layer(torch.randn(4, 2, 3))
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        output.sum().backward()


@BPTT_ENGINES
def test_one_layer_used_twice_in_one_graph(engine):
    """Two calls of the same layer share its parameters; their gradients add up as under autograd."""
    grads = {}
    for which in (engine, "autograd"):
        layer = make_layer("gru_cho", which)
        x, hx = make_inputs(layer)
        first = run(layer, x, hx, None)
        second = run(layer, x.flip(0), (first[1],), LENGTHS)
        loss = (first[0] * second[0]).sum() + second[1].sum()
        grads[which] = torch.autograd.grad(loss, [x, *hx, *layer.parameters()])
    assert_all_close(grads[engine], grads["autograd"], 1e-10, "gradient")


@BPTT_ENGINES
def test_output_may_be_modified_in_place_like_torch_nn(engine):
    """Scaling the output in place leaves the backward intact, as with torch.nn.LSTM."""
    grads = {}
    for which in (engine, "autograd"):
        layer = make_layer("peephole_lstm", which)
        x, hx = make_inputs(layer)
        output, _ = layer(x)
        output.mul_(3.0)
        grads[which] = torch.autograd.grad(output.sum(), [x, *layer.parameters()])
    assert_all_close(grads[engine], grads["autograd"], 1e-10, "gradient")


@BPTT_ENGINES
@pytest.mark.parametrize("name", ["lstm", "gru", "gru_cho", "rnn_tanh"])
def test_bfloat16_runs_and_stays_near_float32(engine, name):
    reference = make_layer(name, "autograd", dtype=torch.float32)
    layer = make_layer(name, engine, dtype=torch.bfloat16)
    layer.load_state_dict(reference.state_dict())
    x, hx = make_inputs(reference, steps=5, dtype=torch.float32)
    results, grads = gradients(reference, x, hx, LENGTHS, "all")
    x16 = x.detach().bfloat16().requires_grad_()
    hx16 = tuple(h.detach().bfloat16().requires_grad_() for h in hx)
    results16, grads16 = gradients(layer, x16, hx16, LENGTHS, "all")
    assert all(r.dtype == torch.bfloat16 for r in results16)
    assert all(g.dtype == torch.bfloat16 and g.isfinite().all() for g in grads16)
    # bfloat16 keeps 8 bits of mantissa: agreement to a few hundredths is all it can give.
    assert_all_close([r.float() for r in results16], results, 0.03, "result")
    assert_all_close([g.float() for g in grads16], grads, 0.03, "gradient", rtol=0.03)


# --------------------------------------------------------------------------------------------------
# Engine choice


class StepOnlyCell(Cell):
    """A user-defined cell with only its forward step: h_t = tanh(wx_t + W_hh h_{t-1}) ⊙ 0.5."""

    name = "step_only_test_cell"
    summary = "h = tanh(W x + W_hh h + b) / 2"

    def step(self, wx: Tensor, state: State, p: Params) -> State:
        (h_prev,) = state
        return (0.5 * (wx + h_prev @ p.weight_hh.T).tanh(),)


def test_auto_picks_fused_then_bptt_then_autograd():
    assert engines.resolve("auto", get_cell_class("lstm")(2, 3)) == "fused"
    assert engines.resolve("auto", get_cell_class("gru_cho")(2, 3)) == "bptt"
    assert engines.resolve("auto", StepOnlyCell(2, 3)) == "autograd"


def test_auto_layer_runs_a_non_fused_cell_on_bptt():
    layer = make_layer("gru_cho", "auto")
    x, hx = make_inputs(layer)
    output = run(layer, x, hx, None)[0]
    assert type(output.grad_fn).__name__ == "RecurrenceBackward"


def test_bptt_on_a_cell_without_derivative_raises_naming_it():
    assert not StepOnlyCell(2, 3).supports_bptt
    with pytest.raises(ValueError, match="step_only_test_cell.*autograd"):
        rnnkit.Recurrent(StepOnlyCell, 2, 3, engine="bptt")


def test_step_only_cell_runs_on_auto_and_learns():
    layer = rnnkit.Recurrent(StepOnlyCell, 2, 3, engine="auto")
    output, h_n = layer(torch.randn(4, 2, 2))
    output.sum().backward()
    assert layer.weight_hh_l0.grad is not None and layer.weight_hh_l0.grad.abs().sum() > 0
