"""Reverse-mode automatic differentiation: Tensor, Function and the backward pass.

A ``Tensor`` wraps a NumPy or CuPy array (``.data``). Every differentiable operation is a
``Function`` subclass with a ``forward`` on raw arrays and a ``backward`` that maps the
gradient of its output(s) to the gradients of its inputs. Calling a Function on tensors
records a node in the graph (``tensor.creator``) when any input requires a gradient.

``Tensor.backward()`` then

1. visits the nodes in reverse topological order without recursion (an LSTM unrolled over
   thousands of steps is a very deep graph): nodes are numbered as they are created, which
   is a topological order, and a heap hands out the latest-created node that has received
   a gradient;
2. calls each node's ``backward`` once, when the gradients of all its outputs are complete;
3. sums the gradient of an input that was broadcast back to the input's shape, here, in
   one place (``sum_to``), so no op has to undo broadcasting by itself;
4. accumulates into ``.grad`` out of place (a new array each time, never ``+=`` on an
   array somebody else may hold).

``backward`` formulas are written once and run in two modes. Normally they receive raw
arrays and return raw arrays: fast, nothing recorded. With ``create_graph=True`` they
receive Tensors instead, so the very same formula records a graph of the gradient, which
can be differentiated again (higher-order derivatives). This works because the formulas
only use operators and methods that arrays and Tensors share (``+ - * / @ **``, ``.sum``,
``.reshape``, ``.transpose``...), plus the few dispatching helpers at the end of this file.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import weakref

import numpy as np

from . import backend

# ---- grad mode (per thread, as PyTorch's) --------------------------------------------------------
class _GradMode(threading.local):
    """This thread's recording state; a new thread starts with the class defaults."""

    enabled = True          # operations record a graph
    create_graph = False    # a backward pass of this thread records the graph of the gradient


_mode = _GradMode()
# How many threads have recording off, and how many run a backward with create_graph. The
# per-op path reads these plain globals first: while they are 0 (training, the usual case) it
# does not need the slower thread-local lookup. A thread's own changes are visible to itself,
# so a stale count seen by another thread only sends that thread to the exact (slow) check.
_threads_without_grad = 0
_threads_recording_backward = 0
_mode_lock = threading.Lock()


def is_grad_enabled() -> bool:
    return _mode.enabled


def _set_mode_enabled(mode: bool) -> bool:
    """Set this thread's grad mode; returns the previous one."""
    global _threads_without_grad
    previous = _mode.enabled
    mode = bool(mode)
    if mode != previous:
        with _mode_lock:
            _threads_without_grad += -1 if mode else 1
        _mode.enabled = mode
    return previous


def _set_create_graph(mode: bool) -> bool:
    global _threads_recording_backward
    previous = _mode.create_graph
    mode = bool(mode)
    if mode != previous:
        with _mode_lock:
            _threads_recording_backward += 1 if mode else -1
        _mode.create_graph = mode
    return previous


@contextlib.contextmanager
def _set_grad_enabled(mode: bool):
    previous = _set_mode_enabled(mode)
    try:
        yield
    finally:
        _set_mode_enabled(previous)


class _GradModeContext(contextlib.ContextDecorator):
    _mode_inside = True

    def __init__(self):
        self._previous = []         # a stack: the same object may be entered again (nesting)

    def __enter__(self):
        self._previous.append(_set_mode_enabled(self._mode_inside))

    def __exit__(self, *exc):
        _set_mode_enabled(self._previous.pop())
        return False

    def _recreate_cm(self):
        return type(self)()         # a decorated function gets its own context per call


class no_grad(_GradModeContext):
    """Context manager (and decorator): operations inside record no graph, in this thread
    (as PyTorch's, grad mode is thread-local: other threads keep theirs)."""

    _mode_inside = False


class enable_grad(_GradModeContext):
    """Context manager (and decorator): re-enable recording inside a ``no_grad`` block."""

    _mode_inside = True


# ---- dtypes ----------------------------------------------------------------------------------
_DEFAULT_FLOAT = np.dtype(np.float32)


def _is_float(dtype) -> bool:
    return dtype.kind == "f"


# PyTorch's short names, where NumPy's differ (np.dtype("float") is float64, torch.float is
# float32) or do not exist
_TORCH_DTYPE_NAMES = {"float": "float32", "double": "float64", "half": "float16",
                      "int": "int32", "long": "int64", "short": "int16", "bool": "bool"}


def _as_dtype(dtype):
    """A NumPy dtype from a dtype, a scalar type (np.float64, lfs.float64), a name
    ("float64", "double") or a torch dtype (torch.float64); None stays None."""
    if dtype is None:
        return None
    if isinstance(dtype, type):            # np.float64, lfs.float64: a scalar type, not a name
        return np.dtype(dtype)
    name = getattr(dtype, "name", None) or str(dtype)
    name = name.replace("torch.", "")
    name = _TORCH_DTYPE_NAMES.get(name, name)
    try:
        return np.dtype(name)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype (expected e.g. lfs.float32, 'float64' or "
                        "torch.float64)") from None


def _is_device_spec(value) -> bool:
    if isinstance(value, str):
        v = value.lower()
        return v in backend.DEVICES or v.startswith("cuda")
    return type(value).__name__ == "device"          # torch.device, duck-typed


