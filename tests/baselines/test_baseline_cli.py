"""``rnnkit baselines lm``, ``rnnkit train window`` and ``rnnkit eval`` of window runs and with
``--baselines``, in-process."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rnnkit.baselines.ngram import KneserNeyLM
from rnnkit.cli.main import main
from rnnkit.data import CorpusConfig
from rnnkit.tasks import language_modeling, window_lm

pytest.importorskip("hmmlearn", reason="the HMM baseline needs hmmlearn (pip install rnnkit[baselines])")

TEXT = "".join(f"{'to be' if i % 2 else 'or not'} that is the question {i % 7}\n" for i in range(120))
QUICK = ["--states", "2", "--max-order", "4", "--window-minutes", "0.01", "--context", "4", "--hmm-iterations", "3"]


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return path


def test_baselines_command_reports_every_model_on_the_lm_split(text_file, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["baselines", "lm", "--data", str(text_file), *QUICK, "--out", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    kinds = [result["kind"] for result in record["results"]]
    assert kinds == ["ngram", "hmm", "window"]
    assert (out / "results.json").is_file() and (out / "bpc.png").stat().st_size > 0
    # The n-gram figure is the best order's, recomputed here on the lm task's own split.
    split = window_lm.read_split(CorpusConfig(path=str(text_file)), language_modeling.SplitConfig(), tmp_path / "c")
    lm = KneserNeyLM(np.asarray(split.train_tokens), len(split.tokenizer), 4)
    losses = [-lm.log_likelihood(np.asarray(split.val_tokens), order)[0] / (len(split.val_tokens) - 1)
              for order in range(1, 5)]
    ngram = record["results"][0]
    assert ngram["loss"] == pytest.approx(min(losses))
    assert ngram["extra"]["order"] == 1 + int(np.argmin(losses))
    for result in record["results"]:
        assert result["tokens"] == len(split.val_tokens) - 1
        assert result["bits"] == pytest.approx(result["loss"] / math.log(2))


def test_baselines_beside_an_lm_run_with_samples(text_file, tmp_path, capsys):
    run = tmp_path / "lm"
    assert main(["train", "lm", "--data", str(text_file), "--steps", "2", "--batch", "2", "--seq-len", "8",
                 "--hidden", "8", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["baselines", "lm", "--run", str(run), *QUICK, "--skip", "window", "--sample", "30",
                 "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "n-gram (Kneser-Ney" in printed and "HMM (2 states)" in printed and "LSTM (lm)" in printed
    assert printed.count("--- sample from the") == 2
    assert main(["eval", str(run), "--baselines", "ngram", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert [result["kind"] for result in record["results"]] == ["ngram", "rnn"]
    assert (run / "baselines" / "bpc.png").is_file()


def test_train_window_then_eval(text_file, tmp_path, capsys):
    run = tmp_path / "window"
    assert main(["train", "window", "--data", str(text_file), "--steps", "3", "--batch", "8", "--context", "4",
                 "--hidden", "8", "--out", str(run)]) == 0
    capsys.readouterr()
    assert main(["eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["bpc"] == pytest.approx(result["loss"] / math.log(2))
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "window" and config["model"]["context"] == 4


@pytest.mark.parametrize("arguments, message", [
    (["--states", "0"], "at least 1 hidden state"),
    (["--skip", "lstm"], "--skip takes"),
    (["--window-minutes", "0"], "--window-minutes must be positive"),
])
def test_baselines_bad_arguments_get_clear_errors(arguments, message, text_file, capsys):
    assert main(["baselines", "lm", "--data", str(text_file), *arguments]) == 2
    assert "rnnkit baselines: error: " in capsys.readouterr().err


def test_baselines_refuse_an_empty_corpus(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["baselines", "lm", "--data", str(empty), "--out", str(tmp_path / "out")]) == 2
    assert "is empty" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["baselines", "lm"], ["train", "window"]])
def test_help_shows_examples(command, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert "examples:" in capsys.readouterr().out
