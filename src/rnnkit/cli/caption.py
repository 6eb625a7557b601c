"""``rnnkit train caption``, ``rnnkit eval`` of a caption run, and ``rnnkit caption RUN_DIR IMAGE…``.

The task (data, model, loss, metrics) is :mod:`rnnkit.tasks.captioning`; this module holds its flags,
examples and the two commands that read a trained run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..data import DataError
from ..models.captioner import ATTEND_WITH, IMAGE_AS, INITIAL_STATES, SCORES, CaptionerConfig
from ..tasks import captioning
from ..training import CheckpointError
from . import options
from .flags import Flag, train_flags

SUMMARY = "image captioning: Show and Tell, Show Attend and Tell, on photos or generated scenes"
DESCRIPTION = ("Train a captioner: a CNN encoder (pretrained EfficientNet-Lite0, frozen with its features cached, or "
               "a small CNN trained from scratch with the decoder) and a recurrent decoder that sees the image once (Show and Tell, "
               "--attention none) or attends over its 7×7 regions at every word (Show, Attend and Tell, --attention "
               "soft). Captions are lowercased, punctuation removed. Validation reports BLEU-4 of greedy captions "
               "against all references (for --task shapes: the fraction of captions true of their scene, which "
               "selects the checkpoint). Defaults here: --batch 64, --lr 1e-3 and --minutes 60 (shapes: --steps 10000, "
               "--lr 2e-3, and the local-cnn encoder at --image-size 112, whose regions each see about their own "
               "part of the scene).")
EXAMPLES = """examples:
  rnnkit train caption --task shapes --out runs/shapes
      generated scenes ("a small red circle left of a blue square"): truth and attention are measurable
  rnnkit train caption --images ../shared/data/flickr8k/images --captions ../shared/data/flickr8k/Flickr8k.token.txt \\
      --minutes 90 --out runs/flickr8k
      Flickr8k with its standard splits (the lists beside the caption file), EfficientNet-Lite0 features
  rnnkit train caption --images photos/ --captions dataset_flickr30k.json --attention none --image-as state
      Show and Tell from a Karpathy split file, the image as the decoder's initial state
  rnnkit train caption --images photos/ --captions captions.txt --splits train.txt,dev.txt --encoder small-cnn
      no pretrained weights at all: a small CNN trained with the decoder
  rnnkit caption runs/flickr8k dog.jpg beach.jpg --beam-size 5
  rnnkit caption runs/shapes scene.png --show-attention words.png
      the image once per generated word, with that word's attention over it
  rnnkit eval runs/flickr8k --split dev
      BLEU-1…4 and CIDEr-D against all five references, beam 5

