"""The fused LSTM: ``lstm_sequence`` (T steps) and ``lstm_cell`` (one step), each ONE node.

Equations (PyTorch's layout: gate blocks i, f, g, o in the rows of the weights)::

    z_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh            (B, 4H) = [z_i z_f z_g z_o]
    i_t, f_t, o_t = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);    g_t = tanh(z_g)
    c_t = f_t * c_{t-1} + i_t * g_t;                             h_t = o_t * tanh(c_t)

Backward through time (dh_t: everything that reaches h_t, from the output and from step t+1)::

    dc_t  = dc_{t+1} f_{t+1} + dh_t o_t (1 - tanh^2 c_t)
    dz_o  = dh_t o_t (1 - o_t) tanh c_t
    dz_i  = dc_t i_t (1 - i_t) g_t;  dz_f = dc_t f_t (1 - f_t) c_{t-1};  dz_g = dc_t i_t (1 - g_t^2)
    dh_{t-1} += dz_t W_hh;   dx_t = dz_t W_ih
    dW_ih = sum_t dz_t^T x_t;   dW_hh = sum_t dz_t^T h_{t-1}

Every factor that multiplies dh_t or dc_t above depends on the forward pass only, so it is
computed for all T at once before the backward loop (``_prepare_factors``); what remains in the
loop is one product with W_hh and six element-wise calls (CPU) or one kernel (GPU) per step.

Buffers (one set per call; on the CPU taken from a pool of reusable buffers, see ``empty``):

* ``A`` (T, B, 4H), time-major [i f g o]: receives the input projection of all T steps (one
  product) and is activated in place step by step: every per-step call works on one
  contiguous (B, 4H) row.
* ``TC`` (T, B, H): tanh(c_t). ``Hs``, ``Cs`` (T+1, B, H): the states, h_0 and c_0 first; the
  output is ``Hs[1:]`` (a view, no copy).
* ``G`` (4, T, B, H) and ``K`` (5, T, B, H), gate-major: before the backward loop the
  activations are copied gate-major once, so that the fifteen calls that compute the factors
  K = [K_i K_f K_g K_o K_c] run on contiguous blocks; G[1] = f_t is the carry of dc.
* ``dZ`` (T, B, 4H): dz_t of every step, so that dx, dW_ih, dW_hh and db are single products
  (and one sum) over T*B rows after the loop.

One exp for all four gates: the weights are multiplied by -1 (rows of i, f, o) and -2 (rows of
g) before the input projection, which is exact (powers of two), so the pre-activation buffer
holds -z (and -2z for g). Then ``exp``, ``+ 1``, ``[1 1 2 1] / .`` and ``+ [0 0 -1 0]`` over all
4H columns give sigmoid(z) for i, f, o and tanh(z) = 2 sigmoid(2z) - 1 for g: NumPy's float32
``tanh`` is slower than its ``exp`` on the CPUs we measured, and four calls over one contiguous
row cost less than a dozen over strided gate blocks. exp overflows to inf where z < -88
(float32): 1/(1+inf) = 0 is the right sigmoid, so the overflow warning is silenced for the loop
(cheaper than clipping the exponent, which would be one more pass per step).
"""
from __future__ import annotations

import sys

import numpy as np

from ..autograd import Function, Tensor
from . import _cuda

_VECTORS = {}
_POOL = []              # reusable NumPy work buffers (see empty())
_POOL_SIZE = 32


def empty(xp, shape, dtype):
    """An uninitialised work buffer, reused across calls on the CPU.

    The big buffers of a fused call (gate activations, states, backward factors, dz) are
    megabytes; freshly allocated each call they come back from the OS as untouched pages, and
    the page faults cost ~15% of a training step at W2. A pooled buffer is handed out again
    only when nothing else refers to it: no node that saved it, no view of it (a view keeps
    its base alive, so an output Hs[1:] still in use pins Hs). CuPy has its own memory pool.
    """
    if xp is not np:
        return xp.empty(shape, dtype)
    dtype = np.dtype(dtype)
    for k in range(len(_POOL)):
        buf = _POOL[k]
        # references: _POOL, buf, getrefcount's argument -> 3 when nobody else holds it
        if buf.shape == shape and buf.dtype == dtype and sys.getrefcount(buf) == 3:
            return buf
    buf = np.empty(shape, dtype)
    if len(_POOL) >= _POOL_SIZE:
        for k in range(len(_POOL)):
            if sys.getrefcount(_POOL[k]) == 2:       # _POOL and the argument
                del _POOL[k]
                break
        else:
            return buf
    _POOL.append(buf)
    return buf


