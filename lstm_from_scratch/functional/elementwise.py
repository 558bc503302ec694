"""Element-wise primitives: arithmetic, exp/log, comparisons, where (and masked_fill), clip.

Each op is a Function with ``forward`` on arrays and ``backward`` on gradients. Binary ops
broadcast as NumPy does; the engine sums their gradients back to each input's shape
(``autograd.sum_to``), so no backward here deals with broadcasting.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function, Tensor, unary
from ._util import as_tensor_like, binary_operands, broadcast_error


def _binary(cls, a, b, op):
    # the common case, two tensors of one dtype, skips the conversions of binary_operands
    if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype is b.data.dtype):
        a, b = binary_operands(a, b, op)
    try:
        return cls()(a, b)
    except ValueError as e:
        if "broadcast" in str(e):
            raise broadcast_error(op, a.shape, b.shape) from None
        raise


class Add(Function):
    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class Sub(Function):
    def forward(self, a, b):
        return a - b

    def backward(self, gy):
        return gy, -gy


class Mul(Function):
    def forward(self, a, b):
        return a * b

    def backward(self, gy):
        # read only what is needed (a's gradient needs b, b's needs a): a value that is not
        # needed may be changed in place before backward, as in PyTorch
        need_a, need_b = self.needs_input_grad
        if need_a and need_b:
            a, b = self.saved_inputs()
            return gy * b, gy * a
        if need_a:
            return gy * self.saved_input(1), None
        return None, gy * self.saved_input(0)


class Div(Function):
    def forward(self, a, b):
        return a / b

    def backward(self, gy):
        b = self.saved_input(1)
        ga = gy / b
        gb = -ga * self.saved_input(0) / b if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class PowScalar(Function):
    """x ** p for a constant exponent p."""

    def __init__(self, p):
        self.p = p

    def forward(self, x):
        return x ** self.p

    def backward(self, gy):
        p = self.p
        if p == 0:
            # x ** 0 = 1 everywhere: the gradient is 0, also at x = 0 where the formula
            # below would give 0 * 0 ** -1 = nan (PyTorch: 0)
            return _zeros_like(gy)
        x = self.saved_input()
        if p == 2:
            return gy * (x * 2)
        return gy * (x ** (p - 1) * p)


class Pow(Function):
    """a ** b with a tensor exponent: d/da = b a^(b-1) (0 where b = 0), d/db = a^b log a
    (0 where a = 0 and b >= 0), as PyTorch's."""

    def forward(self, a, b):
        return a ** b

    def backward(self, gy):
        a, b = self.saved_inputs()
        ga = gb = None
        if self.needs_input_grad[0]:
            # where b == 0 the gradient is 0; the exponent b - 1 = -1 would give 0 * inf = nan
            # at a = 0, so use exponent 1 there (no warning) and set those entries to 0
            zero = (b.data if isinstance(b, Tensor) else b) == 0
            if isinstance(b, Tensor):
                exponent = where(Tensor(zero), 1.0, b - 1)
                ga = _where_zero(zero, gy * b * a ** exponent)
            else:
                exponent = backend.get_array_module(b).where(zero, b.dtype.type(1), b - 1)
                with np.errstate(divide="ignore"):      # 0 ** negative: inf, as PyTorch
                    ga = _where_zero(zero, gy * b * a ** exponent)
        if self.needs_input_grad[1]:
            y = self.saved_output()
            # log a is undefined for a <= 0; where y == 0 (a == 0, b > 0) the term is 0
            gb = gy * y * unary("log", _where_positive(a))
        return ga, gb


def _zeros_like(g):
    if isinstance(g, Tensor):
        return Tensor(backend.get_array_module(g.data).zeros(g.shape, dtype=g.dtype))
    return backend.get_array_module(g).zeros(g.shape, dtype=g.dtype)


def _where_zero(mask, g):
    """g with the entries where ``mask`` holds set to 0 (an array or a Tensor)."""
    if isinstance(g, Tensor):
        return where(Tensor(mask), 0.0, g)
    xp = backend.get_array_module(g)
    return xp.where(mask, g.dtype.type(0), g)


