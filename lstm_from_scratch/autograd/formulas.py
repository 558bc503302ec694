"""Helpers that backward formulas share; each works on arrays (a normal backward pass) and on
Tensors (``create_graph=True``), so one formula gives first- and higher-order gradients."""
from __future__ import annotations

from .. import backend
from . import ops
from .tensor import Tensor


def sum_to(g, shape):
    """Sum ``g`` over the axes along which ``shape`` was broadcast to ``g.shape``."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and g.shape[i + lead] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    if lead or g.shape != shape:
        g = g.reshape(shape)
    return g


def broadcast_gradient(g, shape):
    """Broadcast a gradient (an array or a Tensor) to ``shape``, for backward formulas (a
    reduction's gradient goes back to every element it reduced). Not ``functional.broadcast_to``,
    which is the differentiable op on Tensors and returns a read-only view.

    An array is materialised (a new, writable array) rather than returned as a read-only
    broadcast view: ``xp.broadcast_to`` costs several microseconds in NumPy, and the
    gradient's first user makes a full-size array anyway.
    """
    if isinstance(g, Tensor):
        return ops.broadcast_to(g, shape)
    out = backend.get_array_module(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def unary(name, x):
    """Apply elementwise function ``name`` (exp, log, tanh, ...) to an array or Tensor."""
    if isinstance(x, Tensor):
        return getattr(ops, name)(x)
    return getattr(backend.get_array_module(x), name)(x)
