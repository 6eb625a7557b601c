"""``rnnkit train tag`` (its flags and examples), and ``rnnkit eval`` and ``rnnkit predict`` of a tag run.

The evaluation prints the accuracy per token, the macro-F1, each label's precision, recall, F1 and
support (scikit-learn's ``classification_report`` figures) and the confusion matrix, and saves the
matrix as a PNG in the run directory. The prediction prints each text's tokens with their labels:
for Python source (pytokens) each line of the text, and under it one code per character.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from ..models.tagger import TaggerConfig
from ..tasks import tagging
from .flags import Flag, dropout_flags, train_flags

TAG_SUMMARY = "tag every token: Python source by character (tokenize's types), or your CoNLL file"
TAG_DESCRIPTION = ("Train a recurrent sequence tagger (many-to-many, aligned), bidirectional by default. "
                   "--task pytokens labels every character of Python source (by default the standard library's) "
                   "with the token type Python's tokenize gives it: whitespace, name, keyword, number, string, "
                   "comment, operator. --data FILE trains on your own token<TAB>label lines, a blank line between "
                   "sequences (CoNLL). Whole files (pytokens) or sequences (CoNLL) are held out for validation; "
                   "accuracy per token selects the best checkpoint.")

TAG_EXAMPLES = """examples:
  rnnkit train tag --task pytokens --minutes 5 --out runs/pytokens
      a bidirectional LSTM labels the characters of the standard library's source (3M characters)
  rnnkit train tag --task pytokens --no-bidirectional --minutes 5 --out runs/pytokens-uni
      the same with a forward-only LSTM: it cannot see what follows a character
  rnnkit train tag --task pytokens --data src/ --max-chars 0 --cell gru
      your own Python files (every one: --max-chars 0)
  rnnkit train tag --data train.conll --val-data dev.conll --hidden 200 --embedding-size 100 --steps 3000
      your own token<TAB>label file (a blank line between sequences), e.g. part-of-speech tags
  rnnkit eval runs/pytokens
      accuracy, macro-F1, per-label precision/recall and the confusion matrix (also saved as a PNG)
  rnnkit eval runs/ner --data test.conll
      the same on another file

