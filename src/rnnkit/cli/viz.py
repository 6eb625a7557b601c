"""``rnnkit viz``: diagnostics as pictures and numbers; ``rnnkit viz gradients``, the gradient flow through time;
``rnnkit viz gates``, the gate saturation of a trained language model; ``rnnkit viz neurons``, a page of
neuron activations over a text."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from ..cells import cell_names
from ..training import CheckpointError
from ..viz import (ClippingConfig, ClippingRuns, GateSaturation, GateSaturationConfig, GradientFlow, GradientFlowConfig, RunGradientFlowConfig,
                   clipping_runs, gate_saturation, gradient_flow, plot_clipping, plot_gate_saturation, plot_gradient_flow,
                   run_gradient_flow)
from ..viz.gates import DEFAULT_LENGTH as GATES_LENGTH, LEFT, RIGHT
from ..viz.neurons import DEFAULT_LENGTH as NEURONS_LENGTH, NeuronConfig, neuron_activations, write_page
from . import options

DEFAULTS = GradientFlowConfig()

GRADIENTS_EXAMPLES = """examples:
  rnnkit viz gradients
      rnn_tanh, irnn, lstm and gru at their default initialisation: gradient-flow.png, .csv, .json
  rnnkit viz gradients --cells rnn_tanh,lstm --forget-bias 5 --steps 100
      the LSTM's cell path keeps ‖∂L/∂c_t‖ flat where the Elman RNN's gradient vanishes
  rnnkit viz gradients --cells rnn_tanh --init orthogonal --scale-whh 1.5 --input-scale 0.001 --steps 15
      every singular value of W_hh 1.5, tanh near-linear: the gradient explodes going back
  rnnkit viz gradients --cells rnn_tanh --scale-whh 0.5 --out runs/vanish
      σ_max(W_hh) = 0.5: the gradient shrinks at least twofold per step
  rnnkit viz gradients --clip 1 --scale-whh 1.8 --lr 0.3 --steps 30
      train rnn_tanh and lstm on the adding problem twice, unclipped and clipped at norm 1: the gradient
      norm at every step, and what the clipped run avoids (clipping.png, .csv, .json with --out clipping)
  rnnkit viz gradients runs/demo --text some_module.py --steps 100
      a trained language model: its real loss on the next character, backpropagated through every layer
"""

GATES_EXAMPLES = """examples:
  rnnkit viz gates runs/demo --text input.txt
      the first 5000 tokens of input.txt: gate-saturation.png, .csv, .json
  rnnkit viz gates runs/words --text valid.txt --length 20000 --out runs/words/gates
      a word-level run over 20000 words; the files go beside the run
