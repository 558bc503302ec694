"""Figures for sequence-to-sequence models: attention heatmaps and accuracy by input length.

* :func:`attention_heatmap` - the weights a decoder gave each source token at each output
  step, one row per output token, one column per source token;
* :func:`plot_by_length` - a score per input-length bucket for several models, the mean over
  seeds with the range (min to max) as a band.
"""
from __future__ import annotations

import warnings

import numpy as np

from .style import MODEL_COLORS


def _host(values):
    """A NumPy array of ``values`` (an array, a list, or a library Tensor via ``.numpy()``)."""
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        return np.array(values.numpy(), dtype=float)
    return np.array(values, dtype=float)


def attention_heatmap(weights, source, target, ax=None, cmap="Blues", title=None,
                      colorbar=True, annotate=False):
    """Draw attention weights as a heatmap.

    Args:
        weights: (T, S) array (or Tensor): row t holds the weights over the S source tokens
            when output token t was produced.
        source: S labels for the columns (the source tokens).
        target: T labels for the rows (the output tokens).
        ax: the Axes to draw into (default: a new figure sized to the tokens).
        cmap: a sequential colour map; 0 is white, 1 the darkest colour.
        title: the Axes title; colorbar: add a colour bar; annotate: print each weight
            (two decimals) in its cell.
    Returns:
        the Axes. The image is ``ax.images[0]``, its data the weights; the colour scale is
        fixed to [0, 1], so heatmaps side by side compare.
    """
    import matplotlib.pyplot as plt

    w = _host(weights)
    source, target = [str(s) for s in source], [str(t) for t in target]
    if w.ndim != 2:
        raise ValueError(f"attention_heatmap: weights must be 2-D (T, S), got shape {w.shape}")
    if w.shape != (len(target), len(source)):
        raise ValueError(f"attention_heatmap: weights of shape {w.shape} need "
                         f"{w.shape[0]} target and {w.shape[1]} source labels, got "
                         f"{len(target)} and {len(source)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.45 * len(source) + 1.6),
                                      max(2.0, 0.32 * len(target) + 1.2)))
    image = ax.imshow(w, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(np.arange(len(source)))
    ax.set_xticklabels(source, rotation=60, ha="right", rotation_mode="anchor")
    ax.set_yticks(np.arange(len(target)))
    ax.set_yticklabels(target)
    ax.set_xlabel("source token")
    ax.set_ylabel("output token")
    ax.grid(False)
    if annotate:
        for (t, s), value in np.ndenumerate(w):
            ax.text(s, t, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 else "black")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.02, label="attention weight")
    return ax


def plot_by_length(bucket_names, scores, ax=None, ylabel="exact match", colors=None,
                   percent=True):
    """A score per input-length bucket for several models: mean line, min-max band.

    Args:
        bucket_names: labels of the B buckets (the x axis), e.g. ``["1-4", "5-8", ...]``.
        scores: ``{model name: (n_seeds, B) array}``; a NaN (or None) marks an empty bucket.
        ax: the Axes (default: a new figure).
        ylabel: the y-axis label; colors: ``{model name: colour}`` (default ``MODEL_COLORS``,
            grey for a model without one); percent: show the scores (fractions) as percent.
    Returns:
        the Axes; the line of model m has the label m.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    colors = MODEL_COLORS if colors is None else colors
    x = np.arange(len(bucket_names))
    scale = 100.0 if percent else 1.0
    for name, values in scores.items():
        v = np.array([[np.nan if s is None else s for s in row] for row in values],
                     dtype=float) * scale
        if v.ndim != 2 or v.shape[1] != len(bucket_names):
            raise ValueError(f"plot_by_length: scores[{name!r}] must be (n_seeds, "
                             f"{len(bucket_names)}), got shape {v.shape}")
        color = colors.get(name, "#999999")
        with warnings.catch_warnings():         # an empty bucket: a gap in the line
            warnings.simplefilter("ignore", RuntimeWarning)
            mean, low, high = (np.nanmean(v, axis=0), np.nanmin(v, axis=0),
                               np.nanmax(v, axis=0))
        ax.plot(x, mean, "o-", color=color, label=name, lw=2)
        if v.shape[0] > 1:
            ax.fill_between(x, low, high, color=color, alpha=0.2, lw=0)
    ax.set_xticks(x)
    ax.set_xticklabels(bucket_names)
    ax.set_xlabel("input length (words)")
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    return ax
