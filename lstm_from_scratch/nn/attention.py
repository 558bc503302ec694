"""Attention for sequence-to-sequence models: a query looks at all positions of a source.

Given a query q (a decoder state), keys k_1..k_S and values v_1..v_S (the encoder's states),
attention scores every position, turns the scores into weights with a softmax over the
positions the mask keeps, and returns the weighted average of the values:

    e_j = score(q, k_j),    a = softmax(e over the kept j),    context = sum_j a_j v_j

The score functions:

* :class:`AdditiveAttention` (Bahdanau et al. 2015): ``score = v^T tanh(W_q q + W_k k_j)``;
* :class:`MultiplicativeAttention` (Luong et al. 2015): ``score = q^T k_j`` ("dot") or
  ``score = q^T W_a k_j`` ("general"), optionally divided by sqrt(key_size) ("scaled").

Masking: ``mask`` (B, S) is boolean and True at the positions that take part (real source
tokens), as the ``mask`` that :func:`lstm_from_scratch.data.pad_sequences` returns and as the
boolean ``attn_mask`` of ``torch.nn.functional.scaled_dot_product_attention``. (Careful:
``torch.nn.MultiheadAttention``'s ``key_padding_mask`` uses the opposite sense.) Masked
scores are replaced by -inf before the softmax, so masked positions get a weight of exactly
zero and receive exactly zero gradient. A row that masks every position is a ``ValueError``:
a softmax over no positions is 0/0, and silently returning NaN or a zero context would hide
a bug in the caller's padding.

Everything is composed of the library's primitives (``linear``, ``matmul``, ``tanh``,
``masked_fill``, ``softmax``), so gradients come from autograd, on NumPy or CuPy.
"""
from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor
from ..functional import masked_fill, matmul, softmax, tanh, zeros
from . import init
from .layers import Linear
from .module import Module, Parameter

__all__ = ["AdditiveAttention", "MultiplicativeAttention", "attend"]


def _check_inputs(name, query, keys, values, key_size, query_size):
    """query as (B, T, Q) and whether it came in as (B, Q); errors name the argument."""
    for arg, t in (("query", query), ("keys", keys), ("values", values)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {arg} must be a Tensor, got {type(t).__name__}")
    if query.ndim not in (2, 3):
        raise ValueError(f"{name}: query must be (B, Q) or (B, T, Q), got shape {query.shape}")
    if keys.ndim != 3 or values.ndim != 3:
        raise ValueError(f"{name}: keys and values must be (B, S, K) and (B, S, V), got shapes "
                         f"{keys.shape} and {values.shape}")
    B = query.shape[0]
    if keys.shape[0] != B or values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"{name}: query {query.shape}, keys {keys.shape} and values "
                         f"{values.shape} must agree on B (and keys and values on S)")
    if query.shape[-1] != query_size:
        raise ValueError(f"{name}: expected query of size {query_size} in the last dimension, "
                         f"got shape {query.shape}")
    if keys.shape[-1] != key_size:
        raise ValueError(f"{name}: expected keys of size {key_size} in the last dimension, "
                         f"got shape {keys.shape}")
    if keys.shape[1] == 0:
        raise ValueError(f"{name}: keys have no positions (shape {keys.shape})")
    single = query.ndim == 2
    return (query.unsqueeze(1) if single else query), single


def _mask_array(name, mask, B, S, like):
    """The positions to drop, as a boolean array (B, 1, S) on ``like``'s device, or None."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else mask
    if not hasattr(m, "dtype"):
        raise TypeError(f"{name}: mask must be a boolean array or Tensor, got "
                        f"{type(mask).__name__}")
    if m.dtype != bool:
        raise TypeError(f"{name}: mask must be boolean (True = attend), got dtype {m.dtype}")
    if tuple(m.shape) != (B, S):
        raise ValueError(f"{name}: expected mask of shape {(B, S)} (batch, source positions), "
                         f"got {tuple(m.shape)}")
    kept = backend.to_numpy(m).any(axis=1)          # an explicit copy to the host: (B,)
    if not kept.all():
        rows = [int(b) for b in (~kept).nonzero()[0][:5]]
        raise ValueError(f"{name}: mask row(s) {rows} mask every source position; attention "
                         "over no positions is undefined (0/0)")
    xp = backend.get_array_module(like.data)
    return ~xp.asarray(m)[:, None, :]


def attend(scores, values, mask=None):
    """Softmax over the last axis of ``scores`` (masked positions excluded) and the weighted
    average of ``values``.

    scores: (B, T, S); values: (B, S, V); mask: None or a boolean (B, 1, S) array of the
    positions to *drop* (as :func:`_mask_array` returns). Returns (context (B, T, V),
    weights (B, T, S)).
    """
    if mask is not None:
        scores = masked_fill(scores, mask, float("-inf"))    # exp(-inf) = 0: exactly no weight
    weights = softmax(scores, dim=-1)
    return matmul(weights, values), weights


class AdditiveAttention(Module):
    """Additive attention (Bahdanau et al. 2015): ``e_j = v^T tanh(W_q q + W_k k_j)``.

    Args:
        query_size (Q): size of a query (the decoder state).
        key_size (K): size of a key (an encoder state).
        hidden_size (A): size of the hidden layer inside the score.
    Parameters: ``query_proj.weight`` (A, Q), ``key_proj.weight`` (A, K) and ``v`` (A,), as in
    the paper without biases; the projections initialised as ``Linear``'s, ``v`` from
    U(-1/sqrt(A), 1/sqrt(A)).

    ``forward(query, keys, values, mask=None) -> (context, weights)``:
        query (B, Q) or (B, T, Q); keys (B, S, K); values (B, S, V); mask (B, S) boolean,
        True = attend. context (B, V) or (B, T, V); weights (B, S) or (B, T, S), each row
        summing to 1 over the kept positions and exactly 0 at the masked ones.

    ``W_k k_j`` does not depend on the query: a decoder that queries the same keys at every
    step computes it once with :meth:`project_keys` and passes it as ``projected_keys``.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int, device=None,
                 dtype=None):
        super().__init__()
        self.query_size, self.key_size = int(query_size), int(key_size)
        self.hidden_size = int(hidden_size)
        self.query_proj = Linear(query_size, hidden_size, bias=False, device=device,
                                 dtype=dtype)
        self.key_proj = Linear(key_size, hidden_size, bias=False, device=device, dtype=dtype)
        self.v = Parameter(zeros(self.hidden_size, dtype=dtype, device=device))
        self.reset_parameters()

    def reset_parameters(self):
        self.query_proj.reset_parameters()
        self.key_proj.reset_parameters()
        bound = 1.0 / math.sqrt(self.hidden_size)
        init.uniform_(self.v, -bound, bound)

    def project_keys(self, keys):
        """``W_k k_j`` for every position: keys (B, S, K) -> (B, S, A)."""
        return self.key_proj(keys)

    def score(self, query, keys, projected_keys=None):
        """Unnormalised scores e: query (B, T, Q), keys (B, S, K) -> (B, T, S)."""
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        q = self.query_proj(query)                                  # (B, T, A)
        hidden = tanh(q.unsqueeze(2) + pk.unsqueeze(1))             # (B, T, S, A)
        return matmul(hidden, self.v)                               # (B, T, S)

    def forward(self, query, keys, values, mask=None, *, projected_keys=None):
        query3, single = _check_inputs("AdditiveAttention", query, keys, values,
                                       self.key_size, self.query_size)
        if projected_keys is not None and projected_keys.shape != keys.shape[:2] + (
                self.hidden_size,):
            raise ValueError(f"AdditiveAttention: projected_keys must have shape "
                             f"{keys.shape[:2] + (self.hidden_size,)} (from project_keys), "
                             f"got {projected_keys.shape}")
        drop = _mask_array("AdditiveAttention", mask, keys.shape[0], keys.shape[1], keys)
        context, weights = attend(self.score(query3, keys, projected_keys), values, drop)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def extra_repr(self):
        return (f"query_size={self.query_size}, key_size={self.key_size}, "
                f"hidden_size={self.hidden_size}")