exit status as for `rnnkit train lm`.
"""

ATTENTION = {"soft": "show_attend_tell", "none": "show_tell"}


def _attention(text: str) -> str:
    if text not in ATTENTION:
        raise argparse.ArgumentTypeError(f"invalid choice: {text!r} (choose from {', '.join(ATTENTION)})")
    return ATTENTION[text]


def _splits(text: str) -> tuple[str, ...]:
    parts = tuple(part.strip() for part in text.split(",") if part.strip())
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"give two files, TRAIN,DEV (lists of image names), got {text!r}")
    return parts


def flags() -> dict[str, list[Flag]]:
    d, e, m = captioning.CaptionData, captioning.EncoderConfig, CaptionerConfig
    data = [
        Flag("task", "data", "source", "files (--images/--captions) or generated shapes", str, d,
             choices=captioning.SOURCES),
        Flag("images", "data", "images", "directory of the images the caption file names", str, metavar="DIR"),
        Flag("captions", "data", "captions", "Flickr token file (IMAGE.jpg#N<TAB>caption) or Karpathy split JSON",
             str, metavar="FILE"),
        Flag("splits", "data", "splits", "lists of training and dev image names (default: Flickr8k's lists beside "
             "the caption file, a Karpathy file's own splits, or the last --val-size images)", _splits,
             metavar="TRAIN,DEV"),
        Flag("val-size", "data", "val_size", "dev images held out when no split is given; shapes: dev scenes", int, d,
             metavar="N"),
        Flag("min-count", "data", "min_count", "caption words seen fewer than N times become <unk>", int, d,
             metavar="N"),
        Flag("max-length", "data", "max_length", "leave out training captions of more words; the longest caption "
             "generated", int, d, metavar="N"),
        Flag("image-size", "data", "image_size", "images are read at S×S, resized if needed", int, d,
             metavar="S"),
        Flag("size", "data", "size", "shapes: training scenes", int, d, metavar="N"),
        Flag("max-shapes", "data", "max_shapes", "shapes: the most shapes in a scene", int, d, metavar="N"),
        Flag("data-seed", "data", "seed", "shapes: the generated scenes' seed", int, d),
        Flag("val-images", "data", "val_images", "dev images captioned at each validation", int, d, metavar="N"),
    ]
    encoder = [
        Flag("encoder", "encoder", "name", "efficientnet-lite0 (pretrained, frozen: features cached), small-cnn "
             "(trained from scratch), local-cnn (from scratch, each region seeing about its own cell only) or "
             "cell-cnn (each region seeing its own cell and nothing else; sides a multiple of 7); "
             "auto: efficientnet-lite0, and for --task shapes local-cnn at --image-size 112", str, e),
        Flag("fine-tune-encoder", "encoder", "fine_tune", "train the pretrained encoder's last N blocks with the "
             "decoder (slow on a CPU: every step runs the CNN)", int, e, metavar="N"),
    ]
    model = [
        Flag("attention", "model", "decoder", "soft: Show, Attend and Tell; none: Show and Tell (default soft)",
             _attention, metavar="soft|none"),
        Flag("image-as", "model", "image_as", "Show and Tell: the image as the first input or the initial state", str,
             m, choices=IMAGE_AS),
        Flag("score", "model", "score", "Show, Attend and Tell's attention scores: additive (Xu et al.) or general "
             "(qᵀ W a, Luong et al.; shapes: general)", str, m, choices=SCORES),
        Flag("region-norm", "model", "region_norm", "layer-normalise each projected region", owner=m, switch=True),
        Flag("initial-state", "model", "initial_state", "Show, Attend and Tell: the decoder starts from the mean "
             "region (image) or from zeros, seeing the image only through attention (shapes: zeros)", str, m,
             choices=INITIAL_STATES),
        Flag("attend-with", "model", "attend_with", "Show, Attend and Tell's attention query: the state before "
             "the word just written (previous, Xu et al.) or after it (current, Lu et al. 2017)", str, m,
             choices=ATTEND_WITH),
        Flag("feed-context", "model", "feed_context", "Show, Attend and Tell: the attended context is an input of "
             "the decoder as well as of the output layer (--no-feed-context: of the output only)", owner=m,
             switch=True),
        Flag("cell", "model", "cell", "the decoder's recurrent cell, any of `rnnkit cells`", str, m),
        Flag("hidden", "model", "hidden_size", "decoder hidden units (shapes: 256)", int, m, metavar="H"),
        Flag("embedding-size", "model", "embedding_size", "word embedding size (shapes: 64)", int, m, metavar="E"),
        Flag("attention-size", "model", "attention_size", "the additive attention's hidden size (shapes: 128)", int,
             m, metavar="A"),
        Flag("layers", "model", "num_layers", "stacked decoder layers", int, m, metavar="L"),
        Flag("gate", "model", "gate", "Show, Attend and Tell's gating scalar β on the context", owner=m, switch=True),
        Flag("doubly-stochastic", "model", "doubly_stochastic", "λ of the doubly stochastic attention regulariser "
             "(shapes: 0)", float, m, metavar="L"),
        Flag("dropout", "model", "dropout", "dropout before the output layer (shapes: 0.2)", float, m, metavar="P"),
    ]
    return {"data": data, "image encoder": encoder, "model": model} | train_flags(lm=False)


# ------------------------------------------------------------------------------------------------
# rnnkit eval RUN_DIR


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval``'s options for a caption run (``--beam-size`` is shared with translate runs)."""
    group = parser.add_argument_group("caption runs")
    group.add_argument("--split", default="dev", help="the images to caption: dev (default) or train; for shapes "
                       "also test (new scenes)")
    group.add_argument("--length-penalty", type=float, default=0.0, metavar="A", help="α of the beam's length "
                       "normalisation log P / |y|^α (default 0: raw log-probability, which favours short captions)")
    group.add_argument("--cache-dir", metavar="DIR", help="where the image features are cached (default: as for "
                       "`rnnkit train`, beside the run directories)")


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR [--split dev]`` of a caption run: BLEU-1…4, CIDEr-D (and shapes' truth)."""
    result = captioning.evaluate_run(args.run_dir, args.split, args.beam_size, args.length_penalty,
                                     cache=args.cache_dir)
    if args.json:
        print(json.dumps(result))
        return 0
    bleu = "   ".join(f"BLEU-{n} {result[f'bleu{n}']:.2f}" for n in range(1, 5))
    print(f"{bleu}   CIDEr-D {result['cider_d']:.3f}   ({result['images']:,} {result['split']} images, beam "
          f"{result['beam_size']}, all references; METEOR and SPICE need Java and are not computed)")
    if "true_fraction" in result:
        mass = result["object_attention"]
        print(f"captions true of their scene {result['true_fraction']:.4f}   attention mass on the named objects "
              f"{'—' if mass is None else f'{mass:.3f}'}")
    for example in result["examples"]:
        print(f"  {Path(example['image']).name}: {example['caption']}")
    return 0


# ------------------------------------------------------------------------------------------------
# rnnkit caption RUN_DIR IMAGE…


CAPTION_EXAMPLES = """examples:
  rnnkit caption runs/flickr8k dog.jpg beach.jpg
      one line per image: its file name, a tab, its caption (beam size 5)
  rnnkit caption runs/shapes scene.png --show-attention words.png
      also the image once per generated word with that word's attention over the regions
  rnnkit caption runs/flickr8k photos/*.jpg --beam-size 1 > captions.tsv
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "caption", help="caption images with a `train caption` run",
        description="Caption images with the best checkpoint of a `rnnkit train caption` run, by beam search. Images "
                    "are read as RGB (grayscale and RGBA converted) and resized to the run's image size.",
        epilog=CAPTION_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train caption`")
    parser.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, …)")
    parser.add_argument("--beam-size", type=options.positive_int, default=5, metavar="W",
                        help="beam size (default 5; 1 is greedy)")
    parser.add_argument("--length-penalty", type=float, default=0.0, metavar="A",
                        help="α of the beam's length normalisation log P / |y|^α (default 0)")
    parser.add_argument("--show-attention", metavar="PNG", help="save each word's attention over the image (with "
                        "several images, one file each: NAME-1.png, NAME-2.png, …)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        loaded = captioning.load_run(args.run_dir)
        if args.show_attention and loaded.model.attention is None:
            raise ValueError(f"{args.run_dir} has no attention (trained with --attention none): there is no map to draw")
        pictures = loaded.read(args.images)
        outputs = loaded.caption(pictures, args.beam_size, args.length_penalty)
        for path, ids in zip(args.images, outputs):
            print(f"{path}\t{loaded.codec.decode(ids)}")
        if args.show_attention:
            _show_attention(loaded, pictures, outputs, args)
        return 0
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit caption: error: {error}", file=sys.stderr)
        return 2


def _show_attention(loaded: captioning.CaptionRun, pictures, outputs, args: argparse.Namespace) -> None:
    from ..viz.attention import plot_image_attention

    weights = captioning.caption_attention(loaded.model, loaded.inputs(pictures), outputs)
    target = Path(args.show_attention)
    grid = tuple(loaded.record["grid"])
    for number, (picture, ids, w) in enumerate(zip(pictures, outputs, weights), start=1):
        path = target if len(outputs) == 1 else target.with_name(f"{target.stem}-{number}{target.suffix or '.png'}")
        words = [*loaded.codec.pieces(ids), "<eos>"]
        plot_image_attention(picture, w.numpy(), words, grid, path)
        print(f"attention: {path}", file=sys.stderr)
