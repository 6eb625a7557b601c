"""Training: the task contract, one trainer for every task, schedules, callbacks, checkpoints that never
pickle, truncated BPTT, devices and precision, and data-parallel training under torchrun."""

from .callbacks import Callback, CurvesPlot, MetricsFile, ProgressBar, TensorBoard
from .checkpoint import CheckpointError, atomic_write, load_weights, read_json, save_weights, write_json
from .loop import MODEL_FILE, TRAINER_FILE, Trainer, TrainConfig, TrainResult, seed_everything
from .schedules import WarmupCosine
from .task import Batch, Batches, Selection, Shard, Task
from .tbptt import detach_state, train_chunk

__all__ = [
    "MODEL_FILE", "TRAINER_FILE", "Batch", "Batches", "Callback", "CheckpointError", "CurvesPlot", "MetricsFile",
    "ProgressBar", "Selection", "Shard", "Task", "TensorBoard", "TrainConfig", "TrainResult", "Trainer",
    "WarmupCosine", "atomic_write", "detach_state", "load_weights", "read_json", "save_weights", "seed_everything",
    "train_chunk", "write_json",
]