class MultiplicativeAttention(Module):
    """Multiplicative attention (Luong et al. 2015): ``e_j = q^T k_j`` ("dot") or
    ``e_j = q^T W_a k_j`` ("general").

    Args:
        query_size (Q), key_size (K): sizes of a query and a key ("dot" needs Q = K; the
            default key_size is query_size).
        score: ``"general"`` (default) or ``"dot"``.
        scaled: divide the scores by sqrt(K), as the scaled dot-product attention of
            Vaswani et al. (2017) does (default False, as Luong et al.).
    Parameters: "general" has ``weight`` W_a (Q, K), initialised from U(-1/sqrt(K), 1/sqrt(K));
    "dot" has none.

    ``forward(query, keys, values, mask=None) -> (context, weights)`` with the shapes of
    :class:`AdditiveAttention`. "general" computes ``(q^T W_a) k_j``: one product with W_a per
    query instead of one per key.
    """

    def __init__(self, query_size: int, key_size: int | None = None, score: str = "general",
                 scaled: bool = False, device=None, dtype=None):
        super().__init__()
        if score not in ("general", "dot"):
            raise ValueError(f"MultiplicativeAttention: score must be 'general' or 'dot', "
                             f"got {score!r}")
        self.query_size = int(query_size)
        self.key_size = self.query_size if key_size is None else int(key_size)
        if score == "dot" and self.key_size != self.query_size:
            raise ValueError(f"MultiplicativeAttention: score='dot' needs query_size == "
                             f"key_size, got {self.query_size} and {self.key_size} (use "
                             "score='general')")
        self.score_name, self.scaled = score, bool(scaled)
        if score == "general":
            self.weight = Parameter(zeros(self.query_size, self.key_size, dtype=dtype,
                                          device=device))
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            bound = 1.0 / math.sqrt(self.key_size)
            init.uniform_(self.weight, -bound, bound)

    def project_keys(self, keys):
        """The keys themselves: the multiplicative scores project the query, not the keys
        (the same interface as :meth:`AdditiveAttention.project_keys`)."""
        return keys

    def score(self, query, keys, projected_keys=None):
        """Unnormalised scores e: query (B, T, Q), keys (B, S, K) -> (B, T, S)."""
        q = query
        if self.weight is not None:         # q^T W_a as one (B*T, Q) @ (Q, K) product
            B, T, _ = query.shape
            q = matmul(query.reshape(B * T, self.query_size), self.weight)
            q = q.reshape(B, T, self.key_size)                               # (B, T, K)
        scores = matmul(q, keys.swapaxes(1, 2))                              # (B, T, S)
        if self.scaled:
            scores = scores * (1.0 / math.sqrt(self.key_size))
        return scores

    def forward(self, query, keys, values, mask=None, *, projected_keys=None):
        query3, single = _check_inputs("MultiplicativeAttention", query, keys, values,
                                       self.key_size, self.query_size)
        drop = _mask_array("MultiplicativeAttention", mask, keys.shape[0], keys.shape[1], keys)
        context, weights = attend(self.score(query3, keys), values, drop)
        if single:
            return context.squeeze(1), weights.squeeze(1)
        return context, weights

    def extra_repr(self):
        s = f"query_size={self.query_size}, key_size={self.key_size}, score={self.score_name!r}"
        return s + (", scaled=True" if self.scaled else "")
