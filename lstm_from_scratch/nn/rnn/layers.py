"""The sequence layers ``RNN``, ``GRU`` and ``LSTM``: stacked, optionally bidirectional, with
PyTorch's arguments, parameter names, shapes and outputs.

Every layer and direction computes the input part of the gates for all T steps as one matrix
product, then runs ``scan``: the cell's step function of ``equations.py`` once per time step.
``fused=True`` (GRU, LSTM) runs a whole layer and direction as one node of ``kernels``.
"""
from __future__ import annotations

import warnings

import numpy as np

from ...functional import column_major, concat, flip, split, stack, zeros
from .. import functional as F
from ..module import Module
from ..parameter import empty_parameter
from . import equations
from .checks import check_input_size, check_sizes, check_tensor, unpack_states
from .equations import ACTIVATIONS, affine
from .parameters import lstm_extra_repr, reset_lstm_parameters, reset_uniform
from .variant import variant_from


# The primitive path hands every step W_hh stored column by column, copied once per layer,
# direction and sequence (docs/decisions.md, "Performance notes"); a switch for bench/levers.py
COLUMN_MAJOR_W_HH = True


def _kernels():
    """The fused kernels, imported on first use (they are optional at import time)."""
    from ... import kernels
    return kernels


def scan(step, inputs, state, reverse=False):
    """Run a recurrence over time: ``state = step(inputs[t], *state)`` for t = 0 .. T-1 (T-1
    .. 0 when ``reverse``). ``state`` is a tuple ((h,) or (h, c)); its first element at each
    step is the output. Returns (outputs stacked over time (T, B, H), the final state)."""
    outputs = [None] * len(inputs)
    for t in (reversed(range(len(inputs))) if reverse else range(len(inputs))):
        state = step(inputs[t], *state)
        outputs[t] = state[0]
    return stack(outputs, axis=0), state


def input_projection(x, weight_ih, bias_ih):
    """The input part of the gates for all T steps as one matrix product, cut into T pieces:
    x (T, B, I) -> T tensors (B, G) (one ``Split`` node: its backward is one concatenation)."""
    T, B, _ = x.shape
    gx = affine(x.reshape(T * B, x.shape[2]), weight_ih, bias_ih)
    if T == 1:
        return (gx,)
    # pieces of B rows; with an empty batch (B = 0) as T empty pieces, as PyTorch's layers
    # accept it
    return split(gx, B if B else [0] * T, axis=0)


