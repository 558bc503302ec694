"""Minibatches and padding, on NumPy arrays."""
from __future__ import annotations

import numpy as np

from ._rng import make_rng


def _check_arrays(arrays):
    arrays = tuple(np.asarray(a) if not hasattr(a, "shape") else a for a in arrays)
    if not arrays:
        raise ValueError("no arrays given")
    n = len(arrays[0])
    for k, a in enumerate(arrays):
        if len(a) != n:
            raise ValueError(f"all arrays need the same first dimension: array 0 has {n} "
                             f"rows, array {k} has {len(a)}")
    return arrays, n


def _check_batch_size(batch_size):
    """A positive int (PyTorch's DataLoader refuses others when it is built, too)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size < 1:
        raise ValueError(f"batch_size should be a positive integer value, but got "
                         f"batch_size={batch_size!r}")
    return int(batch_size)


def iterate_minibatches(arrays, batch_size: int, shuffle: bool = True, seed=None, rng=None,
                        drop_last: bool = False):
    """Yield tuples of aligned minibatches ``(a[idx], b[idx], ...)``.

    Args:
        arrays: a tuple of arrays with the same first dimension N (or one array).
        batch_size: rows per batch (the last batch may be smaller unless ``drop_last``).
        shuffle: visit the rows in a random order drawn from ``seed``/``rng``.
    """
    single = hasattr(arrays, "shape")
    arrays, n = _check_arrays((arrays,) if single else arrays)
    batch_size = _check_batch_size(batch_size)
    order = make_rng(seed, rng).permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size]
        batch = tuple(a[idx] for a in arrays)
        yield batch[0] if single else batch


class DataLoader:
    """Re-iterable minibatches for a training loop: each pass (epoch) draws a new order.

    The order of epoch e is a function of ``seed`` and e only, so runs are reproducible and
    iterating twice in one epoch is impossible to confuse with a new epoch.

    Args:
        arrays: a tuple of arrays with the same first dimension N (or one array).
        batch_size, shuffle, drop_last: as :func:`iterate_minibatches`.
        seed: base seed of the shuffling.
        sampler: an iterable of row indices to visit, in its order, instead of all rows
            (e.g. ``lfs.distributed.DistributedSampler``: this process's share); as in
            PyTorch it excludes ``shuffle``, and it is iterated afresh every pass.
    """

    def __init__(self, arrays, batch_size: int = 32, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, sampler=None):
        self.single = hasattr(arrays, "shape")
        self.arrays, self.n = _check_arrays((arrays,) if self.single else tuple(arrays))
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle "
                             "(the sampler decides the order)")
        self.batch_size, self.shuffle, self.seed, self.drop_last = \
            _check_batch_size(batch_size), shuffle, seed, drop_last
        self.sampler = sampler
        self.epoch = 0

    def __len__(self):
        n = self.n if self.sampler is None else len(self.sampler)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self):
        if self.sampler is not None:
            yield from self._iter_sampler()
            return
        seed = np.random.SeedSequence([self.seed, self.epoch])
        self.epoch += 1
        for batch in iterate_minibatches(self.arrays, self.batch_size, shuffle=self.shuffle,
                                         rng=np.random.default_rng(seed),
                                         drop_last=self.drop_last):
            yield batch[0] if self.single else batch

    def _iter_sampler(self):
        order = np.fromiter(iter(self.sampler), dtype=np.int64)
        if order.size and (order.min() < 0 or order.max() >= self.n):
            raise IndexError(f"DataLoader: the sampler gave indices in [{order.min()}, "
                             f"{order.max()}], but the arrays have {self.n} rows")
        self.epoch += 1
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            batch = tuple(a[idx] for a in self.arrays)
            yield batch[0] if self.single else batch


def pad_sequences(sequences, padding_value=0, batch_first: bool = True, max_len=None,
                  dtype=None):
    """Pad variable-length sequences into one array, with their lengths and a mask.

    Args:
        sequences: a list of arrays (L_i, ...) with equal trailing shapes.
        padding_value: fill for the positions past each sequence's end.
        batch_first: (B, L, ...) if True, else (L, B, ...) (as torch's pad_sequence).
        max_len: pad (or truncate) to this length instead of the longest.
    Returns:
        padded: (B, L, ...) or (L, B, ...); lengths: (B,) int64 (after truncation);
        mask: (B, L) bool, True at real (not padded) positions (always batch first).
    """
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequences: no sequences")
    trailing = seqs[0].shape[1:]
    for k, s in enumerate(seqs):
        if s.ndim == 0 or s.shape[1:] != trailing:
            raise ValueError(f"pad_sequences: sequence {k} has shape {s.shape}; all need shape "
                             f"(L_i,) + {trailing}")
    L = max(len(s) for s in seqs) if max_len is None else int(max_len)
    dtype = np.result_type(*seqs) if dtype is None else dtype
    padded = np.full((len(seqs), L) + trailing, padding_value, dtype=dtype)
    lengths = np.array([min(len(s), L) for s in seqs], dtype=np.int64)
    for k, s in enumerate(seqs):
        padded[k, :lengths[k]] = s[:lengths[k]]
    mask = np.arange(L)[None, :] < lengths[:, None]
    if not batch_first:
        padded = np.swapaxes(padded, 0, 1).copy()
    return padded, lengths, mask


def one_hot(indices, num_classes: int, dtype=np.float32):
    """(...,) integer ids -> (..., num_classes) one-hot ``dtype`` array."""
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or indices.max() >= num_classes):
        raise IndexError(f"one_hot: ids must be in [0, {num_classes - 1}], got range "
                         f"[{indices.min()}, {indices.max()}]")
    return np.eye(num_classes, dtype=dtype)[indices]


def to_tensors(*arrays, dtype=None, device=None):
    """Each array as an ``lfs`` Tensor on ``device`` (default: the default device,
    ``lfs.get_device()``, as every constructor); floats keep their dtype unless ``dtype`` is
    given, integer arrays stay integer. Returns a tuple (or one Tensor for one array)."""
    from .. import functional as F
    out = []
    for a in arrays:
        a = np.asarray(a) if not hasattr(a, "dtype") else a
        dt = dtype if (dtype is not None and a.dtype.kind == "f") else None
        out.append(F.tensor(a, dtype=dt, device=device))
    return out[0] if len(out) == 1 else tuple(out)
