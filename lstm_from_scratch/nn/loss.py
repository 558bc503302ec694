"""The loss modules, as ``torch.nn``'s: ``MSELoss``, ``CrossEntropyLoss``, ``NLLLoss``,
``BCEWithLogitsLoss``. Each is a :class:`Module` (so it fits in a ``Sequential`` or a
``ModuleList``, follows ``.to()``/``.train()``, and appears in ``repr``) that calls the loss
function of ``lfs.nn.functional`` with the options given at construction. As in PyTorch, class
weights (``weight``, ``pos_weight``) are buffers: in the state dict, and moved and cast by
``.to()``.
"""
from __future__ import annotations

from ..autograd import Tensor
from ..functional import tensor
from ..functional.loss import (_check_reduction, binary_cross_entropy_with_logits,
                               cross_entropy, mse_loss, nll_loss)
from .module import Module

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss"]


def _as_buffer(value):
    """A weight given as an array or list becomes a Tensor (a copy, keeping an array's
    dtype)."""
    if value is None or isinstance(value, Tensor):
        return value
    return tensor(value)


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        _check_reduction(reduction, type(self).__name__)
        self.reduction = reduction

    def extra_repr(self):
        # the options that are not tensors (weights show in state_dict(), not in repr)
        return ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                         if not k.startswith("_") and k != "training" and v is not None)


class MSELoss(_Loss):
    """``MSELoss(reduction)(input, target)`` = ``mse_loss(input, target, reduction)``."""

    def forward(self, input, target):
        return mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """:func:`cross_entropy` with fixed options; ``weight`` (C,) is a buffer."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        return cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                             reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """:func:`nll_loss` with fixed options; ``weight`` (C,) is a buffer."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.ignore_index = ignore_index

    def forward(self, input, target):
        return nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                        reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """:func:`binary_cross_entropy_with_logits` with fixed options; ``weight`` and
    ``pos_weight`` are buffers."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _as_buffer(weight))
        self.register_buffer("pos_weight", _as_buffer(pos_weight))

    def forward(self, input, target):
        return binary_cross_entropy_with_logits(input, target, weight=self.weight,
                                                pos_weight=self.pos_weight,
                                                reduction=self.reduction)
