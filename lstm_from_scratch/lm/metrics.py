"""How well a language model predicts a text: bits per character and log-probabilities.

A model that gives the next character probability p pays -log2 p bits for it (the length of
its code in an arithmetic coder). Averaged over a text, that is its cross-entropy in *bits
per character* (bpc): log2(V) for a uniform guess over V characters, 0 for certainty.
``bpc = loss_in_nats / ln 2`` for the usual cross-entropy loss.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import no_grad
from .model import in_eval_mode

__all__ = ["bits_per_char", "sequence_log_prob", "token_log_probs"]


def token_log_probs(model, ids, bptt: int = 256, state=None):
    """log p(ids[t] | ids[:t]) for t = 1 .. L-1 (nats), reading ``ids`` once from ``state``.

    Args:
        model: ``model(x (1, T) Tensor, state) -> (logits (1, T, V), state)``, e.g. ``CharLM``.
        ids: (L,) integer ids, L >= 2.
        bptt: how many characters one call reads (the state carries across calls, so the
            result does not depend on it beyond rounding; it bounds memory).
        state: the state before ``ids[0]`` (None: zeros).
    Returns:
        ((L-1,) float64 NumPy array, the final state).
    """
    from ..functional import log_softmax, tensor

    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) < 2:
        raise ValueError(f"token_log_probs: need at least 2 ids, got {len(ids)}")
    device = next(iter(model.parameters())).device
    out = []
    with in_eval_mode(model), no_grad():
        for start in range(0, len(ids) - 1, bptt):
            x = ids[start:min(start + bptt, len(ids) - 1)]
            y = ids[start + 1:start + 1 + len(x)]
            logits, state = model(tensor(x[None, :], device=device), state)
            logp = log_softmax(logits[0], axis=-1).numpy()
            out.append(logp[np.arange(len(y)), y].astype(np.float64))
    return np.concatenate(out), state


def bits_per_char(model, ids, bptt: int = 256) -> float:
    """The mean of -log2 p(ids[t] | ids[:t]) over t = 1 .. L-1 (eq-charlm-bpc): one pass, from a
    zero state."""
    logp, _ = token_log_probs(model, ids, bptt)
    return float(-logp.mean() / math.log(2.0))


def sequence_log_prob(model, vocab, text: str, context: str = "\n") -> float:
    """log p(text | context) in nats: the sum of log p(character | everything before it).

    The model reads ``context`` first (at least one character: its prediction of the text's
    first character comes from there), then scores every character of ``text``.
    """
    if not context:
        raise ValueError("sequence_log_prob: the context must have at least one character")
    if not text:
        return 0.0
    ids = vocab.encode(context + text)
    logp, _ = token_log_probs(model, ids)
    return float(logp[len(context) - 1:].sum())
