"""Matrix multiplication for 1-D, 2-D and batched (broadcast) operands."""
from __future__ import annotations

from .. import backend
from ..autograd import DeferredGradient, Function, Tensor
from ..autograd.ops import register
from ._util import binary_operands

DEFER_WEIGHT_GRADIENTS = True     # Linear's weight gradient as a SumOfProducts (see there)


class MatMul(Function):
    """y = a @ b with NumPy's rules: 1-D operands are promoted to matrices and the added
    dimension is removed afterwards; leading (batch) dimensions broadcast."""

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        need_a, need_b = self.needs_input_grad
        # a's gradient needs b, b's needs a; shapes are read from the input tensors
        a = self.saved_input(0) if need_b else self.inputs[0].data
        b = self.saved_input(1) if need_a else self.inputs[1].data
        if a.ndim == 1 and b.ndim == 1:                 # dot product: gy is a scalar
            return (gy * b if need_a else None), (gy * a if need_b else None)
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a          # (1, n)
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b          # (n, 1)
        if a.ndim == 1:
            gy = gy.reshape(gy.shape[:-1] + (1,) + gy.shape[-1:])
        if b.ndim == 1:
            gy = gy.reshape(gy.shape + (1,))
        ga = gb = None
        # In a batched product with one row (m = 1, e.g. one query against many keys) or one
        # column (n = 1), a gradient is a batch of outer products, contracted over a length-1
        # axis; NumPy's matmul runs those 2-3x slower than the same broadcast multiplication.
        batched = a2.ndim > 2 or b2.ndim > 2
        if need_a:
            if batched and b2.shape[-1] == 1:
                ga = gy * b2.swapaxes(-1, -2)            # (..., m, 1) * (..., 1, k)
            else:
                ga = gy @ b2.swapaxes(-1, -2)
            if a.ndim == 1:                              # drop the promoted row axis
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
        if need_b:
            if batched and a2.shape[-2] == 1:
                gb = a2.swapaxes(-1, -2) * gy            # (..., k, 1) * (..., 1, n)
            else:
                gb = a2.swapaxes(-1, -2) @ gy
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1])
        return ga, gb                                    # the engine sums batch dimensions


@register
def matmul(a, b):
    """``a @ b``; a shape mismatch names both shapes."""
    a, b = binary_operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes "
                         f"{a.shape} and {b.shape} (use * for scalars)")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} are not aligned: the last dimension of "
            f"the first ({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} "
            f"dimension of the second ({k_b})")
    try:
        return MatMul()(a, b)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} "
                         "cannot be broadcast together") from None


class Linear(Function):
    """y = x W^T + b as one node (PyTorch's ``F.linear``).

    The same numbers as ``x @ W.T + b``, but the weight gradient comes out as one contiguous
    (out, in) product ``gy^T x`` instead of a transposed view of ``x^T gy`` that is then added
    element by element into W's gradient, and the graph has one node instead of three. The
    recurrent layers apply it once per time step, where this matters.
    x: (..., in), weight: (out, in), bias: (out,) or absent -> (..., out).
    """

    def forward(self, x, weight, bias=None):
        y = x @ weight.T
        if bias is not None:
            y += bias               # y is a new array: adding in place is safe
        return y

    def backward(self, gy):
        needs = self.needs_input_grad
        n_inputs = len(self.inputs)
        # x's gradient needs the weight, the weight's needs x; the bias's needs neither
        gx = None
        if needs[0]:
            w = self.saved_input(1)
            if gy.ndim == 2 and w.ndim == 2 and _is_column_major(w):
                # W stored column by column (column_major): the contiguous W^T as the left
                # operand is OpenBLAS's fast case; gy @ W would read it transposed
                gx = self.xp.ascontiguousarray((w.T @ gy.T).T)
            else:
                gx = gy @ w
        gw = gb = None
        if needs[1]:
            x = self.saved_input(0)
            rows_gy = gy.reshape((-1, gy.shape[-1])) if gy.ndim != 2 else gy
            rows_x = x.reshape((-1, x.shape[-1])) if x.ndim != 2 else x
            creator = self.inputs[1].creator
            if (DEFER_WEIGHT_GRADIENTS and not isinstance(gy, Tensor)
                    and (creator is None or creator.accepts_deferred_gradient)):
                gw = SumOfProducts(rows_gy, rows_x)      # summed first, multiplied once
            else:
                gw = rows_gy.T @ rows_x
        if n_inputs > 2 and needs[2]:
            gb = gy.sum(axis=tuple(range(gy.ndim - 1))) if gy.ndim > 1 else gy
        return (gx, gw) if n_inputs == 2 else (gx, gw, gb)


def _is_column_major(a):
    flags = getattr(a, "flags", None)       # a Tensor (create_graph) has none: not here
    return flags is not None and flags.f_contiguous and not flags.c_contiguous


class SumOfProducts(DeferredGradient):
    """sum_k gy_k^T x_k, kept as its factors until the backward pass is over.

    A recurrent layer applies one weight at every time step, so its gradient is a sum of T
    products (B, out)^T (B, in), each then added into the running sum: T small products and T
    passes over the whole (out, in) matrix. Kept as factors, the sum is one product of the
    stacked rows, (T*B, out)^T (T*B, in), computed once (as the fused kernels and chapter 5's
    eq-bptt-weights do it). The graph and what each node computes are unchanged; only the
    order in which the engine adds the terms is (a rounding-level difference).
    """

    __slots__ = ("gys", "xs", "dense", "shape")

    def __init__(self, gy, x):
        self.gys, self.xs, self.dense = [gy], [x], None
        self.shape = (gy.shape[1], x.shape[1])

    def __iadd__(self, other):
        if isinstance(other, SumOfProducts):
            self.gys += other.gys
            self.xs += other.xs
            other = other.dense
        if other is not None:
            self.dense = other if self.dense is None else self.dense + other
        return self

    def __add__(self, other):
        new = SumOfProducts.__new__(SumOfProducts)
        new.gys, new.xs, new.dense, new.shape = list(self.gys), list(self.xs), self.dense, \
            self.shape
        new += other
        return new

    __radd__ = __add__

    def materialize(self):
        xp = backend.get_array_module(self.gys[0])
        gy = self.gys[0] if len(self.gys) == 1 else xp.concatenate(self.gys)
        x = self.xs[0] if len(self.xs) == 1 else xp.concatenate(self.xs)
        g = xp.matmul(gy.T, x)      # (np.matmul, not @: the profilers time the products)
        if self.dense is not None:
            g += self.dense
        return g


def linear(x, weight, bias=None):
    """``x @ weight.T + bias`` as one node; x: (..., in), weight: (out, in), bias: (out,)."""
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out, in), got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input has shape {x.shape}, but weight of shape "
                         f"{weight.shape} expects {weight.shape[1]} features in the last dimension")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"linear: {name} has dtype {t.dtype}, input has {x.dtype}")
    if bias is None:
        return Linear()(x, weight)
    return Linear()(x, weight, bias)
