"""Reductions over axes: sum, mean, var, amax/amin, and PyTorch's max/min/argmax/argmin.

The reductions also accept NumPy's ``dtype=`` and ``out=None`` keywords, because ``np.sum(t)``,
``np.mean(t)``, ``np.max(t)`` call the tensor's own method with them.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import backend
from ..autograd import Function, Tensor, broadcast_to
from ._util import normalize_axis, pick_axis, pick_keepdims

# What max/min along a dimension return, as torch.return_types.max / .min: a tuple
# (values, indices) with those two field names.
max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])


def _expand_back(gy, in_shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input (re-insert axes)."""
    if axes is None:
        axes = tuple(range(len(in_shape)))
    if not keepdims:
        shape = [1 if i in axes else s for i, s in enumerate(in_shape)]
        gy = gy.reshape(tuple(shape))
    return gy


class Sum(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        gy = _expand_back(gy, self.in_shape, self.axes, self.keepdims)
        return broadcast_to(gy, self.in_shape)


class Mean(Function):
    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        # sum / count is what x.mean() computes, without NumPy's Python-level wrapper
        y = x.sum(axis=self.axes, keepdims=self.keepdims)
        count = x.size // y.size if y.size else 0
        self.scale = x.dtype.type(1 / count) if count else x.dtype.type(0)
        return y / count if count else y * x.dtype.type("nan")

    def backward(self, gy):
        gy = _expand_back(gy, self.in_shape, self.axes, self.keepdims)
        return broadcast_to(gy * self.scale, self.in_shape)


class Max(Function):
    """max (or min) over axes; ties share the gradient equally (PyTorch's amax/amin)."""

    def __init__(self, axes, keepdims, minimum=False):
        self.axes, self.keepdims, self.minimum = axes, keepdims, minimum

    def forward(self, x):
        self.in_shape = x.shape
        y = x.min(axis=self.axes, keepdims=True) if self.minimum else \
            x.max(axis=self.axes, keepdims=True)
        mask = (x == y).astype(x.dtype)
        self.weights = mask / mask.sum(axis=self.axes, keepdims=True)
        if not self.keepdims:
            y = y.reshape(_reduced_shape(x.shape, self.axes))
        return y

    def backward(self, gy):
        gy = _expand_back(gy, self.in_shape, self.axes, self.keepdims)
        return gy * self.weights


def _reduced_shape(shape, axes):
    if axes is None:
        return ()
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _numpy_keywords(x, op, dtype, out):
    """NumPy's dtype= (cast first, as torch's dtype=) and out= (only None) keywords."""
    if out is not None:
        raise TypeError(f"{op}: out= is not supported (the result is a new tensor)")
    return x if dtype is None else x.to(dtype=dtype)


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
    """Sum over ``axis`` (an int, a tuple, or None for all); ``dim``/``keepdim`` also work."""
    x = _numpy_keywords(x, "sum", dtype, out)
    axes = normalize_axis(pick_axis(axis, dim, "sum"), x.ndim, "sum")
    return Sum(axes, pick_keepdims(keepdims, keepdim))(x)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None, dtype=None, out=None):
    x = _numpy_keywords(x, "mean", dtype, out)
    axes = normalize_axis(pick_axis(axis, dim, "mean"), x.ndim, "mean")
    return Mean(axes, pick_keepdims(keepdims, keepdim))(x)


