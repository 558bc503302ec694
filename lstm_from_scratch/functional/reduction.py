"""Reductions over axes: sum, mean, max, min, var (with keepdims)."""
from __future__ import annotations

from ..autograd import Function, Tensor, broadcast_to
from ._util import normalize_axis, pick_axis, pick_keepdims


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


def sum(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Sum over ``axis`` (an int, a tuple, or None for all); ``dim``/``keepdim`` also work."""
    axes = normalize_axis(pick_axis(axis, dim, "sum"), x.ndim, "sum")
    return Sum(axes, pick_keepdims(keepdims, keepdim))(x)


def mean(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axes = normalize_axis(pick_axis(axis, dim, "mean"), x.ndim, "mean")
    return Mean(axes, pick_keepdims(keepdims, keepdim))(x)


def max(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    """Largest value over ``axis`` (values only, like ``torch.amax``)."""
    axes = normalize_axis(pick_axis(axis, dim, "max"), x.ndim, "max")
    if x.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    return Max(axes, pick_keepdims(keepdims, keepdim))(x)


def min(x, axis=None, keepdims=False, *, dim=None, keepdim=None):
    axes = normalize_axis(pick_axis(axis, dim, "min"), x.ndim, "min")
    if x.size == 0:
        raise ValueError(f"min: cannot reduce an empty tensor of shape {x.shape}")
    return Max(axes, pick_keepdims(keepdims, keepdim), minimum=True)(x)


def var(x, axis=None, keepdims=False, *, correction=1, ddof=None, dim=None, keepdim=None):
    """Variance over ``axis`` with Bessel's correction by default, as ``torch.var``.

    ``correction`` (PyTorch) or ``ddof`` (NumPy) is subtracted from the count; use 0 for the
    population variance. Composed from primitives, so it is differentiable to any order.
    """
    if ddof is not None:
        correction = ddof
    axes = normalize_axis(pick_axis(axis, dim, "var"), x.ndim, "var")
    keep = pick_keepdims(keepdims, keepdim)
    n = x.size if axes is None else int(_prod(x.shape[a] for a in axes))
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
