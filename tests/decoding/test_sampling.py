"""The logit filters and sample_next of rnnkit.decoding.sampling."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.decoding import greedy_next, sample_next, top_k_filter, top_p_filter


def random_logits(rows: int = 6, vocab_size: int = 10, seed: int = 0) -> torch.Tensor:
    return 2 * torch.randn(rows, vocab_size, generator=torch.Generator().manual_seed(seed))


def nucleus(probs: list[float], p: float) -> set[int]:
    """Reference: take tokens by decreasing probability until their total reaches p."""
    kept, total = set(), 0.0
    for token in sorted(range(len(probs)), key=lambda v: -probs[v]):
        kept.add(token)
        total += probs[token]
        if total >= p:
            break
    return kept


@pytest.mark.parametrize("k", [1, 3, 10, 15])
def test_top_k_filter_keeps_the_k_largest_logits_unchanged(k):
    logits = random_logits()
    filtered = top_k_filter(logits, k)
    for row, filtered_row in zip(logits, filtered):
        expected = set(row.argsort(descending=True)[:k].tolist())
        assert set(filtered_row.isfinite().nonzero().flatten().tolist()) == expected
        assert torch.equal(filtered_row[sorted(expected)], row[sorted(expected)])
        assert (filtered_row[~filtered_row.isfinite()] == -math.inf).all()


@pytest.mark.parametrize("p", [1e-6, 0.3, 0.75, 0.95, 1.0])
def test_top_p_filter_keeps_the_smallest_set_reaching_p(p):
    logits = random_logits()
    filtered = top_p_filter(logits, p)
    for row, filtered_row in zip(logits, filtered):
        expected = nucleus(row.softmax(-1).tolist(), p)
        assert set(filtered_row.isfinite().nonzero().flatten().tolist()) == expected
        assert torch.equal(filtered_row[sorted(expected)], row[sorted(expected)])


def test_top_p_filter_keeps_at_least_the_most_probable_token():
    logits = random_logits()
    filtered = top_p_filter(logits, 1e-9)
    assert (filtered.isfinite().sum(-1) == 1).all()
    assert torch.equal(filtered.argmax(-1), logits.argmax(-1))


def test_filters_leave_their_input_untouched():
    logits = random_logits()
    before = logits.clone()
    top_k_filter(logits, 2)
    top_p_filter(logits, 0.5)
    assert torch.equal(logits, before)


@pytest.mark.parametrize(("top_k", "top_p"), [(3, None), (None, 0.6), (4, 0.8)])
def test_samples_never_leave_the_allowed_set(top_k, top_p):
    logits = random_logits(rows=3)
    temperature = 1.5
    samples = sample_next(
        logits.repeat_interleave(2000, dim=0), temperature, top_k, top_p, torch.Generator().manual_seed(1)
    ).view(3, 2000)
    for row, row_samples in zip(logits / temperature, samples):
        allowed = set(range(row.numel()))
        if top_k is not None:
            allowed = set(row.argsort(descending=True)[:top_k].tolist())
        if top_p is not None:
            kept = torch.full_like(row, -math.inf)
            kept[sorted(allowed)] = row[sorted(allowed)]
            allowed = nucleus(kept.softmax(-1).tolist(), top_p)
        assert set(row_samples.tolist()) <= allowed
        # Nor is the filter stricter than the reference: 2000 draws see every allowed token of these rows.
        assert set(row_samples.tolist()) == allowed


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_sample_frequencies_follow_softmax_of_logits_over_temperature(temperature):
    logits = random_logits(rows=1, vocab_size=5)
    draws = 40000
    samples = sample_next(logits.expand(draws, -1), temperature, generator=torch.Generator().manual_seed(2))
    frequencies = torch.bincount(samples, minlength=5).double() / draws
    expected = (logits[0].double() / temperature).softmax(-1)
    # Standard error of a frequency is at most 0.5 / sqrt(draws) = 0.0025.
    torch.testing.assert_close(frequencies, expected, atol=0.01, rtol=0)


def test_small_temperature_gives_argmax():
    logits = random_logits(rows=50)
    samples = sample_next(logits, temperature=1e-4, generator=torch.Generator().manual_seed(3))
    assert torch.equal(samples, greedy_next(logits))


def test_sample_next_is_reproducible_with_a_seeded_generator():
    logits = random_logits(rows=64)
    first = sample_next(logits, generator=torch.Generator().manual_seed(4))
    again = sample_next(logits, generator=torch.Generator().manual_seed(4))
    other = sample_next(logits, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_greedy_next_is_the_argmax_of_each_row():
    logits = random_logits()
    expected = [max(range(logits.size(1)), key=lambda v: row[v].item()) for row in logits]
    assert greedy_next(logits).tolist() == expected


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
    ],
)
def test_bad_sampling_arguments_raise_naming_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        sample_next(random_logits(), **kwargs)


def test_bad_filter_arguments_raise_naming_the_argument():
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(random_logits(), 0)
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(random_logits(), 0.0)
