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
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields

import numpy as np

from .. import backend
from ..autograd import Function, Tensor, _as_dtype, increment_version
from ..functional import (chunk, concat, linear, matmul, relu, sigmoid, split, stack, tanh,
                          zeros)
from . import functional as F
from . import init
from .module import Module, Parameter


def _identity(x):
    return x


_ACTIVATIONS = {"sigmoid": sigmoid, "tanh": tanh, "relu": relu, "identity": _identity}


def _affine(x, weight, bias):
    """x W^T + b as one node (``linear``); x: (B, in), weight: (out, in), bias: (out,) or
    None -> (B, out). ``LSTMCell.forward`` writes the same product out symbol by symbol.

    A weight of shape (S, out, in) is a stack of S independent models (the experiments train
    several seeds as one, ``experiments.stacked``): then x is (S, B, in), bias (S, out) or None,
    and the result (S, B, out) is each model's own product."""
    if weight.ndim == 3:
        y = matmul(x, weight.swapaxes(-1, -2))
        return y if bias is None else y + bias.reshape(bias.shape[0], 1, bias.shape[1])
    return linear(x, weight, bias)


# ---- the variants of the LSTM --------------------------------------------------------------------
@dataclass(frozen=True)
class LSTMVariant:
    """Which LSTM: the defaults are the standard LSTM (PyTorch's).

    Attributes:
        forget_gate: False gives the original LSTM of Hochreiter & Schmidhuber (1997):
            f_t = 1, so c_t = c_{t-1} + i_t * g_t. There are no forget-gate weights.
        coupled: f_t = 1 - i_t (write exactly as much as is forgotten). There are no
            forget-gate weights.
        peephole: Gers & Schmidhuber (2000): i_t and f_t also see c_{t-1}, o_t sees c_t,
            through diagonal weights ``weight_ci``, ``weight_cf``, ``weight_co`` of shape (H,).
        gate_activation: the squashing of i, f, o ("sigmoid", "tanh", "relu", "identity").
        candidate_activation: the squashing of the candidate g_t.
        cell_activation: the squashing of c_t in h_t = o_t * act(c_t).
        input_gate: False gives i_t = 1, so the candidate is written in full at every step
            (the "no input gate" variant of Greff et al. 2017). There are no input-gate weights.
        output_gate: False gives o_t = 1, so h_t = act(c_t) (the "no output gate" variant of
            Greff et al. 2017). There are no output-gate weights.
        cell_update: "add" (c_t = f_t * c_{t-1} + i_t * g_t) or "multiply"
            (c_t = (f_t * c_{t-1}) * (i_t * g_t): the kept memory and the new content
            multiplied instead of added; from c_0 = 0 it stays 0, so start it elsewhere).
    """

    forget_gate: bool = True
    coupled: bool = False
    peephole: bool = False
    gate_activation: str = "sigmoid"
    candidate_activation: str = "tanh"
    cell_activation: str = "tanh"
    output_gate: bool = True
    cell_update: str = "add"
    input_gate: bool = True

    def __post_init__(self):
        for name in ("gate_activation", "candidate_activation", "cell_activation"):
            value = getattr(self, name)
            if value not in _ACTIVATIONS:
                raise ValueError(f"{name} must be one of {sorted(_ACTIVATIONS)}, got {value!r}")
        if self.coupled and not self.forget_gate:
            raise ValueError("coupled=True defines the forget gate as 1 - i_t; it cannot be "
                             "combined with forget_gate=False")
        if self.coupled and not self.input_gate:
            raise ValueError("coupled=True defines the forget gate as 1 - i_t; it cannot be "
                             "combined with input_gate=False")
        if self.cell_update not in ("add", "multiply"):
            raise ValueError(f"cell_update must be 'add' or 'multiply', got {self.cell_update!r}")

    @property
    def has_forget_weights(self) -> bool:
        """Whether the gate blocks include f (else they are i, g[, o])."""
        return self.forget_gate and not self.coupled

    @property
    def gate_names(self) -> tuple:
        """The blocks of the weights, in order: ("i", "f", "g", "o") less the absent gates."""
        return tuple(k for k, present in (("i", self.input_gate), ("f", self.has_forget_weights),
                                          ("g", True), ("o", self.output_gate)) if present)

    @property
    def num_gates(self) -> int:
        return len(self.gate_names)

    @property
    def peephole_names(self) -> tuple:
        """The peephole weights of this variant ("weight_ci", ...), empty without peepholes."""
        if not self.peephole:
            return ()
        return tuple(f"weight_c{k}" for k in self.gate_names if k != "g")

    @property
    def is_standard(self) -> bool:
        return self == LSTMVariant()

    def non_default(self) -> list:
        """``["peephole=True", ...]``: the options that differ from the standard LSTM."""
        return [f"{f.name}={getattr(self, f.name)!r}" if isinstance(getattr(self, f.name), str)
                else f"{f.name}={getattr(self, f.name)}"
                for f in fields(self) if getattr(self, f.name) != f.default]


