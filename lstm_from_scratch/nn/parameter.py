"""``Parameter``, a learnable weight, and the helpers every layer and optimizer shares to make
parameters and to forget their gradients."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor


class Parameter(Tensor):
    """A Tensor that is a learnable weight of a Module: ``requires_grad=True`` by default.

    ``Parameter(tensor_or_array)`` shares memory with its argument, as in PyTorch.
    """

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data.data
        elif not hasattr(data, "dtype") or isinstance(data, np.generic):
            raise TypeError(f"Parameter() wraps a Tensor or an array, got {type(data).__name__} "
                            "(build one with lfs.tensor(...) first)")
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def empty_parameter(shape, dtype=None, device=None) -> Parameter:
    """An uninitialised Parameter of ``shape`` (a layer's ``reset_parameters`` fills it), on
    ``device`` (default: the default device), float32 unless ``dtype`` says otherwise."""
    dt = backend.as_dtype(dtype) or np.dtype(np.float32)
    if dt.kind != "f":
        raise TypeError(f"parameters must have a floating-point dtype, got {dt}")
    xp = backend.xp_for(backend.parse_device(device))
    return Parameter(xp.empty(shape, dtype=dt))


def zero_grads(parameters, set_to_none: bool = True) -> None:
    """The ``zero_grad`` of ``Module`` and of every optimizer: each parameter's ``.grad``
    becomes None (PyTorch's default) or, with ``set_to_none=False``, a new array of zeros
    (never written into: a ``.grad`` array is owned, but a new one is as cheap and safe)."""
    for p in parameters:
        if p.grad is None:
            continue
        if set_to_none:
            p.grad = None
        else:
            p.grad = Tensor(backend.get_array_module(p.data).zeros_like(p.data))
