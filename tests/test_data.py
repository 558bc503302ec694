"""Data helpers: shapes, determinism, and the properties each one promises."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import data


# ---- synthetic -------------------------------------------------------------------------------------------
def test_adding_problem_shapes_markers_and_targets():
    x, y = data.adding_problem(500, 40, seed=3)
    assert x.shape == (500, 40, 2) and y.shape == (500, 1) and x.dtype == np.float32
    assert np.all((x[..., 0] >= 0) & (x[..., 0] <= 1))
    marks = x[..., 1]
    assert set(np.unique(marks)) == {0.0, 1.0}
    assert np.all(marks.sum(axis=1) == 2)
    assert np.all(marks[:, :20].sum(axis=1) == 1) and np.all(marks[:, 20:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * marks).sum(axis=1), rtol=1e-6)
    # the trivial baseline: predicting the mean target scores Var(u1 + u2) = 1/6
    assert abs(((y - y.mean()) ** 2).mean() - 1 / 6) < 0.03


def test_adding_problem_determinism_and_rng():
    a = data.adding_problem(10, 8, seed=1)
    b = data.adding_problem(10, 8, seed=1)
    c = data.adding_problem(10, 8, seed=2)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    d = data.adding_problem(10, 8, rng=np.random.default_rng(1))
    assert np.array_equal(a[0], d[0])
    with pytest.raises(TypeError, match="not both"):
        data.adding_problem(10, 8, seed=1, rng=np.random.default_rng(1))
    with pytest.raises(ValueError, match="seq_len"):
        data.adding_problem(10, 1)


def test_copy_task_layout():
    x, y = data.copy_task(6, seq_len=5, delay=7, n_symbols=4, seed=0)
    assert x.shape == y.shape == (6, 17) and x.dtype == np.int64
    np.testing.assert_array_equal(y[:, 12:], x[:, :5])             # the data comes back
    assert np.all((x[:, :5] >= 1) & (x[:, :5] <= 4))
    assert np.all(x[:, 11] == 5) and np.all(np.delete(x, [0, 1, 2, 3, 4, 11], axis=1) == 0)
    assert np.all(y[:, :12] == 0)
    assert np.array_equal(x, data.copy_task(6, seq_len=5, delay=7, n_symbols=4, seed=0)[0])


def test_copy_task_is_arjovskys_form():
    """Their T: 10 symbols of 8, T - 1 blanks, the marker, 10 blanks (T + 20 steps); the
    memoryless baseline 10 log(8) / (T + 20) per step."""
    T = 30
    x, y = data.copy_task(2000, delay=T, seed=1)
    assert x.shape == (2000, T + 20)
    assert np.all(x[:, T + 9] == 9) and np.all(x[:, 10:T + 9] == 0) and np.all(x[:, T + 10:] == 0)
    assert set(np.unique(x[:, :10])) == set(range(1, 9))
    # the baseline: blanks where the target is always blank, uniform over the 8 symbols after
    p = np.zeros((T + 20, 10))
    p[: T + 10, 0] = 1
    p[T + 10:, 1:9] = 1 / 8
    ce = -np.log(p[np.arange(T + 20), y]).mean()
    assert abs(ce - 10 * np.log(8) / (T + 20)) < 1e-12


def test_temporal_order_task():
    T = 100
    x, y = data.temporal_order(4000, T, seed=5)
    assert x.shape == (4000, T) and y.shape == (4000,) and x.dtype == y.dtype == np.int64
    tokens = data.TEMPORAL_ORDER_TOKENS
    assert np.all(x[:, 0] == tokens.index("E")) and np.all(x[:, -1] == tokens.index("B"))
    relevant = (x == tokens.index("X")) | (x == tokens.index("Y"))
    assert np.all(relevant.sum(axis=1) == 2)
    t1, t2 = (np.nonzero(relevant)[1].reshape(-1, 2)).T
    assert t1.min() == 10 and t1.max() == 20 and t2.min() == 50 and t2.max() == 60   # as in 1997
    middle = np.delete(x, [0, T - 1], axis=1)
    assert np.all(relevant[:, 1:-1] | (middle <= 3))                   # else a, b, c, d
    first = x[np.arange(4000), t1] == tokens.index("Y")
    second = x[np.arange(4000), t2] == tokens.index("Y")
    np.testing.assert_array_equal(y, 2 * first + second)               # XX 0, XY 1, YX 2, YY 3
    assert np.all(np.bincount(y, minlength=4) > 900)                   # balanced classes
    assert np.array_equal(x, data.temporal_order(4000, T, seed=5)[0])
    x40, _ = data.temporal_order(500, 40, seed=0)
    pos = np.nonzero((x40 == 4) | (x40 == 5))[1].reshape(-1, 2)
    assert pos[:, 0].min() >= 4 and pos[:, 0].max() <= 8 and pos[:, 1].min() >= 20 \
        and pos[:, 1].max() <= 24
    with pytest.raises(ValueError, match="seq_len must be at least 10, got 5"):
        data.temporal_order(3, 5)


# ---- text --------------------------------------------------------------------------------------------------
def test_stdlib_text_is_deterministic_source():
    t = data.stdlib_text(modules=("textwrap",))
    assert "def wrap(" in t and t == data.stdlib_text(modules=("textwrap",))
    assert len(data.stdlib_text(max_chars=1000)) == 1000


def test_char_vocab_round_trip_and_errors():
    text = data.stdlib_text(modules=("textwrap",), max_chars=5000)
    v = data.CharVocab.from_text(text)
    ids = v.encode(text)
    assert ids.dtype == np.int64 and ids.max() == len(v) - 1 and ids.min() == 0
    assert v.decode(ids) == text
    assert v.itos == sorted(set(text))
    with pytest.raises(KeyError, match="'€'"):
        v.encode("a€")


def test_batchify_and_bptt_chunks_with_shifted_targets():
    ids = np.arange(103)
    streams = data.batchify(ids, 4)
    assert streams.shape == (4, 25)
    np.testing.assert_array_equal(streams[1], np.arange(25, 50))      # contiguous rows
    chunks = data.bptt_batches(streams, 7)
    assert [c[0].shape for c in chunks] == [(4, 7), (4, 7), (4, 7), (4, 3)]
    xs = np.concatenate([c[0] for c in chunks], axis=1)
    ys = np.concatenate([c[1] for c in chunks], axis=1)
    np.testing.assert_array_equal(xs, streams[:, :-1])                # chunk k+1 continues chunk k
    np.testing.assert_array_equal(ys, streams[:, 1:])                 # targets: the next token
    with pytest.raises(ValueError, match="too few"):
        data.batchify(np.arange(5), 4)


# ---- time series ----------------------------------------------------------------------------------------------
def test_sliding_windows_shapes_and_alignment():
    s = np.arange(20.0)
    X, y = data.sliding_windows(s, window=5, horizon=2)
    assert X.shape == (14, 5, 1) and y.shape == (14, 2)
    np.testing.assert_array_equal(X[3, :, 0], np.arange(3, 8))
    np.testing.assert_array_equal(y[3], [8, 9])
    m = np.stack([s, -s], axis=1)
    X2, y2 = data.sliding_windows(m, window=4, horizon=1, stride=3)
    assert X2.shape == (6, 4, 2) and y2.shape == (6, 1, 2)
    np.testing.assert_array_equal(y2[1, 0], [7, -7])
    assert data.sliding_windows(s[:3], window=5)[0].shape == (0, 5, 1)


def test_chronological_split_and_scaler_fitted_on_train_only():
    rng = np.random.default_rng(0)
    s = np.cumsum(rng.standard_normal(200)) + np.linspace(0, 50, 200)    # trending: leakage shows
    tr, va, te = data.chronological_split(s, 0.6, 0.2)
    assert (len(tr), len(va), len(te)) == (120, 40, 40)
    np.testing.assert_array_equal(np.concatenate([tr, va, te]), s)
    sc = data.StandardScaler().fit(tr)
    assert sc.mean_ == pytest.approx(tr.mean()) and sc.scale_ == pytest.approx(tr.std())
    z = sc.transform(tr)
    assert abs(z.mean()) < 1e-12 and abs(z.std() - 1) < 1e-12
    np.testing.assert_allclose(sc.inverse_transform(sc.transform(te)), te)


def test_make_windows_has_no_leakage_from_val_and_test():
    rng = np.random.default_rng(1)
    s = np.cumsum(rng.standard_normal(300))
    a = data.make_windows(s, window=10, horizon=1, train=0.7, val=0.15)
    changed = s.copy()
    changed[210:] = 1e6                                 # wildly different future
    b = data.make_windows(changed, window=10, horizon=1, train=0.7, val=0.15)
    assert a["scaler"].mean_ == b["scaler"].mean_          # statistics from train only
    np.testing.assert_array_equal(a["X_train"], b["X_train"])
    np.testing.assert_array_equal(a["y_train"], b["y_train"])
    assert a["X_train"].shape == (210 - 10, 10, 1) and a["X_val"].shape == (45 - 10, 10, 1)
    assert a["X_train"].dtype == np.float32
    # no training target is a value from the val/test period
    last_target = a["scaler"].inverse_transform(a["y_train"][-1].astype(np.float64))
    np.testing.assert_allclose(last_target, s[209], rtol=1e-5)


def test_scaler_errors_and_constant_feature():
    with pytest.raises(RuntimeError, match="fit"):
        data.StandardScaler().transform(np.ones(3))
    z = data.StandardScaler().fit_transform(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_array_equal(z, [[-1.0, 0.0], [1.0, 0.0]])


# ---- batching -----------------------------------------------------------------------------------------------
def test_iterate_minibatches_covers_everything_once_and_is_deterministic():
    X = np.arange(23)[:, None] * np.ones((1, 3))
    Y = np.arange(23)
    batches = list(data.iterate_minibatches((X, Y), 5, shuffle=True, seed=4))
    assert [len(b[1]) for b in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([b[1] for b in batches])
    assert sorted(seen) == list(range(23)) and not np.array_equal(seen, np.arange(23))
    for xb, yb in batches:                                # rows stay aligned
        np.testing.assert_array_equal(xb[:, 0], yb)
    again = np.concatenate([b[1] for b in data.iterate_minibatches((X, Y), 5, seed=4)])
    np.testing.assert_array_equal(seen, again)
    dropped = list(data.iterate_minibatches(Y, 5, shuffle=False, drop_last=True))
    assert len(dropped) == 4 and np.array_equal(dropped[0], np.arange(5))
    with pytest.raises(ValueError, match="array 1 has 22"):
        list(data.iterate_minibatches((X, Y[:-1]), 5))


def test_dataloader_new_order_each_epoch_reproducible():
    Y = np.arange(10)
    a, b = data.DataLoader(Y, 4, shuffle=True, seed=7), data.DataLoader(Y, 4, shuffle=True, seed=7)
    e0, e1 = [np.concatenate(list(a)) for _ in range(2)]
    assert len(a) == 3 and not np.array_equal(e0, e1)
    assert np.array_equal(e0, np.concatenate(list(b))) and np.array_equal(e1, np.concatenate(list(b)))


def test_pad_sequences_lengths_and_mask():
    seqs = [np.ones((3, 2)), 2 * np.ones((1, 2)), 3 * np.ones((4, 2))]
    padded, lengths, mask = data.pad_sequences(seqs, padding_value=-1)
    assert padded.shape == (3, 4, 2) and lengths.tolist() == [3, 1, 4]
    assert mask.tolist()[1] == [True, False, False, False]
    assert np.all(padded[1, 1:] == -1) and np.all(padded[2] == 3)
    tm, _, _ = data.pad_sequences(seqs, batch_first=False)
    assert tm.shape == (4, 3, 2) and np.all(tm[:, 2] == 3)
    cut, lengths, mask = data.pad_sequences(seqs, max_len=2)
    assert cut.shape == (3, 2, 2) and lengths.tolist() == [2, 1, 2]


def test_pad_sequences_matches_torch():
    torch = pytest.importorskip("torch")
    seqs = [np.ones((3, 2)), 2 * np.ones((1, 2)), 3 * np.ones((4, 2))]
    padded, _, _ = data.pad_sequences(seqs, padding_value=-1)
    ref = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True,
                                          padding_value=-1)
    np.testing.assert_array_equal(padded, ref.numpy())


def test_one_hot_and_to_tensors():
    oh = data.one_hot(np.array([[0, 2], [1, 1]]), 3)
    assert oh.shape == (2, 2, 3) and oh.dtype == np.float32
    np.testing.assert_array_equal(oh[0, 1], [0, 0, 1])
    with pytest.raises(IndexError, match=r"\[0, 2\]"):
        data.one_hot(np.array([3]), 3)
    x, y = data.to_tensors(np.zeros((2, 3)), np.array([1, 2]), dtype="float32")
    assert isinstance(x, lfs.Tensor) and x.dtype == np.float32 and y.dtype == np.int64
