"""The equations of one time step: the standard LSTM (eq-lstm-cell), its variants, the GRU and
the Elman RNN (eq-rnn). Every cell and every sequence layer runs these functions, and nothing
else computes a recurrence on the primitive path (the fused kernels in ``kernels/`` are the
fast path, held equal to these by tests).

Each step starts from the input projection ``gates_x = x_t W_ih^T + b_ih`` (the sequence
layers compute it for all T steps as one product) and adds the recurrent part
``h_{t-1} W_hh^T + b_hh``. Shapes: gates_x (B, G*H), h and c (B, H); or a stack of S models
(``experiments.stacked``): gates_x (S, B, G*H), h, c (S, B, H), weight_hh (S, G*H, H), bias_hh
(S, G*H), peepholes (S, 1, H).
"""
from __future__ import annotations

from ...functional import chunk, linear, matmul, relu, sigmoid, tanh


def identity(x):
    return x


ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "identity": identity}


def affine(x, weight, bias):
    """x W^T + b as one node (``linear``); x: (B, in), weight: (out, in), bias: (out,) or
    None -> (B, out).

    A weight of shape (S, out, in) is a stack of S independent models: then x is
    (S, B, in), bias (S, out) or None, and the result (S, B, out) is each model's product."""
    if weight.ndim == 3:
        y = matmul(x, weight.swapaxes(-1, -2))
        return y if bias is None else y + bias.reshape(bias.shape[0], 1, bias.shape[1])
    return linear(x, weight, bias)


def lstm_standard_step(gates_x, h_prev, c_prev, weight_hh, bias_hh):
    """One step of the standard LSTM, the six equations of eq-lstm-cell (chapter 4), symbol
    by symbol, gate blocks in PyTorch's order i, f, g, o.

    gates_x: x_t W_ih^T + b_ih, (B, 4H); h_prev, c_prev: (B, H); weight_hh (4H, H); bias_hh
    (4H,) or None. Returns (h_t, c_t), each (B, H). ``LSTMCell`` and ``LSTM`` both run it.
    """
    i_t, f_t, g_t, o_t = chunk(gates_x + affine(h_prev, weight_hh, bias_hh), 4, axis=-1)
    i_t = sigmoid(i_t)              # input gate: how much of g_t to write
    f_t = sigmoid(f_t)              # forget gate: how much of c_prev to keep
    g_t = tanh(g_t)                 # candidate values
    o_t = sigmoid(o_t)              # output gate: how much of the cell to show
    c_t = f_t * c_prev + i_t * g_t  # cell state
    h_t = o_t * tanh(c_t)           # hidden state
    return h_t, c_t


def lstm_variant_step(variant, gates_x, h_prev, c_prev, weight_hh, bias_hh, peepholes=None):
    """One step of an LSTM variant (``LSTMVariant``: chapter 8's ablations): eq-lstm-cell
    with the changes the variant names. An absent gate is the constant 1 and has no weights.

    gates_x: (B, G*H), G the gates present (``variant.gate_names``); peepholes: (w_ci, w_cf
    or None, w_co or None), each (H,), or None (Gers & Schmidhuber 2000: i and f see c_{t-1},
    o sees c_t). Returns (h_t, c_t).
    """
    gate = ACTIVATIONS[variant.gate_activation]
    candidate = ACTIVATIONS[variant.candidate_activation]
    squash = ACTIVATIONS[variant.cell_activation]
    blocks = chunk(gates_x + affine(h_prev, weight_hh, bias_hh), variant.num_gates, axis=-1)
    blocks = dict(zip(variant.gate_names, blocks))
    i_t, f_t, g_t, o_t = (blocks.get(k) for k in "ifgo")
    if peepholes is not None:                   # the input and forget gates look at c_{t-1}
        w_ci, w_cf, w_co = peepholes
        if i_t is not None:
            i_t = i_t + w_ci * c_prev
        if f_t is not None:
            f_t = f_t + w_cf * c_prev
    if i_t is not None:
        i_t = gate(i_t)
    if f_t is not None:
        f_t = gate(f_t)
    g_t = candidate(g_t)
    if variant.coupled:
        f_t = 1 - i_t
    keep = c_prev if f_t is None else f_t * c_prev  # f_t is None: 1997, nothing is forgotten
    write = g_t if i_t is None else i_t * g_t       # i_t is None: no input gate, i_t = 1
    if variant.cell_update == "add":
        c_t = keep + write
    else:                                           # the new content rescales the memory
        c_t = keep * write
    if o_t is None:                                 # no output gate: o_t = 1
        return squash(c_t), c_t
    if peepholes is not None:                       # the output gate looks at the new c_t
        o_t = o_t + w_co * c_t
    h_t = gate(o_t) * squash(c_t)
    return h_t, c_t


def lstm_step(variant, gates_x, h_prev, c_prev, weight_hh, bias_hh, peepholes=None):
    """One LSTM step of any variant: ``lstm_standard_step`` for the standard LSTM,
    ``lstm_variant_step`` otherwise. Returns (h_t, c_t)."""
    if variant.is_standard and peepholes is None:
        return lstm_standard_step(gates_x, h_prev, c_prev, weight_hh, bias_hh)
    return lstm_variant_step(variant, gates_x, h_prev, c_prev, weight_hh, bias_hh, peepholes)


def gru_step(gates_x, h_prev, weight_hh, bias_hh):
    """One GRU step (Cho et al. 2014), PyTorch's formulation (r multiplies W_hn h + b_hn):

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)    (reset gate)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)    (update gate)
        n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    gates_x: x_t W_ih^T + b_ih, (B, 3H); h_prev: (B, H) -> h_t: (B, H).
    """
    r_x, z_x, n_x = chunk(gates_x, 3, axis=-1)
    r_h, z_h, n_h = chunk(affine(h_prev, weight_hh, bias_hh), 3, axis=-1)
    r_t = sigmoid(r_x + r_h)                    # reset gate
    z_t = sigmoid(z_x + z_h)                    # update gate
    n_t = tanh(n_x + r_t * n_h)                 # candidate state
    return (1 - z_t) * n_t + z_t * h_prev


def rnn_step(gates_x, h_prev, weight_hh, bias_hh, activation):
    """The Elman RNN, eq-rnn (chapter 1): h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T +
    b_hh); gates_x: (B, H), h_prev: (B, H) -> h_t: (B, H)."""
    return activation(gates_x + affine(h_prev, weight_hh, bias_hh))
