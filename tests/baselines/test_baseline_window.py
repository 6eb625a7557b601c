"""The fixed-window model and its task: the lm task's split, no leakage, windows as specified."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.baselines.window import WindowConfig, WindowLanguageModel, windows
from rnnkit.tasks import language_modeling, window_lm
from rnnkit.training import Shard

TEXT = "".join(f"line {i}: the quick brown fox {'jumps' if i % 3 else 'naps'} over the lazy dog\n" for i in range(60))


def settings(path, **train):
    record = {"corpus": {"path": str(path)}, "split": {"val_fraction": 0.1}, "model": {"context": 4, "hidden_size": 8,
              "embedding_size": 4}, "train": {"steps": 3, "batch_size": 8} | train}
    return window_lm.WindowTask.settings_from_record(record)


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    return path


def test_window_task_sees_exactly_the_lm_split(text_file, tmp_path):
    window = window_lm.WindowTask(settings(text_file, val_tokens=0), tmp_path / "cache")
    lm_settings = language_modeling.LanguageModelingTask.settings_from_record(
        {"corpus": {"path": str(text_file)}, "split": {"val_fraction": 0.1},
         "train": {"steps": 3, "batch_size": 4, "seq_len": 8, "val_tokens": 0}})
    lm = language_modeling.LanguageModelingTask(lm_settings, tmp_path / "cache")
    assert window.tokenizer.tokens == lm.tokenizer.tokens
    np.testing.assert_array_equal(window.train_tokens, lm.train_tokens)
    np.testing.assert_array_equal(window.val_tokens, lm.val_tokens)
    # Both predict every validation token but the first (the lm read as one stream).
    model = window.build_model()
    _, window_count = window.evaluate(model, window.val_tokens)
    _, lm_count = language_modeling.evaluate_sums(lm.build_model(), lm.val_tokens, 1, 8)
    assert window_count == lm_count == len(lm.val_tokens) - 1


def test_window_training_batches_never_read_validation_text(text_file, tmp_path):
    task = window_lm.WindowTask(settings(text_file), tmp_path / "cache")
    batches = task.train_batches(Shard())
    train = torch.from_numpy(np.asarray(task.train_tokens).astype(np.int64))
    seen = set()
    for position in range(len(batches)):            # one whole pass
        indices = np.asarray(batches.indices(position)) + 1
        batch = batches.batch(position)
        assert indices.max() < len(task.train_tokens)
        torch.testing.assert_close(batch["targets"], train[indices])
        seen.update(indices.tolist())
    assert min(seen) >= 1 and max(seen) <= len(task.train_tokens) - 1


def test_windows_are_the_preceding_tokens_padded_at_the_start():
    tokens = np.array([5, 6, 7, 8, 9])
    got = windows(tokens, np.array([0, 1, 4]), context=3, pad=-1)
    expected = np.array([[-1, -1, -1], [-1, -1, 5], [6, 7, 8]])
    np.testing.assert_array_equal(got, expected)


def test_window_model_sees_only_its_window():
    torch.manual_seed(0)
    model = WindowLanguageModel(WindowConfig(context=3, embedding_size=4, hidden_size=8), vocab_size=6)
    batch = torch.tensor([[1, 2, 3], [1, 2, 3]])
    scores = model(batch)
    assert scores.shape == (2, 6)
    torch.testing.assert_close(scores[0], scores[1])
    with pytest.raises(ValueError, match=r"\(B, 3\)"):
        model(torch.zeros(2, 4, dtype=torch.long))


def test_window_config_refuses_a_zero_context():
    with pytest.raises(ValueError, match="context must be a positive integer"):
        WindowConfig(context=0)


def test_window_task_refuses_an_empty_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        window_lm.WindowTask(settings(empty), tmp_path / "cache")
