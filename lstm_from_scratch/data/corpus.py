"""A corpus of English prose for character-level language models, with a split by position.

The text is the one every Python installation carries for ``help()``: the topics of the
Python Language Reference that the standard library's ``pydoc_data.topics`` holds as plain
text (about 465,000 characters on Python 3.11). No download is needed, and it has what a
character model can learn and what chapter 13 looks for: wrapped lines of about 70 characters,
quoted names ("len()"), brackets, indented examples and grammar rules.

It is documentation, licensed under the Python Software Foundation License, not public-domain
literature: no well-known package on PyPI ships a public-domain book in its wheel (NLTK, for
example, downloads its Gutenberg selection separately at run time), so this is the best text
available without a download. The text changes between Python versions: :func:`corpus_info`
gives its length and SHA-256 digest, so recorded results can say which text they came from.

    >>> corpus = char_corpus()
    >>> corpus.vocab, len(corpus.train) > 10 * len(corpus.test)
    (CharVocab(104 characters), True)
"""
from __future__ import annotations

import hashlib
import platform
from dataclasses import dataclass

import numpy as np

from .text import CharVocab

__all__ = ["CharCorpus", "char_corpus", "corpus_info", "pydoc_text", "split_by_position"]

UNK = "\N{REPLACEMENT CHARACTER}"    # stands for every character the training part lacks


def pydoc_text() -> str:
    """The help topics of the Python Language Reference, as ``help()`` shows them.

    The topics (``"assert"``, ``"assignment"``, ..., ``"yield"``) are joined in alphabetical
    order, separated by a blank line, with trailing spaces removed from every line.
    """
    from pydoc_data.topics import topics

    parts = []
    for name in sorted(topics):
        lines = [line.rstrip() for line in topics[name].strip("\n").split("\n")]
        parts.append("\n".join(lines))
    return "\n\n\n".join(parts) + "\n"


def corpus_info(text: str) -> dict:
    """Length, SHA-256 digest (hex) and the Python version that supplied ``text``."""
    return {"chars": len(text),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "python": platform.python_version()}


def split_by_position(text, fractions=(0.9, 0.05, 0.05)):
    """Cut ``text`` into consecutive parts with the given fractions of its length.

    The parts follow each other in the text (no shuffling): a validation or test part is a
    stretch of text the model has never seen, not characters scattered inside the training
    part, whose neighbours it has seen.

    Args:
        text: a string (or any sliceable sequence).
        fractions: positive numbers summing to 1 (within 1e-9), one per part.
    Returns:
        A tuple of parts, ``len(fractions)`` long; together they are exactly ``text``.
    """
    fractions = tuple(float(f) for f in fractions)
    if not fractions or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"split_by_position: fractions must be positive and sum to 1, got "
                         f"{fractions}")
    bounds = np.round(np.cumsum((0.0,) + fractions) * len(text)).astype(int)
    bounds[-1] = len(text)
    return tuple(text[a:b] for a, b in zip(bounds[:-1], bounds[1:]))


@dataclass(frozen=True)
class CharCorpus:
    """A text split into training, validation and test parts, and a vocabulary.

    Attributes:
        train, valid, test: consecutive parts of the text.
        vocab: the characters of ``train`` plus :data:`UNK`, which stands for every character
            that occurs only in the validation or test part (so a model is never asked about
            an id it has no row for, and the count of such characters is visible, not hidden).
        info: :func:`corpus_info` of the whole text, plus ``name``.
    """

    train: str
    valid: str
    test: str
    vocab: CharVocab
    info: dict

    def ids(self, part: str) -> np.ndarray:
        """The (L,) int64 ids of ``"train"``, ``"valid"`` or ``"test"``."""
        if part not in ("train", "valid", "test"):
            raise ValueError(f"CharCorpus.ids: part must be 'train', 'valid' or 'test', got "
                             f"{part!r}")
        return self.vocab.encode(getattr(self, part))

    def unknown(self, part: str) -> int:
        """How many characters of a part are not in the training part (they map to UNK)."""
        return sum(1 for ch in getattr(self, part) if ch not in self.vocab.stoi)


def char_corpus(text: str | None = None, fractions=(0.9, 0.05, 0.05), name=None) -> CharCorpus:
    """The corpus of chapter 7: ``text`` (default :func:`pydoc_text`) split by position, with a
    vocabulary built from the training part only.

    Args:
        text: the whole text; None for the Python help topics.
        fractions: the sizes of the training, validation and test parts (they sum to 1).
        name: a label for ``info`` (default ``"pydoc_data.topics"`` for the default text).
    """
    if len(tuple(fractions)) != 3:
        raise ValueError(f"char_corpus: fractions must be (train, valid, test), got {fractions}")
    if text is None:
        text, name = pydoc_text(), name or "pydoc_data.topics"
    if UNK in text:
        raise ValueError(f"char_corpus: the text contains {UNK!r}, which stands for unknown "
                         "characters")
    train, valid, test = split_by_position(text, fractions)
    vocab = CharVocab(train + UNK, unk=UNK)
    info = {"name": name or "text", **corpus_info(text)}
    return CharCorpus(train, valid, test, vocab, info)
