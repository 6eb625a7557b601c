"""Batches for a recurrent language model: B contiguous streams, cut into k-step chunks.

The corpus of N tokens is cut into B streams of L = ⌊N / B⌋ tokens (the remainder is left out);
column b of every batch holds the next stretch of stream b, so the state a model carries from one
chunk to the next has read exactly the text before it. N = 24, B = 3, k = 3::

    tokens   a b c d e f g h | i j k l m n o p | q r s t u v w x
             └── stream 0 ──┘  └── stream 1 ──┘  └── stream 2 ──┘

                 column 0 1 2
    chunk 0  t=0        a i q     inputs  = rows t … t+k−1
             t=1        b j r     targets = rows t+1 … t+k   (the next token)
             t=2        c k s
    chunk 1  t=3        d l t
             …
    chunk 2  t=6        g o w     (last chunk: rows 6 only, target row 7: shorter than k)

There are ⌈(L − 1) / k⌉ chunks per pass; after the last one every stream wraps to its start,
and :attr:`Chunk.reset` tells the trainer to start from a zero state there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .corpora import DataError


@dataclass(frozen=True)
class Chunk:
    """One batch: ``inputs`` and ``targets`` (T, B) int64, T ≤ k; ``reset``: streams start here."""

    inputs: Tensor
    targets: Tensor
    reset: bool


class StreamBatches:
    """The chunks of ``tokens`` cut into ``batch_size`` streams of ``seq_len``-step chunks.

    Chunks are addressed by a position that grows without end (``chunk(position)``); position p is
    chunk ``p mod chunks_per_pass`` of a pass, so data order depends only on the position.

    Example:
        >>> batches = StreamBatches(np.arange(24), batch_size=3, seq_len=3)
        >>> batches.chunk(0).inputs[:, 1].tolist()
        [8, 9, 10]
    """

    def __init__(self, tokens: np.ndarray, batch_size: int, seq_len: int, min_steps: int = 1) -> None:
        if batch_size < 1 or seq_len < 1:
            raise ValueError(f"batch_size and seq_len must be positive, got {batch_size} and {seq_len}")
        self.stream_length = len(tokens) // batch_size
        if self.stream_length < min_steps + 1:
            needed = batch_size * (min_steps + 1)
            raise DataError(
                f"the text has {len(tokens)} tokens, too few for one batch of {batch_size} streams of "
                f"{min_steps + 1} tokens ({needed} needed); give more text or a smaller --batch or --seq-len"
            )
        self.batch_size = batch_size
        self.seq_len = seq_len
        # (L, B) view: column b is stream b; no copy, so a memmap stays on disk.
        self.columns = tokens[: self.stream_length * batch_size].reshape(batch_size, self.stream_length).T
        self.chunks_per_pass = math.ceil((self.stream_length - 1) / seq_len)

    def __len__(self) -> int:
        return self.chunks_per_pass

    def chunk(self, position: int) -> Chunk:
        """The chunk at ``position`` (any non-negative integer; passes repeat)."""
        index = position % self.chunks_per_pass
        start = index * self.seq_len
        stop = min(start + self.seq_len, self.stream_length - 1)
        rows = torch.from_numpy(np.ascontiguousarray(self.columns[start: stop + 1]).astype(np.int64))
        return Chunk(rows[:-1], rows[1:], index == 0)

    def __iter__(self):
        """One pass, in order."""
        return (self.chunk(position) for position in range(self.chunks_per_pass))
