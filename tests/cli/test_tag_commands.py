"""`rnnkit train tag` and `rnnkit eval` of a tag run, in-process through rnnkit.cli.main."""

import json
import random

import pytest

from rnnkit.cli.main import main
from rnnkit.tasks.tagging import load_run

QUICK = ["--hidden", "16", "--embedding-size", "8", "--batch", "8", "--lr", "0.03", "--warmup", "2", "--threads", "1"]


def conll_file(path, sequences: int = 60, seed: int = 0):
    """Words w0..w9 labelled ODD/EVEN by their digit."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sequences):
        words = [rng.randrange(10) for _ in range(rng.randint(2, 10))]
        lines += [f"w{w}\t{'ODD' if w % 2 else 'EVEN'}" for w in words] + [""]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A CoNLL run trained through the CLI, and its validation rows."""
    root = tmp_path_factory.mktemp("tag")
    run_dir = root / "run"
    code = main(["train", "tag", "--data", str(conll_file(root / "train.conll")), "--steps", "60", "--val-every",
                 "20", *QUICK, "--out", str(run_dir)])
    assert code == 0
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return run_dir, [row for row in rows if row["split"] == "val"]


def test_a_tiny_tagging_task_trains_to_high_accuracy_in_seconds(trained):
    run_dir, validations = trained
    assert max(row["accuracy"] for row in validations) >= 0.95
    assert json.loads((run_dir / "labels.json").read_text())["labels"] == ["EVEN", "ODD"]
    assert json.loads((run_dir / "config.json").read_text())["data"]["kind"] == "conll"


def test_the_saved_best_model_reproduces_its_validation_accuracy(trained, capsys):
    run_dir, validations = trained
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["accuracy"] == pytest.approx(max(row["accuracy"] for row in validations))
    assert result["macro_f1"] == pytest.approx(max(validations, key=lambda row: row["accuracy"])["macro_f1"])
    matrix = result["confusion"]
    assert sum(map(sum, matrix)) == result["tokens"]
    assert sum(matrix[i][i] for i in range(2)) == round(result["accuracy"] * result["tokens"])
    assert (run_dir / "confusion.png").stat().st_size > 0


def test_eval_prints_the_report_and_the_matrix_for_another_file(trained, tmp_path, capsys):
    run_dir, _ = trained
    other = conll_file(tmp_path / "test.conll", sequences=10, seed=5)
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--data", str(other)]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro-F1" in out and "precision" in out and "confusion matrix" in out
    assert (run_dir / "confusion-test.png").is_file()


def test_a_reloaded_run_tags_text_and_unknown_words(trained):
    run = load_run(trained[0])
    tags = run.tag("w1 w2 never-seen w3")
    assert [(word, label) for word, label, _ in tags][:2] == [("w1", "ODD"), ("w2", "EVEN")]
    assert len(tags) == 4 and all(0 < p <= 1 for _, _, p in tags)
    assert run.tag("   ") == []
    assert load_run(trained[0]).tag("w1 w2 never-seen w3") == tags


def test_an_unknown_label_at_evaluation_is_named_by_line(trained, tmp_path, capsys):
    other = tmp_path / "odd.conll"
    other.write_text("w1\tODD\nw2\tPRIME\n")
    assert main(["eval", str(trained[0]), "--data", str(other)]) == 2
    assert "rnnkit eval: error:" in (err := capsys.readouterr().err) and "odd.conll:2: label 'PRIME'" in err


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"a\tX\nb\tX\n", "every token is labelled 'X'"),
    (b"a\tX\nb\xff\tY\n", "is not valid utf-8"),
    (b"a\tX\nb Y\n", ":2: expected token<TAB>label"),
])
def test_bad_training_data_is_a_clear_error(tmp_path, capsys, content, message):
    path = tmp_path / "data.conll"
    path.write_bytes(content)
    assert main(["train", "tag", "--data", str(path), "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "rnnkit train tag: error:" in err and message in err
    assert not (tmp_path / "run").exists()


def test_conll_without_a_file_is_refused(tmp_path, capsys):
    assert main(["train", "tag", "--task", "conll", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
    assert "give --data FILE" in capsys.readouterr().err


def test_pytokens_on_a_directory_of_python_files(tmp_path, capsys):
    source = tmp_path / "src"
    source.mkdir()
    for i in range(4):
        (source / f"m{i}.py").write_text(f'def f{i}(x):\n    """Doc."""\n    return x + {i}  # add\n' * 5)
    run_dir = tmp_path / "run"
    assert main(["train", "tag", "--task", "pytokens", "--data", str(source), "--steps", "3", "--val-fraction",
                 "0.25", "--chunk-length", "16", *QUICK, "--out", str(run_dir)]) == 0
    assert json.loads((run_dir / "labels.json").read_text())["labels"][:2] == ["whitespace", "name"]
    capsys.readouterr()
    assert main(["eval", str(run_dir), "--data", str(source / "m0.py"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tokens"] == len((source / "m0.py").read_text())
    assert [char for char, _, _ in load_run(run_dir).tag("x = 1")] == list("x = 1")


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["train", "tag", "--help"])
    out = capsys.readouterr().out
    assert "rnnkit train tag --task pytokens" in out and "--no-bidirectional" in out and "(default 256)" in out


def test_predict_prints_each_words_label_and_handles_empty_and_unknown_texts(trained, capsys):
    run_dir, _ = trained
    capsys.readouterr()
    assert main(["predict", str(run_dir), "w1 w2", "", "zz w4"]) == 0
    lines = capsys.readouterr().out.split("\n")
    assert lines[:3] == ["w1/ODD w2/EVEN", "", f"zz/{load_run(run_dir).tag('zz w4')[0][1]} w4/EVEN"]
    assert main(["predict", str(run_dir), "w7", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["tokens"] == ["w7"] and record["labels"] == ["ODD"] and 0.5 < record["probabilities"][0] <= 1


def test_predict_refuses_explain_for_a_tagger(trained, capsys):
    assert main(["predict", str(trained[0]), "w1", "--explain"]) == 2
    assert "rnnkit predict: error: --explain" in capsys.readouterr().err


@pytest.mark.slow
def test_the_tagging_benchmark_reports_both_models(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    source = tmp_path / "src"
    source.mkdir()
    for i in range(10):
        (source / f"m{i}.py").write_text(f"def f{i}(x):\n    return f'{{x}}' * {i}  # times\n" * (i + 2))
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "tagging.py"
    command = [sys.executable, str(script), "--data", str(source), "--minutes", "0.03", "--hidden", "8",
               "--embedding-size", "4", "--chunk-length", "32", "--batch", "4", "--json"]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout)
    assert [row["model"] for row in result["models"]] == ["bi-lstm", "lstm"]
    bi, uni = result["models"]
    assert bi["parameters"] > uni["parameters"] and bi["val_chars"] == uni["val_chars"] > 0
    for row in result["models"]:
        assert 0 <= row["accuracy"] <= 1 and row["errors"] == round((1 - row["accuracy"]) * row["val_chars"])
        assert set(row["recall"]) <= {"whitespace", "name", "keyword", "number", "string", "comment", "operator"}
