"""The tag task: held-out data never overlaps training, chunks and batches, metrics as scikit-learn's."""

import random

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score

from rnnkit.data import DataError
from rnnkit.settings import SettingsError
from rnnkit.tasks.tagging import TaggingTask, label_counts, predict_encoded
from rnnkit.training import Shard


def conll_file(path, sequences: int = 40, seed: int = 0):
    """Sequences of words w0..w9 labelled ODD/EVEN by their digit."""
    rng = random.Random(seed)
    lines = []
    for _ in range(sequences):
        words = [rng.randrange(10) for _ in range(rng.randint(1, 12))]
        lines += [f"w{w}\t{'ODD' if w % 2 else 'EVEN'}" for w in words] + [""]
    path.write_text("\n".join(lines))
    return path


def python_dir(path, files: int = 8):
    path.mkdir()
    for i in range(files):
        (path / f"m{i}.py").write_text(f"def f{i}(x):\n    return x * {i}  # times {i}\n" * (i + 1))
    return path


def task(record) -> TaggingTask:
    return TaggingTask(TaggingTask.settings_from_record(record), cache_dir=None, progress=False)


def test_conll_sequences_are_held_out_whole_and_chunked(tmp_path):
    path = conll_file(tmp_path / "train.conll")
    tagging = task({"data": {"source": str(path), "val_fraction": 0.25, "chunk_length": 5}})
    assert tagging.settings["data"].kind == "conll"                           # a source without a kind
    assert tagging.labels == ["EVEN", "ODD"] and len(tagging.held_out) == 10
    assert tagging.train_set.size + tagging.val_set.size == sum(1 for line in path.read_text().split("\n") if line)
    for encoded in (tagging.train_set, tagging.val_set):
        assert all(0 < end - start <= 5 for start, end in encoded.spans)
        assert [s for s, _ in encoded.spans][1:] == [e for _, e in encoded.spans][:-1]   # contiguous, complete


def test_python_files_are_held_out_whole(tmp_path):
    source = python_dir(tmp_path / "src")
    tagging = task({"data": {"kind": "pytokens", "source": str(source), "val_fraction": 0.2}})
    texts = {p.name: p.read_text() for p in source.iterdir()}
    held = [path.name for path in tagging.held_out]
    assert held and len(held) < len(texts)
    assert tagging.val_set.size == sum(len(texts[name]) for name in held)
    assert tagging.train_set.size == sum(len(text) for name, text in texts.items() if name not in held)
    assert 0.1 <= tagging.val_set.size / (tagging.train_set.size + tagging.val_set.size) <= 0.3


def test_a_file_far_longer_than_the_others_is_never_held_out(tmp_path):
    source = python_dir(tmp_path / "src", files=12)
    (source / "generated.py").write_text("TOPICS = {\n" + "    'k': 'a long generated string',\n" * 150 + "}\n")
    for seed in range(6):
        tagging = task({"data": {"kind": "pytokens", "source": str(source), "val_fraction": 0.5, "seed": seed}})
        assert tagging.held_out and "generated.py" not in {path.name for path in tagging.held_out}
        assert tagging.train_set.size + tagging.val_set.size == sum(len(p.read_text()) for p in source.iterdir())


def test_python_files_are_chunked_as_one_stream_so_every_chunk_but_the_last_is_full(tmp_path):
    source = python_dir(tmp_path / "src")
    tagging = task({"data": {"kind": "pytokens", "source": str(source), "val_fraction": 0.2, "chunk_length": 50}})
    for encoded in (tagging.train_set, tagging.val_set):
        assert {end - start for start, end in encoded.spans[:-1]} == {50}
        assert encoded.spans[0][0] == 0 and encoded.spans[-1][1] == encoded.size


def test_a_batch_is_time_major_padded_and_counts_its_tokens(tmp_path):
    path = conll_file(tmp_path / "t.conll")
    tagging = task({"data": {"source": str(path), "chunk_length": 4}, "train": {"batch_size": 8}})
    batch = tagging.train_batches(Shard()).batch(0)
    lengths = batch["lengths"]
    assert batch["tokens"].shape == batch["labels"].shape == (int(lengths.max()), 8)
    assert batch.size == int(lengths.sum())


def test_a_context_window_stays_inside_its_sequence_and_scores_only_its_own_chunk(tmp_path):
    tagging = task({"data": {"source": str(conll_file(tmp_path / "t.conll")), "chunk_length": 3,
                             "val_fraction": 0.0}})
    encoded = tagging.train_set
    chunks = list(range(len(encoded.spans)))
    batch = encoded.batch(chunks, context=2)
    for b, ((first, last), (low, high)) in enumerate(zip(encoded.spans, encoded.limits)):
        start, end = encoded.window(b, 2)
        assert (start, end) == (max(low, first - 2), min(high, last + 2))          # never another sentence
        core = batch["core"][:, b]
        assert int(core.sum()) == last - first and int(batch["lengths"][b]) == end - start
        assert batch["tokens"][:, b][core].tolist() == encoded.tokens[first:last].tolist()
    assert int(batch["core"].sum()) == encoded.size                                 # every token once
    assert encoded.batch(chunks)["core"].sum(0).tolist() == batch["core"].sum(0).tolist()


