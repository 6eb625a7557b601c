"""prime and generate of rnnkit.decoding: priming, streaming, strategies, stop tokens, errors."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import generate, prime, sample_next


def stack(tokens) -> torch.Tensor:
    """The yielded (B,) tensors as one (B, N) tensor."""
    return torch.stack(list(tokens), dim=1)


@pytest.fixture
def prompt() -> torch.Tensor:
    return torch.randint(5, (3, 4), generator=torch.Generator().manual_seed(0))


def test_prime_through_step_equals_prime_through_forward(lstm_model, prompt):
    logits, (h, c) = prime(lstm_model, prompt)
    logits_forward, (h_forward, c_forward) = prime(lstm_model, prompt, use_forward=True)
    torch.testing.assert_close(logits, logits_forward)
    torch.testing.assert_close(h, h_forward)
    torch.testing.assert_close(c, c_forward)


def test_prime_continues_from_the_given_state(lstm_model, prompt):
    _, state = prime(lstm_model, prompt[:, :2])
    logits, _ = prime(lstm_model, prompt[:, 2:], state)
    torch.testing.assert_close(logits, prime(lstm_model, prompt)[0])


def test_greedy_generation_feeds_back_the_argmax(lstm_model, prompt):
    expected = []
    logits, state = prime(lstm_model, prompt)
    for _ in range(6):
        tokens = logits.argmax(-1)
        expected.append(tokens)
        logits, state = lstm_model.step(tokens, state)
    assert torch.equal(stack(generate(lstm_model, prompt, 6, strategy="greedy")), torch.stack(expected, dim=1))


def test_sampled_generation_feeds_back_sample_next_with_the_same_generator(lstm_model, prompt):
    options = {"temperature": 0.8, "top_k": 4, "top_p": 0.9}
    generator = torch.Generator().manual_seed(7)
    expected = []
    logits, state = prime(lstm_model, prompt)
    for _ in range(6):
        tokens = sample_next(logits, generator=generator, **options)
        expected.append(tokens)
        logits, state = lstm_model.step(tokens, state)
    generated = stack(generate(lstm_model, prompt, 6, generator=torch.Generator().manual_seed(7), **options))
    assert torch.equal(generated, torch.stack(expected, dim=1))


def test_sampling_is_reproducible_with_a_seed_and_differs_across_seeds(lstm_model, prompt):
    def run(seed: int) -> torch.Tensor:
        return stack(generate(lstm_model, prompt, 20, generator=torch.Generator().manual_seed(seed)))

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_generate_yields_each_token_before_stepping_further(lstm_model, prompt):
    calls = []
    step = lstm_model.step

    def counting_step(tokens, state):
        calls.append(tokens)
        return step(tokens, state)

    lstm_model.step = counting_step
    tokens = generate(lstm_model, prompt, 10, strategy="greedy")
    assert calls == []
    next(tokens)
    assert len(calls) == prompt.size(1)
    next(tokens)
    assert len(calls) == prompt.size(1) + 1


def test_generate_stops_after_max_new_tokens_without_an_extra_step(lstm_model, prompt):
    calls = []
    step = lstm_model.step
    lstm_model.step = lambda tokens, state: calls.append(tokens) or step(tokens, state)
    assert len(list(generate(lstm_model, prompt, 5))) == 5
    assert len(calls) == prompt.size(1) + 4
    assert list(generate(lstm_model, prompt, 0)) == []


def test_generate_leaves_grad_mode_alone_between_tokens(lstm_model, prompt):
    tokens = generate(lstm_model, prompt, 3)
    next(tokens)
    assert torch.is_grad_enabled()
    assert not next(tokens).requires_grad


def test_stop_tokens_finish_each_row_and_end_generation_when_all_are_done(make_table_model):
    # A chain 0 → 1 → 2 → 3 → 4 → 0 that is almost certain; 4 stops it.
    transitions = torch.full((5, 5), 0.01)
    for token in range(5):
        transitions[token, (token + 1) % 5] = 1.0
    model = make_table_model(transitions / transitions.sum(-1, keepdim=True))
    prompt = torch.tensor([[0], [2], [3]])
    stop = 4
    generated = stack(generate(model, prompt, 10, strategy="greedy", stop_tokens={stop}))

    expected_rows = []
    for (token,) in prompt.tolist():
        row = []
        while stop not in row:
            token = int(transitions[token].argmax())
            row.append(token)
        expected_rows.append(row)
    length = max(map(len, expected_rows))
    assert generated.size(1) == length < 10
    for row, expected in zip(generated.tolist(), expected_rows):
        assert row == expected + [stop] * (length - len(expected))


@pytest.mark.parametrize("stops", [{3}, {4}])  # every row stops; one row never stops
def test_a_row_that_stops_keeps_yielding_its_stop_token_while_others_sample(lstm_model, prompt, stops):
    generated = stack(generate(lstm_model, prompt, 30, stop_tokens=stops, generator=torch.Generator().manual_seed(0)))
    first_stops = [next((i for i, token in enumerate(row) if token in stops), None) for row in generated.tolist()]
    assert len(set(first_stops)) > 1, "the rows should stop at different times for this test to mean anything"
    for row, first_stop in zip(generated.tolist(), first_stops):
        if first_stop is not None:
            assert row[first_stop:] == [row[first_stop]] * (len(row) - first_stop)
    finished_all = all(any(token in stops for token in row) for row in generated.tolist())
    assert finished_all == (generated.size(1) < 30)


@pytest.mark.parametrize(
    ("prompt", "kwargs", "error", "argument"),
    [
        (torch.tensor([1, 2]), {}, ValueError, "prompt"),
        (torch.zeros(2, 0, dtype=torch.long), {}, ValueError, "prompt"),
        (torch.ones(2, 3), {}, TypeError, "prompt"),
        (torch.ones(2, 3, dtype=torch.long), {"strategy": "nucleus"}, ValueError, "strategy"),
        (torch.ones(2, 3, dtype=torch.long), {"max_new_tokens": -1}, ValueError, "max_new_tokens"),
        (torch.ones(2, 3, dtype=torch.long), {"temperature": 0}, ValueError, "temperature"),
        (torch.ones(2, 3, dtype=torch.long), {"top_k": 0}, ValueError, "top_k"),
        (torch.ones(2, 3, dtype=torch.long), {"top_p": 0}, ValueError, "top_p"),
        (torch.ones(2, 3, dtype=torch.long), {"top_p": 1.01}, ValueError, "top_p"),
        (torch.ones(2, 3, dtype=torch.long), {"stop_tokens": ["a"]}, TypeError, "stop_tokens"),
        (torch.ones(2, 3, dtype=torch.long), {"banned_tokens": [1.5]}, TypeError, "banned_tokens"),
    ],
)
def test_bad_generate_arguments_raise_at_the_call(lstm_model, prompt, kwargs, error, argument):
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(error, match=argument):
        generate(lstm_model, prompt, **kwargs)


@pytest.mark.parametrize("strategy", ["greedy", "sample"])
def test_banned_tokens_are_never_generated_and_their_mass_goes_to_the_rest(make_table_model, strategy):
    """Token 1 is the likeliest after every token; banned, it never appears, and sampling draws the
    others in proportion to their probabilities."""
    transitions = torch.tensor([[0.1, 0.6, 0.3], [0.2, 0.5, 0.3], [0.3, 0.6, 0.1]])
    model = make_table_model(transitions)
    prompt = torch.zeros(2000, 1, dtype=torch.long)
    tokens = next(generate(model, prompt, 1, strategy=strategy, banned_tokens=[1],
                           generator=torch.Generator().manual_seed(0)))
    assert not bool((tokens == 1).any())
    if strategy == "greedy":
        assert bool((tokens == 2).all())                  # 0.3 > 0.1 once 1 is gone
    else:
        share = (tokens == 2).double().mean().item()      # 0.3 / (0.1 + 0.3) = 0.75
        assert share == pytest.approx(0.75, abs=0.04)


@pytest.mark.parametrize("banned, message", [([3], r"ids in \[0, 3\)"), ([0, 1, 2], "ban all 3 tokens")])
def test_banned_tokens_outside_the_vocabulary_or_banning_all_raise(make_table_model, banned, message):
    model = make_table_model(torch.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match=message):
        next(generate(model, torch.zeros(1, 1, dtype=torch.long), 2, banned_tokens=banned))


@pytest.mark.parametrize("prompt", [torch.tensor([1, 2]), torch.zeros(2, 0, dtype=torch.long)])
def test_bad_prime_prompt_raises(lstm_model, prompt):
    with pytest.raises(ValueError, match="prompt"):
        prime(lstm_model, prompt)


def test_prime_rejects_a_model_without_step(prompt):
    with pytest.raises(TypeError, match="step"):
        prime(torch.nn.Linear(2, 2), prompt)
