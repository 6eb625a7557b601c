"""``rnnkit train lm``, ``rnnkit sample`` and ``rnnkit eval`` end to end: in-process through ``main``
where output capture suffices, as real subprocesses where signals and stdout matter."""

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from rnnkit.cli.main import main
from rnnkit.cli.sample import NO_REPEAT_NGRAM, SAMPLE_NO_REPEAT_NGRAM
from rnnkit.data import CorpusConfig
from rnnkit.decoding import generate
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import TrainConfig


def python_like_text(lines: int = 500) -> str:
    rng = np.random.default_rng(1)
    names = ["x", "value", "total", "items", "count"]
    out = []
    for i in range(lines):
        a, b = rng.choice(names, 2)
        out.append(f"def g{i % 5}({a}, {b}):\n    if {a}:\n        return {a} - {b}\n    return {i % 9}\n")
    return "".join(out)


# Subprocesses too run on one thread (see tests/conftest.py).
ONE_THREAD = os.environ | {"OMP_NUM_THREADS": "1"}


def rnnkit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnkit.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=ONE_THREAD)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "code.py"
    path.write_text(python_like_text())
    return path


@pytest.fixture(scope="module")
def run_dir(text_file, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "run"
    lm.train(run, CorpusConfig(path=str(text_file)), {"hidden_size": 32},
             train_config=TrainConfig(steps=30, batch_size=8, seq_len=32, val_tokens=3000))
    return run


def reference_sample(run_dir: Path, prompt: str, length: int, seed: int, **options) -> str:
    """What `rnnkit sample` should print: generate() with the same seed and the command's defaults."""
    model, tokenizer, _ = lm.load_run(run_dir)
    generator = torch.Generator().manual_seed(seed)
    ids = torch.as_tensor(tokenizer.encode(prompt))[None]
    # The command samples with <unk> banned and repeated 24-grams blocked (its defaults for characters).
    options = {"banned_tokens": (tokenizer.unk_id,), "no_repeat_ngram_size": SAMPLE_NO_REPEAT_NGRAM["char"]} | options
    tokens = generate(model, ids, length, generator=generator, use_forward=True, **options)
    return tokenizer.decode(int(t[0]) for t in tokens)


def test_sample_stdout_holds_exactly_the_sample_and_a_seed_reproduces_it(run_dir):
    args = ["sample", str(run_dir), "--prompt", "def ", "--length", "120", "--seed", "7", "--temperature", "0.9"]
    first, second = rnnkit(*args), rnnkit(*args)
    assert first.returncode == 0, first.stderr
    expected = reference_sample(run_dir, "def ", 120, 7, temperature=0.9)
    assert first.stdout == expected + "\n"
    assert second.stdout == first.stdout
    assert reference_sample(run_dir, "def ", 120, 8, temperature=0.9) != expected    # the seed matters


def test_greedy_and_beam_strategies(run_dir, capsys):
    assert main(["sample", str(run_dir), "--strategy", "greedy", "--length", "40"]) == 0
    model, tokenizer, _ = lm.load_run(run_dir)
    # Greedy decoding in the command blocks repeated n-grams by default (sample.NO_REPEAT_NGRAM).
    greedy = generate(model, torch.as_tensor(tokenizer.encode("\n"))[None], 40, strategy="greedy",
                      banned_tokens=(tokenizer.unk_id,), no_repeat_ngram_size=NO_REPEAT_NGRAM["char"])
    assert capsys.readouterr().out == tokenizer.decode(int(t[0]) for t in greedy) + "\n"
    assert main(["sample", str(run_dir), "--strategy", "beam", "--beam-size", "3", "--length", "20"]) == 0
    assert len(capsys.readouterr().out) == 21


def test_unk_is_never_sampled_unless_allowed(run_dir, capsys):
    """A model made to prefer <unk> above all: by default sample never emits it, --allow-unk does."""
    model, tokenizer, _ = lm.load_run(run_dir)
    with torch.no_grad():
        model.head.bias[tokenizer.unk_id] = 50.0            # <unk> now takes nearly all the mass
    favoured = run_dir.parent / "favours_unk"
    if not favoured.exists():
        shutil.copytree(run_dir, favoured)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, favoured / "model.safetensors")
    assert main(["sample", str(favoured), "--length", "30", "--seed", "1"]) == 0
    assert "<unk>" not in capsys.readouterr().out
    assert main(["sample", str(favoured), "--length", "30", "--seed", "1", "--strategy", "beam"]) == 0
    assert "<unk>" not in capsys.readouterr().out
    assert main(["sample", str(favoured), "--length", "30", "--seed", "1", "--allow-unk"]) == 0
    assert capsys.readouterr().out.count("<unk>") >= 25


