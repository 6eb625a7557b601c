"""Training: truncated BPTT, schedules, the loop, and checkpoints that never pickle."""

from .checkpoint import CheckpointError, atomic_write, load_weights, read_json, save_weights, write_json
from .loop import Metric, Trainer, TrainConfig, TrainResult
from .schedules import WarmupCosine
from .tbptt import detach_state, train_chunk

__all__ = [
    "CheckpointError", "Metric", "TrainConfig", "TrainResult", "Trainer", "WarmupCosine", "atomic_write",
    "detach_state", "load_weights", "read_json", "save_weights", "train_chunk", "write_json",
]
