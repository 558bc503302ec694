"""A translation-like task for sequence-to-sequence models: English number words -> digits.

    "three hundred twelve thousand four hundred five"  ->  "312405"

The source is a sentence of number words, the target its digits. It has the features of
translation that matter for an encoder-decoder, with no download and an exact answer:

* lengths vary a lot and differ between source and target: "seven" (1 word, 1 digit) up to
  "nine hundred ninety-nine billion ..." (19 words, 12 digits);
* the amount of information grows with the length (every digit must be carried to the
  output), so a model that squeezes the whole source into one fixed-size vector has more to
  squeeze the longer the input is: the bottleneck that attention removes;
* the alignment is monotonic but not one-to-one: "twelve" gives two digits, "thousand"
  gives nothing or some zeros ("two thousand five" -> "2005"), "hundred" is a place value.

Words are written in American style, without "and", with hyphenated tens ("forty-two");
tokens split at spaces and hyphens, so "forty-two" is the two tokens ``forty two``.

:func:`number_words` draws a dataset with fixed train / validation / test splits from a seed;
no number occurs in two splits. :class:`TokenVocab` maps tokens to ids with the special
tokens ``<pad>`` (0), ``<bos>`` (1) and ``<eos>`` (2).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._rng import make_rng

__all__ = ["NUMBER_WORDS", "Seq2SeqData", "Seq2SeqSplit", "TokenVocab", "number_to_words",
           "number_words", "tokenize_number_words"]

_ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
         "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
         "eighteen", "nineteen"]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ["", "thousand", "million", "billion", "trillion"]
MAX_DIGITS = 3 * len(_SCALES)       # up to 999 trillion

# every word the source can contain, in a fixed order (the source vocabulary's order)
NUMBER_WORDS = tuple(_ONES + _TENS[2:] + ["hundred"] + _SCALES[1:])


def _below_thousand(g: int) -> list:
    """Words of 1 <= g <= 999, e.g. 405 -> ["four", "hundred", "five"] (tens hyphenated)."""
    words = []
    hundreds, rest = divmod(g, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        words.append(_TENS[rest // 10] + (f"-{_ONES[rest % 10]}" if rest % 10 else ""))
    elif rest:
        words.append(_ONES[rest])
    return words


def number_to_words(n: int) -> str:
    """American English words of an integer 0 <= n < 10**15.

    >>> number_to_words(312405)
    'three hundred twelve thousand four hundred five'
    >>> number_to_words(2_000_042)
    'two million forty-two'
    """
    n = int(n)
    if not 0 <= n < 10 ** MAX_DIGITS:
        raise ValueError(f"number_to_words: n must be in [0, 10**{MAX_DIGITS}), got {n}")
    if n == 0:
        return "zero"
    words, k = [], 0
    while n:
        n, g = divmod(n, 1000)
        if g:
            words = _below_thousand(g) + ([_SCALES[k]] if k else []) + words
        k += 1
    return " ".join(words)


def tokenize_number_words(text: str) -> list:
    """Tokens of a number in words: split at spaces and hyphens ("forty-two" -> forty two)."""
    return text.replace("-", " ").split()


class TokenVocab:
    """Tokens <-> ids, with ``<pad>`` = 0, ``<bos>`` = 1, ``<eos>`` = 2 before the tokens.

    >>> v = TokenVocab(["a", "b"])
    >>> v.encode(["b", "a"], eos=True), v.decode([1, 4, 3, 2, 0])
    (array([4, 3, 2]), ['b', 'a'])
    """

    PAD, BOS, EOS = 0, 1, 2
    SPECIALS = ("<pad>", "<bos>", "<eos>")

    def __init__(self, tokens):
        tokens = list(tokens)
        if len(set(tokens)) != len(tokens):
            raise ValueError("TokenVocab: tokens must be distinct")
        clash = set(tokens) & set(self.SPECIALS)
        if clash:
            raise ValueError(f"TokenVocab: {sorted(clash)} are reserved special tokens")
        self.itos = list(self.SPECIALS) + tokens
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token) -> bool:
        return token in self.stoi

    def encode(self, tokens, bos: bool = False, eos: bool = False) -> np.ndarray:
        """(L,) int64 ids, with ``<bos>`` before and/or ``<eos>`` after if asked."""
        try:
            ids = [self.stoi[t] for t in tokens]
        except KeyError as e:
            raise KeyError(f"token {e.args[0]!r} is not in the vocabulary of {len(self)} "
                           "tokens") from None
        return np.array(([self.BOS] if bos else []) + ids + ([self.EOS] if eos else []),
                        dtype=np.int64)

    def decode(self, ids) -> list:
        """Tokens of ``ids`` up to the first ``<eos>``, without ``<pad>`` and ``<bos>``."""
        out = []
        for i in np.asarray(ids).tolist():
            if i == self.EOS:
                break
            if i not in (self.PAD, self.BOS):
                out.append(self.itos[i])
        return out


def _pad(rows, width=None):
    width = max(len(r) for r in rows) if width is None else width
    out = np.zeros((len(rows), width), dtype=np.int64)        # <pad> is 0
    for k, r in enumerate(rows):
        out[k, :len(r)] = r
    return out


@dataclass
class Seq2SeqSplit:
    """One split of a sequence-to-sequence dataset, as padded id arrays (``<pad>`` = 0).

    Attributes:
        numbers: (N,) int64, the numbers; source / target: the token lists.
        src: (N, S) source ids; src_lengths: (N,) the number of real tokens.
        tgt_in: (N, T) ``<bos>`` + target ids, the decoder's input under teacher forcing;
        tgt_out: (N, T) target ids + ``<eos>``, what the decoder must predict at each step;
        tgt_lengths: (N,) target tokens including ``<eos>``.
    """

    numbers: np.ndarray
    source: list
    target: list
    src: np.ndarray
    src_lengths: np.ndarray
    tgt_in: np.ndarray
    tgt_out: np.ndarray
    tgt_lengths: np.ndarray

    def __len__(self) -> int:
        return len(self.numbers)

    def batch(self, index):
        """``(src, tgt_in, tgt_out)`` of the rows ``index``, cut to the longest row among them
        (less padding, less work)."""
        index = np.asarray(index)
        S = int(self.src_lengths[index].max())
        T = int(self.tgt_lengths[index].max())
        return self.src[index, :S], self.tgt_in[index, :T], self.tgt_out[index, :T]

    def batches(self, batch_size: int, shuffle: bool = False, seed=None, rng=None):
        """Yield ``(index, (src, tgt_in, tgt_out))`` over all rows, in minibatches."""
        order = make_rng(seed, rng).permutation(len(self)) if shuffle else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            index = order[start:start + batch_size]
            yield index, self.batch(index)


@dataclass
class Seq2SeqData:
    """Train / validation / test splits and the two vocabularies."""

    train: Seq2SeqSplit
    val: Seq2SeqSplit
    test: Seq2SeqSplit
    src_vocab: TokenVocab
    tgt_vocab: TokenVocab


def _draw_numbers(count, max_digits, g):
    """``count`` distinct numbers: a digit count d uniform in 1..max_digits, then a number
    uniform among the d-digit ones (0..9 for d = 1). Repeats are drawn again, so short
    numbers, of which there are few, are rarer than 1/max_digits."""
    seen, out = set(), []
    possible = 10 ** max_digits
    if count > possible:
        raise ValueError(f"number_words: {count} distinct numbers requested, but only "
                         f"{possible} have at most {max_digits} digits")
    while len(out) < count:
        d = g.integers(1, max_digits + 1, size=count)
        lo = np.where(d == 1, 0, 10 ** (d - 1).astype(np.float64))
        u = g.random(count)
        for k in range(count):
            low = int(lo[k])
            n = low + int(u[k] * (10 ** int(d[k]) - low))
            if n not in seen:
                seen.add(n)
                out.append(n)
                if len(out) == count:
                    break
    return out


def number_words(n_train: int = 20000, n_val: int = 2000, n_test: int = 2000,
                 max_digits: int = 12, seed=None, rng=None) -> Seq2SeqData:
    """The number-words task: English words of a number -> its digits.

    Args:
        n_train, n_val, n_test: sizes of the splits; no number is in two splits.
        max_digits: the longest numbers have this many digits (1..15); with 12 the sources
            are 1 to 19 words long.
        seed / rng: randomness (deterministic: seed 0 by default). The same seed gives the
            same splits on every machine (only NumPy's Generator and integer arithmetic).
    Returns:
        a :class:`Seq2SeqData` whose splits hold the padded ids (see :class:`Seq2SeqSplit`);
        ``src_vocab`` has the 33 words of ``NUMBER_WORDS``, ``tgt_vocab`` the digits 0-9.
    """
    if not 1 <= max_digits <= MAX_DIGITS:
        raise ValueError(f"number_words: max_digits must be in 1..{MAX_DIGITS}, got {max_digits}")
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if n < 1:
            raise ValueError(f"number_words: {name} must be positive, got {n}")
    g = make_rng(seed, rng)
    numbers = _draw_numbers(n_train + n_val + n_test, max_digits, g)
    src_vocab, tgt_vocab = TokenVocab(NUMBER_WORDS), TokenVocab("0123456789")

    def split(nums):
        source = [tokenize_number_words(number_to_words(n)) for n in nums]
        target = [list(str(n)) for n in nums]
        src_ids = [src_vocab.encode(s) for s in source]
        tgt_ids = [tgt_vocab.encode(t) for t in target]
        return Seq2SeqSplit(
            numbers=np.array(nums, dtype=np.int64), source=source, target=target,
            src=_pad(src_ids), src_lengths=np.array([len(s) for s in src_ids], dtype=np.int64),
            tgt_in=_pad([np.concatenate([[TokenVocab.BOS], t]) for t in tgt_ids]),
            tgt_out=_pad([np.concatenate([t, [TokenVocab.EOS]]) for t in tgt_ids]),
            tgt_lengths=np.array([len(t) + 1 for t in tgt_ids], dtype=np.int64))

    a, b = n_train, n_train + n_val
    return Seq2SeqData(split(numbers[:a]), split(numbers[a:b]), split(numbers[b:]),
                       src_vocab, tgt_vocab)
