"""Tests of lstm_from_scratch.viz.attention (attention_heatmap, plot_by_length)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lstm_from_scratch as lfs  # noqa: E402
from lstm_from_scratch.viz import MODEL_COLORS, attention_heatmap, plot_by_length  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_heatmap_shows_the_weights_with_token_labels():
    w = np.array([[0.9, 0.1, 0.0], [0.2, 0.3, 0.5]])
    ax = attention_heatmap(w, ["one", "hundred", "five"], ["1", "0"], title="t")
    np.testing.assert_array_equal(ax.images[0].get_array(), w)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["one", "hundred", "five"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1", "0"]
    assert ax.get_title() == "t" and len(ax.figure.axes) == 2        # with its colour bar


def test_heatmap_accepts_a_tensor_and_annotates():
    w = lfs.tensor([[0.25, 0.75]])
    fig, ax = plt.subplots()
    out = attention_heatmap(w, ["a", "b"], ["x"], ax=ax, colorbar=False, annotate=True)
    assert out is ax and len(fig.axes) == 1
    assert sorted(t.get_text() for t in ax.texts) == ["0.25", "0.75"]


def test_heatmap_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"weights of shape \(2, 3\) need 2 target and 3 "
                                         r"source labels, got 2 and 2"):
        attention_heatmap(np.zeros((2, 3)), ["a", "b"], ["x", "y"])
    with pytest.raises(ValueError, match=r"must be 2-D \(T, S\), got shape \(3,\)"):
        attention_heatmap(np.zeros(3), ["a", "b", "c"], [])


def test_plot_by_length_draws_mean_and_range():
    scores = {"additive": np.array([[1.0, 0.9], [0.8, 0.7]]),
              "encoder-decoder": [[0.5, None], [0.3, None]]}
    ax = plot_by_length(["1-4", "5-8"], scores)
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["additive"].get_ydata(), [90.0, 80.0])
    assert lines["additive"].get_color() == MODEL_COLORS["additive"]
    y = lines["encoder-decoder"].get_ydata()
    assert y[0] == pytest.approx(40.0) and np.isnan(y[1])          # an empty bucket: a gap
    assert len(ax.collections) == 2                                  # one band per model
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1-4", "5-8"]
    assert ax.get_ylabel() == "exact match (%)"
    with pytest.raises(ValueError, match=r"scores\['x'\] must be \(n_seeds, 2\)"):
        plot_by_length(["1-4", "5-8"], {"x": [[1.0, 2.0, 3.0]]})
