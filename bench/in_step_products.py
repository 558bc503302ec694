"""Why the primitive path's recurrent products are slower inside a training step than alone.

Records the recurrent products ``h @ W_hh.T + b`` of the primitive LSTM's forward passes (the
work of bench_lstm.py, W1 by default) with their time in the step, then replays the same
products on the same arrays back to back, with a given amount of fresh memory written between
them. If the replay with about as much fresh memory as a step writes matches the in-step time,
the difference is the cache: the step's new arrays push W_hh^T (1 MiB at W1) out of the core's
cache between two products (docs/decisions.md, "Performance notes").

    OPENBLAS_NUM_THREADS=1 python bench/in_step_products.py [--workload W1]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_lstm  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W1", choices=sorted(bench_lstm.WORKLOADS))
    p.add_argument("--steps", type=int, default=5)
    a = p.parse_args()
    from lstm_from_scratch.functional import linalg

    s = bench_lstm.WORKLOADS[a.workload]
    T, B, I, H = s["seq"], s["batch"], s["input"], s["hidden"]
    step, _, _ = bench_lstm.engine_lfs(bench_lstm.make_problem(T, B, I, H), T, B, I, H, 1e-3,
                                       fused=False)
    recorded, in_step = [], []
    forward = linalg.Linear.forward

    def timed_forward(self, x, weight, bias=None):
        t0 = time.perf_counter()
        y = forward(self, x, weight, bias)
        if recording and x.shape == (B, H):            # a recurrent product, not the head's
            in_step.append(time.perf_counter() - t0)
            recorded.append((x, weight, bias))
        return y

    linalg.Linear.forward = timed_forward
    recording = False
    for _ in range(3):
        step()
    recording = True
    for _ in range(a.steps):
        step()
    recording = False
    print(f"{a.workload}: {len(in_step)} recurrent products, one BLAS thread if "
          f"OPENBLAS_NUM_THREADS=1 (now {os.environ.get('OPENBLAS_NUM_THREADS', 'unset')})")
    print(f"  inside the training step: {statistics.median(in_step) * 1e6:6.0f} us each")
    for kib in (0, 256, 512, 1024, 2048, 4096):
        times = []
        for x, weight, bias in recorded[:T]:
            if kib:
                np.ones(kib * 256, np.float32)          # kib KiB of fresh memory written
            t0 = time.perf_counter()
            y = x @ weight.T
            y += bias
            times.append(time.perf_counter() - t0)
        print(f"  replayed, {kib:4d} KiB of fresh memory written between products: "
              f"{statistics.median(times) * 1e6:6.0f} us each")


if __name__ == "__main__":
    main()
