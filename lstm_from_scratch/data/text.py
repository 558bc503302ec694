"""Characters as data: a vocabulary, a corpus from the standard library, and batches for
truncated backpropagation through time (TBPTT)."""
from __future__ import annotations

import importlib
import inspect

import numpy as np

# pure-Python modules of the standard library: shipped with every Python, no download
DEFAULT_MODULES = ("textwrap", "string", "fractions", "heapq", "bisect", "shlex",
                   "difflib", "calendar")


def stdlib_text(modules=DEFAULT_MODULES, max_chars: int | None = None) -> str:
    """The source code of some standard-library modules, concatenated in the given order.

    Deterministic for a given Python version (the source changes between versions, so
    record ``sys.version`` next to results that depend on it).
    """
    parts = []
    for name in modules:
        parts.append(inspect.getsource(importlib.import_module(name)))
    text = "\n".join(parts)
    return text if max_chars is None else text[:max_chars]


class CharVocab:
    """A bijection between the characters of a text and 0..V-1 (sorted by code point).

    >>> v = CharVocab("hello")
    >>> v.encode("hell"), v.decode([1, 0])
    (array([1, 0, 2, 2]), 'eh')

    With ``unk`` (a character of the vocabulary), ``encode`` maps every character outside the
    vocabulary to ``unk``'s id instead of raising, as torchtext's ``set_default_index``:

    >>> CharVocab("hello?", unk="?").decode(CharVocab("hello?", unk="?").encode("help!"))
    'hel??'
    """

    def __init__(self, text: str = "", chars=None, unk: str | None = None):
        chars = sorted(set(text)) if chars is None else list(chars)
        if len(set(chars)) != len(chars):
            raise ValueError("CharVocab: chars must be distinct")
        self.itos = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        if unk is not None and unk not in self.stoi:
            raise ValueError(f"CharVocab: unk={unk!r} must be one of the vocabulary's characters")
        self.unk = unk

    @classmethod
    def from_text(cls, text: str, unk: str | None = None) -> "CharVocab":
        return cls(text, unk=unk)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, ch) -> bool:
        return ch in self.stoi

    def encode(self, text: str) -> np.ndarray:
        """(len(text),) int64 ids; an unknown character is ``unk``'s id, or without ``unk``
        a KeyError naming it."""
        if self.unk is not None:
            default = self.stoi[self.unk]
            return np.fromiter((self.stoi.get(c, default) for c in text), dtype=np.int64,
                               count=len(text))
        try:
            return np.fromiter((self.stoi[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as e:
            raise KeyError(f"character {e.args[0]!r} is not in the vocabulary of "
                           f"{len(self)} characters") from None

    def decode(self, ids) -> str:
        ids = np.asarray(ids).reshape(-1)
        return "".join(self.itos[int(i)] for i in ids)

    def __repr__(self):
        return f"CharVocab({len(self)} characters)"


def batchify(ids, batch_size: int) -> np.ndarray:
    """Split one long sequence into ``batch_size`` contiguous streams, side by side.

    Args:
        ids: (L,) token ids.
    Returns:
        (B, L // B): row b is ids[b * S:(b + 1) * S] with S = L // B (the tail that does
        not fill a row is dropped). Each row is read left to right across TBPTT chunks, so
        the hidden state of row b carries over from one chunk to the next.
    """
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise ValueError(f"batchify: ids must be 1-D, got shape {ids.shape}")
    steps = len(ids) // batch_size
    if steps < 2:
        raise ValueError(f"batchify: {len(ids)} tokens are too few for {batch_size} streams")
    return ids[:steps * batch_size].reshape(batch_size, steps).copy()


def bptt_batches(streams, bptt: int):
    """Consecutive chunks of ``bptt`` steps with next-token targets, for TBPTT.

    Args:
        streams: (B, S) from :func:`batchify`.
        bptt: the chunk length T.
    Returns:
        A list of ``(x, y)`` pairs, x and y both (B, T_k) with ``y[:, t] = x[:, t + 1]``
        across chunk boundaries (T_k = bptt except possibly for the last chunk). Chunk k+1
        continues chunk k in every row.
    """
    streams = np.asarray(streams)
    if streams.ndim != 2:
        raise ValueError(f"bptt_batches: streams must be (B, S), got shape {streams.shape}")
    if bptt < 1:
        raise ValueError(f"bptt_batches: bptt must be positive, got {bptt}")
    S = streams.shape[1]
    out = []
    for start in range(0, S - 1, bptt):
        end = min(start + bptt, S - 1)
        out.append((streams[:, start:end], streams[:, start + 1:end + 1]))
    return out


tbptt_batches = bptt_batches     # the name used in the design notes; same function
