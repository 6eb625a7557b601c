"""``rnnkit train classify`` (its flags and examples) and ``rnnkit eval`` of a classify run.

The evaluation prints accuracy, macro-F1, per-class precision and recall and the confusion matrix,
saves the matrix as a PNG, and prints the order-blind baselines (bag of words, TF-IDF + logistic
regression) fitted on the run's own training split beside the recurrent model, for text runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Any

from ..models.classifier import POOLINGS, SequenceClassifierConfig
from ..tasks import classification
from .flags import Flag, dropout_flags, train_flags


def flags() -> dict[str, list[Flag]]:
    d, m = classification.ClassifyData, SequenceClassifierConfig
    data = [
        Flag("task", "data", "source", "a built-in data set instead of --data: the negation grammar, SST-2 "
                    "(../shared/data/sst2), or scikit-learn's digits read as sequences", str,
                    choices=classification.SOURCES[1:]),
        Flag("data", "data", "train_path", "training CSV or TSV: a text column and a label column (header "
             "detected)", str, metavar="FILE"),
        Flag("val-data", "data", "val_path", "validation CSV/TSV (default: --val-fraction of --data held out)", str,
             metavar="FILE"),
        Flag("text-column", "data", "text_column", "the text column's header name or 0-based number (default: a "
             "column named text, sentence, review, …, else the first)", str, metavar="NAME"),
        Flag("label-column", "data", "label_column", "the label column's name or number (default: label, class, "
             "sentiment, …, else the last)", str, metavar="NAME"),
        Flag("delimiter", "data", "delimiter", "field separator (default: tab for .tsv, comma for .csv, else "
             "sniffed)", str, metavar="C"),
        Flag("encoding", "data", "encoding", "text encoding of the files", str, d),
        Flag("val-fraction", "data", "val_fraction", "fraction of --data held out when there is no --val-data",
             float, d, metavar="F"),
        Flag("tokens", "data", "tokens", "whitespace-separated words or characters", str, d, choices=("word", "char")),
        Flag("lowercase", "data", "lowercase", "lower-case the texts", owner=d, switch=True),
        Flag("min-count", "data", "min_count", "tokens seen fewer than N times become <unk>", int, d, metavar="N"),
        Flag("max-vocab", "data", "max_vocab", "keep the N most frequent tokens (default: all)", int, metavar="N"),
        Flag("size", "data", "size", "--task negation: training sentences", int, d, metavar="N"),
        Flag("val-size", "data", "val_size", "--task negation: held-out sentences", int, d, metavar="N"),
        Flag("digits", "data", "digits", "--task digits: row by row (8 steps of 8) or pixel by pixel (64 of 1)",
             str, d, choices=("rows", "pixels")),
        Flag("data-dir", "data", "data_dir", f"--task sst2: the folder holding sst2/ (default: "
             f"${classification.DATA_ENV}, else ../shared/data)", str, metavar="DIR"),
        Flag("bucket", "data", "bucket", "batches per length bucket (1: no bucketing)", int, d, metavar="N"),
        Flag("data-seed", "data", "seed", "the data's seed (generation, splits)", int, d),
    ]
    model = [
        Flag("cell", "model", "cell", "recurrent cell, any of `rnnkit cells` (irnn: Le et al. 2015)", str, m),
        Flag("hidden", "model", "hidden_size", "hidden units per layer and direction", int, m, metavar="H"),
        Flag("layers", "model", "num_layers", "stacked layers", int, m, metavar="L"),
        Flag("bidirectional", "model", "bidirectional", "read each sequence in both directions", owner=m,
             switch=True),
        Flag("pooling", "model", "pooling", "how the states over time become one vector", str, m, choices=POOLINGS),
        Flag("embedding-size", "model", "embedding_size", "token embedding (or input layer) size", int, m,
             metavar="E"),
        Flag("input-layer", "model", "input_layer", "real-valued inputs (digits) pass a linear layer to E; with "
             "--no-input-layer they go straight into the recurrent layer, as Le et al. 2015's IRNN reads pixels",
             owner=m, switch=True),
        Flag("attention-size", "model", "attention_size", "units of the attention scorer (default: the pooled "
             "size)", int, metavar="A"),
        Flag("engine", "model", "engine", "engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
        Flag("forget-bias", "model", "forget_bias", "initial forget-gate bias of the LSTM family", float,
             metavar="B"),
    ]
    regularisation = dropout_flags(m, "word")
    budget = train_flags(lm=False)
    budget["budget"][0] = dataclasses.replace(budget["budget"][0], default=classification.DEFAULT_STEPS)
    return {"data": data, "model": model, "regularisation (all off by default)": regularisation} | budget


SUMMARY = "classify texts or sequences (many-to-one): CSV/TSV, negation, SST-2, digits"
DESCRIPTION = ("Train a recurrent sequence classifier (embedding → any cell, uni- or bidirectional, stacked → "
               "last/mean/max/attention pooling → softmax) on a CSV or TSV of labelled texts or on a built-in "
               "task. Batches are bucketed by length; validation accuracy selects the best checkpoint.")
EXAMPLES = """examples:
  rnnkit train classify --task negation --steps 400 --out runs/negation
      the notes' "good, not bad at all" vs "bad, not good at all": order decides, bag of words cannot
  rnnkit train classify --data reviews.csv --text-column review --label-column stars --out runs/reviews
      your own CSV (or TSV): any label strings, 10% held out for validation
  rnnkit train classify --task sst2 --cell lstm --bidirectional --pooling max --hidden 256 \\
      --embedding-size 300 --embedding-dropout 0.1 --output-dropout 0.3 --minutes 20 --out runs/sst2
      SST-2 from scratch (train split; its dev split validates)
  rnnkit train classify --task digits --digits pixels --cell irnn --no-input-layer --lr 1e-3 \\
      --weight-decay 0 --warmup 600 --steps 12000
      the 8×8 digits one pixel at a time, with an identity-initialised ReLU RNN (Le et al. 2015)
  rnnkit eval runs/negation
      accuracy, macro-F1, confusion matrix (PNG) and the bag-of-words baselines beside it
  rnnkit predict runs/negation "the soup was bad , not good at all" --explain
      the label, the class probabilities and how much each word mattered

