"""Character-level language modelling: the corpus, CharLM, sampling, metrics, n-gram baselines."""
import math

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import lm
from lstm_from_scratch.data import CharVocab, char_corpus, split_by_position
from lstm_from_scratch.data.corpus import UNK


# ---- corpus ----------------------------------------------------------------------------------------
def test_split_by_position_is_consecutive_and_complete():
    text = "abcdefghijklmnopqrst"
    parts = split_by_position(text, (0.5, 0.25, 0.25))
    assert parts == ("abcdefghij", "klmno", "pqrst")
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_position(text, (0.5, 0.2))


def test_char_corpus_vocab_from_train_only_with_unk():
    text = "ab" * 90 + "abc" * 6        # "c" occurs only after the training part (180 chars)
    corpus = char_corpus(text, (0.9, 0.05, 0.05), name="toy")
    assert "c" not in corpus.vocab and UNK in corpus.vocab
    assert corpus.unknown("train") == 0 and corpus.unknown("test") > 0
    ids = corpus.ids("test")
    assert (ids == corpus.vocab.stoi[UNK]).sum() == corpus.unknown("test")
    assert corpus.info["name"] == "toy" and corpus.info["chars"] == len(text)
    with pytest.raises(ValueError, match="part must be"):
        corpus.ids("dev")


def test_default_corpus_is_python_help_and_deterministic():
    a, b = char_corpus(), char_corpus()
    assert a.info["sha256"] == b.info["sha256"] and len(a.vocab) > 60
    assert "assert" in a.train[:2000] and a.train + a.valid + a.test == lfs.data.pydoc_text()


def test_char_vocab_unk_maps_unknown_and_must_be_in_vocab():
    v = CharVocab("abc?", unk="?")
    assert v.decode(v.encode("abz")) == "ab?"
    with pytest.raises(ValueError, match="unk"):
        CharVocab("abc", unk="?")
    with pytest.raises(KeyError, match="'z'"):
        CharVocab("abc").encode("z")


# ---- model ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_hidden_size_for_budget_gives_the_closest_count(cell):
    V, E, L = 50, 16, 2
    budget = lm.count_parameters(lm.CharLM(V, E, 64, L, cell="lstm"))
    H = lm.hidden_size_for_budget(cell, budget, V, E, L)
    counts = {h: lm.count_parameters(lm.CharLM(V, E, h, L, cell=cell)) for h in (H - 1, H, H + 1)}
    assert min(counts, key=lambda h: abs(counts[h] - budget)) == H
    if cell == "lstm":
        assert counts[H] == budget


def test_charlm_shapes_state_and_fused_equals_primitive():
    lfs.manual_seed(0)
    a = lm.CharLM(11, 8, 16, 2, fused=False).double()
    b = lm.CharLM(11, 8, 16, 2, fused=True).double()
    b.load_state_dict(a.state_dict())
    ids = lfs.tensor(np.random.default_rng(0).integers(0, 11, (3, 7)))
    la, (h, c) = a(ids)
    lb, _ = b(ids)
    assert la.shape == (3, 7, 11) and h.shape == (2, 3, 16) and c.shape == (2, 3, 16)
    assert np.abs(la.numpy() - lb.numpy()).max() < 1e-12
    # reading in two pieces with the state carried equals reading at once
    l1, s = a(ids[:, :4])
    l2, _ = a(ids[:, 4:], s)
    assert np.abs(np.concatenate([l1.numpy(), l2.numpy()], 1) - la.numpy()).max() < 1e-12
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        a(lfs.tensor(np.zeros(5, dtype=np.int64)))
    with pytest.raises(ValueError, match="cell"):
        lm.CharLM(5, cell="lstmx")


# ---- sampling -------------------------------------------------------------------------------------------
def test_filter_logits_top_k_and_top_p():
    z = np.log(np.array([[0.5, 0.3, 0.15, 0.05]]))
    assert np.isfinite(lm.filter_logits(z, top_k=2)).sum() == 2
    kept = np.isfinite(lm.filter_logits(z, top_p=0.7))          # 0.5 + 0.3 >= 0.7
    assert kept.tolist() == [[True, True, False, False]]
    kept = np.isfinite(lm.filter_logits(z, top_p=0.81))         # needs the third
    assert kept.sum() == 3
    assert np.isfinite(lm.filter_logits(z, top_p=0.01)).sum() == 1   # the top one always stays
    with pytest.raises(ValueError, match="top_p"):
        lm.filter_logits(z, top_p=0.0)
    with pytest.raises(ValueError, match="top_k"):
        lm.filter_logits(z, top_k=0)


def test_sample_next_follows_the_distribution_and_temperature():
    p = np.array([0.6, 0.3, 0.1])
    z = np.tile(np.log(p), (20000, 1))
    rng = np.random.default_rng(1)
    freq = np.bincount(lm.sample_next(z, rng=rng), minlength=3) / 20000
    assert np.abs(freq - p).max() < 0.015
    # temperature T: p^(1/T) renormalised
    freq2 = np.bincount(lm.sample_next(z, temperature=0.5, rng=rng), minlength=3) / 20000
    q = p ** 2 / (p ** 2).sum()
    assert np.abs(freq2 - q).max() < 0.015
    assert (lm.sample_next(z[:50], top_k=1, rng=rng) == 0).all()
    with pytest.raises(ValueError, match="temperature"):
        lm.sample_next(z, temperature=0)


