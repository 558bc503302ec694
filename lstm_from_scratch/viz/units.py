"""Looking for interpretable units: does one cell of the network track something a reader
can name (inside a quotation, the position in the line, the depth of brackets)?

Following Karpathy, Johnson & Fei-Fei (2016), we compute a feature of the text for every
character, correlate it with every unit's activation over a passage, pick the best units on
one passage and check them on another (a correlation found by searching hundreds of units
must survive on text it was not chosen on), and draw the text coloured by the unit.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_unit_text", "text_features", "top_units", "unit_correlations"]

_OPEN, _CLOSE = "([{", ")]}"


def text_features(text: str) -> dict:
    """Per-character features of ``text``, each a (len(text),) float array, measured *after*
    reading the character (what a recurrent state could know at that step):

    * ``"inside quotes"``: 1 between an opening and a closing ``"`` (the opening quote
      included, the closing one not); quotes pair up within a paragraph (a blank line
      closes an unpaired one);
    * ``"line position"``: the number of characters since the last newline (0 on a newline);
    * ``"bracket depth"``: how many of ``( [ {`` are open (never below 0).
    """
    n = len(text)
    quote, col, depth = np.zeros(n), np.zeros(n), np.zeros(n)
    inside, c, d, prev = False, 0, 0, ""
    for k, ch in enumerate(text):
        if ch == '"':
            inside = not inside
        elif ch == "\n" and prev == "\n":
            inside = False
        c = 0 if ch == "\n" else c + 1
        if ch in _OPEN:
            d += 1
        elif ch in _CLOSE:
            d = max(d - 1, 0)
        quote[k], col[k], depth[k] = float(inside), c, d
        prev = ch
    return {"inside quotes": quote, "line position": col, "bracket depth": depth}


def unit_correlations(acts, feature) -> np.ndarray:
    """Pearson correlation of every unit with ``feature``.

    Args:
        acts: (T, H) activations (one sequence).
        feature: (T,) values.
    Returns:
        (H,) correlations; 0 for a unit (or feature) that never changes.
    """
    a = np.asarray(acts, dtype=np.float64)
    f = np.asarray(feature, dtype=np.float64)
    if a.ndim != 2 or f.shape != (a.shape[0],):
        raise ValueError(f"unit_correlations: expected acts (T, H) and feature (T,), got "
                         f"{a.shape} and {f.shape}")
    a = a - a.mean(axis=0)
    f = f - f.mean()
    denom = np.sqrt((a * a).sum(axis=0) * (f * f).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * f[:, None]).sum(axis=0) / denom
    return np.where(denom > 0, r, 0.0)


def top_units(acts, feature, k: int = 3):
    """The k units with the largest |correlation| with ``feature``: a list of
    ``(unit, r)``, best first."""
    r = unit_correlations(acts, feature)
    order = np.argsort(-np.abs(r), kind="stable")[:k]
    return [(int(u), float(r[u])) for u in order]


def plot_unit_text(text: str, values, ax=None, vmin=-1.0, vmax=1.0, cmap="RdBu_r",
                   max_lines: int = 12, width: int = 72, title=None):
    """``text`` written in a grid, each character on a background coloured by ``values``
    (one per character; e.g. tanh of a unit's cell state). Lines break at newlines and at
    ``width`` characters; at most ``max_lines`` lines are drawn. Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    values = np.asarray(values, dtype=np.float64)
    if len(values) != len(text):
        raise ValueError(f"plot_unit_text: {len(text)} characters but {len(values)} values")
    cm = colormaps[cmap] if isinstance(cmap, str) else cmap
    if ax is None:
        _, ax = plt.subplots(figsize=(7.0, 0.22 * max_lines + 0.4))
    row, col = 0, 0
    for ch, v in zip(text, values):
        if row >= max_lines:
            break
        shade = cm((np.clip(v, vmin, vmax) - vmin) / (vmax - vmin))
        ax.add_patch(Rectangle((col, -row - 1), 1, 1, facecolor=shade, edgecolor="none",
                               gid="cell"))
        if ch not in "\n ":
            ax.text(col + 0.5, -row - 0.5, ch, ha="center", va="center", fontsize=7,
                    family="monospace")
        col += 1
        if ch == "\n" or col >= width:
            row, col = row + 1, 0
    ax.set_xlim(0, width)
    ax.set_ylim(-max_lines, 0)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    return ax
