"""Loss functions with PyTorch's names, signatures and semantics.

Every loss is composed from differentiable primitives (``log_softmax``, indexing, sums), so
its gradient comes from autograd and ``create_graph=True`` works through it. The one new
primitive is a stable softplus, log(1 + exp(z)), used by the binary cross-entropy.

Shapes (N: batch, C: classes, d1...: extra dimensions, e.g. time steps):

* ``mse_loss(input, target)``: any shape, both the same.
* ``cross_entropy(input, target)``: logits ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``;
  target class indices ``(N,)``, ``(N, d1, ...)`` or ``()`` (an integer dtype), or class
  probabilities of the input's shape (a float dtype).
* ``nll_loss(input, target)``: as ``cross_entropy`` but ``input`` holds log-probabilities.
* ``binary_cross_entropy_with_logits(input, target)``: any shape, both the same.

``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"``.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ._util import as_tensor_like
from .activation import _sigmoid_array, log_softmax, sigmoid

__all__ = ["binary_cross_entropy_with_logits", "cross_entropy", "mse_loss", "nll_loss"]

_REDUCTIONS = ("mean", "sum", "none")


# ---- argument checks ------------------------------------------------------------------------
def _check_reduction(reduction, op):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _check_input(x, op, name="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


def _raw_target(target, like, op):
    """The target as an array on ``like``'s device (class indices are never differentiated)."""
    arr = backend.array_on(target.data if isinstance(target, Tensor) else target, like.device,
                           op=op, what="target", other="the input is",
                           host_data=not isinstance(target, Tensor))
    if arr.dtype.kind == "O":
        raise TypeError(f"{op}: target must be numeric, got an object array")
    return arr


def _reduce(losses, reduction):
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.mean()


# ---- mean squared error ----------------------------------------------------------------------
def mse_loss(input, target, reduction="mean"):
    """Mean squared error ``(input - target) ** 2`` reduced by ``reduction``.

    Args:
        input: Tensor of any shape.
        target: Tensor or array of the same shape and floating dtype (a gradient flows to
            it too when it requires one); an integer target takes the input's dtype.
    Returns:
        A scalar Tensor, or a Tensor of ``input``'s shape for ``reduction="none"``.

    Unlike PyTorch, which warns and broadcasts, a shape mismatch is an error: broadcasting a
    (N,) target against an (N, 1) prediction silently computes an (N, N) loss.
    """
    _check_reduction(reduction, "mse_loss")
    _check_input(input, "mse_loss")
    target = as_tensor_like(target, input)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"mse_loss: input has shape {tuple(input.shape)} but target has shape "
                         f"{tuple(target.shape)}; they must be equal (reshape one of them)")
    if target.dtype.kind == "f" and target.dtype != input.dtype:
        raise TypeError(f"mse_loss: input has dtype {input.dtype} but target has dtype "
                        f"{target.dtype} (float32 and float64 never mix silently, an array "
                        f"no more than a tensor); convert the target, e.g. with "
                        f".astype(np.{input.dtype}) or .to(lfs.{input.dtype})")
    diff = input - target
    return _reduce(diff * diff, reduction)


# ---- negative log-likelihood and cross-entropy -----------------------------------------------------
def _class_layout(x, target_shape, op):
    """Check shapes; return (number of classes C, the shape of the per-element loss)."""
    if x.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    if x.ndim == 1:                                   # (C,) with a 0-d target
        expected = ()
    else:                                             # (N, C, d1, ...) with target (N, d1, ...)
        expected = (x.shape[0],) + tuple(x.shape[2:])
    if tuple(target_shape) != expected:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} (class dimension "
                         f"{0 if x.ndim == 1 else 1}) needs a target of shape {expected}, got "
                         f"target of shape {tuple(target_shape)}")
    return x.shape[0 if x.ndim == 1 else 1], expected


def _as_rows(x):
    """(N, C, d1, ...) or (C,) -> (M, C) with the class dimension last."""
    if x.ndim == 1:
        return x.reshape((1, x.shape[0]))
    if x.ndim > 2:
        axes = (0,) + tuple(range(2, x.ndim)) + (1,)
        x = x.permute(axes)
    return x.reshape((-1, x.shape[-1]))