exit status as for `rnnkit train lm`.
"""


def plot_confusion(report: dict[str, Any], png_path: str | Path, title: str = "") -> None:
    """The confusion matrix (rows: true label, columns: predicted) as a PNG heat map with counts."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    labels, matrix = report["labels"], report["confusion"]
    size = 2.5 + 0.45 * len(labels)
    figure = Figure(figsize=(size + 1, size), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    peak = max(max(row) for row in matrix) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            axes.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black",
                      fontsize=8)
    axes.set_title(title or f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}", fontsize=9)
    figure.tight_layout()
    figure.savefig(png_path)


def format_report(report: dict[str, Any]) -> str:
    """The report as the terminal shows it: figures, per-class table, confusion matrix, baselines."""
    labels = report["labels"]
    lines = [f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}   "
             f"({report['count']:,} sequences: {report['data']})", ""]
    width = max(8, *(len(label) for label in labels))
    lines.append(f"{'label':<{width}}  precision  recall     F1  support")
    for label, row in report["per_class"].items():
        lines.append(f"{label:<{width}}  {row['precision']:9.4f}  {row['recall']:6.4f}  {row['f1']:.4f}  "
                     f"{row['support']:7,}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)"]
    cell = max(5, *(len(str(c)) for row in report["confusion"] for c in row), *(len(l) for l in labels))
    lines.append(" " * width + "  " + " ".join(f"{label:>{cell}}" for label in labels))
    for label, row in zip(labels, report["confusion"]):
        lines.append(f"{label:<{width}}  " + " ".join(f"{count:>{cell}}" for count in row))
    if "baselines" in report:
        lines += ["", "on the same splits:", f"  {'rnn (this run)':<22} accuracy {report['accuracy']:.4f}"]
        names = {"bow": "bag of words (NB)", "tfidf+lr": "tf-idf + logreg", "tfidf2+lr": "tf-idf 1-2gram + logreg"}
        for name, result in report["baselines"].items():
            lines.append(f"  {names.get(name, name):<22} accuracy {result['accuracy']:.4f}   "
                         f"({result['seconds']:.1f} s to fit)")
    return "\n".join(lines)


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR [--data FILE]`` for a classify run."""
    report = classification.evaluate_run(args.run_dir, args.data, baselines=not getattr(args, "no_baselines", False))
    png = getattr(args, "confusion", None) or Path(args.run_dir) / "confusion.png"
    plot_confusion(report, png)
    report["confusion_png"] = str(png)
    print(json.dumps(report) if args.json else format_report(report) + f"\n\nconfusion matrix saved to {png}")
    return 0