def lstm_step(variant, gates_x, h, c, weight_hh, bias_hh, peepholes=None):
    """One LSTM step of any variant, from the input projection ``gates_x = x W_ih^T + b_ih``.

    gates_x: (B, G*H); h, c: (B, H); peepholes: (w_ci, w_cf or None, w_co or None), each
    (H,), or None. Returns (h_t, c_t), each (B, H). For the standard variant these are the
    primitives of ``LSTMCell.forward``, applied in the same order, so both give the same
    numbers. (A stack of S models: gates_x (S, B, G*H), h, c (S, B, H), weight_hh (S, G*H, H),
    bias_hh (S, G*H), peepholes (S, 1, H); see ``_affine``.)
    """
    gate = _ACTIVATIONS[variant.gate_activation]
    candidate = _ACTIVATIONS[variant.candidate_activation]
    squash = _ACTIVATIONS[variant.cell_activation]
    gates = gates_x + _affine(h, weight_hh, bias_hh)
    if variant.is_standard:
        i_t, f_t, g_t, o_t = chunk(gates, 4, axis=-1)
    else:
        blocks = dict(zip(variant.gate_names, chunk(gates, variant.num_gates, axis=-1)))
        i_t, f_t, g_t, o_t = (blocks.get(k) for k in "ifgo")
    if peepholes is not None:                   # the input and forget gates look at c_{t-1}
        w_ci, w_cf, w_co = peepholes
        if i_t is not None:
            i_t = i_t + w_ci * c
        if f_t is not None:
            f_t = f_t + w_cf * c
    if i_t is not None:
        i_t = gate(i_t)
    if f_t is not None:
        f_t = gate(f_t)
    g_t = candidate(g_t)
    if variant.coupled:
        f_t = 1 - i_t
    keep = c if f_t is None else f_t * c       # f_t is None: 1997, nothing is ever forgotten
    write = g_t if i_t is None else i_t * g_t  # i_t is None: no input gate, i_t = 1
    if variant.cell_update == "add":
        c_t = keep + write
    else:                                       # the new content rescales the memory
        c_t = keep * write
    if o_t is None:                             # no output gate: o_t = 1
        return squash(c_t), c_t
    if peepholes is not None:                   # the output gate looks at the new cell c_t
        o_t = o_t + w_co * c_t
    o_t = gate(o_t)
    h_t = o_t * squash(c_t)
    return h_t, c_t


def gru_step(gates_x, h, weight_hh, bias_hh):
    """One GRU step (PyTorch's formulation: r multiplies W_hn h + b_hn).

    gates_x = x W_ih^T + b_ih: (B, 3H); h: (B, H) -> h_t: (B, H).
    """
    r_x, z_x, n_x = chunk(gates_x, 3, axis=-1)
    r_h, z_h, n_h = chunk(_affine(h, weight_hh, bias_hh), 3, axis=-1)
    r_t = sigmoid(r_x + r_h)                    # reset gate
    z_t = sigmoid(z_x + z_h)                    # update gate
    n_t = tanh(n_x + r_t * n_h)                 # candidate state
    return (1 - z_t) * n_t + z_t * h


