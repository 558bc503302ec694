"""Tensor constructors: tensor, zeros, ones, full, arange, randn, rand and the *_like forms.

Floating-point constructors default to float32 (as PyTorch); every random draw comes from the
library's generator for the device (``lfs.manual_seed`` seeds it).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor, _as_dtype

_DEFAULT_FLOAT = np.dtype(np.float32)


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _float_dtype(dtype):
    dt = _as_dtype(dtype) or _DEFAULT_FLOAT
    return dt


def _target_device(data, device):
    """Where a new tensor made from ``data`` goes (PyTorch's rule): ``device`` if given; else
    the device of data that already lives on one (a Tensor, a CuPy array); else, for host data
    (lists, scalars, NumPy arrays), the default device ``lfs.get_device()``."""
    if device is not None:
        return backend._parse_device(device)
    if isinstance(data, Tensor):
        return data.device
    if backend.device_of(data) == "gpu":
        return "gpu"
    return backend.get_device()


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data`` (list, scalar, NumPy/CuPy array, Tensor).

    Python floats become float32 (PyTorch's default); NumPy arrays keep their dtype; Python
    ints become int64. Placement: ``device`` if given; a Tensor or CuPy array keeps its device;
    host data (lists, scalars, NumPy arrays) goes to the default device, ``lfs.get_device()``.
    """
    dev = _target_device(data, device)
    if isinstance(data, Tensor):
        data = data.data
    xp = backend.xp_for(dev)
    dt = _as_dtype(dtype)
    if dt is None and not hasattr(data, "dtype"):
        try:
            probe = np.asarray(data)
        except ValueError:              # NumPy 2: ragged nested lists
            raise TypeError("tensor: cannot make a tensor from ragged nested lists (every "
                            "row must have the same length)") from None
        dt = _DEFAULT_FLOAT if probe.dtype.kind == "f" else probe.dtype
        if probe.dtype.kind == "O":
            raise TypeError(f"tensor: cannot make a tensor from {type(data).__name__} "
                            "(ragged nested lists or non-numeric values)")
    if backend.device_of(data) != dev and hasattr(data, "dtype") and not isinstance(data, np.generic):
        data = backend.to_device(data, dev)
    arr = xp.array(data, dtype=dt, copy=True)
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` (same placement rule) but shares memory with an array that already has
    the right dtype and lives on the right device."""
    if isinstance(data, Tensor) and dtype is None and device is None:
        return data
    if hasattr(data, "dtype") and not isinstance(data, (np.generic, Tensor)) and dtype is None \
            and _target_device(data, device) == backend.device_of(data):
        return Tensor(data)
    return tensor(data, dtype=dtype, device=device)


def _make(fill, size, dtype, device, requires_grad):
    dev = backend._parse_device(device)
    xp = backend.xp_for(dev)
    return Tensor(fill(xp, _shape(size), _float_dtype(dtype)), requires_grad=requires_grad)


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, s, d: xp.zeros(s, dtype=d), size, dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, s, d: xp.ones(s, dtype=d), size, dtype, device, requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _make(lambda xp, s, d: xp.full(s, fill_value, dtype=d), (size,) if isinstance(size, int)
                 else (tuple(size),), dtype, device, requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Like ``torch.arange``: integers give int64, any float argument gives float32."""
    if end is None:
        start, end = 0, start
    dt = _as_dtype(dtype)
    if dt is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dt = np.dtype(np.int64) if ints else _DEFAULT_FLOAT
    xp = backend.xp_for(backend._parse_device(device))
    return Tensor(xp.arange(start, end, step, dtype=dt), requires_grad=requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the library's generator (seed: ``lfs.manual_seed``)."""
    dev = backend._parse_device(device)
    dt = _float_dtype(dtype)
    g = backend.rng(dev)
    return Tensor(g.standard_normal(_shape(size), dtype=dt), requires_grad=requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) from the library's generator."""
    dev = backend._parse_device(device)
    dt = _float_dtype(dtype)
    g = backend.rng(dev)
    return Tensor(g.random(_shape(size), dtype=dt), requires_grad=requires_grad)


def uniform(low, high, *size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [low, high) (used by layer initialisation)."""
    t = rand(*size, dtype=dtype, device=device)
    t.data *= t.data.dtype.type(high - low)
    t.data += t.data.dtype.type(low)
    return t.requires_grad_(requires_grad)


def _like(x, dtype, device):
    return (dtype if dtype is not None else x.dtype,
            device if device is not None else x.device)


def zeros_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return zeros(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return ones(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(x, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return full(x.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def randn_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return randn(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def rand_like(x, dtype=None, device=None, requires_grad=False) -> Tensor:
    dt, dev = _like(x, dtype, device)
    return rand(x.shape, dtype=dt, device=dev, requires_grad=requires_grad)