def clear_workspace():
    """Drop the pooled CPU work buffers of the fused kernels (frees their memory)."""
    _POOL.clear()


def _block_vector(xp, values, H, dtype):
    """The vector (len(values) * H,) whose k-th block of H entries is values[k] (cached)."""
    key = (xp.__name__, values, H, np.dtype(dtype).str)
    v = _VECTORS.get(key)
    if v is None:
        if len(_VECTORS) > 64:
            _VECTORS.clear()
        v = xp.repeat(xp.asarray(values, dtype=dtype), H)
        _VECTORS[key] = v
    return v


_LSTM_SCALE = (-1.0, -1.0, -2.0, -1.0)      # i, f, g, o: the buffer holds -z and -2 z_g


def _first_order_only(op, grads):
    if any(isinstance(g, Tensor) for g in grads):
        raise NotImplementedError(
            f"{op}: the fused kernel's backward is first-order only and cannot record a graph "
            "of its gradient (create_graph=True); use the primitive path (fused=False in "
            "lfs.nn) for higher-order gradients")


def _sum_bias(b_ih, b_hh):
    if b_ih is None:
        return b_hh
    if b_hh is None:
        return b_ih
    return b_ih + b_hh


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


class LSTMFused(Function):
    """The whole LSTM recurrence (``seq=True``: outputs output, h_n, c_n) or one cell step
    (``seq=False``: outputs h_new, c_new) as one node. ``names`` lists which of x, h0, c0,
    weight_ih, weight_hh, bias_ih, bias_hh are passed (the others are None: zero states, no
    bias), in that order."""

    def __init__(self, names, seq):
        self.names = tuple(names)
        self.seq = seq

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, *arrays):
        a = dict(zip(self.names, arrays))
        xp = self.xp
        x, w_ih, w_hh = a["x"], a["weight_ih"], a["weight_hh"]
        h0, c0 = a.get("h0"), a.get("c0")
        b = _sum_bias(a.get("bias_ih"), a.get("bias_hh"))
        if not self.seq:
            x = x[None]
        T, B, I = x.shape
        H = w_hh.shape[1]
        dt = x.dtype
        cuda = xp is not np
        s = _block_vector(xp, _LSTM_SCALE, H, dt)
        A = empty(xp, (T, B, 4 * H), dt)
        xf = x.reshape(T * B, I)
        if T > 1:
            # scale the weights once (exact), not the pre-activations every step
            w_ih_s = empty(xp, w_ih.shape, dt)
            xp.multiply(w_ih, s[:, None], out=w_ih_s)
            whh_sT = empty(xp, (H, 4 * H), dt)
            xp.multiply(w_hh.T, s, out=whh_sT)
            xp.matmul(xf, w_ih_s.T, out=A.reshape(T * B, 4 * H))   # all T steps at once
            if b is not None:
                xp.add(A, b * s, out=A)
        else:
            # one step: the whole pre-activation now, then scaled (cheaper than scaling weights)
            z = xf @ w_ih.T
            if h0 is not None:
                z += h0 @ w_hh.T
            if b is not None:
                z += b
            xp.multiply(z, s, out=A[0])
            whh_sT = None
        TC = empty(xp, (T, B, H), dt)
        Hs = empty(xp, (T + 1, B, H), dt)
        Cs = empty(xp, (T + 1, B, H), dt)
        Hs[0] = 0 if h0 is None else h0
        Cs[0] = 0 if c0 is None else c0
        skip_first = h0 is None          # h_0 = 0: no recurrent product at t = 0
        if cuda:
            self._forward_loop_cuda(A, TC, Hs, Cs, whh_sT, skip_first)
        else:
            self._forward_loop_numpy(A, TC, Hs, Cs, whh_sT, skip_first)
        self.A, self.TC, self.Hs, self.Cs, self.K = A, TC, Hs, Cs, None
        self.x = xf
        if self.seq:
            return Hs[1:], Hs[T].copy(), Cs[T].copy()
        return Hs[1], Cs[1]

    @staticmethod
    def _forward_loop_numpy(A, TC, Hs, Cs, whh_sT, skip_first):
        T, B, H4 = A.shape
        H = H4 // 4
        dt = A.dtype
        Ai, Af, Ag, Ao = (A[:, :, k * H:(k + 1) * H] for k in range(4))
        gh = np.empty((B, 4 * H), dt)
        ig = np.empty((B, H), dt)
        # sigmoid(z) = 1 / (1 + e^-z) for i, f, o and tanh(z) = 2 / (1 + e^-2z) - 1 for g: one
        # divide by [1 1 2 1] and one add of [0 0 -1 0] over all 4H columns (contiguous) are
        # cheaper than fixing the strided g block alone. 0-d arrays: a Python scalar operand
        # costs a conversion in every call.
        num = _block_vector(np, (1.0, 1.0, 2.0, 1.0), H, dt)
        shift = _block_vector(np, (0.0, 0.0, -1.0, 0.0), H, dt)
        one = np.ones((), dt)
        exp, add, div, mul, tanh, matmul = (np.exp, np.add, np.divide, np.multiply, np.tanh,
                                            np.matmul)
        with np.errstate(over="ignore"):     # exp(-z) = inf for very negative z: sigmoid 0
            for t in range(T):
                a = A[t]
                if whh_sT is not None and (t or not skip_first):
                    matmul(Hs[t], whh_sT, out=gh)
                    add(a, gh, out=a)
                exp(a, out=a)
                add(a, one, out=a)
                div(num, a, out=a)
                add(a, shift, out=a)                 # i, f, g, o
                c = Cs[t + 1]
                mul(Af[t], Cs[t], out=c)
                mul(Ai[t], Ag[t], out=ig)
                add(c, ig, out=c)                    # c_t = f c_{t-1} + i g
                tc = TC[t]
                tanh(c, out=tc)
                mul(Ao[t], tc, out=Hs[t + 1])        # h_t = o tanh(c_t)

    @staticmethod
    def _forward_loop_cuda(A, TC, Hs, Cs, whh_sT, skip_first):
        import cupy as cp
        T, B, H4 = A.shape
        H = H4 // 4
        kernel = _cuda.lstm_forward()
        gh = cp.zeros((B, 4 * H), A.dtype)
        h32 = np.int32(H)
        for t in range(T):
            if whh_sT is not None and (t or not skip_first):
                cp.matmul(Hs[t], whh_sT, out=gh)     # (t = 0 without it: gh stays zero)
            kernel(gh, Cs[t], h32, A[t], TC[t], Cs[t + 1], Hs[t + 1], size=B * H)

    # ---- backward -----------------------------------------------------------------------------
    def _prepare_factors(self):
        """The backward factors for all T at once, K (5, T, B, H) =
        [i(1-i)g, f(1-f)c_prev, i(1-g^2), o(1-o)tanh c, o(1-tanh^2 c)]. The activations are
        first copied gate-major, G (4, T, B, H), so that the fifteen calls run on contiguous
        blocks (NumPy iterates a strided (T, B, H) slice row by row: several times slower).
        Runs once (also with retain_graph=True); G[1] = f_t is the carry of dc."""
        if self.K is not None:
            return
        xp, A, TC, Cs = self.xp, self.A, self.TC, self.Cs
        T, B, H4 = A.shape
        H = H4 // 4
        G = empty(xp, (4, T, B, H), A.dtype)
        xp.copyto(G, A.reshape(T, B, 4, H).transpose(2, 0, 1, 3))
        i, f, g, o = G
        K = empty(xp, (5,) + TC.shape, A.dtype)
        Ki, Kf, Kg, Ko, Kc = K
        mul, sub = xp.multiply, xp.subtract
        sub(1, i, out=Ki)
        mul(Ki, i, out=Ki)
        mul(Ki, g, out=Ki)
        sub(1, f, out=Kf)
        mul(Kf, f, out=Kf)
        mul(Kf, Cs[:-1], out=Kf)
        mul(g, g, out=Kg)
        sub(1, Kg, out=Kg)
        mul(Kg, i, out=Kg)
        sub(1, o, out=Ko)
        mul(Ko, o, out=Ko)
        mul(Ko, TC, out=Ko)
        mul(TC, TC, out=Kc)
        sub(1, Kc, out=Kc)
        mul(Kc, o, out=Kc)
        self.K, self.A, self.TC = K, G, None      # only f (and the factors) are needed now

    def backward(self, *grads):
        _first_order_only("lstm_sequence" if self.seq else "lstm_cell", grads)
        if self.seq:
            d_out, d_hn, d_cn = grads
        else:
            d_out, (d_hn, d_cn) = None, grads
        xp = self.xp
        cuda = xp is not np
        need = dict(zip(self.names, self.needs_input_grad))
        # read (and check: not written in place since forward) only what is needed
        position = {n: k for k, n in enumerate(self.names)}
        w_hh = self.saved_input(position["weight_hh"])
        w_ih = self.saved_input(position["weight_ih"]) if need["x"] else None
        self.check_saved(self.x, self.Hs, self.Cs, what="an input or output this node kept")
        self._prepare_factors()
        K, Hs = self.K, self.Hs
        _, T, B, H = K.shape
        dt = K.dtype
        need_h0 = need.get("h0", False)
        dh_rec = xp.array(d_hn, dtype=dt, copy=True)    # gradient reaching h_t from step t+1
        dc = xp.array(d_cn, dtype=dt, copy=True)        # gradient reaching c_t from step t+1
        loop = self._backward_loop_cuda if cuda else self._backward_loop_numpy
        dZ = loop(K, self.A, w_hh, d_out, dh_rec, dc, need_h0)
        # dz of every step is known: the remaining gradients are single products over T*B rows
        dZf = dZ.reshape(T * B, 4 * H)
        out = {}
        if need["x"]:
            gx = dZf @ w_ih
            out["x"] = gx.reshape(T, B, gx.shape[-1]) if self.seq else gx   # B may be 0
        if need["weight_ih"]:
            out["weight_ih"] = dZf.T @ self.x
        if need["weight_hh"]:
            out["weight_hh"] = dZf.T @ Hs[:-1].reshape(T * B, H)
        if need.get("bias_ih") or need.get("bias_hh"):
            gb = dZf.sum(axis=0)
            out["bias_ih"] = out["bias_hh"] = gb
        if need_h0:
            out["h0"] = dh_rec
        if need.get("c0"):
            out["c0"] = dc
        return tuple(out.get(n) for n in self.names)

    @staticmethod
    def _backward_loop_numpy(K, A, w_hh, d_out, dh_rec, dc, need_h0):
        _, T, B, H = K.shape
        dZ = empty(np, (T, B, 4 * H), K.dtype)
        dZ4 = dZ.reshape(T, B, 4, H)
        Kifg, Ko, Kc, F = K[:3], K[3], K[4], A[1]
        dh = np.empty((B, H), K.dtype)
        tmp = np.empty((B, H), K.dtype)
        add, mul, matmul = np.add, np.multiply, np.matmul
        for t in range(T - 1, -1, -1):
            if d_out is not None:
                add(d_out[t], dh_rec, out=dh)                # dh_t
                cur = dh
            else:
                cur = dh_rec
            z = dZ4[t]
            mul(cur, Ko[t], out=z[:, 3])                     # dz_o
            mul(cur, Kc[t], out=tmp)
            add(dc, tmp, out=dc)                             # dc_t
            mul(dc, Kifg[:, t], out=z[:, :3].transpose(1, 0, 2))   # dz_i, dz_f, dz_g
            mul(dc, F[t], out=dc)                            # carry dc_t f_t to step t-1
            if t or need_h0:
                matmul(dZ[t], w_hh, out=dh_rec)              # dh_{t-1} from the recurrence
        return dZ

    @staticmethod
    def _backward_loop_cuda(K, A, w_hh, d_out, dh_rec, dc, need_h0):
        import cupy as cp
        _, T, B, H = K.shape
        kernel = _cuda.lstm_backward()
        dZ = cp.empty((T, B, 4 * H), K.dtype)
        if d_out is None:
            d_out = cp.zeros((T, B, H), K.dtype)
        else:
            d_out = cp.ascontiguousarray(d_out)
        h32, S = np.int32(H), np.int64(T * B * H)
        for t in range(T - 1, -1, -1):
            kernel(K, A, d_out, dh_rec, h32, S, np.int64(t * B * H), dZ[t], dc, size=B * H)
            if t or need_h0:
                cp.matmul(dZ[t], w_hh, out=dh_rec)
        return dZ


def lstm_sequence(x, h0, c0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The LSTM over a whole sequence as one autograd node.

    Args:
        x: (T, B, I), time-major.
        h0, c0: (B, H) initial states, or None for zeros.
        weight_ih: (4H, I), weight_hh: (4H, H), bias_ih, bias_hh: (4H,) or None; PyTorch's
            layout, gate blocks i, f, g, o.
    Returns:
        output (T, B, H) (h_t of every step), h_n (B, H), c_n (B, H).
    """
    present = check_args("lstm_sequence", x, [("h0", h0), ("c0", c0)], weight_ih, weight_hh,
                         bias_ih, bias_hh, 4, 3)
    names, tensors = zip(*present)
    return LSTMFused(names, seq=True)(*tensors)


def lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One LSTM step as one autograd node: x (B, I), h, c (B, H) (or None for zeros) ->
    (h_new, c_new), both (B, H). Weights as in ``lstm_sequence``."""
    present = check_args("lstm_cell", x, [("h", h), ("c", c)], weight_ih, weight_hh,
                         bias_ih, bias_hh, 4, 2)
    names, tensors = zip(*present)
    names = tuple({"h": "h0", "c": "c0"}.get(n, n) for n in names)
    return LSTMFused(names, seq=False)(*tensors)