def rnn_step(gates_x, h, weight_hh, bias_hh, activation):
    """h_t = act(x W_ih^T + b_ih + h W_hh^T + b_hh); gates_x: (B, H), h: (B, H) -> (B, H)."""
    return activation(gates_x + _affine(h, weight_hh, bias_hh))


class _FlipTime(Function):
    """x[::-1] along the first (time) axis, as a contiguous array: a fused kernel may assume
    C order."""

    def forward(self, x):
        return self.xp.ascontiguousarray(x[::-1])

    def backward(self, gy):
        return gy[::-1]


def _flip_time(x):
    return _FlipTime()(x)


def _kernels():
    """The fused kernels, imported on first use (they are optional at import time)."""
    from .. import kernels
    return kernels


def _new_parameter(shape, dtype, device) -> Parameter:
    dt = _as_dtype(dtype) or np.dtype(np.float32)
    if dt.kind != "f":
        raise TypeError(f"parameters must have a floating-point dtype, got {dt}")
    xp = backend.xp_for(backend._parse_device(device))
    return Parameter(xp.empty(shape, dtype=dt))


def _check_sizes(name, input_size, hidden_size):
    for arg, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")


def _unpack_states(name, what, hx, state_names):
    """``hx`` as a list of one tensor per name in ``state_names``: (h, c) for the LSTM, h
    alone otherwise; the one wording of a wrongly packed state, for cells and layers."""
    if len(state_names) == 1:
        return [hx]
    if not isinstance(hx, (tuple, list)):
        raise TypeError(f"{name}: {what} must be a tuple ({', '.join(state_names)}), "
                        f"got {type(hx).__name__}")
    if len(hx) != len(state_names):
        raise ValueError(f"{name}: expected {what} as ({', '.join(state_names)}), "
                         f"got {len(hx)} tensors")
    return list(hx)


def _check_input_size(name, x, input_size):
    """The one wording of a wrong input size, for cells and sequence layers alike."""
    if x.shape[-1] != input_size:
        raise ValueError(f"{name}: expected input of size {input_size} in the last "
                         f"dimension, got {x.shape[-1]}")


