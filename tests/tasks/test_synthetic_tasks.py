"""The comparison's synthetic tasks on the one trainer: batches addressed by position, losses scored where the
definition says, a fixed validation set apart from training, and each task trainable and evaluable."""

from __future__ import annotations

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.tasks import runs
from rnnkit.tasks.registry import get_task_class
from rnnkit.training import Shard

SMALL = {
    "arith": {"max_digits": 1, "val_size": 40},
    "xml": {"num_tags": 2, "max_name_length": 2, "val_size": 20},
    "adding": {"length": 6, "val_size": 40},
    "copy": {"length": 2, "delay": 3, "val_size": 20},
}


def make(name, seed=0, **model):
    task_class = get_task_class(name)
    settings = task_class.settings_from_record({"data": SMALL[name], "model": {"hidden_size": 8} | model,
                                                "train": {"steps": 3, "batch_size": 4, "seed": seed}})
    return task_class(settings, None)


@pytest.mark.parametrize("name", list(SMALL))
def test_a_batch_is_a_function_of_its_position_and_the_seed(name):
    task = make(name)
    batches = task.train_batches(Shard())
    first, again, other = batches.batch(5), batches.batch(5), batches.batch(6)
    assert all(torch.equal(first[key], again[key]) for key in first.data)
    assert any(not torch.equal(first[key], other[key]) or first[key].shape != other[key].shape for key in first.data)
    reseeded = make(name, seed=1).train_batches(Shard()).batch(5)
    assert any(not torch.equal(first[key], reseeded[key]) or first[key].shape != reseeded[key].shape
               for key in first.data)
    # Two processes share the batch: each makes its half.
    halves = [task.train_batches(Shard(rank, 2)).batch(5) for rank in range(2)]
    assert [h.size for h in halves] == [2, 2]


@pytest.mark.parametrize("name", ["arith", "xml", "copy"])
def test_the_loss_counts_only_the_scored_positions_for_next_character_tasks(name):
    task = make(name)
    torch.manual_seed(0)
    model = task.build_model()
    batch = task.train_batches(Shard()).batch(0)
    loss, _ = task.loss(model, batch, None)
    if name == "copy":          # the copy problem scores every step (Arjovsky et al. 2016)
        assert batch["mask"].sum() < batch["mask"].numel()
        return
    changed = dict(batch.data)
    targets = batch["targets"].clone()
    targets[~batch["mask"]] = (targets[~batch["mask"]] + 1) % task.vocab_size
    changed["targets"] = targets
    torch.testing.assert_close(task.loss(model, type(batch)(changed, batch.size), None)[0], loss)


def test_the_validation_set_is_fixed_and_not_a_training_batch():
    a, b = make("adding"), make("adding", seed=3)
    assert torch.equal(a.validation["inputs"], b.validation["inputs"])
    train = a.train_batches(Shard()).batch(0)["inputs"]
    assert not torch.equal(train, a.validation["inputs"][:, :4])


def test_the_adding_metric_is_the_mean_squared_error_of_the_last_step():
    task = make("adding")
    torch.manual_seed(0)
    model = task.build_model().eval()
    with torch.no_grad():
        metrics = task.metrics(task.validation_sums(model, Shard()))
        predicted = model(task.validation["inputs"])[-1, :, 0]
    assert metrics["mse"] == pytest.approx(float(((predicted - task.validation["targets"]) ** 2).mean()), rel=1e-5)
    assert task.selection.metric == "mse" and not task.selection.higher_is_better


@pytest.mark.parametrize("name", list(SMALL))
def test_each_task_trains_through_the_cli_and_evaluates(name, tmp_path, capsys):
    data = [f"--{key.replace('_', '-')}={value}" for key, value in SMALL[name].items()]
    code = main(["train", name, *data, "--steps", "4", "--batch", "4", "--hidden", "8", "--val-every", "2",
                 "--out", str(tmp_path / name), "--threads", "1"])
    assert code == 0
    assert runs.read_config(tmp_path / name)["task"] == name
    capsys.readouterr()
    assert main(["eval", str(tmp_path / name), "--json"]) == 0
    assert ("mse" if name == "adding" else "accuracy") in capsys.readouterr().out


def test_init_scale_multiplies_the_recurrent_weights():
    torch.manual_seed(0)
    plain = make("copy").build_model()
    torch.manual_seed(0)
    scaled = make("copy", init_scale=2.0).build_model()
    torch.testing.assert_close(scaled.rnn.weight_hh_l0, 2 * plain.rnn.weight_hh_l0)
    torch.testing.assert_close(scaled.rnn.bias_hh_l0, plain.rnn.bias_hh_l0)
    with pytest.raises(ValueError, match="init_scale"):
        make("copy", init_scale=0.0)
