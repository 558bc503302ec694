"""The fused GRU: ``gru_sequence`` (T steps) and ``gru_cell`` (one step), each ONE node.

The equations are PyTorch's ``nn.GRU`` (Cho et al. 2014 with r applied to the recurrent part
of n, bias included), as ``nn.GRUCell``'s docstring writes them; gate blocks r, z, n in the
rows of the weights. (The book has no labelled GRU equation yet.)::

    r_t = sigma(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigma(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * hn_t),      hn_t = W_hn h_{t-1} + b_hn
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}  =  n_t + z_t * (h_{t-1} - n_t)

Backward (``h_bar``: everything reaching h_t; the deltas are the adjoints of the
pre-activations, as in chapter 5's eq-bptt-delta)::

    delta^n  = h_bar (1 - z)(1 - n^2)                 = h_bar K_n
    delta^r  = delta^n hn r (1 - r)                   = h_bar K_r
    delta^z  = h_bar (h_{t-1} - n) z (1 - z)          = h_bar K_z
    hn_bar   = delta^n r                              = h_bar K_h
    h_bar_{t-1}^next = h_bar z + [delta^r delta^z hn_bar] W_hh

All five factors [K_n K_r K_z K_h z] depend on the forward pass only: they are computed for all
T at once before the backward loop, which then is one multiplication (CPU) or one kernel (GPU),
one product with W_hh and one addition per step.

Layouts: internally the input projection is kept in the gate order [n, r, z] and the recurrent
one in PyTorch's [r, z, n]. With the delta buffer D = [delta^n delta^r delta^z hn_bar (| h_bar
z)], the adjoint of the input projection is the contiguous block D[:, 0:3H] (order n, r, z)
and that of the recurrent projection is D[:, H:4H] (order r, z, n): both weight gradients are
single products over T*B rows without copying D. The r and z rows of the weights are
pre-multiplied by -1 (exact), so that one exp, +1, reciprocal gives both sigmoids (see
lstm.py); n uses tanh.
"""
from __future__ import annotations

import numpy as np

from . import _cuda
from ._base import FusedRecurrence, block_vector

_X_SCALE = (1.0, -1.0, -1.0)      # input projection, internal order n, r, z
_H_SCALE = (-1.0, -1.0, 1.0)      # recurrent projection, PyTorch order r, z, n


def _nrz(xp, v, H):
    """Rows (or entries) of a (3H, ...) array in PyTorch order r, z, n -> order n, r, z."""
    return xp.concatenate((v[2 * H:], v[:2 * H]))


def _rzn(xp, v, H):
    """The inverse of ``_nrz``: order n, r, z -> r, z, n."""
    return xp.concatenate((v[H:], v[:H]))