def parse_to_args(args, device=None, dtype=None, op="to"):
    """``(device, dtype)`` from the arguments of PyTorch's ``.to()``, shared by ``Tensor.to``
    and ``Module.to``: ``to("gpu")``, ``to(lfs.float64)``, ``to("float64")``,
    ``to("cpu", torch.float32)``, ``to(other_tensor)``, ``to(device=..., dtype=...)``.
    Either may be None (unchanged)."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif a is None:
            continue
        elif _is_device_spec(a):
            device = a
        else:
            try:
                dtype = _as_dtype(a)
            except TypeError:
                raise TypeError(f"{op}(): {a!r} is neither a device ('cpu', 'gpu' or 'cuda') "
                                "nor a dtype (lfs.float32, 'float64', ...)") from None
    dev = backend._parse_device(str(device)) if device is not None else None
    return dev, _as_dtype(dtype)


# ---- Tensor ----------------------------------------------------------------------------------
class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    Attributes:
        data: the raw ``numpy.ndarray`` (CPU) or ``cupy.ndarray`` (GPU).
        grad: a Tensor with the gradient of the last ``backward()`` w.r.t. this tensor
            (leaf tensors, and any tensor after ``retain_grad()``), else None.
        requires_grad: whether operations on this tensor are recorded.
        creator: the Function node that produced this tensor (None for leaves).
    """

    # (_rebases is set only by a recorded in-place op, so creating a tensor never touches it)
    __slots__ = ("data", "grad", "requires_grad", "creator", "_out_index", "_retain", "name",
                 "_post_accumulate_grad_hooks", "_rebases", "__weakref__")
    __array_priority__ = 1000          # ndarray <op> Tensor defers to Tensor.__r<op>__

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        self.data = data
        self.grad = None
        self.creator = None
        self._out_index = 0
        self._retain = False
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)
        elif data.__class__ is not np.ndarray and not hasattr(data, "dtype"):
            raise TypeError(f"Tensor() wraps an array; got {type(data).__name__} "
                            "(use lfs.tensor(...) to build one from Python data)")

    # -- properties ---------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def grad_fn(self):
        """PyTorch's name for ``creator``: the node that made this tensor (None for leaves)."""
        return self.creator

    @property
    def T(self) -> "Tensor":
        return _fn.transpose(self)

    @property
    def mT(self) -> "Tensor":
        return _fn.swapaxes(self, -1, -2)

    def size(self, dim: int | None = None):
        """The shape (PyTorch's ``size()``), or the length of dimension ``dim``."""
        shape = self.data.shape
        if dim is None:
            return shape
        if not -len(shape) <= dim < len(shape):
            raise IndexError(f"size(): dimension {dim} is out of range for a tensor with "
                             f"{len(shape)} dimension(s) (shape {shape})")
        return shape[dim]

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        """Rows along the first dimension, as tensors on the graph (PyTorch's unbind)."""
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[k] for k in range(self.data.shape[0]))

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if requires_grad and not _is_float(self.data.dtype):
            raise TypeError(
                f"requires_grad=True needs a floating-point tensor, got dtype {self.data.dtype}; "
                "only float32 and float64 tensors can have gradients")
        self.requires_grad = bool(requires_grad)
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor after ``backward()``."""
        self._retain = True
        fn = self.creator
        if fn is not None:      # the node hands this output's gradient over in backward
            if fn._retained is None:
                fn._retained = {}
            fn._retained[self._out_index] = weakref.ref(self)   # weak: no tensor<->node cycle

    def register_post_accumulate_grad_hook(self, hook) -> "RemovableHandle":
        """Call ``hook(self)`` during ``backward()`` as soon as this leaf's ``.grad`` is final.

        As ``torch.Tensor.register_post_accumulate_grad_hook``: the hook runs once per
        backward pass that reaches this leaf, after the pass has stored the leaf's gradient
        in ``.grad``, and before the rest of the pass has finished. Data-parallel training
        uses it to start averaging a gradient across processes while backward goes on.
        Returns a handle whose ``remove()`` unregisters the hook. Hooks do not run for
        ``lfs.grad`` (which stores no ``.grad``).
        """
        if self.creator is not None:
            raise RuntimeError("post accumulate grad hooks cannot be registered on non-leaf "
                               "tensors")
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require "
                               "gradient")
        if not callable(hook):
            raise TypeError(f"hook must be callable, got {type(hook).__name__}")
        key = id(self)
        if key not in _post_accumulate_grad_hooks:
            def forget(_ref, key=key):          # the tensor is gone: so are its hooks
                _post_accumulate_grad_hooks.pop(key, None)
            _post_accumulate_grad_hooks[key] = weakref.ref(self, forget)
            self._post_accumulate_grad_hooks = {}       # set here only: read for these leaves
        handle = RemovableHandle(self._post_accumulate_grad_hooks)
        self._post_accumulate_grad_hooks[handle.id] = hook
        return handle

    # -- conversion -----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data (from either device); never shares memory."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        """The NumPy view of a CPU tensor, so that ``np.asarray(t)``, ``np.mean(t)`` and
        matplotlib see its numbers (shares memory, as PyTorch's). A GPU tensor refuses: an
        implicit device-to-host copy is a hidden synchronisation, so ask for it with
        ``.numpy()``."""
        data = self.data
        if backend.get_array_module(data) is not np:
            raise TypeError(
                f"cannot convert a GPU tensor (shape {self.shape}, {self.dtype}) to a NumPy "
                "array implicitly; call .numpy() to copy it to the host first")
        data = np.asarray(data)                 # a NumPy scalar (0-d results) as a 0-d array
        if dtype is not None and np.dtype(dtype) != data.dtype:
            if copy is False:
                raise ValueError(f"a tensor of dtype {data.dtype} cannot be viewed as {dtype} "
                                 "without a copy (copy=False)")
            return data.astype(dtype)
        return data.copy() if copy else data

    def __format__(self, spec: str) -> str:
        """``f"{loss:.4f}"`` formats the number of a 0-d tensor (as PyTorch)."""
        if self.data.ndim == 0:
            return format(self.item(), spec)
        return format(str(self), spec)

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (shares memory, and so its version counter,
        like PyTorch)."""
        return Tensor(self.data)

    def clone(self) -> "Tensor":
        """A copy with its own memory, on the graph (the gradient flows back to self)."""
        return _fn.clone(self)

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False) -> "Tensor":
        """Move to ``"cpu"``/``"gpu"`` and/or cast to ``dtype``, as PyTorch's ``to``:
        ``t.to("gpu")``, ``t.to(lfs.float64)``, ``t.to("float64")``, ``t.to("cpu", dtype)``,
        ``t.to(other)`` (other's device and dtype). Differentiable for floating dtypes; a cast
        to an integer or boolean dtype gives a tensor that does not require grad.
        ``non_blocking`` is accepted for PyTorch code and ignored."""
        dev, dt = parse_to_args(args, device, dtype)
        out = self
        if dev is not None and dev != self.device:
            out = _fn.to_device(out, dev)
        if dt is not None and dt != out.dtype:
            if dt.kind == "f":
                out = _fn.astype(out, dt)
            else:
                out = Tensor(out.data.astype(dt))
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def float(self) -> "Tensor":
        return self.to(dtype=np.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=np.float64)

    def astype(self, dtype) -> "Tensor":
        return self.to(dtype=dtype)

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
        old = _new_object(Tensor)               # the current value, as the recorded input
        old.data, old.grad, old.requires_grad, old.creator = \
            self.data, None, self.requires_grad, self.creator
        old._out_index, old._retain, old.name = self._out_index, False, None
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
        retained = self._retain
        if retained and self.creator is not None and self.creator._retained is not None:
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
        return self._binary_inplace("__iadd__", _fn.add, other)

    def __isub__(self, other):
        return self._binary_inplace("__isub__", _fn.sub, other)

    def __imul__(self, other):
        return self._binary_inplace("__imul__", _fn.mul, other)

    def __itruediv__(self, other):
        return self._binary_inplace("__itruediv__", _fn.div, other)

    def add_(self, other, *, alpha=1) -> "Tensor":
        """self += alpha * other."""
        return self._binary_inplace("add_", _fn.add, other, alpha)

    def sub_(self, other, *, alpha=1) -> "Tensor":
        """self -= alpha * other."""
        return self._binary_inplace("sub_", _fn.sub, other, alpha)

    def mul_(self, other) -> "Tensor":
        return self._binary_inplace("mul_", _fn.mul, other)

    def div_(self, other) -> "Tensor":
        return self._binary_inplace("div_", _fn.div, other)

    def pow_(self, exponent) -> "Tensor":
        return self._inplace("pow_", lambda t: _fn.pow(t, exponent))

    def clamp_(self, min=None, max=None) -> "Tensor":
        return self._inplace("clamp_", lambda t: _fn.clamp(t, min, max))

    clip_ = clamp_

    def neg_(self) -> "Tensor":
        return self._inplace("neg_", _fn.neg)

    def exp_(self) -> "Tensor":
        return self._inplace("exp_", _fn.exp)

    def log_(self) -> "Tensor":
        return self._inplace("log_", _fn.log)

    def sqrt_(self) -> "Tensor":
        return self._inplace("sqrt_", _fn.sqrt)

    def abs_(self) -> "Tensor":
        return self._inplace("abs_", _fn.abs)

    def tanh_(self) -> "Tensor":
        return self._inplace("tanh_", _fn.tanh)

    def sigmoid_(self) -> "Tensor":
        return self._inplace("sigmoid_", _fn.sigmoid)

    def relu_(self) -> "Tensor":
        return self._inplace("relu_", _fn.relu)

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
        src = value.data if isinstance(value, Tensor) else value
        needs_graph = _mode.enabled and (self.requires_grad or
                                         (isinstance(value, Tensor) and value.requires_grad))
        if not needs_graph:
            key = _fn.plain_index(index, self.data)
            if isinstance(value, Tensor) and value.device != self.device:
                raise RuntimeError(f"__setitem__: value is on device '{value.device}' but "
                                   f"this tensor is on '{self.device}'; move it with .to()")
            if not isinstance(value, Tensor):
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
        self._inplace("__setitem__", lambda t: _fn.setitem(t, index, v))

    def _assign(self, op, value) -> "Tensor":
        """copy_ / fill_ / zero_: the new value does not depend on the old one."""
        self._check_inplace(op)
        if not _mode.enabled or not (self.requires_grad or
                                     (isinstance(value, Tensor) and value.requires_grad)):
            if isinstance(value, Tensor):
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
        return self._inplace(op, lambda t: _fn.where(nothing, t, _fn.broadcast_to(v, self.shape)))

    # -- autograd entry point ----------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool | None = None,
                 create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            gradient: d(loss)/d(self), same shape as self; may be omitted only for a
                one-element tensor (then it is 1).
            retain_graph: keep the graph so that backward can run through it again.
                Defaults to ``create_graph`` (as PyTorch): the recorded gradient refers to
                the first graph, so differentiating it again needs that graph alive.
            create_graph: record the backward pass itself, for higher-order gradients.
        """
        if retain_graph is None:
            retain_graph = create_graph
        run_backward([self], [gradient], retain_graph=retain_graph, create_graph=create_graph)

    # -- representation ---------------------------------------------------------------------
    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", precision=4,
                               threshold=60, edgeitems=3)
        extras = []
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self.data.dtype != _DEFAULT_FLOAT and _is_float(self.data.dtype):
            extras.append(f"dtype={self.data.dtype}")
        if self.creator is not None:
            extras.append(f"grad_fn=<{type(self.creator).__name__}>")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    # The arithmetic operators, comparisons, reductions and shape methods are attached in
    # functional/__init__.py, next to the Functions they call.


# ---- versions of memory: what in-place writes changed -------------------------------------------
# PyTorch keeps a version counter per tensor, shared by its views. Here a tensor is a view of
# an array, so the counter belongs to the memory: the root array that the views' ``.base``
# leads to. Each in-place write records, for that root, how many writes it has seen and a
# stamp from the same counter that numbers the nodes (``_node_counter``). A node recorded
# before the last write to a value it reads has a smaller number than the write's stamp: that
# comparison is the whole check, so recording a node costs nothing extra, and nothing is
# looked up at all until the first in-place write of the process.
_versions = {}      # id(root array) -> [reference to the root, number of writes, last stamp]
_last_write = -1    # the stamp of the latest in-place write of the process: a node made after
                    # it (every node of a training step after the optimizer's) checks nothing


def _memory_root(array):
    """The array that owns the memory ``array`` views (NumPy and CuPy keep it in ``.base``)."""
    root, base = array, getattr(array, "base", None)
    while base is not None and hasattr(base, "dtype") and hasattr(base, "shape"):
        root, base = base, getattr(base, "base", None)
    return root


def _bump_version(array) -> int:
    """Record an in-place write into ``array`` (library code that changes ``.data`` in place,
    such as the optimizers, calls this too); returns the write's stamp."""
    global _last_write
    root = _memory_root(array)
    key = id(root)
    _last_write = stamp = next(_node_counter)
    entry = _versions.get(key)
    if entry is not None and entry[0]() is root:
        entry[1] += 1
        entry[2] = stamp
        return stamp
    _versions[key] = [_weak_ref(root, _versions, key), 1, stamp]
    return stamp


