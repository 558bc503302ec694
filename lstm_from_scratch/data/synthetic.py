"""Synthetic long-range memory tasks: the adding problem, the copy task and the temporal-order
task.

Each has a known answer and a known trivial baseline, so they measure memory, not data.
"""
from __future__ import annotations

import numpy as np

from ._rng import make_rng


def adding_problem(n: int, seq_len: int, seed=None, rng=None, dtype=np.float32):
    """The adding problem (Hochreiter & Schmidhuber, 1997), in its modern form
    (Le et al., 2015; Arjovsky et al., 2016).

    Each sequence has two channels: channel 0 holds numbers drawn uniformly from [0, 1];
    channel 1 is 0 everywhere except at two positions, where it is 1: one position in the
    first half of the sequence and one in the second. The target is the sum of the two
    marked numbers. Predicting the mean, 1, gives a mean squared error of
    Var(u1 + u2) = 2/12 ~ 0.167; a model below that has learnt to remember.

    Args:
        n: number of sequences. seq_len: T (at least 2).
        seed, rng: randomness (deterministic: seed 0 by default).
    Returns:
        x: (n, T, 2) and y: (n, 1), both ``dtype``.
    """
    if seq_len < 2:
        raise ValueError(f"adding_problem: seq_len must be at least 2, got {seq_len}")
    g = make_rng(seed, rng)
    values = g.uniform(0.0, 1.0, size=(n, seq_len))
    half = seq_len // 2
    first = g.integers(0, half, size=n)
    second = g.integers(half, seq_len, size=n)
    markers = np.zeros((n, seq_len))
    rows = np.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype(dtype)
    y = (values[rows, first] + values[rows, second])[:, None].astype(dtype)
    return x, y


def copy_task(n: int, seq_len: int = 10, delay: int = 20, n_symbols: int = 8, seed=None,
              rng=None):
    """The copy (copying-memory) task in the form of Arjovsky, Shah & Bengio (2016), who set
    it up after the long-time-lag experiments of Hochreiter & Schmidhuber (1997).

    Token 0 is blank, 1..n_symbols are data, n_symbols + 1 is the "go" marker. An input is
    ``seq_len`` random data tokens, ``delay - 1`` blanks, the marker, then ``seq_len`` blanks;
    the target is blanks for ``seq_len + delay`` steps, then the data tokens again. With the
    defaults of that paper (``seq_len=10``, ``n_symbols=8``) ``delay`` is its T and a sequence
    has T + 20 steps. Guessing blanks then uniform symbols (no memory) gives a cross-entropy of
    ``seq_len * log(n_symbols) / (2 * seq_len + delay)`` per step, that paper's baseline.

    Returns:
        x, y: (n, 2 * seq_len + delay) int64 token ids (vocabulary size n_symbols + 2).
    """
    if seq_len < 1 or delay < 1 or n_symbols < 1:
        raise ValueError("copy_task: seq_len, delay and n_symbols must be positive, got "
                         f"{seq_len}, {delay}, {n_symbols}")
    g = make_rng(seed, rng)
    total = 2 * seq_len + delay
    data = g.integers(1, n_symbols + 1, size=(n, seq_len))
    x = np.zeros((n, total), dtype=np.int64)
    y = np.zeros((n, total), dtype=np.int64)
    x[:, :seq_len] = data
    x[:, seq_len + delay - 1] = n_symbols + 1
    y[:, seq_len + delay:] = data
    return x, y


#: The tokens of :func:`temporal_order`, in the order of their ids.
TEMPORAL_ORDER_TOKENS = ("a", "b", "c", "d", "X", "Y", "E", "B")


def temporal_order(n: int, seq_len: int = 100, seed=None, rng=None):
    """The temporal-order task, experiment 6a of Hochreiter & Schmidhuber (1997), at any length.

    A sequence starts with ``E``, ends with ``B`` and is otherwise made of distractors drawn
    uniformly from ``a, b, c, d``, except at two positions t1 and t2, each holding ``X`` or
    ``Y``. The class is the order of the two: XX -> 0, XY -> 1, YX -> 2, YY -> 3 (the paper's
    Q, R, S, U). The paper draws the length from [100, 110], t1 from [10, 20] and t2 from
    [50, 60]; here the length is a fixed ``seq_len`` = T (so sequences batch without padding),
    t1 is drawn from [T/10, T/5] and t2 from [T/2, 6T/10] (integer bounds, both inclusive), so
    T = 100 is the paper's task at its shortest length. Without memory the best guess is
    uniform: accuracy 1/4, cross-entropy log 4.

    Args:
        n: number of sequences. seq_len: T (at least 10, so that the two windows are apart).
        seed / rng: randomness (deterministic: seed 0 by default).
    Returns:
        x: (n, T) int64 token ids into ``TEMPORAL_ORDER_TOKENS`` (vocabulary size 8) and
        y: (n,) int64 classes 0..3.
    """
    if seq_len < 10:
        raise ValueError(f"temporal_order: seq_len must be at least 10, got {seq_len}")
    g = make_rng(seed, rng)
    x = g.integers(0, 4, size=(n, seq_len))               # distractors a, b, c, d
    x[:, 0], x[:, -1] = 6, 7                               # E ... B
    rows = np.arange(n)
    t1 = g.integers(seq_len // 10, seq_len // 5 + 1, size=n)
    t2 = g.integers(seq_len // 2, (6 * seq_len) // 10 + 1, size=n)
    first, second = g.integers(0, 2, size=n), g.integers(0, 2, size=n)   # 0: X, 1: Y
    x[rows, t1] = 4 + first
    x[rows, t2] = 4 + second
    return x.astype(np.int64), (2 * first + second).astype(np.int64)
