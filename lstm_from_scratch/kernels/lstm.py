"""The fused LSTM: ``lstm_sequence`` (T steps) and ``lstm_cell`` (one step), each ONE node.

The equations are chapter 5's, with its symbols (PyTorch's layout: gate blocks i, f, g, o in
the rows of the weights). Forward, ``eq-bptt-preact`` and ``eq-bptt-cell`` (= chapter 4's
``eq-lstm-cell``)::

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh          (B, 4H) = [a^i a^f a^g a^o]
    i_t, f_t, o_t = sigma(a^i, a^f, a^o);   g_t = tanh(a^g)
    c_t = f_t c_{t-1} + i_t g_t;            h_t = o_t tanh(c_t)

Backward through time (``h_bar``: everything that reaches h_t, from the output and from step
t+1; ``c_bar``: what reaches c_t from step t+1), ``eq-bptt-o`` to ``eq-bptt-weights``::

    c_bar_t   = c_bar_t^next + h_bar_t o_t (1 - tanh^2 c_t)                      eq-bptt-c
    delta^o_t = h_bar_t tanh(c_t) o_t (1 - o_t)                              eq-bptt-o, -delta
    delta^i_t = c_bar_t g_t i_t (1 - i_t);   delta^f_t = c_bar_t c_{t-1} f_t (1 - f_t)
    delta^g_t = c_bar_t i_t (1 - g_t^2);     c_bar_{t-1}^next = c_bar_t f_t     eq-bptt-fig
    h_bar_{t-1}^next = delta_t W_hh;         x_bar_t = delta_t W_ih            eq-bptt-hprev
    W_ih_bar = sum_t delta_t^T x_t;  W_hh_bar = sum_t delta_t^T h_{t-1};  b_bar = sum_t delta_t

Every factor that multiplies h_bar_t or c_bar_t above depends on the forward pass only, so it
is computed for all T at once before the backward loop (``_factors``): K = [K_i K_f K_g K_o
K_c] = [g i(1-i), c_{t-1} f(1-f), i(1-g^2), tanh(c) o(1-o), o(1-tanh^2 c)]. What remains in the
loop is one product with W_hh and a few element-wise calls (CPU) or one kernel (GPU) per step.

Buffers (``self.ws``, see _workspace.py), one set per call:

* ``A`` (T, B, 4H), time-major [i f g o]: receives the input projection of all T steps (one
  product) and is activated in place step by step, one contiguous (B, 4H) row per step.
* ``TC`` (T, B, H): tanh(c_t). ``Hs`` (T+1, B, H), ``Cs`` (T+1, B, H): the states, h_0 and c_0
  first. The output is ``Hs[1:]``, so ``Hs`` is the output's own array, not a pooled one.
* ``G`` (4, T, B, H) and ``K`` (5, T, B, H), gate-major: the activations are copied gate-major
  once before the backward loop, so the factors are computed on contiguous blocks; G[1] = f_t
  is the carry of c_bar.
* ``Delta`` (T, B, 4H): delta_t of every step, so that x_bar, W_ih_bar, W_hh_bar and b_bar are
  single products (and one sum) over T*B rows after the loop (``eq-bptt-weights``).

One transcendental pass for all four gates: the weights are multiplied by powers of two
(exact) before the input projection, so that one ``tanh`` (or one ``exp``) over the whole row
gives every gate: sigma(a) = (1 + tanh(a/2)) / 2 with the rows of i, f, o halved, or
sigma(a) = 1 / (1 + e^-a) and tanh(a) = 2 sigma(2a) - 1 with the rows multiplied by -1 and -2
(``_forward_loop_numpy``; ``_cpu.SIGMOID_VIA_TANH`` picks the faster on this CPU; the CUDA
kernel uses the exp form). exp overflows to inf where a < -88 (float32): 1/(1+inf) = 0 is the
right sigmoid, so the overflow warning is silenced for the loop (cheaper than clipping).
"""
from __future__ import annotations

import numpy as np

from .. import cpu as _cpu
from . import _cuda
from ._base import FusedRecurrence, block_vector, sum_bias

_SCALE_EXP = (-1.0, -1.0, -2.0, -1.0)   # i, f, g, o: the buffer holds -a and -2 a^g
_SCALE_TANH = (0.5, 0.5, 1.0, 0.5)      # i, f, g, o: the buffer holds a/2 and a^g