def _weak_ref(root, registry, key):
    """A reference to ``root`` that removes ``registry[key]`` when root dies."""
    def forget(ref):
        entry = registry.get(key)
        if entry is not None and entry[0] is ref:
            del registry[key]
    try:
        return weakref.ref(root, forget)
    except TypeError:                       # an array type without weak references
        return lambda: root


def increment_version(tensor) -> None:
    """Record an in-place write into ``tensor`` (a Tensor or an array) made by code that
    changes ``.data`` directly, such as an optimizer step or an initialiser (as PyTorch's
    ``torch.autograd.graph.increment_version``): a recorded node that reads the old value
    then raises at backward instead of using the new one."""
    _bump_version(tensor.data if isinstance(tensor, Tensor) else tensor)


def _version_of(array) -> int:
    if not _versions:
        return 0
    root = _memory_root(array)
    entry = _versions.get(id(root))
    return entry[1] if entry is not None and entry[0]() is root else 0


def _written_after(array, seq) -> bool:
    """Whether ``array``'s memory was written in place after node number ``seq`` was made."""
    root = array if getattr(array, "base", None) is None else _memory_root(array)
    entry = _versions.get(id(root))
    return entry is not None and entry[2] > seq and entry[0]() is root


def _raise_modified(fn, array, what):
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: the {array.dtype} tensor of shape {tuple(array.shape)} that is {what} of "
        f"{type(fn).__name__} was changed in place after {type(fn).__name__} recorded it (it "
        f"is now at version {_version_of(array)}). Change it after backward(), or change a "
        "copy (.clone()); an optimizer step belongs after backward()")


