"""Per-op overhead of this tree's engine against another tree's, in ONE process.

On a shared, loaded machine two runs of ``bench_overhead.py`` differ by 10-20%; a comparison
of two versions of the engine needs both in the same process, alternating, on CPU time. This
script imports the other tree's package under another name (a symlink ``lfs_base`` in a
temporary folder; the package uses relative imports only), runs bench_overhead's chain
(K x (tanh, mul, add) + sum, forward and backward, (32, 32) float32) with each engine in
alternating order, and reports the median of the per-round ratios.

    OPENBLAS_NUM_THREADS=1 python bench/ab_overhead.py --baseline /path/to/checkout/of/main
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def build(lfs, arrays, K):
    x, w, b = (lfs.tensor(a, requires_grad=True, device="cpu") for a in arrays)

    def step():
        for t in (x, w, b):
            t.grad = None
        y = x
        for _ in range(K):
            y = lfs.tanh(y)
            y = y * w
            y = y + b
        y.sum().backward()
    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--baseline", required=True, help="another source tree (e.g. main)")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--blocks", type=int, default=100)
    a = p.parse_args()
    link_dir = tempfile.mkdtemp()
    os.symlink(os.path.join(os.path.abspath(a.baseline), "lstm_from_scratch"),
               os.path.join(link_dir, "lfs_base"))
    sys.path.insert(0, link_dir)
    sys.path.insert(0, ROOT)
    import lfs_base
    import lstm_from_scratch
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((32, 32)).astype(np.float32) for _ in range(3)]
    steps = {"base": build(lfs_base, arrays, a.blocks),
             "this": build(lstm_from_scratch, arrays, a.blocks)}
    for s in steps.values():
        for _ in range(3):
            s()
    n_ops = 3 * a.blocks + 1
    times = {k: [] for k in steps}
    for r in range(a.rounds):
        for k in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            t0 = time.process_time()
            for _ in range(a.reps):
                steps[k]()
            times[k].append((time.process_time() - t0) / a.reps / n_ops * 1e6)
    ratios = sorted(t / b for b, t in zip(times["base"], times["this"]))
    print(f"forward + backward, {n_ops} ops on (32, 32) float32, CPU time, {a.rounds} "
          f"alternating rounds x {a.reps} steps, load {os.getloadavg()[0]:.1f}")
    for k, v in times.items():
        v = sorted(v)
        print(f"{k}: median {v[len(v) // 2]:.2f} us/op, min {v[0]:.2f}")
    print(f"this / base, per round: median {ratios[len(ratios) // 2]:.3f} "
          f"(range {ratios[0]:.3f}-{ratios[-1]:.3f})")


if __name__ == "__main__":
    main()
