"""Which examples each process trains on: a disjoint shard per rank, reshuffled each epoch.

``DistributedSampler`` follows ``torch.utils.data.distributed.DistributedSampler``:

* every rank draws the same permutation of 0..N-1 from ``(seed, epoch)``, so the ranks
  agree on the order without talking to each other; ``set_epoch(e)`` before each epoch
  gives a new order (forgetting it repeats the first epoch's order every epoch);
* rank r takes every P-th index starting at r (``indices[r::P]``), so with a batch size B
  per rank, the k-th batches of all ranks together are exactly the k-th batch of size
  P * B that one process would take from the same permutation;
* every rank gets the same number of indices: with ``drop_last=False`` the permutation is
  padded with its own first indices up to a multiple of P (a few examples count twice per
  epoch); with ``drop_last=True`` its tail is cut to a multiple of P (a few are left out).

Use it with ``lfs.data.DataLoader(arrays, batch_size=B, sampler=sampler)``.
"""
from __future__ import annotations

import math

import numpy as np

from . import process_group as pg

__all__ = ["DistributedSampler"]


def _dataset_length(dataset) -> int:
    if isinstance(dataset, (int, np.integer)) and not isinstance(dataset, bool):
        return int(dataset)
    if isinstance(dataset, tuple) and dataset and all(hasattr(a, "shape") for a in dataset):
        n = len(dataset[0])                     # a tuple of arrays, as lfs.data.DataLoader
        for k, a in enumerate(dataset):
            if len(a) != n:
                raise ValueError(f"DistributedSampler: all arrays need the same first "
                                 f"dimension: array 0 has {n} rows, array {k} has {len(a)}")
        return n
    try:
        return len(dataset)
    except TypeError:
        raise TypeError("DistributedSampler: dataset must be a number of examples, an array, "
                        "a tuple of arrays or a sized collection; got "
                        f"{type(dataset).__name__}") from None


class DistributedSampler:
    """Indices of this rank's share of a dataset, for one epoch at a time.

    Args:
        dataset: the number of examples N, an array (N rows), a tuple of arrays with N rows
            each (as ``lfs.data.DataLoader`` takes), or any sized collection.
        num_replicas: the number of processes P (default: the process group's world size).
        rank: this process's rank (default: the process group's).
        shuffle: a new random order each epoch (else 0..N-1 in order).
        seed: the shared seed; must be the same on every rank.
        drop_last: cut the tail that does not divide evenly (True) or pad with repeated
            indices (False), so that every rank gets ``len(sampler)`` indices.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False):
        if num_replicas is None:
            num_replicas = pg.get_world_size()
        if rank is None:
            rank = pg.get_rank()
        if not isinstance(num_replicas, (int, np.integer)) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive int, got {num_replicas!r}")
        if not isinstance(rank, (int, np.integer)) or not 0 <= rank < num_replicas:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.n = _dataset_length(dataset)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        if self.drop_last and self.n % self.num_replicas:
            self.num_samples = math.ceil((self.n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(self.n / self.num_replicas)
        if self.num_samples < 1 and self.n:
            raise ValueError(f"DistributedSampler: {self.n} examples are too few for "
                             f"{self.num_replicas} ranks with drop_last=True")
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` (call it with the same value on every rank)."""
        self.epoch = int(epoch)

    def permutation(self) -> np.ndarray:
        """The order all ranks share this epoch, padded or cut to ``total_size``."""
        if self.shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, self.epoch]))
            order = rng.permutation(self.n)
        else:
            order = np.arange(self.n)
        if self.total_size > self.n:                        # pad with the first indices
            repeats = math.ceil((self.total_size - self.n) / max(self.n, 1))
            order = np.concatenate([order] + [order] * repeats)
        return order[:self.total_size]

    def indices(self) -> np.ndarray:
        """This rank's indices for the current epoch: (len(self),) int64."""
        return self.permutation()[self.rank::self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self):
        return (f"DistributedSampler(n={self.n}, num_replicas={self.num_replicas}, "
                f"rank={self.rank}, shuffle={self.shuffle}, seed={self.seed}, "
                f"drop_last={self.drop_last}, epoch={self.epoch})")