def _leaf_viewed_by(t):
    """The leaf requiring grad whose memory ``t`` views through recorded ops, if any."""
    root = _memory_root(t.data)
    while t.creator is not None:
        inputs = t.creator.inputs
        if inputs is None:                  # freed by a backward pass
            return None
        for u in inputs:
            if u.requires_grad and _memory_root(u.data) is root:
                t = u
                break
        else:
            return None
    return t if t.requires_grad else None


# Memory written by recorded in-place ops, while it lives: id(root) -> [reference, stamp].
# Only then can a node's input name a newer node, or view memory its node no longer describes;
# while it is empty the backward pass looks at nothing.
_recorded_writes = {}


def _note_recorded_write(array, stamp) -> int:
    root = _memory_root(array)
    key = id(root)
    entry = _recorded_writes.get(key)
    if entry is not None and entry[0]() is root:
        entry[1] = stamp
    else:
        _recorded_writes[key] = [_weak_ref(root, _recorded_writes, key), stamp]
    return stamp


def _check_not_stale(t, c, seq):
    """Raise if node ``seq`` used ``t`` after a recorded in-place write changed t's memory
    through another tensor (a view, or the tensor a view was taken from): t's own node ``c``
    then describes the old value. (PyTorch rebuilds the graph of such views; we refuse.)"""
    root = _memory_root(t.data)
    entry = _recorded_writes.get(id(root))
    if entry is None or entry[0]() is not root:
        return
    stamp = entry[1]
    if c._seq < stamp < seq and c.__dict__.get("_write_stamp") != stamp:
        raise RuntimeError(
            f"a tensor of shape {t.shape} (made by {type(c).__name__}) shares memory with a "
            "tensor that was changed in place by a recorded operation after it was made, and "
            "was used after that change: its graph no longer describes its value. Take the "
            "view again after the in-place change (or change a .clone() instead)")


