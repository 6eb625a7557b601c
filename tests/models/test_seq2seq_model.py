"""Seq2Seq of rnnkit.models.seq2seq: encoder, bridge, decoder step, padding, scheduled sampling, learning."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

import rnnkit
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.translation import collate, translate_ids

VOCAB = 12


def _model(attention: str = "general", cell: str = "lstm", **changes) -> Seq2Seq:
    torch.manual_seed(0)
    config = Seq2SeqConfig(**({"cell": cell, "embedding_size": 8, "hidden_size": 10, "num_layers": 2,
                               "attention": attention, "dropout": 0.0, "bidirectional": attention != "dot"} | changes))
    return Seq2Seq(config, VOCAB, VOCAB).double().eval()


def _sources(generator: torch.Generator, lengths: list[int]) -> list[list[int]]:
    return [torch.randint(4, VOCAB, (n,), generator=generator).tolist() for n in lengths]


@pytest.mark.parametrize("attention", ["none", "additive", "dot", "general"])
def test_stepping_the_decoder_gives_the_forward_logits(attention):
    model = _model(attention)
    g = torch.Generator().manual_seed(1)
    batch = collate(_sources(g, [5, 3, 4]), _sources(g, [4, 2, 6]))
    logits, weights = model(batch["source"], batch["source_lengths"], batch["target_input"])
    state = model.encode(batch["source"], batch["source_lengths"])
    for t, tokens in enumerate(batch["target_input"]):
        step_logits, state = model.step(tokens, state)
        torch.testing.assert_close(step_logits, logits[t])
    assert (weights is None) == (attention == "none")


@pytest.mark.parametrize("attention", ["none", "additive", "general"])
def test_a_batch_padded_differently_gives_the_same_translation(attention):
    model = _model(attention)
    g = torch.Generator().manual_seed(2)
    sentence = _sources(g, [4])[0]
    alone = translate_ids(model, [sentence], beam_size=3, max_length=8)
    # Beside longer sources, the same sentence is padded to 9 positions.
    padded = translate_ids(model, [sentence, *_sources(g, [9, 7])], beam_size=3, max_length=8)
    assert padded[0] == alone[0]
    one = collate([sentence], [[5, 6, 7]])
    many = collate([sentence, *_sources(g, [9])], [[5, 6, 7], [4, 4]])
    logits_one, weights_one = model(one["source"], one["source_lengths"], one["target_input"])
    logits_many, weights_many = model(many["source"], many["source_lengths"], many["target_input"])
    torch.testing.assert_close(logits_many[:, 0], logits_one[:, 0])
    if weights_one is not None:
        torch.testing.assert_close(weights_many[:, 0, :4], weights_one[:, 0])
        assert bool((weights_many[:, 0, 4:] == 0).all())


def test_attention_weights_sum_to_one_over_each_source():
    model = _model("additive")
    g = torch.Generator().manual_seed(3)
    batch = collate(_sources(g, [6, 2]), _sources(g, [3, 3]))
    _, weights = model(batch["source"], batch["source_lengths"], batch["target_input"])     # (T, B, S)
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 2, dtype=weights.dtype))
    assert bool((weights[:, 1, 2:] == 0).all())


def test_sampled_positions_are_fed_the_previous_argmax():
    model = _model("general")
    g = torch.Generator().manual_seed(4)
    batch = collate(_sources(g, [5, 4]), _sources(g, [5, 3]))
    every = torch.ones_like(batch["target_input"], dtype=torch.bool)
    free_logits, _ = model(batch["source"], batch["source_lengths"], batch["target_input"], every)
    # Free running by hand: <bos>, then always the argmax of the previous step.
    state = model.encode(batch["source"], batch["source_lengths"])
    tokens = batch["target_input"][0]
    for t in range(batch["target_input"].size(0)):
        logits, state = model.step(tokens, state)
        torch.testing.assert_close(logits, free_logits[t])
        tokens = logits.argmax(-1)
    none = torch.zeros_like(every)
    forced, _ = model(batch["source"], batch["source_lengths"], batch["target_input"])
    torch.testing.assert_close(model(batch["source"], batch["source_lengths"], batch["target_input"], none)[0], forced)


def test_reorder_state_picks_rows_of_the_memory_and_the_recurrent_state():
    model = _model("general")
    g = torch.Generator().manual_seed(5)
    batch = collate(_sources(g, [5, 2, 3]), [[4], [4], [4]])
    state = model.encode(batch["source"], batch["source_lengths"])
    picked = model.reorder_state(state, torch.tensor([2, 2, 0]))
    torch.testing.assert_close(picked.memory, state.memory[[2, 2, 0]])
    torch.testing.assert_close(picked.rnn[0], state.rnn[0][:, [2, 2, 0]])
    assert torch.equal(picked.mask, state.mask[[2, 2, 0]])


@pytest.mark.parametrize("cell", rnnkit.cell_names())
def test_every_cell_builds_an_encoder_decoder(cell):
    model = _model("general", cell=cell, num_layers=1)
    batch = collate([[4, 5, 6]], [[7, 8]])
    logits, weights = model(batch["source"], batch["source_lengths"], batch["target_input"])
    assert logits.shape == (3, 1, VOCAB) and weights.shape == (3, 1, 3)
    assert torch.isfinite(logits).all()


def test_a_stacked_bidirectional_encoder_of_mut_cells_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="use one layer or a unidirectional encoder"):
        Seq2SeqConfig(cell="mut1", bidirectional=True, num_layers=2)


def test_dot_attention_with_a_bidirectional_encoder_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="use attention 'general'"):
        Seq2SeqConfig(attention="dot", bidirectional=True)


def _reversal_accuracy(attention: str, steps: int = 120) -> float:
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)

    def pairs(count: int, g: torch.Generator) -> list[tuple[list[int], list[int]]]:
        sources = [torch.randint(4, 14, (int(torch.randint(3, 7, (1,), generator=g)),), generator=g).tolist()
                   for _ in range(count)]
        return [(s, s[::-1]) for s in sources]

    model = Seq2Seq(Seq2SeqConfig(cell="gru", embedding_size=16, hidden_size=32, num_layers=1, attention=attention,
                                  dropout=0.0), 14, 14)
    optimizer = torch.optim.Adam(model.parameters(), 2e-2)
    for _ in range(steps):
        batch = collate(*zip(*pairs(32, generator)))
        logits, _ = model(batch["source"], batch["source_lengths"], batch["target_input"])
        loss = F.cross_entropy(logits.flatten(0, 1), batch["target_output"].flatten(), ignore_index=0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    test = pairs(200, torch.Generator().manual_seed(99))
    outputs = translate_ids(model.eval(), [s for s, _ in test])
    return sum(output == target for output, (_, target) in zip(outputs, test)) / len(test)


@pytest.mark.slow
def test_reversal_is_learned_in_seconds_and_faster_with_attention():
    with_attention, without = _reversal_accuracy("general"), _reversal_accuracy("none")
    assert with_attention >= 0.6
    assert with_attention >= without + 0.25
