r"""Which recurrent architecture? Every cell on every task under one budget, as the notes' tables do.

Jozefowicz, Zaremba & Sutskever 2015 ("An Empirical Exploration of Recurrent Network Architectures")
trained each architecture on Arith, XML and Penn Treebank with a random hyperparameter search and
report the best trial; Greff et al. 2017 ("LSTM: A Search Space Odyssey") did the same for the LSTM's
ablations and found that no variant beats the vanilla LSTM significantly, the forget gate and the
output activation being the critical parts. :func:`compare` reproduces that protocol on this machine:

- an *entry* is a cell by registered name (or a user's :class:`rnnkit.cells.Cell` subclass), plus
  ``lstm_b``: the LSTM with its forget-gate bias initialised to 1 (Jozefowicz et al.'s LSTM-b; plain
  ``lstm`` keeps PyTorch's initialisation, bias 0 in expectation);
- for each entry and task, ``trials`` random-search trials (Optuna's :class:`~optuna.samplers.RandomSampler`,
  as the paper searched at random) over the learning rate (log-uniform 3e-4 … 3e-2, AdamW), the
  initial weights' scale (log-uniform 0.5 … 2, multiplying the recurrent layer's initialisation) and
  dropout (0, 0.1 or 0.2 on the recurrent output) — the forget-gate bias is not searched: it is what
  tells ``lstm`` and ``lstm_b`` apart;
- each trial trains one run per seed under the same budget (steps or minutes) through the one
  trainer, its value the mean over seeds of the best validation figure; the best trial of an entry
  and task is reported as mean ± standard deviation over its seeds;
- a difference is called *beyond seed noise* when Welch's t-test between the two best trials' seed
  values gives p < 0.05 (scipy); with one seed nothing can be told apart, and the table says so.

Bookkeeping is Optuna's SQLite storage (``OUT/study.db``, one study per entry and task), which several
processes or machines may share. The grid resumes: every finished run writes ``result.json`` in its
own directory, keyed by the trial's parameters and seed, and is read back instead of retrained;
completed trials are never rerun; a trial cut off by a kill is marked failed by Optuna's heartbeat and
asked again with the same parameters, so its finished seeds are reused too.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import shutil
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cells import Cell, cell_names, register_cell
from .training import MetricsFile

# Jozefowicz et al. 2015, table 2 (the notes' table, seed 003): Arith and XML accuracy, PTB (as they
# report it), for the architectures the notes name; rnnkit's entry name → (the paper's name, Arith, XML, PTB).
NOTES_TABLE: dict[str, tuple[str, float, float, float]] = {
    "rnn_tanh": ("Tanh", 0.29493, 0.32050, 0.08782),
    "lstm": ("LSTM", 0.89228, 0.42470, 0.08912),
    "lstm_nfg": ("LSTM-f", 0.29292, 0.23356, 0.08808),
    "lstm_nig": ("LSTM-i", 0.75109, 0.41371, 0.08662),
    "lstm_nog": ("LSTM-o", 0.86747, 0.42117, 0.08933),
    "lstm_b": ("LSTM-b", 0.90163, 0.44434, 0.08952),
    "gru": ("GRU", 0.89565, 0.45963, 0.09069),
    "mut1": ("MUT1", 0.92135, 0.47483, 0.08968),
    "mut2": ("MUT2", 0.89735, 0.47324, 0.09036),
    "mut3": ("MUT3", 0.90728, 0.46478, 0.09161),
}
NOTES_COLUMNS = {"arith": 1, "arith-stream": 1, "xml": 2}      # task → the notes' column it is set beside
NOTES_NAMES = {1: "Arith", 2: "XML"}

# Each task's data at the harness's default size: smaller than the papers' so that runs of a minute or
# two learn something (Arith with 8 digits and XML with 16 tags of up to 10 letters need far longer
# training). Any field can be overridden with ``task_settings``. ``task`` names the trainer's task
# where it is not the harness's name: ``arith-stream`` is our continual Arith (ArithConfig.problems),
# eight 2-digit problems per sequence with no state reset between them, after Gers et al. 2000.
TASK_DEFAULTS: dict[str, dict[str, Any]] = {
    "arith": {"data": {"max_digits": 3, "val_size": 1000}},
    "arith-stream": {"task": "arith", "data": {"max_digits": 2, "problems": 8, "val_size": 500}},
    "xml": {"data": {"num_tags": 6, "max_name_length": 4, "val_size": 500}},
    "adding": {"data": {"length": 50, "val_size": 1000}},
    "copy": {"data": {"length": 5, "delay": 50, "val_size": 500}},
}
TASKS = tuple(TASK_DEFAULTS)
SPECIAL_ENTRIES = {"lstm_b": ("lstm", 1.0)}       # entry name → (cell, forget-gate bias)


class CompareError(ValueError):
    """A grid that cannot be run: an unknown cell or task, an empty grid, no budget."""


@dataclass(frozen=True)
class Entry:
    """One row of the table: a cell and the forget-gate bias it starts from."""

    name: str
    cell: str
    forget_bias: float | None = None


def entries_for(cells: Sequence[str | type[Cell]]) -> list[Entry]:
    """Entries for cell names, ``lstm_b``, and user cell classes (registered under their ``name``)."""
    entries = []
    for cell in cells:
        if isinstance(cell, type) and issubclass(cell, Cell):
            register_cell(cell)
            entries.append(Entry(cell.name, cell.name))
        elif cell in SPECIAL_ENTRIES:
            base, bias = SPECIAL_ENTRIES[cell]
            entries.append(Entry(cell, base, bias))
        elif isinstance(cell, str) and cell in cell_names():
            entries.append(Entry(cell, cell))
        else:
            known = ", ".join([*cell_names(), *SPECIAL_ENTRIES])
            raise CompareError(f"unknown cell {cell!r}; choose from {known}, or pass a rnnkit.cells.Cell subclass "
                               f"(on the command line: module:ClassName)")
    if not entries:
        raise CompareError("the grid is empty: give at least one cell")
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise CompareError(f"a cell is named twice in {', '.join(names)}")
    return entries


@dataclass(frozen=True)
class CompareConfig:
    cells: tuple = ("rnn_tanh", "lstm", "lstm_b", "gru")
    tasks: tuple[str, ...] = ("arith", "adding")
    steps: int | None = None             # the budget of every run: optimizer steps …
    minutes: float | None = None         # … or minutes of training
    seeds: int = 3
    trials: int = 4
    hidden_size: int = 64
    batch_size: int = 32
    out: str = "runs/compare"
    task_settings: dict = field(default_factory=dict)   # task → {section: {key: value}} over TASK_DEFAULTS

    def __post_init__(self) -> None:
        object.__setattr__(self, "cells", tuple(self.cells))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        if not self.tasks:
            raise CompareError("the grid is empty: give at least one task")
        unknown = [task for task in self.tasks if task not in TASK_DEFAULTS]
        if unknown:
            raise CompareError(f"unknown task {unknown[0]!r}; choose from {', '.join(TASKS)}")
        if self.steps is None and self.minutes is None:
            raise CompareError("give a budget for every run: steps or minutes")
        if (self.steps is not None and self.steps < 1) or (self.minutes is not None and not self.minutes > 0):
            raise CompareError(f"the budget must be positive, got {self.steps if self.steps is not None else self.minutes}"
                               f" {'steps' if self.steps is not None else 'minutes'}")
        for name in ("seeds", "trials", "hidden_size", "batch_size"):
            if getattr(self, name) < 1:
                raise CompareError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass
class CellResult:
    entry: str
    task: str
    metric: str
    higher_is_better: bool
    values: list[float]                  # the best trial's best validation value, one per seed
    params: dict[str, Any]
    parameters: int                      # the model's parameter count
    seconds_per_step: float
    wall_s: float                        # training time of the best trial's runs, summed over seeds
    metrics_files: list[str]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


@dataclass
class Comparison:
    config: CompareConfig
    results: list[CellResult]
    wall_s: float
    trained: int                         # runs trained by this call (the rest were read back)
    reused: int

    def result(self, entry: str, task: str) -> CellResult:
        return next(r for r in self.results if r.entry == entry and r.task == task)

    def verdicts(self) -> list[str]:
        """Per task, which entries differ from the best beyond seed noise (Welch's t-test, p < 0.05)."""
        from scipy import stats

        lines = []
        for task in self.config.tasks:
            rows = [r for r in self.results if r.task == task]
            best = max(rows, key=lambda r: r.mean if r.higher_is_better else -r.mean)
            if len(best.values) < 2:
                lines.append(f"{task}: best {best.entry} ({best.metric} {_figure_text(best.mean)}); with one seed no "
                             f"difference can be told from seed noise")
                continue
            worse, tied = [], []
            for row in rows:
                if row is best:
                    continue
                if best.std == 0 and row.std == 0:
                    p = 0.0 if row.mean != best.mean else 1.0
                else:
                    p = float(stats.ttest_ind(best.values, row.values, equal_var=False).pvalue)
                (worse if p < 0.05 else tied).append(f"{row.entry} (p = {p:.3g})")
            text = f"{task}: best {best.entry} ({best.metric} {_figure_text(best.mean)} ± {_figure_text(best.std)})"
            text += f"; beyond seed noise below it: {', '.join(worse)}" if worse else "; none is beyond seed noise below it"
            text += f"; within seed noise of it: {', '.join(tied)}" if tied else ""
            lines.append(text)
        return lines

    def to_markdown(self) -> str:
        tasks = self.config.tasks
        notes = sorted({NOTES_COLUMNS[task] for task in tasks if task in NOTES_COLUMNS})
        header = ["cell", *[f"{task} ({self._metric(task)})" for task in tasks],
                  *[f"notes: {NOTES_NAMES[column]}" for column in notes]]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for entry in self._entries():
            cells = [entry]
            for task in tasks:
                row = self.result(entry, task)
                cells.append(f"{_figure_text(row.mean)} ± {_figure_text(row.std)}")
            for column in notes:
                reference = NOTES_TABLE.get(entry)
                cells.append(f"{reference[column]:.3f} ({reference[0]})" if reference else "")
            lines.append("| " + " | ".join(cells) + " |")
        cost = ["", "| cell | " + " | ".join(f"{task}: parameters, ms/step" for task in tasks) + " |",
                "|" + "---|" * (len(tasks) + 1)]
        for entry in self._entries():
            cost.append(f"| {entry} | " + " | ".join(
                f"{self.result(entry, t).parameters:,}, {1000 * self.result(entry, t).seconds_per_step:.1f}"
                for t in tasks) + " |")
        config = self.config
        budget = f"{config.steps} steps" if config.steps is not None else f"{config.minutes:g} minutes"
        footer = ["", f"Best of {config.trials} random-search trials per cell and task, each {config.seeds} seed(s) "
                  f"of {budget}; mean ± standard deviation over the best trial's seeds. Notes: Jozefowicz et al. "
                  f"2015 at their task sizes (ours are smaller: see rnnkit.compare.TASK_DEFAULTS)."
                  + (" arith-stream is our continual Arith (several problems per sequence, no state reset), "
                     "not the paper's; its notes column is the paper's Arith." if "arith-stream" in tasks else ""), ""]
        footer += [f"- {line}" for line in self.verdicts()]
        return "\n".join(lines + cost + footer) + "\n"

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["cell", "task", "metric", "mean", "std", "seeds", "values", "parameters", "seconds_per_step",
                         "lr", "init_scale", "dropout", "notes"])
        for row in self.results:
            reference = NOTES_TABLE.get(row.entry)
            note = reference[NOTES_COLUMNS[row.task]] if reference and row.task in NOTES_COLUMNS else ""
            writer.writerow([row.entry, row.task, row.metric, repr(row.mean), repr(row.std), len(row.values),
                             " ".join(map(repr, row.values)), row.parameters, repr(row.seconds_per_step),
                             row.params["lr"], row.params["init_scale"], row.params["dropout"], note])
        return buffer.getvalue()

    def _entries(self) -> list[str]:
        return list(dict.fromkeys(r.entry for r in self.results))

    def _metric(self, task: str) -> str:
        row = next(r for r in self.results if r.task == task)
        return f"{row.metric}, {'higher' if row.higher_is_better else 'lower'} is better"