def _identity_at(t, seq):
    """``t`` as node number ``seq`` saw it when it used t as an input. Recorded in-place ops
    since then made t the output of newer nodes; t keeps, per such op, the tensor that stands
    for its value before it (``_rebases``: (node number, old value)). The first op after
    ``seq`` has the identity node ``seq`` used."""
    for rebase_seq, old in getattr(t, "_rebases", ()):
        if rebase_seq > seq:
            return old
    raise RuntimeError(f"internal error: no earlier identity of a tensor of shape {t.shape}")


def _value_like(value, like):
    """``value`` as a Tensor of ``like``'s dtype and device (for copy_, fill_, setitem)."""
    if not isinstance(value, Tensor):
        from .functional._util import as_tensor_like
        value = as_tensor_like(value, like)
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
    if not isinstance(other, Tensor):
        from .functional._util import as_tensor_like
        other = as_tensor_like(other, like)
    return other * alpha


# ---- Function: one node of the graph ------------------------------------------------------------
# Every recorded node gets the next number of this counter. A node's inputs exist before the
# node is created, so creation order is a topological order of the graph (inputs before users);
# the backward pass uses it instead of searching the graph (see run_backward).
_node_counter = itertools.count()
# needs_input_grad of one- and two-input nodes, shared: one tuple fewer per recorded op
_NEEDS_1 = (True,)
_NEEDS_2 = {False: {False: (False, False), True: (False, True)},
            True: {False: (True, False), True: (True, True)}}


class Function:
    """One differentiable operation: ``forward`` on arrays, ``backward`` on gradients.

    Subclasses implement

    * ``forward(self, *arrays) -> array or tuple of arrays``; keep whatever backward needs
      as attributes of ``self`` (arrays that are not differentiated again: masks, shapes);
    * ``backward(self, *grad_outputs) -> gradient or tuple of gradients``, one per input
      (None for an input that gets no gradient). Inputs are read back with
      ``self.saved_inputs()`` and outputs with ``self.saved_output(k)``: arrays normally,
      Tensors when the backward is being recorded (``create_graph=True``).
      ``grad_outputs`` entries are never None: an output that got no gradient gets zeros.

    Attributes available in both methods: ``self.xp`` (numpy or cupy, the inputs' module);
    in backward also ``self.inputs`` (the input Tensors) and ``self.needs_input_grad`` (one
    bool per input).
    """

    # Slots for what the engine reads on every node; the __dict__ holds what subclasses
    # save in forward (masks, shapes...). The engine clears it when the graph is freed.
    __slots__ = ("inputs", "needs_input_grad", "_output_data", "_pending", "_seq", "xp",
                 "__dict__")
    _retained = None        # {output index: weakref to a tensor that called retain_grad()}

    def __call__(self, *inputs):
        """Run forward on tensors; returns a Tensor (or a tuple for multi-output ops).

        This runs for every operation of every model, so the common cases (one or two
        inputs, NumPy arrays) are written out without loops or temporary lists.
        """
        x0 = inputs[0]
        d0 = x0.data
        self.xp = xp = np if d0.__class__ is np.ndarray else backend.get_array_module(d0)
        n = len(inputs)
        if n == 1:
            record = x0.requires_grad
            ys = self.forward(d0)
        elif n == 2:
            x1 = inputs[1]
            d1 = x1.data
            # same array class means same device; otherwise look closer (numpy scalars...)
            if d1.__class__ is not d0.__class__ and backend.get_array_module(d1) is not xp:
                _raise_device_mismatch(type(self).__name__, inputs)
            record = x0.requires_grad or x1.requires_grad
            ys = self.forward(d0, d1)
        else:
            record = False
            for t in inputs:
                record = record or t.requires_grad
                if backend.get_array_module(t.data) is not xp:
                    _raise_device_mismatch(type(self).__name__, inputs)
            ys = self.forward(*[t.data for t in inputs])

        # recording is on unless this thread is inside no_grad (the global count is 0 when
        # no thread is, which spares the thread-local lookup on every op)
        if not (record and (not _threads_without_grad or _mode.enabled)):
            if ys.__class__ is tuple:                       # nothing to record: plain results
                return tuple([Tensor(y) for y in ys])
            return Tensor(ys)

        self.inputs = inputs
        self.needs_input_grad = (
            _NEEDS_1 if n == 1 else _NEEDS_2[x0.requires_grad][x1.requires_grad] if n == 2
            else tuple([t.requires_grad for t in inputs]))
        self._seq = next(_node_counter)
        self._pending = None
        # The output arrays are kept, not the output tensors: a tensor -> node -> tensor
        # reference would be a cycle that only the garbage collector could free.
        if ys.__class__ is tuple:
            self._output_data = ys
            outs = tuple([Tensor(y) for y in ys])
            for k, o in enumerate(outs):
                o.requires_grad, o.creator, o._out_index = True, self, k
            return outs
        self._output_data = (ys,)
        return _output_tensor(ys, self)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    # -- access to saved values in backward ----------------------------------------------------
    # Each accessor checks that the value was not written in place after this node was
    # recorded (see "versions of memory"); a backward reads only the values it needs, so a
    # value that is not needed may change, as in PyTorch.
    def saved_inputs(self):
        """The inputs: arrays normally, Tensors while recording the backward pass."""
        inputs = self.inputs
        if _last_write > self._seq:
            for k, t in enumerate(inputs):
                if _written_after(t.data, self._seq):
                    _raise_modified(self, t.data, f"input {k}")
        if _threads_recording_backward and _mode.create_graph:
            return inputs
        if len(inputs) == 2:
            return inputs[0].data, inputs[1].data
        return tuple([t.data for t in inputs])

    def saved_input(self, k: int = 0):
        t = self.inputs[k]
        if _last_write > self._seq and _written_after(t.data, self._seq):
            _raise_modified(self, t.data, f"input {k}")
        return t if _threads_recording_backward and _mode.create_graph else t.data

    def saved_output(self, k: int = 0):
        """Output ``k``: an array normally, a Tensor of this node while recording backward.

        The Tensor is attached to this node as output ``k``, so gradients flowing through it
        reach this node exactly as they would through the original output tensor.
        """
        data = self._output_data[k]
        if _last_write > self._seq and _written_after(data, self._seq):
            _raise_modified(self, data, f"output {k}")
        if not (_threads_recording_backward and _mode.create_graph):
            return data
        out = Tensor(data)
        out.requires_grad, out.creator, out._out_index = True, self, k
        return out

    def check_saved(self, *arrays, what="a value saved in forward"):
        """For arrays a forward kept itself (views of inputs or outputs, buffers it
        returned): raise if any was written in place since this node was recorded."""
        if _last_write > self._seq:
            for a in arrays:
                if a is not None and _written_after(a, self._seq):
                    _raise_modified(self, a, what)


