r"""Against repetition: n-gram blocking and the repetition penalty, applied to next-token logits.

Both look at the tokens generated so far, the history h (B, t) (the prompt is not part of it).

- n-gram blocking (Paulus et al. 2018, "A Deep Reinforced Model for Abstractive Summarization";
  fairseq's and Hugging Face's ``no_repeat_ngram_size``): a row may not generate a token v that
  would complete an n-gram it already holds, that is, v is banned when

      (h_{t-n+2}, …, h_t, v) = (h_{i}, …, h_{i+n-1})   for some i ≤ t - n + 1,

  by setting its logit to -inf. n = 1 bans every token already generated. A vocabulary of V
  tokens holds only V^n distinct n-grams, so the block can leave a row no token at all; such a
  row is left unblocked at that step rather than given nothing to choose from.
- repetition penalty θ (Keskar et al. 2019, "CTRL", section 4.1): the logit z_v of every token v
  already generated becomes z_v / θ when positive and z_v · θ when negative, so θ > 1 makes every
  repeated token less likely, whatever its sign (the paper writes z_v / θ, for positive logits;
  the sign rule is that of its released code). θ = 1 changes nothing.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor


def check_no_repeat_ngram_size(n: int) -> None:
    """Raise unless the n-gram size ``n`` is an integer >= 0."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
        raise ValueError(f"no_repeat_ngram_size must be an integer >= 0 (0: off), got {n!r}")


def check_repetition_penalty(penalty: float) -> None:
    """Raise unless the repetition penalty is a finite number > 0."""
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not (
            math.isfinite(penalty) and penalty > 0):
        raise ValueError(f"repetition_penalty must be a finite number > 0 (1: off), got {penalty!r}")


def block_repeated_ngrams(logits: Tensor, history: Tensor, n: int) -> Tensor:
    """``logits`` with -inf for every token that would repeat an n-gram of its row's ``history``.

    Args:
        logits: (B, V) next-token logits (already -inf where other rules ban a token).
        history: (B, t) long, the tokens each row has generated so far.
        n: the n-gram size, >= 1; 0 returns ``logits`` unchanged.

    Returns:
        (B, V). A row whose every token would be blocked is returned unblocked.
    """
    if n == 0 or history.size(1) < n:
        return logits
    windows = history.unfold(1, n, 1)                                  # (B, t - n + 1, n): every held n-gram
    prefix = history[:, history.size(1) - n + 1:]                      # (B, n - 1): what v would extend
    completes = (windows[:, :, :-1] == prefix[:, None]).all(dim=-1)   # (B, t - n + 1)
    # The last token of each matching window is banned; the others go to a spare column V, dropped.
    vocab_size = logits.size(-1)
    targets = windows[:, :, -1].masked_fill(~completes, vocab_size)
    blocked = torch.zeros(logits.size(0), vocab_size + 1, dtype=torch.bool, device=logits.device)
    blocked = blocked.scatter_(1, targets, True)[:, :vocab_size]      # (B, V)
    blocked &= ~(blocked | logits.isneginf()).all(dim=-1, keepdim=True)
    return logits.masked_fill(blocked, -math.inf)


def penalize_repetition(logits: Tensor, history: Tensor, penalty: float) -> Tensor:
    """CTRL's repetition penalty: the logits of the tokens in each row's ``history`` divided by
    ``penalty`` where positive, multiplied by it where negative.

    Args:
        logits: (B, V) next-token logits.
        history: (B, t) long, the tokens each row has generated so far (repeats count once).
        penalty: θ > 0; 1 returns ``logits`` unchanged.

    Returns:
        (B, V).
    """
    if penalty == 1 or history.size(1) == 0:
        return logits
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(1, history, True)   # (B, V)
    penalized = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalized, logits)
