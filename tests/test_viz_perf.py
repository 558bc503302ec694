"""lfs.viz.perf: the figures of chapter 12."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lstm_from_scratch.viz import STAGE_COLORS, plot_breakdown, plot_times  # noqa: E402


def test_breakdown_stacks_the_stages_in_order():
    fig, ax = plt.subplots()
    rows = {"primitive": {"GEMMs": 3.0, "element-wise": 2.0, "engine": 1.0},
            "fused": {"GEMMs": 2.5, "element-wise": 0.5}}
    plot_breakdown(ax, rows)
    widths = [p.get_width() for p in ax.patches]
    lefts = [p.get_x() for p in ax.patches]
    assert widths == [3.0, 2.0, 1.0, 2.5, 0.5]
    assert lefts == [0.0, 3.0, 5.0, 0.0, 2.5]
    assert ax.patches[0].get_facecolor()[:3] == matplotlib.colors.to_rgb(STAGE_COLORS["GEMMs"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["primitive", "fused"]
    plt.close(fig)


def test_times_are_labelled_with_the_speedup_over_the_first():
    fig, ax = plt.subplots()
    plot_times(ax, ["a", "b"], [10.0, 2.5])
    assert [t.get_text() for t in ax.texts] == ["1.0x", "4.0x"]
    plt.close(fig)


def test_bad_arguments_raise_clearly():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="unknown stage 'gpu'"):
        plot_breakdown(ax, {"x": {"gpu": 1.0}})
    with pytest.raises(ValueError, match="2 names for 1 times"):
        plot_times(ax, ["a", "b"], [1.0])
    with pytest.raises(ValueError, match="rows is empty"):
        plot_breakdown(ax, {})
    plt.close(fig)