"""

NEURONS_EXAMPLES = """examples:
  rnnkit viz neurons runs/demo --text some_module.py
      neurons.html: the first 2000 characters coloured by any neuron, with the neurons that track quotes,
      bracket depth, indentation, line position and line ends; open it in a browser (no network needed)
  rnnkit viz neurons runs/demo --text input.txt --length 5000 --out runs/demo/neurons.html
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    viz = subparsers.add_parser(
        "viz", help="diagnostics: gradient flow through time, gate saturation, neuron pages",
        description="Diagnostics that make the notes' arguments visible, as a PNG and the numbers behind it.",
        epilog="examples:\n  rnnkit viz gradients\n  rnnkit viz gradients --cells rnn_tanh,lstm --forget-bias 5\n"
               "  rnnkit viz gates runs/demo --text input.txt\n  rnnkit viz neurons runs/demo --text input.txt\n"
               "  rnnkit viz gradients --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    viz.set_defaults(func=lambda args: _missing_diagnostic(viz))
    diagnostics = viz.add_subparsers(dest="diagnostic", metavar="DIAGNOSTIC")
    parser = diagnostics.add_parser(
        "gradients", help="‖∂L_T/∂h_t‖ for t = T … 1 of freshly initialised cells (vanishing, exploding)",
        description="Backpropagate a loss on the last step's hidden state of a random sequence through a freshly "
                    "initialised single-layer network of each cell, and measure the gradient's norm at every step "
                    "back (‖∂L_T/∂h_t‖, and ‖∂L_T/∂c_t‖ for the LSTM family; mean over the batch of each "
                    "sequence's norm, in float64), with the largest singular value of each H×H block of W_hh. "
                    "Writes PREFIX.png (log scale), PREFIX.csv (the curves) and PREFIX.json (everything).",
        epilog=GRADIENTS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="measure a trained language-model run "
                        "instead (its loss on the token after T steps of --text, through every layer)")
    parser.add_argument("--text", metavar="FILE", help="with RUN_DIR: the text whose windows are read")
    parser.add_argument("--cells", type=_cell_list, default=DEFAULTS.cells, metavar="NAMES",
                        help=f"comma-separated cells (default {','.join(DEFAULTS.cells)}; `rnnkit cells` lists all)")
    parser.add_argument("--steps", type=_at_least_two, default=DEFAULTS.steps, metavar="T",
                        help=f"sequence length, at least 2 (default {DEFAULTS.steps})")
    parser.add_argument("--hidden", type=options.positive_int, default=DEFAULTS.hidden_size, metavar="H",
                        help=f"hidden size, also the input size (default {DEFAULTS.hidden_size})")
    parser.add_argument("--batch", type=options.positive_int, default=DEFAULTS.batch_size, metavar="B",
                        help=f"random sequences averaged over (default {DEFAULTS.batch_size})")
    parser.add_argument("--init", choices=["default", "orthogonal", "identity"], default="default",
                        help="initialisation: each cell's default, each W_hh block orthogonal, or identity")
    parser.add_argument("--scale-whh", type=_positive_float, default=DEFAULTS.scale_whh, metavar="S",
                        help="rescale each H×H block of W_hh so that its largest singular value is S "
                             "(S > 1 can explode, S < 1 vanishes)")
    parser.add_argument("--forget-bias", type=float, default=DEFAULTS.forget_bias, metavar="B",
                        help="initial forget-gate bias of the LSTM family (other cells ignore it)")
    parser.add_argument("--input-scale", type=_positive_float, default=DEFAULTS.input_scale, metavar="X",
                        help=f"standard deviation of the random inputs (default {DEFAULTS.input_scale:g}; "
                             "small keeps tanh near-linear)")
    parser.add_argument("--clip", type=_positive_float, metavar="C", help="instead: train each cell by SGD on the "
                        "adding problem (T = --steps) twice from the same start, unclipped and with the gradient's "
                        "global norm clipped at C, and plot ‖g‖ and the loss per step (Pascanu et al. 2013)")
    parser.add_argument("--train-steps", type=options.positive_int, default=ClippingConfig.steps, metavar="N",
                        help=f"with --clip: SGD steps per run (default {ClippingConfig.steps})")
    parser.add_argument("--lr", type=_positive_float, default=ClippingConfig.lr, metavar="LR",
                        help=f"with --clip: the SGD learning rate (default {ClippingConfig.lr:g})")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed, metavar="N",
                        help=f"seed of the weights, inputs and loss projection (default {DEFAULTS.seed})")
    parser.add_argument("--out", default="gradient-flow", metavar="PREFIX",
                        help="write PREFIX.png, PREFIX.csv and PREFIX.json (default gradient-flow)")
    options.add_threads(parser)
    parser.set_defaults(func=run)
    _register_gates(diagnostics)
    _register_neurons(diagnostics)


