"""Where and in what precision a run computes.

- **Device**: ``auto`` (CUDA when there is a GPU, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``.
  Under torchrun, ``cuda`` means this process's GPU (``cuda:LOCAL_RANK``).
- **Precision**: ``fp32``; ``bf16`` or ``fp16`` run the forward under ``torch.autocast`` with
  float32 master weights (the optimizer updates float32 parameters). ``fp16`` needs a GPU and
  scales the loss with a gradient scaler (Micikevicius et al. 2018, "Mixed Precision Training"),
  whose skipped steps are not divergence; ``bf16`` has float32's exponent range and needs no scaler.
"""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    """The device ``name`` stands for, with a clear error where it does not exist here."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} was asked for, but PyTorch sees no CUDA GPU on this machine "
                             f"(torch.cuda.is_available() is False); use --device cpu or auto")
        if name == "cuda":
            index = int(os.environ.get("LOCAL_RANK", 0)) if "LOCAL_RANK" in os.environ else torch.cuda.current_device()
        else:
            try:
                index = int(name[5:])
            except ValueError:
                raise ValueError(f"device {name!r}: expected cuda:N with N a GPU number") from None
        count = torch.cuda.device_count()
        if not 0 <= index < count:
            raise ValueError(f"device {name!r}: this machine has {count} GPU(s), numbered 0 to {count - 1}")
        return torch.device("cuda", index)
    raise ValueError(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")


def check_precision(precision: str, device: torch.device) -> None:
    """A clear error for a precision this device cannot train in."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of: {', '.join(PRECISIONS)}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA GPU (its loss scaling is for GPU autocast); "
                         "on the CPU use bf16 or fp32")


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The forward pass's context: autocast to the precision's dtype, or nothing for fp32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A gradient scaler for fp16, else None."""
    return torch.amp.GradScaler(device.type) if precision == "fp16" else None
