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


@pytest.mark.parametrize("embedding_size", [32, 48])
def test_tied_adaptive_softmax_reads_word_vectors_from_its_own_matrices(embedding_size):
    """Head words: their head row; tail words: their cluster row times the cluster's projection."""
    model = make(vocab_size=40, hidden_size=32, embedding_size=embedding_size, adaptive_cutoffs=(5, 20),
                 tie_weights=True)
    adaptive = model.adaptive
    assert model.embedding is None and adaptive.in_features == embedding_size
    tokens = torch.tensor([[0, 4, 5, 19], [20, 39, 3, 25]])
    vectors = model._embed(tokens)
    for word, vector in zip(tokens.flatten().tolist(), vectors.flatten(0, 1)):
        if word < 5:
            expected = adaptive.head.weight[word]
        else:
            cluster, low = (0, 5) if word < 20 else (1, 20)
            projection, output = adaptive.tail[cluster]
            expected = output.weight[word - low] @ projection.weight
        torch.testing.assert_close(vector, expected)
    # Every matrix is shared: the input side's gradient reaches the softmax's parameters.
    model.train()
    loss, _ = model.loss(tokens, tokens.roll(1, 0))
    loss.backward()
    assert adaptive.tail[1][0].weight.grad.abs().sum() > 0
    assert not any(name.startswith("embedding") for name, _ in model.named_parameters())


def test_tied_adaptive_embedding_dropout_drops_whole_words():
    model = make(vocab_size=40, hidden_size=16, adaptive_cutoffs=(5, 20), tie_weights=True,
                 embedding_dropout=0.5).train()
    tokens = torch.tensor([[7, 7, 30, 30, 2, 2]] * 3).T                      # each word at several places
    captured = []
    model.input_drop.register_forward_hook(lambda module, args, out: captured.append(args[0]))
    torch.manual_seed(3)
    model.hidden(tokens)
    dropped = (captured[0] == 0).all(-1)                                    # (T, B): the word's vector is zero
    for word in (7, 30, 2):
        where = dropped[tokens == word]
        assert where.all() or not where.any(), f"word {word} dropped at some uses only"


def test_bad_model_settings_name_the_field():
    with pytest.raises(ValueError, match="unknown cell 'nope'"):
        LanguageModelConfig(vocab_size=10, cell="nope")
    with pytest.raises(ValueError, match="weight_drop"):
        LanguageModelConfig(vocab_size=10, weight_drop=1.5)
    with pytest.raises(ValueError, match="adaptive_cutoffs"):
        LanguageModelConfig(vocab_size=10, adaptive_cutoffs=(20,))


@pytest.mark.parametrize("tied", [False, True])
def test_an_adaptive_softmax_too_narrow_for_its_last_cluster_is_refused(tied):
    """Two tail clusters divide the softmax input by 4 and by 16: below 16 units the last gets none."""
    narrow = {"embedding_size": 12, "hidden_size": 64} if tied else {"hidden_size": 12}
    with pytest.raises(ValueError, match="input of 12 units .* at least 16 units"):
        LanguageModelConfig(vocab_size=40, adaptive_cutoffs=(5, 20), tie_weights=tied, **narrow)
    wide = {"embedding_size": 16, "hidden_size": 8} if tied else {"hidden_size": 16}
    model = LanguageModel(LanguageModelConfig(vocab_size=40, adaptive_cutoffs=(5, 20), tie_weights=tied, **wide))
    assert all(cluster[0].out_features >= 1 for cluster in model.adaptive.tail)


def test_config_json_round_trip():
    config = LanguageModelConfig(vocab_size=40, adaptive_cutoffs=(5, 20), cell="gru")
    assert LanguageModelConfig.from_json(config.to_json()) == config
