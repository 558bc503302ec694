"""A character-level language model: embedding -> stacked recurrent layer -> linear head."""
from __future__ import annotations

import contextlib
import math

import numpy as np

from .. import nn
from ..autograd import Tensor, no_grad
from ..functional import tensor

__all__ = ["CharLM", "count_parameters", "hidden_size_for_budget"]

_CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


class CharLM(nn.Module):
    """Next-character prediction: ids (B, T) -> logits (B, T, V), carrying a recurrent state.

    ``embedding`` (V, E) -> ``rnn`` (``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``, ``num_layers``
    stacked, batch first) -> ``head`` ``nn.Linear(H, V)``. The logits at position t score the
    character at t + 1.

    Args:
        vocab_size: V, the number of characters.
        embedding_dim: E.
        hidden_size: H of every recurrent layer.
        num_layers: how many recurrent layers are stacked.
        cell: ``"lstm"``, ``"gru"`` or ``"rnn"`` (tanh).
        dropout: dropout between recurrent layers (as ``nn.LSTM``'s argument).
        fused: use the fused kernels (LSTM and GRU; the RNN has none); the same numbers.
        forget_bias: added to the LSTM's forget-gate bias at initialisation.

    ``forward(ids, state=None) -> (logits, state)``: ``state`` is what the recurrent layer
    returns (``(h, c)`` for the LSTM, ``h`` otherwise), each (num_layers, B, H); None means
    zeros. Pass the returned state back in to continue a text.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 32, hidden_size: int = 128,
                 num_layers: int = 2, cell: str = "lstm", dropout: float = 0.0,
                 fused: bool = True, forget_bias: float = 0.0, device=None, dtype=None):
        super().__init__()
        if cell not in _CELLS:
            raise ValueError(f"CharLM: cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.vocab_size, self.cell = int(vocab_size), cell
        self.embedding = nn.Embedding(vocab_size, embedding_dim, device=device, dtype=dtype)
        kwargs = dict(num_layers=num_layers, batch_first=True, dropout=dropout, device=device,
                      dtype=dtype)
        if cell == "lstm":
            kwargs.update(fused=fused, forget_bias=forget_bias)
        elif cell == "gru":
            kwargs.update(fused=fused)
        self.rnn = _CELLS[cell](embedding_dim, hidden_size, **kwargs)
        self.head = nn.Linear(hidden_size, vocab_size, device=device, dtype=dtype)

    def forward(self, ids, state=None):
        if ids.ndim != 2:
            raise ValueError(f"CharLM: expected ids of shape (B, T), got shape {tuple(ids.shape)}")
        out, state = self.rnn(self.embedding(ids), state)
        return self.head(out), state

    def extra_repr(self):
        return f"cell={self.cell!r}"

    # -- conveniences for text ---------------------------------------------------------------
    def _ids_tensor(self, ids):
        """(B, T) ids as an int64 Tensor on the model's device."""
        if isinstance(ids, Tensor):
            return ids
        return tensor(np.asarray(ids, dtype=np.int64), device=self.head.weight.device)

    def log_probs(self, ids, state=None):
        """log p(next character) at every position, (B, T, V), without gradients, and the
        final state. ``ids`` may be a NumPy array."""
        from ..functional import log_softmax
        with no_grad():
            logits, state = self(self._ids_tensor(ids), state)
            return log_softmax(logits, axis=-1), state


@contextlib.contextmanager
def in_eval_mode(model):
    """``model.eval()`` for the block, then the mode the model had before (training or not),
    also when the block raises: measuring or sampling a model leaves it as it was."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def count_parameters(module) -> int:
    """The number of scalars in ``module``'s parameters."""
    return int(sum(int(np.prod(p.shape)) for p in module.parameters()))


def _recurrent_parameters(cell, E, H, L):
    G = _GATES[cell]
    first = G * H * (E + H + 2)
    rest = G * H * (H + H + 2)
    return first + (L - 1) * rest


def hidden_size_for_budget(cell: str, budget: int, vocab_size: int, embedding_dim: int,
                           num_layers: int) -> int:
    """The hidden size H whose ``CharLM`` has the parameter count closest to ``budget``.

    The count is V E (embedding) + the recurrent layers (G gate blocks of H (E + H + 2) in the
    first layer, H (2H + 2) in the others; G = 4, 3, 1 for LSTM, GRU, RNN) + H V + V (head),
    a quadratic in H solved exactly and rounded to the nearest integer.
    """
    if cell not in _GATES:
        raise ValueError(f"hidden_size_for_budget: cell must be one of {sorted(_GATES)}, got "
                         f"{cell!r}")
    V, E, L, G = vocab_size, embedding_dim, num_layers, _GATES[cell]
    # a H^2 + b H + c = budget
    a = G * (1 + 2 * (L - 1))
    b = G * (E + 2) + G * 2 * (L - 1) + V
    c = V * E + V
    h = (-b + math.sqrt(b * b + 4 * a * (budget - c))) / (2 * a)
    best = min((max(1, int(math.floor(h))), max(1, int(math.ceil(h)))),
               key=lambda k: abs(V * E + _recurrent_parameters(cell, E, k, L) + k * V + V
                                 - budget))
    return best