def _check_tensor(name, what, t, like):
    """A clear error when ``t`` is not a Tensor of ``like``'s dtype and device; the advice
    names only conversions that exist."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
    if t.dtype != like.dtype:
        if t.dtype.kind != "f":
            raise TypeError(
                f"{name}: {what} has dtype {t.dtype} but the layer computes in {like.dtype}; "
                f"a recurrent layer takes floating-point input: convert it with "
                f"{what}.to(lfs.{like.dtype}) (token ids go through an nn.Embedding first)")
        raise TypeError(f"{name}: {what} has dtype {t.dtype} but the parameters are {like.dtype}; "
                        f"convert the model with .to(lfs.{t.dtype}) or the {what} with "
                        f".to(lfs.{like.dtype})")
    if t.device != like.device:
        raise RuntimeError(f"{name}: {what} is on device '{t.device}' but the parameters are on "
                           f"'{like.device}'; move one of them with .to()")


def _variant_from(name, forget_gate, coupled, peephole, gate_activation, candidate_activation,
                  cell_activation, forget_bias, bias, fused, output_gate=True, cell_update="add",
                  input_gate=True):
    v = LSTMVariant(forget_gate, coupled, peephole, gate_activation, candidate_activation,
                    cell_activation, output_gate, cell_update, input_gate)
    if forget_bias and not v.has_forget_weights:
        raise ValueError(f"{name}: forget_bias={forget_bias} needs a forget gate with its own "
                         f"weights, but this LSTM has {', '.join(v.non_default())}")
    if forget_bias and not bias:
        raise ValueError(f"{name}: forget_bias={forget_bias} needs bias=True")
    if fused and not v.is_standard:
        raise ValueError(f"{name}: fused=True implements the standard LSTM only, got "
                         f"{', '.join(v.non_default())}; use fused=False for the variants")
    return v


# ---- cells: one time step ---------------------------------------------------------------------
class _CellBase(Module):
    """Parameters and input checks shared by the three cells."""

    def __init__(self, input_size, hidden_size, bias, num_gates, device=None, dtype=None):
        super().__init__()
        _check_sizes(type(self).__name__, input_size, hidden_size)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        G = num_gates * self.hidden_size
        self.weight_ih = _new_parameter((G, self.input_size), dtype, device)
        self.weight_hh = _new_parameter((G, self.hidden_size), dtype, device)
        if bias:
            self.bias_ih = _new_parameter((G,), dtype, device)
            self.bias_hh = _new_parameter((G,), dtype, device)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self):
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _check_input(self, x, hx, state_names):
        """x as (B, I), every state as (B, H) (zeros when hx is None), and whether the input
        was unbatched."""
        name = type(self).__name__
        _check_tensor(name, "input", x, self.weight_ih)
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input of 1 (unbatched: (I,)) or 2 (batched: "
                             f"(B, I)) dimensions, got shape {x.shape}")
        _check_input_size(name, x, self.input_size)
        unbatched = x.ndim == 1
        if unbatched:
            x = x.reshape(1, self.input_size)
        B, H = x.shape[0], self.hidden_size
        if hx is None:
            return x, [zeros(B, H, dtype=x.dtype, device=x.device) for _ in state_names], unbatched
        states = _unpack_states(name, "hx", hx, state_names)
        expected = (H,) if unbatched else (B, H)
        out = []
        for s_name, s in zip(state_names, states):
            _check_tensor(name, s_name, s, self.weight_ih)
            if s.shape != expected:
                raise ValueError(f"{name}: expected {s_name} of shape {expected}, got {s.shape}")
            out.append(s.reshape(1, H) if unbatched else s)
        return x, out, unbatched

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        return s


def _unbatch(t, unbatched):
    return t.reshape(t.shape[1:]) if unbatched else t


class RNNCell(_CellBase):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.

    forward(x, h=None): x (B, I) or (I,); h (B, H) or (H,), zeros if None -> h' (B, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r} "
                             "(expected 'tanh' or 'relu')")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def forward(self, x, hx=None):
        x, (h,), unbatched = self._check_input(x, hx, ["h"])
        gates_x = _affine(x, self.weight_ih, self.bias_ih)
        h_t = rnn_step(gates_x, h, self.weight_hh, self.bias_hh, _ACTIVATIONS[self.nonlinearity])
        return _unbatch(h_t, unbatched)

    def extra_repr(self):
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class GRUCell(_CellBase):
    """The gated recurrent unit (Cho et al. 2014), PyTorch's formulation, gates r, z, n:

        r = σ(W_ir x + b_ir + W_hr h + b_hr)       z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))    h' = (1 - z) ⊙ n + z ⊙ h

    forward(x, h=None): x (B, I) or (I,); h (B, H) or (H,), zeros if None -> h'.
    ``fused=True`` computes it with ``kernels.gru_cell``.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, *, fused: bool = False):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)
        self.fused = bool(fused)
        self.reset_parameters()

    def forward(self, x, hx=None):
        x, (h,), unbatched = self._check_input(x, hx, ["h"])
        if self.fused:
            h_t = _kernels().gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih,
                                      self.bias_hh)
        else:
            h_t = gru_step(_affine(x, self.weight_ih, self.bias_ih), h, self.weight_hh,
                           self.bias_hh)
        return _unbatch(h_t, unbatched)

    def extra_repr(self):
        return super().extra_repr() + (", fused=True" if self.fused else "")


