"""Padded batches of variable-length sequences: padding, masking, pooling, reversal.

A batch of sequences of lengths L_b is padded to T = max L_b. Run through a recurrent layer,
positions t >= L_b of the output are computed from padding and mean nothing, and the layer's
final state h_n is the state after T steps, not after L_b. These functions read the right
positions instead:

* :func:`pad_sequence` - Tensors (L_b, *) -> one (T, B, *) Tensor (PyTorch's name and layout);
* :func:`sequence_mask` - (T, B) (or (B, T)) 1 at real positions, 0 at padding;
* :func:`last_valid` - ``output[L_b - 1, b]`` for every b: the state after the last real step;
* :func:`masked_mean` - the mean over the real steps only;
* :func:`reverse_padded` - each sequence reversed within its own length, padding left in
  place: what the backward direction of a bidirectional layer must read.

All are compositions of primitives (indexing, products, sums), so gradients flow through them,
and they run on either device. ``lengths`` is a host-side integer array (or list, or Tensor).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..functional import concat, stack, tensor, zeros

__all__ = ["last_valid", "masked_mean", "pad_sequence", "reverse_padded", "sequence_mask"]


def _lengths(lengths, T, B, op):
    if isinstance(lengths, Tensor):
        lengths = lengths.numpy()
    L = np.asarray(lengths)
    if L.ndim != 1 or L.dtype.kind not in "iu":
        raise ValueError(f"{op}: lengths must be a 1-D integer array, got shape {L.shape} and "
                         f"dtype {L.dtype}")
    if len(L) != B:
        raise ValueError(f"{op}: {len(L)} lengths for a batch of {B} sequences")
    if L.size and (L.min() < 1 or L.max() > T):
        raise ValueError(f"{op}: lengths must lie in [1, {T}] (the padded length), got "
                         f"[{L.min()}, {L.max()}]")
    return L.astype(np.int64)


def _tb(x, batch_first, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{op}: expected a padded batch (T, B, ...) or (B, T, ...), got shape "
                         f"{x.shape}")
    return (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0):
    """Stack Tensors of shapes (L_b, *) into (T, B, *) (or (B, T, *)), padding with
    ``padding_value`` after each sequence's end, as ``torch.nn.utils.rnn.pad_sequence``."""
    seqs = list(sequences)
    if not seqs:
        raise ValueError("pad_sequence: no sequences")
    trailing = seqs[0].shape[1:]
    for k, s in enumerate(seqs):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequence {k} is a {type(s).__name__}, expected a Tensor")
        if s.ndim < 1 or s.shape[1:] != trailing:
            raise ValueError(f"pad_sequence: sequence {k} has shape {s.shape}; all need "
                             f"(L_b,) + {trailing}")
    T = max(s.shape[0] for s in seqs)
    padded = []
    for s in seqs:
        if s.shape[0] < T:
            fill = zeros(T - s.shape[0], *trailing, dtype=s.dtype, device=s.device)
            s = concat([s, fill + padding_value if padding_value else fill], axis=0)
        padded.append(s)
    return stack(padded, axis=0 if batch_first else 1)


def sequence_mask(lengths, max_len=None, batch_first: bool = False, dtype=np.float32,
                  device=None):
    """A Tensor (T, B) (batch_first: (B, T)) with 1 where t < L_b and 0 at padding."""
    L = np.asarray(lengths.numpy() if isinstance(lengths, Tensor) else lengths)
    T = int(L.max()) if max_len is None else int(max_len)
    L = _lengths(L, T, len(L), "sequence_mask")
    mask = (np.arange(T)[:, None] < L[None, :]).astype(dtype)
    return tensor(mask.T.copy() if batch_first else mask, device=device)


def last_valid(output, lengths, batch_first: bool = False):
    """The output at each sequence's last real step: (T, B, H) -> (B, H), ``output[L_b - 1, b]``.

    For a unidirectional layer this is h_{L_b}, the final state the sequence would have had if
    it had been run alone. (For the backward half of a bidirectional output the summary of the
    whole sequence is at t = 0 instead: take ``output[0]`` for that half.)
    """
    T, B = _tb(output, batch_first, "last_valid")
    L = _lengths(lengths, T, B, "last_valid")
    rows = np.arange(B)
    return output[rows, L - 1] if batch_first else output[L - 1, rows]


def masked_mean(output, lengths, batch_first: bool = False):
    """The mean over each sequence's real steps: (T, B, H) -> (B, H),
    ``sum_{t < L_b} output[t, b] / L_b``."""
    T, B = _tb(output, batch_first, "masked_mean")
    L = _lengths(lengths, T, B, "masked_mean")
    mask = (np.arange(T)[:, None] < L[None, :]) / L[None, :]          # (T, B): 1/L_b or 0
    if batch_first:
        mask = mask.T
    shape = mask.shape + (1,) * (output.ndim - 2)
    w = tensor(mask.reshape(shape), dtype=output.dtype, device=output.device)
    return (output * w).sum(axis=1 if batch_first else 0)


def reverse_padded(x, lengths, batch_first: bool = False):
    """Reverse each sequence within its own length; padding stays where it is.

    ``y[t, b] = x[L_b - 1 - t, b]`` for t < L_b, and ``y[t, b] = x[t, b]`` otherwise. It is its
    own inverse. Running a forward LSTM over ``reverse_padded(x)`` and reversing its output back
    gives, at every real position, exactly the backward direction of a bidirectional LSTM run on
    each sequence alone: the padding comes after the real steps in both directions.
    """
    T, B = _tb(x, batch_first, "reverse_padded")
    L = _lengths(lengths, T, B, "reverse_padded")
    t = np.arange(T)[:, None]
    src = np.where(t < L[None, :], L[None, :] - 1 - t, t)              # (T, B)
    cols = np.broadcast_to(np.arange(B)[None, :], (T, B))
    if batch_first:
        return x[cols.T.copy(), src.T.copy()]
    return x[src, cols.copy()]