def compare(config: CompareConfig, progress: bool = True) -> Comparison:
    """Run (or resume) the grid of ``config`` and return its results; writes nothing but the runs and
    the study (:func:`write_report` writes the table and plots)."""
    import optuna

    entries = entries_for(config.cells)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_grid(config, out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # The heartbeat (experimental in Optuna, stable in use since 2.9) is what finds trials cut off by a kill.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    storage = optuna.storages.RDBStorage(f"sqlite:///{out / 'study.db'}", heartbeat_interval=2, grace_period=6)
    started = time.monotonic()
    counts = {"trained": 0, "reused": 0}
    results = []
    from tqdm import tqdm

    total = len(entries) * len(config.tasks) * config.trials * config.seeds
    bar = tqdm(total=total, unit="run", desc="compare", disable=not progress, dynamic_ncols=True)
    for task in config.tasks:
        for entry in entries:
            results.append(_study(optuna, storage, entry, task, config, out, counts, bar))
    bar.close()
    return Comparison(config, results, time.monotonic() - started, counts["trained"], counts["reused"])


# What a run's result depends on besides its trial's parameters and seed: a grid resumed with other
# values would read back runs trained under the old ones, so OUT/grid.json holds them and a change is refused.
GRID_FIELDS = ("steps", "minutes", "seeds", "hidden_size", "batch_size", "task_settings")


def _check_grid(config: CompareConfig, out: Path) -> None:
    wanted = json.loads(json.dumps({name: getattr(config, name) for name in GRID_FIELDS}))
    path = out / "grid.json"
    if not path.is_file():
        path.write_text(json.dumps(wanted, indent=1, sort_keys=True) + "\n")
        return
    kept = json.loads(path.read_text())
    changed = [name for name in GRID_FIELDS if kept.get(name) != wanted[name]]
    if changed:
        said = "; ".join(f"{name} {kept.get(name)!r} there, {wanted[name]!r} now" for name in changed)
        raise CompareError(f"{out} holds a grid run with other settings ({said}): its finished runs would be "
                           f"read back as if trained under these. Give another --out, or the same settings "
                           f"(more --trials or other --cells and --tasks are fine)")


def _study(optuna, storage, entry: Entry, task: str, config: CompareConfig, out: Path, counts, bar) -> CellResult:
    from .tasks.registry import get_task_class

    selection = get_task_class(trainer_task(task)).selection
    name = f"{entry.name}/{task}"
    asked = len(optuna.load_study(study_name=name, storage=storage).trials) if name in {
        s.study_name for s in optuna.get_all_study_summaries(storage)} else 0
    # Seeded by what was already asked, so that a restarted grid draws new parameters, not the first ones again.
    study = optuna.create_study(study_name=name, storage=storage, load_if_exists=True,
                                direction="maximize" if selection.higher_is_better else "minimize",
                                sampler=optuna.samplers.RandomSampler(seed=_stable_seed(entry.name, task, str(asked))))
    optuna.storages.fail_stale_trials(study)
    states = optuna.trial.TrialState
    done = [t for t in study.get_trials(deepcopy=False) if t.state == states.COMPLETE]
    # A trial cut off by a kill (failed by the heartbeat) is asked again with its parameters, once.
    # (Optuna's skip_if_exists would count the failed trial itself as the duplicate, and a finished
    # trial cannot be marked, so the new trial records what it repeats.)
    trials = study.get_trials(deepcopy=False)
    live = [t.system_attrs.get("fixed_params", t.params) for t in trials
            if t.state in (states.WAITING, states.RUNNING, states.COMPLETE)]
    repeated = {t.user_attrs.get("repeats") for t in trials}
    for trial in trials:
        if trial.state == states.FAIL and trial.params and trial.params not in live and trial.number not in repeated:
            study.enqueue_trial(trial.params, user_attrs={"repeats": trial.number})
            live.append(trial.params)
    bar.update(len(done) * config.seeds)
    remaining = config.trials - len(done)

    def objective(trial) -> float:
        params = {"lr": trial.suggest_float("lr", 3e-4, 3e-2, log=True),
                  "init_scale": trial.suggest_float("init_scale", 0.5, 2.0, log=True),
                  "dropout": trial.suggest_categorical("dropout", [0.0, 0.1, 0.2])}
        runs_ = [_run(entry, task, params, seed, config, out, counts) for seed in range(config.seeds)]
        for _ in runs_:
            bar.update(1)
        values = [r["best_value"] for r in runs_]
        for name in ("parameters", "seconds_per_step", "wall_s"):
            trial.set_user_attr(name, statistics.fmean(r[name] for r in runs_))
        trial.set_user_attr("values", values)
        trial.set_user_attr("run_dirs", [r["run_dir"] for r in runs_])
        bad = [v for v in values if v is None or not math.isfinite(v)]
        if bad:                       # a diverged seed: the trial counts as the worst possible
            return -math.inf if selection.higher_is_better else math.inf
        return statistics.fmean(values)

    if remaining > 0:
        study.optimize(objective, n_trials=remaining, catch=())
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == states.COMPLETE]
    best = max(complete, key=lambda t: t.value if selection.higher_is_better else -t.value)
    return CellResult(entry.name, task, selection.metric, selection.higher_is_better,
                      [v if v is not None else math.nan for v in best.user_attrs["values"]], dict(best.params),
                      int(best.user_attrs["parameters"]), best.user_attrs["seconds_per_step"],
                      best.user_attrs["wall_s"] * config.seeds,
                      [str(Path(d) / "metrics.jsonl") for d in best.user_attrs["run_dirs"]])


