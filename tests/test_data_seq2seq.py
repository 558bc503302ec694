"""The number-words task (lfs.data.number_words) and TokenVocab."""
import numpy as np
import pytest

from lstm_from_scratch.data import (TokenVocab, number_to_words, number_words,
                                    tokenize_number_words)
from lstm_from_scratch.data.seq2seq import NUMBER_WORDS


@pytest.mark.parametrize("n, words", [
    (0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty-one"),
    (100, "one hundred"), (101, "one hundred one"), (110, "one hundred ten"),
    (999, "nine hundred ninety-nine"), (1000, "one thousand"), (1001, "one thousand one"),
    (2005, "two thousand five"), (312405, "three hundred twelve thousand four hundred five"),
    (2_000_042, "two million forty-two"), (1_000_000_000, "one billion"),
    (10 ** 15 - 1, "nine hundred ninety-nine trillion nine hundred ninety-nine billion "
                   "nine hundred ninety-nine million nine hundred ninety-nine thousand "
                   "nine hundred ninety-nine"),
])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def _parse(tokens):
    """Words -> number, written independently of number_to_words (the test's own oracle)."""
    small = {w: i for i, w in enumerate(NUMBER_WORDS[:20])}
    small.update({w: 10 * (i + 2) for i, w in enumerate(NUMBER_WORDS[20:28])})
    scales = {"thousand": 10 ** 3, "million": 10 ** 6, "billion": 10 ** 9, "trillion": 10 ** 12}
    total, group = 0, 0
    for w in tokens:
        if w in small:
            group += small[w]
        elif w == "hundred":
            group *= 100
        else:
            total += group * scales[w]
            group = 0
    return total + group


def test_words_parse_back_to_the_number():
    rng = np.random.default_rng(0)
    for d in range(1, 16):
        for n in rng.integers(10 ** (d - 1), 10 ** d, size=50, dtype=np.int64):
            tokens = tokenize_number_words(number_to_words(int(n)))
            assert set(tokens) <= set(NUMBER_WORDS)
            assert _parse(tokens) == n


def test_number_to_words_range():
    with pytest.raises(ValueError, match=r"n must be in \[0, 10\*\*15\), got -1"):
        number_to_words(-1)
    with pytest.raises(ValueError, match="got 1000000000000000"):
        number_to_words(10 ** 15)


def test_splits_are_fixed_by_the_seed_and_disjoint():
    a = number_words(600, 100, 150, max_digits=6, seed=3)
    b = number_words(600, 100, 150, max_digits=6, seed=3)
    c = number_words(600, 100, 150, max_digits=6, seed=4)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, part).numbers, getattr(b, part).numbers)
        np.testing.assert_array_equal(getattr(a, part).src, getattr(b, part).src)
    assert not np.array_equal(a.train.numbers, c.train.numbers)
    assert (len(a.train), len(a.val), len(a.test)) == (600, 100, 150)
    all_numbers = np.concatenate([a.train.numbers, a.val.numbers, a.test.numbers])
    assert len(np.unique(all_numbers)) == 850                  # no number in two splits
    assert all_numbers.min() >= 0 and all_numbers.max() < 10 ** 6
    # digit counts are drawn uniformly, repeats redrawn: every length occurs
    assert set(len(str(n)) for n in all_numbers) == set(range(1, 7))


def test_arrays_encode_the_tokens():
    data = number_words(300, 50, 50, max_digits=12, seed=0)
    s = data.test
    assert len(data.src_vocab) == 3 + len(NUMBER_WORDS) == 36 and len(data.tgt_vocab) == 13
    for k in range(len(s)):
        L, T = s.src_lengths[k], s.tgt_lengths[k]
        assert data.src_vocab.decode(s.src[k]) == s.source[k] and (s.src[k, L:] == 0).all()
        assert _parse(s.source[k]) == s.numbers[k]
        assert "".join(data.tgt_vocab.decode(s.tgt_out[k])) == str(s.numbers[k])
        assert T == len(str(s.numbers[k])) + 1
        assert s.tgt_in[k, 0] == TokenVocab.BOS and s.tgt_out[k, T - 1] == TokenVocab.EOS
        np.testing.assert_array_equal(s.tgt_in[k, 1:T], s.tgt_out[k, :T - 1])
        assert (s.tgt_in[k, T:] == 0).all() and (s.tgt_out[k, T:] == 0).all()
    assert s.src.shape[1] == s.src_lengths.max() <= 19
    assert s.tgt_in.shape == s.tgt_out.shape and s.tgt_in.shape[1] == s.tgt_lengths.max() <= 13


def test_batches_cover_every_row_and_trim_padding():
    s = number_words(200, 10, 10, max_digits=9, seed=1).train
    seen = []
    for index, (src, tgt_in, tgt_out) in s.batches(64, shuffle=True, seed=0):
        seen.extend(index.tolist())
        assert src.shape == (len(index), s.src_lengths[index].max())
        assert tgt_in.shape == tgt_out.shape == (len(index), s.tgt_lengths[index].max())
        np.testing.assert_array_equal(src, s.src[index, :src.shape[1]])
    assert sorted(seen) == list(range(200))
    first = [i.tolist() for i, _ in s.batches(64, shuffle=True, seed=0)]
    again = [i.tolist() for i, _ in s.batches(64, shuffle=True, seed=0)]
    assert first == again and first != [i.tolist() for i, _ in s.batches(64)]


def test_token_vocab():
    v = TokenVocab(["a", "b", "c"])
    assert len(v) == 6 and "b" in v and v.itos[:3] == ["<pad>", "<bos>", "<eos>"]
    np.testing.assert_array_equal(v.encode(["c", "a"], bos=True, eos=True), [1, 5, 3, 2])
    assert v.decode([1, 5, 0, 3, 2, 4]) == ["c", "a"]
    with pytest.raises(KeyError, match="token 'z' is not in the vocabulary of 6 tokens"):
        v.encode(["a", "z"])
    with pytest.raises(ValueError, match="distinct"):
        TokenVocab(["a", "a"])
    with pytest.raises(ValueError, match="reserved"):
        TokenVocab(["<eos>"])


def test_number_words_errors():
    with pytest.raises(ValueError, match="max_digits must be in 1..15, got 16"):
        number_words(10, 10, 10, max_digits=16)
    with pytest.raises(ValueError, match="n_val must be positive"):
        number_words(10, 0, 10)
    with pytest.raises(ValueError, match="only 100 have at most 2 digits"):
        number_words(100, 1, 1, max_digits=2)
