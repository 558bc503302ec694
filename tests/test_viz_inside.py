"""Tests of chapter 13's tools: gate recording, saturation, unit search, gradient reach."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lstm_from_scratch as lfs  # noqa: E402
from lstm_from_scratch import lm, viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("fused,batch_first", [(False, False), (True, True)])
def test_record_lstm_reproduces_the_layer_and_the_cell_equations(device, fused, batch_first):
    lfs.manual_seed(0)
    lstm = lfs.nn.LSTM(3, 5, num_layers=2, batch_first=batch_first, fused=fused,
                       device=device).double()
    rng = np.random.default_rng(0)
    shape = (4, 7, 3) if batch_first else (7, 4, 3)
    x = lfs.tensor(rng.standard_normal(shape), device=device)
    h0 = lfs.tensor(rng.standard_normal((2, 4, 5)), device=device)
    c0 = lfs.tensor(rng.standard_normal((2, 4, 5)), device=device)
    rec = viz.record_lstm(lstm, x, (h0, c0))
    out, (h_n, c_n) = lstm(x, (h0, c0))
    out = out.numpy().swapaxes(0, 1) if batch_first else out.numpy()
    assert rec["h"].shape == (2, 7, 4, 5)
    assert np.abs(rec["h"][-1] - out).max() < 1e-12
    assert np.abs(rec["c"][:, -1] - c_n.numpy()).max() < 1e-12
    # the recorded gates are the ones that produced the states: c_t = f c_{t-1} + i g
    c_prev = np.concatenate([c0.numpy()[:, None], rec["c"][:, :-1]], axis=1)
    assert np.abs(rec["f"] * c_prev + rec["i"] * rec["g"] - rec["c"]).max() < 1e-12
    assert np.abs(rec["o"] * np.tanh(rec["c"]) - rec["h"]).max() < 1e-12
    # zero initial state by default
    rec0 = viz.record_lstm(lstm, x)
    assert np.abs(rec0["h"][-1] - (lstm(x)[0].numpy().swapaxes(0, 1) if batch_first
                                   else lstm(x)[0].numpy())).max() < 1e-12


def test_record_lstm_rejects_what_it_cannot_record():
    with pytest.raises(TypeError, match="LSTM"):
        viz.record_lstm(lfs.nn.GRU(2, 3), lfs.randn(4, 1, 2))
    with pytest.raises(ValueError, match="standard"):
        viz.record_lstm(lfs.nn.LSTM(2, 3, peephole=True), lfs.randn(4, 1, 2))


def test_saturation_fractions_and_plots():
    act = np.array([[0.05, 0.5], [0.95, 0.5], [0.02, 0.99], [0.5, 0.5]])
    left, right = viz.saturation(act)
    assert left.tolist() == [0.5, 0.0] and right.tolist() == [0.25, 0.25]
    lfs.manual_seed(0)
    lstm = lfs.nn.LSTM(2, 4)
    rec = viz.record_lstm(lstm, lfs.randn(6, 1, 2))
    ax = viz.plot_saturation(rec)
    assert len(ax.collections) == 3
    fig = viz.plot_gate_heatmaps("abc\nde", rec, units=[0, 2])
    assert [a.get_title(loc="left") for a in fig.axes if a.get_title(loc="left")] == \
        ["$i_t$", "$f_t$", "$o_t$", r"$\tanh(c_t)$"]
    with pytest.raises(ValueError, match="6 steps"):
        viz.plot_gate_heatmaps("abc", rec)


def test_text_features_by_hand():
    f = viz.text_features('ab "c(d)"\n(x')
    assert f["inside quotes"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    assert f["line position"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    assert f["bracket depth"].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1]
    # a blank line closes an unpaired quote
    assert viz.text_features('"a\n\nb')["inside quotes"].tolist() == [1, 1, 1, 0, 0]


def test_unit_correlations_find_the_planted_unit():
    rng = np.random.default_rng(0)
    feature = rng.integers(0, 2, 500).astype(float)
    acts = rng.standard_normal((500, 10))
    acts[:, 7] = -0.9 * feature + 0.1 * rng.standard_normal(500)
    acts[:, 3] = 1.0                                      # constant: r = 0, no warning
    r = viz.unit_correlations(acts, feature)
    assert r[3] == 0 and np.isclose(r[7], np.corrcoef(acts[:, 7], feature)[0, 1], rtol=1e-12)
    assert r[7] < -0.95
    assert viz.top_units(acts, feature, k=1)[0][0] == 7
    with pytest.raises(ValueError, match="acts"):
        viz.unit_correlations(acts, feature[:-1])


def test_plot_unit_text_draws_one_cell_per_character_within_the_lines():
    ax = viz.plot_unit_text("ab\ncd", np.array([0.1, -0.2, 0.0, 0.5, 1.0]))
    cells = [p for p in ax.patches if p.get_gid() == "cell"]
    assert len(cells) == 5
    ax = viz.plot_unit_text("a\nb\nc\nd", np.zeros(7), max_lines=2)
    assert len([p for p in ax.patches if p.get_gid() == "cell"]) == 4


def test_gradient_reach_matches_a_finite_difference_and_decays_in_an_rnn():
    lfs.manual_seed(0)
    model = lm.CharLM(6, 4, 8, 1, cell="rnn").double()
    windows = np.random.default_rng(0).integers(0, 6, (1, 9))
    reach = viz.gradient_reach(model, windows)
    assert reach.shape == (8,)
    # finite difference along the embedding of the input 3 steps before the last
    emb = model.embedding.weight.numpy()[windows[0, :8]]

    def logp(e):
        out, _ = model.rnn(lfs.tensor(e[None]))
        z = model.head(out[:, -1]).numpy()[0]
        return z[windows[0, 8]] - np.log(np.exp(z).sum())

    k, eps = 3, 1e-6
    grad = np.zeros(4)
    for j in range(4):
        d = np.zeros_like(emb)
        d[8 - 1 - k, j] = eps
        grad[j] = (logp(emb + d) - logp(emb - d)) / (2 * eps)
    assert abs(np.linalg.norm(grad) - reach[k]) < 1e-7
    ax = viz.plot_gradient_reach({"RNN": reach, "LSTM, trained": reach})
    assert ax.get_yscale() == "log"
    assert [line.get_color() for line in ax.lines] == [viz.MODEL_COLORS["RNN"],
                                                      viz.MODEL_COLORS["LSTM"]]
