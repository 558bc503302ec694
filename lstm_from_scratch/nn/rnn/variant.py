"""Which LSTM: ``LSTMVariant``, the options of chapter 8's ablations, and their checks."""
from __future__ import annotations

from dataclasses import dataclass, fields
from functools import cached_property

from .equations import ACTIVATIONS


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
            if value not in ACTIVATIONS:
                raise ValueError(f"{name} must be one of {sorted(ACTIVATIONS)}, got {value!r}")
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

    @cached_property
    def is_standard(self) -> bool:
        """Whether this is the standard LSTM (eq-lstm-cell); computed once (every step asks)."""
        return self == LSTMVariant()

    def non_default(self) -> list:
        """``["peephole=True", ...]``: the options that differ from the standard LSTM."""
        return [f"{f.name}={getattr(self, f.name)!r}" if isinstance(getattr(self, f.name), str)
                else f"{f.name}={getattr(self, f.name)}"
                for f in fields(self) if getattr(self, f.name) != f.default]


def variant_from(name, *, forget_bias, bias, fused, **options):
    """The ``LSTMVariant`` of an ``LSTMCell``/``LSTM``'s keyword ``options`` (its fields), with
    the checks of the arguments that only the layer knows (``forget_bias`` needs a forget block
    and a bias, ``fused`` the standard LSTM); ``name`` is the class, for the error messages."""
    v = LSTMVariant(**options)
    if forget_bias and not v.has_forget_weights:
        raise ValueError(f"{name}: forget_bias={forget_bias} needs a forget gate with its own "
                         f"weights, but this LSTM has {', '.join(v.non_default())}")
    if forget_bias and not bias:
        raise ValueError(f"{name}: forget_bias={forget_bias} needs bias=True")
    if fused and not v.is_standard:
        raise ValueError(f"{name}: fused=True implements the standard LSTM only, got "
                         f"{', '.join(v.non_default())}; use fused=False for the variants")
    return v