def _where_positive(a):
    """a where a > 0, else 1 (so log gives 0): the safe argument for d(a**b)/db."""
    if isinstance(a, Tensor):
        mask = a.data > 0
        return where(Tensor(mask), a, 1.0)
    # a dtype-typed 1: an int array here (1 - mask) would promote float32 to float64
    return backend.get_array_module(a).where(a > 0, a, a.dtype.type(1))


class Exp(Function):
    def forward(self, x):
        return self.xp.exp(x)

    def backward(self, gy):
        return gy * self.saved_output()


class Log(Function):
    def forward(self, x):
        return self.xp.log(x)

    def backward(self, gy):
        return gy / self.saved_input()


class Sqrt(Function):
    def forward(self, x):
        return self.xp.sqrt(x)

    def backward(self, gy):
        return gy / (self.saved_output() * 2)


class Abs(Function):
    def forward(self, x):
        self.sign = self.xp.sign(x)     # d|x|/dx; 0 at 0, as PyTorch
        return self.xp.abs(x)

    def backward(self, gy):
        return gy * self.sign


class Maximum(Function):
    """Element-wise max; at ties the gradient is split equally (as PyTorch)."""

    def forward(self, a, b):
        xp = self.xp
        self.wa = (a > b) + (a == b) * a.dtype.type(0.5)
        self.wa = self.wa.astype(a.dtype)
        return xp.maximum(a, b)

    def backward(self, gy):
        return gy * self.wa, gy * (1 - self.wa)


class Minimum(Function):
    def forward(self, a, b):
        xp = self.xp
        self.wa = ((a < b) + (a == b) * a.dtype.type(0.5)).astype(a.dtype)
        return xp.minimum(a, b)

    def backward(self, gy):
        return gy * self.wa, gy * (1 - self.wa)


class Clip(Function):
    """Clamp to [lo, hi]; the gradient passes where lo <= x <= hi (as PyTorch's clamp)."""

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = self.xp
        mask = xp.ones(x.shape, dtype=bool)
        if self.lo is not None:
            mask &= x >= self.lo
        if self.hi is not None:
            mask &= x <= self.hi
        self.mask = mask.astype(x.dtype)
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        return gy * self.mask


class Where(Function):
    """where(cond, a, b); cond is a constant boolean array."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return self.xp.where(self.cond, a, b)

    def backward(self, gy):
        c = self.cond
        return gy * c, gy * ~c


class Clone(Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        if isinstance(gy, Tensor):
            return astype(gy, self.in_dtype)
        return gy.astype(self.in_dtype)


class ToDevice(Function):
    """Copy between CPU and GPU; the gradient is copied back."""

    def __init__(self, device):
        self.device = device

    def __call__(self, x):
        # inputs and outputs live on different devices: bypass the same-device check
        from .. import backend
        self.source = x.device
        self.xp = backend.xp_for(self.device)
        return Function.__call__(self, x)

    def forward(self, x):
        from .. import backend
        return backend.to_device(x, self.device)

    def backward(self, gy):
        from .. import backend
        if isinstance(gy, Tensor):
            return to_device(gy, self.source)
        return backend.to_device(gy, self.source)


# ---- the public functions ------------------------------------------------------------------
def add(a, b):
    return _binary(Add, a, b, "add")


def sub(a, b):
    return _binary(Sub, a, b, "sub")


def mul(a, b):
    return _binary(Mul, a, b, "mul")


def div(a, b):
    return _binary(Div, a, b, "div")


def neg(x):
    return Neg()(x)


def pow(x, exponent):
    """``x ** exponent``: a constant exponent (Python number) or a tensor exponent."""
    if isinstance(exponent, Tensor) or hasattr(exponent, "shape") and not hasattr(exponent, "is_integer"):
        return _binary(Pow, x, exponent, "pow")
    if not isinstance(x, Tensor):
        raise TypeError(f"pow: base must be a Tensor when the exponent is a number, got {type(x).__name__}")
    return PowScalar(exponent)(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def sqrt(x):
    return Sqrt()(x)


def abs(x):
    return Abs()(x)


def maximum(a, b):
    return _binary(Maximum, a, b, "maximum")


def minimum(a, b):
    return _binary(Minimum, a, b, "minimum")


def clip(x, min=None, max=None):
    """Clamp ``x`` to ``[min, max]`` (either bound may be None)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given")
    return Clip(min, max)(x)


