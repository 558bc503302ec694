"""Tests of the figure helpers in lstm_from_scratch.viz (draw_graph, graph_nodes)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import lstm_from_scratch as lfs  # noqa: E402
from lstm_from_scratch.viz import GATE_COLORS, draw_graph, graph_nodes  # noqa: E402


def _gids(ax, kind):
    return [p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith(kind + ":")]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _lstm_step(I=3, H=2, B=2):
    """One LSTM step from primitives (stacked gate weights, gate order i, f, g, o)."""
    dt = lfs.float64
    W_ih = lfs.randn(4 * H, I, dtype=dt, requires_grad=True)
    W_hh = lfs.randn(4 * H, H, dtype=dt, requires_grad=True)
    b_ih = lfs.randn(4 * H, dtype=dt, requires_grad=True)
    b_hh = lfs.randn(4 * H, dtype=dt, requires_grad=True)
    for t, n in ((W_ih, "W_ih"), (W_hh, "W_hh"), (b_ih, "b_ih"), (b_hh, "b_hh")):
        t.name = n
    x, h, c = (lfs.randn(B, I, dtype=dt), lfs.randn(B, H, dtype=dt), lfs.randn(B, H, dtype=dt))
    gates = (x @ W_ih.T + b_ih) + (h @ W_hh.T + b_hh)
    a_i, a_f, a_g, a_o = gates.chunk(4, 1)
    i, f, g, o = lfs.sigmoid(a_i), lfs.sigmoid(a_f), lfs.tanh(a_g), lfs.sigmoid(a_o)
    c_t = f * c + i * g
    h_t = o * lfs.tanh(c_t)
    return (h_t, c_t), dict(i=i, f=f, g=g, o=o), (W_ih, W_hh, b_ih, b_hh, x, h, c)


def test_one_function_node():
    x = lfs.tensor([0.5, -1.0], requires_grad=True)
    x.name = "x"
    ax = draw_graph(lfs.tanh(x))
    assert isinstance(ax, matplotlib.axes.Axes)
    assert _gids(ax, "op") == ["op:Tanh"]
    assert _gids(ax, "leaf") == ["leaf:x"]
    assert _gids(ax, "output") == ["output:out"]
    labels = [t.get_text() for t in ax.texts if not isinstance(t, matplotlib.text.Annotation)]
    assert sorted(labels) == ["Tanh", "out", "x"]
    arrows = [t for t in ax.texts if isinstance(t, matplotlib.text.Annotation)]
    assert len(arrows) == 2                        # x -> Tanh -> out


def test_a_lone_leaf_is_one_node():
    x = lfs.tensor([1.0, 2.0], requires_grad=True)
    ax = draw_graph(x, labels={x: "x"})
    assert _gids(ax, "op") == []
    assert _gids(ax, "leaf") == ["leaf:x"]


def test_node_count_equals_functions_reachable():
    lfs.manual_seed(0)
    (h_t, c_t), _, leaves = _lstm_step()
    functions, found_leaves = graph_nodes([h_t, c_t])
    # 2 Transpose, 2 MatMul, 3 Add (gates), Split, 3 Sigmoid, 2 Tanh, 3 Mul, 1 Add (c_t)
    assert len(functions) == 17
    assert {id(t) for t in found_leaves} == {id(t) for t in leaves}
    ax = draw_graph([h_t, c_t])
    ops = _gids(ax, "op")
    assert len(ops) == 17
    assert sorted(ops) == sorted(f"op:{type(fn).__name__}" for fn in functions)
    assert len(_gids(ax, "leaf")) == 7
    assert len(_gids(ax, "output")) == 2


def test_topological_order_and_shared_nodes_drawn_once():
    x = lfs.tensor([0.3], requires_grad=True)
    y = lfs.sigmoid(x)
    z = y * (1 - y)                                # a diamond: y feeds Sub and Mul
    functions, leaves = graph_nodes(z)
    names = [type(fn).__name__ for fn in functions]
    assert names == ["Sigmoid", "Sub", "Mul"]
    assert len(leaves) == 2                        # x and the constant 1
    ax = draw_graph(z)
    assert sorted(_gids(ax, "op")) == ["op:Mul", "op:Sigmoid", "op:Sub"]
    assert sorted(_gids(ax, "leaf")) == ["leaf:0.3", "leaf:1"]


def test_gate_colours_from_labels():
    lfs.manual_seed(1)
    (h_t, c_t), gates, _ = _lstm_step()
    labels = {gates["f"]: "$f_t$", gates["i"]: "i_t", c_t: "c_t", h_t: "h_t"}
    ax = draw_graph([h_t, c_t], labels=labels)
    edge = {}
    for p in ax.patches:
        gid = p.get_gid() or ""
        if gid.startswith("op:"):
            edge.setdefault(gid, []).append(matplotlib.colors.to_hex(p.get_edgecolor()))
    assert sorted(edge["op:Sigmoid"]) == sorted(
        [GATE_COLORS["f"].lower(), GATE_COLORS["i"].lower(), "#444444"])
    assert GATE_COLORS["c"].lower() in edge["op:Add"]
    assert GATE_COLORS["h"].lower() in edge["op:Mul"]
    texts = {t.get_text() for t in ax.texts}
    assert "Sigmoid\n$f_t$" in texts and "Tanh" in texts


def test_long_edges_are_routed_and_figure_renders():
    lfs.manual_seed(2)
    (h_t, c_t), _, _ = _lstm_step()
    ax = draw_graph([h_t, c_t], direction="LR")
    # o_t skips the layers of c_t: its edge is a polyline drawn with ax.plot
    assert len(ax.lines) >= 1
    fig = ax.figure
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())
    assert image.shape[2] == 4 and (image[..., :3] < 128).any()   # something dark was drawn


def test_uses_given_axes():
    fig, ax = plt.subplots()
    x = lfs.tensor([1.0], requires_grad=True)
    assert draw_graph(x * 2, ax=ax) is ax


def test_freed_graph_and_bad_arguments_raise_clearly():
    x = lfs.tensor([1.0, 2.0], requires_grad=True)
    y = (lfs.tanh(x) * 2).sum()
    y.backward()
    with pytest.raises(ValueError, match="freed by backward"):
        draw_graph(y)
    with pytest.raises(TypeError, match="Tensor"):
        draw_graph([1.0])
    with pytest.raises(ValueError, match="direction"):
        draw_graph(lfs.tanh(lfs.tensor([1.0], requires_grad=True)), direction="up")


def test_deep_chain_does_not_recurse():
    x = lfs.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    functions, leaves = graph_nodes(y)
    assert len(functions) == 5000


def test_plot_by_horizon_lines_and_bands():
    from lstm_from_scratch.viz import MODEL_COLORS, plot_by_horizon

    fig, ax = plt.subplots()
    runs = np.array([[1.0, 2.0, 3.0], [2.0, 3.0, 5.0]])
    plot_by_horizon(ax, {"LSTM": runs, "ARIMA": np.array([1.5, 1.5, 1.5])})
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["LSTM", "ARIMA"]
    np.testing.assert_allclose(lines[0].get_ydata(), [1.5, 2.5, 4.0])
    np.testing.assert_allclose(lines[0].get_xdata(), [1, 2, 3])
    assert matplotlib.colors.to_hex(lines[1].get_color()) == MODEL_COLORS["ARIMA"].lower()
    assert len(ax.collections) == 1                      # one band, for the seeds of the LSTM
    with pytest.raises(ValueError, match="must be"):
        plot_by_horizon(ax, {"x": np.zeros((2, 2, 2))})


def test_plot_confusion_matrix_normalises_rows():
    from lstm_from_scratch.viz import plot_confusion_matrix

    fig, ax = plt.subplots()
    im = plot_confusion_matrix(ax, [[3, 1], [0, 4]], class_names=["a", "b"])
    np.testing.assert_allclose(im.get_array(), [[0.75, 0.25], [0, 1]])
    assert sorted(t.get_text() for t in ax.texts) == ["0.25", "0.75", "1.00"]
    with pytest.raises(ValueError, match="square"):
        plot_confusion_matrix(ax, np.zeros((2, 3)))
# ---- experiments over seeds --------------------------------------------------------------
from lstm_from_scratch.viz import (MODEL_COLORS, plot_gradient_reach_over_seeds,  # noqa: E402
                                   plot_seed_band, plot_solve_heatmap, seed_band)


def test_seed_band_is_median_and_range_ignoring_missing():
    curves = [[1.0, 2.0, 4.0], [3.0, None, 8.0], [2.0, 6.0, None]]
    med, low, high = seed_band(curves)
    np.testing.assert_array_equal(med, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(low, [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(high, [3.0, 6.0, 8.0])
    with pytest.raises(ValueError, match="2-D"):
        seed_band([1.0, 2.0])


def test_plot_seed_band_draws_the_median_and_a_band():
    ax = plot_seed_band([50, 100], [[1.0, 0.1], [2.0, 0.3], [3.0, 0.2]], color="#E69F00",
                        label="LSTM")
    line = ax.lines[-1]
    np.testing.assert_array_equal(line.get_ydata(), [2.0, 0.2])
    assert line.get_label() == "LSTM" and ax.get_yscale() == "log"
    band = ax.collections[-1].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.1) and band[:, 1].max() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="2 steps but curves of length 3"):
        plot_seed_band([1, 2], [[1, 2, 3]])


def test_plot_solve_heatmap_cells_and_labels():
    rates = np.array([[1.0, 0.4], [0.0, np.nan]])
    ax = plot_solve_heatmap(rates, ["LSTM", "RNN"], [50, 100],
                            counts=[["5/5", "2/5"], ["0/5", ""]], title="adding")
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["5/5", "2/5", "0/5", "-"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["LSTM", "RNN"]
    np.testing.assert_array_equal(ax.images[0].get_array(), rates)
    assert ax.texts[0].get_color() == "white" and ax.texts[1].get_color() == "black"
    with pytest.raises(ValueError, match=r"rates has shape \(2, 2\), expected \(3, 2\)"):
        plot_solve_heatmap(rates, ["a", "b", "c"], [1, 2])


def test_plot_gradient_reach_normalises_each_seed():
    k = [1, 10, 100]
    norms = [[2.0, 4.0], [0.2, 4.0], [0.0, 0.4]]          # (K, S) as recorded; a zero
    ax = plot_gradient_reach_over_seeds(k, norms, color=MODEL_COLORS["RNN"], label="RNN")
    y = ax.lines[-1].get_ydata()
    np.testing.assert_allclose(y, [1.0, 0.55, 0.1])       # median of (1, 1), (0.1, 1), (-, 0.1)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert [ax.xaxis.get_major_formatter()(v) for v in k] == ["1", "10", "100"]
    with pytest.raises(ValueError, match="3 distances"):
        plot_gradient_reach_over_seeds(k, [[1.0, 2.0]])


def test_every_model_of_the_gates_sweep_has_a_colour():
    from lstm_from_scratch.experiments.gates import MODELS
    assert set(MODELS) <= set(MODEL_COLORS)
    values = list(MODEL_COLORS.values())
    assert len(set(values)) == len(values)                # distinct things, distinct colours