def test_prompt_characters_outside_the_vocabulary_warn_on_stderr(run_dir, capsys):
    assert main(["sample", str(run_dir), "--prompt", "déf ☃", "--length", "10", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert "outside the vocabulary" in captured.err and "'é'" in captured.err and "'☃'" in captured.err
    assert captured.out == reference_sample(run_dir, "déf ☃", 10, 1) + "\n"   # only the sample on stdout


def test_eval_json_is_one_object_with_loss_bpc_and_perplexity(run_dir, text_file, tmp_path, capsys):
    held_out = tmp_path / "held_out.py"
    held_out.write_text(python_like_text(40))
    assert main(["eval", str(run_dir), "--data", str(held_out), "--json", "--batch", "1", "--seq-len", "50"]) == 0
    result = json.loads(capsys.readouterr().out)
    model, tokenizer, _ = lm.load_run(run_dir)
    tokens = torch.as_tensor(tokenizer.encode(held_out.read_text()))
    with torch.no_grad():                                   # reference: one pass over the whole file
        expected = model.loss(tokens[:-1, None], tokens[1:, None])[0].item()
    assert result["loss"] == pytest.approx(expected, rel=1e-5)
    assert result["bpc"] == pytest.approx(expected / math.log(2), rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert main(["eval", str(run_dir), "--data", str(held_out)]) == 0
    assert "bits/char" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["empty file", "empty directory", "undecodable", "too small", "unknown cell",
                                  "bad run directory"])
def test_bad_input_gets_a_clear_error(case, tmp_path, capsys):
    (tmp_path / "dir").mkdir()
    (tmp_path / "empty.txt").write_text("")
    prefix = "ok line\n".encode() * 5
    (tmp_path / "latin1.txt").write_bytes(prefix + "café\n".encode("latin-1"))
    (tmp_path / "tiny.txt").write_text("print(1)\n" * 12)    # a validation split, but not one batch
    args, message = {
        "empty file": (["--data", str(tmp_path / "empty.txt")], "empty.txt is empty"),
        "empty directory": (["--data", str(tmp_path / "dir")], "holds no text files"),
        "undecodable": (["--data", str(tmp_path / "latin1.txt")], f"latin1.txt: byte {len(prefix) + 3} "),
        "too small": (["--data", str(tmp_path / "tiny.txt")], "too few for one batch"),
        "unknown cell": (["--cell", "nope"], "unknown cell 'nope'"),
        "bad run directory": (["--resume", str(tmp_path / "dir")], "config.json does not exist"),
    }[case]
    out = [] if case == "bad run directory" else ["--out", str(tmp_path / "run")]
    assert main(["train", "lm", *args, *out, "--steps", "2"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_threads_sets_pytorchs_thread_count(run_dir, tmp_path, capsys):
    held_out = tmp_path / "held_out.py"
    held_out.write_text(python_like_text(20))
    assert torch.get_num_threads() == 1                     # the suite's setting (tests/conftest.py)
    assert main(["eval", str(run_dir), "--data", str(held_out), "--json", "--threads", "2"]) == 0
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("command", [["train", "lm"], ["sample", "RUN"], ["eval", "RUN", "--data", "x"]])
@pytest.mark.parametrize("value, message", [("0", "must be at least 1, got 0"), ("two", "expected a whole number")])
def test_threads_must_be_a_positive_whole_number(command, value, message, capsys):
    with pytest.raises(SystemExit) as exit:
        main([*command, "--threads", value])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and "--threads" in error and message in error


@pytest.mark.parametrize("command", [["train", "lm"], ["sample"], ["eval"], []])
def test_every_command_has_help_with_examples(command, capsys):
    with pytest.raises(SystemExit) as exit:
        main([*command, "--help"])
    assert exit.value.code == 0 and "examples:" in capsys.readouterr().out


def test_the_default_corpus_trains_end_to_end(tmp_path):
    result = rnnkit("train", "lm", "--steps", "2", "--hidden", "16", "--batch", "2", "--seq-len", "8",
                    "--val-tokens", "500", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert "Python standard library" in result.stderr and result.stdout == ""
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["corpus"]["path"] is None and config["model"]["vocab_size"] > 50


TRAIN = ["--steps", "100", "--hidden", "16", "--layers", "2", "--dropout", "0.1", "--input-dropout", "0.1",
         "--weight-drop", "0.2", "--batch", "4", "--seq-len", "12", "--log-every", "1", "--val-every", "20",
         "--val-tokens", "2000", "--save-every", "1000", "--seed", "3"]


@pytest.mark.slow
def test_a_run_interrupted_by_sigint_and_resumed_ends_with_the_uninterrupted_weights(text_file, tmp_path):
    full = rnnkit("train", "lm", "--data", str(text_file), "--out", str(tmp_path / "full"), *TRAIN)
    assert full.returncode == 0, full.stderr

    process = subprocess.Popen([sys.executable, "-m", "rnnkit.cli.main", "train", "lm", "--data", str(text_file),
                                "--out", str(tmp_path / "cut"), *TRAIN],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ONE_THREAD)
    metrics = tmp_path / "cut" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.is_file() and len(metrics.read_text().splitlines()) >= 25:
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "SIGINT" in stderr and "--resume" in stderr
    saved = json.loads(load_file_metadata(tmp_path / "cut" / "trainer.safetensors"))
    assert 0 < saved["step"] < 100

    resumed = rnnkit("train", "lm", "--resume", str(tmp_path / "cut"))
    assert resumed.returncode == 0, resumed.stderr
    for name in ("trainer.safetensors", "model.safetensors"):
        expected, got = load_file(tmp_path / "full" / name), load_file(tmp_path / "cut" / name)
        names = [key for key in expected if key.startswith("model.") or name == "model.safetensors"]
        assert names and all(torch.equal(expected[key], got[key]) for key in names), name


def load_file_metadata(path: Path) -> str:
    from safetensors import safe_open
    with safe_open(str(path), "pt") as handle:
        return handle.metadata()["trainer"]
