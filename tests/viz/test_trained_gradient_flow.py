"""``rnnkit viz gradients RUN_DIR``: the per-layer gradient flow of a trained model equals the gradient of
its loss with respect to the state at step t, computed independently by the layer's own forward."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit import Recurrent
from rnnkit.data import CorpusConfig
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import TrainConfig
from rnnkit.viz import RunGradientFlowConfig, run_gradient_flow

TEXT = "".join(f"for i{k % 5} in range({k % 9}):\n    total += i{k % 5}\n" for k in range(80))


@pytest.fixture(scope="module", params=["lstm", "gru"])
def run_dir(request, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp(f"flow-{request.param}")
    (root / "code.py").write_text(TEXT)
    lm.train(root / "run", CorpusConfig(path=str(root / "code.py")),
             {"hidden_size": 6, "num_layers": 2, "cell": request.param},
             train_config=TrainConfig(steps=10, batch_size=4, seq_len=16, val_tokens=200))
    return root / "run"


def single_layers(model) -> list[Recurrent]:
    """The model's two layers as one-layer Recurrent modules with the same weights."""
    layers = []
    for l in range(model.rnn.num_layers):
        layer = Recurrent(model.rnn.cell_name, model.rnn.input_size if l == 0 else model.rnn.hidden_size,
                          model.rnn.hidden_size, dtype=torch.float64)
        layer.load_state_dict({name.replace(f"_l{l}", "_l0"): value for name, value in model.rnn.state_dict().items()
                               if name.endswith(f"_l{l}")})
        layers.append(layer)
    return layers


def total_c(layer, inputs, t, leaves, grads) -> float:
    """Mean ‖∂L/∂c_t‖ with the path through h_t = o_t ⊙ tanh(c_t) added to the leaf's own gradient."""
    with torch.no_grad():
        o = layer.trace(inputs[:t], gates=True).gates[0]["o"][t - 1]
    c = leaves[1].detach()[0]
    return (grads[1][0] + o * (1 - torch.tanh(c) ** 2) * grads[0][0]).norm(dim=-1).mean().item()


def test_each_layers_curve_is_the_total_gradient_with_respect_to_that_layers_state_at_t(run_dir):
    """Independently: layer 0 is split at step t around a leaf state s; layer 1 then reads layer 0's
    outputs with s's h in place of its output at t, so ∂L/∂h is the total derivative through both paths
    (the next step of layer 0 and layer 1 at step t). Layer 1's own state is split the same way. For
    the LSTM's c the leaf's gradient misses the path c_t → h_t, added from the cell's output gate."""
    steps, batch = 12, 3
    result = run_gradient_flow(RunGradientFlowConfig(str(run_dir), str(run_dir.parent / "code.py"), steps, batch))
    model, tokenizer, _ = lm.load_run(run_dir)
    model = model.double()
    first, second = single_layers(model)
    ids = tokenizer.encode(TEXT)
    starts = torch.linspace(0, len(ids) - steps - 1, batch).long().tolist()
    windows = torch.as_tensor([list(ids[s: s + steps + 1]) for s in starts]).T                    # (T + 1, B)
    x = model.embedding(windows[:-1]).detach()
    lstm = model.rnn.cell_name == "lstm"
    assert [cell.cell for cell in result.cells] == [f"{model.rnn.cell_name} layer {l}" for l in range(2)]

    def loss_of(top):
        return torch.nn.functional.cross_entropy(model.logits(top), windows[-1], reduction="sum")

    def leaf(state):
        return tuple(s.detach().clone().requires_grad_() for s in state) if lstm else state.detach().clone().requires_grad_()

    def h_of(state):
        return state[0] if lstm else state

    for t in (3, 8, steps):                                     # the state after reading x_t
        with torch.no_grad():
            before, state0 = first(x[:t])
        s0 = leaf(state0)
        after = first(x[t:], s0)[0] if t < steps else x.new_zeros(0, batch, first.hidden_size)
        inputs = torch.cat([before[:-1], h_of(s0), after])
        grads = torch.autograd.grad(loss_of(second(inputs)[0][-1]), s0, allow_unused=True)
        grads = tuple(torch.zeros_like(s) if g is None else g for g, s in zip(grads, s0 if lstm else (s0,)))
        assert result.cells[0].grad_h[t - 1] == pytest.approx(grads[0][0].norm(dim=-1).mean().item(), rel=1e-9)
        if lstm:
            assert result.cells[0].grad_c[t - 1] == pytest.approx(total_c(first, x, t, s0, grads), rel=1e-9)
        with torch.no_grad():
            outputs0, _ = first(x)
            _, state1 = second(outputs0[:t])
        s1 = leaf(state1)
        top = second(outputs0[t:], s1)[0][-1] if t < steps else h_of(s1)[0]
        grads = torch.autograd.grad(loss_of(top), s1, allow_unused=True)     # at t = T, c_T reaches L only via h_T
        grads = tuple(torch.zeros_like(s) if g is None else g for g, s in zip(grads, s1 if lstm else (s1,)))
        assert result.cells[1].grad_h[t - 1] == pytest.approx(grads[0][0].norm(dim=-1).mean().item(), rel=1e-9)
        if lstm:
            assert result.cells[1].grad_c[t - 1] == pytest.approx(total_c(second, outputs0, t, s1, grads), rel=1e-9)
    assert (result.cells[1].grad_c is not None) == lstm


