"""Reverse-mode automatic differentiation: Tensor, Function and the backward pass.

The engine imports nothing of this package above ``backend``. One idea per file, in the
order a reader meets them:

* ``tensor.py``: ``Tensor``, an array that records the operations applied to it; its
  operators call the differentiable functions of ``functional/`` through ``ops.py``, where
  those functions register themselves when they are defined;
* ``function.py``: ``Function``, one node of the graph (``forward`` on arrays,
  ``backward`` on gradients), and ``DeferredGradient``;
* ``backward.py``: the backward pass (``run_backward``, ``grad``): reverse topological order
  from creation numbers, un-broadcasting in one place, leaf gradients assigned once;
* ``formulas.py``: what backward formulas share (``sum_to``, ``broadcast_gradient``, ``unary``),
  on arrays and on Tensors alike, so one formula gives higher-order gradients too;
* ``grad_mode.py``: ``no_grad``, ``enable_grad``, ``set_grad_enabled`` (per thread);
* ``inplace.py``: ``x += y``, ``add_``, ``x[i] = v`` ...; ``versions.py``: the version
  counters that make backward refuse a value changed in place after it was saved;
* ``hooks.py``: post-accumulate-grad hooks on leaves.

``backward`` formulas are written once and run in two modes. Normally they receive raw
arrays and return raw arrays: fast, nothing recorded. With ``create_graph=True`` they
receive Tensors instead, so the very same formula records a graph of the gradient, which
can be differentiated again (higher-order derivatives). This works because the formulas
only use operators and methods that arrays and Tensors share (``+ - * / @ **``, ``.sum``,
``.reshape``, ``.transpose``...), plus the few dispatching helpers of ``formulas.py``.
"""
from __future__ import annotations

from ..backend import as_dtype as _as_dtype        # the old private name (now backend.as_dtype)
from . import ops
from .backward import _set_grad, grad, run_backward
from .formulas import broadcast_gradient, sum_to, unary
from .function import DeferredGradient, Function
from .grad_mode import (_mode, _set_create_graph, enable_grad, is_grad_enabled, no_grad,
                        set_grad_enabled)
from .hooks import RemovableHandle, post_accumulate_grad_hooks as _post_accumulate_grad_hooks
from .tensor import Tensor, parse_to_args
from .versions import increment_version

_set_grad_enabled = set_grad_enabled                # the old private name
broadcast_to = broadcast_gradient                   # the old name

__all__ = ["DeferredGradient", "Function", "RemovableHandle", "Tensor", "broadcast_gradient",
           "enable_grad", "grad", "increment_version", "is_grad_enabled", "no_grad", "ops",
           "parse_to_args", "run_backward", "set_grad_enabled", "sum_to", "unary"]
