"""What the fused LSTM and GRU share: argument checks, the node's bookkeeping (which inputs were
passed, sequence or single step), the backward preamble, and the public wrappers.

A subclass (``LSTMFused``, ``GRUFused``) sets the class attributes ``gates`` (4 or 3),
``state_names`` (("h0", "c0") or ("h0",)) and ``ops`` (the names of its sequence and cell
functions, for error messages), and implements two methods on raw arrays:

* ``_forward(a)``: ``a`` maps the input names to arrays (absent inputs are missing; ``x`` is
  always (T, B, I), a single step has T = 1). Returns the sequence outputs
  (output (T, B, H), then the final states).
* ``_backward(a, need, h_bar, d_out, c_bar)``: ``h_bar`` (and for the LSTM ``c_bar``) are
  private copies of the adjoints of the final states, ``d_out`` the adjoint of the output
  (None for a single step). Returns {input name: gradient} for the inputs in ``need``.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ._workspace import Workspace

_VECTORS = {}


def block_vector(xp, values, H, dtype):
    """The vector (len(values) * H,) whose k-th block of H entries is values[k] (cached).

    On the GPU the cache is per CUDA device: the vector is made on the current device, where
    the kernels that use it run (CuPy allocates there too), and a vector of another device
    would be read across devices (slow, or refused without peer access).
    """
    device = None if xp is np else xp.cuda.get_device_id()
    key = (xp.__name__, device, values, H, np.dtype(dtype).str)
    v = _VECTORS.get(key)
    if v is None:
        if len(_VECTORS) > 64:
            _VECTORS.clear()
        v = xp.repeat(xp.asarray(values, dtype=dtype), H)
        _VECTORS[key] = v
    return v


def check_args(op, x, states, weight_ih, weight_hh, bias_ih, bias_hh, gates, x_ndim):
    """Validate the arguments of a fused kernel; returns the list of (name, Tensor) inputs
    that are not None, in order. ``states``: [(name, Tensor or None)]."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: x must be a Tensor, got {type(x).__name__}")
    named = [("x", x), *states, ("weight_ih", weight_ih), ("weight_hh", weight_hh),
             ("bias_ih", bias_ih), ("bias_hh", bias_hh)]
    present = []
    for name, t in named:
        if t is None:
            if name in ("weight_ih", "weight_hh"):
                raise TypeError(f"{op}: {name} must be a Tensor, got None")
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: {name} must be a Tensor (or None), got {type(t).__name__}")
        present.append((name, t))
    dt = x.dtype
    if dt.kind != "f":
        raise TypeError(f"{op}: x must have a floating-point dtype, got {dt}")
    for name, t in present:
        if t.dtype != dt:
            raise TypeError(f"{op}: {name} has dtype {t.dtype} but x has dtype {dt}; the library "
                            f"never promotes silently: convert with .to(dtype=lfs.{dt})")
    if x.ndim != x_ndim:
        want = "(T, B, I)" if x_ndim == 3 else "(B, I)"
        raise ValueError(f"{op}: x must have shape {want}, got {x.shape}")
    if weight_hh.ndim != 2 or weight_hh.shape[0] != gates * weight_hh.shape[1]:
        raise ValueError(f"{op}: weight_hh must have shape ({gates}*H, H), got {weight_hh.shape}")
    H = weight_hh.shape[1]
    I, B = x.shape[-1], x.shape[-2]
    if weight_ih.shape != (gates * H, I):
        raise ValueError(f"{op}: weight_ih must have shape ({gates * H}, {I}) = ({gates}*H, I) "
                         f"for H={H} and x of shape {x.shape}, got {weight_ih.shape}")
    for name, t in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if t is not None and t.shape != (gates * H,):
            raise ValueError(f"{op}: {name} must have shape ({gates * H},), got {t.shape}")
    for name, t in states:
        if t is not None and t.shape != (B, H):
            raise ValueError(f"{op}: {name} must have shape (B, H) = ({B}, {H}), got {t.shape}")
    return present


class FusedRecurrence(Function):
    """One node for a whole recurrence (``seq=True``) or one cell step (``seq=False``).

    ``names`` lists which of x, the initial states, weight_ih, weight_hh, bias_ih, bias_hh
    were passed, in that order (the others are None: zero states, no bias). What the forward
    keeps for the backward lives in ``self.ws`` (a ``Workspace``: its buffers go back to the
    pool when the engine frees this node) and in attributes set by ``_forward``.
    """

    gates = None
    state_names = ()
    ops = ("", "")

    def __init__(self, names, seq):
        self.names = tuple(names)
        self.seq = seq

    @property
    def op(self):
        return self.ops[0] if self.seq else self.ops[1]

    def forward(self, *arrays):
        a = dict(zip(self.names, arrays))
        if not self.seq:
            a["x"] = a["x"][None]
        self.ws = Workspace(self.xp)
        outs = self._forward(a)
        if self.seq:
            return outs
        return tuple(s for s in outs[1:]) if len(outs) > 2 else outs[1]

    def backward(self, *grads):
        if any(isinstance(g, Tensor) for g in grads):
            raise NotImplementedError(
                f"{self.op}: the fused kernel's backward is first-order only and cannot "
                "record a graph of its gradient (create_graph=True); use the primitive path "
                "(fused=False in lfs.nn) for higher-order gradients")
        d_out, d_states = (grads[0], grads[1:]) if self.seq else (None, grads)
        xp = self.xp
        need = dict(zip(self.names, self.needs_input_grad))
        a = dict(zip(self.names, self.saved_inputs()))
        dt = a["x"].dtype
        # private, writable copies: the loops update the carried adjoints in place
        bars = [xp.array(g, dtype=dt, copy=True) for g in d_states]
        if xp is not np and d_out is not None:
            d_out = xp.ascontiguousarray(d_out)          # the CUDA kernels index it by hand
        out = self._backward(a, need, d_out, *bars)
        return tuple(out.get(n) for n in self.names)

    def cuda_d_out(self, d_out, shape, dtype):
        """The (T, B, H) output adjoint as the CUDA kernels read it: zeros for a cell step."""
        return self.xp.zeros(shape, dtype) if d_out is None else d_out

    @classmethod
    def apply(cls, seq, x, states, weight_ih, weight_hh, bias_ih, bias_hh):
        """The public wrappers: check, drop the absent inputs, record one node.
        ``states``: [(the argument's name as the caller knows it, Tensor or None)]."""
        op = cls.ops[0] if seq else cls.ops[1]
        present = check_args(op, x, states, weight_ih, weight_hh, bias_ih, bias_hh, cls.gates,
                             3 if seq else 2)
        names, tensors = zip(*present)
        alias = {s[0]: n for s, n in zip(states, cls.state_names)}
        names = tuple(alias.get(n, n) for n in names)
        return cls(names, seq)(*tensors)


def sum_bias(b_ih, b_hh):
    """b_ih + b_hh, either of which may be absent."""
    if b_ih is None:
        return b_hh
    if b_hh is None:
        return b_ih
    return b_ih + b_hh
