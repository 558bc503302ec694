"""The differentiable primitives, grouped by kind. Each module registers the functions that
``Tensor``'s operators and methods call (``@register`` from ``autograd.ops``) where it defines them.

``lfs.exp(x)``, ``x.exp()`` and ``lfs.functional.exp(x)`` are the same operation.
"""
from __future__ import annotations

from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .creation import (arange, as_tensor, full, full_like, ones, ones_like, rand, rand_like,
                       randn, randn_like, tensor, uniform, zeros, zeros_like)
from .compare import eq, ge, gt, le, lt, ne
from .conversion import astype, clone, column_major, to_device
from .elementwise import (abs, add, clamp, clip, div, exp, log, masked_fill, maximum, minimum, mul,
                          neg, pow, sqrt, sub, where)
from .linalg import linear, matmul
from .reduction import amax, amin, argmax, argmin, max, mean, min, sum, var
from .indexing import getitem, plain_index, setitem
from .shape import (broadcast_to, cat, chunk, concat, flatten, flip, permute, reshape, split,
                    squeeze, stack, swapaxes, transpose, unsqueeze)

__all__ = [
    "abs", "add", "amax", "amin", "arange", "argmax", "argmin", "as_tensor", "astype",
    "broadcast_to", "cat", "chunk", "clamp", "clip", "clone", "concat", "div", "eq", "exp",
    "flatten", "flip", "full", "full_like", "ge", "getitem", "gt", "le", "linear", "log",
    "log_softmax", "lt", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "mul", "ne",
    "neg", "ones", "ones_like", "permute", "pow", "rand", "rand_like", "randn", "randn_like",
    "relu", "reshape", "setitem", "sigmoid", "softmax", "split", "sqrt", "squeeze", "stack",
    "sub", "sum", "swapaxes", "tanh", "tensor", "to_device", "transpose", "uniform",
    "unsqueeze", "var", "where", "zeros", "zeros_like",
]

