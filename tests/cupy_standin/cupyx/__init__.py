"""``cupyx``: the one function the library uses, ``scatter_add``."""
from __future__ import annotations

import numpy

from cupy._core import _check_peer, _index, _operand, ndarray


def scatter_add(a, slices, value):
    """``a[slices] += value`` where repeated indices add up (as ``numpy.add.at``)."""
    if not isinstance(a, ndarray):
        raise TypeError(f"scatter_add: a must be a cupy.ndarray, got {type(a)}")
    _check_peer(a)
    numpy.add.at(a._a, _index(slices), _operand(value))
