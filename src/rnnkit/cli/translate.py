"""``rnnkit train translate``, ``rnnkit eval`` of a translate run, and ``rnnkit translate RUN_DIR "text"``.

The task (data, model, loss, metrics) is :mod:`rnnkit.tasks.translation`; this module holds its flags,
examples and the two commands that read a trained run.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from ..data import DataError
from ..data.parallel import read_lines
from ..models.attention import ATTENTION_KINDS
from ..models.seq2seq import Seq2SeqConfig
from ..tasks import translation
from ..training import CheckpointError
from . import options
from .flags import Flag, train_flags

SUMMARY = "sequence to sequence with attention: translation, or date normalisation"
DESCRIPTION = ("Train an encoder-decoder (bidirectional recurrent encoder, decoder with additive or multiplicative "
               "attention and input feeding) on parallel text, one sentence per line, or on generated dates "
               "(--task dates). Validation reports BLEU and chrF (sacrebleu, detokenised) and exact match; the best "
               "BLEU (exact match for dates) selects the checkpoint.")
EXAMPLES = """examples:
  rnnkit train translate --task dates --steps 1500 --out runs/dates
      dates in 12 languages and many formats ("vendredi 3 mars 1989") → ISO 2026-11-21, character level
  rnnkit train translate --src ../shared/data/multi30k/train.en.gz --tgt ../shared/data/multi30k/train.de.gz \\
      --valid-src ../shared/data/multi30k/val.en.gz --valid-tgt ../shared/data/multi30k/val.de.gz \\
      --subword 8000 --cell lstm --attention general --minutes 90 --out runs/en-de
      Multi30k English→German with sentencepiece subwords and Luong attention
  rnnkit train translate --src train.de --tgt train.en --attention additive --cell gru --label-smoothing 0.1
      Bahdanau's additive attention, GRU cells, label smoothing
  rnnkit train translate --src a.txt --tgt b.txt --attention none --tokens word --min-count 3
      the plain encoder-decoder (no attention) on words seen at least 3 times
  rnnkit train translate --task dates --sampling inverse_sigmoid --sampling-k 300
      scheduled sampling: the decoder is fed its own predictions more and more often
  rnnkit translate runs/en-de "A man is riding a bike." --beam-size 5 --show-attention map.png
  rnnkit eval runs/en-de --src test_2016_flickr.en.gz --tgt test_2016_flickr.de.gz

exit status as for `rnnkit train lm`.
"""


def _locales(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def flags() -> dict[str, list[Flag]]:
    d, m, t = translation.TranslationData, Seq2SeqConfig, translation.TeacherConfig
    data = [
        Flag("task", "data", "source", "files (--src/--tgt) or generated dates", str, d,
                    choices=translation.SOURCES),
        Flag("src", "data", "train_source", "training sources, one sentence per line (plain or .gz)", str,
             metavar="FILE"),
        Flag("tgt", "data", "train_target", "their translations, line by line", str, metavar="FILE"),
        Flag("valid-src", "data", "valid_source", "validation sources (default: the last --val-size training pairs)",
             str, metavar="FILE"),
        Flag("valid-tgt", "data", "valid_target", "validation translations", str, metavar="FILE"),
        Flag("tokens", "data", "tokens", "char, word, subword, or auto: subword for files, char for dates", str, d,
             choices=("auto", "char", "word", "subword")),
        Flag("subword", "data", "subword", "sentencepiece pieces per vocabulary (--tokens subword)", int, d,
             metavar="N"),
        Flag("joint-vocab", "data", "joint_vocab", "one vocabulary for both languages", owner=d, switch=True),
        Flag("min-count", "data", "min_count", "char/word tokens seen fewer than N times become <unk>", int, d,
             metavar="N"),
        Flag("max-length", "data", "max_length", "leave out training pairs with more tokens on a side", int, d,
             metavar="N"),
        Flag("val-size", "data", "val_size", "validation pairs (dates; or held out of the training files)", int, d,
             metavar="N"),
        Flag("size", "data", "size", "dates: training pairs", int, d, metavar="N"),
        Flag("locales", "data", "locales", "dates: comma-separated languages (default: all 12)", _locales,
             metavar="LIST"),
        Flag("data-seed", "data", "seed", "the generated dates' seed", int, d),
        Flag("bucket", "data", "bucket", "batches per bucket of similar length", int, d, metavar="N"),
    ]
    model = [
        Flag("cell", "model", "cell", "recurrent cell of encoder and decoder, any of `rnnkit cells`", str, m),
        Flag("attention", "model", "attention", "none, additive (Bahdanau), dot or general (Luong)", str, m,
             choices=ATTENTION_KINDS),
        Flag("input-feeding", "model", "input_feeding", "feed the attentional state into the next step", owner=m,
             switch=True),
        Flag("bidirectional", "model", "bidirectional", "a bidirectional encoder", owner=m, switch=True),
        Flag("hidden", "model", "hidden_size", "hidden units per layer (dates: 128)", int, m, metavar="H"),
        Flag("embedding-size", "model", "embedding_size", "embedding size (dates: 32)", int, m, metavar="E"),
        Flag("layers", "model", "num_layers", "stacked layers of encoder and decoder (dates: 1)", int, m,
             metavar="L"),
        Flag("dropout", "model", "dropout", "dropout on embeddings, between layers, before the output (dates: 0)",
             float, m, metavar="P"),
        Flag("engine", "model", "engine", "the encoder's engine: auto, fused, bptt, bptt-recompute, autograd", str, m),
    ]
    teacher = [
        Flag("sampling", "teacher", "schedule", "scheduled sampling (Bengio et al. 2015); none: teacher forcing", str,
             t, choices=translation.SCHEDULES),
        Flag("sampling-k", "teacher", "k", "the schedule's constant (linear slope 1e-4, exponential 0.9997, "
             "inverse sigmoid 500)", float, metavar="K"),
        Flag("min-teacher", "teacher", "min_teacher", "lowest probability of feeding the true token", float, t,
             metavar="P"),
        Flag("label-smoothing", "teacher", "label_smoothing", "label smoothing ε", float, t, metavar="E"),
        Flag("val-sentences", "teacher", "val_sentences", "validation sentences translated for BLEU", int, t,
             metavar="N"),
    ]
    return {"data": data, "model": model, "teacher forcing and loss": teacher} | train_flags(lm=False)


# ------------------------------------------------------------------------------------------------
# rnnkit eval RUN_DIR


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """``rnnkit eval``'s options for a translate run."""
    group = parser.add_argument_group("translate runs")
    group.add_argument("--src", metavar="FILE", help="source sentences to translate, one per line (plain or .gz)")
    group.add_argument("--tgt", metavar="FILE", help="their reference translations")
    group.add_argument("--beam-size", type=options.positive_int, default=5, metavar="W",
                       help="beam size (default 5; 1 is greedy)")


