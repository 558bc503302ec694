"""Several independent recurrent models trained as one: the seeds of an experiment, stacked.

A sweep trains the same small model from several seeds. At a hidden size of 32 the cost of a
step is mostly the engine's per-operation overhead, not arithmetic, so S models that run as
S separate graphs cost S times the overhead. :class:`Stacked` keeps the S models' weights
along a new leading axis, ``weight_hh`` (S, G*H, H) and so on, and runs the library's own step
functions (``nn.rnn.lstm_step``, ``gru_step``, ``rnn_step``) once per time step on all of them:
every matrix product is a batched product over S slices, every element-wise operation is
element-wise anyway, so model s only ever sees its own weights, inputs and states. The loss is
the sum of the S models' losses, so each model's gradient is exactly the gradient it would get
alone; :func:`clip_grad_norm_per_model_` clips each model's gradient by its own norm, and Adam
and SGD work element by element. A test holds a stack equal to its models trained one by one.

Each model is first built as the library layer it stands for (``nn.LSTM(..., **variant)``,
``nn.GRU``, ``nn.RNN``) and a ``nn.Linear`` head, from its own seed, on the CPU (so the initial
weights are the same on every device), and :meth:`Stacked.unstack` gives those modules back
with the trained weights.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Tensor
from ..functional import full, matmul, split, stack, tensor, zeros
from ..nn import GRU, LSTM, RNN, Linear, init
from ..nn.module import Module, Parameter
from ..nn.rnn import _ACTIVATIONS, gru_step, lstm_step, rnn_step

KINDS = ("RNN", "IRNN", "GRU", "LSTM")


def build_layer(spec: dict, input_size: int, hidden_size: int, dtype=None, device="cpu"):
    """The library layer that ``spec`` describes, initialised from the current seed.

    spec: ``{"kind": "RNN", "nonlinearity": "tanh"}``; ``{"kind": "IRNN"}`` (a ReLU RNN whose
    recurrent weights start as the identity and biases at zero, Le et al. 2015; input weights
    keep the default initialisation); ``{"kind": "GRU"}``; ``{"kind": "LSTM", **options}``
    with the keyword options of ``nn.LSTM`` (variant and ``forget_bias``), and optionally
    ``"input_bias"``: a number added to the input-gate block of ``bias_ih`` after the
    initialisation (``-1`` starts a coupled LSTM's forget gate, ``1 - i``, at sigma(1), as
    ``forget_bias=1`` does for the standard one). A key ``"c0"`` (the initial cell state of the
    LSTM) is ignored here.
    """
    kind = spec.get("kind")
    options = {k: v for k, v in spec.items() if k not in ("kind", "c0", "input_bias")}
    if "input_bias" in spec:
        if kind != "LSTM":
            raise ValueError(f"input_bias is an option of the LSTM, not of {kind}")
        layer = LSTM(input_size, hidden_size, dtype=dtype, device=device, **options)
        if "i" not in layer.variant.gate_names or not layer.bias:
            raise ValueError("input_bias needs an input gate and biases")
        layer.bias_ih_l0.data[:hidden_size] += layer.bias_ih_l0.dtype.type(spec["input_bias"])
        return layer
    if kind == "RNN":
        return RNN(input_size, hidden_size, dtype=dtype, device=device, **options)
    if kind == "IRNN":
        if options:
            raise ValueError(f"IRNN takes no options, got {sorted(options)}")
        layer = RNN(input_size, hidden_size, nonlinearity="relu", dtype=dtype, device=device)
        init.eye_(layer.weight_hh_l0)
        init.zeros_(layer.bias_ih_l0)
        init.zeros_(layer.bias_hh_l0)
        return layer
    if kind == "GRU":
        return GRU(input_size, hidden_size, dtype=dtype, device=device, **options)
    if kind == "LSTM":
        return LSTM(input_size, hidden_size, dtype=dtype, device=device, **options)
    raise ValueError(f"spec['kind'] must be one of {KINDS}, got {kind!r}")


def _stacked_linear(x, weight, bias):
    """x (..., S or 1, N, in), weight (S, out, in), bias (S, out) -> (..., S, N, out), each
    model's slice its own x W^T + b."""
    y = matmul(x, weight.swapaxes(-1, -2))
    return y + bias.reshape(bias.shape[0], 1, bias.shape[1])


