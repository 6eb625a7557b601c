"""The run directory's lifecycle, once for every task: create, lock, record, train, resume.

A run directory holds, whatever the task::

    RUN_DIR/config.json          {"task": NAME, "rnnkit": VERSION, <the task's settings sections>}
            <artefacts>          the task's own files (vocab.json, labels.json, …)
            model.safetensors    the weights of the best validation
            trainer.safetensors  the latest weights, optimizer, RNG states, data position (resume)
            metrics.jsonl        one row per log interval and per validation
            curves.png           training and validation curves
            .lock                held (flock) by the process training in it

The order of things makes a run directory never a dead end and never corrupted:

1. everything is checked before anything is created: the settings, the data (read and encoded),
   the model (built);
2. the directory is locked with an OS-level lock, which dies with its process (a ``kill -9`` leaves
   no stale lock): a second process training into it gets a clear error;
3. config.json and the artefacts are written, then training starts. A run that never saved a
   checkpoint (stopped, killed or diverged before its first save) may be started afresh with the
   same ``--out``, or resumed from step 0.

Under torchrun every rank builds the task and the trainer; only rank 0 touches the directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from .. import __version__
from ..training import TRAINER_FILE, Callback, CheckpointError, Trainer, TrainConfig, TrainResult, read_json, write_json
from ..training import distributed
from ..training.precision import resolve_device
from .registry import get_task_class

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
CACHE_ENV = "RNNKIT_CACHE_DIR"


class RunError(ValueError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


def new_run_dir(prefix: str, root: str | Path = "runs") -> Path:
    """A fresh directory name under ``root``: ``PREFIX-YYYYmmdd-HHMMSS`` (with a suffix if taken)."""
    base = Path(root) / time.strftime(f"{prefix}-%Y%m%d-%H%M%S")
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def cache_dir(run_dir: Path, given: str | Path | None = None) -> Path:
    """Where encoded data is cached: ``given``, else $RNNKIT_CACHE_DIR, else beside the run
    directories (``RUN_DIR/../.cache``), else — where that is not writable — the user's cache."""
    chosen = given or os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    beside = Path(run_dir).resolve().parent / ".cache"
    if _writable(beside):
        return beside
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rnnkit"
    return home


def _writable(path: Path) -> bool:
    """Whether ``path`` is, or could be created as, a writable directory."""
    while not path.exists():
        path = path.parent
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def read_config(run_dir: str | Path) -> dict:
    """A run directory's config.json, checked to be an object naming a known task."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CheckpointError(f"{run_dir / CONFIG_FILE} does not exist: there is no run directory {run_dir}")
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is a file, not a run directory (one written by `rnnkit train`)")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist: {run_dir} is not a run directory "
                              f"(one written by `rnnkit train`), or its run never started")
    config = read_json(path)
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} must hold a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("task"), str):
        raise CheckpointError(f"{path} names no task (a \"task\" key)")
    get_task_class(config["task"])
    return config


class _Lock:
    """An exclusive ``flock`` on RUN_DIR/.lock, released when the process ends however it ends."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / LOCK_FILE
        self.handle: IO[str] | None = None

    def __enter__(self) -> _Lock:
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise RunError(f"{self.path.parent} is in use: {owner} is training into it; wait for it to "
                               f"finish, or choose another --out") from None
            raise
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        self.handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle is not None:
            self.handle.close()


