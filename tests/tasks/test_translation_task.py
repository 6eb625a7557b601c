"""The translate task of rnnkit.tasks.translation: schedules, scores, batches, and a tiny run end to end."""

from __future__ import annotations

import math

import pytest
import sacrebleu
import torch

from rnnkit.tasks import runs
from rnnkit.tasks.translation import (
    LengthBuckets, Pairs, TeacherConfig, TranslationTask, collate, evaluate_run, score_sums, scores,
)
from rnnkit.training import Batch, CheckpointError, Shard

HYPOTHESES = ["The cat sat on the mat.", "A dog runs in the park!", "Two men are talking"]
REFERENCES = ["The cat sat on a mat.", "A dog is running in the park!", "Two men are talking."]


def test_bleu_and_chrf_equal_sacrebleus_corpus_scores():
    result = scores(score_sums(HYPOTHESES, REFERENCES))
    assert result["bleu"] == pytest.approx(sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score)
    assert result["chrf"] == pytest.approx(sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score)
    assert result["exact_match"] == 0.0


def test_shards_statistics_sum_to_the_whole_corpus_score():
    parts = [score_sums(HYPOTHESES[:1], REFERENCES[:1]), score_sums(HYPOTHESES[1:], REFERENCES[1:])]
    summed = {key: parts[0][key] + parts[1][key] for key in parts[0]}
    assert scores(summed) == pytest.approx(scores(score_sums(HYPOTHESES, REFERENCES)))


@pytest.mark.parametrize("schedule,k,formula", [
    ("linear", 1e-3, lambda i, k: 1 - k * i),
    ("exponential", 0.99, lambda i, k: k ** i),
    ("inverse_sigmoid", 50.0, lambda i, k: k / (k + math.exp(i / k))),
])
def test_teacher_forcing_probability_follows_bengios_schedules(schedule, k, formula):
    config = TeacherConfig(schedule=schedule, k=k, min_teacher=0.1)
    for step in (0, 10, 100, 400, 5000):
        assert config.teacher_probability(step) == pytest.approx(max(0.1, formula(step, k)))
    values = [config.teacher_probability(step) for step in range(0, 3000, 50)]
    assert values == sorted(values, reverse=True) and values[-1] == 0.1


def test_without_a_schedule_the_decoder_is_always_teacher_forced():
    assert all(TeacherConfig().teacher_probability(step) == 1.0 for step in (0, 10**6))


@pytest.mark.parametrize("kwargs,match", [
    ({"schedule": "cosine"}, "schedule must be one of"),
    ({"schedule": "exponential", "k": 1.5}, "needs 0 < k < 1"),
    ({"schedule": "inverse_sigmoid", "k": 0.5}, "needs k >= 1"),
    ({"label_smoothing": 1.0}, "label_smoothing"),
])
def test_bad_teacher_settings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TeacherConfig(**kwargs)


@pytest.fixture(scope="module")
def dates_task(tmp_path_factory):
    record = {"data": {"source": "dates", "size": 300, "val_size": 40},
              "model": {"hidden_size": 16, "embedding_size": 8}, "train": {"steps": 4, "batch_size": 8},
              "teacher": {"schedule": "linear", "k": 0.25, "val_sentences": 20}}
    settings = TranslationTask.settings_from_record(record)
    return TranslationTask(settings, tmp_path_factory.mktemp("cache"))


def test_teacher_forcing_and_free_running_switch_as_scheduled(dates_task):
    batches = dates_task.train_batches(Shard())
    # ε = 1 − 0.25·i: all teacher forcing at step 0, all free running from step 4.
    assert dates_task.sampled_mask(batches.batch(0)) is None
    middle = dates_task.sampled_mask(batches.batch(2))
    assert 0 < middle.float().mean() < 1
    assert bool(dates_task.sampled_mask(batches.batch(4)).all())
    assert torch.equal(dates_task.sampled_mask(batches.batch(2)), middle)      # a pure function of the position


def test_batches_are_bucketed_by_length_and_addressed_by_position():
    lengths = [1, 9, 2, 8, 3, 7, 4, 6]
    pairs = Pairs([[5] * n for n in lengths], [[5]] * 8, [""] * 8, [""] * 8)
    batches = LengthBuckets(pairs, batch_size=2, bucket=4, seed=0)
    assert batches.indices(3) == LengthBuckets(pairs, 2, 4, 0).indices(3)
    for position in range(4):
        chosen = batches.indices(position)
        spread = abs(lengths[chosen[0]] - lengths[chosen[1]])
        assert spread <= 1
    seen = sorted(i for p in range(4) for i in batches.indices(p))
    assert seen == list(range(8))


def test_collate_shifts_the_target_right_with_bos_and_ends_it_with_eos():
    batch = collate([[7, 8, 9], [6]], [[4, 5], [10]])
    assert isinstance(batch, Batch)
    assert batch["target_input"][:, 0].tolist() == [2, 4, 5] and batch["target_output"][:, 0].tolist() == [4, 5, 3]
    assert batch["target_input"][:, 1].tolist() == [2, 10, 0] and batch["target_output"][:, 1].tolist() == [10, 3, 0]
    assert batch["source_lengths"].tolist() == [3, 1]


def test_files_without_training_data_are_refused_with_the_flags():
    from rnnkit.settings import SettingsError
    with pytest.raises(SettingsError, match="--src FILE --tgt FILE, or --task dates"):
        TranslationTask.settings_from_record({})


@pytest.mark.slow
def test_a_tiny_dates_run_trains_evaluates_and_refuses_changed_data(tmp_path, dates_task):
    settings = dates_task.settings
    result = runs.train("translate", settings, tmp_path / "run", handle_signals=False, cache=tmp_path / "cache")
    assert result.step == 4
    evaluated = evaluate_run(tmp_path / "run", beam_size=2)
    assert 0 <= evaluated["exact_match"] <= 1 and set(evaluated["exact_match_by_locale"]) <= set(
        settings["data"].locales)
    other = TranslationTask(settings | {"data": settings["data"].__class__(source="dates", size=300, val_size=40,
                                                                             seed=99)}, tmp_path / "cache")
    with pytest.raises(CheckpointError, match="vocabulary differs"):
        other.check_resume(tmp_path / "run")


def test_attention_on_last_tells_a_collapsed_attention_from_one_along_the_sentence():
    from rnnkit.tasks.translation import COLLAPSED, attention_on_last

    diagonal = torch.eye(5)                              # 4 words and <eos>, each on its own source token
    collapsed = torch.zeros(5, 5)
    collapsed[:, -1] = 1.0
    uniform = torch.full((3, 4), 0.25)
    assert attention_on_last([diagonal, uniform]) == pytest.approx((0.2 + 0.25) / 2)
    share = attention_on_last([collapsed])
    assert share == pytest.approx(1.0) and share > COLLAPSED
    assert attention_on_last([None]) is None          # a model without attention
    assert attention_on_last([]) is None

