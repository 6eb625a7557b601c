"""tanh_: torch.tanh to round-off in every dtype, in place, on both sides of its size threshold."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cells.activations import tanh_

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
# 64 elements take torch.tanh; 64·512 (one LSTM gate block at B = 64, H = 512) the fast path.
SHAPES = [(4, 16), (64, 512)]


def arguments(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """Every hard case (tiny, subnormal, ±0, large, ±inf, NaN) first, then magnitudes 1e-30 … 1e4
    spread log-uniformly with random signs."""
    info = torch.finfo(dtype)
    special = [1e-3, 1e-4, 1e-8, 1e-30, info.tiny, info.tiny / 2, info.tiny * info.eps,
               0.5, 1.0, 5.0, 9.0, 10.0, 11.0, 20.0, 1e4]
    special = [s for v in special for s in (v, -v)] + [0.0, -0.0, float("inf"), float("-inf"), float("nan")]
    generator = torch.Generator().manual_seed(0)
    count = torch.Size(shape).numel()
    magnitudes = torch.pow(10.0, torch.empty(count, dtype=torch.float64).uniform_(-30, 4, generator=generator))
    signs = torch.randint(0, 2, (count,), generator=generator, dtype=torch.float64).mul_(2).sub_(1)
    values = magnitudes * signs
    values[: len(special)] = torch.tensor(special, dtype=torch.float64)
    return values.to(dtype).reshape(shape)


def assert_tanh(result: torch.Tensor, a: torch.Tensor) -> None:
    """``result`` is tanh(a) to round-off: within 4 ulps (4·eps relative) of torch.tanh, the signs of
    zeros kept, NaN where a is NaN."""
    expected = torch.tanh(a)
    eps = torch.finfo(a.dtype).eps
    torch.testing.assert_close(result, expected, rtol=4 * eps, atol=0.0, equal_nan=True)
    zeros = expected == 0
    assert torch.equal(result[zeros].signbit(), expected[zeros].signbit())


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_tanh_matches_torch_tanh_in_place(dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    a = arguments(shape, dtype)
    original = a.clone()
    pointer = a.data_ptr()
    result = tanh_(a)
    assert result is a and a.data_ptr() == pointer
    assert_tanh(a, original)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_tanh_of_a_strided_block_leaves_the_rest(dtype: torch.dtype) -> None:
    # The cells' use: the g block of an LSTM's (B, 4H) gates, a view with row stride 4H.
    hidden = 512
    gates = arguments((64, 4 * hidden), dtype)
    original = gates.clone()
    block = gates[:, 2 * hidden : 3 * hidden]
    assert tanh_(block) is block
    assert_tanh(gates[:, 2 * hidden : 3 * hidden], original[:, 2 * hidden : 3 * hidden])
    rest = torch.cat([gates[:, : 2 * hidden], gates[:, 3 * hidden :]], dim=1)
    torch.testing.assert_close(rest, torch.cat([original[:, : 2 * hidden], original[:, 3 * hidden :]], dim=1),
                               rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16], ids=str)
def test_tanh_keeps_relative_precision_near_zero(dtype: torch.dtype) -> None:
    # The cases 2σ(2a) − 1 lost (bf16 tanh(1e-3) came out 0), against tanh(a) = a − a³/3 + 2a⁵/15 − …,
    # whose next term is below float64's round-off for |a| ≤ 1e-3.
    a = torch.tensor([1e-3, -1e-4, 1e-8, -1e-30], dtype=torch.float64).repeat(8192)
    expected = (a * (1 + a * a * (-1 / 3 + a * a * 2 / 15))).to(dtype)
    torch.testing.assert_close(tanh_(a.to(dtype)), expected, rtol=4 * torch.finfo(dtype).eps, atol=0.0)
