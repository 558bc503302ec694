"""Reverse-mode automatic differentiation: Tensor, Function and the backward pass.

A ``Tensor`` wraps a NumPy or CuPy array (``.data``). Every differentiable operation is a
``Function`` subclass with a ``forward`` on raw arrays and a ``backward`` that maps the
gradient of its output(s) to the gradients of its inputs. Calling a Function on tensors
records a node in the graph (``tensor.creator``) when any input requires a gradient.

``Tensor.backward()`` then

1. collects every node reachable from the output, in topological order, with an explicit
   stack (no recursion: an LSTM unrolled over thousands of steps is a very deep graph);
2. walks the nodes in reverse, calling each one's ``backward`` once, when the gradients of
   all its outputs are complete;
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
import numbers
import weakref

import numpy as np

from . import backend

# ---- grad mode -----------------------------------------------------------------------------
_grad_enabled = True
_create_graph = False      # True while a backward pass records the graph of the gradient


def is_grad_enabled() -> bool:
    return _grad_enabled


@contextlib.contextmanager
def _set_grad_enabled(mode: bool):
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, mode
    try:
        yield
    finally:
        _grad_enabled = previous


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator): operations inside record no graph."""

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, False

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False


class enable_grad(contextlib.ContextDecorator):
    """Context manager (and decorator): re-enable recording inside a ``no_grad`` block."""

    def __enter__(self):
        global _grad_enabled
        self._previous, _grad_enabled = _grad_enabled, True

    def __exit__(self, *exc):
        global _grad_enabled
        _grad_enabled = self._previous
        return False


# ---- dtypes ----------------------------------------------------------------------------------
_DEFAULT_FLOAT = np.dtype(np.float32)


def _is_float(dtype) -> bool:
    return dtype.kind == "f"


def _as_dtype(dtype):
    if dtype is None:
        return None
    name = getattr(dtype, "name", None) or str(dtype)
    name = name.replace("torch.", "")
    return np.dtype(name)


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

    __slots__ = ("data", "grad", "requires_grad", "creator", "_out_index", "_retain", "name",
                 "__weakref__")
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
    def size(self) -> int:
        return self.data.size

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
    def T(self) -> "Tensor":
        return _fn.transpose(self)

    @property
    def mT(self) -> "Tensor":
        return _fn.swapaxes(self, -1, -2)

    def __len__(self) -> int:
        return len(self.data)

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

    def detach(self) -> "Tensor":
        """The same data, cut from the graph (shares memory, like PyTorch)."""
        return Tensor(self.data)

    def to(self, device=None, dtype=None) -> "Tensor":
        """Move to ``"cpu"``/``"gpu"`` and/or cast to ``dtype``; differentiable."""
        out = self
        if isinstance(device, (np.dtype, type)) or (isinstance(device, str) and device in ("float32", "float64")):
            device, dtype = None, device
        if device is not None and backend._parse_device(device) != self.device:
            out = _fn.to_device(out, backend._parse_device(device))
        if dtype is not None and _as_dtype(dtype) != out.dtype:
            out = _fn.astype(out, _as_dtype(dtype))
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def float(self) -> "Tensor":
        return self.to(dtype=np.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=np.float64)

    def astype(self, dtype) -> "Tensor":
        return self.to(dtype=dtype)

    # -- autograd entry point ----------------------------------------------------------------
    def backward(self, gradient=None, retain_graph: bool = False, create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf that requires grad.

        Args:
            gradient: d(loss)/d(self), same shape as self; may be omitted only for a
                one-element tensor (then it is 1).
            retain_graph: keep the graph so that backward can run through it again.
            create_graph: record the backward pass itself, for higher-order gradients.
        """
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


# ---- Function: one node of the graph ------------------------------------------------------------
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
    """

    __slots__ = ("inputs", "needs_input_grad", "outputs", "_output_data", "_pending", "xp",
                 "__dict__")

    def __call__(self, *inputs):
        """Run forward on tensors; returns a Tensor (or a tuple for multi-output ops)."""
        xp = backend.get_array_module(inputs[0].data)
        record = False
        for t in inputs:
            if t.requires_grad:
                record = True
            if len(inputs) > 1 and backend.get_array_module(t.data) is not xp:
                _raise_device_mismatch(type(self).__name__, inputs)
        self.xp = xp
        ys = self.forward(*[t.data for t in inputs])
        single = type(ys) is not tuple
        if single:
            ys = (ys,)
        outs = tuple(Tensor(y) for y in ys)
        if record and _grad_enabled:
            self.inputs = inputs
            self.needs_input_grad = tuple(t.requires_grad for t in inputs)
            self.outputs = tuple(weakref.ref(o) for o in outs)
            # the arrays themselves are kept: an output tensor may be garbage before this
            # node's backward runs (its users freed their inputs first)
            self._output_data = ys
            self._pending = None
            for k, o in enumerate(outs):
                o.requires_grad = True
                o.creator = self
                o._out_index = k
        return outs[0] if single else outs

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, *grad_outputs):
        raise NotImplementedError

    # -- access to saved values in backward ----------------------------------------------------
    def saved_inputs(self):
        """The inputs: arrays normally, Tensors while recording the backward pass."""
        if _create_graph:
            return self.inputs
        return tuple(t.data for t in self.inputs)

    def saved_input(self, k: int = 0):
        t = self.inputs[k]
        return t if _create_graph else t.data

    def saved_output(self, k: int = 0):
        """Output ``k``: an array normally, the output Tensor while recording backward."""
        if not _create_graph:
            return self._output_data[k]
        out = self.outputs[k]()
        if out is None:                 # re-attach the array to this node: the same tensor
            out = Tensor(self._output_data[k])
            out.requires_grad, out.creator, out._out_index = True, self, k
        return out