def amax(x, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
    """Largest value over ``axis`` (an int, a tuple, or None for all), values only, as
    ``torch.amax``; ties share the gradient equally."""
    x = _numpy_keywords(x, "amax", None, out)
    axes = normalize_axis(pick_axis(axis, dim, "amax"), x.ndim, "amax")
    if x.numel() == 0:
        raise ValueError(f"amax: cannot reduce an empty tensor of shape {x.shape}")
    return Max(axes, pick_keepdims(keepdims, keepdim))(x)


def amin(x, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
    """Smallest value over ``axis``, values only, as ``torch.amin``."""
    x = _numpy_keywords(x, "amin", None, out)
    axes = normalize_axis(pick_axis(axis, dim, "amin"), x.ndim, "amin")
    if x.numel() == 0:
        raise ValueError(f"amin: cannot reduce an empty tensor of shape {x.shape}")
    return Max(axes, pick_keepdims(keepdims, keepdim), minimum=True)(x)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
    """PyTorch's ``max``, in its three forms:

    * ``max(x)``: the largest value, a 0-d tensor;
    * ``max(x, dim, keepdim=False)``: a tuple ``(values, indices)`` (fields ``.values`` and
      ``.indices``) along one dimension; the gradient goes to the element the index names;
    * ``max(x, other)``: the element-wise maximum of two tensors (``maximum``).

    For the values over several dimensions use :func:`amax`.
    """
    return _max_min(x, axis, keepdims, dim, keepdim, out, minimum=False)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None, out=None):
    """PyTorch's ``min``: ``min(x)``, ``min(x, dim) -> (values, indices)``, ``min(x, other)``;
    see :func:`max`. For the values over several dimensions use :func:`amin`."""
    return _max_min(x, axis, keepdims, dim, keepdim, out, minimum=True)


def _max_min(x, axis, keepdims, dim, keepdim, out, minimum):
    op = "min" if minimum else "max"
    if isinstance(axis, Tensor) or (hasattr(axis, "shape") and not isinstance(axis, np.generic)):
        from .elementwise import maximum, minimum as minimum_
        return (minimum_ if minimum else maximum)(x, axis)
    x = _numpy_keywords(x, op, None, out)
    d = pick_axis(axis, dim, op)
    if d is None:
        if x.numel() == 0:
            raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
        return Max(None, pick_keepdims(keepdims, keepdim), minimum=minimum)(x)
    if isinstance(d, (tuple, list)):
        raise TypeError(f"{op}: dim must be one int ({op}(x, dim) returns values and indices "
                        f"along one dimension, as torch.{op}); for the values over several "
                        f"dimensions use lfs.a{op}(x, dim={tuple(d)})")
    keep = pick_keepdims(keepdims, keepdim)
    values, indices = _along_dim(x, d, keep, op, minimum)
    return (min_result if minimum else max_result)(values, indices)


def _along_dim(x, d, keep, op, minimum):
    """(values, indices) of the max/min of x along dimension d: the values are picked by
    indexing x (so the gradient goes to exactly the picked element, as PyTorch's)."""
    xp = backend.get_array_module(x.data)
    if x.ndim == 0:
        normalize_axis(d, 1, op)
        return x.clone(), Tensor(xp.zeros((), dtype=np.int64))
    axis = normalize_axis(d, x.ndim, op)[0]
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: dimension {axis} of the tensor (shape {x.shape}) is empty; "
                         "there is no value to pick")
    pick = xp.argmin if minimum else xp.argmax
    idx = pick(x.data, axis=axis, keepdims=True).astype(np.int64)
    index = tuple(idx if i == axis else
                  xp.arange(n).reshape((1,) * i + (n,) + (1,) * (x.ndim - i - 1))
                  for i, n in enumerate(x.shape))
    values = x[index]
    if not keep:
        shape = x.shape[:axis] + x.shape[axis + 1:]
        values, idx = values.reshape(shape), idx.reshape(shape)
    return values, Tensor(idx)


def argmax(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The index of the largest value along ``dim`` (of the flattened tensor if None), as
    ``torch.argmax``: an int64 tensor (first occurrence at ties)."""
    return _arg(x, axis, keepdims, dim, keepdim, minimum=False)


def argmin(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """The index of the smallest value along ``dim``, as ``torch.argmin``."""
    return _arg(x, axis, keepdims, dim, keepdim, minimum=True)


def _arg(x, axis, keepdims, dim, keepdim, minimum):
    op = "argmin" if minimum else "argmax"
    xp = backend.get_array_module(x.data)
    if x.numel() == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    d = pick_axis(axis, dim, op)
    keep = pick_keepdims(keepdims, keepdim)
    pick = xp.argmin if minimum else xp.argmax
    if d is None:
        idx = pick(x.data.reshape(-1))
        return Tensor(xp.asarray(idx, dtype=np.int64).reshape((1,) * x.ndim if keep else ()))
    a = normalize_axis(d, x.ndim, op)[0]
    return Tensor(pick(x.data, axis=a, keepdims=keep).astype(np.int64))


def var(x, axis=None, keepdims=False, *, correction=1, ddof=None, dim=None, keepdim=None,
        dtype=None, out=None):
    """Variance over ``axis`` with Bessel's correction by default, as ``torch.var``.

    ``correction`` (PyTorch) or ``ddof`` (NumPy) is subtracted from the count; use 0 for the
    population variance. Composed from primitives, so it is differentiable to any order.
    """
    x = _numpy_keywords(x, "var", dtype, out)
    if ddof is not None:
        correction = ddof
    axes = normalize_axis(pick_axis(axis, dim, "var"), x.ndim, "var")
    keep = pick_keepdims(keepdims, keepdim)
    n = x.numel() if axes is None else int(_prod(x.shape[a] for a in axes))
    if n - correction <= 0:
        raise ValueError(f"var: {n} element(s) with correction={correction} leaves no degrees of freedom")
    centered = x - mean(x, axes, keepdims=True)
    return sum(centered * centered, axes, keepdims=keep) * (1.0 / (n - correction))


def _prod(values):
    p = 1
    for v in values:
        p *= v
    return p


def _ensure_tensor(x):
    if not isinstance(x, Tensor):
        raise TypeError(f"expected a Tensor, got {type(x).__name__}")
    return x