class LSTMCell(_CellBase):
    """The LSTM cell: one time step of the six equations, in the gate order i, f, g, o.

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
        variant = _variant_from("LSTMCell", forget_gate, coupled, peephole, gate_activation,
                                candidate_activation, cell_activation, forget_bias, bias, fused,
                                output_gate, cell_update, input_gate)
        super().__init__(input_size, hidden_size, bias, variant.num_gates, device, dtype)
        self.variant, self.forget_bias, self.fused = variant, float(forget_bias), bool(fused)
        for p_name in variant.peephole_names:
            setattr(self, p_name, _new_parameter((self.hidden_size,), dtype, device))
        self.reset_parameters()

    def reset_parameters(self):
        _reset_lstm_parameters(self, [("bias_ih", "")])

    def forward(self, x, hx=None):
        """One time step.

        x: (B, I), or (I,) unbatched; hx = (h, c), each (B, H) or (H,); zeros when None.
        Returns (h_t, c_t), each (B, H) or (H,).
        """
        x, (h_prev, c_prev), unbatched = self._check_input(x, hx, ["h", "c"])
        if self.fused or not self.bias or not self.variant.is_standard:
            h_t, c_t = self._forward_general(x, h_prev, c_prev)
        else:
            gates_x = x @ self.weight_ih.T + self.bias_ih
            gates_h = h_prev @ self.weight_hh.T + self.bias_hh
            i_t, f_t, g_t, o_t = chunk(gates_x + gates_h, 4, axis=-1)
            i_t = sigmoid(i_t)              # input gate: how much of g_t to write
            f_t = sigmoid(f_t)              # forget gate: how much of c_prev to keep
            g_t = tanh(g_t)                 # candidate values
            o_t = sigmoid(o_t)              # output gate: how much of the cell to show
            c_t = f_t * c_prev + i_t * g_t
            h_t = o_t * tanh(c_t)
        return _unbatch(h_t, unbatched), _unbatch(c_t, unbatched)

    def _forward_general(self, x, h, c):
        """The fused kernel, or a variant / bias=False through ``lstm_step``."""
        if self.fused:
            return _kernels().lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih,
                                        self.bias_hh)
        peepholes = None
        if self.variant.peephole:
            peepholes = tuple(getattr(self, p, None) for p in ("weight_ci", "weight_cf", "weight_co"))
        gates_x = _affine(x, self.weight_ih, self.bias_ih)
        return lstm_step(self.variant, gates_x, h, c, self.weight_hh, self.bias_hh, peepholes)

    def extra_repr(self):
        return _lstm_extra_repr(super().extra_repr(), self)


def _reset_lstm_parameters(module, bias_names):
    """U(-1/sqrt(H), 1/sqrt(H)) for the weights and biases, zeros for the peepholes (a
    peephole LSTM starts as the plain LSTM drawn from the same seed), then the forget-gate
    bias added to the forget block of each ``bias_ih`` (its second block of H rows, the first
    without input gate)."""
    H = module.hidden_size
    f = module.variant.gate_names.index("f") if module.forget_bias else 0
    k = 1.0 / math.sqrt(H)
    for name, p in module.named_parameters():
        if name.startswith(("weight_ci", "weight_cf", "weight_co")):
            init.zeros_(p)
        else:
            init.uniform_(p, -k, k)
    if module.forget_bias:
        for prefix, suffix in bias_names:
            p = getattr(module, prefix + suffix)
            p.data[f * H:(f + 1) * H] += p.dtype.type(module.forget_bias)
            increment_version(p)


def _lstm_extra_repr(s, module):
    options = module.variant.non_default()
    if module.forget_bias:
        options.append(f"forget_bias={module.forget_bias}")
    if module.fused:
        options.append("fused=True")
    return ", ".join([s] + options)


# ---- sequence layers ---------------------------------------------------------------------------
class _RNNBase(Module):
    """Stacked, optionally bidirectional recurrence over a whole sequence.

    Subclasses define ``_state_names`` (("h",) or ("h", "c")), the number of gate blocks and
    ``_run_direction``.
    """

    _state_names = ("h",)

    def __init__(self, mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                 bidirectional, num_gates, device, dtype, peephole_names=()):
        super().__init__()
        name = type(self).__name__
        _check_sizes(name, input_size, hidden_size)
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
        self.mode = mode
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
                setattr(self, names[0], _new_parameter((G, layer_input), dtype, device))
                setattr(self, names[1], _new_parameter((G, H), dtype, device))
                if bias:
                    names += [f"bias_ih{sfx}", f"bias_hh{sfx}"]
                    setattr(self, names[2], _new_parameter((G,), dtype, device))
                    setattr(self, names[3], _new_parameter((G,), dtype, device))
                for p in peephole_names:
                    names.append(p + sfx)
                    setattr(self, p + sfx, _new_parameter((H,), dtype, device))
                self._all_weights.append(names)

    @property
    def all_weights(self):
        """Parameters per layer and direction, as PyTorch's ``all_weights``."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def reset_parameters(self):
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -k, k)

    def _params(self, layer, direction):
        sfx = f"_l{layer}" + ("_reverse" if direction else "")
        get = lambda n: self._parameters.get(n + sfx)       # noqa: E731 (None when absent)
        return get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh"), sfx

    # -- input handling ----------------------------------------------------------------------
    def _check_input(self, x, hx):
        """x as time-major (T, B, I); the initial states as lists of (B, H) tensors per
        layer and direction (None when not given); whether x was unbatched."""
        name = type(self).__name__
        _check_tensor(name, "input", x, self.weight_ih_l0)
        if x.ndim not in (2, 3):
            layout = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"{name}: expected input of 2 (unbatched: (T, I)) or 3 (batched: "
                             f"{layout}) dimensions, got shape {x.shape}")
        _check_input_size(name, x, self.input_size)
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
        states = _unpack_states(name, "the initial state", hx, names)
        expected = (LD, H) if unbatched else (LD, B, H)
        per_state = []
        for s_name, s in zip(names, states):
            _check_tensor(name, s_name, s, self.weight_ih_l0)
            if s.shape != expected:
                hint = " (unbatched input takes unbatched states)" if len(s.shape) != len(expected) else ""
                raise ValueError(f"{name}: expected {s_name} of shape {expected}, got {s.shape}{hint}")
            if unbatched:
                s = s.reshape(LD, 1, H)
            per_state.append(s)
        return x, per_state, unbatched

    def forward(self, x, hx=None):
        """Run the whole sequence.

        x: (T, B, I), or (B, T, I) with batch_first, or unbatched (T, I).
        hx: the initial state, (L*D, B, H) (unbatched: (L*D, H)), zeros when None; for the
            LSTM a pair (h0, c0). L = num_layers, D = 2 if bidirectional else 1.
        Returns output (T, B, D*H) (batch_first: (B, T, D*H); unbatched: (T, D*H)) and the
        final state h_n (L*D, B, H) (for the LSTM the pair (h_n, c_n)); the rows of h_n are
        ordered layer by layer, forward direction first.
        """
        x, states0, unbatched = self._check_input(x, hx)
        D = 2 if self.bidirectional else 1
        finals = [[] for _ in self._state_names]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(D):
                k = layer * D + direction
                initial = [None if s is None else s[k] for s in states0]
                out, last = self._run_direction(layer_input, initial, layer, direction)
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

    @staticmethod
    def _input_projection(x, weight_ih, bias_ih):
        """The input part of the gates for all T steps as one matrix product, cut into T
        pieces: x (T, B, I) -> T tensors (B, G)."""
        T, B, _ = x.shape
        gx = _affine(x.reshape(T * B, x.shape[2]), weight_ih, bias_ih)
        if T == 1:
            return (gx,)
        # pieces of B rows; with an empty batch (B = 0) as T empty pieces, as PyTorch's
        # layers accept it
        return split(gx, B if B else [0] * T, axis=0)

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
    """The Elman RNN over a sequence: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh).

    Arguments, shapes and parameter names as ``torch.nn.RNN``; see ``_RNNBase.forward``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r} (expected 'tanh' or 'relu')")
        super().__init__("RNN_" + nonlinearity.upper(), input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, 1, device, dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def _run_direction(self, x, initial, layer, direction):
        w_ih, w_hh, b_ih, b_hh, _ = self._params(layer, direction)
        act = _ACTIVATIONS[self.nonlinearity]
        steps = self._input_projection(x, w_ih, b_ih)
        h = self._initial(initial[0], x)
        outs = [None] * len(steps)
        for t in (range(len(steps)) if direction == 0 else reversed(range(len(steps)))):
            h = outs[t] = rnn_step(steps[t], h, w_hh, b_hh, act)
        return stack(outs, axis=0), [h]

    def extra_repr(self):
        s = super().extra_repr()
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class GRU(_RNNBase):
    """The GRU over a sequence (gates r, z, n; see ``GRUCell``).

    Arguments, shapes and parameter names as ``torch.nn.GRU``; see ``_RNNBase.forward``.
    ``fused=True`` runs each layer and direction through ``kernels.gru_sequence``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, fused: bool = False):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 3, device, dtype)
        self.fused = bool(fused)
        self.reset_parameters()

    def _run_direction(self, x, initial, layer, direction):
        w_ih, w_hh, b_ih, b_hh, _ = self._params(layer, direction)
        h = self._initial(initial[0], x)
        if self.fused:
            xd = x if direction == 0 else _flip_time(x)
            out, h_n = _kernels().gru_sequence(xd, h, w_ih, w_hh, b_ih, b_hh)
            return (out if direction == 0 else _flip_time(out)), [h_n]
        steps = self._input_projection(x, w_ih, b_ih)
        outs = [None] * len(steps)
        for t in (range(len(steps)) if direction == 0 else reversed(range(len(steps)))):
            h = outs[t] = gru_step(steps[t], h, w_hh, b_hh)
        return stack(outs, axis=0), [h]

    def extra_repr(self):
        return super().extra_repr() + (", fused=True" if self.fused else "")


