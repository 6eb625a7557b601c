import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from rnnkit.data import CorpusConfig, DataError
from rnnkit.tasks import language_modeling as lm
from rnnkit.training import CheckpointError, TrainConfig

SHARED_DATA = Path(os.environ.get("RNNKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


def python_like_text(lines: int = 600) -> str:
    rng = np.random.default_rng(0)
    names = ["x", "value", "total", "items", "count"]
    out = []
    for i in range(lines):
        a, b = rng.choice(names, 2)
        out.append(f"def f{i % 7}({a}):\n    return {a} + {b} * {i % 10}\n")
    return "".join(out)


@pytest.fixture(scope="module")
def text_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "code.py"
    path.write_text(python_like_text())
    return path


SMALL = {"hidden_size": 24}
QUICK = dict(batch_size=4, seq_len=16, val_tokens=2000)


def test_evaluation_carries_the_state_like_one_pass_over_each_stream(text_file, tmp_path):
    lm.train(tmp_path / "run", CorpusConfig(path=str(text_file)), SMALL, train_config=TrainConfig(steps=3, **QUICK))
    model, tokenizer, _ = lm.load_run(tmp_path / "run")
    tokens = tokenizer.encode(text_file.read_text()[:3000])
    loss, count = lm.evaluate_tokens(model, tokens, batch_size=3, seq_len=7)
    # Reference: each of the 3 streams in one forward pass.
    length = len(tokens) // 3
    streams = torch.as_tensor(tokens[: 3 * length]).view(3, length).T           # (L, 3)
    with torch.no_grad():
        logits, _ = model(streams[:-1])
    expected = F.cross_entropy(logits.flatten(0, 1), streams[1:].flatten()).item()
    assert count == 3 * (length - 1)
    assert loss == pytest.approx(expected, rel=1e-5)


def test_a_run_directory_holds_config_vocab_weights_trainer_metrics_and_curves(text_file, tmp_path):
    result = lm.train(tmp_path / "run", CorpusConfig(path=str(text_file)), SMALL,
                      train_config=TrainConfig(steps=4, **QUICK))
    assert result.status == "finished" and result.step == 4
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert {"config.json", "vocab.json", "model.safetensors", "trainer.safetensors", "metrics.jsonl",
            "curves.png"} <= names
    assert (tmp_path / ".cache").is_dir()                     # the encoded corpus sits beside the runs


def test_resume_continues_to_a_larger_budget_and_refuses_a_missing_run(text_file, tmp_path):
    lm.train(tmp_path / "run", CorpusConfig(path=str(text_file)), SMALL, train_config=TrainConfig(steps=3, **QUICK))
    result = lm.train(tmp_path / "run", train_config=TrainConfig(steps=6), resume=True)
    assert result.status == "finished" and result.step == 6
    with pytest.raises(CheckpointError, match="config.json does not exist"):
        lm.train(tmp_path / "nothing", resume=True)
    with pytest.raises(ValueError, match="already holds a run"):
        lm.train(tmp_path / "run", CorpusConfig(path=str(text_file)), SMALL, train_config=TrainConfig(steps=3))


def test_corpus_too_small_for_one_batch(tmp_path):
    (tmp_path / "tiny.txt").write_text("just a few characters\n")
    with pytest.raises(DataError, match="too few for one batch"):
        lm.train(tmp_path / "run", CorpusConfig(path=str(tmp_path / "tiny.txt")), SMALL,
                 train_config=TrainConfig(steps=3, batch_size=8, seq_len=32))


def test_adaptive_softmax_switches_on_for_large_vocabularies():
    assert lm.adaptive_cutoffs(500, "auto") == ()
    assert lm.adaptive_cutoffs(33_000, "auto") == (2_000, 10_000)
    assert lm.adaptive_cutoffs(5_000, "on") == (2_000,)


def test_word_level_model_trains_on_a_wikitext_slice(tmp_path):
    source = SHARED_DATA / "wikitext-2" / "train.txt"
    if not source.is_file():
        pytest.skip(f"WikiText-2 not found at {source} (set RNNKIT_SHARED_DATA to the shared data directory)")
    with open(source, encoding="utf-8") as handle:
        (tmp_path / "slice.txt").write_text("".join(handle.readline() for _ in range(800)))
    result = lm.train(tmp_path / "run", CorpusConfig(path=str(tmp_path / "slice.txt"), tokens="word"),
                      SMALL, adaptive="on", train_config=TrainConfig(steps=5, **QUICK))
    assert result.status == "finished" and math.isfinite(result.best_val_loss)
    model, tokenizer, _ = lm.load_run(tmp_path / "run")
    assert tokenizer.kind == "word" and model.adaptive is not None


def test_a_validation_loss_far_above_a_uniform_guess_counts_as_diverged(text_file, tmp_path):
    from rnnkit.tasks.language_modeling import LanguageModelingTask

    record = {"corpus": {"path": str(text_file)}, "train": {"steps": 1, "batch_size": 4, "seq_len": 8}}
    task = LanguageModelingTask(LanguageModelingTask.settings_from_record(record), tmp_path)
    uniform = math.log(len(task.tokenizer))
    assert task.diverged({"loss": uniform, "bpc": uniform / math.log(2)}) is None
    assert "far above a uniform guess" in task.diverged({"loss": 1.5e18, "bpc": 2e18})
    assert "not finite" in task.diverged({"loss": math.nan, "bpc": math.nan})


def test_a_run_directory_of_the_first_config_layout_still_loads_and_resumes(text_file, tmp_path):
    """Runs written before the generic trainer kept val_fraction/val_data at the top of config.json,
    had no "adaptive" key and fewer train settings (clip null for none)."""
    import json

    run = tmp_path / "run"
    lm.train(run, CorpusConfig(path=str(text_file)), SMALL, train_config=TrainConfig(steps=2, **QUICK))
    config = json.loads((run / "config.json").read_text())
    old_train = ("steps", "minutes", "batch_size", "seq_len", "lr", "weight_decay", "warmup_steps", "final_lr_ratio",
                 "clip", "val_every", "val_tokens", "save_every", "log_every", "seed")
    legacy = {"task": "lm", "rnnkit": "0.1.0",
              "model": {k: v for k, v in config["model"].items() if k != "adaptive"}, "corpus": config["corpus"],
              "val_fraction": config["split"]["val_fraction"], "val_data": config["split"]["val_data"],
              "train": {k: v for k, v in config["train"].items() if k in old_train} | {"clip": None}}
    (run / "config.json").write_text(json.dumps(legacy))
    model, _, _ = lm.load_run(run)
    assert model.config.hidden_size == SMALL["hidden_size"]
    result = lm.train(run, train_config=TrainConfig(steps=3), resume=True)
    assert result.status == "finished" and result.step == 3
    assert json.loads((run / "config.json").read_text())["train"]["clip"] == 0.0   # null meant no clipping