def _output_tensor(data, creator):
    """``Tensor(data)`` recorded as output 0 of ``creator``; the same as Tensor.__init__ but
    without its argument checks, because this runs for every recorded operation."""
    t = _new_object(Tensor)
    t.data, t.grad, t.requires_grad, t.creator = data, None, True, creator
    t._out_index, t._retain, t.name = 0, False, None
    return t


_new_object = object.__new__


def _raise_device_mismatch(op: str, inputs):
    devices = [t.device for t in inputs]
    k = next(k for k, d in enumerate(devices) if d != devices[0])
    raise backend.device_mismatch(
        op, f"argument {k} (shape {inputs[k].shape})", devices[k], devices[0],
        f"argument 0 (shape {inputs[0].shape}) is")


def _raise_freed(fn):
    raise RuntimeError(
        f"trying to backward through the graph a second time (node {type(fn).__name__} "
        "was already freed); pass retain_graph=True to the first backward() if you "
        "need to backward through it again")


# ---- hooks on leaf gradients ---------------------------------------------------------------------
# id(leaf) -> weakref to each leaf that has (or had) such hooks; the hooks themselves live on
# the tensor ({handle id: hook}), so a hook that refers to its tensor keeps nothing alive. Empty
# unless someone registered a hook, and only then does run_backward plan when each hooked
# leaf's gradient becomes final (_hook_schedule).
_post_accumulate_grad_hooks = {}


class RemovableHandle:
    """What registering a hook returns; ``remove()`` unregisters it (as PyTorch's)."""

    _ids = itertools.count()

    def __init__(self, hooks: dict):
        self.id = next(RemovableHandle._ids)
        self._hooks = hooks

    def remove(self) -> None:
        self._hooks.pop(self.id, None)


def _hook_schedule(roots):
    """[(threshold, leaf)] for each hooked leaf this pass can reach, highest threshold last.

    A leaf's gradient is final once every node that uses it has run its backward. Nodes run
    in decreasing creation number and a node only ever hands gradients to older nodes, so
    that is as soon as no waiting node is numbered at or above the lowest number among the
    leaf's users (its threshold; infinite for a leaf that is itself a root). Finding the
    users takes one walk over the graph, done only when some tensor has such a hook.
    """
    first_use, seen = {}, set()
    stack = []
    for r in roots:
        if r.creator is None:
            if id(r) in _post_accumulate_grad_hooks:
                first_use[id(r)] = (float("inf"), r)
        else:
            stack.append(r.creator)
    while stack:
        fn = stack.pop()
        if id(fn) in seen or fn.inputs is None:
            continue
        seen.add(id(fn))
        for t, need in zip(fn.inputs, fn.needs_input_grad):
            if not need:
                continue
            c = t.creator
            if c is not None:
                if id(c) not in seen:
                    stack.append(c)
            elif id(t) in _post_accumulate_grad_hooks:
                old = first_use.get(id(t))
                if old is None or fn._seq < old[0]:
                    first_use[id(t)] = (fn._seq, t)
    return sorted(first_use.values(), key=lambda e: e[0])    # popped from the end


