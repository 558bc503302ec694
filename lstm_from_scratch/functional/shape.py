"""Shape primitives: reshape, transpose/permute, broadcast_to, concat, stack, split, chunk,
indexing (getitem) and its adjoint, scatter-add."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor
from ._util import normalize_axis, pick_axis


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return gy.reshape(self.in_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return gy.transpose()
        inverse = tuple(int(i) for i in np.argsort(self.axes))
        return gy.transpose(inverse)


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        return self.xp.broadcast_to(x, self.shape)

    def backward(self, gy):
        return gy       # the engine sums it back to the input's shape


class Concat(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.bounds = np.cumsum([x.shape[self.axis] for x in xs])[:-1].tolist()
        return self.xp.concatenate(xs, axis=self.axis)

    def backward(self, gy):
        return tuple(split_at(gy, self.bounds, self.axis))


class Stack(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.n = len(xs)
        return self.xp.stack(xs, axis=self.axis)

    def backward(self, gy):
        index = (slice(None),) * self.axis
        return tuple(gy[index + (k,)] for k in range(self.n))


class Split(Function):
    """Cut ``x`` at ``bounds`` along ``axis``; several outputs, one node."""

    def __init__(self, bounds, axis):
        self.bounds, self.axis = bounds, axis

    def forward(self, x):
        # basic slicing gives the same views as xp.split, without its per-call overhead
        # (tens of microseconds in NumPy, more than the LSTM's whole gate computation)
        lead = (slice(None),) * self.axis
        edges = [0, *self.bounds, x.shape[self.axis]]
        return tuple([x[lead + (slice(edges[k], edges[k + 1]),)] for k in range(len(edges) - 1)])

    def backward(self, *gys):
        return concat(gys, self.axis) if isinstance(gys[0], Tensor) else \
            self.xp.concatenate(gys, axis=self.axis)


def split_at(g, bounds, axis):
    """Split an array or Tensor at index ``bounds`` along ``axis`` (engine helper)."""
    if isinstance(g, Tensor):
        return Split(list(bounds), axis)(g)
    return backend.get_array_module(g).split(g, bounds, axis=axis)


def _has_advanced_index(index) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    for it in items:
        if isinstance(it, (list, np.ndarray)) or hasattr(it, "__cuda_array_interface__"):
            return True
        if isinstance(it, Tensor):
            return True
    return False


def _unwrap_index(index, xp):
    """Tensors and lists in an index become arrays of the data's module (host indices are
    copied to the GPU, as PyTorch allows; GPU indices for CPU data are an error)."""
    device = "cpu" if xp is np else "gpu"

    def conv(it):
        if isinstance(it, Tensor):
            it = it.data
        if isinstance(it, (list, np.ndarray)) or hasattr(it, "__cuda_array_interface__"):
            arr = backend.array_on(it, device, op="getitem", what="an index array",
                                   other="the indexed tensor is")
            if arr.dtype.kind not in "iub":
                raise IndexError(f"index arrays must be integer or boolean, got dtype {arr.dtype}")
            return arr
        return it
    if isinstance(index, tuple):
        return tuple(conv(i) for i in index)
    return conv(index)


def _scatter_add(xp, target, index, values):
    """target[index] += values with repeated indices adding up, on NumPy and CuPy."""
    if xp is np:
        np.add.at(target, index, values)
    else:
        import cupyx
        cupyx.scatter_add(target, index, values)


class GetItem(Function):
    def __init__(self, index, advanced):
        self.index, self.advanced = index, advanced

    def forward(self, x):
        self.in_shape = x.shape
        y = x[self.index]
        if isinstance(y, np.generic):
            # NumPy returns a scalar (a copy) for a full integer index; PyTorch a 0-d view,
            # which in-place writes (e = x[0]; e += 1) must reach: ask NumPy for the view
            y = x[(self.index if isinstance(self.index, tuple) else (self.index,)) + (Ellipsis,)]
        return y

    def backward(self, gy):
        return ScatterAdd(self.index, self.in_shape, self.advanced)(gy) if isinstance(gy, Tensor) \
            else ScatterAdd(self.index, self.in_shape, self.advanced).forward_with(self.xp, gy)


class ScatterAdd(Function):
    """The adjoint of indexing: zeros of ``shape`` with ``gy`` added at ``index``."""

    def __init__(self, index, shape, advanced):
        self.index, self.shape, self.advanced = index, shape, advanced

    def forward_with(self, xp, gy):
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if self.advanced:
            _scatter_add(xp, gx, self.index, gy)     # repeated indices accumulate
        else:
            gx[self.index] = gy                      # basic slices never repeat an element
        return gx

    def forward(self, gy):
        return self.forward_with(self.xp, gy)

    def backward(self, ggx):
        return ggx[self.index]


class SetItem(Function):
    """``x[index] = v`` out of place: a copy of x with v written at index. The gradient of x
    is zero where v was written; v gets the gradient of the positions it was written to."""

    def __init__(self, index):
        self.index = index

    def forward(self, x, v):
        out = x.copy()
        out[self.index] = v
        keep = self.xp.ones(x.shape, dtype=bool)
        keep[self.index] = False
        self.keep = keep
        return out

    def backward(self, gy):
        gx = gy * self.keep if self.needs_input_grad[0] else None
        gv = gy[self.index] if self.needs_input_grad[1] else None
        return gx, gv           # the engine sums gv back to v's shape (broadcast values)


# ---- public functions ---------------------------------------------------------------------------
def reshape(x, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    try:
        return Reshape(tuple(int(s) for s in shape))(x)
    except ValueError:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.numel()} elements) into shape {tuple(shape)}") from None


def transpose(x, *axes):
    """PyTorch's ``transpose(x, dim0, dim1)``: swap two dimensions, for any number of
    dimensions (``x.transpose(0, 1)`` of a matrix is its transpose).

    NumPy's forms work too: no arguments reverse the axes, and a permutation given as one
    tuple or as three or more axes permutes them (``x.transpose((1, 0, 2))``).
    """
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        return permute(x, *tuple(axes[0]))
    if not axes:
        return Transpose(None)(x)
    if len(axes) == 2:
        return swapaxes(x, axes[0], axes[1])
    return permute(x, *axes)


def permute(x, *axes):
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    norm = normalize_axis(axes, x.ndim, "permute")
    if sorted(norm) != list(range(x.ndim)):
        raise ValueError(f"permute: axes {tuple(axes)} are not a permutation of the "
                         f"{x.ndim} axes of a tensor of shape {x.shape}")
    return Transpose(norm)(x)


def swapaxes(x, a, b):
    a, b = normalize_axis((a, b), x.ndim, "swapaxes")
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return Transpose(tuple(axes))(x)


def broadcast_to(x, shape):
    shape = tuple(int(s) for s in shape)
    if x.shape == shape:
        return x
    try:
        return BroadcastTo(shape)(x)
    except ValueError:
        raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {shape}") from None


def _check_same(xs, op, axis):
    if not xs:
        raise ValueError(f"{op}: needs at least one tensor")
    xs = list(xs)
    first = xs[0]
    for k, t in enumerate(xs):
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: element {k} is a {type(t).__name__}, expected a Tensor")
        if t.dtype != first.dtype:
            raise TypeError(f"{op}: element {k} has dtype {t.dtype}, element 0 has {first.dtype}")
    return xs


def _axis_or_0(axis, dim, op):
    """axis= or dim= (PyTorch's name), default 0."""
    axis = pick_axis(axis, dim, op)
    return 0 if axis is None else axis


def concat(xs, axis=None, *, dim=None):
    xs = _check_same(xs, "concat", axis)
    axis = normalize_axis(_axis_or_0(axis, dim, "concat"), xs[0].ndim, "concat")[0]
    for k, t in enumerate(xs):
        if t.ndim != xs[0].ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, xs[0].shape)) if i != axis):
            raise ValueError(f"concat: element {k} has shape {t.shape}, element 0 has {xs[0].shape}; "
                             f"all dimensions but axis {axis} must match")
    return Concat(axis)(*xs)


