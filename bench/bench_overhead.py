"""Per-op overhead: forward + backward of a chain of small element-wise ops, side by side.

The work, identical for every engine (float32 on the CPU, shape (32, 32) by default):

    y = x
    repeat K times:  y = tanh(y);  y = y * w;  y = y + b      (3 ops)
    loss = sum(y)                                             (1 op)
    loss.backward()          -> gradients of x, w and b

so one step runs 3K + 1 primitives forward and as many backward. With arrays this small the
arithmetic itself takes about a microsecond per op; what is left is the engine's bookkeeping
(creating tensors and graph nodes, the backward loop), which is what this script measures. It
is what bounds the LSTM on small sizes (W2 in ../shared/BENCHMARKS.md).

Engines, interleaved in one process over several rounds (order rotated each round), so they
see the same machine load; the median over rounds is reported:

* ``lfs``: this project's engine;
* ``torch``: PyTorch eager (the reference: ratios are ours / torch);
* ``dezero``: DeZero 0.0.13, a pure-Python autograd engine on NumPy (``pip install dezero``);
  two shims are needed under NumPy 2 (``np.int`` and float32 constants, see below);
* ``numpy``: the same forward and hand-written backward in plain NumPy, no autograd: the floor
  of arithmetic that any engine pays.

Every engine's gradients are checked against the NumPy ones (and their dtype against float32)
before timing. Usage::

    python bench/bench_overhead.py                    # defaults: K=100, 7 rounds
    python bench/bench_overhead.py --rounds 3 --engines lfs,dezero
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=100, help="K: repetitions of tanh, mul, add")
    p.add_argument("--shape", type=int, nargs=2, default=(32, 32))
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds (median reported)")
    p.add_argument("--reps", type=int, default=10, help="steps timed per engine per round")
    p.add_argument("--engines", default="lfs,torch,dezero,numpy")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    return p.parse_args(argv)


def make_data(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    w = (rng.uniform(0.5, 1.5, shape)).astype(np.float32)    # keeps tanh out of saturation
    b = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return x, w, b


# ---- one builder per engine: returns step() -> (loss, gx, gw, gb) as NumPy arrays -----------------
def build_numpy(x, w, b, K):
    def step():
        ts, y = [], x
        for _ in range(K):
            t = np.tanh(y)
            ts.append(t)
            y = t * w + b
        loss = y.sum()
        g = np.ones_like(y)
        gw = np.zeros_like(w)
        gb = np.zeros_like(b)
        for t in reversed(ts):
            gb = gb + g
            gw = gw + g * t
            g = (g * w) * (1 - t * t)
        return loss, g, gw, gb
    return step


def build_lfs(x, w, b, K):
    import lstm_from_scratch as lfs
    lfs.set_device("cpu")
    tx, tw, tb = (lfs.tensor(a, requires_grad=True) for a in (x, w, b))

    def step():
        for t in (tx, tw, tb):
            t.grad = None
        y = tx
        for _ in range(K):
            y = lfs.tanh(y)
            y = y * tw
            y = y + tb
        loss = y.sum()
        loss.backward()
        return loss.data, tx.grad.data, tw.grad.data, tb.grad.data
    return step


def build_torch(x, w, b, K, threads=1):
    import torch
    torch.set_num_threads(threads)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

    def step():
        for t in (tx, tw, tb):
            t.grad = None
        y = tx
        for _ in range(K):
            y = torch.tanh(y)
            y = y * tw
            y = y + tb
        loss = y.sum()
        loss.backward()
        return loss.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()
    return step


def build_dezero(x, w, b, K):
    np.int = int            # DeZero 0.0.13 uses the alias removed in NumPy 1.24
    import dezero
    import dezero.core
    import dezero.functions as F

    # Under NumPy 2 (NEP 50) DeZero's Python-scalar constants (the 1 in tanh's backward 1 - y*y)
    # become 0-d float64 arrays that promote float32 to float64: the whole backward would run
    # in float64. Making them float32 restores DeZero's NumPy-1 behaviour (as in
    # ../shared/bench-peers/dezero_lstm.py).
    original = dezero.core.as_array

    def as_array(v, array_module=np):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return array_module.array(v, dtype=np.float32)
        return original(v, array_module)
    dezero.core.as_array = as_array

    vx, vw, vb = (dezero.Variable(a.copy()) for a in (x, w, b))

    def step():
        for v in (vx, vw, vb):
            v.cleargrad()
        y = vx
        for _ in range(K):
            y = F.tanh(y)
            y = y * vw
            y = y + vb
        loss = F.sum(y)
        loss.backward()
        return loss.data, vx.grad.data, vw.grad.data, vb.grad.data
    return step


def check(name, got, want):
    """Same loss and gradients as plain NumPy, all float32."""
    labels = ("loss", "dx", "dw", "db")
    for label, g, r in zip(labels, got, want):
        g = np.asarray(g)
        if g.dtype != np.float32:
            raise SystemExit(f"{name}: {label} has dtype {g.dtype}, expected float32")
        if not np.allclose(g, r, rtol=1e-4, atol=1e-4 * max(1.0, float(np.abs(r).max()))):
            raise SystemExit(f"{name}: {label} differs from NumPy's by {np.abs(g - r).max():.3g}")


def main(argv=None):
    a = parse_args(argv)
    x, w, b = make_data(tuple(a.shape))
    K = a.blocks
    n_ops = 3 * K + 1
    builders = {"lfs": lambda: build_lfs(x, w, b, K),
                "torch": lambda: build_torch(x, w, b, K, a.threads),
                "dezero": lambda: build_dezero(x, w, b, K),
                "numpy": lambda: build_numpy(x, w, b, K)}
    names = [n.strip() for n in a.engines.split(",") if n.strip()]
    for n in names:
        if n not in builders:
            raise SystemExit(f"unknown engine {n!r}; choose from {sorted(builders)}")
    reference = build_numpy(x, w, b, K)()
    steps = {}
    for n in names:
        try:
            steps[n] = builders[n]()
        except ImportError as e:
            print(f"skipping {n}: {e}", file=sys.stderr)
            continue
        check(n, steps[n](), reference)
        for _ in range(3):              # warm-up
            steps[n]()

    per_op = {n: [] for n in steps}     # microseconds per op, one entry per round
    order = list(steps)
    for r in range(a.rounds):
        for n in order[r % len(order):] + order[:r % len(order)]:
            step = steps[n]
            t0 = time.perf_counter()
            for _ in range(a.reps):
                step()
            per_op[n].append((time.perf_counter() - t0) / a.reps / n_ops * 1e6)

    med = {n: statistics.median(v) for n, v in per_op.items()}
    print(f"\nforward + backward, chain of {n_ops} ops (tanh, mul, add) x {K} + sum on "
          f"{tuple(a.shape)} float32, CPU; median of {a.rounds} interleaved rounds x "
          f"{a.reps} steps\n")
    header = "| engine | us/op | min | max |"
    cols = [p for p in ("torch", "dezero") if p in med]
    header += "".join(f" ratio to {p} |" for p in cols)
    print(header)
    print("|---|---:|---:|---:|" + "---:|" * len(cols))
    ratios = {}
    for n in steps:
        row = f"| {n} | {med[n]:.2f} | {min(per_op[n]):.2f} | {max(per_op[n]):.2f} |"
        for p in cols:
            # the ratio within each round (same machine state), then the median over rounds
            ratios[n, p] = statistics.median(u / v for u, v in zip(per_op[n], per_op[p]))
            row += f" {ratios[n, p]:.2f} |"
        print(row)
    print("\n(us/op: median over rounds; ratio = engine / peer, the median over rounds of the "
          "per-round ratio; below 1.00 means faster than the peer)")
    return med, ratios


if __name__ == "__main__":
    main()
