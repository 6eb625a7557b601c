import pytest
import torch
from torch.nn import functional as F

from rnnkit.models import LanguageModel, LanguageModelConfig


def make(**options) -> LanguageModel:
    torch.manual_seed(0)
    return LanguageModel(LanguageModelConfig(**({"vocab_size": 11, "hidden_size": 8} | options))).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh"])
def test_carried_state_gives_the_outputs_of_one_pass_over_the_whole_sequence(cell):
    model = make(cell=cell, num_layers=2)
    tokens = torch.randint(11, (12, 3))
    whole, whole_state = model(tokens)
    state, parts = None, []
    for chunk in tokens.split(5):
        logits, state = model(chunk, state)
        parts.append(logits)
    torch.testing.assert_close(torch.cat(parts), whole)
    torch.testing.assert_close(state, whole_state)


def test_step_gives_the_logits_of_forward():
    model = make()
    tokens = torch.randint(11, (6, 2))
    logits, _ = model(tokens)
    state = None
    for t in range(6):
        step_logits, state = model.step(tokens[t], state)
        torch.testing.assert_close(step_logits, logits[t])


def test_loss_is_the_cross_entropy_of_the_logits():
    model = make()
    tokens, targets = torch.randint(11, (5, 2)), torch.randint(11, (5, 2))
    loss, _ = model.loss(tokens, targets)
    logits, _ = model(tokens)
    torch.testing.assert_close(loss, F.cross_entropy(logits.flatten(0, 1), targets.flatten()))


def test_adaptive_softmax_loss_is_the_negative_log_probability_of_its_forward():
    model = make(vocab_size=40, hidden_size=16, adaptive_cutoffs=(5, 20))
    tokens, targets = torch.randint(40, (5, 2)), torch.randint(40, (5, 2))
    loss, _ = model.loss(tokens, targets)
    log_probs, _ = model(tokens)                               # (T, B, V) log-probabilities
    torch.testing.assert_close(log_probs.logsumexp(-1), torch.zeros(5, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(loss, -log_probs.gather(-1, targets[..., None]).mean())


@pytest.mark.parametrize("embedding_size", [8, 5])
def test_tied_weights_share_the_embedding_matrix(embedding_size):
    model = make(tie_weights=True, embedding_size=embedding_size)
    assert model.head.weight is model.embedding.weight
    assert (model.projection is None) == (embedding_size == 8)


def test_bad_model_settings_name_the_field():
    with pytest.raises(ValueError, match="unknown cell 'nope'"):
        LanguageModelConfig(vocab_size=10, cell="nope")
    with pytest.raises(ValueError, match="weight_drop"):
        LanguageModelConfig(vocab_size=10, weight_drop=1.5)
    with pytest.raises(ValueError, match="adaptive_cutoffs"):
        LanguageModelConfig(vocab_size=10, adaptive_cutoffs=(20,))


def test_config_json_round_trip():
    config = LanguageModelConfig(vocab_size=40, adaptive_cutoffs=(5, 20), cell="gru")
    assert LanguageModelConfig.from_json(config.to_json()) == config
