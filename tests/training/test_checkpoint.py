import os
import random

import numpy as np
import pytest
import torch

from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.training import CheckpointError, load_weights, save_weights
from rnnkit.training import checkpoint


def make(seed: int = 0, **options) -> LanguageModel:
    torch.manual_seed(seed)
    return LanguageModel(LanguageModelConfig(**({"vocab_size": 9, "hidden_size": 6} | options)))


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name


def test_an_atomic_save_that_crashes_mid_write_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    old = make(0)
    save_weights(path, old)

    class Crash(Exception):
        pass

    def crash(*args):
        raise Crash("power cut")

    # The new bytes are written to a temporary file; the crash hits before it replaces the old one.
    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(Crash):
        save_weights(path, make(1))
    monkeypatch.undo()
    restored = make(2)
    load_weights(path, restored)
    assert_same_weights(restored, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]   # no temporary left


def test_tied_weights_save_once_and_load_back(tmp_path):
    model = make(0, tie_weights=True)
    save_weights(tmp_path / "m.safetensors", model)
    restored = make(1, tie_weights=True)
    load_weights(tmp_path / "m.safetensors", restored)
    assert_same_weights(restored, model)
    assert restored.head.weight is restored.embedding.weight


def test_corrupted_or_foreign_files_are_clear_errors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a valid safetensors"):
        load_weights(tmp_path / "bad.safetensors", make())
    save_weights(tmp_path / "small.safetensors", make(hidden_size=4))
    with pytest.raises(CheckpointError, match="does not fit this model"):
        load_weights(tmp_path / "small.safetensors", make())


def test_trainer_state_restores_weights_optimizer_rngs_and_carried_state(tmp_path):
    model = make(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    tokens = torch.randint(9, (5, 2))
    loss, carried = model.loss(tokens, tokens)
    loss.backward()
    optimizer.step()
    torch.manual_seed(123)
    random.seed(4)
    np.random.seed(5)
    checkpoint.save_trainer_state(tmp_path / "t.safetensors", model, optimizer, carried, {"step": 7})
    expected = (torch.rand(3), random.random(), np.random.rand())

    other = make(1)
    other_optimizer = torch.optim.AdamW(other.parameters(), lr=1e-2)
    restored, info = checkpoint.load_trainer_state(tmp_path / "t.safetensors", other, other_optimizer)
    assert (torch.rand(3).tolist(), random.random(), np.random.rand()) == (expected[0].tolist(), *expected[1:])
    assert info["step"] == 7
    assert_same_weights(other, model)
    for a, b in zip(carried, restored):
        assert torch.equal(a, b)
    # The same next update from both optimizers.
    for m, opt in ((model, optimizer), (other, other_optimizer)):
        opt.zero_grad()
        m.loss(tokens, tokens)[0].backward()
        opt.step()
    assert_same_weights(other, model)
