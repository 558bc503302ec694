"""Comparisons (``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``): element-wise, as PyTorch's,
giving boolean tensors that are not on the graph."""
from __future__ import annotations

from .. import backend
from ..autograd import Tensor
from ..autograd.ops import register
from ._util import as_tensor_like, broadcast_error


def _compare(a, b, ufunc_name, op):
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b, op, "the first operand")
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a, op, "the second operand")
    if a.device != b.device:
        raise backend.device_mismatch(op, "the second operand", b.device, a.device,
                                      "the first is")
    try:
        return Tensor(getattr(a.data, ufunc_name)(b.data))
    except ValueError as e:
        if "broadcast" in str(e):
            raise broadcast_error(op, a.shape, b.shape) from None
        raise


@register
def eq(a, b):
    return _compare(a, b, "__eq__", "eq")


@register
def ne(a, b):
    return _compare(a, b, "__ne__", "ne")


@register
def lt(a, b):
    return _compare(a, b, "__lt__", "lt")


@register
def le(a, b):
    return _compare(a, b, "__le__", "le")


@register
def gt(a, b):
    return _compare(a, b, "__gt__", "gt")


@register
def ge(a, b):
    return _compare(a, b, "__ge__", "ge")
