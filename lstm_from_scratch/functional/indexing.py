"""Indexing: ``x[index]`` (``getitem``) and its adjoint, the scatter-add of the gradient
(repeated indices accumulate), and ``x[index] = v`` recorded as ``setitem``."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ..autograd.ops import register


def _has_advanced_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if isinstance(it, (list, np.ndarray)) or hasattr(it, "__cuda_array_interface__"):
            return True
        if isinstance(it, Tensor):
            return True
    return False


def _unwrap_index(index, xp):
    """Tensors and lists in an index become arrays of the data's module (host indices are
    copied to the GPU, as PyTorch allows; GPU indices for CPU data are an error)."""
    device = "cpu" if xp is np else "gpu"

    def conv(it):
        if isinstance(it, Tensor):
            it = it.data
        if isinstance(it, (list, np.ndarray)) or hasattr(it, "__cuda_array_interface__"):
            arr = backend.array_on(it, device, op="getitem", what="an index array",
                                   other="the indexed tensor is")
            if arr.dtype.kind not in "iub":
                raise IndexError(f"index arrays must be integer or boolean, got dtype {arr.dtype}")
            return arr
        return it
    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)


def _scatter_add(xp, target, index, values):
    """target[index] += values with repeated indices adding up, on NumPy and CuPy."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


class GetItem(Function):
    def __init__(self, index, advanced):
        self.index, self.advanced = index, advanced

    def forward(self, x):
        self.in_shape = x.shape
        y = x[self.index]
        if isinstance(y, np.generic):
            # NumPy returns a scalar (a copy) for a full integer index; PyTorch a 0-d view,
            # which in-place writes (e = x[0]; e += 1) must reach: ask NumPy for the view
            y = x[(self.index if isinstance(self.index, tuple) else (self.index,)) + (Ellipsis,)]
        return y

    def backward(self, gy):
        return ScatterAdd(self.index, self.in_shape, self.advanced)(gy) if isinstance(gy, Tensor) \
            else ScatterAdd(self.index, self.in_shape, self.advanced).forward_with(self.xp, gy)


class ScatterAdd(Function):
    """The adjoint of indexing: zeros of ``shape`` with ``gy`` added at ``index``."""

    def __init__(self, index, shape, advanced):
        self.index, self.shape, self.advanced = index, shape, advanced

    def forward_with(self, xp, gy):
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if self.advanced:
            _scatter_add(xp, gx, self.index, gy)     # repeated indices accumulate
        else:
            gx[self.index] = gy                      # basic slices never repeat an element
        return gx

    def forward(self, gy):
        return self.forward_with(self.xp, gy)

    def backward(self, ggx):
        return ggx[self.index]


class SetItem(Function):
    """``x[index] = v`` out of place: a copy of x with v written at index. The gradient of x
    is zero where v was written; v gets the gradient of the positions it was written to."""

    def __init__(self, index):
        self.index = index

    def forward(self, x, v):
        out = x.copy()
        out[self.index] = v
        keep = self.xp.ones(x.shape, dtype=bool)
        keep[self.index] = False
        self.keep = keep
        return out

    def backward(self, gy):
        gx = gy * self.keep if self.needs_input_grad[0] else None
        gv = gy[self.index] if self.needs_input_grad[1] else None
        return gx, gv           # the engine sums gv back to v's shape (broadcast values)


# ---- public functions ---------------------------------------------------------------------------
@register
def getitem(x, index):
    xp = backend.get_array_module(x.data)
    advanced = _has_advanced_index(index)
    index = _unwrap_index(index, xp) if advanced else index
    try:
        return GetItem(index, advanced)(x)
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {x.shape}: {e}") from None


@register
def plain_index(index, array):
    """An index for ``array`` with Tensors and lists turned into arrays of its module."""
    if not _has_advanced_index(index):
        return index
    return _unwrap_index(index, backend.get_array_module(array))


@register
def setitem(x, index, value):
    """``x`` with ``value`` written at ``index``, as a new tensor on the graph (what
    ``x[index] = value`` records; see ``Tensor.__setitem__``)."""
    if x.dtype != value.dtype:
        raise TypeError(f"setitem: value has dtype {value.dtype}, the tensor {x.dtype}")
    key = plain_index(index, x.data)
    try:
        return SetItem(key)(x, value)
    except (ValueError, IndexError) as e:
        raise type(e)(f"setitem: cannot assign a value of shape {value.shape} to index "
                      f"{index!r} of a tensor of shape {x.shape}: {e}") from None
