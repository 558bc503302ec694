"""What the gates of a trained LSTM do: record i, f, g, o, c, h at every step, measure how
often each gate is saturated, and draw them as heatmaps over a text.

The sequence layer ``nn.LSTM`` returns only h_t (and the last c), not the gates. We do not
change it: :func:`record_lstm` runs ``nn.LSTMCell`` with each layer's weights one step at a
time (the cell is the same model, as chapter 4 checks) and computes the four gate activations
from the same weights beside it, so the recording can be checked against the layer's output.
"""
from __future__ import annotations

import numpy as np

from .style import GATE_COLORS

__all__ = ["GATES", "plot_gate_heatmaps", "plot_saturation", "record_lstm", "saturation"]

GATES = ("i", "f", "g", "o")


def record_lstm(lstm, x, state=None) -> dict:
    """Run a standard ``nn.LSTM`` step by step and record everything inside it.

    Args:
        lstm: an ``lfs.nn.LSTM`` (standard variant, unidirectional; fused or not).
        x: the input Tensor, (T, B, I), or (B, T, I) if ``lstm.batch_first``.
        state: ``(h0, c0)``, each (num_layers, B, H), or None for zeros.
    Returns:
        A dict of NumPy arrays, each (num_layers, T, B, H): ``"i"``, ``"f"``, ``"g"``, ``"o"``
        (the gate activations), ``"c"`` (the cell state c_t) and ``"h"`` (the output h_t).
        The ``h`` of the last layer equals ``lstm(x, state)[0]`` (time-major).
    """
    from .. import nn
    from ..autograd import no_grad
    from ..functional import chunk, linear, sigmoid, stack, tanh, zeros

    if not isinstance(lstm, nn.LSTM):
        raise TypeError(f"record_lstm: expected an lfs.nn.LSTM, got {type(lstm).__name__}")
    if lstm.bidirectional or not lstm.variant.is_standard:
        raise ValueError("record_lstm: only the standard, unidirectional LSTM is supported")
    if x.ndim != 3:
        raise ValueError(f"record_lstm: expected a batched input of 3 dimensions, got shape "
                         f"{tuple(x.shape)}")
    H = lstm.hidden_size
    rec = {k: [] for k in ("i", "f", "g", "o", "c", "h")}
    with no_grad():
        seq = x.swapaxes(0, 1) if lstm.batch_first else x          # (T, B, I)
        T, B = seq.shape[0], seq.shape[1]
        for layer in range(lstm.num_layers):
            weights = {name: getattr(lstm, f"{name}_l{layer}")
                       for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
            cell = nn.LSTMCell(weights["weight_ih"].shape[1], H, dtype=seq.dtype,
                               device=seq.device)
            cell.load_state_dict({k: v.data for k, v in weights.items()})
            if state is None:
                h = zeros(B, H, dtype=seq.dtype, device=seq.device)
                c = zeros(B, H, dtype=seq.dtype, device=seq.device)
            else:
                h, c = state[0][layer], state[1][layer]
            per = {k: [] for k in rec}
            for t in range(T):
                x_t = seq[t]
                z = linear(x_t, cell.weight_ih, cell.bias_ih) + linear(h, cell.weight_hh,
                                                                       cell.bias_hh)
                i_t, f_t, g_t, o_t = chunk(z, 4, axis=-1)
                gates = {"i": sigmoid(i_t), "f": sigmoid(f_t), "g": tanh(g_t), "o": sigmoid(o_t)}
                h, c = cell(x_t, (h, c))                     # the cell computes the step
                for k, v in gates.items():
                    per[k].append(v)
                per["c"].append(c)
                per["h"].append(h)
            for k in rec:
                rec[k].append(stack(per[k], axis=0).numpy())
            seq = stack(per["h"], axis=0)                            # input of the next layer
    return {k: np.stack(v) for k, v in rec.items()}


def saturation(act, low: float = 0.1, high: float = 0.9):
    """Per unit, the fraction of steps at which a gate is left-saturated (< ``low``) and
    right-saturated (> ``high``), as Karpathy, Johnson & Fei-Fei (2016) measure them.

    Args:
        act: (T, B, H) (or (T, H)) activations of one gate of one layer, in [0, 1].
    Returns:
        ``(left, right)``, each (H,).
    """
    a = np.asarray(act)
    a = a.reshape(-1, a.shape[-1])
    return (a < low).mean(axis=0), (a > high).mean(axis=0)


def plot_saturation(record, layer: int = 0, gates=("i", "f", "o"), low=0.1, high=0.9, ax=None):
    """Scatter of right- against left-saturation fraction, one point per unit, for each gate
    of ``record`` (from :func:`record_lstm`), in the book's gate colours. Returns the Axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(4.2, 4.0))
    for g in gates:
        left, right = saturation(record[g][layer], low, high)
        ax.scatter(left, right, s=12, alpha=0.7, color=GATE_COLORS[g], label=f"${g}_t$")
    ax.plot([0, 1], [1, 0], color="#999999", lw=1, ls=":")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.02), xlabel=f"fraction of steps < {low}",
           ylabel=f"fraction of steps > {high}", title=f"Gate saturation, layer {layer + 1}")
    ax.legend(loc="upper right")
    return ax


def _char_label(ch):
    return {"\n": "⏎", " ": "␣", "\t": "⇥"}.get(ch, ch)


def plot_gate_heatmaps(text, record, layer: int = 0, units=None, batch: int = 0,
                       panels=("i", "f", "o", "c"), fig=None):
    """Heatmaps of gate activations (and the cell state) of chosen units over ``text``.

    Args:
        text: the characters the model read, one per step (len(text) == T).
        record: from :func:`record_lstm`.
        layer, batch: which layer and which sequence of the batch.
        units: the unit indices to show (rows); default the first 16.
        panels: what to draw, top to bottom: gates ``"i"``, ``"f"``, ``"g"``, ``"o"`` (colour
            scale [0, 1], or [-1, 1] for g) and ``"c"`` (tanh(c_t), [-1, 1]).
    Returns:
        The Figure; each panel is titled with its symbol.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    T = record["i"].shape[1]
    if len(text) != T:
        raise ValueError(f"plot_gate_heatmaps: text has {len(text)} characters but the "
                         f"record has {T} steps")
    units = list(range(min(16, record["i"].shape[-1]))) if units is None else list(units)
    if fig is None:
        fig = plt.figure(figsize=(7.0, 1.0 + 0.16 * len(units) * len(panels)))
    axes = fig.subplots(len(panels), 1, sharex=True)
    axes = np.atleast_1d(axes)
    for ax, p in zip(axes, panels):
        if p == "c":
            data, vmin, vmax, cmap = np.tanh(record["c"][layer, :, batch][:, units]), -1, 1, \
                "RdBu_r"
            title = r"$\tanh(c_t)$"
        else:
            data = record[p][layer, :, batch][:, units]
            vmin, vmax = (-1, 1) if p == "g" else (0, 1)
            cmap = LinearSegmentedColormap.from_list(p, ["#ffffff", GATE_COLORS[p]]) \
                if p != "g" else "PiYG"
            title = f"${p}_t$"
        im = ax.imshow(data.T, aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax,
                       interpolation="nearest")
        ax.set_yticks(range(len(units)))
        ax.set_yticklabels([str(u) for u in units], fontsize=6)
        ax.set_ylabel("unit", fontsize=8)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(False)
        fig.colorbar(im, ax=ax, pad=0.01, fraction=0.03)
    axes[-1].set_xticks(range(T))
    axes[-1].set_xticklabels([_char_label(ch) for ch in text], fontsize=7, family="monospace")
    axes[-1].set_xlabel("character read at step t")
    return fig