def test_with_enough_context_a_chunk_is_tagged_as_inside_its_whole_stream(tmp_path):
    source = python_dir(tmp_path / "src", files=3)
    tagging = task({"data": {"kind": "pytokens", "source": str(source), "val_fraction": 0.0, "chunk_length": 16},
                    "model": {"bidirectional": True, "hidden_size": 8, "embedding_size": 4}})
    torch.manual_seed(0)
    model = tagging.build_model().eval()
    encoded = tagging.train_set
    with torch.no_grad():
        scores = model(torch.from_numpy(encoded.tokens).unsqueeze(1)).squeeze(1)      # the whole stream at once
    whole = torch.nn.functional.cross_entropy(scores, torch.from_numpy(encoded.labels), reduction="sum").item()
    true, predicted, loss = predict_encoded(model, encoded, batch_size=5, context=encoded.size)
    assert true.tolist() == encoded.labels.tolist() and predicted.tolist() == scores.argmax(-1).tolist()
    assert loss == pytest.approx(whole, rel=1e-5)
    _, _, alone = predict_encoded(model, encoded, batch_size=5, context=0)     # chunks cut off from each other
    assert alone != pytest.approx(whole, rel=1e-5)


def test_context_defaults_to_half_a_chunk_and_a_run_from_before_it_loads(tmp_path):
    settings = TaggingTask.settings_from_record({"data": {"chunk_length": 100}})
    assert settings["data"].read_context == 50
    assert TaggingTask.settings_from_record({"data": {"eval_context": 0}})["data"].read_context == 0
    with pytest.raises(SettingsError, match="eval_context must be a whole number of tokens"):
        TaggingTask.settings_from_record({"data": {"eval_context": -1}})
    record = {section: value.__dict__.copy() for section, value in settings.items()}
    del record["data"]["eval_context"]
    assert TaggingTask.settings_from_record(record, derived=True)["data"].eval_context is None


def test_validation_metrics_are_scikit_learns(tmp_path):
    tagging = task({"data": {"source": str(conll_file(tmp_path / "t.conll")), "val_fraction": 0.5}})
    torch.manual_seed(0)
    model = tagging.build_model().eval()
    metrics = tagging.metrics(tagging.validation_sums(model, Shard()))
    true, predicted, _ = predict_encoded(model, tagging.val_set, batch_size=7)
    assert metrics["accuracy"] == pytest.approx(accuracy_score(true, predicted))
    assert metrics["macro_f1"] == pytest.approx(f1_score(true, predicted, average="macro"))


def test_shards_count_every_validation_token_once(tmp_path):
    tagging = task({"data": {"source": str(conll_file(tmp_path / "t.conll")), "val_fraction": 0.5}})
    model = tagging.build_model().eval()
    whole = tagging.validation_sums(model, Shard())
    parts = [tagging.validation_sums(model, Shard(rank, 3)) for rank in range(3)]
    for key in ("count", "correct", "true_0", "pred_1", "hit_0"):
        assert sum(part[key] for part in parts) == whole[key]
    assert sum(part["loss_sum"] for part in parts) == pytest.approx(whole["loss_sum"], rel=1e-5)


def test_label_counts():
    counts = label_counts(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert (counts["count"], counts["correct"]) == (4, 3)
    assert [counts[f"true_{i}"] for i in range(3)] == [1, 2, 1]
    assert [counts[f"pred_{i}"] for i in range(3)] == [1, 1, 2]
    assert [counts[f"hit_{i}"] for i in range(3)] == [1, 1, 1]


def test_data_errors(tmp_path):
    with pytest.raises(SettingsError, match="conll data needs its file"):
        TaggingTask.settings_from_record({"data": {"kind": "conll"}})
    single = tmp_path / "one.py"
    single.write_text("x = 1\n")
    with pytest.raises(DataError, match="only one Python file was read .* validation holds out whole files"):
        task({"data": {"kind": "pytokens", "source": str(single)}})
    assert task({"data": {"kind": "pytokens", "source": str(single), "val_fraction": 0.0}}).val_set.size == 0
    unknown = tmp_path / "dev.conll"
    unknown.write_text("w1\tODD\n\nw2\tMAYBE\n")
    with pytest.raises(DataError, match=r"dev\.conll:3: label 'MAYBE' was not seen in training"):
        task({"data": {"source": str(conll_file(tmp_path / "t.conll")), "val_source": str(unknown)}})
