"""Forward+backward time of the bptt and autograd engines, per cell, against PyTorch's fused kernels.

For every registered cell (or ``--cells``), at each size, one process times side by side, round-robin
(so that drift on a shared machine hits every contender alike), after warm-up:

- ``fused``: the PyTorch kernel of the cell's family (LSTM family: ``torch.nn.LSTM``; GRU and MUT
  family: ``torch.nn.GRU``; Elman: ``torch.nn.RNN`` with the cell's nonlinearity),
- ``bptt``, ``bptt-recompute`` and ``autograd``: ``rnnkit.Recurrent(cell, engine=…)``,

each ``output.sum().backward()`` on a float32 input that requires grad, and prints median times and
the ratios bptt/fused, recompute/fused, autograd/fused, bptt/autograd, recompute/autograd, each the
median over rounds of the two contenders' times in the same round. Per size it
also times the "GEMM floor": the matrix products of one layer (projection, T recurrent products
forwards and backwards, dW_hh, dx, dW_ih) alone through torch.mm/addmm, for G = 1, 3, 4 gate blocks.
At the first size it measures memory, in a second table: the saved activations (every tensor
autograd keeps for the backward, parameters and input excepted) of each engine, which is what grows
with the number of layers; and the peak memory of one forward+backward of each contender, fused
included, each in a fresh process (Linux: the resident-set high-water mark above the resident size
just before the call, reset through /proc/self/clear_refs). Cells whose equations need I = H (MUT1,
MUT2) run at I = H, their fused reference too.

    python benchmarks/engines.py                                    # full run, both sizes
    python benchmarks/engines.py --sizes 20,8,16,32 --repeats 3 --cells lstm gru   # quick
    python benchmarks/engines.py --json                             # the same as JSON
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
from torch import Tensor, nn

import rnnkit
from rnnkit import engines
from rnnkit.cells import Cell

Size = tuple[int, int, int, int]  # T, B, I, H


def family_module(cell: Cell, input_size: int, hidden_size: int) -> tuple[str, nn.Module]:
    """The torch.nn module whose fused kernel a cell is measured against, and its family's name."""
    mode = cell.fused_mode
    if mode == "LSTM" or (mode is None and len(cell.state_names) == 2):
        return "LSTM", nn.LSTM(input_size, hidden_size)
    if mode == "GRU" or (mode is None and cell.gates > 1):
        return "GRU", nn.GRU(input_size, hidden_size)
    nonlinearity = "relu" if mode == "RNN_RELU" else "tanh"
    return f"RNN_{nonlinearity.upper()}", nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity)


def fwd_bwd(module: nn.Module, x: Tensor) -> Callable[[], None]:
    """One forward and backward of ``module`` on ``x``, gradients cleared first."""

    def run() -> None:
        module.zero_grad(set_to_none=True)
        x.grad = None
        output, _ = module(x)
        output.sum().backward()

    return run


