"""Casts, copies and device moves: ``astype``, ``clone``, ``to_device``. Each is
differentiable: the gradient is cast, passed or copied back."""
from __future__ import annotations

from .. import backend
from ..autograd import DeferredGradient, Function, Tensor
from ..autograd.ops import register


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


class ColumnMajor(Function):
    """The same matrix stored column by column (Fortran order), so that its transpose is a
    contiguous array. The gradient passes through unchanged, a deferred one (a weight's
    ``SumOfProducts``) too when the input can take it (a leaf); otherwise it is computed here."""

    accepts_deferred_gradient = True

    def forward(self, x):
        return self.xp.asfortranarray(x)

    def backward(self, gy):
        # The copy is the input as it was in forward: like a node that saved its input, refuse
        # an input changed in place since (PyTorch's LSTM keeps W_hh and refuses it too).
        self.saved_input(0)
        if isinstance(gy, DeferredGradient):
            creator = self.inputs[0].creator
            if creator is not None and not creator.accepts_deferred_gradient:
                return gy.materialize()
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


def column_major(x):
    """x (2-D) with its values stored column by column: ``x.T`` is then a contiguous array.
    Equal to x and differentiable. The recurrent layers apply it to W_hh once per sequence:
    OpenBLAS runs ``h @ W_hh.T`` with few rows of h several times faster from a contiguous
    ``W_hh^T`` than from a transposed view (docs/decisions.md, "Performance notes")."""
    if x.ndim != 2:
        raise ValueError(f"column_major: expected a 2-D tensor, got shape {x.shape}")
    return ColumnMajor()(x)


@register
def clone(x):
    """A copy of ``x`` with its own memory; the gradient passes through unchanged."""
    return Clone()(x)


@register
def to_device(x, device):
    return ToDevice(device)(x)
