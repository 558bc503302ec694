"""Recurrent layers: the cells RNNCell, GRUCell, LSTMCell (one time step) and the sequence
layers RNN, GRU, LSTM (stacked, optionally bidirectional), with PyTorch's parameter names,
shapes, gate order, defaults and outputs.

Layout (PyTorch's, "split" form): per layer k and direction, ``weight_ih_l{k}`` (G*H, I),
``weight_hh_l{k}`` (G*H, H), ``bias_ih_l{k}`` and ``bias_hh_l{k}`` (G*H,), the G gate blocks
stacked in the order LSTM i, f, g, o; GRU r, z, n; RNN a single block. The reverse direction
adds the suffix ``_reverse``. Everything is initialised from U(-1/sqrt(H), 1/sqrt(H)).

The LSTM also comes in the variants the book's ablations compare (``LSTMVariant``): without
forget gate (the 1997 LSTM), with coupled input and forget gates, with peepholes, with other
gate/candidate/cell activations, without input or output gate, with a multiplicative cell
update, and with a forget-gate bias at initialisation. Only the default is in PyTorch; the default equals
PyTorch exactly.

``fused=True`` runs the same model through ``lstm_from_scratch.kernels`` (one graph node per
step or per sequence instead of a dozen primitives): the same numbers, faster.

The package, one idea per file:

* ``equations.py``: one time step, written with the book's symbols: ``lstm_standard_step``
  (eq-lstm-cell), ``lstm_variant_step``, ``lstm_step`` (chooses between them), ``gru_step``,
  ``rnn_step`` (eq-rnn);
* ``cells.py``: ``RNNCell``, ``GRUCell``, ``LSTMCell`` (input checks, then one step);
* ``layers.py``: ``RNN``, ``GRU``, ``LSTM`` and the ``scan`` over time that all three run;
* ``variant.py``: ``LSTMVariant``; ``checks.py``: argument checks; ``parameters.py``:
  initialisation.
"""
from __future__ import annotations

from .cells import GRUCell, LSTMCell, RNNCell
from .equations import (ACTIVATIONS, affine, gru_step, lstm_standard_step, lstm_step,
                        lstm_variant_step, rnn_step)
from .layers import GRU, LSTM, RNN, input_projection, scan
from .variant import LSTMVariant

_ACTIVATIONS = ACTIVATIONS      # the old private names, kept for code that imports them
_affine = affine

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "LSTMVariant", "RNN", "RNNCell",
           "gru_step", "lstm_standard_step", "lstm_step", "lstm_variant_step", "rnn_step",
           "scan"]
