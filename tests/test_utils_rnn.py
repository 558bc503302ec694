"""Padded batches: padding, masks, last valid step, masked mean, per-length reversal; the
chapter-10 classifier on padded batches equals each sequence run alone, and PyTorch's packed
sequences; the Japanese Vowels reader."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch.nn.utils_rnn import (last_valid, masked_mean, pad_sequence,
                                            reverse_padded, sequence_mask)

LENGTHS = np.array([3, 5, 1, 4])


def _padded(rng, T=5, F=2):
    x = rng.standard_normal((T, len(LENGTHS), F))
    for b, L in enumerate(LENGTHS):
        x[L:, b] = 0.0
    return x


def test_pad_sequence_and_mask(device):
    rng = np.random.default_rng(0)
    seqs = [rng.standard_normal((L, 2)) for L in LENGTHS]
    out = pad_sequence([lfs.tensor(s, device=device) for s in seqs])
    assert out.shape == (5, 4, 2)
    x = out.numpy()
    for b, (s, L) in enumerate(zip(seqs, LENGTHS)):
        np.testing.assert_array_equal(x[:L, b], s)
        assert not x[L:, b].any()
    bf = pad_sequence([lfs.tensor(s, device=device) for s in seqs], batch_first=True,
                      padding_value=-1.0)
    assert bf.shape == (4, 5, 2) and bf.numpy()[2, 1:].tolist() == [[-1, -1]] * 4
    m = sequence_mask(LENGTHS, device=device).numpy()
    assert m.shape == (5, 4) and m.sum(0).tolist() == LENGTHS.tolist()
    assert sequence_mask(LENGTHS, batch_first=True).numpy().shape == (4, 5)
    # the NumPy helper of lfs.data pads the same way
    np.testing.assert_array_equal(lfs.data.pad_sequences(seqs, batch_first=False)[0], x)


def test_last_valid_mean_and_reverse_by_hand(device):
    rng = np.random.default_rng(1)
    x = _padded(rng)
    t = lfs.tensor(x, device=device)
    np.testing.assert_array_equal(last_valid(t, LENGTHS).numpy(), x[LENGTHS - 1, np.arange(4)])
    expected_mean = np.stack([x[:L, b].mean(0) for b, L in enumerate(LENGTHS)])
    np.testing.assert_allclose(masked_mean(t, LENGTHS).numpy(), expected_mean, rtol=1e-12)
    r = reverse_padded(t, LENGTHS).numpy()
    for b, L in enumerate(LENGTHS):
        np.testing.assert_array_equal(r[:L, b], x[:L, b][::-1])
        np.testing.assert_array_equal(r[L:, b], x[L:, b])
    np.testing.assert_array_equal(reverse_padded(reverse_padded(t, LENGTHS), LENGTHS).numpy(), x)
    # batch-first layouts give the same numbers
    tb = lfs.tensor(x.swapaxes(0, 1).copy(), device=device)
    np.testing.assert_array_equal(last_valid(tb, LENGTHS, batch_first=True).numpy(),
                                  x[LENGTHS - 1, np.arange(4)])
    np.testing.assert_allclose(masked_mean(tb, LENGTHS, batch_first=True).numpy(), expected_mean)
    np.testing.assert_array_equal(reverse_padded(tb, LENGTHS, batch_first=True).numpy(),
                                  r.swapaxes(0, 1))


def test_gradients_flow_to_real_steps_only():
    rng = np.random.default_rng(2)
    x = _padded(rng)
    for fn in (last_valid, masked_mean, reverse_padded):
        assert lfs.gradcheck(lambda t: fn(t, LENGTHS), (lfs.tensor(x, requires_grad=True),))
    t = lfs.tensor(x, requires_grad=True)
    (masked_mean(t, LENGTHS).sum() + last_valid(t, LENGTHS).sum()).backward()
    g = t.grad.numpy()
    for b, L in enumerate(LENGTHS):
        assert not g[L:, b].any() and g[:L, b].all()


def test_bad_lengths_are_named():
    t = lfs.tensor(np.zeros((5, 4, 2)))
    with pytest.raises(ValueError, match=r"lengths must lie in \[1, 5\]"):
        last_valid(t, np.array([3, 6, 1, 1]))
    with pytest.raises(ValueError, match="3 lengths for a batch of 4"):
        masked_mean(t, np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="integer"):
        reverse_padded(t, np.array([1.0, 2, 3, 4]))
    with pytest.raises(TypeError, match="Tensor"):
        last_valid(np.zeros((5, 4, 2)), LENGTHS)


def _classifier(bidirectional, num_layers, pooling="last", seed=0):
    from lstm_from_scratch.experiments.classification import SequenceClassifier

    lfs.manual_seed(seed)
    ref = lfs.nn.LSTM(3, 4, num_layers=num_layers, bidirectional=bidirectional,
                      dtype=np.float64)
    model = SequenceClassifier(3, 4, 5, num_layers, bidirectional, pooling=pooling).load_lstm(ref)
    return model.eval(), ref


@pytest.mark.parametrize("bidirectional,num_layers", [(False, 1), (True, 1), (True, 2)])
def test_padded_batch_equals_each_sequence_alone(bidirectional, num_layers):
    rng = np.random.default_rng(3)
    x = _padded(rng, F=3)
    model, ref = _classifier(bidirectional, num_layers)
    with lfs.no_grad():
        feats = model.features(lfs.tensor(x), LENGTHS).numpy()
        pooled = model.pool(lfs.tensor(feats), LENGTHS).numpy()
        for b, L in enumerate(LENGTHS):
            out, (h_n, _) = ref(lfs.tensor(x[:L, b:b + 1]))
            np.testing.assert_allclose(feats[:L, b], out.numpy()[:, 0], rtol=1e-10, atol=1e-12)
            # "last" pooling is the final state: forward h_L and backward h_1 of the top layer
            top = h_n.numpy()[-(2 if bidirectional else 1):, 0]
            np.testing.assert_allclose(pooled[b], top.ravel(), rtol=1e-10, atol=1e-12)


def test_last_padded_step_and_plain_bidirectional_depend_on_padding():
    rng = np.random.default_rng(4)
    x = _padded(rng, F=3)
    model, ref = _classifier(False, 1, pooling="last_padded")
    with lfs.no_grad():
        padded = model.pool(model.features(lfs.tensor(x), LENGTHS), LENGTHS).numpy()
        alone = ref(lfs.tensor(x[:1, 2:3]))[1][0].numpy()[0, 0]     # sequence 2 has length 1
        assert np.abs(padded[2] - alone).max() > 1e-3
        # nn.LSTM(bidirectional=True) on the padded batch: the backward direction reads padding
        bi_model, bi_ref = _classifier(True, 1)
        out_padded = bi_ref(lfs.tensor(x))[0].numpy()
        out_alone = bi_ref(lfs.tensor(x[:1, 2:3]))[0].numpy()
        assert np.abs(out_padded[0, 2, 4:] - out_alone[0, 0, 4:]).max() > 1e-3
        np.testing.assert_allclose(out_padded[0, 2, :4], out_alone[0, 0, :4], rtol=1e-12)


def test_classifier_matches_torch_packed_sequences():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = _padded(rng, F=3)
    model, ref = _classifier(True, 2)
    tl = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    tl.load_state_dict({k: torch.from_numpy(v) for k, v in ref.state_dict().items()})
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(LENGTHS),
                                                     enforce_sorted=False)
    out_p, (h_n, _) = tl(packed)
    out_t, _ = torch.nn.utils.rnn.pad_packed_sequence(out_p)
    with lfs.no_grad():
        feats = model.features(lfs.tensor(x), LENGTHS).numpy()
        pooled = model.pool(lfs.tensor(feats), LENGTHS).numpy()
    out_t = out_t.detach().numpy()
    for b, L in enumerate(LENGTHS):
        np.testing.assert_allclose(feats[:L, b], out_t[:L, b], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pooled, np.concatenate([h_n[-2].detach().numpy(),
                                                       h_n[-1].detach().numpy()], axis=1),
                               rtol=1e-10, atol=1e-12)


def test_japanese_vowels_reader():
    pytest.importorskip("sktime")
    from lstm_from_scratch.data.uea import load_japanese_vowels

    seqs, y = load_japanese_vowels("train")
    assert len(seqs) == 270 and np.bincount(y).tolist() == [30] * 9
    assert all(s.shape[1] == 12 for s in seqs)
    assert min(len(s) for s in seqs) == 7 and max(len(s) for s in seqs) == 26
    test_seqs, y_test = load_japanese_vowels("test")
    assert len(test_seqs) == 370 and max(len(s) for s in test_seqs) == 29
    assert seqs[0][0, 0] == pytest.approx(1.860936)
    with pytest.raises(ValueError, match="split"):
        load_japanese_vowels("validation")


def test_japanese_vowels_reader_matches_sktime_loader():
    pytest.importorskip("sktime")
    from sktime.datasets import load_japanese_vowels as sk_load

    from lstm_from_scratch.data.uea import load_japanese_vowels

    X, y = sk_load(split="test", return_X_y=True)
    seqs, labels = load_japanese_vowels("test")
    assert len(X) == len(seqs)
    for k in (0, 100, 369):
        row = X.iloc[k]
        ours = seqs[k]
        theirs = np.stack([np.asarray(row.iloc[d].dropna()) for d in range(12)], axis=1)
        np.testing.assert_allclose(ours, theirs)
    assert (labels + 1).astype(str).tolist() == list(np.asarray(y).astype(str))


def test_logistic_regression_matches_scikit_learn():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression as SkLR

    from lstm_from_scratch.experiments.classification import LogisticRegression

    rng = np.random.default_rng(6)
    X = rng.standard_normal((120, 5))
    y = (X[:, 0] + X[:, 1] ** 2 + 0.3 * rng.standard_normal(120) > 1).astype(int) \
        + (X[:, 2] > 0.5).astype(int) * 2
    ours = LogisticRegression(l2=1e-2, steps=3000, n_classes=4).fit(X, y)
    Xs = (X - X.mean(0)) / X.std(0)
    sk = SkLR(C=1 / (1e-2 * len(X)), tol=1e-10, max_iter=10000).fit(Xs, y)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(Xs), atol=1e-4)
