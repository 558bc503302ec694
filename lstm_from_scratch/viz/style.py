"""The book's figure style: one colour per gate everywhere, opaque PNGs.

Every chapter calls ``use_book_style()`` once, so all figures share fonts, sizes, an opaque
white background and the gate colours below (``GATE_COLORS["f"]`` is the forget gate in
every figure of the book).
"""
from __future__ import annotations

# One colour per symbol of the LSTM equations, used by every figure of the book
# (colour-blind-safe palette of Okabe and Ito).
GATE_COLORS = {
    "i": "#0072B2",   # input gate: blue
    "f": "#D55E00",   # forget gate: vermillion
    "g": "#009E73",   # candidate (cell input): green
    "o": "#CC79A7",   # output gate: reddish purple
    "c": "#E69F00",   # cell state: orange
    "h": "#56B4E9",   # hidden state: sky blue
    "x": "#555555",   # input: grey
}
# Models compared across chapters keep their colours too.
# Variants of one model that appear side by side get colours of their own (from Paul Tol's
# palette, distinct from the gate colours): "LSTM, forget bias 1" is not the gate f.
MODEL_COLORS = {"LSTM": "#E69F00", "GRU": "#009E73", "RNN": "#555555", "baseline": "#999999",
                "LSTM, forget bias 1": "#882255", "LSTM, no forget gate": "#332288"}
# Floating-point precisions compared in one figure (chapter 3); not gate colours either.
DTYPE_COLORS = {"float32": "#882255", "float64": "#332288"}


def use_book_style() -> None:
    """Matplotlib settings shared by every chapter: PNG output, opaque background."""
    import matplotlib

    matplotlib.rcParams.update({
        "figure.figsize": (7.0, 3.6),
        "figure.dpi": 100,
        "savefig.dpi": 100,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "savefig.transparent": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 11,
        "axes.titlesize": 12,
        "legend.frameon": False,
        "figure.constrained_layout.use": True,
    })
    try:  # inside IPython: inline PNG, not SVG
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            ip.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
    except ImportError:
        pass