def _markov_model():
    """A CharLM whose head ignores the state and predicts 'next letter of abcd' from the
    embedding alone: logits = 20 * onehot(next(x))."""
    lfs.manual_seed(0)
    model = lm.CharLM(4, 4, 4, 1).double()
    state = model.state_dict()
    for k in state:
        state[k] = np.zeros_like(state[k])
    # route the embedding straight to h through the input gate and candidate; o fixed open
    E = np.eye(4)
    state["embedding.weight"] = 3 * E
    w = np.zeros((16, 4))
    w[0:4] = 10 * E            # i
    w[8:12] = 10 * E           # g
    state["rnn.weight_ih_l0"] = w
    b = np.zeros(16)
    b[0:4] = -5                # i is open only for the active unit
    b[4:8] = -50               # forget everything
    b[12:16] = 50              # o open
    state["rnn.bias_ih_l0"] = b
    state["head.weight"] = 20 * np.roll(np.eye(4), 1, axis=0)
    model.load_state_dict(state)
    return model, CharVocab("abcd")


def test_generate_is_seeded_primed_and_greedy_at_low_temperature():
    model, vocab = _markov_model()
    text = lm.generate(model, vocab, "a", 7, temperature=0.05)
    assert text == "bcdabcd"
    assert lm.generate(model, vocab, "ac", 3, temperature=0.05) == "dab"     # primed
    a = lm.generate(model, vocab, "a", 30, temperature=5.0, seed=3)
    assert a == lm.generate(model, vocab, "a", 30, temperature=5.0, seed=3)
    assert a != lm.generate(model, vocab, "a", 30, temperature=5.0, seed=4)
    assert model.training                                       # mode restored
    with pytest.raises(ValueError, match="prompt"):
        lm.generate(model, vocab, "", 3)


# ---- metrics ----------------------------------------------------------------------------------------------
def test_token_log_probs_match_a_full_forward_and_bptt_does_not_matter():
    lfs.manual_seed(0)
    model = lm.CharLM(7, 5, 8, 2).double()
    ids = np.random.default_rng(0).integers(0, 7, 50)
    logits, _ = model(lfs.tensor(ids[None, :-1]))
    logp = lfs.log_softmax(logits, axis=-1).numpy()[0]
    expected = logp[np.arange(49), ids[1:]]
    for bptt in (7, 100):
        got, _ = lm.token_log_probs(model, ids, bptt=bptt)
        assert np.abs(got - expected).max() < 1e-12
    assert abs(lm.bits_per_char(model, ids) + expected.mean() / math.log(2)) < 1e-12


def test_sequence_log_prob_is_the_sum_after_the_context():
    model, vocab = _markov_model()
    good = lm.sequence_log_prob(model, vocab, "bcd", context="a")
    bad = lm.sequence_log_prob(model, vocab, "dcb", context="a")
    assert good > -0.01 and bad < -20
    whole, _ = lm.token_log_probs(model, vocab.encode("abcd"))
    assert abs(good - whole.sum()) < 1e-12
    with pytest.raises(ValueError, match="context"):
        lm.sequence_log_prob(model, vocab, "ab", context="")


# ---- n-gram baselines ------------------------------------------------------------------------------------
def test_kneser_ney_distributions_sum_to_one_for_every_order():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 6, 3000)
    ids[::7] = 2                                                  # some structure
    for n in range(1, 6):
        model = lm.KneserNeyLM(n, 6).fit(ids)
        for hist in (ids[:10], ids[5:6], np.array([5, 5, 5, 5]), np.zeros(0, dtype=int)):
            p = model.next_probs(hist)
            assert abs(p.sum() - 1) < 1e-12 and (p > 0).all()


def test_kneser_ney_by_hand_on_a_tiny_text():
    # text "abab" over {a, b, c}; order 2. Bigrams ab, ba, ab: c(ab)=2, c(ba)=1.
    ids = np.array([0, 1, 0, 1])
    model = lm.KneserNeyLM(2, 3).fit(ids)
    # order 2: counts {ab: 2, ba: 1}: n1 = 1, n2 = 1 -> D2 = 1/3
    # order 1: continuations N1+(. b) = 1 (a), N1+(. a) = 1 (b) -> {a: 1, b: 1}: D1 = 1
    D2, D1 = 1 / 3, 1.0
    p1 = {w: (max(c - D1, 0) + D1 * 2 * (1 / 3)) / 2 for w, c in ((0, 1), (1, 1), (2, 0))}
    # after 'a': c(a)=2 (total of bigrams starting with a), one type
    p = model.next_probs(np.array([0]))
    expected = [(max(c - D2, 0) + D2 * 1 * p1[w]) / 2 for w, c in ((0, 0), (1, 2), (2, 0))]
    assert np.allclose(p, expected, rtol=1e-12)
    # the log-probabilities of a sequence use the same numbers
    lp = model.log_probs(np.array([0, 1]))
    assert np.isclose(lp[0], np.log(expected[1]))


def test_kneser_ney_learns_a_deterministic_cycle_and_unigram_baseline():
    ids = np.tile(np.arange(5), 200)
    model = lm.KneserNeyLM(3, 5).fit(ids)
    assert model.bits_per_char(ids[:100]) < 0.1
    assert abs(lm.unigram_bits_per_char(ids, ids, 5) - math.log2(5)) < 1e-9
    with pytest.raises(ValueError, match="order"):
        lm.KneserNeyLM(10, 5)
    with pytest.raises(RuntimeError, match="fit"):
        lm.KneserNeyLM(2, 5).log_probs(ids)


def test_in_eval_mode_restores_the_mode_it_found_also_on_error():
    from lstm_from_scratch.lm.model import in_eval_mode

    model = lm.CharLM(5, 4, 6, 1)
    for mode in (True, False):
        model.train(mode)
        with in_eval_mode(model):
            assert not model.training and not model.rnn.training
        assert model.training is mode and model.rnn.training is mode
    model.train()
    with pytest.raises(RuntimeError):
        with in_eval_mode(model):
            raise RuntimeError("inside")
    assert model.training
