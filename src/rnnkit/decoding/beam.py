r"""Beam search: the most probable continuations of a prompt, batched over the beam.

At each step every alive hypothesis (a prefix of generated tokens) is extended by every token
v of the vocabulary, with log P(prefix + v) = log P(prefix) + log p(v | prefix); of all these
candidates the ``beam_size`` most probable (by total log-probability) are kept. A kept candidate
that ends in a stop token is finished and set aside, so the beam narrows; the search ends when
no hypothesis is alive or after ``max_new_tokens`` steps (the hypotheses still alive then are
finished as they stand). All alive hypotheses advance in one ``model.step`` call: the rows of
the state are re-indexed to follow their hypotheses (:func:`select_state`, or the model's own
``reorder_state`` hook). :func:`batched_beam_search` runs one such search per prompt of a batch
(e.g. a batch of source sentences), sharing the model steps.

Finished hypotheses are ranked by the length-normalised score of Wu et al. 2016 ("Google's
Neural Machine Translation System", section 7), in its simple form

    score = log P(tokens | prompt) / |tokens|^α,    α = length_penalty,

where |tokens| counts the generated tokens, the stop token included. α = 0 ranks by raw
log-probability, which favours short outputs; α = 1 ranks by mean log-probability per token.
(GNMT itself divides by ((5 + |tokens|) / 6)^α and adds a coverage term; neither is used here.)

With ``no_repeat_ngram_size`` = n, a hypothesis is never extended by a token that would repeat an
n-gram it already holds (Paulus et al. 2018; see :mod:`.repetition`): on a weak model the most
probable continuations are loops, and the beam finds them more surely than greedy decoding does.
Banned and blocked tokens get probability zero and their mass goes to the other tokens in
proportion, so log-probabilities are then those of the model restricted to the allowed tokens.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import torch
from torch import Tensor

from .repetition import block_repeated_ngrams, check_no_repeat_ngram_size
from .sampling import (
    DecoderState, StepModel, ban, check_banned, check_max_new_tokens, check_prompt, prime, token_ids,
)


@dataclass
class Hypothesis:
    """One finished beam-search continuation."""

    tokens: list[int]  # the generated tokens (the prompt excluded), ending with the stop token if one was emitted
    score: float       # log_prob / len(tokens) ** length_penalty: what the hypotheses are ranked by
    log_prob: float    # log P(tokens | prompt) under the model (restricted to the allowed tokens, if any are banned)


def select_state(state: DecoderState, indices: Tensor) -> DecoderState:
    """Pick batch rows of a recurrent state: ``index_select(1, indices)`` on every tensor in it.

    Args:
        state: a tensor whose dimension 1 is the batch (e.g. h of shape (L, B, H)), a (nested)
            tuple or list of such tensors (e.g. (h, c)), or None (returned as is).
        indices: (B',) long, the rows to take, in order; rows may repeat.

    Returns:
        The same structure with every tensor of shape (…, B', …).
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        if state.dim() < 2:
            raise ValueError(f"a state tensor needs its batch in dimension 1, got shape {tuple(state.shape)}")
        return state.index_select(1, indices)
    if isinstance(state, tuple) and hasattr(state, "_fields"):  # a namedtuple keeps its type
        return type(state)(*(select_state(part, indices) for part in state))
    if isinstance(state, (tuple, list)):
        return type(state)(select_state(part, indices) for part in state)
    raise TypeError(f"a state must be a tensor, a nested tuple of tensors or None, got {type(state).__name__}")


def select_rows(state: tuple, indices: Tensor, recurrent: str = "rnn") -> tuple:
    """The rows ``indices`` of a NamedTuple state whose field ``recurrent`` is a recurrent state (batch
    in dimension 1: :func:`select_state`) and whose other fields are None or tensors with the batch in
    dimension 0 (an encoder's memory, its mask): what a model's ``reorder_state`` hook usually does."""
    return type(state)(**{name: select_state(value, indices) if name == recurrent else
                          None if value is None else value.index_select(0, indices)
                          for name, value in zip(state._fields, state)})


def reorder(model: StepModel, state: DecoderState, indices: Tensor) -> DecoderState:
    """The rows ``indices`` of ``state``: the model's own ``reorder_state(state, indices)`` if it has
    one (a state whose tensors do not all keep the batch in dimension 1, e.g. an encoder's (B, S, D)
    memory and (B, S) mask), else :func:`select_state`."""
    hook = getattr(model, "reorder_state", None)
    return hook(state, indices) if callable(hook) else select_state(state, indices)


@torch.no_grad()
def beam_search(
    model: StepModel,
    prompt: Tensor,
    beam_size: int,
    max_new_tokens: int,
    *,
    length_penalty: float = 0.0,
    stop_tokens: Collection[int] = (),
    banned_tokens: Collection[int] = (),
    no_repeat_ngram_size: int = 0,
    use_forward: bool = False,
) -> list[Hypothesis]:
    """The ``beam_size`` best continuations of one prompt, best first (see the module docstring).

    Args:
        model: has ``step(tokens (B,), state) -> (logits (B, V), state)``; put it in eval mode first.
        prompt: (P,) token ids, P >= 1, on the model's device.
        beam_size: W, the number of hypotheses kept at each step, >= 1. W = 1 is greedy decoding.
        max_new_tokens: the most tokens a hypothesis may have, >= 0. With 0 the only hypothesis
            is the empty one, of log-probability 0.
        length_penalty: α of the score log_prob / |tokens|^α; 0 ranks by raw log-probability.
        stop_tokens: token ids that finish a hypothesis.
        banned_tokens: token ids no hypothesis may contain (e.g. ``<unk>``).
        no_repeat_ngram_size: n >= 1: no hypothesis contains the same n-gram twice (unless the
            vocabulary leaves it no other token); 0 (default) turns it off.
        use_forward: prime through ``model.forward`` (see :func:`~rnnkit.decoding.prime`).

    Returns:
        At most ``beam_size`` hypotheses, by decreasing score.

    Example:
        >>> best = beam_search(model, prompt, beam_size=5, max_new_tokens=50)[0]  # doctest: +SKIP
    """
    check_prompt(prompt, ndim=1)
    return batched_beam_search(model, prompt[None], beam_size, max_new_tokens, length_penalty=length_penalty,
                               stop_tokens=stop_tokens, banned_tokens=banned_tokens,
                               no_repeat_ngram_size=no_repeat_ngram_size, use_forward=use_forward)[0]


@torch.no_grad()
def batched_beam_search(
    model: StepModel,
    prompts: Tensor,
    beam_size: int,
    max_new_tokens: int,
    *,
    state: DecoderState = None,
    length_penalty: float = 0.0,
    stop_tokens: Collection[int] = (),
    banned_tokens: Collection[int] = (),
    no_repeat_ngram_size: int = 0,
    use_forward: bool = False,
    min_new_tokens: int = 0,
) -> list[list[Hypothesis]]:
    """Beam search for B prompts at once: for each, what :func:`beam_search` gives on it alone.

    Every source keeps its own beam (its own top ``beam_size`` candidates, its own finished list);
    only the model steps are shared: the alive hypotheses of all sources advance in one
    ``model.step`` call, their state rows re-indexed by :func:`reorder` (the model's
    ``reorder_state`` hook when it has one).

    Args:
        model, beam_size, max_new_tokens, length_penalty, stop_tokens, banned_tokens,
        no_repeat_ngram_size, use_forward: as for :func:`beam_search`.
        prompts: (B, P) token ids, P >= 1 (e.g. a column of ``<bos>`` for a seq2seq decoder).
        state: the state the prompts start from, with B rows (e.g. ``Seq2Seq.encode(source,
            lengths)``); None lets the model start from zeros.
        min_new_tokens: the stop tokens are not allowed before this many tokens (e.g. 1: no empty
            caption).

    Returns:
        For each prompt, at most ``beam_size`` hypotheses by decreasing score.
    """
    check_prompt(prompts, ndim=2)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be an integer >= 1, got {beam_size!r}")
    check_max_new_tokens(max_new_tokens)
    if not (isinstance(length_penalty, (int, float)) and math.isfinite(length_penalty)):
        raise ValueError(f"length_penalty must be a finite number, got {length_penalty!r}")
    check_no_repeat_ngram_size(no_repeat_ngram_size)
    if isinstance(min_new_tokens, bool) or not isinstance(min_new_tokens, int) or min_new_tokens < 0:
        raise ValueError(f"min_new_tokens must be an integer >= 0, got {min_new_tokens!r}")
    device = prompts.device
    stops = token_ids(stop_tokens, device, "stop_tokens")
    banned = token_ids(banned_tokens, device, "banned_tokens")
    count = prompts.size(0)
    if max_new_tokens == 0:
        return [[Hypothesis(tokens=[], score=0.0, log_prob=0.0)] for _ in range(count)]

    logits, state = prime(model, prompts, state, use_forward=use_forward)          # (B, V)
    vocab_size = logits.size(-1)
    check_banned(banned, vocab_size)
    dtype = torch.promote_types(logits.dtype, torch.float32)
    # The alive hypotheses of every source, as rows: source b's rows are those with owner == b.
    owners = torch.arange(count, device=device)                                    # (n,)
    alive_tokens = torch.empty(count, 0, dtype=torch.long, device=device)         # (n, t)
    alive_log_probs = torch.zeros(count, dtype=dtype, device=device)              # (n,)
    finished: list[list[Hypothesis]] = [[] for _ in range(count)]
    for position in range(max_new_tokens):
        # log P(prefix + v) for every alive prefix and every token v that is allowed after it.
        forbidden = torch.cat([banned, stops]) if position < min_new_tokens else banned
        allowed = block_repeated_ngrams(ban(logits, forbidden), alive_tokens, no_repeat_ngram_size)
        candidates = alive_log_probs[:, None] + allowed.log_softmax(dim=-1, dtype=dtype)    # (n, V)
        kept_rows, kept_tokens, kept_log_probs, kept_owners = [], [], [], []
        for source in owners.unique().tolist():
            rows = (owners == source).nonzero().squeeze(1)                                  # (n_b,)
            mine = candidates[rows]
            log_probs, flat = mine.flatten().topk(min(beam_size, mine.numel()))            # (k,)
            possible = log_probs > -math.inf
            log_probs, flat = log_probs[possible], flat[possible]
            kept_rows.append(rows[flat // vocab_size])
            kept_tokens.append(flat % vocab_size)
            kept_log_probs.append(log_probs)
            kept_owners.append(torch.full_like(log_probs, source, dtype=torch.long))
        origins, tokens = torch.cat(kept_rows), torch.cat(kept_tokens)                     # (k,)
        log_probs, new_owners = torch.cat(kept_log_probs), torch.cat(kept_owners)
        sequences = torch.cat([alive_tokens[origins], tokens[:, None]], dim=1)             # (k, t + 1)
        done = torch.isin(tokens, stops) | (position == max_new_tokens - 1)
        for owner, sequence, log_prob in zip(new_owners[done].tolist(), sequences[done].tolist(),
                                             log_probs[done].tolist()):
            finished[owner].append(Hypothesis(sequence, log_prob / len(sequence) ** length_penalty, log_prob))
        alive = ~done
        if not bool(alive.any()):
            break
        alive_tokens, alive_log_probs, owners = sequences[alive], log_probs[alive], new_owners[alive]
        state = reorder(model, state, origins[alive])
        logits, state = model.step(tokens[alive], state)
    for hypotheses in finished:
        hypotheses.sort(key=lambda hypothesis: hypothesis.score, reverse=True)
    return [hypotheses[:beam_size] for hypotheses in finished]
