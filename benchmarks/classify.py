"""Sequence classification: recurrent models against order-blind baselines, one table.

Rows: tasks (negation, SST-2, digits row by row, digits pixel by pixel). Columns: models —
bag of words (multinomial NB on counts), TF-IDF + logistic regression (words; and words + bigrams),
rnn_tanh, irnn, lstm, gru, bi-lstm, bi-lstm with attention pooling (and, on request, bi-lstm with
max pooling, ``bi-lstm+max``) — each with its held-out
accuracy and its training wall time on this machine (one thread). Every recurrent model trains
through ``rnnkit train classify``'s own task and trainer, on the same splits as the baselines;
the best validation checkpoint's accuracy is reported (for SST-2 the dev split is both the
selection and the report, as is usual for SST-2 without its test labels: slightly optimistic).

    python benchmarks/classify.py                          # everything (long: tens of minutes)
    python benchmarks/classify.py --tasks negation,digits-rows --minutes 1
    python benchmarks/classify.py --tasks sst2 --models tfidf+lr,bi-lstm --minutes 10 --json

``--minutes`` caps every recurrent model's training time (the default budget is each task's
number of steps); ``--steps`` replaces the steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rnnkit.baselines.text import fit_baselines  # noqa: E402
from rnnkit.tasks import runs  # noqa: E402
from rnnkit.tasks.classification import ClassificationTask, read_texts  # noqa: E402

TASKS = ("negation", "sst2", "digits-rows", "digits-pixels")
BASELINES = ("bow", "tfidf+lr", "tfidf2+lr")
RNNS = {
    "rnn_tanh": {"cell": "rnn_tanh"},
    "irnn": {"cell": "irnn"},
    "lstm": {"cell": "lstm"},
    "gru": {"cell": "gru"},
    "bi-lstm": {"cell": "lstm", "bidirectional": True},
    "bi-lstm+attn": {"cell": "lstm", "bidirectional": True, "pooling": "attention"},
    "bi-lstm+max": {"cell": "lstm", "bidirectional": True, "pooling": "max"},
}
MODELS = (*BASELINES, *RNNS)
DEFAULT_MODELS = [m for m in MODELS if m != "bi-lstm+max"]

# Per task: the data section, the model sizes, and the trainer's settings (budget in steps).
SETUPS = {
    "negation": ({"source": "negation", "size": 4000, "val_size": 1000},
                 {"hidden_size": 64, "embedding_size": 32},
                 {"steps": 800, "batch_size": 32, "lr": 3e-3}),
    "sst2": ({"source": "sst2"},
             {"hidden_size": 150, "embedding_size": 200, "embedding_dropout": 0.1, "input_dropout": 0.2,
              "output_dropout": 0.3},
             {"steps": 3000, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.05}),
    "digits-rows": ({"source": "digits", "digits": "rows"},
                    {"hidden_size": 128, "embedding_size": 64},
                    {"steps": 2500, "batch_size": 64, "lr": 3e-3, "weight_decay": 0.0}),
    "digits-pixels": ({"source": "digits", "digits": "pixels"},
                      {"hidden_size": 128, "embedding_size": 16},
                      {"steps": 3000, "batch_size": 64, "lr": 2e-3}),
}
# Cells that need a gentler step size (Le et al. 2015 train the IRNN with a small learning rate),
# except where (task, cell) says otherwise.
LR_SCALE = {"irnn": 0.25, "rnn_tanh": 0.5, ("digits-rows", "irnn"): 1.0}
# (task, model) → model and train settings that replace the task's own (lr included, unscaled).
# Pixel by pixel, the IRNN reads the pixels themselves, as Le et al. 2015's does: through a
# Linear(1 → E) input layer in front of it (whose bias adds a constant every step, so h_T starts as
# the total ink plus a constant) it stayed at chance. Its ReLU units learn slowly, so it gets more
# steps and no weight decay (which pulls W_hh away from the identity), and a long warm-up: with the
# default 20 steps it stayed at chance too.
OVERRIDES = {("digits-pixels", "irnn"): ({"input_layer": False},
                                         {"steps": 12000, "lr": 1e-3, "weight_decay": 0.0, "warmup_steps": 600})}


def settings_for(task: str, model: str, minutes: float | None, steps: int | None) -> dict:
    data, sizes, train = SETUPS[task]
    model_over, train_over = OVERRIDES.get((task, model), ({}, {}))
    train = dict(train)
    train["lr"] *= LR_SCALE.get((task, model), LR_SCALE.get(model, 1.0))
    sizes, train = sizes | model_over, train | train_over
    if steps is not None:
        train["steps"] = steps
    if minutes is not None:
        train.pop("steps")
        train["minutes"] = minutes
    train |= {"device": "cpu", "save_every": 1e9, "log_every": 50}
    return ClassificationTask.settings_from_record({"data": data, "model": sizes | RNNS[model], "train": train})


def run_rnn(task: str, model: str, root: Path, minutes: float | None, steps: int | None) -> dict:
    settings = settings_for(task, model, minutes, steps)
    start = time.perf_counter()
    result = runs.train("classify", settings, root / f"{task}-{model}", handle_signals=False)
    return {"accuracy": result.best_value, "seconds": time.perf_counter() - start, "steps": result.step}


def run_baselines(task: str, names: list[str]) -> dict[str, dict]:
    data = ClassificationTask.settings_from_record({"data": SETUPS[task][0]})["data"]
    (train_texts, train_labels, _), (val_texts, val_labels, _) = read_texts(data)
    fitted = fit_baselines(train_texts, train_labels, val_texts, val_labels, names)
    return {name: {"accuracy": r["accuracy"], "seconds": r["seconds"]} for name, r in fitted.items()}


def table(results: dict[str, dict[str, dict]], models: list[str]) -> str:
    header = f"{'task':<14}" + "".join(f"{m:>18}" for m in models)
    lines = [header, "-" * len(header)]
    for task, row in results.items():
        cells = []
        for model in models:
            r = row.get(model)
            cells.append(f"{'—':>18}" if r is None or r["accuracy"] is None else
                         f"{100 * r['accuracy']:8.2f}% {r['seconds']:7.1f}s")
        lines.append(f"{task:<14}" + "".join(cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of: {', '.join(TASKS)}")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help=f"comma-separated, of: {', '.join(MODELS)}")
    parser.add_argument("--minutes", type=float, help="time budget of each recurrent model (default: steps)")
    parser.add_argument("--steps", type=int, help="steps of each recurrent model (default: the task's own)")
    parser.add_argument("--out", help="where the runs go (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    args = parser.parse_args()
    tasks, models = args.tasks.split(","), args.models.split(",")
    for name, chosen, known in (("task", tasks, TASKS), ("model", models, MODELS)):
        bad = [c for c in chosen if c not in known]
        if bad:
            parser.error(f"unknown {name} {bad[0]!r}; choose from {', '.join(known)}")
    torch.set_num_threads(1)
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="rnnkit-classify-"))
    results: dict[str, dict[str, dict]] = {}
    for task in tasks:
        row = results.setdefault(task, {})
        text = not task.startswith("digits")
        wanted = [m for m in models if m in BASELINES]
        if text and wanted:
            row |= run_baselines(task, wanted)
        for model in (m for m in models if m in RNNS):
            print(f"== {task} / {model}", file=sys.stderr, flush=True)
            row[model] = run_rnn(task, model, root, args.minutes, args.steps)
            print(f"   {task} / {model}: accuracy {row[model]['accuracy']:.4f} in {row[model]['seconds']:.1f} s",
                  file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"results": results, "runs": str(root)}))
    else:
        print(table(results, models))
        print(f"\naccuracy on held-out data, training wall time (1 thread); runs in {root}")


if __name__ == "__main__":
    main()
