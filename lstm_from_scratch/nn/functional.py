"""``lfs.nn.functional``: the stateless operations layers are built from, as in
``torch.nn.functional``.

The activations (``sigmoid``, ``tanh``, ``relu``, ``softmax``, ``log_softmax``...) and the
losses (``mse_loss``, ``cross_entropy``, ``nll_loss``...) are the library's primitives,
re-exported here; ``linear``, ``dropout`` and ``embedding`` are defined here, on them.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..functional import *  # noqa: F401,F403
from ..functional import getitem, matmul, where

from ..functional.loss import *  # noqa: F401,F403


def dropout(x, p: float = 0.5, training: bool = True):
    """Inverted dropout: zero each element with probability ``p`` and scale the survivors by
    1 / (1 - p), so the expected value is unchanged and evaluation needs no rescaling.

    The identity when ``training`` is False or ``p`` is 0. The mask comes from the
    library's generator for ``x``'s device (``lfs.manual_seed``).
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return x
    g = backend.rng(x.device)
    keep = g.random(x.shape, dtype=x.dtype if x.dtype.kind == "f" else np.float64) < (1.0 - p)
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = keep.astype(x.dtype) * x.dtype.type(scale)
    return x * Tensor(mask)


def _as_index_array(ids, num_embeddings, xp, device):
    """The integer array of ``ids`` on ``device``; errors for floats and out-of-range ids."""
    arr = ids.data if isinstance(ids, Tensor) else ids
    if not hasattr(arr, "dtype") or isinstance(arr, np.generic):
        arr = np.asarray(arr)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"Embedding: indices must be an integer tensor, got dtype {arr.dtype} "
                        "(convert with .to(dtype='int64') or build them with lfs.tensor([...]))")
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= num_embeddings:
            bad = lo if lo < 0 else hi
            raise IndexError(f"Embedding: index {bad} is out of range for an embedding with "
                             f"{num_embeddings} entries (valid indices are 0..{num_embeddings - 1})")
    return backend.array_on(arr, device, op="Embedding", what="the indices",
                            other="the weight is", host_data=not isinstance(ids, Tensor))


def embedding(ids, weight, padding_idx=None):
    """Rows of ``weight`` picked by integer ``ids``: ids (*), weight (num, dim) -> (*, dim).

    Indexing, so an id that occurs k times receives the sum of its k gradients. The row
    ``padding_idx`` (if given) gets no gradient.
    """
    xp = backend.get_array_module(weight.data)
    index = _as_index_array(ids, weight.shape[0], xp, weight.device)
    rows = getitem(weight, Tensor(index))
    if padding_idx is None:
        return rows
    keep = Tensor((index != padding_idx)[..., None])
    return where(keep, rows, rows.detach())
