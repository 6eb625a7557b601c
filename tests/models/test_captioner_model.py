"""The captioner: Show and Tell and Show, Attend and Tell decoders over region features."""

import pytest
import torch

from rnnkit.data.parallel import BOS_ID, EOS_ID
from rnnkit.decoding import batched_beam_search
from rnnkit.models.captioner import Captioner, CaptionerConfig, doubly_stochastic_penalty

V, D, R = 23, 12, 9


def small(**overrides) -> Captioner:
    config = CaptionerConfig(**({"embedding_size": 8, "hidden_size": 16, "attention_size": 8, "region_size": 10,
                                 "dropout": 0.0}
                                | overrides))
    torch.manual_seed(0)
    return Captioner(config, V, D).eval()


def greedy(model: Captioner, features: torch.Tensor, steps: int) -> list[list[int]]:
    """Argmax decoding written out step by step, independent of beam search."""
    state = model.encode(features)
    tokens = torch.full((features.size(0),), BOS_ID)
    out = [[] for _ in range(features.size(0))]
    done = [False] * features.size(0)
    for _ in range(steps):
        logits, state = model.step(tokens, state)
        tokens = logits.argmax(-1)
        for b, t in enumerate(tokens.tolist()):
            if not done[b]:
                out[b].append(t)
                done[b] = t == EOS_ID
    return out


@pytest.mark.parametrize("cell, score", [("lstm", "additive"), ("gru", "general"), ("rnn_tanh", "additive"),
                                         ("mut1", "general")])
def test_attention_weights_over_the_regions_sum_to_one_at_every_step(cell, score):
    model = small(cell=cell, score=score, region_norm=score == "general")
    logits, weights = model(torch.randn(3, R, D), torch.randint(4, V, (5, 3)))
    assert logits.shape == (5, 3, V)
    assert weights.shape == (5, 3, R)
    assert (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(5, 3))


def test_show_and_tell_has_no_attention_and_reads_the_image_once():
    for image_as in ("input", "state"):
        model = small(decoder="show_tell", image_as=image_as)
        features = torch.randn(2, R, D)
        logits, weights = model(features, torch.randint(4, V, (4, 2)))
        assert weights is None and logits.shape == (4, 2, V)
        # The image changes the words' probabilities (it is read at all).
        other, _ = model(features + 1.0, torch.randint(4, V, (4, 2)))
        assert not torch.allclose(logits[0], other[0])


def test_the_doubly_stochastic_term_equals_its_formula():
    weights = torch.softmax(torch.randn(6, 2, R), -1)
    steps = torch.ones(6, 2, dtype=torch.bool)
    steps[4:, 1] = False                                   # image 1's caption is 4 steps long
    expected = torch.stack([sum((1 - sum(weights[t, b, i] for t in range(6 if b == 0 else 4))) ** 2
                                for i in range(R)) for b in range(2)])
    torch.testing.assert_close(doubly_stochastic_penalty(weights, steps), expected)
    # Attention that gives each region exactly one unit over the caption costs nothing.
    uniform = torch.full((R, 1, R), 1.0 / R)
    torch.testing.assert_close(doubly_stochastic_penalty(uniform), torch.zeros(1))


@pytest.mark.parametrize("attend_with, feed_context", [("previous", True), ("current", True), ("current", False),
                                                       ("previous", False)])
def test_stepping_the_decoder_gives_the_logits_of_the_whole_caption(attend_with, feed_context):
    model = small(attend_with=attend_with, feed_context=feed_context)
    features, words = torch.randn(2, R, D), torch.randint(4, V, (5, 2))
    logits, _ = model(features, words)
    state = model.encode(features)
    for t in range(5):
        step_logits, state = model.step(words[t], state)
        torch.testing.assert_close(step_logits, logits[t])


@pytest.mark.parametrize("attend_with, feed_context", [("previous", True), ("current", True), ("current", False),
                                                       ("previous", False)])
def test_beam_of_one_is_greedy_and_a_batch_captions_each_image_as_alone(attend_with, feed_context):
    model = small(attend_with=attend_with, feed_context=feed_context)
    features = torch.randn(4, R, D)
    prompts = torch.full((4, 1), BOS_ID)
    beam1 = batched_beam_search(model, prompts, 1, 7, state=model.encode(features), stop_tokens=(EOS_ID,))
    assert [h[0].tokens for h in beam1] == greedy(model, features, 7)
    together = batched_beam_search(model, prompts, 3, 7, state=model.encode(features), stop_tokens=(EOS_ID,))
    for b in range(4):
        alone = batched_beam_search(model, prompts[b: b + 1], 3, 7, state=model.encode(features[b: b + 1]),
                                    stop_tokens=(EOS_ID,))
        assert [h.tokens for h in together[b]] == [h.tokens for h in alone[0]]


