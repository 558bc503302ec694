"""Baselines that cost nothing to train: uniform, unigram and an interpolated Kneser-Ney
n-gram model of characters (Kneser & Ney 1995; Chen & Goodman 1999), counted with NumPy.

The n-gram model predicts a character from the n-1 before it. Counts of long contexts are
sparse, so every order is interpolated with the order below (Chen & Goodman's interpolated
Kneser-Ney, one discount D per order):

    p_m(w | h) = [max(c(h w) - D_m, 0) + D_m N1+(h .) p_{m-1}(w | h')] / c(h)

where h' is h without its first character, N1+(h .) the number of distinct characters seen
after h, and p_0 the uniform distribution. The highest order counts occurrences; the lower
orders count *continuations*, N1+(. h w), the number of distinct characters seen before h w,
because a lower order is only consulted when the longer context says little. A context never
seen falls through to the order below. D_m = n1 / (n1 + 2 n2) from the numbers of grams seen
once and twice (Ney, Essen & Kneser 1994).

Grams are integer keys (base V), so each order is one ``np.unique`` and lookups are
``np.searchsorted``: fitting an 8-gram model on 400,000 characters takes under a second.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["KneserNeyLM", "unigram_bits_per_char"]


def unigram_bits_per_char(train_ids, test_ids, vocab_size: int) -> float:
    """bpc of the add-one (Laplace) smoothed character frequencies of ``train_ids`` on
    ``test_ids[1:]`` (the same positions every model in chapter 7 is scored on)."""
    counts = np.bincount(np.asarray(train_ids), minlength=vocab_size) + 1.0
    p = counts / counts.sum()
    return float(-np.log2(p[np.asarray(test_ids)[1:]]).mean())


class KneserNeyLM:
    """An interpolated Kneser-Ney model of order ``order`` over ids 0..vocab_size-1.

    >>> lm = KneserNeyLM(3, vocab_size=4).fit(np.array([0, 1, 2, 3] * 50))
    >>> round(float(lm.next_probs(np.array([0, 1]))[2]), 2)     # after 0 1 comes 2
    0.99
    """

    def __init__(self, order: int, vocab_size: int):
        if not 1 <= int(order) <= 9:
            raise ValueError(f"KneserNeyLM: order must be between 1 and 9, got {order}")
        if vocab_size < 1 or int(vocab_size) ** int(order) >= 2 ** 62:
            raise ValueError(f"KneserNeyLM: {vocab_size} symbols to the power {order} do not fit "
                             "an int64 key")
        self.order, self.V = int(order), int(vocab_size)
        self.tables = None

    # -- counting --------------------------------------------------------------------------------
    def _keys(self, windows, m):
        """Base-V keys of the last m columns of ``windows`` (N, n)."""
        key = np.zeros(len(windows), dtype=np.int64)
        for j in range(windows.shape[1] - m, windows.shape[1]):
            key = key * self.V + windows[:, j]
        return key

    def fit(self, ids):
        """Count every order from the (L,) training ids. Returns self."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) < self.order:
            raise ValueError(f"KneserNeyLM.fit: {len(ids)} ids are too few for order "
                             f"{self.order}")
        if ids.min() < 0 or ids.max() >= self.V:
            raise ValueError(f"KneserNeyLM.fit: ids must lie in [0, {self.V - 1}]")
        n = self.order
        windows = np.lib.stride_tricks.sliding_window_view(ids, n)      # (L-n+1, n)
        grams = self._keys(windows, n)
        self.tables = {}
        distinct = None
        for m in range(n, 0, -1):
            if m == n:                                  # occurrences
                keys, counts = np.unique(grams, return_counts=True)
            else:                                       # continuations N1+(. g)
                keys, counts = np.unique(distinct % self.V ** m, return_counts=True)
            distinct = keys
            ctx, inverse = np.unique(keys // self.V, return_inverse=True)
            totals = np.bincount(inverse, weights=counts)
            types = np.bincount(inverse).astype(np.float64)
            n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
            D = n1 / (n1 + 2.0 * n2) if n1 + n2 > 0 else 0.5
            self.tables[m] = (keys, counts.astype(np.float64), ctx, totals, types, float(D))
        return self

    # -- probabilities ---------------------------------------------------------------------------
    def _probs(self, windows):
        """p(last column | the columns before it) for each row of ``windows`` (N, order);
        -1 marks "before the start of the text" (only at the left of a row)."""
        if self.tables is None:
            raise RuntimeError("KneserNeyLM: call fit() first")
        p = np.full(len(windows), 1.0 / self.V)
        n = self.order
        for m in range(1, n + 1):
            keys, counts, ctx, totals, types, D = self.tables[m]
            usable = windows[:, n - m] >= 0             # the whole m-gram lies in the text
            w = np.where(windows < 0, 0, windows)
            g = self._keys(w, m)
            i = np.minimum(np.searchsorted(keys, g), len(keys) - 1)
            c = np.where(keys[i] == g, counts[i], 0.0)
            j = np.minimum(np.searchsorted(ctx, g // self.V), len(ctx) - 1)
            seen = (ctx[j] == g // self.V) & usable
            tot, typ = totals[j], types[j]
            with np.errstate(invalid="ignore", divide="ignore"):
                mixed = (np.maximum(c - D, 0.0) + D * typ * p) / tot
            p = np.where(seen, mixed, p)
        return p

    def log_probs(self, ids) -> np.ndarray:
        """log p(ids[t] | the order-1 ids before it) for t = 1 .. L-1, in nats, (L-1,)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        padded = np.concatenate([np.full(self.order - 1, -1, dtype=np.int64), ids])
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.order)[1:]
        return np.log(self._probs(windows))

    def bits_per_char(self, ids) -> float:
        """The mean of -log2 p over t = 1 .. L-1."""
        return float(-self.log_probs(ids).mean() / math.log(2.0))

    def next_probs(self, history) -> np.ndarray:
        """(V,) distribution of the character after ``history`` (ids; only the last order-1
        are used; a shorter history uses the lower orders)."""
        history = np.asarray(history, dtype=np.int64).reshape(-1)[-(self.order - 1):] \
            if self.order > 1 else np.zeros(0, dtype=np.int64)
        row = np.full(self.order, -1, dtype=np.int64)
        if len(history):
            row[self.order - 1 - len(history):self.order - 1] = history
        windows = np.repeat(row[None, :], self.V, axis=0)
        windows[:, -1] = np.arange(self.V)
        return self._probs(windows)
