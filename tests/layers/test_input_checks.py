"""Inputs, initial states and lengths of the wrong dtype or device are refused at the layer, by name."""

from __future__ import annotations

import re

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnkit
from rnnkit.engines import engine_names

MISMATCHED = [  # (the layer's dtype, the input's dtype)
    (torch.float32, torch.float16),
    (torch.float32, torch.bfloat16),
    (torch.float32, torch.float64),
    (torch.float64, torch.float32),
]
NON_FLOATING = [torch.int64, torch.int32, torch.bool]


def _lstm(engine: str = "auto", dtype: torch.dtype = torch.float32) -> rnnkit.LSTM:
    return rnnkit.LSTM(3, 5, num_layers=2, engine=engine, dtype=dtype)


# --------------------------------------------------------------------------------------------------
# The input


@pytest.mark.parametrize("layer_dtype,input_dtype", MISMATCHED)
@pytest.mark.parametrize("engine", engine_names())
def test_input_of_another_floating_dtype_is_refused_by_name(engine, layer_dtype, input_dtype):
    message = (f"input has dtype {input_dtype} but this layer's parameters are {layer_dtype}: "
               f"convert the input with input.to({layer_dtype}), or the layer with layer.to({input_dtype})")
    with pytest.raises(ValueError, match=re.escape(message)):
        _lstm(engine, layer_dtype)(torch.randn(4, 2, 3).to(input_dtype))


@pytest.mark.parametrize("input_dtype", NON_FLOATING)
@pytest.mark.parametrize("engine", engine_names())
def test_non_floating_input_is_refused_by_name(engine, input_dtype):
    message = f"input has dtype {input_dtype}; a recurrent layer reads floating-point features"
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        _lstm(engine)(torch.ones(4, 2, 3, dtype=input_dtype))
    assert "input.to(torch.float32)" in str(error.value)


@pytest.mark.parametrize("layer_dtype,input_dtype", MISMATCHED)
def test_dtype_mismatch_raises_the_exception_torch_nn_raises(layer_dtype, input_dtype):
    # Drop-in: code that catches torch.nn.LSTM's ValueError catches ours.
    x = torch.randn(4, 2, 3).to(input_dtype)
    with pytest.raises(ValueError):
        torch.nn.LSTM(3, 5, dtype=layer_dtype)(x)
    with pytest.raises(ValueError, match="but this layer's parameters are"):
        rnnkit.LSTM(3, 5, dtype=layer_dtype)(x)


def test_packed_input_of_another_dtype_is_refused_by_name():
    packed = pack_padded_sequence(torch.randn(4, 2, 3).half(), torch.tensor([4, 2]))
    with pytest.raises(ValueError, match=re.escape("input has dtype torch.float16")):
        _lstm()(packed)


def test_autocast_lets_a_lower_precision_input_through():
    layer = _lstm("autograd")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = layer(torch.randn(4, 2, 3).bfloat16(), (torch.zeros(2, 2, 5), torch.zeros(2, 2, 5)))
    assert output.shape == (4, 2, 5)


def test_autocast_still_refuses_a_non_floating_input():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(ValueError, match="floating-point features"):
            _lstm("autograd")(torch.ones(4, 2, 3, dtype=torch.int64))


# --------------------------------------------------------------------------------------------------
# The initial state


@pytest.mark.parametrize("state_dtype", [torch.float64, torch.float16, torch.int64])
@pytest.mark.parametrize("which", ["h_0", "c_0"])
def test_initial_state_of_another_dtype_is_refused_by_name(which, state_dtype):
    hx = {"h_0": torch.zeros(2, 2, 5), "c_0": torch.zeros(2, 2, 5)}
    hx[which] = hx[which].to(state_dtype)
    message = (f"initial state {which} (in hx) has dtype {state_dtype} but the input and this layer's "
               f"parameters are torch.float32: convert it with {which}.to(torch.float32)")
    with pytest.raises(ValueError, match=re.escape(message)):
        _lstm()(torch.randn(4, 2, 3), (hx["h_0"], hx["c_0"]))


def test_gru_initial_state_of_another_dtype_is_refused_by_name():
    with pytest.raises(ValueError, match=re.escape("initial state h_0 (in hx) has dtype torch.float64")):
        rnnkit.GRU(3, 5)(torch.randn(4, 2, 3), torch.zeros(1, 2, 5, dtype=torch.float64))


def test_autocast_casts_a_floating_initial_state_and_refuses_an_integer_one():
    layer = _lstm("autograd")
    x = torch.randn(4, 2, 3).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        layer(x, (torch.zeros(2, 2, 5, dtype=torch.float64), torch.zeros(2, 2, 5)))
        with pytest.raises(ValueError, match=re.escape("has dtype torch.int64 but the input is torch.bfloat16")):
            layer(x, (torch.zeros(2, 2, 5, dtype=torch.int64), torch.zeros(2, 2, 5)))


def test_initial_state_on_another_device_is_refused_by_name():
    hx = (torch.zeros(2, 2, 5), torch.zeros(2, 2, 5, device="meta"))
    message = "initial state c_0 (in hx) is on meta but the input is on cpu: move it with c_0.to('cpu')"
    with pytest.raises(ValueError, match=re.escape(message)):
        _lstm()(torch.randn(4, 2, 3), hx)


# --------------------------------------------------------------------------------------------------
# Lengths


def test_lengths_on_another_device_are_refused_by_name():
    message = "lengths is on meta but the input is on cpu: give lengths on the CPU"
    with pytest.raises(ValueError, match=re.escape(message)):
        _lstm()(torch.randn(4, 2, 3), lengths=torch.tensor([4, 2], device="meta"))