def _run(entry: Entry, task: str, params: dict, seed: int, config: CompareConfig, out: Path, counts) -> dict:
    """One training run, or its result.json when it already finished."""
    from .tasks import runs
    from .tasks.registry import get_task_class

    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    run_dir = out / "runs" / entry.name / task / f"{key}-seed{seed}"
    record_path = run_dir / "result.json"
    if record_path.is_file():
        counts["reused"] += 1
        return json.loads(record_path.read_text())
    if run_dir.exists():                  # a run cut off before it finished: train it again
        shutil.rmtree(run_dir)
    task_class = get_task_class(trainer_task(task))
    defaults = {section: values for section, values in TASK_DEFAULTS[task].items() if section != "task"}
    record = _merge(defaults, config.task_settings.get(task, {}))
    record = _merge(record, {
        "model": {"cell": entry.cell, "hidden_size": config.hidden_size, "forget_bias": entry.forget_bias,
                  "init_scale": params["init_scale"], "dropout": params["dropout"]},
        "train": {"batch_size": config.batch_size, "lr": params["lr"], "seed": seed, "steps": config.steps,
                  "minutes": config.minutes, "save_every": 1e9, "log_every": 50},
    })
    settings = task_class.settings_from_record(record)
    run_dir.mkdir(parents=True)
    started = time.monotonic()
    with open(run_dir / "train.log", "w") as log, contextlib.redirect_stderr(log):
        result = runs.train(trainer_task(task), settings, run_dir, callbacks=[MetricsFile(run_dir)],
                            handle_signals=False)
    if result.status == "interrupted":
        raise KeyboardInterrupt
    parameters = sum(p.numel() for p in task_class(settings, run_dir).build_model().parameters())
    wall = time.monotonic() - started
    summary = {"best_value": result.best_value if result.status == "finished" else None, "status": result.status,
               "steps": result.step, "parameters": parameters, "wall_s": wall,
               "seconds_per_step": _seconds_per_step(run_dir / "metrics.jsonl", result.step, wall),
               "run_dir": str(run_dir), "params": params, "seed": seed}
    record_path.write_text(json.dumps(summary, indent=2) + "\n")
    counts["trained"] += 1
    return summary


