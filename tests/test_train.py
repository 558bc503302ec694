"""The training loop: learning, history, early stopping, checkpoints, progress bars, TBPTT."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import data, io, nn, optim, train
from lstm_from_scratch.functional.loss import cross_entropy, mse_loss
from lstm_from_scratch.optim import lr_scheduler


def _regression(n=64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = X @ np.array([[1.5], [-2.0], [0.5]]) + 0.3
    return X.astype(np.float32), y.astype(np.float32)


def _linear(seed=0):
    lfs.manual_seed(seed)
    return nn.Linear(3, 1)


def test_fit_learns_a_tiny_regression_and_records_history():
    X, y = _regression()
    model = _linear()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    sched = lr_scheduler.StepLR(opt, step_size=5, gamma=0.5)
    loader = data.DataLoader((X, y), batch_size=16, shuffle=True, seed=0)
    hist = train.fit(model, loader, mse_loss, opt, epochs=12, val_data=[(X, y)], scheduler=sched,
                     clip_grad_norm=100.0, metrics={"mae": lambda out, t: (out - t).abs().mean().item()},
                     progress=False)
    assert hist.epochs == 12 and len(hist.val_loss) == 12 and len(hist.grad_norm) == 12
    assert hist.train_loss[-1] < 1e-3 * hist.train_loss[0]
    assert hist.val_loss[-1] < 1e-3
    assert hist.lr == [0.1] * 5 + [0.05] * 5 + [0.025] * 2
    assert len(hist.metrics["mae"]) == 12 and hist.metrics["mae"][-1] < 0.05
    assert hist.best_epoch == int(np.argmin(hist.val_loss)) and not hist.stopped_early
    assert hist.best_loss == min(hist.val_loss)
    np.testing.assert_allclose(model.weight.numpy(), [[1.5, -2.0, 0.5]], atol=0.05)
    d = hist.as_dict()
    assert set(d) >= {"train_loss", "val_loss", "lr", "metrics", "best_epoch"}
    assert "12 epochs" in repr(hist)


def test_train_loss_is_the_batch_size_weighted_mean():
    X, y = _regression(n=10)
    model = _linear()
    batches = [(X[:7], y[:7]), (X[7:], y[7:])]
    expected = []
    for xb, yb in batches:
        expected.append(mse_loss(model(lfs.tensor(xb)), lfs.tensor(yb)).item() * len(xb))
    hist = train.fit(model, batches, mse_loss, optim.SGD(model.parameters(), lr=0.0), epochs=1,
                     progress=False)
    assert hist.train_loss[0] == pytest.approx(sum(expected) / 10, rel=1e-6)



def test_batch_losses_are_recorded_in_order_and_on_epoch_end_is_called():
    X, y = _regression(n=12)
    model = _linear()
    batches = [(X[:4], y[:4]), (X[4:8], y[4:8]), (X[8:], y[8:])]
    first = [mse_loss(model(lfs.tensor(xb)), lfs.tensor(yb)).item() for xb, yb in batches[:1]]
    calls = []
    hist = train.fit(model, batches, mse_loss, optim.SGD(model.parameters(), lr=0.05), epochs=2,
                     val_data=[(X, y)], progress=False,
                     on_epoch_end=lambda epoch, h: calls.append((epoch, len(h.val_loss),
                                                                 len(h.batch_loss))))
    assert len(hist.batch_loss) == 6 and hist.batch_loss[0] == pytest.approx(first[0], rel=1e-6)
    assert hist.train_loss[0] == pytest.approx(np.mean(hist.batch_loss[:3]), rel=1e-6)
    assert calls == [(0, 1, 3), (1, 2, 6)]            # after validation, once per epoch
    assert hist.as_dict()["batch_loss"] == hist.batch_loss

def test_early_stopping_triggers_and_restores_the_best_weights():
    """Training pulls the weight toward 2, validation wants -1: validation only gets worse,
    so the best epoch is the first and training stops `patience` epochs later."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 1)).astype(np.float32)
    train_batches, val_batches = [(x, 2 * x)], [(x, -x)]

    def make():
        lfs.manual_seed(1)
        m = nn.Linear(1, 1, bias=False)
        m.weight.data[...] = 0.0
        return m, optim.SGD(m.parameters(), lr=0.1)

    m1, o1 = make()
    train.fit(m1, train_batches, mse_loss, o1, epochs=1, progress=False)
    after_first_epoch = m1.weight.numpy().copy()
    m2, o2 = make()
    train.fit(m2, train_batches, mse_loss, o2, epochs=4, progress=False)
    assert not np.allclose(m2.weight.numpy(), after_first_epoch)

    model, opt = make()
    hist = train.fit(model, train_batches, mse_loss, opt, epochs=20, val_data=val_batches,
                     early_stopping_patience=3, progress=False)
    assert hist.stopped_early and hist.epochs == 4 and hist.best_epoch == 0
    assert all(b > a for a, b in zip(hist.val_loss, hist.val_loss[1:]))
    np.testing.assert_array_equal(model.weight.numpy(), after_first_epoch)

    model, opt = make()
    train.fit(model, train_batches, mse_loss, opt, epochs=20, val_data=val_batches,
              early_stopping_patience=3, restore_best_weights=False, progress=False)
    assert model.weight.item() > after_first_epoch.item()