def _raise_device_mismatch(op: str, inputs):
    devices = ", ".join(f"{t.device} (shape {t.shape})" for t in inputs)
    raise RuntimeError(
        f"{op}: all tensors must be on the same device, got {devices}; "
        "move them with .to('cpu') or .to('gpu')")


# ---- the backward pass ----------------------------------------------------------------------------
def _topological_order(roots):
    """Function nodes reachable from ``roots`` in topological order (inputs before users).

    Iterative depth-first search with an explicit stack, so graph depth is unbounded.
    """
    order, visited = [], set()
    # (node, expanded): a node is appended after everything it depends on. It is marked
    # visited when expanded, not when pushed: marking at push time breaks the order on
    # diamonds such as y * (1 - y), where y's node is reached along two paths.
    stack = [(r.creator, False) for r in roots if r.creator is not None]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        inputs = fn.inputs
        if inputs is None:
            raise RuntimeError(
                f"trying to backward through the graph a second time (node {type(fn).__name__} "
                "was already freed); pass retain_graph=True to the first backward() if you "
                "need to backward through it again")
        visited.add(id(fn))
        stack.append((fn, True))
        for t in inputs:
            c = t.creator
            if c is not None and t.requires_grad and id(c) not in visited:
                stack.append((c, False))
    return order