def trainer_task(task: str) -> str:
    """The trainer's task behind a harness task (``arith-stream`` is ``arith`` with several problems)."""
    return TASK_DEFAULTS[task].get("task", task)


def _seconds_per_step(metrics: Path, steps: int, wall: float) -> float:
    """Training seconds per step, from the last training row's elapsed time (validation excluded)."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines()] if metrics.is_file() else []
    train = [row for row in rows if row.get("split") == "train"]
    return train[-1]["elapsed_s"] / train[-1]["step"] if train else wall / max(steps, 1)


def _figure_text(value: float) -> str:
    """Four decimals, or three significant digits for a small figure (an MSE of 3e-5 is not 0.0000)."""
    return f"{value:.4f}" if value == 0 or abs(value) >= 0.01 else f"{value:.2e}"


def _merge(base: dict, changes: dict) -> dict:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in changes.items():
        merged.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return merged


def _stable_seed(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest()[:8], 16)


def write_report(comparison: Comparison, out: str | Path | None = None) -> list[Path]:
    """table.md, table.csv, bars.png (one panel per task, error bars over seeds) and curves.png
    (validation metric against training time per cell, the best trial's first seed) in ``out``."""
    out = Path(out or comparison.config.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "table.md", out / "table.csv", out / "bars.png", out / "curves.png"]
    paths[0].write_text(comparison.to_markdown())
    paths[1].write_text(comparison.to_csv())
    _plot_bars(comparison, paths[2])
    _plot_curves(comparison, paths[3])
    return paths


def _figure(panels: int):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2 * panels, 3.4), dpi=100)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, panels, squeeze=False)[0]