cat = concat


def stack(xs, axis=None, *, dim=None):
    xs = _check_same(xs, "stack", axis)
    for k, t in enumerate(xs):
        if t.shape != xs[0].shape:
            raise ValueError(f"stack: element {k} has shape {t.shape}, element 0 has {xs[0].shape}; "
                             "all must be equal")
    axis = normalize_axis(_axis_or_0(axis, dim, "stack"), xs[0].ndim + 1, "stack")[0]
    return Stack(axis)(*xs)


def split(x, split_size_or_sections, axis=None, *, dim=None):
    """PyTorch's split: an int is the size of each piece (the last may be smaller);
    a list gives the size of every piece and must add up to the axis length."""
    axis = normalize_axis(_axis_or_0(axis, dim, "split"), x.ndim, "split")[0]
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        bounds = list(range(size, n, size))
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} add up to {sum(sizes)}, but axis {axis} "
                             f"of shape {x.shape} has length {n}")
        bounds = np.cumsum(sizes)[:-1].tolist()
    if not bounds:
        return (x,)
    return Split(bounds, axis)(x)


def chunk(x, chunks, axis=None, *, dim=None):
    """PyTorch's chunk: pieces of size ceil(n / chunks) along ``axis``."""
    axis = normalize_axis(_axis_or_0(axis, dim, "chunk"), x.ndim, "chunk")[0]
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    n = x.shape[axis]
    size = -(-n // chunks)
    return split(x, max(size, 1), axis)


def getitem(x, index):
    xp = backend.get_array_module(x.data)
    advanced = _has_advanced_index(index)
    index = _unwrap_index(index, xp) if advanced else index
    try:
        return GetItem(index, advanced)(x)
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {x.shape}: {e}") from None


def plain_index(index, array):
    """An index for ``array`` with Tensors and lists turned into arrays of its module."""
    if not _has_advanced_index(index):
        return index
    return _unwrap_index(index, backend.get_array_module(array))


def setitem(x, index, value):
    """``x`` with ``value`` written at ``index``, as a new tensor on the graph (what
    ``x[index] = value`` records; see ``Tensor.__setitem__``)."""
    if x.dtype != value.dtype:
        raise TypeError(f"setitem: value has dtype {value.dtype}, the tensor {x.dtype}")
    key = plain_index(index, x.data)
    try:
        return SetItem(key)(x, value)
    except (ValueError, IndexError) as e:
        raise type(e)(f"setitem: cannot assign a value of shape {value.shape} to index "
                      f"{index!r} of a tensor of shape {x.shape}: {e}") from None


def squeeze(x, axis=None, *, dim=None):
    axis = pick_axis(axis, dim, "squeeze")
    if axis is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axes = normalize_axis(axis, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1))
    return reshape(x, shape)


def unsqueeze(x, axis=None, *, dim=None):
    axis = normalize_axis(pick_axis(axis, dim, "unsqueeze"), x.ndim + 1, "unsqueeze")[0]
    shape = list(x.shape)
    shape.insert(axis, 1)
    return reshape(x, tuple(shape))


def flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = normalize_axis((start_dim, end_dim), x.ndim, "flatten")
    shape = x.shape[:s] + (-1,) + x.shape[e + 1:]
    return reshape(x, shape)
