"""The feed-forward layers: Linear, Embedding, Dropout, and the containers Sequential and
ModuleList, with PyTorch's names, shapes, defaults and initialisation."""
from __future__ import annotations

import math
from collections import OrderedDict

from ..autograd import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter, empty_parameter


class Linear(Module):
    """y = x W^T + b.

    Args:
        in_features, out_features: sizes of the last dimension of input and output.
        bias: learn an additive bias b (default True).
    Shapes: x (*, in_features) -> y (*, out_features); weight (out_features, in_features),
    bias (out_features,). Both initialised from U(-1/sqrt(in), 1/sqrt(in)), as PyTorch.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = empty_parameter((self.out_features, self.in_features), dtype, device)
        if bias:
            self.bias = empty_parameter((self.out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        # PyTorch's kaiming_uniform_(a=sqrt(5)) is exactly U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise TypeError(f"Linear: expected a Tensor, got {type(x).__name__}")
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"Linear: expected input of size {self.in_features} in the last "
                             f"dimension, got shape {x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: integer ids ``(*)`` -> rows of ``weight``, ``(*, embedding_dim)``.

    ``weight`` (num_embeddings, embedding_dim) is initialised from N(0, 1), as PyTorch; the
    row ``padding_idx`` (if given) starts at zero and receives no gradient. An id used k times
    in a batch receives the sum of its k gradients.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None,
                 _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} must be within the "
                                 f"{self.num_embeddings} embeddings")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        if _weight is None:
            self.weight = empty_parameter((self.num_embeddings, self.embedding_dim), dtype, device)
            self.reset_parameters()
        else:
            w = _weight.data if isinstance(_weight, Tensor) else _weight
            if tuple(w.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(w.shape)}, expected "
                                 f"{(self.num_embeddings, self.embedding_dim)}")
            self.weight = Parameter(w)
        self.weight.requires_grad_(not _freeze)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None):
        """An Embedding holding ``embeddings`` (num, dim); frozen (no gradient) by default."""
        n, d = embeddings.shape
        return cls(n, d, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, ids):
        return F.embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self):
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the
    rest by 1/(1-p); in evaluation (``.eval()``), the identity. Any shape in, same shape out."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)
        self.inplace = inplace          # accepted for PyTorch compatibility; never in place

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"


class Identity(Module):
    """Returns its input (a placeholder, e.g. to switch a layer off in an ablation)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(4, 8), Linear(8, 1))``.

    Children are named "0", "1", ... (or by the keys of an OrderedDict), so parameters are
    named ``"0.weight"``, ``"1.bias"``... as in PyTorch.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for k, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential: argument {k} is a {type(m).__name__}, "
                                    "not a Module")
                self.add_module(str(k), m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(items[idx]))
        return items[idx][1]

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x


class ModuleList(Module):
    """A list of Modules whose parameters are registered (named "0", "1", ...)."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, idx):
        values = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(values[idx])
        return values[idx]

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self