class LSTMFused(FusedRecurrence):
    """The whole LSTM recurrence (``seq=True``: outputs output, h_n, c_n) or one cell step
    (``seq=False``: outputs h_new, c_new) as one node; ``names``: which of x, h0, c0,
    weight_ih, weight_hh, bias_ih, bias_hh are passed, in that order."""

    gates = 4
    state_names = ("h0", "c0")
    ops = ("lstm_sequence", "lstm_cell")

    # ---- forward: eq-bptt-preact, eq-bptt-cell ------------------------------------------------
    def _forward(self, a):
        xp, ws = self.xp, self.ws
        x, W_ih, W_hh = a["x"], a["weight_ih"], a["weight_hh"]
        h0, c0 = a.get("h0"), a.get("c0")
        b = sum_bias(a.get("bias_ih"), a.get("bias_hh"))
        T, B, I = x.shape
        H = W_hh.shape[1]
        dt = x.dtype
        via_tanh = _cpu.SIGMOID_VIA_TANH and xp is np
        s = block_vector(xp, _SCALE_TANH if via_tanh else _SCALE_EXP, H, dt)
        A = ws.empty((T, B, 4 * H), dt, xp)
        xf = x.reshape(T * B, I)
        if T > 1:
            # scale the weights once (exact), not the pre-activations every step
            W_ih_s = ws.empty(W_ih.shape, dt, xp)
            xp.multiply(W_ih, s[:, None], out=W_ih_s)
            W_hh_sT = ws.empty((H, 4 * H), dt, xp)
            xp.multiply(W_hh.T, s, out=W_hh_sT)
            xp.matmul(xf, W_ih_s.T, out=A.reshape(T * B, 4 * H))    # all T steps at once
            if b is not None:
                xp.add(A, b * s, out=A)
        else:
            # one step: the whole pre-activation now, then scaled (cheaper than scaling weights)
            a0 = xf @ W_ih.T
            if h0 is not None:
                a0 += h0 @ W_hh.T
            if b is not None:
                a0 += b
            xp.multiply(a0, s, out=A[0])
            W_hh_sT = None
        TC = ws.empty((T, B, H), dt, xp)
        Hs = xp.empty((T + 1, B, H), dt)            # the output's own array (not pooled)
        Cs = ws.empty((T + 1, B, H), dt, xp)
        Hs[0] = 0 if h0 is None else h0
        Cs[0] = 0 if c0 is None else c0
        skip_first = h0 is None          # h_0 = 0: no recurrent product at t = 0
        if xp is not np:
            _forward_loop_cuda(A, TC, Hs, Cs, W_hh_sT, skip_first)
        else:
            _forward_loop_numpy(A, TC, Hs, Cs, W_hh_sT, skip_first, via_tanh)
        self.A, self.TC, self.Hs, self.Cs, self.K, self.x = A, TC, Hs, Cs, None, xf
        return Hs[1:], Hs[T].copy(), Cs[T].copy()

    # ---- backward: eq-bptt-o ... eq-bptt-weights ----------------------------------------------
    def _factors(self):
        """K (5, T, B, H) = [K_i K_f K_g K_o K_c] for all T at once (module docstring). The
        activations are first copied gate-major, G (4, T, B, H), so that the fifteen calls run
        on contiguous blocks (NumPy iterates a strided (T, B, H) slice row by row: several
        times slower). Runs once (also with retain_graph=True); G[1] = f_t carries c_bar."""
        if self.K is not None:
            return
        xp, A, TC, Cs = self.xp, self.A, self.TC, self.Cs
        T, B, H4 = A.shape
        H = H4 // 4
        G = self.ws.empty((4, T, B, H), A.dtype, xp)
        xp.copyto(G, A.reshape(T, B, 4, H).transpose(2, 0, 1, 3))
        i, f, g, o = G
        K = self.ws.empty((5,) + TC.shape, A.dtype, xp)
        K_i, K_f, K_g, K_o, K_c = K
        mul, sub = xp.multiply, xp.subtract
        sub(1, i, out=K_i)
        mul(K_i, i, out=K_i)
        mul(K_i, g, out=K_i)                 # g i (1 - i)
        sub(1, f, out=K_f)
        mul(K_f, f, out=K_f)
        mul(K_f, Cs[:-1], out=K_f)           # c_{t-1} f (1 - f)
        mul(g, g, out=K_g)
        sub(1, K_g, out=K_g)
        mul(K_g, i, out=K_g)                 # i (1 - g^2)
        sub(1, o, out=K_o)
        mul(K_o, o, out=K_o)
        mul(K_o, TC, out=K_o)                # tanh(c) o (1 - o)
        mul(TC, TC, out=K_c)
        sub(1, K_c, out=K_c)
        mul(K_c, o, out=K_c)                 # o (1 - tanh^2 c)
        self.K, self.A, self.TC = K, G, None      # only f (and the factors) are needed now

    def _backward(self, a, need, d_out, h_bar, c_bar):
        xp = self.xp
        # the arrays this node kept itself must not have been written in place since forward
        self.check_saved(self.x, self.Hs, self.Cs, what="an input or output this node kept")
        self._factors()
        K, Hs = self.K, self.Hs
        _, T, B, H = K.shape
        need_h0 = need.get("h0", False)
        if xp is np:
            Delta = _backward_loop_numpy(self.ws, K, self.A, a["weight_hh"], d_out, h_bar,
                                         c_bar, need_h0)
        else:
            Delta = _backward_loop_cuda(K, self.A, a["weight_hh"],
                                        self.cuda_d_out(d_out, (T, B, H), K.dtype), h_bar,
                                        c_bar, need_h0)
        # delta_t of every step is known: the rest are single products over T*B rows
        D = Delta.reshape(T * B, 4 * H)
        out = {}
        if need["x"]:
            x_bar = xp.matmul(D, a["weight_ih"])
            # (T, B, I) by name, not -1: B may be 0
            out["x"] = x_bar.reshape(T, B, x_bar.shape[-1]) if self.seq else x_bar
        if need["weight_ih"]:
            out["weight_ih"] = xp.matmul(D.T, self.x)
        if need["weight_hh"]:
            out["weight_hh"] = xp.matmul(D.T, Hs[:-1].reshape(T * B, H))
        if need.get("bias_ih") or need.get("bias_hh"):
            out["bias_ih"] = out["bias_hh"] = D.sum(axis=0)
        if need_h0:
            out["h0"] = h_bar
        if need.get("c0"):
            out["c0"] = c_bar
        return out