class LSTM(_RNNBase):
    """The LSTM over a sequence, stacked and optionally bidirectional.

    Arguments, shapes and parameter names as ``torch.nn.LSTM``; ``forward(x, (h0, c0)=None)
    -> output, (h_n, c_n)`` (see ``_RNNBase.forward``). The keyword-only options choose a
    variant (see ``LSTMCell`` and ``LSTMVariant``); peephole weights are named
    ``weight_ci_l{k}``, ``weight_cf_l{k}``, ``weight_co_l{k}`` (+ ``_reverse``), for the gates
    present.
    ``fused=True`` runs each layer and direction through ``kernels.lstm_sequence``.

    Each layer computes the input part of the gates for all T steps as one matrix product,
    then runs the recurrence step by step with the cell's equations (``lstm_step``).
    """

    _state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, forget_gate: bool = True, coupled: bool = False,
                 peephole: bool = False, gate_activation: str = "sigmoid",
                 candidate_activation: str = "tanh", cell_activation: str = "tanh",
                 input_gate: bool = True, output_gate: bool = True, cell_update: str = "add",
                 forget_bias: float = 0.0, fused: bool = False):
        variant = _variant_from("LSTM", forget_gate, coupled, peephole, gate_activation,
                                candidate_activation, cell_activation, forget_bias, bias, fused,
                                output_gate, cell_update, input_gate)
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, variant.num_gates, device, dtype, variant.peephole_names)
        self.variant, self.forget_bias, self.fused = variant, float(forget_bias), bool(fused)
        self.reset_parameters()

    def reset_parameters(self):
        D = 2 if self.bidirectional else 1
        _reset_lstm_parameters(self, [("bias_ih", f"_l{k}" + ("_reverse" if d else ""))
                                      for k in range(self.num_layers) for d in range(D)])

    def _run_direction(self, x, initial, layer, direction):
        w_ih, w_hh, b_ih, b_hh, sfx = self._params(layer, direction)
        h, c = self._initial(initial[0], x), self._initial(initial[1], x)
        if self.fused:
            xd = x if direction == 0 else _flip_time(x)
            out, h_n, c_n = _kernels().lstm_sequence(xd, h, c, w_ih, w_hh, b_ih, b_hh)
            return (out if direction == 0 else _flip_time(out)), [h_n, c_n]
        peepholes = None
        if self.variant.peephole:
            peepholes = tuple(self._parameters.get(p + sfx)
                              for p in ("weight_ci", "weight_cf", "weight_co"))
        steps = self._input_projection(x, w_ih, b_ih)
        outs = [None] * len(steps)
        for t in (range(len(steps)) if direction == 0 else reversed(range(len(steps)))):
            h, c = lstm_step(self.variant, steps[t], h, c, w_hh, b_hh, peepholes)
            outs[t] = h
        return stack(outs, axis=0), [h, c]

    def extra_repr(self):
        return _lstm_extra_repr(super().extra_repr(), self)
