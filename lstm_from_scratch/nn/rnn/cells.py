"""The recurrent cells: one time step of the Elman RNN, the GRU and the LSTM
(``RNNCell``, ``GRUCell``, ``LSTMCell``), with PyTorch's names, shapes and defaults.

Each cell checks its input, computes the input projection ``x W_ih^T + b_ih`` and hands it to
the step function of ``equations.py`` that the sequence layers run too.
"""
from __future__ import annotations

from ...functional import zeros
from ..module import Module
from ..parameter import empty_parameter
from . import equations
from .checks import check_input_size, check_sizes, check_tensor, unbatch, unpack_states
from .equations import ACTIVATIONS, affine
from .parameters import lstm_extra_repr, reset_lstm_parameters, reset_uniform
from .variant import variant_from


def _kernels():
    """The fused kernels, imported on first use (they are optional at import time)."""
    from ... import kernels
    return kernels


class _CellBase(Module):
    """Parameters and input checks shared by the three cells."""

    def __init__(self, input_size, hidden_size, bias, *, num_gates, device=None, dtype=None):
        super().__init__()
        check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        G = num_gates * self.hidden_size
        self.weight_ih = empty_parameter((G, self.input_size), dtype, device)
        self.weight_hh = empty_parameter((G, self.hidden_size), dtype, device)
        if bias:
            self.bias_ih = empty_parameter((G,), dtype, device)
            self.bias_hh = empty_parameter((G,), dtype, device)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self):
        reset_uniform(self)

    def _check_input(self, x, hx, state_names):
        """x as (B, I), every state as (B, H) (zeros when hx is None), and whether the input
        was unbatched."""
        name = type(self).__name__
        check_tensor(name, "input", x, self.weight_ih)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input of 1 (unbatched: (I,)) or 2 (batched: "
                             f"(B, I)) dimensions, got shape {x.shape}")
        check_input_size(name, x, self.input_size)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, self.input_size)
        B, H = x.shape[0], self.hidden_size
        if hx is None:
            return x, [zeros(B, H, dtype=x.dtype, device=x.device) for _ in state_names], unbatched
        states = unpack_states(name, "hx", hx, state_names)
        expected = (H,) if unbatched else (B, H)
        out = []
        for s_name, s in zip(state_names, states):
            check_tensor(name, s_name, s, self.weight_ih)
            if s.shape != expected:
                raise ValueError(f"{name}: expected {s_name} of shape {expected}, got {s.shape}")
            out.append(s.reshape(1, H) if unbatched else s)
        return x, out, unbatched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s


class RNNCell(_CellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu (eq-rnn).

    forward(x, h=None): x (B, I) or (I,); h (B, H) or (H,), zeros if None -> h' (B, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} "
                             "(expected 'tanh' or 'relu')")
        super().__init__(input_size, hidden_size, bias, num_gates=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def forward(self, x, hx=None):
        x, (h_prev,), unbatched = self._check_input(x, hx, ["h"])
        gates_x = affine(x, self.weight_ih, self.bias_ih)
        h_t = equations.rnn_step(gates_x, h_prev, self.weight_hh, self.bias_hh,
                                 ACTIVATIONS[self.nonlinearity])
        return unbatch(h_t, unbatched)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class GRUCell(_CellBase):
    """The gated recurrent unit (Cho et al. 2014), PyTorch's formulation, gates r, z, n
    (the equations: ``equations.gru_step``).

    forward(x, h=None): x (B, I) or (I,); h (B, H) or (H,), zeros if None -> h'.
    ``fused=True`` computes it with ``kernels.gru_cell``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, *, fused: bool = False):
        super().__init__(input_size, hidden_size, bias, num_gates=3, device=device, dtype=dtype)
        self.fused = bool(fused)
        self.reset_parameters()

    def forward(self, x, hx=None):
        x, (h_prev,), unbatched = self._check_input(x, hx, ["h"])
        if self.fused:
            h_t = _kernels().gru_cell(x, h_prev, self.weight_ih, self.weight_hh, self.bias_ih,
                                      self.bias_hh)
        else:
            gates_x = affine(x, self.weight_ih, self.bias_ih)
            h_t = equations.gru_step(gates_x, h_prev, self.weight_hh, self.bias_hh)
        return unbatch(h_t, unbatched)

    def extra_repr(self):
        return super().extra_repr() + (", fused=True" if self.fused else "")


class LSTMCell(_CellBase):
    """The LSTM cell: one time step of the six equations (eq-lstm-cell), gate order i, f, g, o.

    Args:
        input_size (I), hidden_size (H), bias: as ``torch.nn.LSTMCell``.
        forget_gate, coupled, peephole, gate_activation, candidate_activation,
        cell_activation, input_gate, output_gate, cell_update: the variant (see
        ``LSTMVariant``); the defaults are the standard LSTM.
        forget_bias: added to the forget-gate block of ``bias_ih`` at initialisation
            (Jozefowicz et al. 2015 recommend 1.0).
        fused: compute the step with ``kernels.lstm_cell`` (standard variant only).

    Parameters: weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh (G*H,), G = 4 blocks
    i, f, g, o less those of absent gates; with peepholes weight_ci, weight_cf, weight_co (H,)
    of the gates present, initialised to zero.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, *, forget_gate: bool = True, coupled: bool = False,
                 peephole: bool = False, gate_activation: str = "sigmoid",
                 candidate_activation: str = "tanh", cell_activation: str = "tanh",
                 input_gate: bool = True, output_gate: bool = True, cell_update: str = "add",
                 forget_bias: float = 0.0, fused: bool = False):
        variant = variant_from(
            "LSTMCell", forget_bias=forget_bias, bias=bias, fused=fused, forget_gate=forget_gate,
            coupled=coupled, peephole=peephole, gate_activation=gate_activation,
            candidate_activation=candidate_activation, cell_activation=cell_activation,
            input_gate=input_gate, output_gate=output_gate, cell_update=cell_update)
        super().__init__(input_size, hidden_size, bias, num_gates=variant.num_gates,
                         device=device, dtype=dtype)
        self.variant, self.forget_bias, self.fused = variant, float(forget_bias), bool(fused)
        for p_name in variant.peephole_names:
            setattr(self, p_name, empty_parameter((self.hidden_size,), dtype, device))
        self.reset_parameters()

    def reset_parameters(self):
        reset_lstm_parameters(self, [("bias_ih", "")])

    def forward(self, x, hx=None):
        """One time step.

        x: (B, I), or (I,) unbatched; hx = (h, c), each (B, H) or (H,); zeros when None.
        Returns (h_t, c_t), each (B, H) or (H,).
        """
        x, (h_prev, c_prev), unbatched = self._check_input(x, hx, ["h", "c"])
        if self.fused:
            h_t, c_t = _kernels().lstm_cell(x, h_prev, c_prev, self.weight_ih, self.weight_hh,
                                            self.bias_ih, self.bias_hh)
        else:
            gates_x = affine(x, self.weight_ih, self.bias_ih)       # x_t W_ih^T + b_ih
            h_t, c_t = equations.lstm_step(self.variant, gates_x, h_prev, c_prev,
                                           self.weight_hh, self.bias_hh, self._peepholes())
        return unbatch(h_t, unbatched), unbatch(c_t, unbatched)

    def _peepholes(self):
        """(w_ci, w_cf, w_co) for a peephole LSTM (None for a gate without weights), else None."""
        if not self.variant.peephole:
            return None
        return tuple(self._parameters.get(p) for p in ("weight_ci", "weight_cf", "weight_co"))

    def extra_repr(self):
        return lstm_extra_repr(super().extra_repr(), self)