def _class_indices(target, x, op):
    t = _raw_target(target, x, op)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold class indices with an integer dtype, got dtype "
                        f"{t.dtype} (shape {tuple(t.shape)}); convert with .astype(np.int64)"
                        + (" or pass class probabilities of the input's shape"
                           if op == "cross_entropy" else ""))
    return t


def _check_range(t, valid, n_classes, ignore_index, op):
    xp = backend.get_array_module(t)
    bad = valid & ((t < 0) | (t >= n_classes))
    if bool(bad.any()):
        value = int(t[bad].reshape(-1)[0])
        raise IndexError(f"{op}: target {value} is out of bounds: the input has C={n_classes} "
                         f"classes, so a target must be in [0, {n_classes - 1}] "
                         f"(or equal ignore_index={ignore_index})")
    return xp


def _nll(logp, t, weight, ignore_index, reduction, op):
    """nll on validated inputs; also returns the per-element weights (for label smoothing)."""
    n_classes, out_shape = _class_layout(logp, t.shape, op)
    valid = t != ignore_index
    xp = _check_range(t, valid, n_classes, ignore_index, op)
    rows = _as_rows(logp)                                   # (M, C)
    t_flat = xp.where(valid, t, 0).reshape(-1).astype(np.int64)
    valid_flat = valid.reshape(-1)
    picked = rows[xp.arange(rows.shape[0]), t_flat]        # (M,): log p of each target class
    if weight is None:
        w = valid_flat.astype(logp.dtype)                  # a constant array
    else:
        w = weight[t_flat] * valid_flat.astype(logp.dtype)  # a Tensor: weight may need a grad
    losses = -(picked * w)
    if reduction == "none":
        return losses.reshape(out_shape), w
    if reduction == "sum":
        return losses.sum(), w
    # weighted mean, PyTorch's definition: sum_i w_i l_i / sum_i w_i (nan if all are ignored)
    with np.errstate(invalid="ignore", divide="ignore"):
        return losses.sum() / w.sum(), w


def _weight_tensor(weight, x, op):
    if weight is None:
        return None
    w = as_tensor_like(weight, x)
    n_classes = x.shape[0 if x.ndim == 1 else 1]
    if tuple(w.shape) != (n_classes,):
        raise ValueError(f"{op}: weight must have shape ({n_classes},) (one per class), got "
                         f"shape {tuple(w.shape)}")
    return w


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood: ``-input[n, target[n]]``, weighted and reduced.

    Args:
        input: log-probabilities, ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)``.
        target: class indices (integer dtype), ``(N,)``, ``(N, d1, ...)`` or ``()``.
        weight: optional ``(C,)`` weight per class.
        ignore_index: targets equal to it contribute nothing (and do not count in the mean).
        reduction: ``"mean"`` divides by the summed weights of the counted targets.
    """
    _check_reduction(reduction, "nll_loss")
    _check_input(input, "nll_loss")
    t = _class_indices(target, input, "nll_loss")
    w = _weight_tensor(weight, input, "nll_loss")
    return _nll(input, t, w, ignore_index, reduction, "nll_loss")[0]


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy between logits and targets: ``nll_loss(log_softmax(input, 1), target)``.

    Stable for any logits (log_softmax subtracts the largest logit before exponentiating), so
    logits of 1e4 give finite losses and gradients.

    Args:
        input: logits, ``(N, C)``, ``(N, C, d1, ...)`` or ``(C,)`` (class dimension 1, or 0
            for a 1-D input).
        target: class indices with an integer dtype, ``(N,)``, ``(N, d1, ...)`` or ``()``;
            or class probabilities with a float dtype and the shape of ``input``.
        weight: optional ``(C,)`` weight per class.
        ignore_index: targets equal to it contribute nothing (class indices only).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (loss per element, ``(N, d1, ...)``).
        label_smoothing: in [0, 1]; the target becomes (1 - eps) one-hot + eps / C.
    """
    op = "cross_entropy"
    _check_reduction(reduction, op)
    _check_input(input, op)
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], got {label_smoothing}")
    if input.ndim == 0:
        raise ValueError(f"{op}: input must have a class dimension, got a 0-d tensor")
    class_axis = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_axis]
    w = _weight_tensor(weight, input, op)
    logp = log_softmax(input, axis=class_axis)
    w_view = None
    if w is not None:                                   # broadcastable along the class axis
        w_view = w.reshape((n_classes,) + (1,) * (input.ndim - 1 - class_axis))

    raw = target.data if isinstance(target, Tensor) else target
    raw_dtype = raw.dtype if hasattr(raw, "dtype") else np.asarray(raw).dtype
    if raw_dtype.kind == "f" and tuple(np.shape(raw) if not hasattr(raw, "shape") else raw.shape) \
            == tuple(input.shape):
        return _cross_entropy_probs(logp, target, w_view, reduction, label_smoothing, class_axis)

    t = _class_indices(target, input, op)
    nll, w_per = _nll(logp, t, w, ignore_index, reduction, op)
    eps = float(label_smoothing)
    if eps == 0.0:
        return nll
    # PyTorch's label smoothing: mix the nll with the (weighted) mean of -log p over classes
    valid = (t != ignore_index).astype(input.dtype)
    smooth = -((logp * w_view) if w_view is not None else logp).sum(axis=class_axis) * valid
    if reduction == "none":
        ret = smooth
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        denom = w_per.sum() if w is not None else valid.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            ret = smooth.sum() / denom
    return nll * (1.0 - eps) + ret * (eps / n_classes)