def _plot_bars(comparison: Comparison, path: Path) -> None:
    tasks = comparison.config.tasks
    figure, axes = _figure(len(tasks))
    for panel, task in zip(axes, tasks):
        rows = [r for r in comparison.results if r.task == task]
        panel.bar(range(len(rows)), [r.mean for r in rows], yerr=[r.std for r in rows], capsize=3,
                  color=[f"C{i % 10}" for i in range(len(rows))])
        panel.set_xticks(range(len(rows)), [r.entry for r in rows], rotation=45, ha="right", fontsize=8)
        panel.set_title(f"{task}: {rows[0].metric} ({'higher' if rows[0].higher_is_better else 'lower'} is better)",
                        fontsize=9)
        panel.grid(alpha=0.3, axis="y")
    figure.tight_layout()
    figure.savefig(path)


def _plot_curves(comparison: Comparison, path: Path) -> None:
    tasks = comparison.config.tasks
    figure, axes = _figure(len(tasks))
    for panel, task in zip(axes, tasks):
        for index, row in enumerate(r for r in comparison.results if r.task == task):
            metrics = Path(row.metrics_files[0])
            lines = metrics.read_text().splitlines() if metrics.is_file() else []
            points = [json.loads(line) for line in lines]
            points = [(p["elapsed_s"], p[row.metric]) for p in points if p.get("split") == "val" and row.metric in p]
            if points:
                panel.plot(*zip(*points), "-o", markersize=2, color=f"C{index % 10}", label=row.entry)
        panel.set_xlabel("training seconds")
        panel.set_ylabel(f"validation {row.metric}")
        panel.set_title(task, fontsize=9)
        panel.grid(alpha=0.3)
        panel.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path)
