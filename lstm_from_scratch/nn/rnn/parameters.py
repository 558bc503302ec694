"""The parameters of the recurrent cells and layers: initialisation and the LSTM's repr."""
from __future__ import annotations

import math

from ...autograd import increment_version
from .. import init


def reset_uniform(module):
    """Every parameter from U(-1/sqrt(H), 1/sqrt(H)), as PyTorch's recurrent layers."""
    k = 1.0 / math.sqrt(module.hidden_size)
    for p in module.parameters():
        init.uniform_(p, -k, k)


def reset_lstm_parameters(module, bias_names):
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


def lstm_extra_repr(s, module):
    """The repr of an LSTM cell or layer: ``s`` and the options that differ from PyTorch's."""
    options = module.variant.non_default()
    if module.forget_bias:
        options.append(f"forget_bias={module.forget_bias}")
    if module.fused:
        options.append("fused=True")
    return ", ".join([s] + options)
