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
MODEL_COLORS = {"LSTM": "#E69F00", "GRU": "#009E73", "RNN": "#555555", "baseline": "#999999",
                # chapters 9 and 10: forecasting baselines and sequence classifiers
                "naive": "#BBBBBB", "seasonal naive": "#000000", "AR": "#CC79A7",
                "ARIMA": "#0072B2", "BiLSTM": "#D55E00", "logistic regression": "#56B4E9",
                # chapter 8's other models and LSTM variants (Paul Tol's muted palette, so they
                # stay apart from the three above when drawn together)
                "IRNN": "#882255", "LSTM, bias 0": "#DDCC77", "no forget gate": "#CC6677",
                "coupled (CIFG)": "#332288", "coupled, bias 1": "#6677CC", "peepholes": "#88CCEE",
                "no input gate": "#661100", "no output gate": "#AA4499", "tanh gates": "#999933",
                "sigmoid candidate": "#44AA99", "sigmoid cell output": "#117733",
                "multiplicative": "#5D3A9B", "all sigmoid": "#FFAABB",
                # chapter 11: the encoder-decoder without attention and with each attention
                "encoder-decoder": "#A6761D", "additive": "#1B7837", "general": "#E7298A",
                "dot": "#7570B3",
                # chapters 5 and 6: the LSTM with forget bias 1 beside the LSTM (bias 0); the
                # LSTM without a forget gate is chapter 8's "no forget gate"
                "LSTM, forget bias 1": "#004488"}
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