def test_checkpoint_holds_the_best_epoch(tmp_path):
    X, y = _regression()
    model = _linear()
    opt = optim.Adam(model.parameters(), lr=0.05)
    path = tmp_path / "best.npz"
    hist = train.fit(model, [(X, y)], mse_loss, opt, epochs=5, val_data=[(X[:8], y[:8])],
                     checkpoint_path=path, progress=False)
    info = io.load_checkpoint(path)
    assert info["epoch"] == hist.best_epoch
    assert info["metrics"]["val_loss"] == pytest.approx(hist.best_loss)
    assert "model/weight" in io.load(path) and info["optimizer"]["state"]


def test_no_progress_output_when_not_a_terminal(capsys):
    X, y = _regression()
    model = _linear()
    train.fit(model, [(X, y)] * 3, mse_loss, optim.SGD(model.parameters(), lr=0.01), epochs=2,
              val_data=[(X, y)])                              # progress=None: auto
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    # the bars exist and are switched on explicitly: the check above can fail
    train.fit(model, [(X, y)] * 3, mse_loss, optim.SGD(model.parameters(), lr=0.01), epochs=1,
              progress=True)
    out, err = capsys.readouterr()
    assert "epoch 1/1" in err and out == ""


def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = _regression()
    model = _linear()
    train.fit(model, [(X, y)], mse_loss, optim.SGD(model.parameters(), lr=0.01), epochs=3,
              verbose=True, progress=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[2].startswith("epoch 3/3") and "train_loss" in lines[0]


@pytest.mark.filterwarnings("ignore:overflow")
def test_diverging_loss_raises_a_clear_error():
    X, y = _regression()
    model = _linear()
    with pytest.raises(FloatingPointError, match="epoch .*lower the learning rate"):
        train.fit(model, [(X, y * 1e20)] * 5, mse_loss, optim.SGD(model.parameters(), lr=10.0),
                  epochs=3, progress=False)


def test_fit_argument_errors():
    model = _linear()
    with pytest.raises(ValueError, match="loss_fn"):
        train.fit(model, [], None, optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="no batches"):
        train.fit(model, [], mse_loss, optim.SGD(model.parameters(), lr=0.1), progress=False)


# ---- truncated BPTT ----------------------------------------------------------------------------------------
class _SeqModel(nn.Module):
    """LSTM + linear head on every step; forward(x, state) -> (output, state)."""

    def __init__(self, vocab=5, hidden=6, dtype=None):
        super().__init__()
        self.lstm = nn.LSTM(vocab, hidden, batch_first=True, dtype=dtype)
        self.head = nn.Linear(hidden, vocab, dtype=dtype)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out), state