def _cross_entropy_probs(logp, target, w_view, reduction, label_smoothing, class_axis):
    op = "cross_entropy"
    t = as_tensor_like(target, logp)
    if tuple(t.shape) != tuple(logp.shape):
        raise ValueError(f"{op}: a float target holds class probabilities and must have the "
                         f"input's shape {tuple(logp.shape)}, got target of shape "
                         f"{tuple(t.shape)}; for class indices use an integer dtype")
    n_classes = logp.shape[class_axis]
    eps = float(label_smoothing)
    if eps > 0.0:
        t = t * (1.0 - eps) + eps / n_classes
    prod = logp * t
    if w_view is not None:
        prod = prod * w_view
    losses = -prod.sum(axis=class_axis)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    n = logp.numel()
    return losses.sum() / float(max(n // n_classes, 1)) if n else losses.sum()


# ---- binary cross-entropy on logits -----------------------------------------------------------------
class _Softplus(Function):
    """log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)): no overflow for any z."""

    def forward(self, z):
        xp = self.xp
        return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))

    def backward(self, gy):
        z = self.saved_input()
        if isinstance(z, Tensor):          # recording the backward pass (create_graph)
            return gy * sigmoid(z)
        return gy * _sigmoid_array(self.xp, z)


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None,
                                     reduction="mean"):
    """Binary cross-entropy of ``sigmoid(input)`` against ``target`` in [0, 1], computed
    from the logits without forming the sigmoid, so it is stable for any logit:

        l = (1 - y) x + (1 + (p - 1) y) softplus(-x)        (p = pos_weight, 1 if None)

    Args:
        input: logits of any shape.
        target: same shape as input, values in [0, 1].
        weight: optional weight broadcastable to input (multiplies each element's loss).
        pos_weight: optional weight of the positive class, broadcastable to input (usually
            one per class, ``(C,)``, along the last dimension).
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(reduction, op)
    _check_input(input, op)
    y = as_tensor_like(target, input)
    if tuple(y.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target has shape {tuple(y.shape)} but input has shape "
                         f"{tuple(input.shape)}; they must be equal")
    sp = _Softplus()(-input)
    if pos_weight is not None:
        p = as_tensor_like(pos_weight, input)
        losses = (1.0 - y) * input + (1.0 + (p - 1.0) * y) * sp
    else:
        losses = (1.0 - y) * input + sp
    if weight is not None:
        losses = losses * as_tensor_like(weight, input)
    return _reduce(losses, reduction)


# The loss classes (MSELoss, CrossEntropyLoss, ...) are Modules, so they live in lfs.nn
# (nn/loss.py); this module keeps the functions. The old import path still works.
LOSS_CLASSES = ("BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss")


def __getattr__(name):
    if name in LOSS_CLASSES:            # `from lstm_from_scratch.functional.loss import MSELoss`
        from ..nn import loss as _modules
        return getattr(_modules, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
