"""Elementwise activations shared by the cells' hand-written forward and backward loops."""

from __future__ import annotations

from torch import Tensor


def tanh_(a: Tensor) -> Tensor:
    """``a ← tanh(a)`` in place; returns ``a``. The bptt forward and backward loops use it every step.

    On CPU, for all but small tensors, it is computed as tanh(a) = 2σ(2a) − 1, the same function to
    round-off: PyTorch's CPU tanh goes through MKL's vector math and takes about three times as long
    as its vectorised sigmoid with the three extra elementwise passes (B·H = 32768: ~130 µs against
    ~40 µs on one core). Below ~4096 elements the four calls cost more than they save; on CUDA one
    tanh kernel is cheaper than four.
    """
    if a.device.type != "cpu" or a.numel() < 4096:
        return a.tanh_()
    return a.mul_(2).sigmoid_().mul_(2).sub_(1)
