"""Casts, copies and device moves: ``astype``, ``clone``, ``to_device``. Each is
differentiable: the gradient is cast, passed or copied back."""
from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor
from ..autograd.ops import register


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        if isinstance(gy, Tensor):
            return astype(gy, self.in_dtype)
        return gy.astype(self.in_dtype)


class ToDevice(Function):
    """Copy between CPU and GPU; the gradient is copied back."""

    def __init__(self, device):
        self.device = device

    def __call__(self, x):
        # inputs and outputs live on different devices: bypass the same-device check
        self.source = x.device
        self.xp = backend.xp_for(self.device)
        return Function.__call__(self, x)

    def forward(self, x):
        return backend.to_device(x, self.device)

    def backward(self, gy):
        if isinstance(gy, Tensor):
            return to_device(gy, self.source)
        return backend.to_device(gy, self.source)


# ---- the public functions ------------------------------------------------------------------
@register
def astype(x, dtype):
    return AsType(dtype)(x)


@register
def clone(x):
    """A copy of ``x`` with its own memory; the gradient passes through unchanged."""
    return Clone()(x)


@register
def to_device(x, device):
    return ToDevice(device)(x)
