"""Optimizers and learning-rate schedules, with PyTorch's names and update rules.

    >>> opt = lfs.optim.Adam(model.parameters(), lr=1e-3)
    >>> sched = lfs.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    >>> loss.backward(); opt.step(); opt.zero_grad(); sched.step()

Every update is done in place on ``p.data`` (a NumPy or CuPy array, whose dtype is kept), so
the parameters a model holds stay the same objects; parameters whose ``.grad`` is None are
skipped. The update formulas follow ``torch.optim``'s step by step, so both libraries give
the same parameters after the same gradients (tested to 1e-12 in float64).
"""
from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "Optimizer", "SGD", "lr_scheduler"]
