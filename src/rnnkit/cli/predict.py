"""``rnnkit predict RUN_DIR "some text" [...]``: a trained model's label for each text.

Prints the predicted label and the class probabilities for each text given (or each row of
``--data FILE``: a CSV/TSV read with the run's text column, or a plain file with one text a line).
With ``--explain`` it also shows how much each token mattered: the attention-pooling weights where
the model has them, otherwise leave-one-out occlusion (how much the predicted class's probability
changes when the token is left out, normalised); as text in the terminal, and with ``--html FILE`` or
``--png FILE`` as a small page or picture.

The run's config.json names its task; :data:`PREDICTORS` maps a task to its function.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from pathlib import Path

from ..data import DataError
from ..training import CheckpointError
from . import options
from . import tag

EXAMPLES = """examples:
  rnnkit predict runs/negation "the food was good , not bad at all" "the food was bad , not good at all"
      the label and the class probabilities of each text
  rnnkit predict runs/sst2 --data reviews.txt --json
      one JSON object per line of the file (or per row of a CSV/TSV, its text column)
  rnnkit predict runs/sst2 "a gorgeous , witty , seductive movie ." --explain --html why.html
      which words the prediction rests on, in the terminal and as an HTML page (--png for a picture)
"""

BARS = " ▏▎▍▌▋▊▉█"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict", help="label texts with a trained classifier (probabilities, --explain)",
        description="Predict with the best checkpoint of a run: the label and the class probabilities of each "
                    "text, and with --explain how much each token mattered.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train`")
    parser.add_argument("texts", metavar="TEXT", nargs="*", help="texts to label (an empty string is fine)")
    parser.add_argument("--data", metavar="FILE", help="texts from a file: a CSV/TSV (the run's text column) or "
                        "one text per line")
    parser.add_argument("--explain", action="store_true", help="show how much each token mattered")
    parser.add_argument("--html", metavar="FILE", help="with --explain: also write the tokens, shaded by weight, "
                        "as an HTML page")
    parser.add_argument("--png", metavar="FILE", help="with --explain: also draw the weights as a PNG")
    parser.add_argument("--json", action="store_true", help="one JSON object per text")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..tasks import runs

    try:
        if (args.html or args.png) and not args.explain:
            raise ValueError("--html and --png draw the explanation: add --explain")
        task = runs.read_config(args.run_dir)["task"]
        if task not in PREDICTORS:
            raise CheckpointError(f"rnnkit predict does not know how to predict with a {task!r} run; it predicts "
                                  f"with: {', '.join(PREDICTORS)}")
        return PREDICTORS[task](args)
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit predict: error: {error}", file=sys.stderr)
        return 2


def read_texts(path: str, text_column: str | None, delimiter: str | None, encoding: str) -> list[str]:
    """The texts of ``path``: a CSV/TSV's text column, or every non-empty line of another file."""
    from ..data.tables import read_table

    file = Path(path).expanduser()
    if file.suffix.lower() in (".csv", ".tsv", ".tab"):
        return read_table(file, text_column=text_column, delimiter=delimiter, encoding=encoding,
                          require_labels=False).texts
    if not file.is_file():
        raise DataError(f"{file} does not exist or is not a file")
    try:
        lines = file.read_text(encoding=encoding).splitlines()
    except UnicodeDecodeError as error:
        raise DataError(f"{file}: not valid {encoding} (offset {error.start}); convert it to UTF-8") from None
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{file} is empty: it holds no texts")
    return texts


def bar(weight: float, peak: float, width: int = 20) -> str:
    """A horizontal bar of ``weight`` against ``peak`` in eighths of a character."""
    eighths = round(8 * width * weight / peak) if peak > 0 else 0
    return "█" * (eighths // 8) + (BARS[eighths % 8] if eighths % 8 else "")


def _classify(args: argparse.Namespace) -> int:
    from ..tasks.classification import load_run

    run = load_run(args.run_dir)
    if not run.data.is_text:
        raise ValueError(f"{args.run_dir} classifies digit images, not texts: evaluate it with `rnnkit eval`")
    texts = list(args.texts)
    if args.data is not None:
        data = run.data
        texts += read_texts(args.data, "sentence" if data.source == "sst2" else data.text_column, data.delimiter,
                            data.encoding)
    if not texts:
        raise ValueError("give texts to label (TEXT ...) or --data FILE")
    sequences = run.encode(texts)
    probabilities = run.probabilities(sequences)
    explained = []
    for text, sequence, p in zip(texts, sequences, probabilities):
        label = run.labels[int(p.argmax())]
        record = {"text": text, "label": label,
                  "probabilities": {name: round(float(q), 6) for name, q in zip(run.labels, p)}}
        if args.explain:
            _, weights = run.explain(sequence)
            record["tokens"] = run.tokens(text)
            record["weights"] = [round(float(w), 6) for w in weights]
            record["weights_are"] = "attention" if run.settings["model"].pooling == "attention" else "occlusion"
            explained.append(record)
        if args.json:
            print(json.dumps(record))
            continue
        others = "  ".join(f"{name} {q:.4f}" for name, q in record["probabilities"].items())
        print(f"{label}\t{others}\t{text}")
        if args.explain:
            peak = max(record["weights"])
            print(f"  how much each token mattered ({record['weights_are']} weights, summing to 1):")
            for token, weight in zip(record["tokens"], record["weights"]):
                print(f"    {token:<16} {weight:6.3f} {bar(weight, peak)}")
    if args.html:
        write_html(explained, args.html)
        print(f"explanation written to {args.html}", file=sys.stderr)
    if args.png:
        write_png(explained, args.png)
        print(f"explanation drawn in {args.png}", file=sys.stderr)
    return 0


def write_html(records: list[dict], path: str | Path) -> None:
    """Each text's tokens, shaded by their weight, with the label and probabilities."""
    parts = ["<!doctype html><meta charset='utf-8'><title>rnnkit predict --explain</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
             "span.t{padding:1px 2px;margin:1px;border-radius:3px;display:inline-block}"
             "p.l{color:#555;margin-bottom:.2em}</style>"]
    for record in records:
        peak = max(record["weights"]) or 1.0
        probabilities = ", ".join(f"{html.escape(k)} {v:.3f}" for k, v in record["probabilities"].items())
        parts.append(f"<p class='l'><b>{html.escape(record['label'])}</b> ({probabilities}; "
                     f"{record['weights_are']} weights)</p><div>")
        for token, weight in zip(record["tokens"], record["weights"]):
            parts.append(f"<span class='t' style='background:rgba(220,60,30,{weight / peak:.3f})' "
                         f"title='{weight:.4f}'>{html.escape(token)}</span>")
        parts.append("</div>")
    Path(path).write_text("\n".join(parts) + "\n", encoding="utf-8")


def write_png(records: list[dict], path: str | Path) -> None:
    """One bar chart of token weights per text (rnnkit.viz.attention, shared by every model that attends)."""
    from ..viz.attention import plot_token_rows

    plot_token_rows([(r["tokens"], r["weights"], f"{r['label']}  ({r['weights_are']})") for r in records], path)


# The prediction of each task, by the name its run's config.json records: ``function(args) -> exit status``.
PREDICTORS = {
    "classify": _classify,
    "tag": tag.predict,
}
