"""Run directories never dead-end and are never corrupted, and every bad input is a clear error: through
the real CLI, in subprocesses where the behaviour is about processes (a lock, kill -9, Ctrl-C)."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from rnnkit.cli import train as train_command
from rnnkit.cli.main import main

ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}
QUICK = ["--size", "64", "--val-size", "32", "--batch", "8", "--hidden", "8"]


def rnnkit(*args, cwd=None, env=ONE_THREAD):
    return subprocess.run([sys.executable, "-m", "rnnkit", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def start(*args, env=ONE_THREAD):
    return subprocess.Popen([sys.executable, "-m", "rnnkit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def wait_for(predicate, process, seconds=120):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.02)
    raise AssertionError("timed out")


def metric_rows(run):
    path = run / "metrics.jsonl"
    return path.read_text().splitlines() if path.is_file() else []


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text("".join(f"def f{i % 7}(x):\n    return x + {i % 10}\n" for i in range(300)))
    return path


def test_a_second_process_cannot_train_into_a_locked_run_directory(tmp_path):
    run = tmp_path / "run"
    first = start("train", "majority", *QUICK, "--steps", "100000", "--log-every", "1", "--out", str(run))
    wait_for(lambda: len(metric_rows(run)) >= 3, first)
    config = (run / "config.json").read_text()
    second = rnnkit("train", "majority", *QUICK, "--steps", "5", "--out", str(run))
    resumed = rnnkit("train", "majority", "--resume", str(run), "--steps", "5")
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    for other in (second, resumed):
        assert other.returncode == 2 and "is in use: process" in other.stderr and "Traceback" not in other.stderr
    assert (run / "config.json").read_text() == config           # the second process changed nothing
    steps = [json.loads(line)["step"] for line in metric_rows(run) if '"train"' in line]
    assert steps == sorted(set(steps))                            # one run's rows only


def test_kill_9_before_the_first_save_leaves_a_run_that_restarts_or_resumes_from_step_0(tmp_path):
    run = tmp_path / "run"
    process = start("train", "majority", *QUICK, "--steps", "100000", "--log-every", "1", "--out", str(run))
    wait_for(lambda: len(metric_rows(run)) >= 2, process)
    process.kill()
    process.communicate()
    assert not (run / "trainer.safetensors").exists()
    resumed = rnnkit("train", "majority", "--resume", str(run), "--steps", "3")
    assert resumed.returncode == 0 and "never saved a checkpoint: starting it from step 0" in resumed.stderr
    # A run that never saved may also be started afresh with the same --out.
    (run / "trainer.safetensors").unlink()
    again = rnnkit("train", "majority", *QUICK, "--steps", "4", "--out", str(run))
    assert again.returncode == 0 and "starting it afresh" in again.stderr, again.stderr
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 4


def test_ctrl_c_during_start_up_exits_quietly_with_130_and_leaves_nothing(tmp_path):
    run = tmp_path / "run"
    # The default corpus is the standard library: encoding it into a fresh cache takes seconds.
    process = start("train", "lm", "--steps", "2", "--out", str(run), "--cache-dir", str(tmp_path / "cache"))
    wait_for(lambda: (tmp_path / "cache").exists(), process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "Traceback" not in err and "interrupted" in err
    assert not run.exists()


@pytest.mark.parametrize("args, message", [
    (["--engine", "fused", "--cell", "peephole_lstm"], "engine='fused' runs only"),
    (["--cell", "rnn_relu", "--forget-bias", "1"], "forget"),
    (["--device", "cuda:7"], "cuda"),
])
def test_a_run_that_cannot_start_creates_nothing(args, message, text_file, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "lm", "--data", str(text_file), "--steps", "2", "--out", str(run), *args]) == 2
    assert message in capsys.readouterr().err and not run.exists()


def test_out_a_file_resume_a_file_and_sample_a_file_are_clear_errors(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("hello\n")
    assert main(["train", "majority", "--out", str(tmp_path / "file.txt")]) == 2
    assert "--out" in capsys.readouterr().err
    assert main(["train", "lm", "--resume", str(tmp_path / "file.txt")]) == 2
    assert "is a file, not a run directory" in capsys.readouterr().err
    assert main(["sample", str(tmp_path / "file.txt")]) == 2
    assert "is a file, not a run directory" in capsys.readouterr().err
    assert main(["sample", str(tmp_path)]) == 2
    assert "is not a run directory" in capsys.readouterr().err


def test_the_cache_directory_is_chosen_by_flag_or_environment(text_file, tmp_path, monkeypatch, capsys):
    common = ["train", "lm", "--data", str(text_file), "--steps", "1", "--batch", "2", "--seq-len", "8",
              "--hidden", "8"]
    assert main([*common, "--out", str(tmp_path / "a"), "--cache-dir", str(tmp_path / "flag")]) == 0
    assert list((tmp_path / "flag").iterdir())
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path / "env"))
    assert main([*common, "--out", str(tmp_path / "b")]) == 0
    assert list((tmp_path / "env").iterdir()) and not (tmp_path / ".cache").exists()


def test_resume_works_from_any_working_directory_and_on_moved_text(text_file, tmp_path):
    run = tmp_path / "run"
    common = ["--batch", "2", "--seq-len", "8", "--hidden", "8", "--val-tokens", "200"]
    assert rnnkit("train", "lm", "--data", "text.txt", "--steps", "2", "--out", "run", *common,
                  cwd=tmp_path).returncode == 0
    resumed = rnnkit("train", "lm", "--resume", str(run), "--steps", "4", cwd="/")
    assert resumed.returncode == 0, resumed.stderr
    moved = tmp_path / "moved.txt"
    text_file.rename(moved)
    assert rnnkit("train", "lm", "--resume", str(run), "--steps", "5").returncode == 2   # not found
    assert rnnkit("train", "lm", "--resume", str(run), "--steps", "6", "--data", str(moved)).returncode == 0
    moved.write_text(moved.read_text() * 2)                       # the same vocabulary, other text
    changed = rnnkit("train", "lm", "--resume", str(run), "--steps", "8", "--data", str(moved))
    assert changed.returncode == 2 and "content differs" in changed.stderr


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    (root / "text.txt").write_text("".join(f"def f{i % 7}(x):\n    return x + {i % 10}\n" for i in range(300)))
    assert main(["train", "lm", "--data", str(root / "text.txt"), "--steps", "2", "--batch", "2", "--seq-len", "8",
                 "--hidden", "8", "--out", str(root / "run")]) == 0
    return root / "run"


@pytest.mark.parametrize("change, message", [
    (lambda c: [1, 2, 3], "must hold a JSON object, got list"),
    (lambda c: {k: v for k, v in c.items() if k != "model"}, "section [model] is missing"),
    (lambda c: c | {"model": {k: v for k, v in c["model"].items() if k != "hidden_size"}},
     "[model] hidden_size is missing"),
    (lambda c: c | {"model": c["model"] | {"vocab_size": 10**12}}, "[model] vocab_size is 1000000000000 but"),
    (lambda c: c | {"model": c["model"] | {"hidden_size": "big"}}, "[model] hidden_size must be a whole number"),
    (lambda c: c | {"task": "nope"}, "unknown task 'nope'"),
])
def test_a_damaged_config_json_is_a_clear_error_naming_the_key(change, message, lm_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(lm_run, run)
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(change(config)))
    for command in (["sample", str(run)], ["eval", str(run), "--data", str(run / "config.json")],
                    ["train", "lm", "--resume", str(run), "--steps", "3"]):
        assert main(command) == 2, command
        assert message in capsys.readouterr().err, command


def test_non_finite_weights_are_a_clear_error_at_load(lm_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(lm_run, run)
    weights = load_file(run / "model.safetensors")
    weights["head.bias"] = torch.full_like(weights["head.bias"], math.nan)
    save_file(weights, run / "model.safetensors")
    for command in (["sample", str(run)], ["sample", str(run), "--strategy", "greedy"],
                    ["eval", str(run), "--data", str(run / "config.json")]):
        assert main(command) == 2
        assert "non-finite weights" in capsys.readouterr().err


# Every numeric flag of every command, with a value out of its range.
BAD_TRAIN_VALUES = {
    "min-count": "0", "max-vocab": "2", "val-fraction": "1.5", "hidden": "0", "layers": "0", "embedding-size": "0",
    "forget-bias": "nan", "dropout": "1.5", "input-dropout": "-0.1", "output-dropout": "1", "weight-drop": "2",
    "embedding-dropout": "-1", "steps": "0", "minutes": "0", "batch": "0", "seq-len": "0", "lr": "0",
    "weight-decay": "-1", "momentum": "1.5", "warmup": "-1", "final-lr-ratio": "2", "clip": "-1", "val-every": "0",
    "val-tokens": "-1", "patience": "-1", "save-every": "0", "log-every": "0", "seed": "-1", "size": "0",
    "val-size": "0", "min-length": "0", "max-length": "-1", "data-seed": "-1",
    # forecast
    "horizon": "0", "lookback": "0", "period": "0", "test-fraction": "-0.1",
    "origin-step": "0", "level-penalty": "-1",
    # classify, tag, translate, window
    "bucket": "0", "attention-size": "0", "max-chars": "-1", "chunk-length": "0", "eval-context": "-1", "subword": "0",
    "sampling-k": "0", "min-teacher": "1.5", "label-smoothing": "1", "val-sentences": "0", "context": "0",
    # arith, xml, adding, copy
    "max-digits": "0", "max-distractors": "-1", "problems": "0", "init-scale": "0", "num-tags": "0", "min-name-length": "0",
    "max-name-length": "0", "close-probability": "1.5", "length": "0", "delay": "-1", "alphabet-size": "0",
    # caption
    "image-size": "16", "max-shapes": "0", "val-images": "0", "fine-tune-encoder": "-1", "doubly-stochastic": "-1",
}
# What a task needs before any other flag is checked (its data source).
REQUIRED_TRAIN_ARGS = {"forecast": ["--dataset", "co2"], "caption": ["--task", "shapes"]}
TRAIN_NUMERIC = [(task, flag.name) for task, (_, flags, _, _) in train_command.TASKS.items()
                 for members in flags().values() for flag in members if flag.type in (int, float)]


@pytest.mark.parametrize("task, flag", TRAIN_NUMERIC)
def test_every_numeric_train_flag_rejects_out_of_range_values_by_name(task, flag, capsys):
    assert main(["train", task, *REQUIRED_TRAIN_ARGS.get(task, []), f"--{flag}", BAD_TRAIN_VALUES[flag],
                 "--print-config"]) == 2
    captured = capsys.readouterr()
    assert f"--{flag}" in captured.err and captured.out == "", captured.err


@pytest.mark.parametrize("args", [
    ["sample", "RUN", "--length", "-1"], ["sample", "RUN", "--temperature", "0"], ["sample", "RUN", "--top-k", "0"],
    ["sample", "RUN", "--top-p", "1.5"], ["sample", "RUN", "--beam-size", "0"],
    ["sample", "RUN", "--length-penalty", "-1"], ["sample", "RUN", "--no-repeat-ngram", "-1"],
    ["sample", "RUN", "--repetition-penalty", "0"], ["sample", "RUN", "--seed", "-1"],
    ["sample", "RUN", "--threads", "0"], ["eval", "RUN", "--batch", "0"], ["eval", "RUN", "--batch", "-5"],
    ["eval", "RUN", "--seq-len", "0"], ["train", "lm", "--nproc", "0"],
])
def test_every_numeric_flag_of_sample_and_eval_rejects_out_of_range_values_by_name(args, capsys):
    try:
        code = main(args)
    except SystemExit as exit:                 # argparse's own type check
        code = exit.code
    assert code == 2 and args[-2] in capsys.readouterr().err


def test_eval_shows_its_progress_on_stderr_and_only_the_result_on_stdout(lm_run, capsys):
    text = lm_run.parent / "text.txt"
    assert main(["eval", str(lm_run), "--data", str(text), "--json"]) == 0
    captured = capsys.readouterr()
    assert "evaluating" in captured.err and json.loads(captured.out)["tokens"] > 0