class GRUFused(FusedRecurrence):
    """The whole GRU recurrence (``seq=True``: outputs output, h_n) or one cell step
    (``seq=False``: output h_new) as one node; ``names``: which of x, h0, weight_ih,
    weight_hh, bias_ih, bias_hh are passed, in that order."""

    gates = 3
    state_names = ("h0",)
    ops = ("gru_sequence", "gru_cell")

    # ---- forward -----------------------------------------------------------------------------
    def _forward(self, a):
        xp, ws = self.xp, self.ws
        x, W_ih, W_hh = a["x"], a["weight_ih"], a["weight_hh"]
        h0, b_ih, b_hh = a.get("h0"), a.get("bias_ih"), a.get("bias_hh")
        T, B, I = x.shape
        H = W_hh.shape[1]
        dt = x.dtype
        sx = block_vector(xp, _X_SCALE, H, dt)
        sh = block_vector(xp, _H_SCALE, H, dt)
        A = ws.empty((T, B, 3 * H), dt, xp)          # [n | r z]: x-part in, activations out
        GH = ws.empty((T, B, 3 * H), dt, xp)         # [r z | hn]: recurrent part
        Hs = xp.empty((T + 1, B, H), dt)             # the output's own array (not pooled)
        Hs[0] = 0 if h0 is None else h0
        xf = x.reshape(T * B, I)
        # the biases that simply add to the pre-activations, in order n, r, z
        bx = None
        if b_ih is not None or b_hh is not None:
            bx = xp.zeros(3 * H, dt)
            if b_ih is not None:
                bx += _nrz(xp, b_ih, H)
            if b_hh is not None:
                bx[H:] += b_hh[:2 * H]
        b_hn = None if b_hh is None else b_hh[2 * H:]
        if T > 1:
            W_x = _nrz(xp, W_ih, H)
            W_x *= sx[:, None]                                  # exact: signs only
            W_hh_sT = ws.empty((H, 3 * H), dt, xp)
            xp.multiply(W_hh.T, sh, out=W_hh_sT)
            xp.matmul(xf, W_x.T, out=A.reshape(T * B, 3 * H))
            if bx is not None:
                xp.add(A, bx * sx, out=A)
        else:
            # one step: both projections now, then scaled (cheaper than scaling weights)
            gx = xf @ W_ih.T                                    # (B, 3H) order r, z, n
            if b_ih is not None:
                gx += b_ih
            A[0, :, :H] = gx[:, 2 * H:]
            xp.multiply(gx[:, :2 * H], -1, out=A[0, :, H:])
            gh = Hs[0] @ W_hh.T
            if b_hh is not None:
                gh += b_hh
            xp.multiply(gh, sh, out=GH[0])
            W_hh_sT = None
            b_hn = None                                         # already in GH[0]
        loop = _forward_loop_numpy if xp is np else _forward_loop_cuda
        loop(A, GH, Hs, W_hh_sT, b_hn)
        self.A, self.GH, self.Hs, self.K, self.x = A, GH, Hs, None, xf
        return Hs[1:], Hs[T].copy()

    # ---- backward ----------------------------------------------------------------------------
    def _factors(self):
        """K (T, B, 5H) = [K_n K_r K_z K_h | z] for all T at once (see the module docstring)."""
        if self.K is not None:
            return
        xp, A, GH, Hs = self.xp, self.A, self.GH, self.Hs
        T, B, H3 = A.shape
        H = H3 // 3
        n, r, z = A[:, :, :H], A[:, :, H:2 * H], A[:, :, 2 * H:]
        hn = GH[:, :, 2 * H:]
        K = self.ws.empty((T, B, 5 * H), A.dtype, xp)
        K_n, K_r, K_z, K_h, Z = (K[:, :, k * H:(k + 1) * H] for k in range(5))
        xp.multiply(n, n, out=K_h)
        xp.subtract(1, K_h, out=K_h)
        xp.subtract(1, z, out=K_n)
        xp.multiply(K_n, K_h, out=K_n)          # K_n = (1 - z)(1 - n^2)
        xp.multiply(K_n, r, out=K_h)            # K_h = K_n r
        xp.subtract(1, r, out=K_r)
        xp.multiply(K_r, K_h, out=K_r)
        xp.multiply(K_r, hn, out=K_r)           # K_r = (1 - r) r K_n hn
        xp.subtract(1, z, out=Z)
        xp.subtract(Hs[:-1], n, out=K_z)
        xp.multiply(K_z, z, out=K_z)
        xp.multiply(K_z, Z, out=K_z)            # K_z = (h_prev - n) z (1 - z)
        xp.copyto(Z, z)
        self.K = K

    def _backward(self, a, need, d_out, h_bar):
        xp = self.xp
        # the arrays this node kept itself must not have been written in place since forward
        self.check_saved(self.x, self.Hs, what="an input or output this node kept")
        self._factors()
        K, Hs = self.K, self.Hs
        T, B, H5 = K.shape
        H = H5 // 5
        need_h0 = need.get("h0", False)
        W_ih, W_hh = a["weight_ih"], a["weight_hh"]
        if xp is np:
            D = _backward_loop_numpy(self.ws, K, W_hh, d_out, h_bar, need_h0)
        else:
            D = _backward_loop_cuda(K, W_hh, self.cuda_d_out(d_out, (T, B, H), K.dtype), h_bar,
                                    need_h0)
        D_x = D[:, :, :3 * H].reshape(T * B, 3 * H)        # order n, r, z
        D_h = D[:, :, H:4 * H].reshape(T * B, 3 * H)       # order r, z, n
        out = {}
        if need["x"]:
            x_bar = D_x @ _nrz(xp, W_ih, H)
            # (T, B, I) by name, not -1: B may be 0
            out["x"] = x_bar.reshape(T, B, x_bar.shape[-1]) if self.seq else x_bar
        if need["weight_ih"]:
            out["weight_ih"] = _rzn(xp, D_x.T @ self.x, H)
        if need["weight_hh"]:
            out["weight_hh"] = D_h.T @ Hs[:-1].reshape(T * B, H)
        if need.get("bias_ih"):
            out["bias_ih"] = _rzn(xp, D_x.sum(axis=0), H)
        if need.get("bias_hh"):
            out["bias_hh"] = D_h.sum(axis=0)
        if need_h0:
            out["h0"] = h_bar
        return out


