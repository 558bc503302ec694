"""Writing text with a language model: temperature, top-k and nucleus (top-p) sampling.

The model proposes logits z over the V characters; sampling draws the next character from

    p_j  proportional to  exp(z_j / temperature)

restricted to the k most likely characters (top-k) or to the smallest set of most likely
characters whose probability adds up to at least p (nucleus sampling, Holtzman et al. 2020).
Temperature 1 is the model's own distribution; below 1 it is sharper (temperature -> 0 is
greedy decoding), above 1 flatter. The names follow Hugging Face ``transformers``'
``generate(temperature=, top_k=, top_p=)``.

Sampling happens on the host in float64 NumPy (one row of V logits per step, fetched with
``.numpy()``), with a NumPy ``Generator``, so a seed gives the same text on any device.
"""
from __future__ import annotations

import numpy as np

from ..autograd import no_grad
from .model import in_eval_mode

__all__ = ["filter_logits", "generate", "sample_next"]


def _check_options(temperature, top_k, top_p):
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if top_k is not None and (int(top_k) != top_k or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1] or None, got {top_p}")


def filter_logits(logits, top_k: int | None = None, top_p: float | None = None) -> np.ndarray:
    """Logits with every character outside the top-k / the nucleus set to -inf.

    Args:
        logits: (..., V) array-like (NumPy; already divided by the temperature).
        top_k: keep the k largest logits of each row (ties at the k-th value are all kept).
        top_p: keep the smallest set of largest-probability characters whose total
            probability is at least ``top_p`` (the most likely character is always kept).
    Returns:
        A float64 array of the same shape.
    """
    z = np.array(logits, dtype=np.float64, copy=True)
    if z.ndim == 0:
        raise ValueError("filter_logits: logits need a last dimension of size V")
    _check_options(1.0, top_k, top_p)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.sort(z, axis=-1)[..., -int(top_k)][..., None]
        z[z < kth] = -np.inf
    if top_p is not None and top_p < 1.0:
        p = np.exp(z - z.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p     # mass of the more likely ones
        drop_sorted = before >= top_p                       # already enough without this one
        drop = np.empty_like(drop_sorted)
        np.put_along_axis(drop, order, drop_sorted, axis=-1)
        z[drop] = -np.inf
    return z


def sample_next(logits, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, rng=None) -> np.ndarray:
    """Draw one character id per row of ``logits`` (B, V) (NumPy); returns (B,) int64. The
    temperature divides the logits (eq-charlm-temperature).

    ``rng`` is a ``numpy.random.Generator`` (default: a new one seeded with 0).
    """
    _check_options(temperature, top_k, top_p)
    rng = np.random.default_rng(0) if rng is None else rng
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"sample_next: expected logits of shape (B, V), got shape {z.shape}")
    z = filter_logits(z / temperature, top_k, top_p)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    u = rng.random((z.shape[0], 1))
    ids = (np.cumsum(p, axis=-1) < u).sum(axis=-1)          # inverse CDF
    return np.minimum(ids, z.shape[-1] - 1).astype(np.int64)


def generate(model, vocab, prompt: str, length: int, temperature: float = 1.0,
             top_k: int | None = None, top_p: float | None = None, seed: int = 0,
             state=None) -> str:
    """``length`` characters written by ``model`` after ``prompt`` (the prompt is not repeated).

    Args:
        model: called as ``model(ids (1, T) Tensor, state) -> (logits (1, T, V), state)``, e.g.
            ``lfs.lm.CharLM``; it is run in evaluation mode and without gradients.
        vocab: a ``CharVocab`` (``encode`` / ``decode``).
        prompt: the text to start from (priming): it is read first, in one call, and the
            state it leaves is where writing starts. At least one character.
        length: how many characters to write.
        temperature, top_k, top_p: as :func:`sample_next`.
        seed: seeds the NumPy generator that draws the characters.
        state: a state to start from instead of zeros (e.g. after an earlier text).
    """
    from ..functional import tensor

    if not prompt:
        raise ValueError("generate: the prompt must have at least one character")
    _check_options(temperature, top_k, top_p)
    rng = np.random.default_rng(seed)
    device = next(iter(model.parameters())).device
    out = []
    with in_eval_mode(model), no_grad():
        ids = tensor(vocab.encode(prompt)[None, :], device=device)
        logits, state = model(ids, state)
        for _ in range(int(length)):
            last = logits[:, -1].numpy()
            nxt = sample_next(last, temperature, top_k, top_p, rng)
            out.append(int(nxt[0]))
            logits, state = model(tensor(nxt[None, :], device=device), state)
    return vocab.decode(out)