class Stacked(Module):
    """S independent models (a recurrent layer and a linear head each) run as one.

    Args:
        spec: the model (see :func:`build_layer`); for the LSTM ``"c0"`` sets the initial cell
            state (default 0; the multiplicative update needs a non-zero start).
        input_size, hidden_size, output_size: I, H and the head's output size.
        seeds: one seed per model; model s is initialised after ``lfs.manual_seed(seeds[s])``.
        dtype, device: of the stacked parameters.

    Parameters: the layer's own (``weight_ih`` (S, G*H, I), ``weight_hh`` (S, G*H, H),
    ``bias_ih``, ``bias_hh`` (S, G*H), peepholes (S, H)) and ``head_weight`` (S, out, H),
    ``head_bias`` (S, out).
    """

    def __init__(self, spec: dict, input_size: int, hidden_size: int, output_size: int,
                 seeds, dtype=None, device=None):
        super().__init__()
        self.spec = dict(spec)
        self.seeds = [int(s) for s in seeds]
        if not self.seeds:
            raise ValueError("Stacked: seeds must not be empty")
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.output_size = int(output_size)
        self.kind = self.spec.get("kind")
        device = backend.get_device() if device is None else device
        layers, heads = [], []
        for s in self.seeds:
            backend.manual_seed(s)
            layers.append(build_layer(self.spec, input_size, hidden_size, dtype=dtype))
            # on the CPU, like the layer: the weights must not depend on the device's RNG
            heads.append(Linear(hidden_size, output_size, dtype=dtype, device="cpu"))
        self.variant = getattr(layers[0], "variant", None)
        self.c0 = float(self.spec.get("c0", 0.0))
        self._names = []
        for name, _ in layers[0].named_parameters():
            short = name[:-len("_l0")]
            values = np.stack([dict(m.named_parameters())[name].numpy() for m in layers])
            setattr(self, short, Parameter(tensor(values, device=device)))
            self._names.append((short, name))
        for short, name in (("head_weight", "weight"), ("head_bias", "bias")):
            values = np.stack([dict(h.named_parameters())[name].numpy() for h in heads])
            setattr(self, short, Parameter(tensor(values, device=device)))
        self._layers, self._heads = layers, heads

    @property
    def num_models(self) -> int:
        return len(self.seeds)

    def num_parameters_per_model(self) -> int:
        """The parameter count of one model (layer and head)."""
        return sum(p.numel() for p in self.parameters()) // self.num_models

    def forward(self, x, every_step: bool = False, keep_states: bool = False):
        """Run the S models.

        x: (S, T, B, I), or (1, T, B, I) for the same input to every model.
        every_step: apply the head to every h_t (-> (S, T, B, out)) instead of the last one
            only (-> (S, B, out)).
        keep_states: also return the lists of h_t (and c_t for the LSTM), each (S, B, H), as
            recorded in the graph (for gradients with respect to the states).
        """
        if x.ndim != 4 or x.shape[-1] != self.input_size or x.shape[0] not in (1, self.num_models):
            raise ValueError(f"Stacked: expected input of shape ({self.num_models} or 1, T, B, "
                             f"{self.input_size}), got {x.shape}")
        S, H = self.num_models, self.hidden_size
        _, T, B, I = x.shape
        # the input part of the gates for all steps in one product, time-major (T, S, B, G),
        # so that each step's slice is one contiguous block
        gx = _stacked_linear(x.swapaxes(0, 1), self.weight_ih, self.bias_ih)
        steps = [piece.reshape(S, B, gx.shape[-1]) for piece in split(gx, 1, axis=0)] \
            if T > 1 else [gx.reshape(S, B, gx.shape[-1])]
        h = zeros(S, B, H, dtype=gx.dtype, device=gx.device)
        hs, cs = [], []
        if self.kind == "LSTM":
            c = full((S, B, H), self.c0, dtype=gx.dtype, device=gx.device)
            peepholes = None
            if self.variant.peephole:
                peepholes = tuple(getattr(self, p).reshape(S, 1, H) if hasattr(self, p) else None
                                  for p in ("weight_ci", "weight_cf", "weight_co"))
            for t in range(T):
                h, c = lstm_step(self.variant, steps[t], h, c, self.weight_hh, self.bias_hh,
                                 peepholes)
                hs.append(h)
                cs.append(c)
        elif self.kind == "GRU":
            for t in range(T):
                h = gru_step(steps[t], h, self.weight_hh, self.bias_hh)
                hs.append(h)
        else:
            act = _ACTIVATIONS["relu" if self.kind == "IRNN" else
                               self.spec.get("nonlinearity", "tanh")]
            for t in range(T):
                h = rnn_step(steps[t], h, self.weight_hh, self.bias_hh, act)
                hs.append(h)
        if every_step:
            seq = stack(hs, axis=1).reshape(S, T * B, H)
            out = _stacked_linear(seq, self.head_weight, self.head_bias)
            out = out.reshape(S, T, B, self.output_size)
        else:
            out = _stacked_linear(h, self.head_weight, self.head_bias)
        if keep_states:
            return out, (hs, cs)
        return out

    def unstack(self):
        """The S models as library modules ``[(layer, head), ...]`` holding the current
        weights (NumPy copies, on the CPU)."""
        models = []
        for s in range(self.num_models):
            layer = build_layer(self.spec, self.input_size, self.hidden_size,
                                dtype=self.weight_hh.dtype)
            layer.load_state_dict({name: getattr(self, short).numpy()[s]
                                   for short, name in self._names})
            head = Linear(self.hidden_size, self.output_size, dtype=self.weight_hh.dtype,
                          device="cpu")
            head.load_state_dict({"weight": self.head_weight.numpy()[s],
                                  "bias": self.head_bias.numpy()[s]})
            models.append((layer, head))
        return models


