"""``cupy.random``: a Generator whose numbers come from a different stream than NumPy's.

CuPy's ``default_rng`` (XORWOW) and NumPy's (PCG64) give different numbers for the same seed,
so results on a GPU never equal the CPU's draw for draw. The stand-in draws from Philox to
keep that true here: code that only works for NumPy's exact numbers fails under it too.
"""
from __future__ import annotations

import numpy

from .. import _device
from .._core import _new, _out_array

__all__ = ["Generator", "default_rng"]


class Generator:
    """The methods of ``cupy.random.Generator`` that return device arrays.

    Its state lives on the device that was current when it was made (as CuPy's, whose state
    is a device array): drawing while another device is current is the peer-access error.
    """

    def __init__(self, seed=None):
        self._g = numpy.random.Generator(numpy.random.Philox(seed))
        self._device = _device.get_device_id()

    def __getattribute__(self, name):
        if name in ("random", "standard_normal", "standard_exponential", "uniform", "integers"):
            here, current = object.__getattribute__(self, "_device"), _device.get_device_id()
            if here != current:
                raise ValueError(
                    f"The device where the array resides ({here}) is different from the "
                    f"current device ({current}). Peer access is unavailable between these "
                    "devices.")
        return object.__getattribute__(self, name)

    def _result(self, a, out):
        if out is not None:
            _out_array(out)[...] = a
            return out
        return _new(numpy.asarray(a))

    def random(self, size=None, dtype=numpy.float64, out=None):
        return self._result(self._g.random(size, dtype=dtype), out)

    def standard_normal(self, size=None, dtype=numpy.float64, out=None):
        return self._result(self._g.standard_normal(size, dtype=dtype), out)

    def standard_exponential(self, size=None, dtype=numpy.float64, method="inv", out=None):
        return self._result(self._g.standard_exponential(size, dtype=dtype), out)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=numpy.float64):
        return _new(numpy.asarray(self._g.uniform(low, high, size)).astype(dtype))

    def integers(self, low, high=None, size=None, dtype=numpy.int64, endpoint=False):
        return _new(numpy.asarray(self._g.integers(low, high, size, dtype=dtype,
                                                   endpoint=endpoint)))


def default_rng(seed=None):
    return Generator(seed)