def _run_ready_hooks(schedule, heap, collected, create_graph):
    """Store .grad and run the hooks of every scheduled leaf that no waiting node can reach."""
    top = -heap[0][0] if heap else -1
    while schedule and schedule[-1][0] > top:
        t = schedule.pop()[1]
        entry = collected.pop(id(t), None)
        if entry is None:                   # reachable, but no gradient arrived
            continue
        _set_grad(t, entry[1], entry[2], create_graph)
        for hook in list(t._post_accumulate_grad_hooks.values()):
            hook(t)


# ---- the backward pass ----------------------------------------------------------------------------
def _check_gradient_arg(root, gradient, create_graph):
    """The seed gradient for ``root``: an array, or a Tensor when create_graph."""
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for one-element outputs, but the output "
                f"has shape {root.shape}; pass gradient= (a tensor of shape {root.shape})")
        g = backend.get_array_module(root.data).ones(root.shape, dtype=root.dtype)
    else:
        g = backend.array_on(gradient.data if isinstance(gradient, Tensor) else gradient,
                             root.device, root.dtype, op="backward", what="gradient",
                             other="the output is", host_data=not isinstance(gradient, Tensor))
        if g.shape != root.shape:
            raise ValueError(
                f"gradient has shape {g.shape} but the output has shape {root.shape}; "
                "they must match")
    return Tensor(g) if create_graph else g


def run_backward(roots, gradients, retain_graph=False, create_graph=False, capture=None):
    """The backward pass from ``roots`` seeded with ``gradients``.

    If ``capture`` (a list of tensors) is given, their gradients are returned in that order
    instead of being accumulated into ``.grad`` (this is ``lfs.grad``).

    The order: a node may run its backward only once the gradients of all its outputs are
    complete, that is after every node that used one of its outputs. Nodes are numbered in
    the order they were created, and a node's users are always created after it, so taking
    the highest-numbered waiting node each time (a max-heap on that number) visits nodes in
    reverse topological order. A node joins the heap when it first receives a gradient, so
    only the part of the graph that gradients actually reach is visited, with no separate
    graph search and no recursion (a chain of 100,000 nodes is fine).
    """
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "the output was not computed from any tensor with requires_grad=True "
                "(or it was computed inside lfs.no_grad())")
    seeds = [_check_gradient_arg(r, g, create_graph) for r, g in zip(roots, gradients)]

    # Where gradients end up. Leaves (and tensors that called retain_grad) collect theirs in
    # `collected` and get .grad once, at the end, so a failed pass leaves .grad untouched
    # (except for leaves with post-accumulate-grad hooks, which get it as soon as it is final).
    # lfs.grad (capture) instead collects only the requested tensors: a leaf by identity,
    # a non-leaf by (its node, its output index).
    collected = {}          # id(tensor) -> [tensor, gradient, gradient is a fresh array]
    captured = None
    if capture is not None:
        captured = {(id(t) if t.creator is None else (id(t.creator), t._out_index)): None
                    for t in capture}

    heap = []               # (-node number, node): heappop gives the latest-created node

    def receive(t, g):
        """Gradient g for tensor t, which is a leaf, retains its grad, or is captured."""
        if captured is not None:
            key = id(t) if t.creator is None else (id(t.creator), t._out_index)
            if key in captured:
                captured[key] = g if captured[key] is None else captured[key] + g
            return
        entry = collected.get(id(t))
        if entry is None:
            collected[id(t)] = [t, g, False]
        elif entry[2] and not create_graph:
            entry[1] += g       # a sum this pass made itself: nothing else refers to it
        else:
            entry[1] = entry[1] + g         # out of place: g may be shared with others
            entry[2] = True

    for r, g in zip(roots, seeds):
        fn = r.creator
        if fn is None:
            receive(r, g)
            continue
        if fn.inputs is None:
            _raise_freed(fn)
        if fn._pending is None:
            fn._pending = [None] * len(fn._output_data)
            heapq.heappush(heap, (-fn._seq, fn))
        k = r._out_index
        fn._pending[k] = g if fn._pending[k] is None else fn._pending[k] + g

    # leaves with post-accumulate-grad hooks get .grad (and run their hooks) as soon as it is
    # final, during the pass; every other leaf gets .grad at the end
    schedule = (_hook_schedule(roots) if _post_accumulate_grad_hooks and captured is None
                else None)
    heappop, heappush = heapq.heappop, heapq.heappush
    previous_mode = _set_create_graph(create_graph)
    try:
        with _set_grad_enabled(create_graph):
            while heap:
                fn = heappop(heap)[1]
                grads_out, fn._pending = fn._pending, None
                if captured is not None or fn._retained is not None or len(grads_out) > 1:
                    _deliver_outputs(fn, grads_out, captured, receive, create_graph)
                gxs = fn.backward(*grads_out)
                if gxs.__class__ is not tuple:
                    gxs = (gxs,)
                for t, gx, need in zip(fn.inputs, gxs, fn.needs_input_grad):
                    if gx is None or not need:
                        continue
                    if gx.shape != t.data.shape:        # undo broadcasting, for every op
                        gx = sum_to(gx, t.data.shape)
                    c = t.creator
                    if _recorded_writes and c is not None:   # in-place ops were recorded
                        if c._seq >= fn._seq:       # t was changed in place after fn used it
                            t = _identity_at(t, fn._seq)
                            c = t.creator
                        else:
                            _check_not_stale(t, c, fn._seq)
                    if c is None:
                        receive(t, gx)
                        continue
                    pending = c._pending
                    if pending is None:                 # c's first gradient: c joins the heap
                        if c.inputs is None:
                            _raise_freed(c)
                        c._pending = pending = [None] * len(c._output_data)
                        heappush(heap, (-c._seq, c))
                    k = t._out_index
                    pending[k] = gx if pending[k] is None else pending[k] + gx
                if not retain_graph:
                    fn.inputs = None        # free saved tensors; a second backward raises
                    fn._output_data = None
                    fn.__dict__.clear()     # and what forward saved (masks, ...)
                if schedule and schedule[-1][0] > (-heap[0][0] if heap else -1):
                    _run_ready_hooks(schedule, heap, collected, create_graph)
            if schedule:                    # leaves that are roots, or used by no node that ran
                _run_ready_hooks(schedule, heap, collected, create_graph)
    finally:
        _set_create_graph(previous_mode)
        for _, fn in heap:          # a failed pass must not leave stale gradients behind
            fn._pending = None
    for t, g, fresh in collected.values():
        _set_grad(t, g, fresh, create_graph)
    if capture is not None:
        return [captured[id(t) if t.creator is None else (id(t.creator), t._out_index)]
                for t in capture]
    return None


