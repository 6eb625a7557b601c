r"""Autoregressive generation: prime a model with a prompt, then choose one token at a time.

Works on any model with ``step(tokens (B,), state) -> (logits (B, V), state)``; the state is
the model's own business (any nested tuple of tensors whose dimension 1 is the batch, or None).

Each next token is chosen from the logits z (B, V). First the logits of banned tokens are set to
-inf, and on request two rules against repetition reshape them (see :mod:`.repetition`): CTRL's
repetition penalty, then n-gram blocking. Then the token is the argmax (see :mod:`.greedy`) or is
sampled, in this order:

1. temperature T:   z ← z / T   (T → 0 tends to argmax, T = 1 is the model, T > 1 flattens);
2. top-k:           keep the k largest logits (Fan et al. 2018, "Hierarchical Neural Story
                    Generation");
3. top-p (nucleus): keep the smallest set of most probable tokens whose probability reaches p
                    (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration");
4. draw from softmax(z) over what is left.

Filters set the excluded logits to -inf, so softmax gives them probability zero.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Collection, Iterator
from typing import Protocol, Union

import torch
from torch import Tensor

from .greedy import greedy_next
from .repetition import (
    block_repeated_ngrams, check_no_repeat_ngram_size, check_repetition_penalty, penalize_repetition,
)

DecoderState = Union[Tensor, tuple["DecoderState", ...], None]
"""A model's recurrent state: a tensor, a nested tuple of tensors (dimension 1 is the batch), or None."""

STRATEGIES = ("greedy", "sample")


class StepModel(Protocol):
    """Anything decodable: one step maps the current tokens and state to next-token logits."""

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """tokens (B,) long, state → logits (B, V) for the next token, new state."""
        ...


def check_prompt(prompt: Tensor, ndim: int) -> None:
    """Raise if ``prompt`` is not a non-empty integer tensor with ``ndim`` dimensions."""
    shape = "(B, P)" if ndim == 2 else "(P,)"
    if not isinstance(prompt, Tensor):
        raise TypeError(f"prompt must be a tensor of token ids of shape {shape}, got {type(prompt).__name__}")
    if prompt.dim() != ndim:
        raise ValueError(f"prompt must have shape {shape}, got {prompt.dim()} dimensions: {tuple(prompt.shape)}")
    if prompt.is_floating_point() or prompt.is_complex() or prompt.dtype == torch.bool:
        raise TypeError(f"prompt must hold integer token ids, got dtype {prompt.dtype}")
    if prompt.numel() == 0:
        raise ValueError(
            f"prompt must hold at least one token, got shape {tuple(prompt.shape)}; "
            "to start from nothing, pass a start token such as <bos>"
        )


