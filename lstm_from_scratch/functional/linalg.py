"""Matrix multiplication for 1-D, 2-D and batched (broadcast) operands."""
from __future__ import annotations

from ..autograd import Function
from ._util import binary_operands


class MatMul(Function):
    """y = a @ b with NumPy's rules: 1-D operands are promoted to matrices and the added
    dimension is removed afterwards; leading (batch) dimensions broadcast."""

    def forward(self, a, b):
        return a @ b

    def backward(self, gy):
        a, b = self.saved_inputs()
        need_a, need_b = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:                 # dot product: gy is a scalar
            return (gy * b if need_a else None), (gy * a if need_b else None)
        a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a          # (1, n)
        b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b          # (n, 1)
        if a.ndim == 1:
            gy = gy.reshape(gy.shape[:-1] + (1,) + gy.shape[-1:])
        if b.ndim == 1:
            gy = gy.reshape(gy.shape + (1,))
        ga = gb = None
        if need_a:
            ga = gy @ b2.swapaxes(-1, -2)
            if a.ndim == 1:                              # drop the promoted row axis
                ga = ga.reshape(ga.shape[:-2] + ga.shape[-1:])
        if need_b:
            gb = a2.swapaxes(-1, -2) @ gy
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1])
        return ga, gb                                    # the engine sums batch dimensions


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