class DeferredGradient:
    """A leaf's gradient handed over in a form that is cheaper to add up than to compute.

    A node may return one for an input that is a leaf, in a normal (not ``create_graph``)
    pass. The engine adds the contributions a leaf receives with ``+`` as usual (subclasses
    define it with arrays and with each other; ``__array_ufunc__ = None`` makes NumPy leave
    ``array + deferred`` to them) and calls ``materialize()`` once, when the pass is over,
    before the sum becomes ``.grad``. Example: ``functional.linalg.SumOfProducts``, which
    turns the T per-step weight gradients of a recurrent layer into one matrix product.
    """

    __array_ufunc__ = None
    shape = ()

    def materialize(self):
        raise NotImplementedError


def _deliver_outputs(fn, grads_out, captured, receive, create_graph):
    """The less common work on a node's output gradients, before its backward runs.

    Hands them to the tensors that asked for them (lfs.grad's inputs, retain_grad), and
    replaces the gradient of an output that nobody used (multi-output nodes) by zeros.
    """
    if captured is not None:
        for k, g in enumerate(grads_out):
            key = (id(fn), k)
            if g is not None and key in captured:
                captured[key] = g if captured[key] is None else captured[key] + g
    elif fn._retained is not None:
        for k, ref in fn._retained.items():
            t = ref()
            if t is not None and grads_out[k] is not None:
                receive(t, grads_out[k])
    for k, g in enumerate(grads_out):
        if g is None:
            grads_out[k] = _zeros_for(fn, k, create_graph)


def _zeros_for(fn, k, create_graph):
    like = fn._output_data[k]
    z = fn.xp.zeros(like.shape, dtype=like.dtype)
    return Tensor(z) if create_graph else z


def _set_grad(t, g, fresh, create_graph):
    """Out-of-place accumulation into t.grad (never an array shared with another tensor).

    A gradient may alias arrays of the graph (add passes its gradient through to both
    inputs, so x + y hands x and y the very same array): unless it is a fresh sum made by
    the engine, the first .grad of a tensor gets its own copy. A DeferredGradient (a sum the
    engine kept as factors) is computed here, once.
    """
    if isinstance(g, DeferredGradient):
        g, fresh = g.materialize(), True
    if isinstance(g, Tensor):
        if not fresh:
            g = _fn.mul(g, 1.0)     # a new array, still on the recorded graph
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is None:
        t.grad = Tensor(g if fresh else g.copy())
    else:
        t.grad = Tensor(t.grad.data + g)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of ``outputs`` w.r.t. ``inputs``, returned (not stored in ``.grad``).

    Mirrors ``torch.autograd.grad``. With ``create_graph=True`` the returned gradients are
    themselves differentiable.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    gs = run_backward(outputs, list(grad_outputs), retain_graph=retain_graph,
                      create_graph=create_graph, capture=inputs)
    result = []
    for t, g in zip(inputs, gs):
        if isinstance(g, DeferredGradient):
            g = g.materialize()
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    "one of the differentiated tensors was not used in the graph; "
                    "pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor(g))
    return tuple(result)


# ---- helpers shared by backward formulas (work on arrays and on Tensors) -------------------------
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


def broadcast_to(g, shape):
    """Broadcast an array or Tensor to ``shape``.

    An array is materialised (a new, writable array) rather than returned as a read-only
    broadcast view: ``xp.broadcast_to`` costs several microseconds in NumPy, and the
    gradient's first user makes a full-size array anyway.
    """
    if isinstance(g, Tensor):
        return _fn.broadcast_to(g, shape)
    out = backend.get_array_module(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


def unary(name, x):
    """Apply elementwise function ``name`` (exp, log, tanh, ...) to an array or Tensor."""
    if isinstance(x, Tensor):
        return getattr(_fn, name)(x)
    return getattr(backend.get_array_module(x), name)(x)


class _LazyFunctional:
    """The functional module, imported on first use (it imports this module)."""

    def __getattr__(self, name):
        from . import functional
        globals()["_fn"] = functional
        return getattr(functional, name)


_fn = _LazyFunctional()