def test_the_command_writes_the_figures_and_refuses_fresh_only_options(run_dir, tmp_path, capsys):
    prefix = tmp_path / "flow"
    assert main(["viz", "gradients", str(run_dir), "--text", str(run_dir.parent / "code.py"), "--steps", "10",
                 "--out", str(prefix), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "layer 0" in out and "layer 1" in out
    record = json.loads(prefix.with_suffix(".json").read_text())
    assert record["source"] == str(run_dir) and len(record["cells"]) == 2
    assert prefix.with_suffix(".png").stat().st_size > 5000
    assert main(["viz", "gradients", str(run_dir), "--text", str(run_dir.parent / "code.py"),
                 "--scale-whh", "2"]) == 2
    assert "--scale-whh" in capsys.readouterr().err
    assert main(["viz", "gradients", str(run_dir)]) == 2
    assert "--text" in capsys.readouterr().err
    assert main(["viz", "gradients", "--text", "x.txt"]) == 2
    short = tmp_path / "short.py"
    short.write_text("ab")
    assert main(["viz", "gradients", str(run_dir), "--text", str(short)]) == 2
    assert "at least" in capsys.readouterr().err


def test_the_jacobian_products_norms_equal_torchs_jacobian_and_contract_with_whh():
    from rnnkit.viz import GradientFlowConfig, gradient_flow

    config = GradientFlowConfig(cells=("rnn_tanh", "gru"), steps=6, hidden_size=5, batch_size=2, scale_whh=0.5)
    result = gradient_flow(config)
    for measured in result.cells:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            layer = Recurrent(measured.cell, 5, 5, dtype=torch.float64)
        with torch.no_grad():
            for block in layer.weight_hh_l0.split(5, 0):
                block.mul_(0.5 / torch.linalg.matrix_norm(block, ord=2))
        generator = torch.Generator().manual_seed(config.seed)
        x = torch.randn(6, 2, 5, generator=generator, dtype=torch.float64)
        for t in (1, 3):                                   # ∂h_T/∂h_t by torch.autograd.functional.jacobian
            with torch.no_grad():
                _, h_t = layer(x[:t])

            def h_T(start, b=0):
                return layer(x[t:, b:b + 1], start.view(1, 1, 5))[1].view(5)

            norms = [torch.linalg.matrix_norm(torch.autograd.functional.jacobian(
                lambda s: h_T(s, b), h_t[0, b]), ord=2).item() for b in range(2)]
            assert measured.jacobian[t - 1] == pytest.approx(sum(norms) / 2, rel=1e-9)
        assert measured.jacobian[-1] == pytest.approx(1.0)
    elman = result.cells[0].jacobian
    # σ_max(W_hh) = 0.5 and |tanh′| ≤ 1: each step back at least halves the Jacobian's norm.
    assert all(elman[t] <= 0.5 * elman[t + 1] + 1e-12 for t in range(5))
