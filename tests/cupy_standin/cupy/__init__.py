"""A NumPy-backed stand-in for CuPy, for testing GPU placement on machines without a GPU.

This is NOT CuPy and not a GPU: every "device" array is a NumPy array in host memory. It
exists so that the test suite and the book can run with ``LFS_DEVICE=gpu`` on a CPU-only
machine (CI) and fail where real CuPy would fail because of where data lives. It behaves like
CuPy 13/14 where placement matters (see ``_core.py`` for the rules and where in CuPy's source
each comes from):

* ``cupy.ndarray`` is its own type, not a ``numpy.ndarray`` subclass;
* device -> host conversion is explicit only (``x.get()``, ``cupy.asnumpy(x)``);
  ``numpy.asarray(x)`` raises CuPy's "Implicit conversion to a NumPy array is not allowed";
* host arrays mixed into device operations raise CuPy's ``TypeError: Unsupported type``;
* arrays used on another device than the current one raise CuPy's peer-access ``ValueError``
  (there are two stand-in devices, without peer access);
* ``ElementwiseKernel`` runs its CUDA C body translated to NumPy (straight-line bodies with
  raw parameters, bounds- and race-checked: see ``_kernel.py``); ``RawKernel``, ``RawModule``
  and ``ReductionKernel`` raise ``NotImplementedError``.

Never installed, never on ``sys.path`` by itself: the repository's ``conftest.py`` puts
``tests/cupy_standin`` first on the path (and on ``PYTHONPATH``, for the notebook kernels)
only when ``LFS_CUPY_STANDIN=1``, and ``tests/conftest.py``'s fixtures swap it in for single
tests. ``cupy.__lfs_standin__`` is True here and absent from real CuPy.
"""
from __future__ import annotations

import sys as _sys

import numpy as _numpy

from . import _core
from ._core import (array, asanyarray, asarray, ascontiguousarray, asfortranarray, asnumpy,
                    get_array_module, ndarray)
from ._kernel import ElementwiseKernel, RawKernel, RawModule, ReductionKernel

__version__ = "14.0.0+lfs.standin"
__lfs_standin__ = True

# Types and constants: CuPy re-exports NumPy's.
dtype = _numpy.dtype
bool_ = _numpy.bool_
(int8, int16, int32, int64, uint8, uint16, uint32, uint64) = (
    _numpy.int8, _numpy.int16, _numpy.int32, _numpy.int64,
    _numpy.uint8, _numpy.uint16, _numpy.uint32, _numpy.uint64)
float16, float32, float64 = _numpy.float16, _numpy.float32, _numpy.float64
complex64, complex128 = _numpy.complex64, _numpy.complex128
intp, generic, number, integer, floating = (_numpy.intp, _numpy.generic, _numpy.number,
                                            _numpy.integer, _numpy.floating)
finfo, iinfo, can_cast, promote_types = (_numpy.finfo, _numpy.iinfo, _numpy.can_cast,
                                         _numpy.promote_types)
newaxis, pi, e, inf, nan = None, _numpy.pi, _numpy.e, _numpy.inf, _numpy.nan

for _name in _core.UFUNCS:
    globals()[_name] = _core._ufunc(_name)
abs = globals()["absolute"]     # noqa: A001  (cupy.abs is cupy.absolute)
for _name in _core.FUNCTIONS:
    globals()[_name] = _core._function(getattr(_numpy, _name), _name)
for _name in _core.CREATION:
    globals()[_name] = _core._from_shape(getattr(_numpy, _name), _name)
del _name

from . import cuda, linalg, random  # noqa: E402  (they import the names above)

_core._PACKAGE = _sys.modules[__name__]

__all__ = ["ElementwiseKernel", "RawKernel", "RawModule", "ReductionKernel", "array",
           "asanyarray", "asarray", "ascontiguousarray", "asfortranarray", "asnumpy", "cuda",
           "get_array_module", "linalg", "ndarray", "random"]
