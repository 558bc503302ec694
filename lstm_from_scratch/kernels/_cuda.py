"""CUDA sources of the fused LSTM and GRU steps (CuPy ElementwiseKernels), compiled on first use.

Each kernel is one thread per (batch row b, hidden unit j), i = b * H + j, and does the whole
element-wise work of one time step: the forward kernels read the gate pre-activations and write
the activations, the new cell and the new hidden state; the backward kernels read the factors
prepared after the forward pass and write the gate gradients of the step and the carried state
gradient. The buffers and their layouts are the ones the NumPy path uses (see lstm.py, gru.py),
so the two paths compute the same quantities in the same places. Every argument is ``raw``
(indexed by hand) and C-contiguous; the launch passes ``size=B*H``.

The LSTM kernels compute chapter 5's equations (eq-bptt-cell forward; eq-bptt-c, eq-bptt-delta,
eq-bptt-fig backward) with its symbols. Sign conventions shared with the NumPy path's exp form:
the pre-activation buffers hold -a for sigmoid gates and -2a for the LSTM's g gate (the weights
were pre-multiplied), so sigma(a) = 1 / (1 + exp(-a)) and tanh(a) = 2 / (1 + exp(-2a)) - 1.
exp overflows to inf for very negative a, which gives exactly 0 for the sigmoid, as it should.
"""
from __future__ import annotations

_KERNELS = {}

# a (B, 4H): [a_i a_f a_g a_o] of step t in (x-part of the pre-activations, bias included),
# [i f g o] out (in place); gh (B, 4H): h_{t-1} (W_hh scaled)^T, the recurrent part;
# tc, c, h (B, H): out.
_LSTM_FORWARD = r"""
const ptrdiff_t b = i / H, j = i % H;
const ptrdiff_t r4 = b * 4 * H;
const T one = 1, two = 2;
const T ai = a[r4 + j] + gh[r4 + j];                 // -a^i_t (eq-bptt-preact, scaled)
const T af = a[r4 + H + j] + gh[r4 + H + j];         // -a^f_t
const T ag = a[r4 + 2 * H + j] + gh[r4 + 2 * H + j]; // -2 a^g_t
const T ao = a[r4 + 3 * H + j] + gh[r4 + 3 * H + j]; // -a^o_t
const T i_t = one / (one + exp(ai));                 // eq-bptt-cell
const T f_t = one / (one + exp(af));
const T g_t = two / (one + exp(ag)) - one;
const T o_t = one / (one + exp(ao));
const T c_t = f_t * cprev[i] + i_t * g_t;
const T tanh_c = tanh(c_t);
a[r4 + j] = i_t;
a[r4 + H + j] = f_t;
a[r4 + 2 * H + j] = g_t;
a[r4 + 3 * H + j] = o_t;
tc[i] = tanh_c;
c[i] = c_t;
h[i] = o_t * tanh_c;
"""

# k: the whole (5, T, B, H) gate-major buffer of factors [K_i K_f K_g K_o K_c]; a: the
# (4, T, B, H) gate-major activations (f_t = a[S + p] is the carry of dc); S = T*B*H is the
# gate stride and off = t*B*H the step. dout: the whole (T, B, H)
# gradient of the output; dhrec (B, H): dL/dh_t from step t+1; dc (B, H): dL/dc_t from step t+1
# in, dc_t f_t out (carried to step t-1); dz (B, 4H): the gate gradients of step t.
_LSTM_BACKWARD = r"""
const ptrdiff_t b = i / H, j = i % H;
const ptrdiff_t r4 = b * 4 * H, p = off + i;
const T h_bar = dout[p] + dhrec[i];                  // everything reaching h_t
const T c_bar = dc[i] + h_bar * k[4 * S + p];        // eq-bptt-c
dz[r4 + j] = c_bar * k[p];                           // delta^i (eq-bptt-delta)
dz[r4 + H + j] = c_bar * k[S + p];                   // delta^f
dz[r4 + 2 * H + j] = c_bar * k[2 * S + p];           // delta^g
dz[r4 + 3 * H + j] = h_bar * k[3 * S + p];           // delta^o
dc[i] = c_bar * a[S + p];                            // c_bar_t f_t, to step t-1 (eq-bptt-fig)
"""

# a (B, 3H): [a_n | -z_r -z_z] x-parts in, [n | r z] out (in place);
# gh (B, 3H): [-z_r -z_z | W_hn h]
# h-parts, the n block gets + b_hn in place (saved for the backward); h: the new hidden state.
_GRU_FORWARD = r"""
const ptrdiff_t b = i / H, j = i % H;
const ptrdiff_t r3 = b * 3 * H;
const T one = 1;
const T hn = gh[r3 + 2 * H + j] + bhn[j];
gh[r3 + 2 * H + j] = hn;
const T rg = one / (one + exp(a[r3 + H + j] + gh[r3 + j]));
const T zg = one / (one + exp(a[r3 + 2 * H + j] + gh[r3 + H + j]));
const T ng = tanh(a[r3 + j] + rg * hn);
a[r3 + j] = ng;
a[r3 + H + j] = rg;
a[r3 + 2 * H + j] = zg;
h[i] = ng + zg * (hprev[i] - ng);
"""

# k (B, 5H): [K_n K_r K_z K_h | z] of the step; dout, dhrec as for the LSTM; dhz: dh_{t+1} z_{t+1}
# in (the direct path of h through h' = (1-z) n + z h), dh_t z_t out;
# d (B, 4H): [dz_n dz_r dz_z dhn].
_GRU_BACKWARD = r"""
const ptrdiff_t b = i / H, j = i % H;
const ptrdiff_t rk = b * 5 * H, rd = b * 4 * H;
const T dh = dout[i] + dhrec[i] + dhz[i];
d[rd + j] = dh * k[rk + j];
d[rd + H + j] = dh * k[rk + H + j];
d[rd + 2 * H + j] = dh * k[rk + 2 * H + j];
d[rd + 3 * H + j] = dh * k[rk + 3 * H + j];
dhz[i] = dh * k[rk + 4 * H + j];
"""

_SPECS = {
    "lstm_forward": ("raw T gh, raw T cprev, int32 H", "raw T a, raw T tc, raw T c, raw T h",
                     _LSTM_FORWARD),
    "lstm_backward": ("raw T k, raw T a, raw T dout, raw T dhrec, int32 H, int64 S, int64 off",
                      "raw T dz, raw T dc", _LSTM_BACKWARD),
    "gru_forward": ("raw T bhn, raw T hprev, int32 H", "raw T a, raw T gh, raw T h",
                    _GRU_FORWARD),
    "gru_backward": ("raw T k, raw T dout, raw T dhrec, int32 H", "raw T d, raw T dhz",
                     _GRU_BACKWARD),
}


def _kernel(name):
    k = _KERNELS.get(name)
    if k is None:
        import cupy as cp
        in_params, out_params, body = _SPECS[name]
        k = cp.ElementwiseKernel(in_params, out_params, body, "lfs_" + name)
        _KERNELS[name] = k
    return k


def lstm_forward():
    """kernel(gh, cprev, H, a, tc, c, h, size=B*H)"""
    return _kernel("lstm_forward")


def lstm_backward():
    """kernel(k, a, dout, dhrec, H, S, off, dz, dc, size=B*H)"""
    return _kernel("lstm_backward")


def gru_forward():
    """kernel(bhn, hprev, H, a, gh, h, size=B*H)"""
    return _kernel("gru_forward")


def gru_backward():
    """kernel(k, dout, dhrec, H, d, dhz, size=B*H)"""
    return _kernel("gru_backward")
