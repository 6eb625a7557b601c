"""beam_search and select_state of rnnkit.decoding.beam."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import Hypothesis, beam_search, generate, select_state


@pytest.fixture
def prompt() -> torch.Tensor:
    return torch.tensor([3, 1, 4])


@pytest.mark.parametrize("stop_tokens", [(), (1,)])
def test_beam_size_one_is_greedy_decoding(lstm_model, prompt, stop_tokens):
    greedy = torch.cat(list(generate(lstm_model, prompt[None], 10, strategy="greedy", stop_tokens=stop_tokens)))
    (best,) = beam_search(lstm_model, prompt, beam_size=1, max_new_tokens=10, stop_tokens=stop_tokens)
    assert best.tokens == greedy.tolist()


@pytest.mark.parametrize("model_name", ["lstm_model", "random_table_model"])
@pytest.mark.parametrize("length_penalty", [0.0, 0.7])
@pytest.mark.parametrize("stop_tokens", [(), (1,)])
def test_a_beam_wide_enough_ranks_every_sequence_as_exhaustive_search_does(
    request, model_name, length_penalty, stop_tokens, log_prob_of, enumerate_sequences, prompt
):
    model = request.getfixturevalue(model_name)
    max_len = 3
    vocab_size = model.step(prompt[:1], None)[0].size(-1)
    prompt = prompt % vocab_size
    sequences = enumerate_sequences(vocab_size, max_len, set(stop_tokens))
    scored = sorted(
        ((log_prob_of(model, prompt, s) / len(s) ** length_penalty, s) for s in sequences), key=lambda pair: -pair[0]
    )
    hypotheses = beam_search(
        model, prompt, beam_size=len(sequences), max_new_tokens=max_len,
        length_penalty=length_penalty, stop_tokens=stop_tokens,
    )
    assert hypotheses[0].tokens == scored[0][1]
    torch.testing.assert_close([h.score for h in hypotheses], [score for score, _ in scored])


def test_beam_search_finds_the_most_probable_sequence_that_greedy_misses(make_table_model, log_prob_of, enumerate_sequences):
    # From 0, token 1 is likelier than 2, but everything after 1 is uncertain while 2 → 2 is near certain.
    transitions = torch.tensor([
        [0.10, 0.50, 0.40],
        [1 / 3, 1 / 3, 1 / 3],
        [0.02, 0.03, 0.95],
    ])
    model = make_table_model(transitions)
    prompt = torch.tensor([0])
    best = max(enumerate_sequences(3, 3, set()), key=lambda s: log_prob_of(model, prompt, s))
    (greedy,) = beam_search(model, prompt, beam_size=1, max_new_tokens=3)
    found = beam_search(model, prompt, beam_size=2, max_new_tokens=3)[0]
    assert found.tokens == best
    assert greedy.tokens != best


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_log_prob_and_score_agree_with_the_model_over_the_returned_tokens(lstm_model, prompt, log_prob_of, length_penalty):
    hypotheses = beam_search(
        lstm_model, prompt, beam_size=4, max_new_tokens=7, length_penalty=length_penalty, stop_tokens=(1,)
    )
    assert len(hypotheses) == 4
    for hypothesis in hypotheses:
        expected = log_prob_of(lstm_model, prompt, hypothesis.tokens)
        assert hypothesis.log_prob == pytest.approx(expected, abs=1e-5)
        assert hypothesis.score == pytest.approx(expected / len(hypothesis.tokens) ** length_penalty, abs=1e-5)
    assert [h.score for h in hypotheses] == sorted((h.score for h in hypotheses), reverse=True)


def test_hypotheses_end_at_their_first_stop_token_or_at_max_new_tokens(lstm_model, prompt):
    stop = 1
    for hypothesis in beam_search(lstm_model, prompt, beam_size=5, max_new_tokens=6, stop_tokens=(stop,)):
        assert stop not in hypothesis.tokens[:-1]
        assert hypothesis.tokens[-1] == stop or len(hypothesis.tokens) == 6


def test_banned_tokens_appear_in_no_hypothesis(lstm_model, prompt):
    free = beam_search(lstm_model, prompt, 4, 6)
    banned = sorted({token for hypothesis in free for token in hypothesis.tokens})[:2]
    for hypothesis in beam_search(lstm_model, prompt, 4, 6, banned_tokens=banned):
        assert not set(hypothesis.tokens) & set(banned)


def test_zero_new_tokens_gives_the_empty_hypothesis(lstm_model, prompt):
    assert beam_search(lstm_model, prompt, beam_size=3, max_new_tokens=0) == [Hypothesis([], 0.0, 0.0)]


def test_select_state_picks_batch_rows_of_every_tensor_in_a_nested_state():
    h = torch.arange(2 * 3 * 4.0).view(2, 3, 4)
    state = (h, (h + 100, [h + 200]), None)
    indices = torch.tensor([2, 0, 0])
    picked = select_state(state, indices)
    assert torch.equal(picked[0], h[:, indices])
    assert torch.equal(picked[1][0], (h + 100)[:, indices])
    assert torch.equal(picked[1][1][0], (h + 200)[:, indices])
    assert picked[2] is None
    assert isinstance(picked[1][1], list)


def test_select_state_rejects_what_is_not_a_state():
    with pytest.raises(TypeError, match="state"):
        select_state({"h": torch.zeros(1, 2, 3)}, torch.tensor([0]))
    with pytest.raises(ValueError, match="dimension 1"):
        select_state(torch.zeros(3), torch.tensor([0]))


@pytest.mark.parametrize(
    ("prompt", "kwargs", "error", "argument"),
    [
        (torch.tensor([[1, 2]]), {}, ValueError, "prompt"),
        (torch.zeros(0, dtype=torch.long), {}, ValueError, "prompt"),
        (torch.tensor([1.0, 2.0]), {}, TypeError, "prompt"),
        (torch.tensor([1, 2]), {"beam_size": 0}, ValueError, "beam_size"),
        (torch.tensor([1, 2]), {"max_new_tokens": -1}, ValueError, "max_new_tokens"),
        (torch.tensor([1, 2]), {"length_penalty": float("nan")}, ValueError, "length_penalty"),
        (torch.tensor([1, 2]), {"stop_tokens": [0.5]}, TypeError, "stop_tokens"),
    ],
)
def test_bad_beam_search_arguments_raise_naming_the_argument(lstm_model, prompt, kwargs, error, argument):
    kwargs = {"beam_size": 2, "max_new_tokens": 3, **kwargs}
    with pytest.raises(error, match=argument):
        beam_search(lstm_model, prompt, **kwargs)
