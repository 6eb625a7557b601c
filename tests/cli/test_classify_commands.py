"""`rnnkit train classify`, `rnnkit eval` of a classify run and `rnnkit predict`, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.cli.predict import PREDICTORS


def write_tsv(path: Path, count: int, seed: int = 0, header: str = "sentence\tlabel") -> Path:
    rng = np.random.default_rng(seed)
    words = {"yes": ["good", "fine", "great"], "no": ["bad", "poor", "awful"]}
    lines = [header]
    for i in range(count):
        label = "yes" if i % 2 else "no"
        filler = rng.choice(["the", "a", "it", "was"], size=rng.integers(1, 5)).tolist()
        lines.append(" ".join(filler + [str(rng.choice(words[label]))]) + f"\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    data = write_tsv(root / "train.tsv", 120)
    out = root / "run"
    code = main(["train", "classify", "--data", str(data), "--steps", "60", "--batch", "16", "--hidden", "16",
                 "--embedding-size", "8", "--pooling", "attention", "--lr", "0.02", "--device", "cpu",
                 "--out", str(out)])
    assert code == 0
    return root, out


def test_train_classify_writes_labels_and_vocabulary(trained):
    _, out = trained
    assert json.loads((out / "labels.json").read_text())["labels"] == ["no", "yes"]
    assert json.loads((out / "config.json").read_text())["data"]["source"] == "file"
    assert (out / "vocab.json").is_file() and (out / "model.safetensors").is_file()


def test_eval_prints_the_report_baselines_and_saves_the_confusion_png(trained, capsys):
    root, out = trained
    test = write_tsv(root / "test.tsv", 40, seed=5)
    assert main(["eval", str(out), "--data", str(test), "--confusion", str(root / "c.png")]) == 0
    text = capsys.readouterr().out
    for expected in ("accuracy", "macro-F1", "precision", "confusion matrix", "bag of words", "tf-idf + logreg"):
        assert expected in text
    assert (root / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["eval", str(out), "--data", str(test), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 40 and sum(map(sum, report["confusion"])) == 40
    assert set(report["per_class"]) == {"no", "yes"} and 0 <= report["macro_f1"] <= 1
    assert (out / "confusion.png").is_file()


def test_eval_with_an_unknown_label_names_the_line(trained, capsys):
    root, out = trained
    bad = root / "bad.tsv"
    bad.write_text("sentence\tlabel\nthe good\tyes\nit was bad\tmaybe\n", encoding="utf-8")
    assert main(["eval", str(out), "--data", str(bad)]) == 2
    assert "bad.tsv:3: label 'maybe' does not occur in the training data" in capsys.readouterr().err


def test_predict_empty_and_unknown_texts_with_explanations(trained, capsys):
    root, out = trained
    html, png = root / "why.html", root / "why.png"
    assert main(["predict", str(out), "it was great", "", "zorblax quux", "--explain", "--html", str(html),
                 "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert text.count("how much each token mattered") == 3 and "<unk>" in text
    assert "<span" in html.read_text() and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["predict", str(out), "it was great", "", "--json", "--explain"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["text"] for r in records] == ["it was great", ""]
    for record in records:
        assert record["label"] in ("no", "yes")
        assert sum(record["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert sum(record["weights"]) == pytest.approx(1, abs=1e-5) and len(record["weights"]) == len(record["tokens"])


def test_predict_reads_a_file_of_texts(trained, capsys):
    root, out = trained
    plain = root / "texts.txt"
    plain.write_text("the good\n\nit was awful\n", encoding="utf-8")
    assert main(["predict", str(out), "--data", str(plain), "--json"]) == 0
    assert [json.loads(line)["text"] for line in capsys.readouterr().out.splitlines()] == ["the good", "it was awful"]
    table = write_tsv(root / "more.tsv", 6, seed=9)
    assert main(["predict", str(out), "--data", str(table)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6


def test_predict_errors(trained, tmp_path, capsys):
    _, out = trained
    assert main(["predict", str(out)]) == 2
    assert "give texts to label" in capsys.readouterr().err
    assert main(["predict", str(out), "x", "--html", str(tmp_path / "a.html")]) == 2
    assert "add --explain" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "nowhere"), "x"]) == 2
    assert "rnnkit predict: error:" in capsys.readouterr().err
    assert "classify" in PREDICTORS


@pytest.mark.parametrize("content, flags, message", [
    (b"sentence\tlabel\ncaf\xe9\tyes\n", [], "data.tsv:2: not valid utf-8"),
    (b"", [], "is empty"),
    (b"sentence\tlabel\ngood\tyes\nfine\tyes\nok\tyes\nnice\tyes\n", [], "same label ('yes')"),
    (b"sentence\tlabel\ngood\tyes\nbad\tno\n", ["--label-column", "stars"], "no label column 'stars'"),
])
def test_train_data_errors_are_clear(tmp_path, capsys, content, flags, message):
    path = tmp_path / "data.tsv"
    path.write_bytes(content)
    assert main(["train", "classify", "--data", str(path), "--steps", "2", "--out", str(tmp_path / "r"), *flags]) == 2
    err = capsys.readouterr().err
    assert "rnnkit train classify: error:" in err and message in err
    assert not (tmp_path / "r").exists()


def test_no_input_layer_on_text_is_refused_before_a_run_directory_is_named(tmp_path, capsys):
    data = write_tsv(tmp_path / "train.tsv", 20)
    assert main(["train", "classify", "--data", str(data), "--no-input-layer", "--steps", "2",
                 "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "--no-input-layer" in err and "is for real-valued inputs" in err
    assert "run directory" not in err and not (tmp_path / "r").exists()


def test_help_shows_examples_and_every_pooling(capsys):
    with pytest.raises(SystemExit):
        main(["train", "classify", "--help"])
    text = capsys.readouterr().out
    assert "--task negation" in text and "attention" in text and "rnnkit predict" in text
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "--explain" in capsys.readouterr().out


def test_print_config_round_trips_the_task_flag(tmp_path, capsys):
    assert main(["train", "classify", "--task", "digits", "--digits", "pixels", "--cell", "irnn",
                 "--print-config"]) == 0
    toml = capsys.readouterr().out
    assert 'source = "digits"' in toml and 'digits = "pixels"' in toml and 'cell = "irnn"' in toml
    (tmp_path / "run.toml").write_text(toml)
    assert main(["train", "classify", "--config", str(tmp_path / "run.toml"), "--print-config"]) == 0
    assert capsys.readouterr().out == toml
