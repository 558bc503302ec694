"""Forecast origins and windows, accuracy measures against hand computations, the baselines,
the linear AR against statsmodels, and the pinball loss (gradcheck, minimiser)."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import forecast as fc
from lstm_from_scratch.data import series as ser


def test_origins_and_windows():
    y = np.arange(10.0)
    o = fc.forecast_origins(10, start=6, horizon=3)
    assert o.tolist() == [6, 7]
    X, Y = fc.windows_at(y, o, window=4, horizon=3)
    assert X.tolist() == [[2, 3, 4, 5], [3, 4, 5, 6]]
    assert Y.tolist() == [[6, 7, 8], [7, 8, 9]]
    assert fc.forecast_origins(10, 2, 2, stop=6).tolist() == [2, 3, 4]
    with pytest.raises(ValueError, match=r"origins must lie in \[4, 7\]"):
        fc.windows_at(y, np.array([3]), window=4, horizon=3)
    with pytest.raises(ValueError, match="integer"):
        fc.windows_at(y, np.array([5.0]), window=4, horizon=3)
    with pytest.raises(ValueError, match="start"):
        fc.forecast_origins(10, 8, 1, stop=5)


def test_mae_rmse_mase_by_hand():
    y_train = np.array([1.0, 3.0, 2.0, 5.0])          # |diffs| = 2, 1, 3 -> scale 2
    y_true = np.array([[4.0, 6.0], [5.0, 5.0]])
    y_pred = np.array([[5.0, 6.0], [2.0, 7.0]])       # errors 1, 0, 3, 2
    assert fc.mae(y_true, y_pred) == pytest.approx(1.5)
    assert fc.rmse(y_true, y_pred) == pytest.approx(np.sqrt((1 + 0 + 9 + 4) / 4))
    assert fc.mase_scale(y_train) == pytest.approx(2.0)
    assert fc.mase(y_true, y_pred, y_train) == pytest.approx(0.75)
    np.testing.assert_allclose(fc.mase(y_true, y_pred, y_train, axis=0), [1.0, 0.5])
    # seasonal scale, m = 2: |2 - 1|, |5 - 3| -> 1.5
    assert fc.mase_scale(y_train, m=2) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="shape"):
        fc.mae(y_true, y_pred[:, :1])
    with pytest.raises(ValueError, match="constant"):
        fc.mase_scale(np.ones(5))


def test_coverage():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert fc.coverage(y, y - 0.5, y + 0.5) == 1.0
    assert fc.coverage(y, np.array([0.5, 0, 0, 4]), np.array([1, 1, 3, 5])) == 0.5
    with pytest.raises(ValueError, match="exceed"):
        fc.coverage(y, y + 1, y)


def test_naive_and_seasonal_naive():
    y = np.arange(20.0) ** 2
    o = np.array([10, 15])
    np.testing.assert_array_equal(fc.naive_forecast(y, o, 3), [[81] * 3, [196] * 3])
    sn = fc.seasonal_naive_forecast(y, o, horizon=6, m=4)
    # origin 10: targets 10..15 -> values at 6, 7, 8, 9, 6, 7 (the last full season, repeated)
    np.testing.assert_array_equal(sn[0], y[[6, 7, 8, 9, 6, 7]])
    np.testing.assert_array_equal(sn[1], y[[11, 12, 13, 14, 11, 12]])
    # a perfectly periodic series is forecast exactly
    periodic = np.tile([1.0, 5.0, 2.0], 10)
    o = fc.forecast_origins(30, 9, 7)
    _, Y = fc.windows_at(periodic, o, 3, 7)
    np.testing.assert_array_equal(fc.seasonal_naive_forecast(periodic, o, 7, 3), Y)


def test_difference_round_trip():
    y = np.array([3.0, 4.0, 6.0, 5.0, 9.0])
    d = fc.difference(y)
    np.testing.assert_array_equal(d, [1, 2, -1, 4])
    # forecasting the true differences from origin 2 gives back the true levels
    np.testing.assert_array_equal(fc.undifference(y[1:2], d[None, 1:]), [y[2:]])


def test_recursive_forecast_feeds_back():
    X = np.array([[1.0, 2.0]])
    out = fc.recursive_forecast(lambda x: x.sum(axis=1), X, 4)   # Fibonacci
    np.testing.assert_array_equal(out, [[3, 5, 8, 13]])


def test_linear_ar_recovers_coefficients_and_direct_equals_recursive_for_h1():
    rng = np.random.default_rng(0)
    y = np.zeros(3000)
    for t in range(2, len(y)):
        y[t] = 0.5 + 0.6 * y[t - 1] - 0.3 * y[t - 2] + 0.1 * rng.standard_normal()
    ar = fc.LinearAR(2).fit(y)
    np.testing.assert_allclose(ar.coef_[0], [0.5, -0.3, 0.6], atol=0.02)
    o = fc.forecast_origins(len(y), 2900, 5)
    rec = ar.forecast(y, o, 5)
    direct = fc.LinearAR(2, "direct").fit(y, horizon=5).forecast(y, o, 5)
    np.testing.assert_allclose(direct[:, 0], rec[:, 0], rtol=1e-12)
    # the recursive forecast by hand, two steps
    c, a2, a1 = ar.coef_[0]
    f1 = c + a1 * y[o - 1] + a2 * y[o - 2]
    f2 = c + a1 * f1 + a2 * y[o - 1]
    np.testing.assert_allclose(rec[:, :2], np.column_stack([f1, f2]), rtol=1e-12)
    with pytest.raises(ValueError, match="fitted for 5"):
        fc.LinearAR(2, "direct").fit(y, horizon=5).forecast(y, o, 6)
    with pytest.raises(RuntimeError, match="fit"):
        fc.LinearAR(2).forecast(y, o, 1)


def test_linear_ar_matches_statsmodels_autoreg():
    pytest.importorskip("statsmodels")
    from statsmodels.tsa.ar_model import AutoReg

    y = ser.load_sunspots().values[:200]
    res = AutoReg(y, lags=3, trend="c").fit()          # OLS, same equations
    ar = fc.LinearAR(3).fit(y)
    # statsmodels orders lags newest first; ours are oldest first
    np.testing.assert_allclose(ar.coef_[0, 0], res.params[0], rtol=1e-9)
    np.testing.assert_allclose(ar.coef_[0, 1:][::-1], res.params[1:], rtol=1e-9)


def test_pinball_loss_gradcheck_and_values():
    x = lfs.tensor(np.array([[0.3, -1.2, 2.0], [0.7, 0.1, -0.4]]), requires_grad=True,
                   dtype=np.float64)
    y = np.array([0.5, -0.2])
    q = [0.1, 0.5, 0.9]
    assert lfs.gradcheck(lambda t: fc.pinball_loss(t, y, q), (x,))
    # by hand: u = y - x; loss = max(q u, (q - 1) u)
    u = y[:, None] - x.numpy()
    qa = np.array(q)
    expected = np.maximum(qa * u, (qa - 1) * u)
    np.testing.assert_allclose(fc.pinball_loss(x, y, q, reduction="none").numpy(), expected)
    assert fc.pinball_loss(x, y, q).item() == pytest.approx(expected.mean())
    with pytest.raises(ValueError, match="one per quantile"):
        fc.pinball_loss(x, y, [0.5])
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        fc.pinball_loss(x, y, [0.1, 0.5, 1.0])


def test_pinball_minimiser_is_the_quantile():
    rng = np.random.default_rng(1)
    sample = rng.exponential(size=2001)
    grid = np.linspace(0, 4, 801)
    for q in (0.1, 0.5, 0.9):
        losses = [np.mean(np.maximum(q * (sample - g), (q - 1) * (sample - g))) for g in grid]
        assert abs(grid[np.argmin(losses)] - np.quantile(sample, q)) < 0.01


def test_series_loaders():
    pytest.importorskip("statsmodels")
    s = ser.load_sunspots()
    assert len(s) == 309 and s.period == 1 and s.time[0] == 1700 and s.time[-1] == 2008
    c = ser.load_co2()
    assert len(c) == 526 and c.period == 12 and not np.isnan(c.values).any()
    assert c.time[0] == pytest.approx(1958 + 2 / 12) and 310 < c.values.min() < c.values.max() < 375
    e = ser.load_elnino()
    assert len(e) == 732 and e.period == 12 and e.time[0] == 1950 and e.time[13] == pytest.approx(1951 + 1 / 12)
    assert e.values[0] == pytest.approx(23.11) and e.values[-1] == pytest.approx(22.07)