def evaluate(args: argparse.Namespace) -> int:
    """``rnnkit eval RUN_DIR [--src F --tgt F]`` of a translate run: BLEU, chrF, exact match."""
    result = translation.evaluate_run(args.run_dir, args.src, args.tgt, args.beam_size)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"BLEU {result['bleu']:.2f}   chrF {result['chrf']:.2f}   exact match {result['exact_match']:.4f}   "
          f"({result['sentences']:,} sentences, beam {result['beam_size']}; sacrebleu, cased, detokenised)")
    for locale, value in result.get("exact_match_by_locale", {}).items():
        print(f"  {locale:6} exact match {value:.4f}")
    if "attention_on_last" in result:
        share = result["attention_on_last"]
        print(f"attention on the source's last token: {share:.2f} of each step's weight "
              f"(mean over {min(translation.ATTENTION_SAMPLE, result['sentences'])} sentences)" +
              (": the attention has collapsed there and the model translates from the encoder's summary "
               "alone; --show-attention shows it" if share > translation.COLLAPSED else ""))
    return 0


# ------------------------------------------------------------------------------------------------
# rnnkit translate RUN_DIR "text"


TRANSLATE_EXAMPLES = """examples:
  rnnkit translate runs/dates "vendredi 3 mars 1989"
  rnnkit translate runs/en-de "A man is riding a bike." --beam-size 5 --show-attention map.png
      the translation, and a source × target heat map of where the decoder looked
  rnnkit translate runs/en-de --input sentences.txt > translations.txt
      one translation per input line (empty lines stay empty)
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "translate", help="translate text with a `train translate` run",
        description="Translate sentences with the best checkpoint of a `rnnkit train translate` run, by beam search.",
        epilog=TRANSLATE_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `rnnkit train translate`")
    parser.add_argument("text", nargs="*", help="the sentences to translate, each one argument (or --input FILE)")
    parser.add_argument("--input", metavar="FILE", help="translate every line of FILE (plain or .gz)")
    parser.add_argument("--beam-size", type=options.positive_int, default=5, metavar="W",
                        help="beam size (default 5; 1 is greedy)")
    parser.add_argument("--length-penalty", type=float, default=1.0, metavar="A",
                        help="α of the beam's length normalisation log P / |y|^α (default 1)")
    parser.add_argument("--show-attention", metavar="PNG", help="save the attention map of the translation "
                        "(one sentence only)")
    options.add_threads(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        texts = _texts(args)
        translator = translation.load_run(args.run_dir)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outputs = translator.translate(texts, args.beam_size, args.length_penalty)
        for warning in caught:
            print(f"rnnkit translate: warning: {warning.message}", file=sys.stderr)
        for output in outputs:
            print(output)
        if args.show_attention:
            _show_attention(translator, texts[0], args)
        return 0
    except (DataError, CheckpointError, ValueError) as error:
        print(f"rnnkit translate: error: {error}", file=sys.stderr)
        return 2


def _texts(args: argparse.Namespace) -> list[str]:
    if bool(args.text) == (args.input is not None):
        raise ValueError("give one sentence to translate, or --input FILE (not both)")
    texts = list(args.text) if args.text else read_lines(args.input)
    if args.show_attention and len(texts) != 1:
        where = f"{args.input} has {len(texts)} lines" if args.input else f"{len(texts)} sentences were given"
        raise ValueError(f"--show-attention draws one sentence's map; {where}")
    if args.show_attention and not texts[0].strip():
        raise ValueError("--show-attention needs a sentence that is not empty")
    return texts


def _show_attention(translator: translation.Translator, text: str, args: argparse.Namespace) -> None:
    from ..viz.attention import plot_attention

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weights, sources, targets = translator.attention(text, args.beam_size)
    if weights is None:
        raise ValueError(f"{args.run_dir} has no attention (trained with --attention none): there is no map to draw")
    path = plot_attention(weights, sources, targets, Path(args.show_attention), title=text)
    print(f"attention map: {path}", file=sys.stderr)

