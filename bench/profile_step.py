"""Where the time of one LSTM training step goes (the work of bench_lstm.py), by category.

Every ``Function`` of the library gets a timer around its ``forward`` and ``backward`` (and
``np.matmul``, which the fused kernels and the deferred weight gradients call for every
product, another); each timer counts its own time without that of the timed calls inside it,
so a step's CPU time splits into

* **GEMMs**: the matrix products (``Linear``/``MatMul`` nodes; ``np.matmul`` inside the fused
  kernels and for the deferred weight gradients, ``SumOfProducts``);
* **element-wise**: every other op's forward and backward (for the fused kernel: its time
  minus its products: the NumPy calls of the time loops and the backward factors);
* **engine**: what is left: recording nodes, making tensors, the backward loop and its gradient
  accumulation, the optimizer's Python;

and reports the minor page faults of a step (fresh memory touched: the cost of allocation).
The **GEMM floor** times the products a fused step cannot avoid, alone, in the layout the
fused kernel uses (the input projection, T recurrent products forward and backward, dx and the
two weight gradients, the head). One thread (OPENBLAS_NUM_THREADS=1), CPU time, so that the
table means something on a loaded machine.

    OPENBLAS_NUM_THREADS=1 python bench/profile_step.py --workload W1
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_lstm  # noqa: E402

GEMM_OPS = {"Linear", "MatMul"}


class Timers:
    """Exclusive times: a timed call's time without that of the timed calls inside it (the
    products a fused node or a deferred weight gradient makes count once, as GEMMs)."""

    def __init__(self):
        self.t = {}
        self.on = False
        self.nested = [0.0]     # per open timed call: the time of the timed calls inside it

    def timed(self, fn, key, clock=time.process_time):
        def wrapper(*a, **k):
            self.nested.append(0.0)
            t0 = clock()
            try:
                return fn(*a, **k)
            finally:
                elapsed = clock() - t0
                inner = self.nested.pop()
                self.nested[-1] += elapsed
                if self.on:
                    self.t[key] = self.t.get(key, 0.0) + elapsed - inner
        return wrapper


def instrument(timers):
    """Timers around every Function's forward/backward and around np.matmul (wherever it is
    called: inside the fused kernels, and for the deferred weight gradients)."""
    from lstm_from_scratch import autograd

    def all_subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from all_subclasses(s)

    for cls in set(all_subclasses(autograd.Function)):
        for meth in ("forward", "backward"):
            f = cls.__dict__.get(meth)
            if f is not None:
                setattr(cls, meth, timers.timed(f, (cls.__name__, meth)))
    np.matmul = timers.timed(np.matmul, ("np.matmul", ""))


def profile(engine, workload, steps):
    s = bench_lstm.WORKLOADS[workload]
    T, B, I, H = s["seq"], s["batch"], s["input"], s["hidden"]
    P = bench_lstm.make_problem(T, B, I, H)
    timers = Timers()
    step, _, _ = bench_lstm.engine_lfs(P, T, B, I, H, 1e-3, fused=engine == "lfs_fused")
    instrument(timers)
    for _ in range(3):
        step()
    rows = []
    timers.on = True
    for _ in range(steps):
        timers.t = {}
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.process_time()
        step()
        total = (time.process_time() - t0) * 1e3
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        t = {k: v * 1e3 for k, v in timers.t.items()}
        ops = sum(v for (name, _), v in t.items() if name != "np.matmul")
        products = t.get(("np.matmul", ""), 0.0)
        gemm_ops = sum(v for (name, _), v in t.items() if name in GEMM_OPS)
        rows.append({"total": total, "gemm": gemm_ops + products,
                     "elementwise": ops - gemm_ops, "engine": total - ops - products,
                     "sys": (r1.ru_stime - r0.ru_stime) * 1e3,
                     "faults": r1.ru_minflt - r0.ru_minflt, "ops": t})
    # the median step (by total): other jobs on the machine only ever add time
    rows.sort(key=lambda r: r["total"])
    return rows[len(rows) // 2]


def gemm_floor(workload, reps):
    """The products of one fused training step, alone, as the fused kernel lays them out."""
    s = bench_lstm.WORKLOADS[workload]
    T, B, I, H = s["seq"], s["batch"], s["input"], s["hidden"]
    rng = np.random.default_rng(0)
    f = np.float32
    X = rng.standard_normal((T * B, I)).astype(f)
    W_ih = rng.standard_normal((4 * H, I)).astype(f)
    W_hhT = rng.standard_normal((H, 4 * H)).astype(f)
    W_hh = np.ascontiguousarray(W_hhT.T)
    W_y = rng.standard_normal((I, H)).astype(f)
    A = np.empty((T * B, 4 * H), f)
    Hs = rng.standard_normal((T + 1, B, H)).astype(f)
    D = rng.standard_normal((T * B, 4 * H)).astype(f)
    gh = np.empty((B, 4 * H), f)
    hb = np.empty((B, H), f)
    Y = np.empty((T * B, I), f)

    def step():
        np.matmul(X, W_ih.T, out=A)                      # input projection
        for t in range(T):
            np.matmul(Hs[t], W_hhT, out=gh)              # recurrent products, forward
        np.matmul(Hs[1:].reshape(T * B, H), W_y.T, out=Y)    # head
        np.matmul(Y, W_y)                                # head backward: dh
        np.matmul(Y.T, Hs[1:].reshape(T * B, H))         # head: dW_y
        for t in range(T):
            np.matmul(D[t * B:(t + 1) * B], W_hh, out=hb)    # recurrent products, backward
        np.matmul(D, W_ih)                               # dx
        np.matmul(D.T, X)                                # dW_ih
        np.matmul(D.T, Hs[:-1].reshape(T * B, H))        # dW_hh

    step()
    ts = []
    for _ in range(reps):
        t0 = time.process_time()
        step()
        ts.append(time.process_time() - t0)
    return statistics.median(ts) * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W1", choices=sorted(bench_lstm.WORKLOADS))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--engines", default="lfs_primitive,lfs_fused")
    p.add_argument("--ops", action="store_true", help="also list every op's time")
    p.add_argument("--set", action="append", default=[], metavar="MODULE:NAME=VALUE",
                   help="set a switch of the library first, e.g. "
                        "lstm_from_scratch.functional.linalg:DEFER_WEIGHT_GRADIENTS=0")
    a = p.parse_args()
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print("# note: OPENBLAS_NUM_THREADS is not 1: CPU times add up both threads' work",
              file=sys.stderr)
    import importlib
    for item in a.set:
        mod, rest = item.split(":")
        name, value = rest.split("=")
        setattr(importlib.import_module(mod), name, type(getattr(importlib.import_module(mod),
                                                                  name))(int(value)))
    floor = gemm_floor(a.workload, a.steps)
    print(f"{a.workload}, CPU ms of the median of {a.steps} training steps, load "
          f"{os.getloadavg()[0]:.1f}; GEMM floor (the products alone): {floor:.1f} ms\n")
    print("| path | step | GEMMs | element-wise | engine + optimizer | of it, system (page "
          "faults) | minor page faults |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for e in a.engines.split(","):
        r = profile(e, a.workload, a.steps)
        print(f"| {e} | {r['total']:.1f} | {r['gemm']:.1f} | {r['elementwise']:.1f} | "
              f"{r['engine']:.1f} | {r['sys']:.1f} | {r['faults']:.0f} |")
        if a.ops:
            for (name, m), v in sorted(r["ops"].items(), key=lambda kv: -kv[1]):
                print(f"|   {name}.{m} | {v:.2f} | | | | |")


if __name__ == "__main__":
    main()
