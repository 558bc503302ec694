"""Decoding a sequence-to-sequence model: greedy search and beam search.

Both work on any model through one ``step`` function::

    log_probs, state, extra = step(prev_tokens, state)

``prev_tokens`` is an (N,) int64 NumPy array (the token each row emitted last, ``bos`` at
the start), ``state`` a tuple of Tensors whose first axis is the N rows, ``log_probs`` an
(N, V) Tensor of log-probabilities of the next token, and ``extra`` an (N, S) Tensor the search
records per step (attention weights) or None. The searches reorder ``state`` rows with
indexing (beam search), and move only ``log_probs`` and ``extra`` to the host (``.numpy()``),
so they run unchanged on the GPU.

Scores are sums of log-probabilities of the emitted tokens, ``<eos>`` included. Beam search
compares hypotheses of different lengths by ``score / length ** length_penalty`` (length
normalisation; 0 compares raw sums, which favours short outputs, 1 compares the mean
log-probability per token).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..autograd import no_grad

__all__ = ["DecodeResult", "beam_search", "greedy_search"]


@dataclass
class DecodeResult:
    """What a search found, one row per input.

    Attributes:
        tokens: (N, L) int64 emitted tokens, ``<eos>`` included, ``pad`` after it.
        lengths: (N,) number of emitted tokens, ``<eos>`` included (L_max when none came).
        scores: (N,) sum of the log-probabilities of the emitted tokens.
        normalized_scores: (N,) ``scores / lengths ** length_penalty``.
        extras: (N, L, S) what ``step`` returned as ``extra`` at each emitted token (the
            attention weights), zeros after ``<eos>``; None when ``step`` returned None.
    """

    tokens: np.ndarray
    lengths: np.ndarray
    scores: np.ndarray
    normalized_scores: np.ndarray
    extras: np.ndarray | None


def _check(name, bos, eos, max_len):
    if max_len < 1:
        raise ValueError(f"{name}: max_len must be at least 1, got {max_len}")
    if bos == eos:
        raise ValueError(f"{name}: bos and eos must differ, got {bos} for both")


def greedy_search(step, state, batch_size: int, bos: int, eos: int, max_len: int,
                  pad: int = 0) -> DecodeResult:
    """Emit the most probable next token at every step until ``<eos>`` (or ``max_len``).

    Args:
        step: the model's step function (see the module docstring).
        state: the initial state, a tuple of Tensors with first axis ``batch_size``.
        bos, eos, pad: ids of the start token, the end token and the filler after ``<eos>``.
        max_len: the most tokens emitted per row, ``<eos>`` included.
    Returns:
        a :class:`DecodeResult` (``normalized_scores`` with length_penalty 1, the mean
        log-probability per token).
    """
    _check("greedy_search", bos, eos, max_len)
    N = int(batch_size)
    prev = np.full(N, bos, dtype=np.int64)
    done = np.zeros(N, dtype=bool)
    scores = np.zeros(N)
    lengths = np.zeros(N, dtype=np.int64)
    tokens, extras = [], []
    with no_grad():
        for _ in range(max_len):
            log_probs, state, extra = step(prev, state)
            lp = log_probs.numpy().astype(np.float64)
            tok = lp.argmax(axis=1)
            tok[done] = pad
            scores += np.where(done, 0.0, lp[np.arange(N), tok])
            lengths += ~done
            tokens.append(tok)
            if extra is not None:
                e = extra.numpy()
                e[done] = 0
                extras.append(e)
            done = done | (tok == eos)
            prev = tok
            if done.all():
                break
    lengths_f = np.maximum(lengths, 1)
    return DecodeResult(np.stack(tokens, axis=1), lengths, scores, scores / lengths_f,
                        np.stack(extras, axis=1) if extras else None)


def _index_state(state, rows):
    """Pick rows of every Tensor of the state (rows: int64 NumPy array)."""
    return tuple(s[rows] for s in state)


def beam_search(step, state, batch_size: int, bos: int, eos: int, max_len: int,
                beam_size: int = 4, length_penalty: float = 1.0, pad: int = 0) -> DecodeResult:
    """Keep the ``beam_size`` best partial outputs per input at every step.

    At each step every unfinished hypothesis is extended by every token; a finished one (it
    emitted ``<eos>``) is kept as it is. Of these candidates the ``beam_size`` with the highest
    ``score / length ** length_penalty`` survive. The search stops when every hypothesis of
    every input has finished, or after ``max_len`` tokens; the result per input is its best
    hypothesis by the same normalised score. With ``beam_size=1`` this is greedy search.

    Args:
        step: the model's step function (see the module docstring); it is called with
            ``batch_size * beam_size`` rows, the beams of input b in rows
            ``b*beam_size ... b*beam_size + beam_size - 1`` (so anything the step function
            holds per input, e.g. the encoder's states, must be repeated ``beam_size`` times
            in that order).
        state: the initial state, a tuple of Tensors with first axis ``batch_size *
            beam_size`` (the initial state of each input, repeated).
        bos, eos, pad, max_len: as :func:`greedy_search`.
        beam_size: hypotheses kept per input (K).
        length_penalty: alpha in ``score / length ** alpha``.
    Ties between candidates go to the lower beam and then the lower token id, as in
    :func:`greedy_search` (``argmax``), so ``beam_size=1`` reproduces it exactly.
    """
    _check("beam_search", bos, eos, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_search: beam_size must be at least 1, got {beam_size}")
    B, K = int(batch_size), int(beam_size)
    N = B * K
    prev = np.full(N, bos, dtype=np.int64)
    # only beam 0 is alive at the start: the K copies of <bos> must not fill the beam
    scores = np.full((B, K), -np.inf)
    scores[:, 0] = 0.0
    lengths = np.zeros((B, K), dtype=np.int64)
    done = np.zeros((B, K), dtype=bool)
    history = np.zeros((B, K, 0), dtype=np.int64)
    extra_hist = None
    batch_rows = np.arange(B)[:, None]
    with no_grad():
        for _ in range(max_len):
            log_probs, new_state, extra = step(prev, state)
            lp = log_probs.numpy().astype(np.float64).reshape(B, K, -1)
            V = lp.shape[-1]
            # a finished hypothesis has one continuation, itself: token pad at no cost
            lp[done] = -np.inf
            lp[done, pad] = 0.0
            cand = scores[:, :, None] + lp                                   # (B, K, V)
            cand_len = (lengths + ~done)[:, :, None]
            with np.errstate(invalid="ignore", divide="ignore"):
                norm = cand / np.maximum(cand_len, 1) ** length_penalty
            flat = norm.reshape(B, K * V)
            # a stable descending sort: ties keep the lower (beam, token) index first
            top = np.argsort(-flat, axis=1, kind="stable")[:, :K]            # (B, K)
            beam, tok = top // V, top % V
            scores = cand.reshape(B, K * V)[batch_rows, top]
            lengths = (lengths + ~done)[batch_rows, beam]
            was_done = done[batch_rows, beam]
            done = was_done | (tok == eos)
            history = np.concatenate([history[batch_rows, beam], tok[:, :, None]], axis=2)
            if extra is not None:
                e = extra.numpy().reshape(B, K, 1, -1)[batch_rows, beam]     # (B, K, 1, S)
                e = np.where(was_done[:, :, None, None], 0, e)
                extra_hist = e if extra_hist is None else \
                    np.concatenate([extra_hist[batch_rows, beam], e], axis=2)
            rows = (batch_rows * K + beam).reshape(N)
            state = _index_state(new_state, rows)
            prev = tok.reshape(N)
            if done.all():
                break
    norm = scores / np.maximum(lengths, 1) ** length_penalty
    best = np.argmax(norm, axis=1)                                           # (B,)
    pick = (np.arange(B), best)
    return DecodeResult(history[pick], lengths[pick], scores[pick], norm[pick],
                        None if extra_hist is None else extra_hist[pick])