def time_round_robin(runs: dict[str, Callable[[], None]], repeats: int, warmup: int) -> dict[str, list[float]]:
    """Seconds of every timed round of each run, the runs interleaved: a, b, c, a, b, c, …"""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for repetition in range(warmup + repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            if repetition >= warmup:
                times[name].append(time.perf_counter() - start)
    return times


def paired_ratio(times: dict[str, list[float]], a: str, b: str) -> float:
    """The median over rounds of a's time over b's in the same round: a slowdown of the machine that
    lasts a round hits both and cancels, which a ratio of two medians does not guarantee."""
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def gemm_floor(size: Size, gates: int) -> Callable[[], None]:
    """The matrix products of one layer's forward and backward alone, into preallocated outputs."""
    steps, batch, inputs, hidden = size
    width = gates * hidden
    x = torch.randn(steps * batch, inputs)
    weight_ih, weight_hh, bias = torch.randn(width, inputs), torch.randn(width, hidden), torch.randn(width)
    h, delta = torch.randn(batch, hidden), torch.randn(batch, width)
    deltas, states = torch.randn(steps * batch, width), torch.randn(steps * batch, hidden)
    wx, step_out, dh = torch.empty(steps * batch, width), torch.empty(batch, width), torch.empty(batch, hidden)
    grad_hh, grad_ih, dx = torch.empty_like(weight_hh), torch.empty_like(weight_ih), torch.empty_like(x)

    def run() -> None:
        torch.addmm(bias, x, weight_ih.T, out=wx)                          # projection, all steps
        for _ in range(steps):
            torch.mm(h, weight_hh.T, out=step_out)                         # recurrent product
        for _ in range(steps):
            torch.mm(delta, weight_hh, out=dh)                             # its backward
        torch.mm(deltas.T, states, out=grad_hh)                            # dW_hh, one GEMM
        torch.mm(deltas, weight_ih, out=dx)                                # projection backward
        torch.mm(deltas.T, x, out=grad_ih)

    return run


def saved_bytes(module: nn.Module, x: Tensor) -> int:
    """Bytes of the distinct storages autograd keeps for the backward of ``module(x)``.

    Parameters and the input itself are left out: what remains are the activations the layer saved.
    """
    excluded = {p.untyped_storage().data_ptr() for p in module.parameters()} | {x.untyped_storage().data_ptr()}
    storages: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output, _ = module(x)
    del output
    return sum(storages.values())


def _resident(key: str) -> int:
    """``VmRSS`` or ``VmHWM`` of this process in bytes, from /proc/self/status."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def peak_child(name: str, engine: str, size: Size) -> None:
    """Run in a fresh process: print the peak bytes of one forward+backward above the start.

    The peak is the resident-set high-water mark, reset just before the call; the input and the
    parameters exist before the reset, so they are not counted, and a tiny call runs first. Prints ``nan`` where the kernel
    offers no such counter (not Linux).
    """
    steps, batch, inputs, hidden = cell_size(name, size)
    torch.manual_seed(0)
    x = torch.randn(steps, batch, inputs, requires_grad=True)
    if engine == "fused":
        module = family_module(rnnkit.get_cell_class(name)(inputs, hidden), inputs, hidden)[1]
    else:
        module = rnnkit.Recurrent(name, inputs, hidden, engine=engine)
    # One tiny call first, so that one-time costs (lazy imports, kernel caches) are not counted.
    fwd_bwd(module, torch.randn(2, 1, inputs, requires_grad=True))()
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")                               # 5: reset the high-water mark
        start = _resident("VmRSS")
    except OSError:
        print("nan")
        return
    fwd_bwd(module, x)()
    print(_resident("VmHWM") - start)


def peak_bytes(name: str, engine: str, size: Size) -> float:
    """:func:`peak_child` in a fresh Python process (a high-water mark cannot be shared)."""
    command = [sys.executable, __file__, "--peak-of", name, engine, ",".join(map(str, size)),
               "--threads", str(torch.get_num_threads())]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def cell_size(name: str, size: Size) -> Size:
    """``size``, with I = H for the cells whose equations use x_t as a hidden vector (MUT1, MUT2)."""
    steps, batch, inputs, hidden = size
    return (steps, batch, hidden, hidden) if rnnkit.get_cell_class(name).needs_square_input else size


def benchmark(sizes: list[Size], cells: list[str], repeats: int, warmup: int, memory: bool) -> dict:
    """Every measurement, as a JSON-ready dict."""
    torch.manual_seed(0)
    result: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "dtype": "float32",
                    "repeats": repeats, "warmup": warmup, "sizes": []}
    for index, size in enumerate(sizes):
        steps, batch, inputs, hidden = size
        x = torch.randn(steps, batch, inputs, requires_grad=True)
        entry: dict = {"T": steps, "B": batch, "I": inputs, "H": hidden, "cells": [], "gemm_floor": []}
        references: dict[str, nn.Module] = {}
        for name in cells:
            cell_inputs = cell_size(name, size)[2]
            cell_x = x if cell_inputs == inputs else torch.randn(steps, batch, cell_inputs, requires_grad=True)
            probe = rnnkit.get_cell_class(name)(cell_inputs, hidden)
            family, reference = family_module(probe, cell_inputs, hidden)
            if cell_inputs == inputs:
                references.setdefault(family, reference)
            runs = {"fused": fwd_bwd(reference, cell_x)}
            layers = {}
            for engine in ("bptt", "bptt-recompute", "autograd"):
                if engines.can_run(engine, probe):
                    layers[engine] = rnnkit.Recurrent(name, cell_inputs, hidden, engine=engine)
                    runs[engine] = fwd_bwd(layers[engine], cell_x)
            times = time_round_robin(runs, repeats, warmup)
            row = {"cell": name, "family": family, "I": cell_inputs,
                   **{f"{k}_ms": 1e3 * statistics.median(v) for k, v in times.items()}}
            for engine in layers:
                row[f"{engine}/fused"] = paired_ratio(times, engine, "fused")
            if "bptt" in layers:
                row["bptt/autograd"] = paired_ratio(times, "bptt", "autograd")
                row["bptt-recompute/autograd"] = paired_ratio(times, "bptt-recompute", "autograd")
            if memory and index == 0:
                for engine, layer in layers.items():
                    row[f"{engine}_saved_MB"] = saved_bytes(layer, cell_x) / 2**20
                for engine in ("fused", *layers):
                    row[f"{engine}_peak_MB"] = peak_bytes(name, engine, size) / 2**20
                if "bptt" in layers:
                    for engine in ("bptt", "bptt-recompute"):
                        row[f"saved {engine}/autograd"] = row[f"{engine}_saved_MB"] / row["autograd_saved_MB"]
                        row[f"peak {engine}/autograd"] = row[f"{engine}_peak_MB"] / row["autograd_peak_MB"]
            entry["cells"].append(row)
        # The floor per gate count, measured side by side with the fused kernel of that family.
        for gates, family in ((4, "LSTM"), (3, "GRU"), (1, "RNN_TANH")):
            if family not in references:
                continue
            times = time_round_robin(
                {"fused": fwd_bwd(references[family], x), "floor": gemm_floor(size, gates)}, repeats, warmup
            )
            entry["gemm_floor"].append({"gates": gates, "family": family,
                                        "floor_ms": 1e3 * statistics.median(times["floor"]),
                                        "fused_ms": 1e3 * statistics.median(times["fused"]),
                                        "floor/fused": paired_ratio(times, "floor", "fused")})
        result["sizes"].append(entry)
    return result


def print_table(result: dict) -> None:
    """The measurements as plain-text tables, one per size."""
    print(f"torch {result['torch']}, {result['threads']} threads, float32, forward+backward, "
          f"median of {result['repeats']} after {result['warmup']} warm-up, round-robin; ratios paired per round")
    nan = float("nan")
    for entry in result["sizes"]:
        print(f"\nT={entry['T']} B={entry['B']} I={entry['I']} H={entry['H']}")
        print(f"{'cell':14} {'family':9} {'fused ms':>9} {'bptt ms':>9} {'recomp ms':>9} {'autograd':>9} "
              f"{'bptt/fused':>10} {'recomp/fused':>12} {'autog/fused':>11} {'bptt/autog':>10} {'recomp/autog':>12}")
        for row in entry["cells"]:
            print(f"{_label(row, entry):14} {row['family']:9} {row['fused_ms']:9.1f} {row.get('bptt_ms', nan):9.1f} "
                  f"{row.get('bptt-recompute_ms', nan):9.1f} {row.get('autograd_ms', nan):9.1f} "
                  f"{row.get('bptt/fused', nan):10.2f} {row.get('bptt-recompute/fused', nan):12.2f} "
                  f"{row.get('autograd/fused', nan):11.2f} {row.get('bptt/autograd', nan):10.2f} "
                  f"{row.get('bptt-recompute/autograd', nan):12.2f}")
        for floor in entry["gemm_floor"]:
            print(f"GEMM floor G={floor['gates']}: {floor['floor_ms']:.1f} ms = {floor['floor/fused']:.2f}× "
                  f"{floor['family']} fused ({floor['fused_ms']:.1f} ms)")
        if any("autograd_saved_MB" in row for row in entry["cells"]):
            print(f"\nMemory at T={entry['T']} B={entry['B']} I={entry['I']} H={entry['H']}, MB: saved activations "
                  f"(kept from forward to backward) and peak of one forward+backward (fresh process)")
            print(f"{'cell':14} {'saved bptt':>10} {'recomp':>7} {'autograd':>9} {'bptt/autog':>10} {'recomp/autog':>12}"
                  f" {'peak fused':>10} {'bptt':>7} {'recomp':>7} {'autograd':>9} {'bptt/autog':>10} {'recomp/autog':>12}")
            for row in entry["cells"]:
                print(f"{_label(row, entry):14} {row.get('bptt_saved_MB', nan):10.1f} "
                      f"{row.get('bptt-recompute_saved_MB', nan):7.1f} {row.get('autograd_saved_MB', nan):9.1f} "
                      f"{row.get('saved bptt/autograd', nan):10.2f} {row.get('saved bptt-recompute/autograd', nan):12.2f}"
                      f" {row.get('fused_peak_MB', nan):10.1f} {row.get('bptt_peak_MB', nan):7.1f} "
                      f"{row.get('bptt-recompute_peak_MB', nan):7.1f} {row.get('autograd_peak_MB', nan):9.1f} "
                      f"{row.get('peak bptt/autograd', nan):10.2f} {row.get('peak bptt-recompute/autograd', nan):12.2f}")


def _label(row: dict, entry: dict) -> str:
    """The cell's name; MUT1/MUT2 rows run at I = H (their equations need it), fused kernel included."""
    return row["cell"] if row["I"] == entry["I"] else f"{row['cell']} (I={row['I']})"


def parse_size(text: str) -> Size:
    """``T,B,I,H`` → a size tuple."""
    try:
        steps, batch, inputs, hidden = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is T,B,I,H (four integers), got {text!r}") from None
    return steps, batch, inputs, hidden


def main() -> None:
    """Parse the flags, run, print."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=[(100, 64, 128, 512), (50, 32, 64, 128)],
                        help="T,B,I,H per size (default: 100,64,128,512 50,32,64,128)")
    parser.add_argument("--cells", nargs="+", default=None, help="cell names (default: every registered cell)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per contender (default 7)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed repetitions first (default 2)")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurements (saved activations, peak)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--peak-of", nargs=3, metavar=("CELL", "ENGINE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_of:                                       # the child process of peak_bytes
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        name, engine, size = args.peak_of
        peak_child(name, engine, parse_size(size))
        return
    if args.repeats < 1 or args.warmup < 0:
        parser.error(f"--repeats must be ≥ 1 and --warmup ≥ 0, got {args.repeats} and {args.warmup}")
    cells = args.cells or rnnkit.cell_names()
    unknown = [name for name in cells if name not in rnnkit.cell_names()]
    if unknown:
        parser.error(f"unknown cells {unknown}; choose from {rnnkit.cell_names()}")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    result = benchmark(args.sizes, cells, args.repeats, args.warmup, not args.no_memory)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
