"""EXPERIMENTAL, NOT YET RUN ON A GPU: the fused LSTM's time loops replayed as CUDA graphs.

Only ``bench_gpu.py`` uses this (engine ``lfs_fused_graph``); it is not part of the library
until it has run on a GPU (docs/decisions.md, "Fused kernels"). It follows the probe that ran
on an H100 (../shared/bench-gpu/lstm_cuda_graph.py, 0.78x cuDNN on G1, LSTM only) but uses the
library's own CUDA kernels (``kernels._cuda``) and buffer layouts:

* per shape, fixed device buffers (a graph replays fixed addresses): the pre-activations A,
  tanh(c) TC, the states Hs and Cs, the scaled transposed recurrent weight, the backward
  factors K and gate-major activations G, the deltas, the carried adjoints, d_out;
* the forward loop (T recurrent products and T element-wise kernels) and the backward loop
  (T kernels and T products) are each captured once on a private stream and replayed every
  call; what is not sequential (input projection, factors, weight gradients) runs as ordinary
  CuPy calls around them;
* the recurrent products call cuBLAS through ctypes on a handle bound to the capturing stream,
  because CuPy's own cuBLAS wrappers refuse to run under stream capture;
* zero initial states, float32, one direction: what the benchmark needs.

If capture fails (no cuBLAS library found, an old driver, a CuPy without graph support) the
error says so and the benchmark reports it instead of a time.
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

import lstm_from_scratch as lfs
from lstm_from_scratch.autograd import Function
from lstm_from_scratch.kernels import _cuda
from lstm_from_scratch.kernels._base import block_vector

_SCALE = (-1.0, -1.0, -2.0, -1.0)        # the CUDA kernels' exp form (see kernels/lstm.py)


def _load_cublas():
    for name in ("libcublas.so.13", "libcublas.so.12", "libcublas.so"):
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    try:
        import nvidia
        for root in nvidia.__path__:
            for f in glob.glob(os.path.join(root, "**", "libcublas.so*"), recursive=True):
                try:
                    return ctypes.CDLL(f)
                except OSError:
                    pass
    except ImportError:
        pass
    raise OSError("libcublas not found (tried libcublas.so.13/.12 and the nvidia wheels)")


class _Cublas:
    """sgemm on C-contiguous row-major float32 matrices, on one handle bound to one stream."""

    def __init__(self, stream):
        lib = _load_cublas()
        lib.cublasSgemm_v2.argtypes = [ctypes.c_void_p] + [ctypes.c_int] * 5 + [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.cublasSetStream_v2.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.cublasSetMathMode.argtypes = [ctypes.c_void_p, ctypes.c_int]
        self.lib, self.handle = lib, ctypes.c_void_p()
        assert lib.cublasCreate_v2(ctypes.byref(self.handle)) == 0
        assert lib.cublasSetStream_v2(self.handle, ctypes.c_void_p(stream.ptr)) == 0
        if os.environ.get("CUPY_TF32") == "1":                  # as CuPy's own products
            lib.cublasSetMathMode(self.handle, 3)               # CUBLAS_TF32_TENSOR_OP_MATH
        self.one, self.zero = ctypes.c_float(1.0), ctypes.c_float(0.0)

    def gemm(self, a, b, out, tb=False):
        """out = a @ b (or a @ b.T); row-major as column-major: out^T = b^T a^T."""
        m, n = out.shape
        k = a.shape[1]
        st = self.lib.cublasSgemm_v2(self.handle, 1 if tb else 0, 0, n, m, k,
                                     ctypes.byref(self.one), b.data.ptr, b.shape[1],
                                     a.data.ptr, a.shape[1], ctypes.byref(self.zero),
                                     out.data.ptr, n)
        if st != 0:
            raise RuntimeError(f"cublasSgemm failed with status {st}")


class GraphedLSTM:
    """``graphed(x, W_ih, W_hh, b_ih, b_hh) -> output (T, B, H)``, zero initial states."""

    def __init__(self, T, B, I, H):
        import cupy as cp
        self.cp, self.T, self.B, self.I, self.H = cp, T, B, I, H
        f = np.float32
        e = lambda *s: cp.zeros(s, f)                            # noqa: E731
        self.A, self.TC = e(T, B, 4 * H), e(T, B, H)
        self.Hs, self.Cs = e(T + 1, B, H), e(T + 1, B, H)
        self.W_hh_sT, self.W_hh, self.gh = e(H, 4 * H), e(4 * H, H), e(B, 4 * H)
        self.K, self.G, self.Delta = e(5, T, B, H), e(4, T, B, H), e(T, B, 4 * H)
        self.h_bar, self.c_bar, self.d_out = e(B, H), e(B, H), e(T, B, H)
        self.stream = cp.cuda.Stream(non_blocking=True)
        self.blas = _Cublas(self.stream)
        self.fwd_graph = self.bwd_graph = None
        self.busy = False

    # the two loops, as they are captured
    def _forward_loop(self):
        fwd, h32 = _cuda.lstm_forward(), np.int32(self.H)
        for t in range(self.T):
            if t:
                self.blas.gemm(self.Hs[t], self.W_hh_sT, self.gh)
            else:
                self.gh.fill(0)
            fwd(self.gh, self.Cs[t], h32, self.A[t], self.TC[t], self.Cs[t + 1], self.Hs[t + 1],
                size=self.B * self.H)

    def _backward_loop(self):
        bwd, h32 = _cuda.lstm_backward(), np.int32(self.H)
        T, B, H = self.T, self.B, self.H
        self.h_bar.fill(0)
        self.c_bar.fill(0)
        S = np.int64(T * B * H)
        for t in range(T - 1, -1, -1):
            bwd(self.K, self.G, self.d_out, self.h_bar, h32, S, np.int64(t * B * H),
                self.Delta[t], self.c_bar, size=B * H)
            if t:
                self.blas.gemm(self.Delta[t], self.W_hh, self.h_bar)

    def replay(self, which):
        """Run a loop from its graph, capturing it on first use (after one eager run, which
        compiles the kernels: compiling is not allowed under capture)."""
        cp = self.cp
        loop = self._forward_loop if which == "fwd" else self._backward_loop
        attr = which + "_graph"
        cp.cuda.get_current_stream().synchronize()
        with self.stream:
            if getattr(self, attr) is None:
                saved = self.A.copy()           # the forward loop activates A in place
                loop()
                self.A[...] = saved
                self.stream.begin_capture()
                try:
                    loop()
                finally:
                    graph = self.stream.end_capture()
                setattr(self, attr, graph)
            getattr(self, attr).launch(self.stream)
        self.stream.synchronize()

    def __call__(self, x, W_ih, W_hh, b_ih, b_hh):
        if self.busy:
            raise RuntimeError("GraphedLSTM: its buffers are held by a node not yet "
                               "differentiated (one graph per shape, one call at a time)")
        return _GraphedFunction(self)(x, W_ih, W_hh, b_ih, b_hh)


class _GraphedFunction(Function):
    def __init__(self, owner):
        self.owner = owner

    def forward(self, x, W_ih, W_hh, b_ih, b_hh):
        o, cp = self.owner, self.owner.cp
        T, B, I, H = o.T, o.B, o.I, o.H
        o.busy = True
        s = block_vector(cp, _SCALE, H, x.dtype)
        cp.matmul(x.reshape(T * B, I), (W_ih * s[:, None]).T, out=o.A.reshape(T * B, 4 * H))
        o.A += (b_ih + b_hh) * s
        cp.multiply(W_hh.T, s, out=o.W_hh_sT)
        o.replay("fwd")
        self.x = x.reshape(T * B, I)
        return o.Hs[1:].copy()

    def backward(self, d_out):
        o, cp = self.owner, self.owner.cp
        T, B, H = o.T, o.B, o.H
        x, W_ih, W_hh, _, _ = self.saved_inputs()
        # the factors of kernels/lstm.py, K = [g i(1-i), c_prev f(1-f), i(1-g^2),
        # tanh(c) o(1-o), o(1-tanh^2 c)], on the gate-major copy G of the activations
        cp.copyto(o.G, o.A.reshape(T, B, 4, H).transpose(2, 0, 1, 3))
        i, f, g, og = o.G
        o.K[0] = g * i * (1 - i)
        o.K[1] = o.Cs[:-1] * f * (1 - f)
        o.K[2] = i * (1 - g * g)
        o.K[3] = o.TC * og * (1 - og)
        o.K[4] = og * (1 - o.TC * o.TC)
        cp.copyto(o.d_out, d_out)
        cp.copyto(o.W_hh, W_hh)
        o.replay("bwd")
        D = o.Delta.reshape(T * B, 4 * H)
        gb = D.sum(axis=0)
        grads = ((D @ W_ih).reshape(T, B, -1), D.T @ self.x,
                 D.T @ o.Hs[:-1].reshape(T * B, H), gb, gb.copy())
        o.busy = False
        return grads


def selfcheck(T=5, B=3, I=4, H=6, seed=0):
    """Max |graphed - lstm_sequence| over the output and every gradient (float32)."""
    from lstm_from_scratch import kernels
    rng = np.random.default_rng(seed)
    args = [lfs.tensor(rng.standard_normal(s).astype(np.float32) * 0.5, requires_grad=True,
                       device="gpu")
            for s in ((T, B, I), (4 * H, I), (4 * H, H), (4 * H,), (4 * H,))]
    want = kernels.lstm_sequence(args[0], None, None, *args[1:])[0]
    gw = lfs.grad(want.sum(), args)
    got = GraphedLSTM(T, B, I, H)(*args)
    gg = lfs.grad(got.sum(), args)
    return max(float(np.abs(a.numpy() - b.numpy()).max()) for a, b in
               zip([got, *gg], [want, *gw]))
