"""Image captioning: Show and Tell against Show, Attend and Tell on Flickr8k, and on generated scenes.

For each encoder × decoder, one model trains through ``rnnkit train caption``'s own task and trainer
for a time budget, selecting its checkpoint on BLEU-4 of greedy dev captions (shapes: the fraction of
true captions). Its best checkpoint then captions the dev split by beam search (``--beam-size``,
default 5), scored against all references: BLEU-1…4 (sacrebleu on lowercased tokens without
punctuation) and CIDEr-D (pycocoevalcap); for shapes also the fraction of captions true of their
scene and the mean attention mass each named object's word puts on that object, on dev and on new
test scenes (dev also selects the checkpoint, so test is the unbiased figure). One row per model,
with the feature-extraction time (once per encoder: the cache serves the later models) and the
training time on this machine (``--threads``).

    python benchmarks/caption.py --datasets shapes --decoders show_attend_tell,show_tell
    python benchmarks/caption.py --datasets flickr8k --decoders show_attend_tell,show_tell --minutes 50 --json

Flickr8k is looked for in ``--data-dir`` (default ../shared/data/flickr8k beside the repository); it
is skipped with a message when absent. Flickr8k's test split is not in that copy, so the figures are
dev-split figures (the published ones are on test).
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

from rnnkit.cli.options import comma_choices  # noqa: E402
from rnnkit.models.captioner import ATTEND_WITH  # noqa: E402
from rnnkit.tasks import runs  # noqa: E402
from rnnkit.tasks.captioning import CaptionTask, evaluate_run  # noqa: E402

DATASETS = ("flickr8k", "shapes")
DECODERS = ("show_attend_tell", "show_tell")
ENCODERS = ("auto", "efficientnet-lite0", "small-cnn", "local-cnn", "cell-cnn")
FLICKR_MINUTES = 50.0
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "flickr8k"


def main() -> int:
    args = parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.out) if args.out else Path(scratch)
        cache = root / ".cache"
        for dataset in args.datasets:
            if dataset == "flickr8k" and not (args.data_dir / "Flickr8k.token.txt").is_file():
                print(f"skipping flickr8k: its files are not in {args.data_dir}", file=sys.stderr)
                continue
            for encoder in args.encoders:
                extraction = extract(dataset, encoder, args, cache)
                for decoder in args.decoders:
                    rows.append(run_one(dataset, encoder, decoder, args, root, cache) |
                                {"extract_minutes": extraction / 60})
                    print(format_row(rows[-1]), flush=True)
    if args.json:
        print(json.dumps(rows, indent=1))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=comma_choices(DATASETS), default=["flickr8k", "shapes"])
    parser.add_argument("--encoders", type=comma_choices(ENCODERS), default=["auto"],
                        help="comma-separated; auto (default): the task's own, efficientnet-lite0 for flickr8k, "
                        "local-cnn at 112 px for shapes")
    parser.add_argument("--decoders", type=comma_choices(DECODERS), default=list(DECODERS))
    parser.add_argument("--minutes", type=float, help=f"training budget per model (default: {FLICKR_MINUTES:g} for "
                        "flickr8k, the task's 10000 steps for shapes)")
    parser.add_argument("--steps", type=int, help="a step budget instead of minutes")
    parser.add_argument("--lr", type=float, help="peak learning rate (default: the task's)")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--feed-context", action=argparse.BooleanOptionalAction, help="Show, Attend and Tell: the "
                        "context as an input of the decoder too (default: yes)")
    parser.add_argument("--attend-with", choices=ATTEND_WITH, help="Show, Attend and Tell's query: h_(t-1) "
                        "(previous, Xu et al.; the default) or h_t after the word (current, Lu et al. 2017)")
    parser.add_argument("--image-size", type=int, help="pixels per side (default: the task's, 224)")
    parser.add_argument("--size", type=int, help="shapes: training scenes (default: the task's)")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--val-every", type=int, help="steps between validations (default: the trainer's)")
    parser.add_argument("--val-images", type=int, help="dev images captioned at each validation")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", help="keep the run directories here (default: a temporary directory)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def settings_for(dataset: str, encoder: str, decoder: str, args: argparse.Namespace) -> dict:
    """The settings record of one model (the task's defaults where the flags say nothing)."""
    if args.steps or args.minutes:
        budget = {"steps": args.steps} if args.steps else {"minutes": args.minutes}
    else:
        budget = {} if dataset == "shapes" else {"minutes": FLICKR_MINUTES}
    train = budget | {"device": "cpu"} | ({"val_every": args.val_every} if args.val_every else {})
    train |= {"lr": args.lr} if args.lr else {}
    data = {"val_images": args.val_images} if args.val_images else {}
    data |= {"image_size": args.image_size} if args.image_size else {}
    if dataset == "shapes":
        data |= {"source": "shapes"} | ({"size": args.size} if args.size else {})
    else:
        data |= {"images": str(args.data_dir / "images"), "captions": str(args.data_dir / "Flickr8k.token.txt")}
    model = {"decoder": decoder, "cell": args.cell} | ({"attend_with": args.attend_with} if args.attend_with else {})
    model |= {} if args.feed_context is None else {"feed_context": args.feed_context}
    return {"data": data, "encoder": {"name": encoder}, "model": model, "train": train}


def extract(dataset: str, encoder: str, args: argparse.Namespace, cache: Path) -> float:
    """Seconds to read the images and compute (or, for a trained encoder, cache the pixels of) both splits."""
    settings = CaptionTask.settings_from_record(settings_for(dataset, encoder, DECODERS[0], args))
    started = time.perf_counter()
    task = CaptionTask(settings, cache)
    task.inputs(task.train_set)
    task.inputs(task.val_set)
    return time.perf_counter() - started


def run_one(dataset: str, encoder: str, decoder: str, args: argparse.Namespace, root: Path, cache: Path) -> dict:
    settings = CaptionTask.settings_from_record(settings_for(dataset, encoder, decoder, args))
    model = settings["model"]
    query = "-current" if model.attends and model.attend_with == "current" else ""
    query += "-unfed" if model.attends and not model.feed_context else ""
    run_dir = root / f"{dataset}-{settings['encoder'].resolved}-{decoder}{query}"     # auto named by what it chose
    started = time.perf_counter()
    result = runs.train("caption", settings, run_dir, handle_signals=False, cache=cache)
    train_s = time.perf_counter() - started
    scores = evaluate_run(run_dir, "dev", beam_size=args.beam_size, cache=cache)
    if dataset == "shapes":
        test = evaluate_run(run_dir, "test", beam_size=args.beam_size, cache=cache)
        scores |= {f"test_{key}": value for key, value in test.items() if key != "beam_size"}
    return {"dataset": dataset, "encoder": settings["encoder"].resolved, "decoder": decoder, "cell": args.cell, "steps": result.step,
            "train_minutes": train_s / 60, "best_validation": result.best_value,
            "selected_on": result.best_metric} | scores


def format_row(row: dict) -> str:
    bleu = " / ".join(f"{row[f'bleu{n}']:.1f}" for n in range(1, 5))
    text = (f"{row['dataset']:8} {row['encoder']:18} {row['decoder']:16} {row['steps']:6} steps  "
            f"extract {row['extract_minutes']:5.1f} min  train {row['train_minutes']:5.1f} min  "
            f"BLEU-1..4 {bleu}  CIDEr-D {row['cider_d']:.3f}  (dev, beam {row['beam_size']})")
    if "true_fraction" in row:
        mass = row["object_attention"]
        text += f"  true {row['true_fraction']:.4f}  attention on objects {_mass(mass)}"
    if "test_true_fraction" in row:
        text += (f"  | test: BLEU-4 {row['test_bleu4']:.1f}  CIDEr-D {row['test_cider_d']:.3f}  "
                 f"true {row['test_true_fraction']:.4f}  attention on objects {_mass(row['test_object_attention'])}")
    return text


def _mass(mass: float | None) -> str:
    return "—" if mass is None else f"{mass:.3f}"


if __name__ == "__main__":
    sys.exit(main())
