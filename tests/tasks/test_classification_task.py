"""The classify task: bucketed batches addressed by position, data errors, learning, checkpoint round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data import DataError
from rnnkit.settings import SettingsError
from rnnkit.tasks import runs
from rnnkit.tasks.classification import (
    BucketedBatches, ClassificationTask, Examples, evaluate_run, load_run, shared_data_dir,
)
from rnnkit.training import Shard


def settings(data: dict, model: dict | None = None, **train) -> dict:
    model = {"cell": "gru", "hidden_size": 24, "embedding_size": 16} | (model or {})
    train = {"steps": 40, "batch_size": 16, "lr": 0.01, "device": "cpu", "save_every": 1e9} | train
    return ClassificationTask.settings_from_record({"data": data, "model": model, "train": train})


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,label") -> Path:
    path.write_text(header + "\n" + "".join(f'"{t}",{y}\n' for t, y in rows), encoding="utf-8")
    return path


def toy_rows(count: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = np.random.default_rng(seed)
    words = {"up": ["good", "fine", "great"], "down": ["bad", "poor", "awful"]}
    rows = []
    for i in range(count):
        label = "up" if i % 2 else "down"
        rows.append((" ".join(rng.choice(["the", "a", "it", "was"], size=rng.integers(1, 6)).tolist()
                              + [str(rng.choice(words[label]))]), label))
    return rows


def examples(lengths: list[int]) -> Examples:
    return Examples([torch.arange(n) for n in lengths], torch.zeros(len(lengths), dtype=torch.long))


def test_bucketed_batches_are_a_pure_function_of_position():
    data = examples(list(np.random.default_rng(0).integers(1, 40, size=200)))
    first, second = BucketedBatches(data, 8, 5, seed=3), BucketedBatches(data, 8, 5, seed=3)
    for position in (0, 7, 30, 24, 3, 55):         # any order, across passes
        assert first.indices(position) == second.indices(position)
    assert first.indices(0) != BucketedBatches(data, 8, 5, seed=4).indices(0)
    # One pass visits every example at most once, and batches are full.
    seen = [i for p in range(len(first)) for i in first.indices(p)]
    assert len(seen) == len(set(seen)) == len(first) * 8


def test_bucketing_groups_similar_lengths():
    lengths = list(np.random.default_rng(1).integers(1, 100, size=800))
    data = examples(lengths)
    spread = lambda batches: np.mean([np.ptp([lengths[i] for i in batches.indices(p)]) for p in range(len(batches))])
    assert spread(BucketedBatches(data, 16, 25, seed=0)) < 0.3 * spread(BucketedBatches(data, 16, 1, seed=0))
    batch = BucketedBatches(data, 16, 25, seed=0).batch(2)
    assert batch["inputs"].shape == (int(batch["lengths"].max()), 16)


def test_shards_split_each_batch():
    data = examples(list(range(1, 65)))
    whole = BucketedBatches(data, 8, 4, seed=0)
    parts = [BucketedBatches(data, 8, 4, seed=0, shard=Shard(r, 2)) for r in range(2)]
    assert sorted(parts[0].indices(5) + parts[1].indices(5)) == sorted(whole.indices(5))


def test_a_single_class_training_set_is_an_error(tmp_path):
    path = write_csv(tmp_path / "one.csv", [("good", "pos"), ("fine", "pos"), ("great", "pos")] * 5)
    with pytest.raises(DataError, match="same label \\('pos'\\)"):
        ClassificationTask(settings({"train_path": str(path)}), tmp_path)


def test_an_unknown_label_at_validation_names_its_line(tmp_path):
    train = write_csv(tmp_path / "train.csv", toy_rows(40))
    val = write_csv(tmp_path / "val.csv", [("good", "up"), ("meh", "sideways")])
    with pytest.raises(DataError, match=r"val.csv:3: label 'sideways' does not occur in the training data"):
        ClassificationTask(settings({"train_path": str(train), "val_path": str(val)}), tmp_path)


def test_settings_errors_name_the_key():
    with pytest.raises(SettingsError, match=r"\[data\] source must be one of"):
        settings({"source": "imdb"})
    with pytest.raises(SettingsError, match=r"\[data\] .*takes no training or validation file"):
        settings({"source": "negation", "train_path": "x.csv"})
    assert settings({})["data"].source == "negation"


def test_sst2_absent_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="SST-2 is not in .*sst2"):
        ClassificationTask(settings({"source": "sst2", "data_dir": str(tmp_path)}), tmp_path)


@pytest.mark.slow
def test_sst2_loads_when_present(tmp_path):
    folder = shared_data_dir() / "sst2"
    if not (folder / "dev.tsv").is_file():
        pytest.skip(f"SST-2 is not in {folder} (the shared data sets are absent)")
    task = ClassificationTask(settings({"source": "sst2"}), tmp_path)
    assert task.labels == ["0", "1"] and len(task.val_set) == 872 and len(task.train_set) == 67349


def test_digits_are_read_as_rows_or_pixels(tmp_path):
    rows = ClassificationTask(settings({"source": "digits", "digits": "rows"}), tmp_path)
    pixels = ClassificationTask(settings({"source": "digits", "digits": "pixels"}), tmp_path)
    assert rows.train_set.sequences[0].shape == (8, 8) and pixels.train_set.sequences[0].shape == (64, 1)
    assert len(rows.val_set) == 360 and len(rows.train_set) == 1437        # 20% of 1,797 held out
    torch.testing.assert_close(rows.val_set.sequences[5].reshape(64), pixels.val_set.sequences[5].reshape(64))
    assert rows.build_model()(rows.train_batches(Shard()).batch(0)["inputs"]).shape == (16, 10)


@pytest.mark.slow
def test_a_small_rnn_learns_the_negation_grammar_within_seconds(tmp_path):
    data = {"source": "negation", "size": 2000, "val_size": 400}
    result = runs.train("classify", settings(data, {"cell": "lstm", "hidden_size": 32}, steps=250),
                        tmp_path / "run", handle_signals=False, callbacks=[])
    assert result.best_value >= 0.95
    report = evaluate_run(tmp_path / "run")
    assert report["accuracy"] == result.best_value
    assert report["baselines"]["bow"]["accuracy"] < 0.6


def test_a_checkpoint_round_trips_and_predicts_identically(tmp_path):
    path = write_csv(tmp_path / "d.csv", toy_rows(80))
    task_settings = settings({"train_path": str(path)}, {"pooling": "attention"}, steps=20)
    runs.train("classify", task_settings, tmp_path / "run", handle_signals=False, callbacks=[])
    run = load_run(tmp_path / "run")
    assert run.labels == ["down", "up"]
    texts = ["the good", "it was awful", "", "unheard-of words"]
    first = run.probabilities(run.encode(texts))
    again = load_run(tmp_path / "run").probabilities(load_run(tmp_path / "run").encode(texts))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    torch.testing.assert_close(first.sum(-1), torch.ones(4))
    # Each text alone gives what it gives in the batch.
    torch.testing.assert_close(run.probabilities(run.encode(texts[1:2]))[0], first[1])
    assert run.tokens("") == ["<unk>"] and run.tokens("the zzz") == ["the", "<unk>"]


def test_resume_continues_exactly(tmp_path):
    path = write_csv(tmp_path / "d.csv", toy_rows(96))
    base = {"train_path": str(path)}
    runs.train("classify", settings(base, steps=12), tmp_path / "straight", handle_signals=False, callbacks=[])
    runs.train("classify", settings(base, steps=6), tmp_path / "halves", handle_signals=False, callbacks=[])
    runs.train("classify", None, tmp_path / "halves", resume=True, budget=settings(base, steps=12)["train"],
               handle_signals=False, callbacks=[])
    a, b = load_run(tmp_path / "straight"), load_run(tmp_path / "halves")
    texts = ["the good", "a bad it was"]
    torch.testing.assert_close(a.probabilities(a.encode(texts)), b.probabilities(b.encode(texts)))
