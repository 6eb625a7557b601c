"""Batches of a data set of independent examples, addressed by position, sharded over processes.

Pass e (epoch) visits the examples in the order of a permutation seeded by (seed, e); batch p is
the ``p mod n``-th run of ``batch_size`` examples of pass ``p div n`` (the last incomplete run is
left out, so every batch is full). With W processes, torch's ``DistributedSampler`` gives rank r
the examples at positions r, r + W, r + 2W, … of the same permutation, so the ranks' p-th batches
are disjoint and together hold exactly the single-process run's p-th batch::

    permutation of pass e:   7 2 9 0 4 1 8 3 …        batch_size 4, W = 2
    one process, batch 0:    7 2 9 0
    rank 0, batch 0:         7 9              rank 1, batch 0:   2 0
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch.utils.data import DistributedSampler

from .task import Batch, Shard


class SampledBatches:
    """Batch ``p`` of ``size`` examples, made by ``collate(indices)`` (module docstring).

    Example:
        >>> batches = SampledBatches(10, 4, lambda ids: Batch({}, len(ids)), seed=0)
        >>> len(batches), batches.indices(0) != batches.indices(2)
        (2, True)
    """

    def __init__(
        self, size: int, batch_size: int, collate: Callable[[Sequence[int]], Batch], seed: int = 0,
        shard: Shard = Shard(),
    ) -> None:
        shard.split(batch_size, "batch_size")                  # checks that the batch divides evenly
        if size < batch_size:
            raise ValueError(f"the data set has {size} examples, fewer than one batch of {batch_size}; "
                             f"give more data or a smaller --batch")
        self.per_rank = batch_size // shard.world_size
        self.batches_per_pass = size // batch_size
        self.collate = collate
        # drop_last: every rank gets the same number of examples, none repeated.
        self.sampler = DistributedSampler(range(size), num_replicas=shard.world_size, rank=shard.rank,
                                          shuffle=True, seed=seed, drop_last=True)
        self._epoch: int | None = None
        self._order: list[int] = []

    def __len__(self) -> int:
        return self.batches_per_pass

    def indices(self, position: int) -> list[int]:
        """The examples of batch ``position`` on this rank."""
        epoch, index = divmod(position, self.batches_per_pass)
        if epoch != self._epoch:
            self.sampler.set_epoch(epoch)
            self._order, self._epoch = list(self.sampler), epoch
        return self._order[index * self.per_rank: (index + 1) * self.per_rank]

    def batch(self, position: int) -> Batch:
        return self.collate(self.indices(position))


class LengthBucketedBatches:
    """Batches of examples of similar length, addressed by position, made by ``collate(indices, position)``::

        pass e:  shuffle(seed, e) → chunks of `bucket` batches → each chunk sorted by length
                 → cut into batches → the batches shuffled (seed, e)

    Sorting within a chunk keeps padding small while the chunks and the final shuffle keep batches
    varied. With W processes, rank r takes the examples r, r + W, … of each batch.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, bucket: int, seed: int,
                 collate: Callable[[list[int], int], Batch], shard: Shard = Shard(), what: str = "examples") -> None:
        import numpy as np

        shard.split(batch_size, "batch_size")
        if len(lengths) < batch_size:
            raise ValueError(f"the training data has {len(lengths)} {what}, fewer than one batch of {batch_size}; "
                             f"give more data or a smaller --batch")
        self.batch_size, self.bucket, self.seed, self.shard, self.collate = batch_size, bucket, seed, shard, collate
        self.batches_per_pass = len(lengths) // batch_size
        self._lengths = np.asarray(lengths)
        self._epoch: int | None = None
        self._batches: list = []

    def __len__(self) -> int:
        return self.batches_per_pass

    def _plan(self, epoch: int) -> list:
        import numpy as np

        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self._lengths))[: self.batches_per_pass * self.batch_size]
        chunk = self.bucket * self.batch_size
        batches = []
        for start in range(0, len(order), chunk):
            part = order[start: start + chunk]
            part = part[np.argsort(self._lengths[part], kind="stable")]
            batches.extend(part[i: i + self.batch_size] for i in range(0, len(part), self.batch_size))
        return [batches[i] for i in rng.permutation(len(batches))]

    def indices(self, position: int) -> list[int]:
        """The examples of batch ``position`` on this rank."""
        epoch, index = divmod(position, self.batches_per_pass)
        if epoch != self._epoch:
            self._batches, self._epoch = self._plan(epoch), epoch
        return [int(i) for i in self._batches[index][self.shard.rank:: self.shard.world_size]]

    def batch(self, position: int) -> Batch:
        return self.collate(self.indices(position), position)
