"""One rule for randomness in data helpers: ``seed`` (int) or ``rng`` (a Generator)."""
from __future__ import annotations

import numpy as np


def make_rng(seed=None, rng=None) -> np.random.Generator:
    """A NumPy Generator: ``rng`` itself if given, else one seeded with ``seed`` (default 0,
    so that every helper is deterministic unless told otherwise)."""
    if rng is not None:
        if seed is not None:
            raise TypeError("pass seed= or rng=, not both")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        return rng
    return np.random.default_rng(0 if seed is None else seed)
