"""batched_beam_search and the reorder hook of rnnkit.decoding.beam, on a seq2seq decoder and a language model."""

from __future__ import annotations

import pytest
import torch

from rnnkit.decoding import batched_beam_search, beam_search, reorder, select_state
from rnnkit.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnkit.tasks.translation import collate

VOCAB, BOS, EOS = 10, 2, 3


@pytest.fixture
def seq2seq():
    torch.manual_seed(0)
    config = Seq2SeqConfig(cell="gru", embedding_size=6, hidden_size=8, num_layers=1, dropout=0.0)
    model = Seq2Seq(config, VOCAB, VOCAB).double().eval()
    torch.nn.init.normal_(model.output.weight, std=2.0)        # sharp distributions: the beams differ
    return model


def _sources():
    g = torch.Generator().manual_seed(1)
    return [torch.randint(4, VOCAB, (n,), generator=g).tolist() for n in (5, 2, 7, 3)]


def _search(model, sources, beam_size, **options):
    batch = collate(sources, [[] for _ in sources])
    state = model.encode(batch["source"], batch["source_lengths"])
    prompts = torch.full((len(sources), 1), BOS)
    return batched_beam_search(model, prompts, beam_size, 8, state=state, stop_tokens=(EOS,), **options)


@pytest.mark.parametrize("beam_size", [1, 3, 5])
def test_each_source_of_a_batch_gets_what_it_gets_alone(seq2seq, beam_size):
    sources = _sources()
    together = _search(seq2seq, sources, beam_size, length_penalty=1.0)
    for source, found in zip(sources, together):
        (alone,) = _search(seq2seq, [source], beam_size, length_penalty=1.0)
        assert [h.tokens for h in found] == [h.tokens for h in alone]
        assert [h.log_prob for h in found] == pytest.approx([h.log_prob for h in alone], abs=1e-9)


def test_beam_of_one_is_greedy_decoding(seq2seq):
    sources = _sources()
    found = _search(seq2seq, sources, 1)
    batch = collate(sources, [[] for _ in sources])
    state = seq2seq.encode(batch["source"], batch["source_lengths"])
    tokens = torch.full((len(sources),), BOS)
    greedy = [[] for _ in sources]
    with torch.no_grad():
        for _ in range(8):
            logits, state = seq2seq.step(tokens, state)
            tokens = logits.argmax(-1)
            for row, token in enumerate(tokens.tolist()):
                if not greedy[row] or greedy[row][-1] != EOS:
                    greedy[row].append(token)
    assert [hypotheses[0].tokens for hypotheses in found] == greedy


def test_a_language_model_without_the_hook_searches_a_batch_of_prompts(lstm_model):
    prompts = torch.tensor([[1, 2], [3, 0]])
    together = batched_beam_search(lstm_model, prompts, 3, 5, stop_tokens=(4,))
    for prompt, found in zip(prompts, together):
        assert [h.tokens for h in found] == [h.tokens for h in beam_search(lstm_model, prompt, 3, 5, stop_tokens=(4,))]


def test_reorder_uses_the_models_hook_and_select_state_otherwise(seq2seq, lstm_model):
    batch = collate([[4, 5, 6], [7]], [[], []])
    state = seq2seq.encode(batch["source"], batch["source_lengths"])
    indices = torch.tensor([1, 1, 0])
    picked = reorder(seq2seq, state, indices)
    assert picked.memory.shape[0] == 3 and torch.equal(picked.mask, state.mask[indices])
    lm_state = (torch.randn(2, 2, 8), torch.randn(2, 2, 8))
    expected = select_state(lm_state, indices)
    for got, want in zip(reorder(lstm_model, lm_state, indices), expected):
        assert torch.equal(got, want)



def test_min_new_tokens_holds_back_the_stop_tokens_until_then(seq2seq):
    torch.nn.init.zeros_(seq2seq.output.weight)
    with torch.no_grad():
        seq2seq.output.bias.zero_()
        seq2seq.output.bias[EOS] = 10.0                          # <eos> first is by far the likeliest
    sources = _sources()
    assert all(found[0].tokens == [EOS] for found in _search(seq2seq, sources, 3))
    for found in _search(seq2seq, sources, 3, min_new_tokens=2):
        assert all(len(h.tokens) >= 3 and EOS not in h.tokens[:2] for h in found)
    with pytest.raises(ValueError, match="min_new_tokens"):
        _search(seq2seq, sources, 3, min_new_tokens=-1)
