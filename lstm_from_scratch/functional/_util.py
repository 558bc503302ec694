"""Turning arguments into Tensors with the right dtype and device, and clear shape errors."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Tensor


def as_tensor_like(value, like: Tensor, op: str = "operation",
                   what: str = "an operand") -> Tensor:
    """``value`` as a Tensor on ``like``'s device.

    The dtype rule: what has no dtype of its own (Python numbers, lists) and NumPy scalars
    take ``like``'s dtype, so a Python float never promotes a float32 tensor to float64. An
    array keeps its dtype, exactly as a Tensor operand would, so ``binary_operands`` treats
    ``t + array`` as ``t + tensor(array)``: float32 with float64 is an error either way.
    Host data (NumPy arrays, lists) is copied to ``like``'s device; a CuPy array for a CPU
    tensor is an error naming ``op``, ``what`` and both devices.
    """
    if isinstance(value, Tensor):
        return value
    xp = backend.get_array_module(like.data)
    cls = value.__class__
    if (cls is float or cls is int) and like.data.dtype.kind == "f":   # 1 - y, 0.5 * x ...
        return Tensor(xp.asarray(value, dtype=like.data.dtype))
    if isinstance(value, (numbers.Number, np.generic)) and not isinstance(value, bool):
        dt = like.data.dtype
        if dt.kind != "f" and isinstance(value, (float, np.floating)):
            dt = np.dtype(np.float32) if isinstance(value, float) else value.dtype
        return Tensor(xp.asarray(value, dtype=dt))
    arr = backend.array_on(value, like.device, op=op, what=what)
    if not hasattr(value, "dtype") and arr.dtype.kind in "fiu" and like.data.dtype.kind == "f" \
            and arr.dtype != like.data.dtype:
        arr = arr.astype(like.data.dtype)           # Python data: no dtype of its own
    return Tensor(arr)


def binary_operands(a, b, op: str):
    """Both operands as Tensors with one common floating dtype.

    Mixing float32 and float64 is an error (the library never promotes silently), whether the
    other operand is a Tensor or a NumPy/CuPy array; an integer or boolean operand is cast to
    the other operand's floating dtype.
    """
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b, op, "the first operand")
    elif not isinstance(b, Tensor):
        b = as_tensor_like(b, a, op, "the second operand")
    da, db = a.data.dtype, b.data.dtype
    if da != db:
        fa, fb = da.kind == "f", db.kind == "f"
        if fa and fb:
            raise TypeError(
                f"{op}: operands have dtypes {da} and {db}; the library never promotes float32 "
                f"to float64 silently (a NumPy array counts as a tensor of its dtype): convert "
                f"one with .to(dtype=...) (an array with .astype(...)) first")
        if fa:
            b = Tensor(b.data.astype(da))
        elif fb:
            a = Tensor(a.data.astype(db))
    return a, b


def broadcast_error(op: str, *shapes) -> ValueError:
    shown = " and ".join(str(tuple(s)) for s in shapes)
    return ValueError(f"{op}: shapes {shown} cannot be broadcast together "
                      "(NumPy rules: trailing dimensions must be equal or 1)")


def normalize_axis(axis, ndim: int, op: str):
    """A tuple of non-negative axes, or None for all axes; errors name the bad axis."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimension(s)")
        out.append(int(ax) % max(ndim, 1))
    return tuple(out)


def pick_axis(axis, dim, op: str):
    """Accept NumPy's ``axis`` or PyTorch's ``dim`` (not both)."""
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: pass axis= or dim=, not both")
        return dim
    return axis


def pick_keepdims(keepdims, keepdim):
    return bool(keepdim) if keepdim is not None else bool(keepdims)
