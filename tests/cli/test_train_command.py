"""``rnnkit train``: TOML configs, devices, the majority task, eval's dispatch on the task, --nproc."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rnnkit.cli.main import main

ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}
QUICK = ["--size", "64", "--val-size", "32", "--batch", "8", "--hidden", "8", "--log-every", "1"]


@pytest.fixture
def text_file(tmp_path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text("".join(f"def f{i % 7}(x):\n    return x + {i % 10}\n" for i in range(300)))
    return path


def print_config(capsys, *args) -> str:
    assert main(["train", *args, "--print-config"]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_print_config_then_config_reproduces_the_identical_run_configuration(text_file, tmp_path, capsys):
    flags = ["lm", "--data", str(text_file), "--hidden", "24", "--cell", "gru", "--steps", "4", "--batch", "4",
             "--seq-len", "16", "--lr", "0.01", "--optimizer", "sgd", "--nesterov", "--clip", "0",
             "--val-tokens", "500", "--adaptive-softmax", "off"]
    toml = print_config(capsys, *flags)
    assert 'task = "lm"' in toml and "hidden_size = 24" in toml and "nesterov = true" in toml
    (tmp_path / "run.toml").write_text(toml)
    assert print_config(capsys, "lm", "--config", str(tmp_path / "run.toml")) == toml
    # The same run, from flags and from the file: identical config.json.
    assert main(["train", *flags, "--out", str(tmp_path / "a")]) == 0
    assert main(["train", "lm", "--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "b")]) == 0
    first, second = (json.loads((tmp_path / d / "config.json").read_text()) for d in "ab")
    assert first == second and first["train"]["optimizer"] == "sgd" and first["model"]["cell"] == "gru"


def test_flags_override_the_config_file(text_file, tmp_path, capsys):
    (tmp_path / "run.toml").write_text(f'[corpus]\npath = "{text_file}"\n[train]\nsteps = 10\nlr = 0.1\n')
    toml = print_config(capsys, "lm", "--config", str(tmp_path / "run.toml"), "--lr", "0.5", "--minutes", "2")
    assert "lr = 0.5" in toml and "minutes = 2.0" in toml and "\nsteps =" not in toml


@pytest.mark.parametrize("content, message", [
    ("[train]\nlearning_rate = 0.1\n", "[train] unknown key 'learning_rate'"),
    ("[train]\nlr = \"fast\"\n", "[train] lr must be a number, got 'fast'"),
    ("[train]\nsteps = 2.5\n", "[train] steps must be a whole number or absent"),
    ("[model]\nhidden_size = true\n", "[model] hidden_size must be a whole number, got True"),
    ("[model]\nvocab_size = 10\n", "[model] vocab_size is not a setting: it is derived from the data"),
    ("[modle]\ncell = \"gru\"\n", "unknown section 'modle'"),
    ("train = 3\n", "[train] must be a table of settings"),
    ("[train]\nlr = -1.0\n", "[train] lr must be a positive number"),
    ("task = \"majority\"\n", "configures task 'majority', not 'lm'"),
    ("[train\n", "is not valid TOML"),
])
def test_a_bad_config_file_is_a_clear_error_naming_the_key(content, message, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text(content)
    assert main(["train", "lm", "--config", str(tmp_path / "bad.toml"), "--print-config"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_a_flag_out_of_range_is_named_by_its_flag(capsys):
    assert main(["train", "lm", "--lr", "-3", "--print-config"]) == 2
    assert "--lr must be a positive number" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "majority", *QUICK, "--steps", "2", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert "sees no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()                     # checked before anything is created


def test_the_majority_task_trains_and_eval_dispatches_on_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "majority", *QUICK, "--steps", "30", "--val-every", "10", "--out", str(run)]) == 0
    err = capsys.readouterr().err
    assert "best validation accuracy" in err and f"rnnkit eval {run}" in err
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "majority" and config["model"]["hidden_size"] == 8
    assert main(["eval", str(run), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert result["accuracy"] == max(row["accuracy"] for row in rows if row["split"] == "val")
    assert main(["sample", str(run)]) == 2
    assert "not a language model" in capsys.readouterr().err


def test_tensorboard_flag_writes_event_files(tmp_path, capsys):
    assert main(["train", "majority", *QUICK, "--steps", "3", "--out", str(tmp_path / "run"),
                 "--tensorboard", str(tmp_path / "tb")]) == 0
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_nproc_launches_two_data_parallel_processes_through_torchrun(tmp_path):
    result = subprocess.run([sys.executable, "-m", "rnnkit", "train", "majority", *QUICK, "--steps", "6",
                             "--nproc", "2", "--out", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=300, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "× 2 processes" in result.stderr
    with open(tmp_path / "run" / "trainer.safetensors", "rb") as handle:
        header = handle.read(8 + int.from_bytes(handle.read(8), "little"))
    assert b'\\"world_size\\": 2' in header


@pytest.mark.slow
def test_plain_torchrun_without_out_trains_every_rank_into_one_new_run_directory(tmp_path):
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "rnnkit", "train", "majority", *QUICK, "--steps", "4"],
                            capture_output=True, text=True, timeout=300, env=ONE_THREAD, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    made = list((tmp_path / "runs").iterdir())
    assert len(made) == 1 and (made[0] / "trainer.safetensors").is_file()


def test_nproc_refuses_a_batch_it_cannot_share_before_launching_anything(tmp_path, capsys):
    assert main(["train", "majority", *QUICK, "--batch", "9", "--nproc", "2", "--out", str(tmp_path / "r")]) == 2
    assert "--batch 9 must be divisible by --nproc 2" in capsys.readouterr().err and not (tmp_path / "r").exists()