def test_reorder_state_picks_rows_of_the_memory_and_of_the_recurrent_state():
    model = small()
    state = model.encode(torch.randn(3, R, D))
    picked = model.reorder_state(state, torch.tensor([2, 2, 0]))
    torch.testing.assert_close(picked.memory, state.memory[[2, 2, 0]])
    torch.testing.assert_close(picked.rnn[0], state.rnn[0][:, [2, 2, 0]])


def test_the_current_query_has_read_the_word_just_written_and_the_previous_one_has_not():
    features = torch.randn(2, R, D)
    words = torch.randint(4, V, (5, 2))
    changed = words.clone()
    changed[2] = (words[2] - 4 + 1) % (V - 4) + 4                  # y_2, the input of step 2, differs
    for attend_with, moves in (("previous", False), ("current", True)):
        model = small(attend_with=attend_with, initial_state="zeros")
        _, weights = model(features, words)
        _, other = model(features, changed)
        torch.testing.assert_close(weights[:2], other[:2])          # steps before it cannot know
        assert (not torch.allclose(weights[2], other[2])) == moves, attend_with


def test_the_current_query_is_the_state_after_the_word_and_the_previous_context():
    """Step 1 of attend_with "current" written out: h_1 reads [E y_0; ẑ_0], then α_1 comes from h_1."""
    model = small(attend_with="current", initial_state="zeros", cell="gru")
    features, words = torch.randn(2, R, D), torch.randint(4, V, (2, 2))
    _, weights = model(features, words)
    regions = model.regions(features)
    keys = model.attention.keys(regions)
    mask = torch.ones(2, R, dtype=torch.bool)
    h0, rnn = model.decoder(torch.cat([model.embedding(words[0]), torch.zeros(2, regions.size(-1))], -1))
    context0, alpha0 = model.attention(h0, keys, regions, mask)
    torch.testing.assert_close(weights[0], alpha0)
    z0 = torch.sigmoid(model.gate(h0)) * context0
    h1, _ = model.decoder(torch.cat([model.embedding(words[1]), z0], -1), rnn)
    torch.testing.assert_close(weights[1], model.attention(h1, keys, regions, mask)[1])


def test_both_queries_have_the_same_parameters_so_weights_move_between_them():
    previous, current = small(), small(attend_with="current")
    assert {k: v.shape for k, v in previous.state_dict().items()} == \
           {k: v.shape for k, v in current.state_dict().items()}
    state = current.reorder_state(current.encode(torch.randn(3, R, D)), torch.tensor([1, 0]))
    assert state.context.shape == (2, 10)


def test_an_unfed_context_reaches_the_words_but_never_the_decoder_state():
    model = small(attend_with="current", feed_context=False, initial_state="zeros")
    words = torch.randint(4, V, (4, 1)).expand(4, 2)
    first, second = torch.randn(1, R, D), torch.randn(1, R, D)
    logits, _ = model(torch.cat([first, second]), words)
    assert not torch.allclose(logits[:, 0], logits[:, 1])          # the images change the words ...
    states = []
    for features in (first, second):
        state = model.encode(features)
        for t in range(4):
            _, state = model.step(words[t, :1], state)
        states.append(state.rnn)
    for a, b in zip(*states):                                       # ... but not what the decoder carries
        torch.testing.assert_close(a, b)
    assert model.decoder.input_size == 8 and states and state.context is None


def test_gradients_reach_the_attention_and_the_gate():
    model = small().train()
    logits, weights = model(torch.randn(2, R, D), torch.randint(4, V, (4, 2)))
    (logits.sum() + doubly_stochastic_penalty(weights).sum()).backward()
    for name in ("attention.v.weight", "gate.weight", "init_state.0.weight", "deep_context.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name


@pytest.mark.parametrize("bad, message", [({"decoder": "hard"}, "unknown decoder"),
                                          ({"image_as": "both"}, "image_as"), ({"hidden_size": 0}, "hidden_size"),
                                          ({"dropout": 1.0}, "dropout"), ({"cell": "nope"}, "nope"),
                                          ({"doubly_stochastic": -1.0}, "doubly_stochastic"),
                                          ({"score": "dot"}, "score must be"),
                                          ({"initial_state": "noise"}, "initial_state"),
                                          ({"attend_with": "next"}, "attend_with"),
                                          ({"feed_context": "no"}, "feed_context")])
def test_bad_configurations_are_refused_by_name(bad, message):
    with pytest.raises(ValueError, match=message):
        CaptionerConfig(**bad)


def test_features_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"region features \(B, R, D\)"):
        small().encode(torch.randn(2, 3, 8, 8))


def test_a_decoder_started_from_zeros_sees_the_image_only_through_attention():
    model = small(initial_state="zeros")
    features = torch.randn(2, R, D)
    state = model.encode(features)
    assert all(float(part.abs().sum()) == 0.0 for part in state.rnn)
    words = torch.randint(4, V, (3, 1)).expand(3, 2)
    logits, weights = model(features, words)
    assert not torch.allclose(logits[:, 0], logits[:, 1])          # the image still reaches the words
    assert model.init_state is None and model.image_input is None
