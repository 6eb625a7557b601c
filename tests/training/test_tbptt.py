import math

import numpy as np
import torch

from rnnkit.data import StreamBatches
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.training import detach_state, train_chunk


def test_the_state_handed_to_the_next_chunk_is_detached():
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=9, hidden_size=6))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    tokens = torch.randint(9, (8, 2))
    _, state, _ = train_chunk(model, tokens, tokens, None, optimizer, clip_norm=None)
    assert all(part.grad_fn is None and not part.requires_grad for part in state)


def test_no_gradient_crosses_a_chunk_boundary():
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=9, hidden_size=6))
    first, second = torch.randint(9, (5, 2)), torch.randint(9, (5, 2))
    # Reference: the second chunk started from a leaf holding the same values has the same gradient.
    _, state = model.loss(first, first)
    loss, _ = model.loss(second, second, detach_state(state))
    gradient = torch.autograd.grad(loss, model.rnn.weight_hh_l0)[0]
    leaf = tuple(part.detach().clone() for part in state)
    loss_ref, _ = model.loss(second, second, leaf)
    torch.testing.assert_close(gradient, torch.autograd.grad(loss_ref, model.rnn.weight_hh_l0)[0])
    # Without the detach the first chunk's graph would be reached, and the gradient would differ.
    loss_through, _ = model.loss(second, second, state)
    assert not torch.allclose(gradient, torch.autograd.grad(loss_through, model.rnn.weight_hh_l0)[0])


def test_gradient_is_clipped_to_the_global_norm():
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=9, hidden_size=6))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    tokens = torch.randint(9, (8, 2))
    _, _, norm = train_chunk(model, tokens, tokens, None, optimizer, clip_norm=1e-3)
    clipped = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))
    assert norm > 1e-3
    torch.testing.assert_close(clipped, torch.tensor(1e-3), rtol=1e-3, atol=0)


def test_loss_falls_far_below_the_unigram_entropy_on_a_repetitive_text():
    torch.manual_seed(0)
    text = np.array([ord(c) - 97 for c in "abcdabceabcf" * 200])
    counts = np.bincount(text)
    probabilities = counts[counts > 0] / len(text)
    unigram_entropy = float(-(probabilities * np.log(probabilities)).sum())   # nats/char
    model = LanguageModel(LanguageModelConfig(vocab_size=int(text.max()) + 1, hidden_size=32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    batches = StreamBatches(text, batch_size=8, seq_len=24)
    state, losses = None, []
    for position in range(150):
        chunk = batches.chunk(position)
        state = None if chunk.reset else state
        loss, state, _ = train_chunk(model, chunk.inputs, chunk.targets, state, optimizer, clip_norm=1.0)
        losses.append(loss.item())
    # The text is deterministic except one choice in four: its entropy is ln(3)/4 nats/char.
    assert np.mean(losses[-10:]) < 0.5 * unigram_entropy
    assert np.mean(losses[-10:]) < math.log(3) / 4 + 0.15
