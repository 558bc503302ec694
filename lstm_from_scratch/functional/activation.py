"""Activations: sigmoid, tanh, relu, softmax, log_softmax (all numerically stable)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, unary
from ._util import normalize_axis, pick_axis

# exp(-x) overflows float32 beyond x < -88.7 and float64 beyond x < -709.8; clipping the
# exponent there changes sigmoid by less than the smallest normal number of the dtype.
# (Keyed by dtype objects: dtype.name is a Python-level property that costs microseconds.)
_EXP_LIMIT = {np.dtype(np.float32): 88.0, np.dtype(np.float64): 709.0,
              np.dtype(np.float16): 11.0}


def _sigmoid_array(xp, x):
    """1 / (1 + exp(-x)) in four in-place passes, without overflow warnings.

    (0.5 * tanh(x / 2) + 0.5 is exact too, but NumPy's float32 tanh is about twice as slow
    as its exp on the CPUs we measured.)
    """
    y = xp.negative(x)
    limit = _EXP_LIMIT.get(x.dtype)
    if limit is not None:
        xp.minimum(y, limit, out=y)
    xp.exp(y, out=y)
    y += 1
    xp.reciprocal(y, out=y)
    return y


class Sigmoid(Function):
    def forward(self, x):
        return _sigmoid_array(self.xp, x)

    def backward(self, gy):
        y = self.saved_output()
        return gy * (y * (1 - y))


class Tanh(Function):
    def forward(self, x):
        return self.xp.tanh(x)

    def backward(self, gy):
        y = self.saved_output()
        return gy * (1 - y * y)


class ReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        # PyTorch's "x < 0 ? 0 : x", not x * mask: -1 * False is -0.0 (PyTorch: +0.0)
        return self.xp.where(x < 0, x.dtype.type(0), x)

    def backward(self, gy):
        return gy * self.mask


class Softmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = self.xp
        z = x - x.max(axis=self.axis, keepdims=True)     # largest logit becomes 0: no overflow
        e = xp.exp(z)
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def backward(self, gy):
        y = self.saved_output()
        gyy = gy * y
        return gyy - y * gyy.sum(axis=self.axis, keepdims=True)


class LogSoftmax(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = self.xp
        z = x - x.max(axis=self.axis, keepdims=True)
        return z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))

    def backward(self, gy):
        y = self.saved_output()
        return gy - unary("exp", y) * gy.sum(axis=self.axis, keepdims=True)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def relu(x):
    return ReLU()(x)


def _softmax_axis(x, axis, dim, op):
    axis = pick_axis(axis, dim, op)
    if axis is None:
        axis = -1
    return normalize_axis(axis, x.ndim, op)[0]


def softmax(x, axis=None, *, dim=None):
    """exp(x) / sum(exp(x)) along ``axis`` (default: the last)."""
    return Softmax(_softmax_axis(x, axis, dim, "softmax"))(x)


def log_softmax(x, axis=None, *, dim=None):
    """log(softmax(x)) computed as x - logsumexp(x), stable for large logits."""
    return LogSoftmax(_softmax_axis(x, axis, dim, "log_softmax"))(x)
