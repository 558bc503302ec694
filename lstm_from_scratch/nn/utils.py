"""Gradient clipping, as ``torch.nn.utils``: ``clip_grad_norm_`` and ``clip_grad_value_``.

Exploding gradients are the RNN's other failure (Pascanu et al., 2013): one step with a huge
gradient throws the weights far away. Rescaling the whole gradient when its norm exceeds a
threshold keeps its direction and bounds the step. Both functions change ``p.grad`` of each
parameter in place (the ``.grad`` Tensor object is kept; its array is replaced).
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm"]


def _as_list(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grads(parameters):
    return [p.grad for p in _as_list(parameters) if p.grad is not None]


def get_total_norm(tensors, norm_type=2.0, error_if_nonfinite=False) -> Tensor:
    """The ``norm_type``-norm of all ``tensors`` together, as if concatenated into one vector.

    Returns a 0-d Tensor with the tensors' dtype and device (0 for no tensors)."""
    tensors = [t for t in _as_list(tensors) if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return Tensor(backend.xp_for(backend.get_device()).asarray(0.0, dtype="float32"))
    xp = backend.get_array_module(tensors[0].data)
    arrays = [t.data for t in tensors]
    if math.isinf(norm_type):
        norms = xp.stack([xp.abs(a).max() if a.size else xp.zeros((), a.dtype) for a in arrays])
        total = norms.max()
    elif norm_type == 2.0:
        # the norm of the per-tensor norms, as torch; each one by a BLAS dot product
        norms = xp.stack([xp.sqrt(xp.vdot(a.ravel(), a.ravel()).real) for a in arrays])
        total = xp.sqrt(xp.vdot(norms, norms))
    else:
        norms = xp.stack([(xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type) for a in arrays])
        total = (norms ** norm_type).sum() ** (1.0 / norm_type)
    total = xp.asarray(total, dtype=arrays[0].dtype)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"the total norm of order {norm_type} of the gradients is "
                           f"{float(total)}; the gradients cannot be clipped. Pass "
                           "error_if_nonfinite=False to clip anyway (the result is nan)")
    return Tensor(total)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False) -> Tensor:
    """Rescale the gradients of ``parameters`` so that their total norm is at most ``max_norm``
    (eq-clip, eq-train-clip).

    The total norm is taken over all gradients together; when it exceeds ``max_norm`` every
    gradient is multiplied by ``max_norm / (total_norm + 1e-6)`` (PyTorch's formula).

    Args:
        parameters: an iterable of Tensors (or one Tensor); those with ``.grad`` None are
            skipped.
        max_norm: the largest allowed norm.
        norm_type: 2.0 by default; ``float("inf")`` for the largest absolute value.
        error_if_nonfinite: raise if the total norm is nan or inf.
    Returns:
        The total norm before clipping, a 0-d Tensor (as ``torch``).
    """
    params = [p for p in _as_list(parameters) if p.grad is not None]
    grads = [p.grad for p in params]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    if not grads:
        return total
    xp = backend.get_array_module(total.data)
    clip_coef = xp.minimum(float(max_norm) / (total.data + 1e-6), 1.0).astype(total.dtype)
    for g in grads:
        # a new array: a gradient array may be shared with someone who kept it
        g.data = g.data * clip_coef
    return total


def clip_grad_value_(parameters, clip_value) -> None:
    """Clamp every gradient element of ``parameters`` to ``[-clip_value, clip_value]``."""
    clip_value = float(clip_value)
    for g in _grads(parameters):
        xp = backend.get_array_module(g.data)
        g.data = xp.clip(g.data, -clip_value, clip_value)