def check_max_new_tokens(max_new_tokens: int) -> None:
    """Raise unless ``max_new_tokens`` is an integer >= 0."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")


def token_ids(tokens: Collection[int], device: torch.device, what: str) -> Tensor:
    """Token ids as a (S,) long tensor on ``device``; raise unless they are integers (``what``: the
    argument's name, for the message)."""
    ids = list(tokens)
    if not all(isinstance(token, numbers.Integral) and not isinstance(token, bool) for token in ids):
        raise TypeError(f"{what} must be integer token ids, got {tokens!r}")
    return torch.tensor(ids, dtype=torch.long, device=device)


def check_banned(banned: Tensor, vocab_size: int) -> None:
    """Raise if a banned id is outside the vocabulary or if every token is banned (checked once,
    when the first logits give the vocabulary size)."""
    if banned.numel() == 0:
        return
    if bool(((banned < 0) | (banned >= vocab_size)).any()):
        raise ValueError(f"banned_tokens must be ids in [0, {vocab_size}), got {banned.tolist()}")
    if banned.unique().numel() >= vocab_size:
        raise ValueError(f"banned_tokens ban all {vocab_size} tokens of the vocabulary")


def ban(logits: Tensor, banned: Tensor) -> Tensor:
    """``logits`` with the ``banned`` token ids set to -inf, so that no strategy can choose them:
    their probability goes to the other tokens in proportion (the softmax renormalises)."""
    return logits.index_fill(-1, banned, -math.inf) if banned.numel() else logits


def check_sampling_args(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise on a temperature <= 0, a top_k < 1 or a top_p outside (0, 1]."""
    if not (isinstance(temperature, (int, float)) and math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1 or None, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p!r}")


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Keep the ``k`` largest logits of each row and set the others to -inf.

    Exactly ``min(k, V)`` logits per row stay finite (among equal logits at the boundary,
    which ones stay is unspecified). Fan et al. 2018.

    Args:
        logits: (B, V).
        k: how many tokens to keep, >= 1.

    Returns:
        (B, V), a new tensor.
    """
    check_sampling_args(1.0, k, None)
    if k >= logits.size(-1):
        return logits.clone()
    values, indices = logits.topk(k, dim=-1)                          # (B, k)
    return torch.full_like(logits, -math.inf).scatter(-1, indices, values)


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Nucleus filter: keep the smallest set of most probable tokens whose probability reaches ``p``.

    Tokens are taken in order of decreasing probability until their total is >= p; the rest are
    set to -inf. The most probable token is always kept, so at least one survives; p = 1 keeps
    every token. Holtzman et al. 2020.

    Args:
        logits: (B, V).
        p: the probability mass to keep, in (0, 1].

    Returns:
        (B, V), a new tensor.
    """
    check_sampling_args(1.0, None, p)
    if p == 1:
        return logits.clone()
    sorted_logits, order = logits.sort(dim=-1, descending=True)      # (B, V)
    probs = sorted_logits.softmax(dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
    # Mass of the strictly more probable tokens: a token is needed while that mass is still < p.
    mass_before = probs.cumsum(dim=-1) - probs
    sorted_logits = sorted_logits.masked_fill(mass_before >= p, -math.inf)
    return torch.empty_like(logits).scatter(-1, order, sorted_logits)


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one next token per row: temperature, then top-k, then top-p, then a multinomial draw.

    Args:
        logits: (B, V) unnormalised log-probabilities.
        temperature: divides the logits, > 0.
        top_k: keep only the k most probable tokens; None keeps all.
        top_p: keep only the nucleus of probability p, in (0, 1]; None keeps all.
        generator: the random source of the draw, on the logits' device; None uses the global one.

    Returns:
        (B,) token ids (``torch.long``).
    """
    check_sampling_args(temperature, top_k, top_p)
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = logits.softmax(dim=-1, dtype=torch.promote_types(logits.dtype, torch.float32))
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)


def prime(
    model: StepModel, prompt: Tensor, state: DecoderState = None, *, use_forward: bool = False
) -> tuple[Tensor, DecoderState]:
    """Run a prompt through the model and return the logits of the token that follows it.

    Args:
        model: has ``step(tokens (B,), state) -> (logits (B, V), state)``.
        prompt: (B, P) token ids, P >= 1, on the model's device.
        state: the state to start from; None lets the model start from zeros.
        use_forward: run the whole prompt in one call of ``model(prompt.T, state)``, for models
            whose ``forward`` maps time-major tokens (P, B) and a state to logits (P, B, V) and the
            final state (the language model); faster on long prompts, the same result as stepping.

    Returns:
        logits (B, V) for the token after the prompt, and the state after the prompt.
    """
    check_prompt(prompt, ndim=2)
    if not callable(getattr(model, "step", None)):
        raise TypeError(
            f"model must have a method step(tokens, state) -> (logits, state); {type(model).__name__} has none"
        )
    if use_forward:
        logits, state = model(prompt.T, state)                           # (P, B, V)
        logits = logits[-1]
    else:
        for tokens in prompt.unbind(dim=1):                             # P steps of (B,)
            logits, state = model.step(tokens, state)
    if logits.dim() != 2 or logits.size(0) != prompt.size(0):
        raise ValueError(
            f"the model must return next-token logits of shape (B, V) = ({prompt.size(0)}, V), "
            f"got {tuple(logits.shape)}"
        )
    return logits, state


def generate(
    model: StepModel,
    prompt: Tensor,
    max_new_tokens: int,
    *,
    strategy: str = "sample",
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: Collection[int] = (),
    banned_tokens: Collection[int] = (),
    no_repeat_ngram_size: int = 0,
    repetition_penalty: float = 1.0,
    generator: torch.Generator | None = None,
    use_forward: bool = False,
) -> Iterator[Tensor]:
    """Continue each prompt row, yielding every new token (B,) as soon as it is chosen.

    The model is primed with the prompt (see :func:`prime`), then each chosen token is fed back
    through ``model.step``. A row that emits one of ``stop_tokens`` is finished: from then on it
    keeps yielding that same stop token (the model still steps it along with the batch, but its
    choices are overridden). Iteration ends once every row is finished or after
    ``max_new_tokens`` tokens, whichever comes first; the model is not stepped past the last
    token yielded. Gradients are off while it runs; put the model in eval mode first (dropout).

    Arguments are checked when ``generate`` is called, not on the first ``next``.

    Args:
        model: has ``step(tokens (B,), state) -> (logits (B, V), state)``.
        prompt: (B, P) token ids, P >= 1, on the model's device.
        max_new_tokens: the most tokens to generate per row, >= 0.
        strategy: "greedy" (argmax; temperature, top_k and top_p are then unused) or "sample".
        temperature, top_k, top_p, generator: as in :func:`sample_next`.
        stop_tokens: token ids that finish a row.
        banned_tokens: token ids never generated (e.g. ``<unk>``); their probability goes to the
            other tokens in proportion, before top-k and top-p.
        no_repeat_ngram_size: n >= 1: a row never generates an n-gram it has already generated
            (see :func:`~rnnkit.decoding.repetition.block_repeated_ngrams`); 0 (default) turns it off.
        repetition_penalty: θ > 0 of CTRL: the logits of the tokens a row has already generated are
            divided by θ where positive and multiplied by it where negative, before the temperature
            (see :func:`~rnnkit.decoding.repetition.penalize_repetition`); 1 (default) turns it off.
        use_forward: prime through ``model.forward`` (see :func:`prime`).

    Yields:
        (B,) token ids (``torch.long``), one tensor per generated position.

    Example:
        >>> text = torch.cat(list(generate(model, prompt, 100, top_p=0.9)))  # doctest: +SKIP
    """
    check_prompt(prompt, ndim=2)
    check_max_new_tokens(max_new_tokens)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}")
    check_sampling_args(temperature, top_k, top_p)
    check_no_repeat_ngram_size(no_repeat_ngram_size)
    check_repetition_penalty(repetition_penalty)
    stops = token_ids(stop_tokens, prompt.device, "stop_tokens")
    banned = token_ids(banned_tokens, prompt.device, "banned_tokens")

    def choose(logits: Tensor, history: Tensor) -> Tensor:
        logits = penalize_repetition(ban(logits, banned), history, repetition_penalty)
        logits = block_repeated_ngrams(logits, history, no_repeat_ngram_size)
        if strategy == "greedy":
            return greedy_next(logits)
        return sample_next(logits, temperature, top_k, top_p, generator)

    return _generate(model, prompt, max_new_tokens, choose, stops, banned, use_forward)


@torch.no_grad()
def _generate(
    model: StepModel,
    prompt: Tensor,
    max_new_tokens: int,
    choose: Callable[[Tensor, Tensor], Tensor],
    stops: Tensor,
    banned: Tensor,
    use_forward: bool,
) -> Iterator[Tensor]:
    """The generation loop behind :func:`generate` (torch.no_grad restores grad mode at each yield)."""
    if max_new_tokens == 0:
        return
    logits, state = prime(model, prompt, use_forward=use_forward)
    check_banned(banned, logits.size(-1))
    finished = torch.zeros(prompt.size(0), dtype=torch.bool, device=prompt.device)  # (B,)
    tokens = torch.zeros(prompt.size(0), dtype=torch.long, device=prompt.device)    # (B,)
    history = torch.empty(prompt.size(0), max_new_tokens, dtype=torch.long, device=prompt.device)  # (B, N)
    for position in range(max_new_tokens):
        # A finished row repeats the stop token it emitted last time.
        tokens = torch.where(finished, tokens, choose(logits, history[:, :position]))
        history[:, position] = tokens
        finished |= torch.isin(tokens, stops)
        yield tokens
        if position == max_new_tokens - 1 or bool(finished.all()):
            return
        logits, state = model.step(tokens, state)
