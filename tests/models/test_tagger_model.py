"""SequenceTagger: padding never reaches a valid step, the loss counts valid steps only, dropout trains only."""

import pytest
import torch
from torch.nn import functional as F

from rnnkit.models import SequenceTagger, TaggerConfig, tagging_loss

LENGTHS = torch.tensor([6, 3, 1, 4])


def tagger(**options) -> SequenceTagger:
    torch.manual_seed(0)
    config = TaggerConfig(**({"hidden_size": 8, "embedding_size": 5} | options))
    return SequenceTagger(config, vocab_size=11, num_labels=4).eval()


def padded_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random tokens and labels whose padded steps (t ≥ length) depend on ``seed``, valid steps do not."""
    torch.manual_seed(0)
    tokens, labels = torch.randint(11, (6, 4)), torch.randint(4, (6, 4))
    noise = torch.Generator().manual_seed(seed)
    padding = torch.arange(6).unsqueeze(1) >= LENGTHS
    tokens[padding] = torch.randint(11, (int(padding.sum()),), generator=noise)
    labels[padding] = torch.randint(4, (int(padding.sum()),), generator=noise)
    return tokens, labels


@pytest.mark.parametrize("cell, bidirectional, layers", [("lstm", True, 2), ("gru", False, 1), ("rnn_tanh", True, 1)])
def test_padding_changes_neither_valid_scores_nor_the_loss_nor_its_gradient(cell, bidirectional, layers):
    model = tagger(cell=cell, bidirectional=bidirectional, num_layers=layers)
    valid = torch.arange(6).unsqueeze(1) < LENGTHS
    results = []
    for seed in (1, 2):
        tokens, labels = padded_batch(seed)
        model.zero_grad()
        scores = model(tokens, LENGTHS)
        loss = tagging_loss(scores, labels, LENGTHS)
        loss.backward()
        results.append((scores[valid], loss, [p.grad.clone() for p in model.parameters()]))
    assert not torch.equal(*(padded_batch(seed)[0] for seed in (1, 2)))       # the padding did differ
    (scores_a, loss_a, grads_a), (scores_b, loss_b, grads_b) = results
    torch.testing.assert_close(scores_a, scores_b)
    torch.testing.assert_close(loss_a, loss_b)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b)


def test_the_loss_is_the_mean_over_valid_steps_of_each_sequence_run_alone():
    model = tagger(bidirectional=True)
    tokens, labels = padded_batch(1)
    batched = tagging_loss(model(tokens, LENGTHS), labels, LENGTHS)
    # Reference: each sequence alone, unpadded, its summed cross-entropy; then one mean over all tokens.
    total = sum(F.cross_entropy(model(tokens[:n, b: b + 1]).squeeze(1), labels[:n, b], reduction="sum")
                for b, n in enumerate(LENGTHS.tolist()))
    torch.testing.assert_close(batched, total / LENGTHS.sum())


def test_a_unidirectional_tagger_sees_no_later_step_and_a_bidirectional_one_does():
    tokens = torch.randint(11, (6, 1))
    later = tokens.clone()
    later[4] = (later[4] + 1) % 11
    for bidirectional in (False, True):
        model = tagger(bidirectional=bidirectional)
        changed = ~torch.isclose(model(tokens), model(later)).all(-1).squeeze(1)          # (T,)
        assert changed[4:].all()
        assert changed[:4].any() == bidirectional


def test_dropouts_act_in_training_only():
    model = tagger(embedding_dropout=0.3, input_dropout=0.3, output_dropout=0.3)
    tokens = torch.randint(11, (6, 4))
    torch.testing.assert_close(model(tokens, LENGTHS), model(tokens, LENGTHS))
    model.train()
    torch.manual_seed(1)
    first = model(tokens, LENGTHS)
    assert not torch.allclose(first, model(tokens, LENGTHS))


@pytest.mark.parametrize("options, message", [
    ({"cell": "lstmm"}, "unknown cell 'lstmm'"),
    ({"hidden_size": 0}, "hidden_size must be a positive integer"),
    ({"output_dropout": 1.0}, "output_dropout must be a probability"),
    ({"engine": "cuda"}, "unknown engine 'cuda'"),
])
def test_bad_configurations_name_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        TaggerConfig(**options)


def test_tokens_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match=r"tokens must have shape \(T, B\)"):
        tagger()(torch.randint(11, (6,)))