exit status as for `rnnkit train lm`.
"""


def tag_flags() -> dict[str, list[Flag]]:
    d, m = tagging.TagData, TaggerConfig
    data = [
        Flag("task", "data", "kind", "pytokens: Python source by characters; conll: a token<TAB>label file (the "
             "kind when --data is given without --task)", str, d, choices=tagging.KINDS),
        Flag("data", "data", "source", "conll: the token<TAB>label file; pytokens: a .py file or a directory "
             "(default: the running Python's standard library)", str, metavar="PATH"),
        Flag("val-data", "data", "val_source", "conll: a separate validation file (default: hold out "
             "--val-fraction of the sequences)", str, metavar="FILE"),
        Flag("val-fraction", "data", "val_fraction", "whole files (pytokens) or sequences (conll) held out",
             float, d, metavar="F"),
        Flag("max-chars", "data", "max_chars", "pytokens: read files (in a seeded order) up to N characters; 0 for "
             "every file", int, d, metavar="N"),
        Flag("chunk-length", "data", "chunk_length", "cut longer sequences into chunks of at most T tokens", int, d,
             metavar="T"),
        Flag("eval-context", "data", "eval_context", "validation and eval read each chunk with up to N tokens of its "
             "sequence on either side, so a token near a chunk's edge sees what surrounds it (default: half a "
             "chunk)", int, d, metavar="N"),
        Flag("min-count", "data", "min_count", "conll: words seen fewer than N times become <unk>", int, d,
             metavar="N"),
        Flag("encoding", "data", "encoding", "conll: the files' text encoding", str, d),
        Flag("data-seed", "data", "seed", "the held-out choice and the order files are read in", int, d),
    ]
    model = [
        Flag("cell", "model", "cell", "recurrent cell, any of `rnnkit cells`", str, m),
        Flag("hidden", "model", "hidden_size", "hidden units per layer and direction", int, m, metavar="H"),
        Flag("layers", "model", "num_layers", "stacked layers", int, m, metavar="L"),
        Flag("embedding-size", "model", "embedding_size", "embedding size", int, m, metavar="E"),
        Flag("bidirectional", "model", "bidirectional", "read each sequence in both directions", owner=m,
             switch=True),
        Flag("engine", "model", "engine", "engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
    ]
    regularisation = dropout_flags(m, "token")
    flags = train_flags(lm=False)
    flags["budget"][0] = dataclasses.replace(flags["budget"][0], default=tagging.DEFAULT_STEPS)
    return {"data": data, "model": model, "regularisation (all off by default)": regularisation} | flags


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR [--data FILE]`` of a tag run (module docstring)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    true, predicted, labels, what = tagging.evaluate_run(args.run_dir, args.data)
    ids = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(true, predicted, labels=ids, zero_division=0)
    matrix = confusion_matrix(true, predicted, labels=ids)
    result = {
        "accuracy": float((true == predicted).mean()),
        # Over the labels that occur in the truth or the predictions, as the validation metric.
        "macro_f1": float(f1_score(true, predicted, average="macro", zero_division=0)),
        "tokens": int(len(true)),
        "labels": {label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                   for label, p, r, f, s in zip(labels, precision, recall, f1, support)},
        "confusion": matrix.tolist(),
    }
    suffix = "" if args.data is None else "-" + Path(args.data).stem
    picture = Path(args.run_dir) / f"confusion{suffix}.png"
    _plot_confusion(matrix, labels, picture, f"{Path(args.run_dir).name} on {Path(str(what)).name}")
    result["confusion_png"] = str(picture)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{len(true):,} tokens of {what}")
    print(f"accuracy {result['accuracy']:.4f}   macro-F1 {result['macro_f1']:.4f}")
    print(_report_table(labels, precision, recall, f1, support))
    print("confusion matrix (rows: true label, columns: predicted)")
    print(_matrix_table(matrix, labels))
    print(f"confusion matrix saved to {picture}")
    return 0


def _report_table(labels: list[str], precision, recall, f1, support) -> str:
    width = max(len("label"), *(len(label) for label in labels))
    rows = [f"{'label':<{width}}  precision  recall      f1  support"]
    rows += [f"{label:<{width}}  {p:9.4f}  {r:6.4f}  {f:6.4f}  {s:7,}"
             for label, p, r, f, s in zip(labels, precision, recall, f1, support)]
    return "\n".join(rows)


def _matrix_table(matrix: np.ndarray, labels: list[str]) -> str:
    width = max(len(label) for label in labels)
    cell = max(max(len(f"{int(n):,}") for n in matrix.flat), *(len(label[:10]) for label in labels)) + 1
    rows = [" " * width + "".join(f"{label[:10]:>{cell}}" for label in labels)]
    rows += [f"{label:<{width}}" + "".join(f"{int(n):>{cell},}" for n in row) for label, row in zip(labels, matrix)]
    return "\n".join(rows)


def _plot_confusion(matrix: np.ndarray, labels: list[str], path: Path, title: str) -> None:
    """The confusion matrix as a PNG, each row normalised to the true label's count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    rows = matrix.sum(1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    size = min(2.5 + 0.6 * len(labels), 20.0)
    figure, axes = plt.subplots(figsize=(size, size))
    # Past 20 labels the numbers would not fit their cells: the colours alone tell.
    ConfusionMatrixDisplay(normalised, display_labels=labels).plot(
        ax=axes, values_format=".2f", cmap="Blues", colorbar=False, xticks_rotation=45,
        include_values=len(labels) <= 20)
    axes.set_title(title + "\n(rows: true label, normalised)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


# One character per pytokens label, printed under the source by `rnnkit predict`.
CODES = {"whitespace": " ", "name": "n", "keyword": "k", "number": "1", "string": "s", "comment": "#",
         "operator": "o"}


def predict(args: argparse.Namespace) -> int:
    """``rnnkit predict RUN_DIR TEXT ... [--data FILE]`` of a tag run: every token's label."""
    if args.explain:
        raise ValueError("--explain shows what a classifier's label rests on; a tagger labels every token: "
                         "leave --explain out")
    run = tagging.load_run(args.run_dir)
    texts = list(args.texts)
    if args.data is not None:
        texts += _read_texts(args.data, whole=run.tokenizer.kind == "char")
    if not texts:
        raise ValueError("give texts to tag (TEXT ...) or --data FILE")
    for text in texts:
        tagged = run.tag(text)
        if args.json:
            print(json.dumps({"text": text, "tokens": [t for t, _, _ in tagged], "labels": [label for _, label, _ in
                              tagged], "probabilities": [round(p, 6) for _, _, p in tagged]}))
        elif run.tokenizer.kind == "char":
            print(_code_lines(tagged))
        else:
            print(" ".join(f"{token}/{label}" for token, label, _ in tagged))
    return 0


def _read_texts(path: str, whole: bool) -> list[str]:
    """A file's whole text (Python source, tagged by character) or its non-empty lines (words)."""
    from ..data import DataError

    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"--data {file} does not exist" if not file.exists() else f"--data {file} is not a file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"--data {file}: byte {error.start} is not valid utf-8") from None
    return [text] if whole else [line for line in text.splitlines() if line.strip()]


def _code_lines(tagged: list[tuple[str, str, float]]) -> str:
    """Each line of the text, then a line of label codes under its characters (legend first)."""
    legend = "  ".join(f"{code if code != ' ' else '␣'}={label}" for label, code in CODES.items())
    lines, source, codes = [legend], [], []
    for char, label, _ in tagged:
        if char == "\n":
            lines += ["".join(source), "".join(codes).rstrip(), ""]
            source, codes = [], []
            continue
        source.append(char if char != "\t" else " ")
        codes.append(CODES.get(label, "?"))
    if source:
        lines += ["".join(source), "".join(codes).rstrip()]
    return "\n".join(lines).rstrip("\n")
