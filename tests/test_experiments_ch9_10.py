"""The experiment scripts of chapters 9 and 10: their data plumbing is exact, and (slow) a larger
subset of the recorded runs is reproduced from scratch."""
from pathlib import Path

import numpy as np
import pytest

from lstm_from_scratch import forecast as fc

pytest.importorskip("statsmodels")
DATA = Path(__file__).resolve().parents[1] / "book" / "data"


@pytest.mark.parametrize("name", ["sunspots", "co2", "elnino"])
def test_forecast_targets_map_back_to_the_levels(name):
    from lstm_from_scratch.experiments import forecasting as fx

    prep = fx.Prepared(name, fx.SERIES[name])
    for part in ("train", "val", "test"):
        o = prep.origins(part)
        np.testing.assert_allclose(prep.to_levels(o, prep.targets(o)), prep.truth(o),
                                   rtol=1e-12, atol=1e-9)
    # quantile forecasts (N, H, Q) map back the same way, each level on its own
    o = prep.origins("test")
    t = prep.targets(o)
    q = prep.to_levels(o, np.stack([t - 1, t, t + 1], axis=-1))
    np.testing.assert_allclose(q[..., 1], prep.truth(o), rtol=1e-12, atol=1e-9)
    assert (q[..., 0] < q[..., 1]).all() and (q[..., 1] < q[..., 2]).all()
    # training targets end before the validation period; test origins start at it
    assert prep.origins("train").max() + prep.horizon <= prep.n_train
    assert prep.origins("test").min() == prep.n_val


def test_the_recursive_lstm_forecast_feeds_its_own_output_back():
    from lstm_from_scratch.experiments import forecasting as fx

    prep = fx.Prepared("sunspots", fx.SERIES["sunspots"])
    model = fx.Forecaster(4, 1)
    o = prep.origins("test")[:3]
    pred, _ = fx.lstm_forecast(prep, model, "recursive", o)
    X = prep.inputs(o)[..., 0]
    z1 = model.predict(X[..., None])[:, 0]
    z2 = model.predict(np.concatenate([X[:, 1:], z1[:, None]], axis=1)[..., None])[:, 0]
    np.testing.assert_allclose(pred[:, :2], prep.mu + prep.sd * np.column_stack([z1, z2]),
                               rtol=1e-12)


@pytest.mark.slow
def test_forecasting_record_reproduces():
    from lstm_from_scratch.experiments import forecasting as fx
    from lstm_from_scratch.experiments import read_results

    record = read_results(DATA / "forecasting.json")
    prep = fx.Prepared("sunspots", fx.SERIES["sunspots"])
    o = prep.origins("test")
    for kind in ("direct", "recursive"):
        for seed in (0, 1):
            model, hist, _ = fx.train_forecaster(prep, kind, seed)
            pred, _ = fx.lstm_forecast(prep, model, kind, o)
            runs = record["series"]["sunspots"]["lstm"][kind]
            assert hist.epochs == runs["epochs"][seed]
            np.testing.assert_allclose(prep.scores(o, pred)["mase"], runs["mase"][seed], rtol=1e-6)


@pytest.mark.slow
def test_classification_record_reproduces():
    pytest.importorskip("sktime")
    from lstm_from_scratch.experiments import classification as cx
    from lstm_from_scratch.experiments import read_results

    record = read_results(DATA / "classification.json")
    data = cx.load_data()
    model, hist, _ = cx.train_classifier("uni-1", 1, data)
    acc = float(np.mean(cx.predict(model, data[2][0]).argmax(1) == data[2][1]))
    assert hist.epochs == record["models"]["uni-1"]["epochs"][1]
    assert acc == pytest.approx(record["models"]["uni-1"]["test_accuracy"][1], abs=1 / 370 + 1e-12)
