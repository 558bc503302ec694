"""lstm_from_scratch: a small reverse-mode autograd engine on NumPy (CPU) and CuPy (GPU),
and an LSTM built from its gate primitives, with PyTorch's names and conventions.

    >>> import lstm_from_scratch as lfs
    >>> x = lfs.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4.])
"""
from . import cpu  # noqa: F401  (malloc tuning, the sigmoid formulation, BLAS threads: cpu.py)
from . import backend
from .autograd import Function, Tensor, enable_grad, grad, is_grad_enabled, no_grad
from .backend import get_device, gpu_available, manual_seed, set_device
from .functional import *  # noqa: F401,F403  (the primitives: lfs.exp, lfs.matmul, ...)
from .functional import __all__ as _functional_all
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import nn  # noqa: E402  (after the primitives it is built on)
from . import data, io, optim, train  # noqa: E402  (built on nn and the primitives)
from . import forecast  # noqa: E402  (forecast origins, measures, baselines; chapter 9)

# dtypes under PyTorch's names (NumPy's scalar types: lfs.float32 is np.float32)
float16 = __import__("numpy").float16
float32 = __import__("numpy").float32
float64 = __import__("numpy").float64
int32 = __import__("numpy").int32
int64 = __import__("numpy").int64
bool = __import__("numpy").bool_      # noqa: A001  (torch.bool; not in __all__)

__version__ = "0.1.0"

__all__ = ["Function", "Tensor", "backend", "enable_grad", "float16", "float32", "float64",
           "int32", "int64",
           "get_device", "gpu_available", "grad", "gradcheck", "gradgradcheck", "nn",
           "data", "forecast", "io", "optim", "train",
           "GradcheckError", "is_grad_enabled", "manual_seed", "no_grad", "set_device",
           *_functional_all]
