"""What Numba could give the fused LSTM's per-step element-wise work at W2 (B = 8, H = 128).

A probe for docs/decisions.md ("Optional accelerators"), not part of the library: Numba is not a
dependency of this project. Run it where Numba is installed (e.g. a scratch venv:
``python -m venv /tmp/nbv && /tmp/nbv/bin/pip install numba``):

    OPENBLAS_NUM_THREADS=1 /tmp/nbv/bin/python bench/numba_probe.py

Measures the per-element cost of tanh and exp in a Numba loop against NumPy's SIMD loops, the
cost of a Numba call with array arguments, and one forward step's element-wise work (the nine
NumPy calls of ``kernels.lstm._forward_loop_numpy``, tanh form) three ways: as those NumPy calls,
as one Numba call, and split (NumPy's two tanh passes, Numba kernels for the arithmetic between).
Wall clock, best of five repeats.
"""
import sys
import timeit

import numpy as np

try:
    import numba
    from numba import njit
except ImportError:
    sys.exit("numba_probe.py needs Numba (not a dependency of this project); see the docstring")

B, H = 8, 128
F32 = np.float32


def best_seconds(fn, number):
    return min(timeit.repeat(fn, number=number, repeat=5)) / number


# ---- per element, and per call ------------------------------------------------------------------
@njit(fastmath=True)
def numba_tanh(x, out):
    for k in range(x.size):
        out[k] = np.tanh(x[k])


@njit(fastmath=True)
def numba_exp(x, out):
    for k in range(x.size):
        out[k] = np.exp(x[k])


@njit
def numba_nothing(a, b, c, d, e):
    return 0


# ---- one forward step of the fused LSTM (tanh form: the i, f, o rows of `a` are halved) ---------
def numpy_step(a, gh, c_prev, c, tanh_c, h, ig, scale, shift):
    """The library's nine NumPy calls."""
    np.add(a, gh, out=a)
    np.tanh(a, out=a)
    np.multiply(a, scale, out=a)
    np.add(a, shift, out=a)                                   # [i f g o]
    np.multiply(a[:, H:2 * H], c_prev, out=c)
    np.multiply(a[:, :H], a[:, 2 * H:3 * H], out=ig)
    np.add(c, ig, out=c)                                      # c = f c_prev + i g
    np.tanh(c, out=tanh_c)
    np.multiply(a[:, 3 * H:], tanh_c, out=h)                  # h = o tanh(c)


@njit(fastmath=True)
def numba_step(a, gh, c_prev, c, tanh_c, h):
    """All of it in one Numba call (Numba's own scalar tanh)."""
    n = a.shape[1] // 4
    for b in range(a.shape[0]):
        for j in range(n):
            i = 0.5 * np.tanh(a[b, j] + gh[b, j]) + 0.5
            f = 0.5 * np.tanh(a[b, n + j] + gh[b, n + j]) + 0.5
            g = np.tanh(a[b, 2 * n + j] + gh[b, 2 * n + j])
            o = 0.5 * np.tanh(a[b, 3 * n + j] + gh[b, 3 * n + j]) + 0.5
            c[b, j] = f * c_prev[b, j] + i * g
            tanh_c[b, j] = np.tanh(c[b, j])
            h[b, j] = o * tanh_c[b, j]


@njit(fastmath=True)
def numba_gates_and_cell(a, c_prev, c):
    """After NumPy's tanh over the row: the gates in place, and c = f c_prev + i g."""
    n = a.shape[1] // 4
    for b in range(a.shape[0]):
        for j in range(n):
            i = 0.5 * a[b, j] + 0.5
            f = 0.5 * a[b, n + j] + 0.5
            a[b, j], a[b, n + j] = i, f
            a[b, 3 * n + j] = 0.5 * a[b, 3 * n + j] + 0.5
            c[b, j] = f * c_prev[b, j] + i * a[b, 2 * n + j]


@njit(fastmath=True)
def numba_hidden(a, tanh_c, h):
    n = a.shape[1] // 4
    for b in range(a.shape[0]):
        for j in range(n):
            h[b, j] = a[b, 3 * n + j] * tanh_c[b, j]


def split_step(a, gh, c_prev, c, tanh_c, h):
    np.add(a, gh, out=a)
    np.tanh(a, out=a)
    numba_gates_and_cell(a, c_prev, c)
    np.tanh(c, out=tanh_c)
    numba_hidden(a, tanh_c, h)


def main():
    print(f"numba {numba.__version__}, numpy {np.__version__}")
    rng = np.random.default_rng(0)
    big = rng.standard_normal(1_000_000).astype(F32)
    out = np.empty_like(big)
    for name, numpy_fn, numba_fn in (("tanh", np.tanh, numba_tanh), ("exp", np.exp, numba_exp)):
        numba_fn(big, out)                                    # compile
        ns_numpy = best_seconds(lambda: numpy_fn(big, out=out), 20) / big.size * 1e9
        ns_numba = best_seconds(lambda: numba_fn(big, out), 20) / big.size * 1e9
        print(f"{name:4s} ns per float32 element: NumPy {ns_numpy:.2f}, Numba {ns_numba:.2f}")
    row = rng.standard_normal((B, 4 * H)).astype(F32)
    numba_nothing(row, row, row, row, row)
    print(f"a Numba call with five array arguments, doing nothing: "
          f"{best_seconds(lambda: numba_nothing(row, row, row, row, row), 20000) * 1e6:.2f} us")

    A = rng.standard_normal((B, 4 * H)).astype(F32)
    gh = rng.standard_normal((B, 4 * H)).astype(F32)
    c_prev = rng.standard_normal((B, H)).astype(F32)
    c, tanh_c, h, ig = (np.empty((B, H), F32) for _ in range(4))
    scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], F32), H)
    shift = np.repeat(np.array([0.5, 0.5, 0.0, 0.5], F32), H)
    numba_step(A.copy(), gh, c_prev, c, tanh_c, h)            # compile
    split_step(A.copy(), gh, c_prev, c, tanh_c, h)
    copy_us = best_seconds(lambda: A.copy(), 20000) * 1e6    # each run starts from a fresh row
    ways = {"NumPy, nine calls": lambda: numpy_step(A.copy(), gh, c_prev, c, tanh_c, h, ig,
                                                    scale, shift),
            "Numba, one call": lambda: numba_step(A.copy(), gh, c_prev, c, tanh_c, h),
            "split: NumPy's tanh, Numba between": lambda: split_step(A.copy(), gh, c_prev, c,
                                                                     tanh_c, h)}
    print(f"one forward step's element-wise work at B={B}, H={H}:")
    for name, fn in ways.items():
        print(f"  {name:36s} {best_seconds(fn, 5000) * 1e6 - copy_us:6.1f} us")


if __name__ == "__main__":
    main()