def clip_grad_norm_per_model_(parameters, max_norm: float):
    """``nn.utils.clip_grad_norm_`` applied to each model of a stack on its own.

    parameters: Tensors whose first axis is the model (S, ...). Model s's gradient (its
    slices of every gradient) is multiplied by ``min(1, max_norm / (norm_s + 1e-6))`` (PyTorch's
    formula). Returns the S norms before clipping, a NumPy array.
    """
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return np.zeros(0)
    xp = backend.get_array_module(params[0].grad.data)
    S = params[0].shape[0]
    squares = sum((p.grad.data.reshape(S, -1) ** 2).sum(axis=1) for p in params)
    norms = xp.sqrt(squares)
    coef = xp.minimum(float(max_norm) / (norms + 1e-6), 1.0).astype(params[0].grad.dtype)
    for p in params:
        g = p.grad.data
        # a new array: a gradient array may be shared with someone who kept it
        p.grad.data = g * coef.reshape((S,) + (1,) * (g.ndim - 1))
    return backend.to_numpy(norms)


def per_model_norms(grads):
    """grads: a list of (S, B, H) Tensors or arrays (e.g. dL/dh_t for each t) -> (len, S)
    NumPy array of each model's Frobenius norm over (B, H)."""
    out = []
    for g in grads:
        a = g.data if isinstance(g, Tensor) else g
        xp = backend.get_array_module(a)
        out.append(backend.to_numpy(xp.sqrt((a.reshape(a.shape[0], -1) ** 2).sum(axis=1))))
    return np.array(out)


__all__ = ["KINDS", "Stacked", "build_layer", "clip_grad_norm_per_model_", "per_model_norms"]