def test_detach_state():
    a = lfs.tensor(np.ones(2), requires_grad=True)
    h = a * 2
    s = train.detach_state((h, [h, None]))
    assert isinstance(s, tuple) and isinstance(s[1], list) and s[1][1] is None
    assert s[0].creator is None and not s[0].requires_grad
    np.testing.assert_array_equal(s[0].numpy(), h.numpy())
    assert train.detach_state(None) is None


def test_tbptt_carries_state_values_but_not_gradients():
    lfs.manual_seed(0)
    model = _SeqModel(dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 5))
    target = rng.standard_normal((3, 8, 5))
    loss_fn = lambda out, t: mse_loss(out, t)          # noqa: E731
    x1 = lfs.tensor(x[:, :4], dtype="float64", requires_grad=True)
    x2 = lfs.tensor(x[:, 4:], dtype="float64", requires_grad=True)
    step = train.TBPTTStep(loss_fn)

    loss1, out1, _ = step(model, (x1, lfs.tensor(target[:, :4], dtype="float64")))
    h1, c1 = step.state
    assert h1.creator is None and not h1.requires_grad and c1.creator is None
    loss1.backward()
    assert x1.grad is not None
    x1.grad = None
    model.zero_grad()

    loss2, out2, _ = step(model, (x2, lfs.tensor(target[:, 4:], dtype="float64")))
    loss2.backward()
    assert x1.grad is None                               # nothing flowed back into chunk 1
    # values carried over: chunk 2 continues the full sequence exactly
    full_out, _ = model(lfs.tensor(x, dtype="float64"))
    np.testing.assert_allclose(out2.numpy(), full_out.numpy()[:, 4:], rtol=1e-12, atol=1e-14)
    zero_start, _ = model(x2.detach())
    assert not np.allclose(out2.numpy(), zero_start.numpy())
    # the truncated gradient is the gradient of chunk 2 from a constant initial state ...
    tbptt_grad = model.lstm.weight_hh_l0.grad.numpy()
    model.zero_grad()
    out, _ = model(x2.detach(), (h1, c1))
    loss_fn(out, lfs.tensor(target[:, 4:], dtype="float64")).backward()
    np.testing.assert_allclose(tbptt_grad, model.lstm.weight_hh_l0.grad.numpy(), rtol=1e-12)
    # ... and differs from full BPTT of the same loss, which also reaches through chunk 1
    model.zero_grad()
    full_out, _ = model(lfs.tensor(x, dtype="float64"))
    loss_fn(full_out[:, 4:], lfs.tensor(target[:, 4:], dtype="float64")).backward()
    assert not np.allclose(tbptt_grad, model.lstm.weight_hh_l0.grad.numpy(), rtol=1e-6)
    step.reset()
    assert step.state is None


def test_fit_tbptt_learns_a_periodic_sequence():
    period = np.array([0, 1, 2, 3, 4, 3, 2, 1])          # next token needs the direction: memory
    ids = np.tile(period, 60)
    streams = data.batchify(ids, 4)
    chunks = [(data.one_hot(x, 5), y) for x, y in data.bptt_batches(streams, 10)]
    lfs.manual_seed(0)
    model = _SeqModel()

    def loss_fn(out, y):                                  # (B, T, V) logits -> (B, V, T)
        return cross_entropy(out.transpose(0, 2, 1), y)

    hist = train.fit_tbptt(model, chunks, loss_fn, optim.Adam(model.parameters(), lr=0.05),
                           epochs=8, val_chunks=chunks[:3], progress=False)
    assert hist.train_loss[-1] < 0.2 * hist.train_loss[0]
    assert hist.val_loss[-1] < 0.1


def test_fit_on_device(device):
    X, y = _regression()
    model = _linear().to(device)
    hist = train.fit(model, data.DataLoader((X, y), 16, shuffle=True), mse_loss,
                     optim.Adam(model.parameters(), lr=0.05), epochs=5, val_data=[(X, y)],
                     clip_grad_norm=10.0, progress=False)
    assert model.weight.device == device
    assert hist.val_loss[-1] < 0.5 * hist.val_loss[0]