def _accumulate(a, b):
    """Out-of-place sum of two gradients (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


def _check_gradient_arg(root, gradient, create_graph):
    """The seed gradient for ``root``: an array, or a Tensor when create_graph."""
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"grad can be implicitly created only for one-element outputs, but the output "
                f"has shape {root.shape}; pass gradient= (a tensor of shape {root.shape})")
        g = backend.get_array_module(root.data).ones(root.shape, dtype=root.dtype)
    else:
        g = gradient.data if isinstance(gradient, Tensor) else gradient
        xp = backend.get_array_module(root.data)
        g = xp.asarray(g, dtype=root.dtype)
        if g.shape != root.shape:
            raise ValueError(
                f"gradient has shape {g.shape} but the output has shape {root.shape}; "
                "they must match")
    return Tensor(g) if create_graph else g


def run_backward(roots, gradients, retain_graph=False, create_graph=False, capture=None):
    """The backward pass from ``roots`` seeded with ``gradients``.

    If ``capture`` (a list of tensors) is given, their gradients are returned in that order
    instead of being accumulated into ``.grad`` (this is ``lfs.grad``).
    """
    global _create_graph
    for r in roots:
        if not r.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "the output was not computed from any tensor with requires_grad=True "
                "(or it was computed inside lfs.no_grad())")
    seeds = [_check_gradient_arg(r, g, create_graph) for r, g in zip(roots, gradients)]
    captured = {id(t): None for t in capture} if capture is not None else None
    leaf_grads = {}         # id -> [tensor, summed gradient]: .grad is set once, at the end

    def deliver_to_tensor(t, g):
        """A gradient for tensor t: summed into the capture dict or, later, into .grad."""
        if captured is not None:
            if id(t) in captured:
                captured[id(t)] = _accumulate(captured[id(t)], g)
            return
        if t.creator is None or t._retain:
            entry = leaf_grads.get(id(t))
            if entry is None:
                leaf_grads[id(t)] = [t, g]
            else:
                entry[1] = entry[1] + g

    order = _topological_order(roots)
    # seed gradients
    for r, g in zip(roots, seeds):
        fn = r.creator
        if fn is None:
            deliver_to_tensor(r, g)
            continue
        if fn._pending is None:
            fn._pending = [None] * len(fn.outputs)
        fn._pending[r._out_index] = _accumulate(fn._pending[r._out_index], g)

    previous_mode = _create_graph
    _create_graph = create_graph
    try:
        with _set_grad_enabled(create_graph):
            for fn in reversed(order):
                pending, fn._pending = fn._pending, None
                if pending is None:
                    continue            # no gradient flows into this node
                outs = [w() for w in fn.outputs]
                gys = []
                for k, g in enumerate(pending):
                    out = outs[k]
                    if g is not None and out is not None and (out._retain or captured is not None):
                        deliver_to_tensor(out, g)
                    if g is None:       # an output nobody used: its gradient is zero
                        g = _zeros_for(fn, k, out, create_graph)
                    gys.append(g)
                gxs = fn.backward(*gys)
                if type(gxs) is not tuple:
                    gxs = (gxs,)
                for t, gx, need in zip(fn.inputs, gxs, fn.needs_input_grad):
                    if not need or gx is None:
                        continue
                    if gx.shape != t.data.shape:
                        gx = sum_to(gx, t.data.shape)
                    c = t.creator
                    if c is None:
                        deliver_to_tensor(t, gx)
                    else:
                        if c._pending is None:
                            c._pending = [None] * len(c.outputs)
                        c._pending[t._out_index] = _accumulate(c._pending[t._out_index], gx)
                if not retain_graph:
                    fn.inputs = None    # free saved tensors; a second backward raises
                    fn._output_data = None
                    fn.__dict__.clear()
    finally:
        _create_graph = previous_mode
        for fn in order:                # a failed pass must not leave stale gradients behind
            fn._pending = None
    for t, g in leaf_grads.values():
        _set_grad(t, g, create_graph)
    if capture is not None:
        return [captured[id(t)] for t in capture]
    return None


def _zeros_for(fn, k, out, create_graph):
    like = fn._output_data[k]
    z = fn.xp.zeros(like.shape, dtype=like.dtype)
    return Tensor(z) if create_graph else z


def _set_grad(t, g, create_graph):
    """Out-of-place accumulation into t.grad (a fresh array, never shared with others)."""
    if isinstance(g, Tensor):
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is None:
        # gradients may alias arrays of the graph (add passes its gradient through to both
        # inputs), so a leaf's .grad gets its own copy
        t.grad = Tensor(g.copy())
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
    """Broadcast an array or Tensor to ``shape``."""
    if isinstance(g, Tensor):
        return _fn.broadcast_to(g, shape)
    return backend.get_array_module(g).broadcast_to(g, shape)


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
