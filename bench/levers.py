"""Each speed lever of the library, switched off and on in alternate training steps of the same
process: the lever -> effect log of docs/decisions.md and chapter 12.

A lever is a switch of the library read at run time. For each lever and path (primitive, fused)
the script builds the training step of bench_lstm.py once, then runs ``--pairs`` pairs of steps,
one with the lever off and one with it on (the order alternates), timing each step's CPU time
(one BLAS thread). Other jobs on the machine slow both steps of a pair alike, so the median of
the per-pair ratios on/off is robust where the times themselves are not.

    OPENBLAS_NUM_THREADS=1 python bench/levers.py --workload W1 --pairs 15

Levers:

* ``malloc``: glibc's trim/mmap thresholds raised (``_cpu.tune_malloc``) against glibc's
  defaults set explicitly (128 KiB; the default's dynamic adjustment is not reproduced);
* ``defer_weight_grad``: Linear's weight gradient kept as factors and computed as one product
  after the backward pass (``functional.linalg.DEFER_WEIGHT_GRADIENTS``);
* ``fused_tanh``: the fused LSTM's gates from one tanh instead of one exp
  (``_cpu.SIGMOID_VIA_TANH``);
* ``fused_pool``: the fused kernels' work buffers reused (``kernels._workspace.ENABLED``);
* ``column_major_w_hh``: the recurrent layers hand every step W_hh stored column by column,
  one recorded copy per sequence, so that ``h @ W_hh.T`` reads a contiguous matrix
  (``nn.rnn.layers.COLUMN_MAJOR_W_HH``).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench_lstm  # noqa: E402


def _mallopt(trim, mmap, top_pad):
    libc = ctypes.CDLL("libc.so.6")
    for param, value in ((-3, mmap), (-1, trim), (-2, top_pad)):
        libc.mallopt(param, value)


def levers():
    from lstm_from_scratch import cpu as _cpu
    from lstm_from_scratch.functional import linalg
    from lstm_from_scratch.kernels import _workspace
    from lstm_from_scratch.nn.rnn import layers

    def flag(module, name):
        return lambda on: setattr(module, name, bool(on))

    def malloc(on):
        if on:
            _mallopt(_cpu.TRIM, _cpu.MMAP, _cpu.TOP_PAD)
        else:
            _mallopt(128 * 1024, 128 * 1024, 0)

    return {"malloc": (malloc, ("lfs_primitive", "lfs_fused")),
            "defer_weight_grad": (flag(linalg, "DEFER_WEIGHT_GRADIENTS"), ("lfs_primitive",)),
            "fused_tanh": (flag(_cpu, "SIGMOID_VIA_TANH"), ("lfs_fused",)),
            "fused_pool": (flag(_workspace, "ENABLED"), ("lfs_fused",)),
            "column_major_w_hh": (flag(layers, "COLUMN_MAJOR_W_HH"), ("lfs_primitive",))}


def measure(switch, engine, workload, pairs):
    s = bench_lstm.WORKLOADS[workload]
    T, B, I, H = s["seq"], s["batch"], s["input"], s["hidden"]
    P = bench_lstm.make_problem(T, B, I, H)
    step, _, _ = bench_lstm.engine_lfs(P, T, B, I, H, 1e-3, fused=engine == "lfs_fused")
    times = {False: [], True: []}
    for state in (False, True, False, True):                  # warm both states up
        switch(state)
        step()
    ratios = []
    for k in range(pairs):
        order = (False, True) if k % 2 == 0 else (True, False)
        got = {}
        for state in order:
            switch(state)
            step()                                             # a step to settle the state
            t0 = time.process_time()
            step()
            got[state] = time.process_time() - t0
            times[state].append(got[state])
        ratios.append(got[True] / got[False])
    switch(True)
    return (statistics.median(times[False]) * 1e3, statistics.median(times[True]) * 1e3,
            statistics.median(ratios), min(ratios), max(ratios))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workload", default="W1", choices=sorted(bench_lstm.WORKLOADS))
    p.add_argument("--pairs", type=int, default=15)
    p.add_argument("--levers", default=None, help="comma-separated subset")
    a = p.parse_args()
    table = levers()
    names = a.levers.split(",") if a.levers else list(table)
    print(f"{a.workload}, {a.pairs} pairs of steps per lever, CPU ms per step (one BLAS thread: "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}), "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}, load "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| lever | path | off ms | on ms | on / off (median of pairs) | range |")
    print("|---|---|---:|---:|---:|---:|")
    for name in names:
        switch, engines = table[name]
        for engine in engines:
            off, on, r, lo, hi = measure(switch, engine, a.workload, a.pairs)
            print(f"| {name} | {engine} | {off:.1f} | {on:.1f} | {r:.2f} | {lo:.2f}-{hi:.2f} |",
                  flush=True)
    print(f"\nload at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
