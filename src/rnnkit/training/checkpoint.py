"""Checkpoints as safetensors and JSON: never pickled, so loading one never executes code.

Every file is written atomically: to a temporary file in the same directory, flushed to disk, then
renamed over the old one with ``os.replace``. A crash mid-write leaves the previous file intact.

The trainer's state is one file, so it can never be half old and half new::

    trainer.safetensors
        tensors   model.<name>          the latest weights
                  optimizer.<i>.<key>   per-parameter optimizer state (AdamW: step, exp_avg, exp_avg_sq)
                  rng.torch             torch's CPU generator state (uint8); rng.cuda: its GPU's
                  carried.<j>           the hidden state carried into the next chunk (if any)
                  rank<r>.…             the same, of process r > 0 under data-parallel training
        metadata  "trainer": JSON       step, data position, time spent, best validation, the
                                        optimizer's param_groups, Python's and numpy's RNG states,
                                        the number of processes, the gradient scaler's state, …
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor, nn

State = Tensor | tuple[Tensor, ...] | None


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupted, or belongs to another model."""


def atomic_write(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False)
    try:
        with handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp creates files readable by the owner only; give the final file the usual mode.
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | Path, record: dict) -> None:
    """Atomically write ``record`` as indented JSON."""
    atomic_write(path, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode())


def read_json(path: str | Path) -> dict:
    """A JSON file, with an error that names it when it is missing or malformed."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist: not a run directory, or the run never saved") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not valid JSON ({error}); the file is corrupted") from None


def read_safetensors(path: str | Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file (no code runs: the format holds only data)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist: not a run directory, or the run never saved") from None
    try:
        tensors = load_safetensors(data)
        header_length = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8: 8 + header_length]).get("__metadata__", {})
    except (SafetensorError, ValueError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{path} is not a valid safetensors file ({error}); it is corrupted or foreign") from None
    return tensors, metadata


def model_tensors(model: nn.Module) -> dict[str, Tensor]:
    """The state dict with each shared tensor once (tied weights under their first name)."""
    seen: set[int] = set()
    tensors = {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        tensors[name] = tensor.detach().contiguous()
    return tensors


def load_model_tensors(model: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """Load ``tensors`` into ``model``; names and shapes must match (tied copies may be absent)."""
    expected = model.state_dict()
    tied = set(expected) - set(model_tensors(model))
    missing = set(expected) - set(tensors) - tied
    unexpected = set(tensors) - set(expected)
    wrong = [name for name in set(tensors) & set(expected) if tensors[name].shape != expected[name].shape]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"{source} does not fit this model: missing {sorted(missing)[:4]}, unexpected {sorted(unexpected)[:4]}, "
            f"wrong shape {sorted(wrong)[:4]}"
        )
    model.load_state_dict(tensors, strict=False)


def save_weights(path: str | Path, model: nn.Module, metadata: dict[str, str] | None = None) -> None:
    """Atomically write the model's weights as safetensors."""
    atomic_write(path, save_safetensors(model_tensors(model), metadata=metadata))


