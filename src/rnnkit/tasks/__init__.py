"""Tasks: each binds a data source, a model, a loss and metrics; the CLI is a thin layer over them.

:class:`Task` is the contract the trainer knows (:mod:`rnnkit.training.task`); :func:`train` in
:mod:`rnnkit.tasks.runs` runs any registered task in a run directory.
"""

from ..training.task import Batch, Batches, Selection, Shard, Task
from .registry import get_task_class, register_task, task_names

__all__ = ["Batch", "Batches", "Selection", "Shard", "Task", "get_task_class", "register_task", "task_names"]