def _forward_loop_numpy(A, GH, Hs, W_hh_sT, b_hn):
    T, B, H3 = A.shape
    H = H3 // 3
    A_n, A_rz, A_r, A_z = A[:, :, :H], A[:, :, H:], A[:, :, H:2 * H], A[:, :, 2 * H:]
    GH_rz, GH_n = GH[:, :, :2 * H], GH[:, :, 2 * H:]
    tmp = np.empty((B, H), A.dtype)
    exp, add, recip, mul, sub, tanh, matmul = (np.exp, np.add, np.reciprocal, np.multiply,
                                               np.subtract, np.tanh, np.matmul)
    with np.errstate(over="ignore"):     # exp(-a) = inf for very negative a: sigma = 0
        for t in range(T):
            if W_hh_sT is not None:
                matmul(Hs[t], W_hh_sT, out=GH[t])
                if b_hn is not None:
                    add(GH_n[t], b_hn, out=GH_n[t])          # hn = W_hn h + b_hn
            rz = A_rz[t]
            add(rz, GH_rz[t], out=rz)
            exp(rz, out=rz)
            add(rz, 1, out=rz)
            recip(rz, out=rz)                              # r, z
            n = A_n[t]
            mul(A_r[t], GH_n[t], out=tmp)
            add(n, tmp, out=n)
            tanh(n, out=n)                                 # n = tanh(x_n + r hn)
            sub(Hs[t], n, out=tmp)
            mul(A_z[t], tmp, out=tmp)
            add(n, tmp, out=Hs[t + 1])                     # h = n + z (h_prev - n)


def _forward_loop_cuda(A, GH, Hs, W_hh_sT, b_hn):
    import cupy as cp
    T, B, H3 = A.shape
    H = H3 // 3
    kernel = _cuda.gru_forward()
    b_hn = cp.zeros(H, A.dtype) if b_hn is None else cp.ascontiguousarray(b_hn)
    h32 = np.int32(H)
    for t in range(T):
        if W_hh_sT is not None:
            cp.matmul(Hs[t], W_hh_sT, out=GH[t])
        kernel(b_hn, Hs[t], h32, A[t], GH[t], Hs[t + 1], size=B * H)


def _backward_loop_numpy(ws, K, W_hh, d_out, h_bar_next, need_h0):
    T, B, H5 = K.shape
    H = H5 // 5
    D = ws.empty((T, B, 5 * H), K.dtype)
    D5, K5 = D.reshape(T, B, 5, H), K.reshape(T, B, 5, H)
    D_h, D_z = D[:, :, H:4 * H], D[:, :, 4 * H:]
    h_bar = np.empty((B, H), K.dtype)
    add, mul, matmul = np.add, np.multiply, np.matmul
    for t in range(T - 1, -1, -1):
        if d_out is not None:
            add(d_out[t], h_bar_next, out=h_bar)
            hb = h_bar
        else:
            hb = h_bar_next
        mul(hb[:, None, :], K5[t], out=D5[t])              # all deltas and h_bar z
        if t or need_h0:
            matmul(D_h[t], W_hh, out=h_bar_next)
            add(h_bar_next, D_z[t], out=h_bar_next)        # h_bar_{t-1}^next
    return D


def _backward_loop_cuda(K, W_hh, d_out, h_bar_next, need_h0):
    import cupy as cp
    T, B, H5 = K.shape
    H = H5 // 5
    kernel = _cuda.gru_backward()
    D = cp.empty((T, B, 4 * H), K.dtype)
    hbz = cp.zeros((B, H), K.dtype)           # h_bar_{t+1} z_{t+1}: the direct path of h
    h32 = np.int32(H)
    for t in range(T - 1, -1, -1):
        kernel(K[t], d_out[t], h_bar_next, h32, D[t], hbz, size=B * H)
        if t or need_h0:
            cp.matmul(D[t, :, H:], W_hh, out=h_bar_next)
    if need_h0:
        h_bar_next += hbz
    return D


def gru_sequence(x, h0, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """The GRU over a whole sequence as one autograd node.

    Args:
        x: (T, B, I), time-major. h0: (B, H), or None for zeros.
        weight_ih: (3H, I), weight_hh: (3H, H), bias_ih, bias_hh: (3H,) or None; PyTorch's
            layout, gate blocks r, z, n.
    Returns:
        output (T, B, H) (h_t of every step), h_n (B, H).
    """
    return GRUFused.apply(True, x, [("h0", h0)], weight_ih, weight_hh, bias_ih, bias_hh)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step as one autograd node: x (B, I), h (B, H) (or None for zeros) -> h_new
    (B, H). Weights as in ``gru_sequence``."""
    return GRUFused.apply(False, x, [("h", h)], weight_ih, weight_hh, bias_ih, bias_hh)