def _forward_loop_numpy(A, TC, Hs, Cs, W_hh_sT, skip_first, via_tanh):
    """eq-bptt-cell for t = 1..T, in place: A[t] holds the scaled a_t and becomes [i f g o].

    Two exact ways to get all four gates from one transcendental pass over the contiguous
    (B, 4H) row (see ``_cpu.SIGMOID_VIA_TANH`` for which is faster on this CPU):

    * tanh: the buffer holds [a^i/2, a^f/2, a^g, a^o/2]; ``tanh``, ``* [.5 .5 1 .5]``,
      ``+ [.5 .5 0 .5]`` give sigma(a) = (1 + tanh(a/2)) / 2 and tanh(a^g);
    * exp: it holds [-a^i, -a^f, -2a^g, -a^o]; ``exp``, ``+ 1``, ``[1 1 2 1] / .``,
      ``+ [0 0 -1 0]`` give sigma(a) = 1 / (1 + e^-a) and tanh(a) = 2 sigma(2a) - 1.

    One call over all 4H columns is cheaper than a call per strided gate block; the constants
    are arrays (a Python-scalar operand costs a conversion in every call).
    """
    T, B, H4 = A.shape
    H = H4 // 4
    dt = A.dtype
    A_i, A_f, A_g, A_o = (A[:, :, k * H:(k + 1) * H] for k in range(4))
    gh = np.empty((B, 4 * H), dt)
    ig = np.empty((B, H), dt)
    if via_tanh:
        scale = block_vector(np, (0.5, 0.5, 1.0, 0.5), H, dt)
        shift = block_vector(np, (0.5, 0.5, 0.0, 0.5), H, dt)
    else:
        scale = block_vector(np, (1.0, 1.0, 2.0, 1.0), H, dt)
        shift = block_vector(np, (0.0, 0.0, -1.0, 0.0), H, dt)
    one = np.ones((), dt)
    exp, add, div, mul, tanh, matmul = np.exp, np.add, np.divide, np.multiply, np.tanh, np.matmul
    with np.errstate(over="ignore"):     # exp(-a) = inf for very negative a: sigma = 0
        for t in range(T):
            a_t = A[t]
            if W_hh_sT is not None and (t or not skip_first):
                matmul(Hs[t], W_hh_sT, out=gh)
                add(a_t, gh, out=a_t)
            if via_tanh:
                tanh(a_t, out=a_t)
                mul(a_t, scale, out=a_t)
            else:
                exp(a_t, out=a_t)
                add(a_t, one, out=a_t)
                div(scale, a_t, out=a_t)
            add(a_t, shift, out=a_t)                 # i, f, g, o
            c_t = Cs[t + 1]
            mul(A_f[t], Cs[t], out=c_t)
            mul(A_i[t], A_g[t], out=ig)
            add(c_t, ig, out=c_t)                    # c_t = f c_{t-1} + i g
            tanh(c_t, out=TC[t])
            mul(A_o[t], TC[t], out=Hs[t + 1])        # h_t = o tanh(c_t)


