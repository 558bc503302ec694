"""The fused GRU: ``gru_sequence`` (T steps) and ``gru_cell`` (one step), each ONE node.

Equations (PyTorch's: gate blocks r, z, n in the rows of the weights; r scales the recurrent
part of n including its bias)::

    r_t = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t * hn_t),      hn_t = W_hn h_{t-1} + b_hn
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}  =  n_t + z_t * (h_{t-1} - n_t)

Backward (dh_t: everything reaching h_t; the gradients of the pre-activations are dz_*)::

    dz_n = dh_t (1 - z)(1 - n^2)                  = dh_t K_n
    dz_r = dz_n hn r (1 - r)                      = dh_t K_r
    dz_z = dh_t (h_{t-1} - n) z (1 - z)           = dh_t K_z
    dhn  = dz_n r                                 = dh_t K_h
    dh_{t-1} += dh_t z + [dz_r dz_z dhn] W_hh

All five factors [K_n K_r K_z K_h z] depend on the forward pass only: they are computed for all
T at once before the backward loop, which then is one multiplication (CPU) or one kernel (GPU),
one product with W_hh and one addition per step.

Layouts: internally the input projection is kept in the gate order [n, r, z] and the recurrent
one in PyTorch's [r, z, n]. With the gradient buffer D = [dz_n dz_r dz_z dhn (| dh z)], the
gradient of the input projection is the contiguous block D[:, 0:3H] (order n, r, z) and that of
the recurrent projection is D[:, H:4H] (order r, z, n): both weight gradients are single
products over T*B rows without copying D. The r and z rows of the weights are pre-multiplied by
-1 (exact), so that one exp, +1, reciprocal gives both sigmoids (see lstm.py); n uses tanh.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from . import _cuda
from .lstm import _block_vector, _first_order_only, check_args, empty

_X_SCALE = (1.0, -1.0, -1.0)      # input projection, internal order n, r, z
_H_SCALE = (-1.0, -1.0, 1.0)      # recurrent projection, PyTorch order r, z, n


def _nrz(xp, v, H):
    """Rows (or entries) of a (3H, ...) array in PyTorch order r, z, n -> order n, r, z."""
    return xp.concatenate((v[2 * H:], v[:2 * H]))


def _rzn(xp, v, H):
    """The inverse of ``_nrz``: order n, r, z -> r, z, n."""
    return xp.concatenate((v[H:], v[:H]))


class GRUFused(Function):
    """The whole GRU recurrence (``seq=True``: outputs output, h_n) or one cell step
    (``seq=False``: output h_new) as one node. ``names`` lists which of x, h0, weight_ih,
    weight_hh, bias_ih, bias_hh are passed, in that order."""

    def __init__(self, names, seq):
        self.names = tuple(names)
        self.seq = seq

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, *arrays):
        a = dict(zip(self.names, arrays))
        xp = self.xp
        x, w_ih, w_hh = a["x"], a["weight_ih"], a["weight_hh"]
        h0, b_ih, b_hh = a.get("h0"), a.get("bias_ih"), a.get("bias_hh")
        if not self.seq:
            x = x[None]
        T, B, I = x.shape
        H = w_hh.shape[1]
        dt = x.dtype
        cuda = xp is not np
        sx = _block_vector(xp, _X_SCALE, H, dt)
        sh = _block_vector(xp, _H_SCALE, H, dt)
        A = empty(xp, (T, B, 3 * H), dt)         # [n | r z]: x-part in, activations out
        GH = empty(xp, (T, B, 3 * H), dt)        # [r z | hn]: recurrent part
        Hs = empty(xp, (T + 1, B, H), dt)
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
            w_x = _nrz(xp, w_ih, H)
            w_x *= sx[:, None]                                  # exact: signs only
            whh_sT = empty(xp, (H, 3 * H), dt)
            xp.multiply(w_hh.T, sh, out=whh_sT)
            if cuda:
                A[...] = (xf @ w_x.T).reshape(T, B, 3 * H)
            else:
                np.matmul(xf, w_x.T, out=A.reshape(T * B, 3 * H))
            if bx is not None:
                xp.add(A, bx * sx, out=A)
        else:
            # one step: both projections now, then scaled (cheaper than scaling weights)
            gx = xf @ w_ih.T                                    # (B, 3H) order r, z, n
            if b_ih is not None:
                gx += b_ih
            A[0, :, :H] = gx[:, 2 * H:]
            xp.multiply(gx[:, :2 * H], -1, out=A[0, :, H:])
            gh = Hs[0] @ w_hh.T
            if b_hh is not None:
                gh += b_hh
            xp.multiply(gh, sh, out=GH[0])
            whh_sT = None
            b_hn = None                                         # already in GH[0]
        if cuda:
            self._forward_loop_cuda(A, GH, Hs, whh_sT, b_hn)
        else:
            self._forward_loop_numpy(A, GH, Hs, whh_sT, b_hn)
        self.A, self.GH, self.Hs, self.K = A, GH, Hs, None
        self.x = xf
        if self.seq:
            return Hs[1:], Hs[T].copy()
        return Hs[1]

    @staticmethod
    def _forward_loop_numpy(A, GH, Hs, whh_sT, b_hn):
        T, B, H3 = A.shape
        H = H3 // 3
        An, Arz, Ar, Az = A[:, :, :H], A[:, :, H:], A[:, :, H:2 * H], A[:, :, 2 * H:]
        GHrz, GHn = GH[:, :, :2 * H], GH[:, :, 2 * H:]
        tmp = np.empty((B, H), A.dtype)
        exp, add, recip, mul, sub, tanh, matmul = (np.exp, np.add, np.reciprocal, np.multiply,
                                                    np.subtract, np.tanh, np.matmul)
        with np.errstate(over="ignore"):     # exp(-z) = inf for very negative z: sigmoid 0
            for t in range(T):
                if whh_sT is not None:
                    matmul(Hs[t], whh_sT, out=GH[t])
                    if b_hn is not None:
                        add(GHn[t], b_hn, out=GHn[t])          # hn = W_hn h + b_hn
                rz = Arz[t]
                add(rz, GHrz[t], out=rz)
                exp(rz, out=rz)
                add(rz, 1, out=rz)
                recip(rz, out=rz)                              # r, z
                n = An[t]
                mul(Ar[t], GHn[t], out=tmp)
                add(n, tmp, out=n)
                tanh(n, out=n)                                 # n = tanh(x_n + r hn)
                sub(Hs[t], n, out=tmp)
                mul(Az[t], tmp, out=tmp)
                add(n, tmp, out=Hs[t + 1])                     # h = n + z (h_prev - n)

    @staticmethod
    def _forward_loop_cuda(A, GH, Hs, whh_sT, b_hn):
        import cupy as cp
        T, B, H3 = A.shape
        H = H3 // 3
        kernel = _cuda.gru_forward()
        if b_hn is None:
            b_hn = cp.zeros(H, A.dtype)
        else:
            b_hn = cp.ascontiguousarray(b_hn)
        h32 = np.int32(H)
        for t in range(T):
            if whh_sT is not None:
                cp.matmul(Hs[t], whh_sT, out=GH[t])
            kernel(b_hn, Hs[t], h32, A[t], GH[t], Hs[t + 1], size=B * H)

    # ---- backward -----------------------------------------------------------------------------
    def _prepare_factors(self):
        """K (T, B, 5H) = [K_n K_r K_z K_h | z] for all T at once (see the module docstring)."""
        if self.K is not None:
            return
        xp, A, GH, Hs = self.xp, self.A, self.GH, self.Hs
        T, B, H3 = A.shape
        H = H3 // 3
        n, r, z = A[:, :, :H], A[:, :, H:2 * H], A[:, :, 2 * H:]
        hn = GH[:, :, 2 * H:]
        K = empty(xp, (T, B, 5 * H), A.dtype)
        Kn, Kr, Kz, Kh, Z = (K[:, :, k * H:(k + 1) * H] for k in range(5))
        xp.multiply(n, n, out=Kh)
        xp.subtract(1, Kh, out=Kh)
        xp.subtract(1, z, out=Kn)
        xp.multiply(Kn, Kh, out=Kn)           # K_n = (1 - z)(1 - n^2)
        xp.multiply(Kn, r, out=Kh)            # K_h = K_n r
        xp.subtract(1, r, out=Kr)
        xp.multiply(Kr, Kh, out=Kr)
        xp.multiply(Kr, hn, out=Kr)           # K_r = (1 - r) r K_n hn
        xp.subtract(1, z, out=Z)
        xp.subtract(Hs[:-1], n, out=Kz)
        xp.multiply(Kz, z, out=Kz)
        xp.multiply(Kz, Z, out=Kz)            # K_z = (h_prev - n) z (1 - z)
        xp.copyto(Z, z)
        self.K = K

    def backward(self, *grads):
        _first_order_only("gru_sequence" if self.seq else "gru_cell", grads)
        if self.seq:
            d_out, d_hn = grads
        else:
            d_out, d_hn = None, grads[0]
        xp = self.xp
        cuda = xp is not np
        need = dict(zip(self.names, self.needs_input_grad))
        # read (and check: not written in place since forward) only what is needed
        position = {n: k for k, n in enumerate(self.names)}
        w_hh = self.saved_input(position["weight_hh"])
        w_ih = self.saved_input(position["weight_ih"]) if need["x"] else None
        self.check_saved(self.x, self.Hs, what="an input or output this node kept")
        self._prepare_factors()
        K, Hs = self.K, self.Hs
        T, B, H5 = K.shape
        H = H5 // 5
        dt = K.dtype
        need_h0 = need.get("h0", False)
        dh_rec = xp.array(d_hn, dtype=dt, copy=True)
        if cuda:
            D = self._backward_loop_cuda(K, w_hh, d_out, dh_rec, need_h0)
        else:
            D = self._backward_loop_numpy(K, w_hh, d_out, dh_rec, need_h0)
        Dx = D[:, :, :3 * H].reshape(T * B, 3 * H)        # order n, r, z
        Dh = D[:, :, H:4 * H].reshape(T * B, 3 * H)       # order r, z, n
        out = {}
        if need["x"]:
            gx = Dx @ _nrz(xp, w_ih, H)
            out["x"] = gx.reshape(T, B, gx.shape[-1]) if self.seq else gx   # B may be 0
        if need["weight_ih"]:
            out["weight_ih"] = _rzn(xp, Dx.T @ self.x, H)
        if need["weight_hh"]:
            out["weight_hh"] = Dh.T @ Hs[:-1].reshape(T * B, H)
        if need.get("bias_ih"):
            out["bias_ih"] = _rzn(xp, Dx.sum(axis=0), H)
        if need.get("bias_hh"):
            out["bias_hh"] = Dh.sum(axis=0)
        if need_h0:
            out["h0"] = dh_rec
        return tuple(out.get(n) for n in self.names)

    @staticmethod
    def _backward_loop_numpy(K, w_hh, d_out, dh_rec, need_h0):
        T, B, H5 = K.shape
        H = H5 // 5
        D = empty(np, (T, B, 5 * H), K.dtype)
        D5, K5 = D.reshape(T, B, 5, H), K.reshape(T, B, 5, H)
        Dh, Dz = D[:, :, H:4 * H], D[:, :, 4 * H:]
        dh = np.empty((B, H), K.dtype)
        add, mul, matmul = np.add, np.multiply, np.matmul
        for t in range(T - 1, -1, -1):
            if d_out is not None:
                add(d_out[t], dh_rec, out=dh)
                cur = dh
            else:
                cur = dh_rec
            mul(cur[:, None, :], K5[t], out=D5[t])           # all gate gradients and dh z
            if t or need_h0:
                matmul(Dh[t], w_hh, out=dh_rec)
                add(dh_rec, Dz[t], out=dh_rec)               # dh_{t-1}
        return D

    @staticmethod
    def _backward_loop_cuda(K, w_hh, d_out, dh_rec, need_h0):
        import cupy as cp
        T, B, H5 = K.shape
        H = H5 // 5
        kernel = _cuda.gru_backward()
        D = cp.empty((T, B, 4 * H), K.dtype)
        if d_out is None:
            d_out = cp.zeros((T, B, H), K.dtype)
        else:
            d_out = cp.ascontiguousarray(d_out)
        dhz = cp.zeros((B, H), K.dtype)           # dh_{t+1} z_{t+1}: the direct path of h
        h32 = np.int32(H)
        for t in range(T - 1, -1, -1):
            kernel(K[t], d_out[t], dh_rec, h32, D[t], dhz, size=B * H)
            if t or need_h0:
                cp.matmul(D[t, :, H:], w_hh, out=dh_rec)
        if need_h0:
            dh_rec += dhz
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
    present = check_args("gru_sequence", x, [("h0", h0)], weight_ih, weight_hh, bias_ih,
                         bias_hh, 3, 3)
    names, tensors = zip(*present)
    return GRUFused(names, seq=True)(*tensors)


def gru_cell(x, h, weight_ih, weight_hh, bias_ih=None, bias_hh=None):
    """One GRU step as one autograd node: x (B, I), h (B, H) (or None for zeros) -> h_new
    (B, H). Weights as in ``gru_sequence``."""
    present = check_args("gru_cell", x, [("h", h)], weight_ih, weight_hh, bias_ih, bias_hh, 3, 2)
    names, tensors = zip(*present)
    names = tuple("h0" if n == "h" else n for n in names)
    return GRUFused(names, seq=False)(*tensors)
