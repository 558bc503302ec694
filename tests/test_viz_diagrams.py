"""Tests of the LSTM diagrams in lstm_from_scratch.viz.diagrams (draw_lstm_cell, draw_lstm_chain)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from lstm_from_scratch.viz import (CELL_PARTS, GATE_COLORS, draw_lstm_cell,  # noqa: E402
                                   draw_lstm_chain)
from lstm_from_scratch.viz.diagrams import faded  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _artists(ax):
    return [*ax.patches, *ax.lines, *ax.texts]


def _by_gid(ax, gid):
    return [a for a in _artists(ax) if a.get_gid() == gid]


def _colors(artist):
    """The colours an artist is drawn in (face and edge of a patch, a line's or text's colour)."""
    if isinstance(artist, matplotlib.patches.Patch):
        return [to_rgba(artist.get_facecolor()), to_rgba(artist.get_edgecolor())]
    return [to_rgba(artist.get_color())]


def _is_faded(artist):
    # faded colours are blended with white: every RGB channel is light. White (faces, the
    # labels inside the boxes) stays white when faded, so it does not count either way.
    colors = [c for c in _colors(artist) if c != (1.0, 1.0, 1.0, 1.0)]
    return all(min(c[:3]) >= 0.7 for c in colors)


def _is_bright(artist):
    return any(min(c[:3]) < 0.7 for c in _colors(artist))


def test_cell_draws_every_part_in_its_colour():
    ax = draw_lstm_cell()
    assert isinstance(ax, matplotlib.axes.Axes)
    for part in CELL_PARTS:
        assert _by_gid(ax, f"cell:{part}"), part
    for gate in "ifgo":
        faces = [to_rgba(p.get_facecolor()) for p in _by_gid(ax, f"cell:{gate}")
                 if isinstance(p, matplotlib.patches.FancyBboxPatch)]
        assert to_rgba(GATE_COLORS[gate]) in faces, gate
    shown = [a for a in _artists(ax) if a.get_gid() != "cell:frame"]
    white = (1.0, 1.0, 1.0, 1.0)
    assert all(_is_bright(a) or set(_colors(a)) == {white} for a in shown)
    assert sum(_is_bright(a) for a in shown) > 40
    ax.figure.canvas.draw()                                  # renders without error


@pytest.mark.parametrize("gate", ["i", "f", "g", "o"])
def test_cell_highlights_one_gate_and_greys_the_others(gate):
    ax = draw_lstm_cell(highlight=gate)
    box = [p for p in _by_gid(ax, f"cell:{gate}")
           if isinstance(p, matplotlib.patches.FancyBboxPatch)][0]
    assert to_rgba(box.get_facecolor()) == to_rgba(GATE_COLORS[gate])
    # what feeds the gate stays visible, the other blocks are greyed out
    assert all(_is_bright(a) for a in _by_gid(ax, "cell:in"))
    for other in set("ifgo") - {gate}:
        others = _by_gid(ax, f"cell:{other}")
        assert others and all(_is_faded(a) for a in others), other


def test_cell_state_highlight_keeps_the_products_on_its_line():
    ax = draw_lstm_cell(highlight="c")
    # the product with f_t and the sum sit on the c line: shared with f (and i, g), not faded
    line_ops = [p for p in ax.patches if isinstance(p, matplotlib.patches.Circle)
                and p.get_gid() in ("cell:c+f", "cell:c+i+g")]
    assert len(line_ops) == 2 and all(_is_bright(p) for p in line_ops)
    # the product i_t g_t is off the line: faded
    assert all(_is_faded(a) for a in _by_gid(ax, "cell:i+g"))
    assert all(_is_faded(a) for a in _by_gid(ax, "cell:f"))


def test_cell_highlight_errors():
    with pytest.raises(ValueError, match="highlight"):
        draw_lstm_cell(highlight="z")
    with pytest.raises(ValueError, match="highlight"):
        draw_lstm_cell(highlight=())


def test_faded_is_opaque_and_light():
    r, g, b, a = faded(GATE_COLORS["f"])
    assert a == 1.0 and min(r, g, b) >= 0.7


def test_draw_into_given_axes():
    fig, (ax1, ax2) = plt.subplots(1, 2)
    assert draw_lstm_cell(ax1, highlight=["i", "g"], title="write") is ax1
    assert ax1.get_title() == "write"
    assert draw_lstm_chain(ax2, steps=2) is ax2
    fig.canvas.draw()


@pytest.mark.parametrize("steps", [1, 3, 5])
def test_chain_has_one_box_per_step(steps):
    ax = draw_lstm_chain(steps=steps)
    boxes = [p for p in ax.patches if (p.get_gid() or "").startswith("chain:step")]
    assert sorted(p.get_gid() for p in boxes) == [f"chain:step{k}" for k in range(steps)]
    # one c and one h arrow into every step and out of the last one
    for state in "ch":
        arrows = [p for p in _by_gid(ax, f"chain:{state}")
                  if isinstance(p, matplotlib.patches.FancyArrowPatch)]
        assert len(arrows) == steps + 1 + (steps if state == "h" else 0)   # + h_t upwards
    assert not _by_gid(ax, "chain:grad-c")                   # no gradients unless asked


def test_chain_labels_three_steps_around_t():
    ax = draw_lstm_chain(steps=3)
    labels = {t.get_text() for t in ax.texts}
    assert {"$x_{t-1}$", "$x_{t}$", "$x_{t+1}$", "$h_{t}$"} <= labels


def test_chain_gradient_paths():
    ax = draw_lstm_chain(steps=3, gradients=True)
    # between consecutive steps: one backward arrow along c (times f) and one through h
    along_c = [p for p in _by_gid(ax, "chain:grad-c")
               if isinstance(p, matplotlib.patches.FancyArrowPatch)]
    through_h = [p for p in _by_gid(ax, "chain:grad-h")
                 if isinstance(p, matplotlib.patches.FancyArrowPatch)]
    assert len(along_c) == 2
    assert len(through_h) == 2 + 3          # 2 between steps, 1 inside each step (h -> c)
    for arrow in along_c:                   # they point back in time: right to left
        (x0, _), (x1, _) = arrow._posA_posB
        assert x1 < x0
    labels = [t.get_text() for t in ax.texts if t.get_gid() == "chain:grad-c"]
    assert r"$\times f_{t}$" in labels and r"$\times f_{t+1}$" in labels
    ax.figure.canvas.draw()


@pytest.mark.parametrize("steps", [0, 7, 2.5])
def test_chain_steps_checked(steps):
    with pytest.raises(ValueError, match="steps"):
        draw_lstm_chain(steps=steps)
