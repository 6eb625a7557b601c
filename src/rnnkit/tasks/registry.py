"""Tasks by name: the name a run's config.json records, and every command dispatches on."""

from __future__ import annotations

import importlib

from ..training.task import Task

# Built-in tasks, imported when first asked for (each pulls in its own data and model code).
BUILTIN = {
    "lm": "rnnkit.tasks.language_modeling:LanguageModelingTask",
    "majority": "rnnkit.tasks.majority:MajorityTask",
    "arith": "rnnkit.tasks.synthetic:ArithTask",
    "xml": "rnnkit.tasks.synthetic:XMLTask",
    "adding": "rnnkit.tasks.synthetic:AddingTask",
    "copy": "rnnkit.tasks.synthetic:CopyTask",
    "window": "rnnkit.tasks.window_lm:WindowTask",
    "forecast": "rnnkit.tasks.forecasting:ForecastTask",
    "classify": "rnnkit.tasks.classification:ClassificationTask",
    "tag": "rnnkit.tasks.tagging:TaggingTask",
    "translate": "rnnkit.tasks.translation:TranslationTask",
    "caption": "rnnkit.tasks.captioning:CaptionTask",
}
_REGISTERED: dict[str, type[Task]] = {}


def register_task(task_class: type[Task]) -> type[Task]:
    """Make ``task_class`` known by its ``name`` (usable as a class decorator)."""
    name = getattr(task_class, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"a task class needs a non-empty string `name`, {task_class.__name__} has {name!r}")
    _REGISTERED[name] = task_class
    return task_class


def task_names() -> list[str]:
    return sorted(set(BUILTIN) | set(_REGISTERED))


def get_task_class(name: str) -> type[Task]:
    """The task class registered as ``name``, with an error listing the known ones."""
    if name not in _REGISTERED and name in BUILTIN:
        module, attribute = BUILTIN[name].split(":")
        _REGISTERED[name] = getattr(importlib.import_module(module), attribute)
    if name not in _REGISTERED:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    return _REGISTERED[name]