def _forward_loop_cuda(A, TC, Hs, Cs, W_hh_sT, skip_first):
    """The same loop with the element-wise work of a step as one CUDA kernel."""
    import cupy as cp
    T, B, H4 = A.shape
    H = H4 // 4
    kernel = _cuda.lstm_forward()
    gh = cp.zeros((B, 4 * H), A.dtype)
    h32 = np.int32(H)
    for t in range(T):
        if W_hh_sT is not None and (t or not skip_first):
            cp.matmul(Hs[t], W_hh_sT, out=gh)     # (t = 0 without it: gh stays zero)
        kernel(gh, Cs[t], h32, A[t], TC[t], Cs[t + 1], Hs[t + 1], size=B * H)


def _backward_loop_numpy(ws, K, G, W_hh, d_out, h_bar_next, c_bar, need_h0):
    """eq-bptt-c, -delta, -fig, -hprev for t = T..1; returns Delta (T, B, 4H). ``h_bar_next``
    and ``c_bar`` are updated in place and end as the adjoints of h_0 and c_0."""
    _, T, B, H = K.shape
    Delta = ws.empty((T, B, 4 * H), K.dtype)
    Delta4 = Delta.reshape(T, B, 4, H)
    K_ifg, K_o, K_c, F = K[:3], K[3], K[4], G[1]
    h_bar = np.empty((B, H), K.dtype)
    tmp = np.empty((B, H), K.dtype)
    add, mul, matmul = np.add, np.multiply, np.matmul
    for t in range(T - 1, -1, -1):
        if d_out is not None:
            add(d_out[t], h_bar_next, out=h_bar)             # h_bar_t
            hb = h_bar
        else:
            hb = h_bar_next
        delta = Delta4[t]
        mul(hb, K_o[t], out=delta[:, 3])                     # delta^o
        mul(hb, K_c[t], out=tmp)
        add(c_bar, tmp, out=c_bar)                           # c_bar_t
        mul(c_bar, K_ifg[:, t], out=delta[:, :3].transpose(1, 0, 2))   # delta^i, ^f, ^g
        mul(c_bar, F[t], out=c_bar)                          # c_bar_{t-1}^next = c_bar_t f_t
        if t or need_h0:
            matmul(Delta[t], W_hh, out=h_bar_next)           # h_bar_{t-1}^next
    return Delta


def _backward_loop_cuda(K, G, W_hh, d_out, h_bar_next, c_bar, need_h0):
    """The same loop with the element-wise work of a step as one CUDA kernel."""
    import cupy as cp
    _, T, B, H = K.shape
    kernel = _cuda.lstm_backward()
    Delta = cp.empty((T, B, 4 * H), K.dtype)
    h32, S = np.int32(H), np.int64(T * B * H)
    for t in range(T - 1, -1, -1):
        kernel(K, G, d_out, h_bar_next, h32, S, np.int64(t * B * H), Delta[t], c_bar,
               size=B * H)
        if t or need_h0:
            cp.matmul(Delta[t], W_hh, out=h_bar_next)
    return Delta


def lstm_sequence(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The LSTM over a whole sequence as one autograd node (eq-bptt-cell for every step).

    Args:
        x: (T, B, I), time-major.
        h0, c0: (B, H) initial states, or None for zeros.
        weight_ih: (4H, I), weight_hh: (4H, H), bias_ih, bias_hh: (4H,) or None; PyTorch's
            layout, gate blocks i, f, g, o.
    Returns:
        output (T, B, H) (h_t of every step), h_n (B, H), c_n (B, H).
    """
    return LSTMFused.apply(True, x, [("h0", h0), ("c0", c0)], weight_ih, weight_hh, bias_ih,
                           bias_hh)


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step (chapter 4's eq-lstm-cell) as one autograd node: x (B, I), h, c (B, H)
    (or None for zeros) -> (h_new, c_new), both (B, H). Weights as in ``lstm_sequence``."""
    return LSTMFused.apply(False, x, [("h", h), ("c", c)], weight_ih, weight_hh, bias_ih,
                           bias_hh)
