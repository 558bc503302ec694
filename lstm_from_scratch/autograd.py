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
    if isinstance(dtype, type):            # np.float64, lfs.float64: a scalar type, not a name
        return np.dtype(dtype)
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
                 "_post_accumulate_grad_hooks", "__weakref__")
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
    def grad_fn(self):
        """PyTorch's name for ``creator``: the node that made this tensor (None for leaves)."""
        return self.creator

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

        if not (record and _grad_enabled):          # nothing to record: plain results
            if ys.__class__ is tuple:
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
    def saved_inputs(self):
        """The inputs: arrays normally, Tensors while recording the backward pass."""
        inputs = self.inputs
        if _create_graph:
            return inputs
        if len(inputs) == 2:
            return inputs[0].data, inputs[1].data
        return tuple([t.data for t in inputs])

    def saved_input(self, k: int = 0):
        t = self.inputs[k]
        return t if _create_graph else t.data

    def saved_output(self, k: int = 0):
        """Output ``k``: an array normally, a Tensor of this node while recording backward.

        The Tensor is attached to this node as output ``k``, so gradients flowing through it
        reach this node exactly as they would through the original output tensor.
        """
        if not _create_graph:
            return self._output_data[k]
        out = Tensor(self._output_data[k])
        out.requires_grad, out.creator, out._out_index = True, self, k
        return out


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
    global _create_graph
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
    previous_mode = _create_graph
    _create_graph = create_graph
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
        _create_graph = previous_mode
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
