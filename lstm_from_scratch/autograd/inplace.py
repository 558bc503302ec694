"""In-place operations on tensors (``x += y``, ``add_``, ``zero_``, ``x[i] = v`` ...), as
PyTorch's: they write into the tensor's array, bump the version of its memory and, when an
operand requires grad, are recorded as the out-of-place op plus a rebase of the tensor.

``Tensor`` (``tensor.py``) inherits these methods from ``InPlaceMethods``; they are here
because they are one idea with its own rules (see docs/decisions.md, "In-place operations").
"""
from __future__ import annotations

import numpy as np

from .. import backend
from . import ops
from .grad_mode import _mode
from .versions import (_bump_version, _leaf_viewed_by, _note_recorded_write, _version_of)


class InPlaceMethods:
    """The in-place methods of ``Tensor`` (its only subclass)."""

    __slots__ = ()

    # -- in-place operations ---------------------------------------------------------------
    # ``x += y``, ``x.add_(y)``, ``x.zero_()``... write into x's array, so every alias of that
    # memory (views, ``detach()``) sees the new values, as in PyTorch. Each write bumps the
    # version of the memory (``_version``, see "Versions of memory" below): a recorded node that
    # reads a value in its backward checks that it has not changed since the node was recorded.
    #
    # With recording on, an in-place op on a leaf that requires grad is an error (PyTorch's);
    # under ``no_grad`` it is the manual parameter update ``p -= lr * p.grad``. On any other
    # tensor, when the operation has to be recorded (an operand requires grad), it is recorded
    # as PyTorch does: the out-of-place op is recorded with a copy of the old value as its
    # input, the result is written into the array, and the tensor becomes that node's output.
    @property
    def _version(self) -> int:
        """How many in-place writes the memory of this tensor has seen (shared by views and
        ``detach()``, as PyTorch's version counter)."""
        return _version_of(self.data)

    def _check_inplace(self, op: str):
        if self.requires_grad and _mode.enabled:
            if self.creator is None:
                raise RuntimeError(
                    f"{op}: a leaf Tensor that requires grad is being used in an in-place "
                    "operation; update parameters inside `with lfs.no_grad():` (as an "
                    "optimizer does), or work on a copy (.clone())")
            leaf = _leaf_viewed_by(self)
            if leaf is not None:
                raise RuntimeError(
                    f"{op}: a view of a leaf Tensor that requires grad (shape {leaf.shape}) is "
                    "being used in an in-place operation; change the leaf inside "
                    "`with lfs.no_grad():`, or work on a copy (.clone())")
        if not isinstance(self.data, np.generic) and \
                not getattr(getattr(self.data, "flags", None), "writeable", True):
            raise RuntimeError(
                f"{op}: this tensor's memory is read-only (a broadcast view such as expand(): "
                "several elements share one memory location); make a copy with .clone() first")

    def _inplace(self, op: str, compute) -> "Tensor":
        """Write ``compute(t)`` (an out-of-place op on the current value) into this tensor."""
        self._check_inplace(op)
        if not _mode.enabled:
            result = compute(self)
            return self._write(op, result.data)
        old = self.detach()                     # the current value, as the recorded input
        old.requires_grad, old.creator, old._out_index = \
            self.requires_grad, self.creator, self._out_index
        result = compute(old)
        fn = result.creator
        if fn is None:                          # nothing to record
            return self._write(op, result.data)
        self._check_result(op, result.data)
        old.data = self.data.copy()             # the node may read the old value in backward
        self._writable_data()[...] = result.data
        # Nodes recorded before this one hold this very Tensor object as their input and meet
        # it again in backward, where it now names the new node: the engine then finds the
        # identity they used in `_rebases` (see run_backward). Other tensors
        # that view this memory keep their old node, which no longer describes their value:
        # the recorded write lets backward refuse to use them (`_check_not_stale`).
        fn._write_stamp = _note_recorded_write(self.data, _bump_version(self.data))
        try:
            self._rebases.append((fn._seq, old))
        except AttributeError:
            self._rebases = [(fn._seq, old)]
        retained = self.retains_grad
        if retained:
            self.creator._retained.pop(self._out_index, None)
        self.creator, self._out_index, self.requires_grad = fn, result._out_index, True
        if retained:
            self.retain_grad()                  # the gradient of the new value, as PyTorch
        return self

    def _check_result(self, op, value):
        if value.shape != self.data.shape:
            raise ValueError(f"{op}: this tensor has shape {self.shape} but the result has "
                             f"shape {tuple(value.shape)} (the operands broadcast to a larger "
                             "shape); an in-place operation cannot change the shape")
        if value.dtype != self.data.dtype:
            raise TypeError(f"{op}: the result has dtype {value.dtype}, which cannot be written "
                            f"into this tensor of dtype {self.dtype}")

    def _write(self, op, value) -> "Tensor":
        self._check_result(op, value)
        self._writable_data()[...] = value
        _bump_version(self.data)
        return self

    def _writable_data(self):
        """The array to write into. NumPy hands out some 0-d results as scalars, which are
        immutable (and so never shared as views): such a tensor gets a 0-d array instead."""
        if isinstance(self.data, np.generic):
            self.data = np.array(self.data)
        return self.data

    def _binary_inplace(self, op, function, other, alpha=1):
        def compute(t):
            o = t if other is self else other           # x += x: the old value twice
            return function(t, o if alpha == 1 else _scaled(o, alpha, t))
        return self._inplace(op, compute)

    def __iadd__(self, other):
        return self._binary_inplace("__iadd__", ops.add, other)

    def __isub__(self, other):
        return self._binary_inplace("__isub__", ops.sub, other)

    def __imul__(self, other):
        return self._binary_inplace("__imul__", ops.mul, other)

    def __itruediv__(self, other):
        return self._binary_inplace("__itruediv__", ops.div, other)

    def add_(self, other, *, alpha=1) -> "Tensor":
        """self += alpha * other."""
        return self._binary_inplace("add_", ops.add, other, alpha)

    def sub_(self, other, *, alpha=1) -> "Tensor":
        """self -= alpha * other."""
        return self._binary_inplace("sub_", ops.sub, other, alpha)

    def mul_(self, other) -> "Tensor":
        return self._binary_inplace("mul_", ops.mul, other)

    def div_(self, other) -> "Tensor":
        return self._binary_inplace("div_", ops.div, other)

    def pow_(self, exponent) -> "Tensor":
        return self._inplace("pow_", lambda t: ops.pow(t, exponent))

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._inplace("clamp_", lambda t: ops.clip(t, min, max))

    clip_ = clamp_

    def neg_(self) -> "Tensor":
        return self._inplace("neg_", ops.neg)

    def exp_(self) -> "Tensor":
        return self._inplace("exp_", ops.exp)

    def log_(self) -> "Tensor":
        return self._inplace("log_", ops.log)

    def sqrt_(self) -> "Tensor":
        return self._inplace("sqrt_", ops.sqrt)

    def abs_(self) -> "Tensor":
        return self._inplace("abs_", ops.abs)

    def tanh_(self) -> "Tensor":
        return self._inplace("tanh_", ops.tanh)

    def sigmoid_(self) -> "Tensor":
        return self._inplace("sigmoid_", ops.sigmoid)

    def relu_(self) -> "Tensor":
        return self._inplace("relu_", ops.relu)

    def copy_(self, src) -> "Tensor":
        """Copy ``src`` (a Tensor, array or number, broadcast to this shape and cast to this
        dtype, as PyTorch's ``copy_``) into this tensor; the gradient flows to ``src``."""
        return self._assign("copy_", src)

    def fill_(self, value) -> "Tensor":
        return self._assign("fill_", value)

    def zero_(self) -> "Tensor":
        return self._assign("zero_", 0)

    def __setitem__(self, index, value):
        """``x[index] = value``: writes into x (value broadcast and cast to x's dtype, as
        PyTorch's); recorded like any in-place op when value or x requires grad."""
        self._check_inplace("__setitem__")
        src = value.data if isinstance(value, InPlaceMethods) else value
        needs_graph = _mode.enabled and (self.requires_grad or
                                         (isinstance(value, InPlaceMethods) and value.requires_grad))
        if not needs_graph:
            key = ops.plain_index(index, self.data)
            if isinstance(value, InPlaceMethods) and value.device != self.device:
                raise RuntimeError(f"__setitem__: value is on device '{value.device}' but "
                                   f"this tensor is on '{self.device}'; move it with .to()")
            if not isinstance(value, InPlaceMethods):
                src = _written_value(value, self, "__setitem__", "value")
            try:
                self._writable_data()[key] = src
            except (ValueError, IndexError) as e:
                raise type(e)(f"__setitem__: cannot assign a value of shape "
                              f"{getattr(src, 'shape', ())} to index {index!r} of a tensor of "
                              f"shape {self.shape}: {e}") from None
            _bump_version(self.data)
            return
        v = _value_like(value, self)
        self._inplace("__setitem__", lambda t: ops.setitem(t, index, v))

    def _assign(self, op, value) -> "Tensor":
        """copy_ / fill_ / zero_: the new value does not depend on the old one."""
        self._check_inplace(op)
        if not _mode.enabled or not (self.requires_grad or
                                     (isinstance(value, InPlaceMethods) and value.requires_grad)):
            if isinstance(value, InPlaceMethods):
                src = value.data
                if value.device != self.device:         # an explicit copy, as torch's copy_
                    src = backend.to_device(src, self.device)
            else:
                src = _written_value(value, self, op, "src" if op == "copy_" else "value")
            try:
                self._writable_data()[...] = src
            except ValueError as e:
                raise ValueError(f"{op}: cannot write a value of shape "
                                 f"{getattr(src, 'shape', ())} into a tensor of shape "
                                 f"{self.shape}: {e}") from None
            _bump_version(self.data)
            return self
        v = _value_like(value, self)
        nothing = backend.get_array_module(self.data).zeros(self.shape, dtype=bool)
        # where(False, old, new): the new values, and a zero gradient for the old ones
        return self._inplace(op, lambda t: ops.where(nothing, t, ops.broadcast_to(v, self.shape)))


def _value_like(value, like):
    """``value`` as a Tensor of ``like``'s dtype and device (for copy_, fill_, setitem)."""
    if not isinstance(value, InPlaceMethods):
        value = ops.as_tensor_like(value, like)
    if value.dtype != like.dtype:
        value = value.to(dtype=like.dtype)
    return value


def _written_value(value, like, op, what):
    """What copy_, fill_ and ``x[i] = v`` write into ``like``'s array when ``value`` is not a
    Tensor: a scalar as it is; host data (a NumPy array, a list) copied to like's device
    first, as PyTorch's copy_ copies across devices (CuPy refuses a host array in a slice
    assignment). A CuPy array for a CPU tensor is refused, naming ``op`` and both devices."""
    if isinstance(value, (int, float, complex, np.generic)):
        return value
    return backend.array_on(value, like.device, op=op, what=what,
                            other="the tensor it is written into is")


def _scaled(other, alpha, like):
    """alpha * other, for add_(other, alpha=...)."""
    if not isinstance(other, InPlaceMethods):
        other = ops.as_tensor_like(other, like)
    return other * alpha