def _check_new(run_dir: Path) -> bool:
    """Raise unless ``run_dir`` can take a new run; True when it holds a run that never saved."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"--out {run_dir} is a file; give a directory (new or empty)")
    if not (run_dir / CONFIG_FILE).exists():
        return False
    if (run_dir / TRAINER_FILE).exists():
        raise RunError(f"{run_dir} already holds a run; continue it with --resume {run_dir} or choose another --out")
    return True


def _create(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunError(f"cannot create the run directory {run_dir}: {error.strerror}") from None
    if not os.access(run_dir, os.W_OK | os.X_OK):
        raise RunError(f"the run directory {run_dir} is not writable")


def train(
    task_name: str,
    settings: dict[str, Any] | None,
    run_dir: str | Path,
    resume: bool = False,
    budget: TrainConfig | None = None,
    callbacks: list[Callback] | None = None,
    handle_signals: bool = True,
    tensorboard: str | Path | None = None,
    cache: str | Path | None = None,
    device: str | None = None,
    moved: dict[str, dict[str, Any]] | None = None,
    adapt_threads: bool = False,
) -> TrainResult:
    """Train task ``task_name`` with ``settings`` (its sections) into ``run_dir``, or resume it.

    With ``resume`` the settings come from ``run_dir/config.json``; ``budget`` may then change the
    budget (``steps`` / ``minutes``), ``device`` the device, and ``moved`` where the data now is
    (``{"corpus": {"path": …}}``: the task checks that its content is the same).
    """
    run_dir = Path(run_dir)
    task_class = get_task_class(task_name)
    shard = distributed.environment_shard()
    fresh_start = False
    if resume:
        config = read_config(run_dir)
        if config["task"] != task_name:
            raise RunError(f"{run_dir} holds a {config['task']!r} run, not {task_name!r}")
        settings = task_class.settings_from_record(config, derived=True)
        for section, changes in (moved or {}).items():
            settings = settings | {section: replace(settings[section], **changes)}
        train_config = settings["train"]
        if budget is not None:
            train_config = replace(train_config, steps=budget.steps, minutes=budget.minutes)
        settings = settings | {"train": train_config}
    else:
        if settings is None:
            settings = task_class.settings_from_record({})
        fresh_start = _check_new(run_dir) if shard.rank == 0 else False
    if device is not None:
        settings = settings | {"train": replace(settings["train"], device=device)}
    distributed.setup(resolve_device(settings["train"].device))

    task = _prepare(task_class, settings, cache_dir(run_dir, cache), shard.rank)
    if resume:
        task.check_resume(run_dir)
    trainer = Trainer(task, settings["train"], run_dir, callbacks, handle_signals, tensorboard, adapt_threads)
    if shard.rank != 0:
        distributed.barrier()
        _start(trainer, run_dir, resume)
        result = trainer.run()
        distributed.finish()
        return result
    _create(run_dir)
    with _Lock(run_dir):
        if fresh_start:
            for name in ("metrics.jsonl", "curves.png", "model.safetensors"):
                (run_dir / name).unlink(missing_ok=True)
            print(f"{run_dir} held a run that never saved a checkpoint: starting it afresh", file=sys.stderr)
        write_json(run_dir / CONFIG_FILE, {"task": task_name, "rnnkit": __version__} | task.config_record())
        task.write_artefacts(run_dir)
        distributed.barrier()
        _start(trainer, run_dir, resume)
        result = trainer.run()
    distributed.finish()
    return result


def _prepare(task_class: type, settings: dict[str, Any], cache: Path, rank: int):
    """The task with its data ready: rank 0 first (it fills the cache), then the other ranks."""
    if rank == 0:
        task = task_class(settings, cache)
        distributed.barrier()
    else:
        distributed.barrier()
        task = task_class(settings, cache)
    return task


def _start(trainer: Trainer, run_dir: Path, resume: bool) -> None:
    """Restore the saved state when resuming, and say what is trained on what."""
    restored = resume and (run_dir / TRAINER_FILE).is_file()
    if restored:
        trainer.resume()
    if trainer.is_writer:
        if resume and not restored:
            print(f"{run_dir} never saved a checkpoint: starting it from step 0", file=sys.stderr)
        verb = f"resuming at step {trainer.step}" if restored else "training"
        where = f"on {trainer.device}" + (f" × {trainer.shard.world_size} processes" if trainer.shard.world_size > 1
                                          else "")
        print(f"{verb} {trainer.task.describe(trainer.model)} {where}", file=sys.stderr, flush=True)
