"""The differentiable primitives, grouped by kind, and the Tensor methods that call them.

``lfs.exp(x)``, ``x.exp()`` and ``lfs.functional.exp(x)`` are the same operation.
"""
from __future__ import annotations

from ..autograd import Tensor
from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .creation import (arange, as_tensor, full, full_like, ones, ones_like, rand, rand_like,
                       randn, randn_like, tensor, uniform, zeros, zeros_like)
from .elementwise import (abs, add, astype, clamp, clip, clone, div, eq, exp, ge, gt, le, log, lt,
                          masked_fill, maximum, minimum, mul, ne, neg, pow, sqrt, sub, to_device, where)
from .linalg import linear, matmul
from .reduction import amax, amin, argmax, argmin, max, mean, min, sum, var
from .shape import (broadcast_to, cat, chunk, concat, flatten, getitem, permute, plain_index,
                    reshape, setitem, split, squeeze, stack, swapaxes, transpose, unsqueeze)

__all__ = [
    "abs", "add", "amax", "amin", "arange", "argmax", "argmin", "as_tensor", "astype",
    "broadcast_to", "cat", "chunk", "clamp", "clip", "clone", "concat", "div", "eq", "exp",
    "flatten", "full", "full_like", "ge", "getitem", "gt", "le", "linear", "log",
    "log_softmax", "lt", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "ne",
    "neg", "ones", "ones_like", "permute", "pow", "rand", "rand_like", "randn", "randn_like",
    "relu", "reshape", "setitem", "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack",
    "sub", "sum", "swapaxes", "tanh", "tensor", "to_device", "transpose", "uniform",
    "unsqueeze", "var", "where", "zeros", "zeros_like",
]


def _reflected(fn):
    return lambda self, other: fn(other, self)


def _attach_tensor_methods():
    T = Tensor
    T.__add__, T.__radd__ = add, _reflected(add)
    T.__sub__, T.__rsub__ = sub, _reflected(sub)
    T.__mul__, T.__rmul__ = mul, _reflected(mul)
    T.__truediv__, T.__rtruediv__ = div, _reflected(div)
    T.__matmul__, T.__rmatmul__ = matmul, _reflected(matmul)
    T.__pow__ = pow
    T.__rpow__ = _reflected(pow)
    T.__neg__ = neg
    T.__pos__ = lambda self: self
    T.__abs__ = abs
    T.__getitem__ = getitem
    T.__eq__, T.__ne__ = eq, ne
    T.__lt__, T.__le__, T.__gt__, T.__ge__ = lt, le, gt, ge
    for name in ("exp", "log", "sqrt", "abs", "sigmoid", "tanh", "relu", "softmax",
                 "log_softmax", "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin",
                 "var", "reshape", "transpose",
                 "permute", "swapaxes", "broadcast_to", "squeeze", "unsqueeze", "flatten",
                 "chunk", "split", "clip", "clamp", "matmul", "maximum", "minimum", "pow"):
        setattr(T, name, globals()[name])
    T.masked_fill = masked_fill
    T.view = reshape
    T.expand = lambda self, *shape: broadcast_to(
        self, tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)


_attach_tensor_methods()