def _register_gates(diagnostics: argparse._SubParsersAction) -> None:
    parser = diagnostics.add_parser(
        "gates", help="how often each σ gate of a trained language model is nearly shut (< 0.1) or open (> 0.9)",
        description="Run a language-model run's recurrent layer over the first N tokens of a text (its own "
                    "tokenizer and embedding, eval mode, one sequence from a zero state) and count, per layer, "
                    f"σ gate and unit, the fraction of steps where the gate is left-saturated (< {LEFT:g}) and "
                    f"right-saturated (> {RIGHT:g}), as in Karpathy, Johnson & Fei-Fei 2015. Only σ gates: i, f, "
                    "o of the LSTM family, r, z of the GRU family (tanh candidates are left out); a cell without "
                    "gates (rnn_tanh, rnn_relu, irnn) is refused. Prints the mean fractions per layer and gate and "
                    "writes PREFIX.png (one scatter panel per layer and gate, a point per unit), PREFIX.csv (layer, "
                    "gate, unit, left, right) and PREFIX.json (everything).",
        epilog=GATES_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a language-model run directory (`rnnkit train lm`)")
    parser.add_argument("--text", required=True, metavar="FILE", help="the text to run the model over")
    parser.add_argument("--length", type=options.positive_int, default=GATES_LENGTH, metavar="N",
                        help=f"read at most N tokens (characters or words) of the text (default {GATES_LENGTH})")
    parser.add_argument("--out", default="gate-saturation", metavar="PREFIX",
                        help="write PREFIX.png, PREFIX.csv and PREFIX.json (default gate-saturation)")
    options.add_threads(parser)
    parser.set_defaults(func=run_gates)


def _register_neurons(diagnostics: argparse._SubParsersAction) -> None:
    parser = diagnostics.add_parser(
        "neurons", help="a page of a character-level model's neurons over a text, and the ones that track quotes, "
                        "brackets, indentation",
        description="Run a character-level language-model run over the first N characters of a text (one sequence "
                    "from a zero state, eval mode), record every layer's h (and c) and the next-character "
                    "predictions, rank every neuron by its correlation with properties of the text (inside a "
                    "string, bracket depth, indentation, position in the line, end of line; Karpathy, Johnson & "
                    "Fei-Fei 2015), print the best of each, and write one self-contained HTML page: the text "
                    "coloured by a chosen neuron, predictions on hover, and the neurons that are on in a selected "
                    "span and off elsewhere (LSTMVis's pattern search).",
        epilog=NEURONS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a character-level language-model run (`rnnkit train lm`)")
    parser.add_argument("--text", required=True, metavar="FILE", help="the text to run the model over")
    parser.add_argument("--length", type=_at_least_two, default=NEURONS_LENGTH, metavar="N",
                        help=f"read at most N characters of the text (default {NEURONS_LENGTH})")
    parser.add_argument("--top", type=options.positive_int, default=10, metavar="K",
                        help="neurons listed per property (default 10)")
    parser.add_argument("--out", default="neurons.html", metavar="FILE", help="the page (default neurons.html)")
    parser.add_argument("--json", metavar="FILE", help="also write the ranked neurons as JSON")
    options.add_threads(parser)
    parser.set_defaults(func=run_neurons)


def run_neurons(args: argparse.Namespace) -> int:
    try:
        result = neuron_activations(NeuronConfig(args.run_dir, args.text, args.length, top=args.top))
    except (CheckpointError, ValueError, UnicodeDecodeError) as error:
        print(f"rnnkit viz neurons: error: {error}", file=sys.stderr)
        return 2
    width = max(len(name) for name in result.names)
    for prop, trackers in result.trackers.items():
        best = "   ".join(f"{t.neuron:<{width}} r = {t.correlation:+.3f}" for t in trackers[:3])
        print(f"{prop:<14} {best}")
    print(f"wrote {write_page(result, args.out)}", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(result.to_json())
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def run_gates(args: argparse.Namespace) -> int:
    try:
        result = gate_saturation(GateSaturationConfig(run_dir=args.run_dir, text=args.text, length=args.length))
    except (CheckpointError, ValueError) as error:
        print(f"rnnkit viz gates: error: {error}", file=sys.stderr)
        return 2
    print(_gates_table(result))
    for path in _write(result, args.out, plot_gate_saturation):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.run_dir is not None:
        return _run_trained(args)
    if args.clip is not None:
        return _run_clipping(args)
    if args.text is not None:
        print("rnnkit viz gradients: error: --text is read with a RUN_DIR (a trained run); without one the "
              "inputs are random", file=sys.stderr)
        return 2
    config = GradientFlowConfig(
        cells=args.cells, steps=args.steps, hidden_size=args.hidden, batch_size=args.batch,
        init=None if args.init == "default" else args.init, scale_whh=args.scale_whh,
        forget_bias=args.forget_bias, input_scale=args.input_scale, seed=args.seed,
    )
    result = gradient_flow(config)
    print(_table(result))
    for path in _write(result, args.out, plot_gradient_flow):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _run_trained(args: argparse.Namespace) -> int:
    fresh_only = [name for name, value, default in [
        ("--init", args.init, "default"), ("--scale-whh", args.scale_whh, DEFAULTS.scale_whh),
        ("--forget-bias", args.forget_bias, DEFAULTS.forget_bias), ("--cells", args.cells, DEFAULTS.cells)]
        if value != default]
    try:
        if fresh_only:
            raise ValueError(f"{' '.join(fresh_only)} set up fresh initialisations; a trained run keeps its own "
                             f"cell and weights")
        if args.text is None:
            raise ValueError("a trained run needs --text FILE: the text whose windows are backpropagated through")
        result = run_gradient_flow(RunGradientFlowConfig(args.run_dir, args.text, steps=args.steps,
                                                         batch_size=args.batch))
    except (CheckpointError, ValueError, UnicodeDecodeError) as error:
        print(f"rnnkit viz gradients: error: {error}", file=sys.stderr)
        return 2
    print(_table(result))
    for path in _write(result, args.out, plot_gradient_flow):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _run_clipping(args: argparse.Namespace) -> int:
    config = ClippingConfig(cells=args.cells, clip=args.clip, steps=args.train_steps, length=args.steps,
                            hidden_size=args.hidden, batch_size=args.batch, lr=args.lr, scale_whh=args.scale_whh,
                            seed=args.seed)
    result = clipping_runs(config)
    print(_clipping_table(result))
    out = "clipping" if args.out == "gradient-flow" else args.out
    for path in _write(result, out, plot_clipping):
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _clipping_table(result: ClippingRuns) -> str:
    """One row per cell and run: largest ‖g‖, steps clipped, steps run, first and last loss."""
    rows = [f"{'cell':<12}  {'run':<12}  {'max ‖g‖':>10}  {'clipped':>7}  {'steps':>5}  {'loss first':>10}  "
            f"{'loss last':>10}"]
    for run in result.runs:
        name = f"clip {result.config.clip:g}" if run.clipped else "no clipping"
        rows.append(f"{run.cell:<12}  {name:<12}  {max(run.grad_norm):>10.3e}  {run.clipped_steps:>7}  "
                    f"{len(run.loss):>5}  {run.loss[0]:>10.4f}  {run.loss[-1]:>10.4g}")
    return "\n".join(rows)


def _missing_diagnostic(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _table(result: GradientFlow) -> str:
    """One row per cell: σ_max (largest over W_hh's blocks), ‖∂L/∂h_T‖, ‖∂L/∂h_1‖ and their ratio."""
    width = max(len("cell"), *(len(cell.cell) for cell in result.cells))
    rows = [f"{'cell':<{width}}  {'σ_max(W_hh)':>11}  {'‖∂L/∂h_T‖':>10}  {'‖∂L/∂h_1‖':>10}  {'h_1 / h_T':>10}"]
    for cell in result.cells:
        rows.append(f"{cell.cell:<{width}}  {max(cell.sigma_max):>11.3f}  {cell.grad_h[-1]:>10.3e}  "
                    f"{cell.grad_h[0]:>10.3e}  {cell.ratio:>10.3e}")
    return "\n".join(rows)


def _write(result: GradientFlow | GateSaturation | ClippingRuns, prefix: str, plot: Callable[..., None]) -> list[Path]:
    """PREFIX.png (drawn by ``plot``), PREFIX.csv and PREFIX.json of a diagnostic's result."""
    base = Path(prefix)
    base.parent.mkdir(parents=True, exist_ok=True)
    png, table, record = (base.with_name(base.name + suffix) for suffix in (".png", ".csv", ".json"))
    plot(result, png)
    table.write_text(result.to_csv())
    record.write_text(result.to_json())
    return [png, table, record]


def _gates_table(result: GateSaturation) -> str:
    """One row per layer and σ gate: the mean over its units of the left- and right-saturated fractions."""
    rows = [f"{'layer':>5}  {'gate':<4}  {'units':>5}  {f'< {LEFT:g}':>7}  {f'> {RIGHT:g}':>7}"]
    for gate in result.gates:
        rows.append(f"{gate.layer:>5}  {gate.gate:<4}  {len(gate.left):>5}  {gate.mean_left:>7.3f}  "
                    f"{gate.mean_right:>7.3f}")
    return "\n".join(rows)


def _cell_list(text: str) -> tuple[str, ...]:
    """argparse type: comma-separated registered cell names."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected at least one cell name")
    for name in names:
        if name not in cell_names():
            raise argparse.ArgumentTypeError(f"unknown cell {name!r}; choose from {', '.join(cell_names())}")
    return names


def _at_least_two(text: str) -> int:
    value = options.positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (a gradient needs steps to flow back through), "
                                         f"got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value:g}")
    return value
