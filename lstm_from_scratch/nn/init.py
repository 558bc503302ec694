"""Weight initialisation, in place, with PyTorch's names (``nn.init.uniform_`` ...).

Every function overwrites ``tensor.data`` with numbers drawn from the library's generator
for the tensor's device (``lfs.manual_seed`` makes them reproducible), in the tensor's dtype,
records no graph, and returns the tensor.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor, increment_version


def _check(tensor, op):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expects a Tensor or Parameter, got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{op}: expects a floating-point tensor, got dtype {tensor.dtype}")


def _fill(tensor, values):
    tensor.data[...] = values
    increment_version(tensor)           # an in-place write, as torch's init functions
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with samples of U(a, b)."""
    _check(tensor, "uniform_")
    g = backend.rng(tensor.device)
    r = g.random(tensor.shape, dtype=tensor.dtype)
    r *= tensor.dtype.type(b - a)
    r += tensor.dtype.type(a)
    return _fill(tensor, r)


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with samples of N(mean, std^2)."""
    _check(tensor, "normal_")
    g = backend.rng(tensor.device)
    r = g.standard_normal(tensor.shape, dtype=tensor.dtype)
    r *= tensor.dtype.type(std)
    r += tensor.dtype.type(mean)
    return _fill(tensor, r)


def constant_(tensor, val: float):
    _check(tensor, "constant_")
    return _fill(tensor, val)


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (ones on the main diagonal, zeros elsewhere;
    rectangular shapes too), as ``torch.nn.init.eye_``. Le et al. (2015) start a ReLU RNN's
    recurrent weights here (the IRNN)."""
    _check(tensor, "eye_")
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape "
                         f"{tensor.shape}")
    xp = backend.get_array_module(tensor.data)
    return _fill(tensor, xp.eye(*tensor.shape, dtype=tensor.dtype))


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for an activation (PyTorch's table)."""
    linear = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor of at least 2 dimensions, got shape "
                         f"{tensor.shape}")
    receptive = 1
    for s in tensor.shape[2:]:
        receptive *= s
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor, gain: float = 1.0):
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain: float = 1.0):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _fan(tensor, mode):
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu"):
    """He et al. (2015): U(-b, b) with b = gain * sqrt(3 / fan)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor, gain: float = 1.0):
    """A (semi-)orthogonal matrix (Saxe et al. 2014), from the QR factorisation of a Gaussian
    matrix with the signs of R's diagonal folded in, so the result is uniformly distributed."""
    _check(tensor, "orthogonal_")
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: needs at least 2 dimensions, got shape {tensor.shape}")
    xp = backend.get_array_module(tensor.data)
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    g = backend.rng(tensor.device)
    flat = g.standard_normal((rows, cols), dtype=tensor.dtype)
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape))
