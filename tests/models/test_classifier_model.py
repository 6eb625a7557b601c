"""SequenceClassifier: every pooling respects lengths; attention weights are a distribution over valid steps."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models import SequenceClassifier, SequenceClassifierConfig
from rnnkit.models.classifier import POOLINGS

VOCAB = 20


def model_for(pooling: str, bidirectional: bool = False, **kwargs) -> SequenceClassifier:
    torch.manual_seed(0)
    config = SequenceClassifierConfig(cell=kwargs.pop("cell", "lstm"), hidden_size=8, embedding_size=6,
                                      pooling=pooling, bidirectional=bidirectional, num_layers=2, **kwargs)
    return SequenceClassifier(config, classes=3, vocab_size=VOCAB).eval()


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padding_never_changes_a_prediction(pooling, bidirectional):
    model = model_for(pooling, bidirectional)
    generator = torch.Generator().manual_seed(1)
    short = torch.randint(VOCAB, (4,), generator=generator)
    alone = model(short.unsqueeze(1), torch.tensor([4]))
    # The same sequence padded to 9 steps with random tokens, beside a longer one.
    padded = torch.randint(VOCAB, (9, 2), generator=generator)
    padded[:4, 0] = short
    batched = model(padded, torch.tensor([4, 9]))
    torch.testing.assert_close(batched[0], alone[0], rtol=1e-5, atol=1e-6)
    # Other padding values: still the same.
    padded[4:, 0] = (padded[4:, 0] + 7) % VOCAB
    torch.testing.assert_close(model(padded, torch.tensor([4, 9]))[0], alone[0], rtol=1e-5, atol=1e-6)


def test_attention_weights_sum_to_one_over_valid_steps_and_are_zero_on_padding():
    model = model_for("attention", bidirectional=True)
    lengths = torch.tensor([5, 2, 7, 1])
    _, weights = model.encode(torch.randint(VOCAB, (7, 4)), lengths)
    assert weights.shape == (7, 4)
    torch.testing.assert_close(weights.sum(0), torch.ones(4))
    for b, n in enumerate(lengths.tolist()):
        assert torch.all(weights[n:, b] == 0)
        assert torch.all(weights[:n, b] > 0)


def test_pooling_modes_differ_and_mean_is_the_average_of_valid_outputs():
    model = model_for("mean")
    tokens, lengths = torch.randint(VOCAB, (6, 2)), torch.tensor([3, 6])
    pooled, _ = model.encode(tokens, lengths)
    output, _ = model.rnn(model.embedding(tokens), lengths=lengths)
    torch.testing.assert_close(pooled[0], output[:3, 0].mean(0))
    torch.testing.assert_close(pooled[1], output[:, 1].mean(0))


def test_last_pooling_of_a_bidirectional_model_reads_both_directions_final_states():
    model = model_for("last", bidirectional=True)
    tokens, lengths = torch.randint(VOCAB, (6, 2)), torch.tensor([4, 6])
    pooled, _ = model.encode(tokens, lengths)
    output, _ = model.rnn(model.embedding(tokens), lengths=lengths)
    hidden = model.config.hidden_size
    # Forward half: the output at the last valid step; backward half: the output at step 0.
    torch.testing.assert_close(pooled[0, :hidden], output[3, 0, :hidden])
    torch.testing.assert_close(pooled[0, hidden:], output[0, 0, hidden:])


def test_real_valued_inputs_go_through_a_linear_layer():
    config = SequenceClassifierConfig(cell="irnn", hidden_size=8, embedding_size=5, pooling="max")
    model = SequenceClassifier(config, classes=10, input_size=8).eval()
    logits = model(torch.rand(8, 3, 8), torch.tensor([8, 8, 5]))
    assert logits.shape == (3, 10)
    with pytest.raises(ValueError, match=r"\(T, B, 8\)"):
        model(torch.rand(8, 3, 4))


def test_without_an_input_layer_real_values_go_straight_into_the_recurrent_layer():
    config = SequenceClassifierConfig(cell="irnn", hidden_size=8, embedding_size=5, pooling="last", input_layer=False)
    torch.manual_seed(0)
    model = SequenceClassifier(config, classes=10, input_size=1).eval()
    assert model.input_layer is None and model.rnn.input_size == 1
    pixels = torch.rand(64, 3, 1)
    _, state = model.rnn(pixels)
    torch.testing.assert_close(model(pixels), model.head(state[-1]))      # h_T of the raw pixels
    with pytest.raises(ValueError, match=r"\(T, B, 1\)"):
        model(torch.rand(8, 3, 4))
    with pytest.raises(ValueError, match="input_layer=False is for real-valued inputs"):
        SequenceClassifier(config, classes=10, vocab_size=VOCAB)
    with pytest.raises(ValueError, match="input_layer must be true or false"):
        SequenceClassifierConfig(input_layer="no")


def test_explain_without_attention_gives_a_distribution_over_valid_steps():
    model = model_for("last")
    tokens, lengths = torch.randint(VOCAB, (5, 2)), torch.tensor([5, 3])
    logits, weights = model.explain(tokens, lengths)
    torch.testing.assert_close(logits, model(tokens, lengths))
    torch.testing.assert_close(weights.sum(0), torch.ones(2))
    assert torch.all(weights[3:, 1] == 0)


def test_regularisers_are_active_in_training_only():
    model = model_for("mean", embedding_dropout=0.5, input_dropout=0.5, output_dropout=0.5)
    tokens, lengths = torch.randint(VOCAB, (6, 3)), torch.tensor([6, 4, 2])
    model.train()
    torch.manual_seed(0)
    first = model(tokens, lengths)
    second = model(tokens, lengths)
    assert not torch.allclose(first, second)
    model.eval()
    torch.testing.assert_close(model(tokens, lengths), model(tokens, lengths))


@pytest.mark.parametrize("field, value, message", [
    ("pooling", "sum", "pooling must be one of"),
    ("cell", "nope", "unknown cell"),
    ("embedding_dropout", 1.0, "embedding_dropout must be a probability"),
    ("hidden_size", 0, "hidden_size must be a positive integer"),
])
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        SequenceClassifierConfig(**{field: value})


def test_exactly_one_input_kind():
    with pytest.raises(ValueError, match="exactly one of vocab_size"):
        SequenceClassifier(SequenceClassifierConfig(), classes=2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        SequenceClassifier(SequenceClassifierConfig(), classes=1, vocab_size=5)