clamp = clip


def where(condition, a, b):
    """Elements of ``a`` where ``condition`` is true, else of ``b`` (condition: bool)."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if like is None:
        raise TypeError("where: at least one of a and b must be a Tensor")
    cond = backend.array_on(cond, like.device, op="where", what="condition",
                            other="a and b are", host_data=not isinstance(condition, Tensor))
    if cond.dtype != bool:
        raise TypeError(f"where: condition must be boolean, got dtype {cond.dtype}")
    a, b = binary_operands(a, b, "where")
    try:
        return Where(cond)(a, b)
    except ValueError as e:
        if "broadcast" in str(e):
            raise broadcast_error("where", cond.shape, a.shape, b.shape) from None
        raise


def masked_fill(x, mask, value):
    """``x`` with ``value`` wherever ``mask`` is True, as ``torch.Tensor.masked_fill``.

    x: a Tensor; mask: boolean (Tensor or array) broadcastable to ``x``'s shape (never
    larger); value: a Python number (e.g. ``float("-inf")``, to give a position exactly zero
    weight in a following softmax). The gradient flows to ``x`` where ``mask`` is False and
    is zero where it is True. It is ``where(mask, value, x)``: the same node, PyTorch's name.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"masked_fill: x must be a Tensor, got {type(x).__name__}")
    if isinstance(value, Tensor) or hasattr(value, "shape"):
        raise TypeError("masked_fill: value must be a Python number (a 0-d fill value), "
                        f"got {type(value).__name__}")
    m = mask.data if isinstance(mask, Tensor) else mask
    m_shape = tuple(getattr(m, "shape", ()))
    dtype = getattr(m, "dtype", None)
    if dtype is None or dtype != bool:
        raise TypeError(f"masked_fill: mask must be boolean, got "
                        f"{'dtype ' + str(dtype) if dtype is not None else type(mask).__name__}")
    try:
        shape = np.broadcast_shapes(m_shape, x.shape)      # shapes only: no array is touched
    except ValueError:
        shape = None
    if shape != x.shape:
        raise ValueError(f"masked_fill: mask of shape {m_shape} does not broadcast to the "
                         f"shape {x.shape} of x")
    return where(mask, value, x)


def astype(x, dtype):
    return AsType(dtype)(x)


def clone(x):
    """A copy of ``x`` with its own memory; the gradient passes through unchanged."""
    return Clone()(x)


def to_device(x, device):
    return ToDevice(device)(x)


# ---- comparisons: boolean tensors, not differentiable ---------------------------------------------
def _compare(a, b, ufunc_name, op):
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b, op, "the first operand")
    if not isinstance(b, Tensor):
        b = as_tensor_like(b, a, op, "the second operand")
    if a.device != b.device:
        raise backend.device_mismatch(op, "the second operand", b.device, a.device,
                                      "the first is")
    try:
        return Tensor(getattr(a.data, ufunc_name)(b.data))
    except ValueError as e:
        if "broadcast" in str(e):
            raise broadcast_error(op, a.shape, b.shape) from None
        raise


def eq(a, b):
    return _compare(a, b, "__eq__", "eq")


def ne(a, b):
    return _compare(a, b, "__ne__", "ne")


def lt(a, b):
    return _compare(a, b, "__lt__", "lt")


def le(a, b):
    return _compare(a, b, "__le__", "le")


def gt(a, b):
    return _compare(a, b, "__gt__", "gt")


def ge(a, b):
    return _compare(a, b, "__ge__", "ge")
