"""``Tensor``: an array that records the operations applied to it.

A Tensor wraps a NumPy or CuPy array (``.data``). Its operators and differentiable methods
are declared in the class body with the name of their function (``__add__ =
ops.method("add")``) and are those functions of ``functional/``, bound when they register
(``autograd/ops.py``); its in-place methods come from ``inplace.py``; ``backward()`` runs the
pass of ``backward.py``.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import backend
from . import ops
from .hooks import RemovableHandle, post_accumulate_grad_hooks
from .inplace import InPlaceMethods

# ---- dtypes ----------------------------------------------------------------------------------
_DEFAULT_FLOAT = np.dtype(np.float32)


def _is_float(dtype) -> bool:
    return dtype.kind == "f"


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
                dtype = backend.as_dtype(a)
            except TypeError:
                raise TypeError(f"{op}(): {a!r} is neither a device ('cpu', 'gpu' or 'cuda') "
                                "nor a dtype (lfs.float32, 'float64', ...)") from None
    dev = backend.parse_device(str(device)) if device is not None else None
    return dev, backend.as_dtype(dtype)


# ---- Tensor ----------------------------------------------------------------------------------
class Tensor(InPlaceMethods):
    """An n-dimensional array that can record the operations applied to it.

    Attributes:
        data: the raw ``numpy.ndarray`` (CPU) or ``cupy.ndarray`` (GPU).
        grad: a Tensor with the gradient of the last ``backward()`` w.r.t. this tensor
            (leaf tensors, and any tensor after ``retain_grad()``), else None.
        requires_grad: whether operations on this tensor are recorded.
        creator: the Function node that produced this tensor (None for leaves).
    """

    # (_rebases is set only by a recorded in-place op, so creating a tensor never touches it)
    __slots__ = ("data", "grad", "requires_grad", "creator", "_out_index", "name",
                 "_post_accumulate_grad_hooks", "_rebases", "__weakref__")
    __array_priority__ = 1000          # ndarray <op> Tensor defers to Tensor.__r<op>__

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        self.data = data
        self.grad = None
        self.creator = None
        self._out_index = 0
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
        return ops.transpose(self)

    @property
    def mT(self) -> "Tensor":
        return ops.swapaxes(self, -1, -2)

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
        """Keep ``.grad`` for this non-leaf tensor after ``backward()`` (a leaf gets its
        ``.grad`` anyway)."""
        fn = self.creator
        if fn is not None:      # the node hands this output's gradient over in backward
            if fn._retained is None:
                fn._retained = {}
            fn._retained[self._out_index] = weakref.ref(self)   # weak: no tensor<->node cycle

    @property
    def retains_grad(self) -> bool:
        """Whether this non-leaf tensor called ``retain_grad()`` (PyTorch's property): its
        node keeps a reference to it."""
        fn = self.creator
        if fn is None or fn._retained is None:
            return False
        ref = fn._retained.get(self._out_index)
        return ref is not None and ref() is self

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
        if key not in post_accumulate_grad_hooks:
            def forget(_ref, key=key):          # the tensor is gone: so are its hooks
                post_accumulate_grad_hooks.pop(key, None)
            post_accumulate_grad_hooks[key] = weakref.ref(self, forget)
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
        return ops.clone(self)

    def to(self, *args, device=None, dtype=None, non_blocking=False, copy=False) -> "Tensor":
        """Move to ``"cpu"``/``"gpu"`` and/or cast to ``dtype``, as PyTorch's ``to``:
        ``t.to("gpu")``, ``t.to(lfs.float64)``, ``t.to("float64")``, ``t.to("cpu", dtype)``,
        ``t.to(other)`` (other's device and dtype). Differentiable for floating dtypes; a cast
        to an integer or boolean dtype gives a tensor that does not require grad.
        ``non_blocking`` is accepted for PyTorch code and ignored."""
        dev, dt = parse_to_args(args, device, dtype)
        out = self
        if dev is not None and dev != self.device:
            out = ops.to_device(out, dev)
        if dt is not None and dt != out.dtype:
            if dt.kind == "f":
                out = ops.astype(out, dt)
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
        from .backward import run_backward    # the engine uses Tensor: imported when first run
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

    # -- operators and differentiable methods ----------------------------------------------
    # Each is the function of the same name in functional/ (``x + y`` is
    # ``functional.elementwise.add(x, y)``), defined there beside its Function; its
    # ``@register`` binds it here when functional is imported (see autograd/ops.py).
    __add__, __radd__ = ops.method("add"), ops.method("add", reflected=True)
    __sub__, __rsub__ = ops.method("sub"), ops.method("sub", reflected=True)
    __mul__, __rmul__ = ops.method("mul"), ops.method("mul", reflected=True)
    __truediv__, __rtruediv__ = ops.method("div"), ops.method("div", reflected=True)
    __matmul__, __rmatmul__ = ops.method("matmul"), ops.method("matmul", reflected=True)
    __pow__, __rpow__ = ops.method("pow"), ops.method("pow", reflected=True)
    __neg__ = ops.method("neg")
    __abs__ = ops.method("abs")
    __getitem__ = ops.method("getitem")
    # comparisons give boolean tensors (element-wise, as PyTorch's), never a graph
    __eq__, __ne__ = ops.method("eq"), ops.method("ne")
    __lt__, __le__ = ops.method("lt"), ops.method("le")
    __gt__, __ge__ = ops.method("gt"), ops.method("ge")
    __hash__ = object.__hash__          # by identity, although == is element-wise

    def __pos__(self):
        return self

    # element-wise functions and activations (functional/elementwise.py, activation.py)
    exp, log, sqrt = ops.method("exp"), ops.method("log"), ops.method("sqrt")
    abs, pow = ops.method("abs"), ops.method("pow")
    sigmoid, tanh, relu = ops.method("sigmoid"), ops.method("tanh"), ops.method("relu")
    softmax, log_softmax = ops.method("softmax"), ops.method("log_softmax")
    clip = clamp = ops.method("clip")
    maximum, minimum = ops.method("maximum"), ops.method("minimum")
    masked_fill = ops.method("masked_fill")
    matmul = ops.method("matmul")                                       # (linalg.py)
    # reductions (functional/reduction.py): axis/keepdims or dim/keepdim
    sum, mean, var = ops.method("sum"), ops.method("mean"), ops.method("var")
    max, min = ops.method("max"), ops.method("min")
    amax, amin = ops.method("amax"), ops.method("amin")
    argmax, argmin = ops.method("argmax"), ops.method("argmin")
    # shapes (functional/shape.py)
    reshape = view = ops.method("reshape")
    transpose, permute = ops.method("transpose"), ops.method("permute")
    swapaxes, broadcast_to = ops.method("swapaxes"), ops.method("broadcast_to")
    squeeze, unsqueeze = ops.method("squeeze"), ops.method("unsqueeze")
    flatten, flip = ops.method("flatten"), ops.method("flip")
    chunk, split = ops.method("chunk"), ops.method("split")

    def expand(self, *shape):
        """``broadcast_to`` with PyTorch's spelling: ``x.expand(3, 4)`` or ``x.expand((3, 4))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.broadcast_to(self, shape)
