"""A model must actually learn: an LSTM solves the adding problem (T = 50).

The adding problem needs memory: the target is the sum of two numbers marked somewhere in
the first and the second half of a 50-step sequence. Predicting the mean target scores a
mean squared error of about 1/6 ~ 0.17; a model that scores below 0.01 has learnt to find,
hold and add the two marked numbers across up to 49 steps. Training sits on the 0.17 plateau
for a few hundred steps, then drops within about a hundred (Hochreiter & Schmidhuber, 1997).

Budget: about 2 s per 100 training steps on one core (fused kernels); with the seed below the
plateau breaks after about 500 steps. Training continues in blocks of 100 steps until the
validation error is below 0.005 or 2000 steps have passed, so a slightly different
trajectory on another machine's BLAS does not fail the test, while a broken gradient does.
"""
import importlib.util

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import data, nn, optim, train
from lstm_from_scratch.functional.loss import mse_loss

SEQ_LEN = 50
FUSED = importlib.util.find_spec("lstm_from_scratch.kernels") is not None


class AddingModel(nn.Module):
    """LSTM over the sequence, a linear head on the last hidden state: (B, T, 2) -> (B, 1)."""

    def __init__(self, hidden_size=32):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden_size, batch_first=True, fused=FUSED)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        return self.head(h_n[-1])


@pytest.mark.slow
def test_lstm_solves_the_adding_problem():
    seed = 3
    lfs.manual_seed(seed)
    model = AddingModel(hidden_size=32)
    opt = optim.Adam(model.parameters(), lr=2e-2)
    x_val, y_val = data.adding_problem(1000, SEQ_LEN, seed=12345)
    x_test, y_test = data.adding_problem(2000, SEQ_LEN, seed=54321)
    _, y_train_sample = data.adding_problem(10000, SEQ_LEN, seed=999)

    def batches_for(block):
        # fresh training sequences every block: the model cannot memorise them
        rng = np.random.default_rng([seed, block])
        return [data.adding_problem(64, SEQ_LEN, rng=rng) for _ in range(100)]

    val_curve = []
    for block in range(20):
        hist = train.fit(model, batches_for(block), mse_loss, opt, epochs=1,
                         val_data=[(x_val, y_val)], progress=False)
        val_curve.append(hist.val_loss[-1])
        if val_curve[-1] < 0.005:
            break

    with lfs.no_grad():
        model.eval()
        pred = model(lfs.tensor(x_test)).numpy()
    test_mse = float(((pred - y_test) ** 2).mean())
    baseline = float(((y_train_sample.mean() - y_test) ** 2).mean())   # predict the mean
    assert 0.15 < baseline < 0.19, baseline
    assert test_mse < 0.01, f"test MSE {test_mse:.4f} (baseline {baseline:.3f}); " \
                            f"validation MSE per 100 steps: {np.round(val_curve, 4)}"