class _RNNBase(Module):
    """Stacked, optionally bidirectional recurrence over a whole sequence.

    Subclasses set ``_state_names`` (("h",) or ("h", "c")) and define ``_step(params)``, the
    function one time step runs (``(gates_x, *state) -> state``), and, if they have one, the
    fused path ``_fused(x, state, params)``.
    """

    _state_names = ("h",)

    def __init__(self, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, *, num_gates, device=None, dtype=None, peephole_names=()):
        super().__init__()
        name = type(self).__name__
        check_sizes(name, input_size, hidden_size)
        if not isinstance(num_layers, (int, np.integer)) or num_layers < 1:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not 0.0 <= float(dropout) <= 1.0:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing "
                             f"the probability of an element being zeroed, got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout option adds dropout after all but the last recurrent "
                          f"layer, so non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", UserWarning,
                          stacklevel=3)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias, self.batch_first = int(num_layers), bool(bias), bool(batch_first)
        self.dropout, self.bidirectional = float(dropout), bool(bidirectional)
        D = 2 if bidirectional else 1
        H, G = self.hidden_size, num_gates * self.hidden_size
        self._all_weights = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else H * D
            for direction in range(D):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"]
                setattr(self, names[0], empty_parameter((G, layer_input), dtype, device))
                setattr(self, names[1], empty_parameter((G, H), dtype, device))
                if bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    setattr(self, names[2], empty_parameter((G,), dtype, device))
                    setattr(self, names[3], empty_parameter((G,), dtype, device))
                for p in peephole_names:
                    names.append(p + sfx)
                    setattr(self, p + sfx, empty_parameter((H,), dtype, device))
                self._all_weights.append(names)

    @property
    def all_weights(self):
        """Parameters per layer and direction, as PyTorch's ``all_weights``."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def reset_parameters(self):
        reset_uniform(self)

    def _params(self, layer, direction):
        """{"weight_ih": ..., "weight_hh": ..., "bias_ih": ..., "bias_hh": ..., and peepholes}
        of one layer and direction, None for an absent one."""
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        return {n: self._parameters.get(n + sfx) for n in
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_ci", "weight_cf",
                 "weight_co")}

    # -- input handling ----------------------------------------------------------------------
    def _check_input(self, x, hx):
        """x as time-major (T, B, I); the initial states as lists of (B, H) tensors per
        layer and direction (None when not given); whether x was unbatched."""
        name = type(self).__name__
        check_tensor(name, "input", x, self.weight_ih_l0)
        if x.ndim not in (2, 3):
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"{name}: expected input of 2 (unbatched: (T, I)) or 3 (batched: "
                             f"{layout}) dimensions, got shape {x.shape}")
        check_input_size(name, x, self.input_size)
        unbatched = x.ndim == 2
        if unbatched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        elif self.batch_first:
            x = x.swapaxes(0, 1)
        if x.shape[0] == 0:
            raise ValueError(f"{name}: the input sequence is empty (shape {x.shape})")
        B, H = x.shape[1], self.hidden_size
        LD = self.num_layers * (2 if self.bidirectional else 1)
        names = [s + "0" for s in self._state_names]
        if hx is None:
            return x, [None] * len(names), unbatched
        states = unpack_states(name, "the initial state", hx, names)
        expected = (LD, H) if unbatched else (LD, B, H)
        per_state = []
        for s_name, s in zip(names, states):
            check_tensor(name, s_name, s, self.weight_ih_l0)
            if s.shape != expected:
                hint = " (unbatched input takes unbatched states)" if len(s.shape) != len(expected) else ""
                raise ValueError(f"{name}: expected {s_name} of shape {expected}, got {s.shape}{hint}")
            if unbatched:
                s = s.reshape(LD, 1, H)
            per_state.append(s)
        return x, per_state, unbatched

    def forward(self, x, hx=None):
        """Run the whole sequence.

        Args:
            x: (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I).
            hx: the initial state, (L*D, B, H) (unbatched: (L*D, H)), zeros when None; for
                the LSTM a pair (h0, c0). L = num_layers, D = 2 if bidirectional else 1.
        Returns:
            output (T, B, D*H) (batch_first: (B, T, D*H); unbatched: (T, D*H)) and the
            final state h_n (L*D, B, H) (for the LSTM the pair (h_n, c_n)); the rows of h_n
            are ordered layer by layer, forward direction first.
        """
        x, states0, unbatched = self._check_input(x, hx)
        D = 2 if self.bidirectional else 1
        finals = [[] for _ in self._state_names]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                state = tuple(self._initial(None if s is None else s[k], x) for s in states0)
                out, last = self._run_direction(layer_input, state, layer, direction)
                outputs.append(out)
                for f, s in zip(finals, last):
                    f.append(s)
            layer_input = outputs[0] if D == 1 else concat(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        output = layer_input
        finals = [stack(f, axis=0) for f in finals]
        if unbatched:
            output = output.reshape(output.shape[0], output.shape[2])
            finals = [s.reshape(s.shape[0], s.shape[2]) for s in finals]
        elif self.batch_first:
            output = output.swapaxes(0, 1)
        return output, (tuple(finals) if len(finals) > 1 else finals[0])

    def _initial(self, state, x):
        """A given initial state, or zeros (B, H) like x."""
        if state is not None:
            return state
        return zeros(x.shape[1], self.hidden_size, dtype=x.dtype, device=x.device)

    def _run_direction(self, x, state, layer, direction):
        """One layer in one direction: (outputs (T, B, H), final state)."""
        params = self._params(layer, direction)
        if getattr(self, "fused", False):      # the reverse direction runs on flipped time
            xd = x if direction == 0 else flip(x, 0)
            out, final = self._fused(xd, state, params)
            return (out if direction == 0 else flip(out, 0)), final
        steps = input_projection(x, params["weight_ih"], params["bias_ih"])
        if COLUMN_MAJOR_W_HH and len(steps) > 1:
            # W_hh stored column by column once per sequence, so that every step's h W_hh^T
            # reads a contiguous W_hh^T (the same values; see functional.column_major)
            params = dict(params, weight_hh=column_major(params["weight_hh"]))
        return scan(self._step(params), steps, state, reverse=direction == 1)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(_RNNBase):
    """The Elman RNN over a sequence: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    (eq-rnn; ``equations.rnn_step``).

    Arguments, shapes and parameter names as ``torch.nn.RNN``; see ``_RNNBase.forward``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, num_gates=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def _step(self, p):
        w_hh, b_hh, act = p["weight_hh"], p["bias_hh"], ACTIVATIONS[self.nonlinearity]
        return lambda gates_x, h_prev: (equations.rnn_step(gates_x, h_prev, w_hh, b_hh, act),)

    def extra_repr(self):
        s = super().extra_repr()
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class GRU(_RNNBase):
    """The GRU over a sequence (gates r, z, n; ``equations.gru_step``).

    Arguments, shapes and parameter names as ``torch.nn.GRU``; see ``_RNNBase.forward``.
    ``fused=True`` runs each layer and direction through ``kernels.gru_sequence``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, fused: bool = False):
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, num_gates=3, device=device, dtype=dtype)
        self.fused = bool(fused)
        self.reset_parameters()

    def _step(self, p):
        w_hh, b_hh = p["weight_hh"], p["bias_hh"]
        return lambda gates_x, h_prev: (equations.gru_step(gates_x, h_prev, w_hh, b_hh),)

    def _fused(self, x, state, p):
        out, h_n = _kernels().gru_sequence(x, state[0], p["weight_ih"], p["weight_hh"],
                                           p["bias_ih"], p["bias_hh"])
        return out, (h_n,)

    def extra_repr(self):
        return super().extra_repr() + (", fused=True" if self.fused else "")


class LSTM(_RNNBase):
    """The LSTM over a sequence, stacked and optionally bidirectional.

    Arguments, shapes and parameter names as ``torch.nn.LSTM``; ``forward(x, (h0, c0)=None)
    -> output, (h_n, c_n)`` (see ``_RNNBase.forward``). The keyword-only options choose a
    variant (see ``LSTMCell`` and ``LSTMVariant``); peephole weights are named
    ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` (+ ``_reverse``), for the gates
    present. ``fused=True`` runs each layer and direction through ``kernels.lstm_sequence``.

    Each time step runs ``equations.lstm_step``, the function ``LSTMCell.forward`` runs (for
    the standard LSTM: ``lstm_standard_step``, eq-lstm-cell).
    """

    _state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, forget_gate: bool = True, coupled: bool = False,
                 peephole: bool = False, gate_activation: str = "sigmoid",
                 candidate_activation: str = "tanh", cell_activation: str = "tanh",
                 input_gate: bool = True, output_gate: bool = True, cell_update: str = "add",
                 forget_bias: float = 0.0, fused: bool = False):
        variant = variant_from(
            "LSTM", forget_bias=forget_bias, bias=bias, fused=fused, forget_gate=forget_gate,
            coupled=coupled, peephole=peephole, gate_activation=gate_activation,
            candidate_activation=candidate_activation, cell_activation=cell_activation,
            input_gate=input_gate, output_gate=output_gate, cell_update=cell_update)
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, num_gates=variant.num_gates, device=device, dtype=dtype,
                         peephole_names=variant.peephole_names)
        self.variant, self.forget_bias, self.fused = variant, float(forget_bias), bool(fused)
        self.reset_parameters()

    def reset_parameters(self):
        D = 2 if self.bidirectional else 1
        reset_lstm_parameters(self, [("bias_ih", f"_l{k}" + ("_reverse" if d else ""))
                                     for k in range(self.num_layers) for d in range(D)])

    def _step(self, p):
        variant, w_hh, b_hh = self.variant, p["weight_hh"], p["bias_hh"]
        peepholes = ((p["weight_ci"], p["weight_cf"], p["weight_co"]) if variant.peephole
                     else None)
        return lambda gates_x, h_prev, c_prev: equations.lstm_step(
            variant, gates_x, h_prev, c_prev, w_hh, b_hh, peepholes)

    def _fused(self, x, state, p):
        out, h_n, c_n = _kernels().lstm_sequence(x, state[0], state[1], p["weight_ih"],
                                                 p["weight_hh"], p["bias_ih"], p["bias_hh"])
        return out, (h_n, c_n)

    def extra_repr(self):
        return lstm_extra_repr(super().extra_repr(), self)