def load_weights(path: str | Path, model: nn.Module) -> dict[str, str]:
    """Load weights written by :func:`save_weights` into ``model``; returns the file's metadata."""
    tensors, metadata = read_safetensors(path)
    bad = [name for name, tensor in tensors.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise CheckpointError(f"{path} holds non-finite weights (NaN or infinity) in {', '.join(sorted(bad)[:4])}: "
                              f"the model it saved had diverged; it cannot be used")
    load_model_tensors(model, tensors, str(path))
    return metadata


# --------------------------------------------------------------------------------------------------
# Random number generators


@dataclass
class RankState:
    """What one process carries from step to step besides the shared weights: its generators'
    states (torch's CPU one, its GPU's if it has one, Python's and numpy's) and its carried state."""

    torch_rng: Tensor
    record: dict
    cuda_rng: Tensor | None = None
    carried: State = None

    @classmethod
    def capture(cls, carried: State = None, device: torch.device | None = None) -> RankState:
        version, internal, gauss = random.getstate()
        kind, keys, position, has_gauss, cached = np.random.get_state()
        record = {
            "python": [version, list(internal), gauss],
            "numpy": [kind, keys.tolist(), int(position), int(has_gauss), float(cached)],
        }
        cuda = torch.cuda.get_rng_state(device) if device is not None and device.type == "cuda" else None
        carried = _detached_cpu(carried)
        return cls(torch.get_rng_state(), record, cuda, carried)

    def restore(self, device: torch.device | None = None) -> None:
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None and device is not None and device.type == "cuda":
            torch.cuda.set_rng_state(self.cuda_rng, device)
        version, internal, gauss = self.record["python"]
        random.setstate((version, tuple(internal), gauss))
        kind, keys, position, has_gauss, cached = self.record["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached))


def _detached_cpu(state: State) -> State:
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach().cpu().contiguous()
    return tuple(part.detach().cpu().contiguous() for part in state)


# --------------------------------------------------------------------------------------------------
# Trainer state


def save_trainer_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    carried: State,
    info: dict,
    ranks: list[RankState] | None = None,
    scaler: dict | None = None,
) -> None:
    """Atomically write weights, optimizer, RNG states, the carried state and ``info`` to one file.

    ``ranks`` holds every process's :class:`RankState` under data-parallel training (rank 0's
    generators and ``carried`` otherwise); ``scaler`` a gradient scaler's state (fp16).
    """
    tensors = {f"model.{name}": tensor.cpu() for name, tensor in model_tensors(model).items()}
    optimizer_state = optimizer.state_dict()
    for index, entries in optimizer_state["state"].items():
        for key, value in entries.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    ranks = ranks or [RankState.capture(carried)]
    records, carried_kinds = [], []
    for rank, state in enumerate(ranks):
        prefix = "" if rank == 0 else f"rank{rank}."
        tensors[f"{prefix}rng.torch"] = state.torch_rng
        if state.cuda_rng is not None:
            tensors[f"{prefix}rng.cuda"] = state.cuda_rng
        parts = () if state.carried is None else (state.carried,) if isinstance(state.carried, Tensor) else state.carried
        for j, part in enumerate(parts):
            tensors[f"{prefix}carried.{j}"] = part
        records.append(state.record)
        carried_kinds.append(None if state.carried is None else "tensor" if isinstance(state.carried, Tensor)
                             else len(parts))
    record = info | {
        "param_groups": optimizer_state["param_groups"],
        "rng": records[0],
        "carried": carried_kinds[0],
        "world_size": len(ranks),
        "ranks": [{"rng": r, "carried": c} for r, c in zip(records[1:], carried_kinds[1:])],
        "scaler": scaler,
    }
    atomic_write(path, save_safetensors(tensors, metadata={"trainer": json.dumps(record)}))


def load_trainer_state(
    path: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    rank: int = 0,
    world_size: int = 1,
    device: torch.device | None = None,
) -> tuple[State, dict]:
    """Restore what :func:`save_trainer_state` wrote; returns (carried, info).

    Process ``rank`` of ``world_size`` restores its own generators and carried state. A file
    written by another number of processes restores exactly the weights and the optimizer; the
    generators then come from rank ``rank mod saved ranks`` and the carried state starts afresh
    (the data shards differ), so such a resume is close to, not exactly, the uninterrupted run.
    """
    tensors, metadata = read_safetensors(path)
    if "trainer" not in metadata:
        raise CheckpointError(f"{path} holds no trainer state (no 'trainer' metadata)")
    record = json.loads(metadata["trainer"])
    load_model_tensors(model, {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, str(path))
    target = next(model.parameters(), torch.empty(0)).device
    state: dict[int, dict] = {}
    for name, tensor in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            # AdamW's step counts stay on the CPU; the moments go where the parameters are.
            state.setdefault(int(index), {})[key] = tensor if tensor.dim() == 0 else tensor.to(target)
    fresh_groups = optimizer.state_dict()["param_groups"]
    if len(fresh_groups) != len(record["param_groups"]):
        raise CheckpointError(f"{path}: the optimizer has {len(fresh_groups)} parameter groups, the file "
                              f"{len(record['param_groups'])}")
    # JSON turned tuples (AdamW's betas) into lists: give each value the type the optimizer uses.
    groups = [
        {key: tuple(value) if isinstance(fresh.get(key), tuple) else value for key, value in saved.items()}
        for fresh, saved in zip(fresh_groups, record["param_groups"])
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    saved_world = record.get("world_size", 1)
    source = rank % saved_world
    prefix = "" if source == 0 else f"rank{source}."
    entry = {"rng": record["rng"], "carried": record["carried"]} if source == 0 else record["ranks"][source - 1]
    RankState(tensors[f"{prefix}rng.torch"], entry["rng"], tensors.get(f"{prefix}rng.cuda")).restore(device)
    kind = entry["carried"] if saved_world == world_size else None
    if kind is None:
        carried: State = None
    elif kind == "tensor":
        carried = tensors[f"{prefix}carried.0"]
    else:
        carried = tuple(tensors[f"{prefix}carried.{j}"] for j in range(kind))
    if carried is not None and device is not None:
        carried = carried.to(device) if isinstance(carried, Tensor) else tuple(c.to(device) for c in carried)
    return carried, record
