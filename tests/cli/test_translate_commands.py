"""`rnnkit train translate`, `rnnkit translate` and `rnnkit eval` of a translate run, in-process."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli.main import main

WORDS = ["red", "blue", "green", "big", "small", "dog", "cat", "bird"]


@pytest.fixture(scope="module")
def parallel(tmp_path_factory):
    """Sentences of 2-4 words and their "translation" (the same words reversed, upper-cased)."""
    import random

    rng = random.Random(0)
    folder = tmp_path_factory.mktemp("parallel")
    sources = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))) for _ in range(120)]
    targets = [" ".join(reversed(s.upper().split())) for s in sources]
    (folder / "train.src").write_text("\n".join(sources) + "\n")
    (folder / "train.tgt").write_text("\n".join(targets) + "\n")
    (folder / "short.tgt").write_text("\n".join(targets[:-1]) + "\n")
    return folder


@pytest.fixture(scope="module")
def run_dir(parallel, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "words"
    code = main(["train", "translate", "--src", str(parallel / "train.src"), "--tgt", str(parallel / "train.tgt"),
                 "--tokens", "word", "--min-count", "1", "--val-size", "20", "--hidden", "16", "--embedding-size", "8",
                 "--layers", "1", "--steps", "6", "--batch", "16", "--out", str(out)])
    assert code == 0
    return out


def test_train_writes_the_vocabularies_and_a_model(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "translate" and config["data"]["tokens"] == "word"
    assert json.loads((run_dir / "source_vocab.json").read_text())["kind"] == "word"
    assert (run_dir / "model.safetensors").is_file()


def test_translate_prints_one_line_per_sentence_and_draws_the_attention(run_dir, tmp_path, capsys):
    picture = tmp_path / "map.png"
    assert main(["translate", str(run_dir), "red dog", "--beam-size", "3", "--show-attention", str(picture)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_translate_an_input_file_keeps_empty_lines(run_dir, tmp_path, capsys):
    sentences = tmp_path / "in.txt"
    sentences.write_text("red dog\n\nsmall cat bird\n")
    assert main(["translate", str(run_dir), "--input", str(sentences), "--beam-size", "1"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert len(lines) == 4 and lines[1] == "" and lines[3] == ""


def test_unknown_words_are_warned_about(run_dir, capsys):
    assert main(["translate", str(run_dir), "red unicorn"]) == 0
    assert "outside the vocabulary become <unk>: 'unicorn'" in capsys.readouterr().err


def test_eval_prints_bleu_chrf_and_exact_match(run_dir, parallel, capsys):
    assert main(["eval", str(run_dir), "--src", str(parallel / "train.src"), "--tgt", str(parallel / "train.tgt"),
                 "--beam-size", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"bleu", "chrf", "exact_match"} <= set(result) and result["sentences"] == 120
    assert 0 < result["attention_on_last"] < 1         # the model attends (general attention by default)
    assert main(["eval", str(run_dir), "--src", str(parallel / "train.src"), "--tgt", str(parallel / "train.tgt"),
                 "--beam-size", "1"]) == 0
    assert "attention on the source's last token" in capsys.readouterr().out


def test_eval_of_a_files_run_without_test_files_says_what_to_give(run_dir, capsys):
    assert main(["eval", str(run_dir)]) == 2
    assert "give the test files with --src FILE --tgt FILE" in capsys.readouterr().err


def test_mismatched_line_counts_are_an_error_naming_both_files(parallel, tmp_path, capsys):
    code = main(["train", "translate", "--src", str(parallel / "train.src"), "--tgt", str(parallel / "short.tgt"),
                 "--steps", "1", "--out", str(tmp_path / "bad")])
    assert code == 2
    err = capsys.readouterr().err
    assert "rnnkit train translate: error:" in err and "has 120 lines but" in err and "short.tgt has 119" in err


def test_translate_needs_a_sentence_or_a_file(run_dir, capsys):
    assert main(["translate", str(run_dir)]) == 2
    assert "give one sentence to translate, or --input FILE" in capsys.readouterr().err


def test_translate_of_a_run_that_is_not_one_is_refused(tmp_path, capsys):
    assert main(["translate", str(tmp_path), "x"]) == 2
    assert "rnnkit translate: error:" in capsys.readouterr().err


@pytest.mark.parametrize("argv,expected", [
    (["train", "translate", "--help"], ["--task {files,dates}", "--attention", "--sampling", "examples:"]),
    (["translate", "--help"], ["--show-attention", "--beam-size", "examples:"]),
])
def test_help_lists_the_flags_and_examples(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for text in expected:
        assert text in out


def test_several_sentences_on_the_command_line_are_translated_in_order(run_dir, tmp_path, capsys):
    sentences = tmp_path / "two.txt"
    sentences.write_text("red dog\nblue cat\n")
    assert main(["translate", str(run_dir), "--input", str(sentences), "--beam-size", "1"]) == 0
    from_file = capsys.readouterr().out.splitlines()
    assert main(["translate", str(run_dir), "red dog", "blue cat", "--beam-size", "1"]) == 0
    assert capsys.readouterr().out.splitlines() == from_file and len(from_file) == 2
    assert main(["translate", str(run_dir), "red dog", "blue cat", "--show-attention", str(tmp_path / "a.png")]) == 2
    assert "2 sentences were given" in capsys.readouterr().err
