"""One LSTM training step, this project's engine against PyTorch and hand-written NumPy (CPU).

The work (../shared/BENCHMARKS.md): a single-layer LSTM over T steps from a zero state, a linear
head H->I on every h_t, MSE over all T*B*I elements, backward through all T steps, an SGD update
of every parameter; float32; identical weights and data for every engine (``make_problem`` of
../shared/bench-peers/common.py when that folder exists, else the same few lines below, with
the same seed and draw order, so the numbers are comparable).

Engines, each run in a fresh process:

* ``lfs_primitive``: ``lfs.nn.LSTM(fused=False)``, the LSTM composed of the library's
  primitives (a dozen graph nodes per step; the teaching path);
* ``lfs_fused``: ``lfs.kernels.lstm_sequence``, the whole recurrence as one graph node;
* ``torch_lstm``: ``torch.nn.LSTM`` (oneDNN's fused LSTM on the CPU), ``torch.set_num_threads(2)``;
* ``torch_eager_cell``: the cell in torch ops, a Python loop over T, torch autograd, 2 threads;
* ``numpy_manual``: ../shared/bench-peers/numpy_manual.py (hand-written forward and BPTT, no
  autograd), only when that folder exists.

Workloads W1 (B32 T64 I64 H256) and W2 (B8 T128 I32 H128). Each round runs every engine on W1
then W2, in an order rotated by one engine per round. Every run: 3 warm-up steps, then ``--steps``
timed steps (perf_counter around each), median; the gradients' dtypes are asserted float32.
The table: median over rounds of the runs' medians; ratios are medians over rounds of the
per-round ratio (robust to the machine's speed drifting); peak RSS is ru_maxrss of the run.

    python bench/bench_lstm.py --rounds 5            # the measurement
    python bench/bench_lstm.py --rounds 1            # a quick check that everything runs
    python bench/bench_lstm.py --worker lfs_fused --workload W2 --profile   # cProfile of one engine
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.normpath(os.path.join(ROOT, "..", "shared", "bench-peers"))
if not os.path.isdir(PEERS):            # a worktree one level deeper (../../shared)
    PEERS = os.path.normpath(os.path.join(ROOT, "..", "..", "shared", "bench-peers"))
WARMUP = 3
WORKLOADS = {"W1": dict(batch=32, seq=64, input=64, hidden=256),
             "W2": dict(batch=8, seq=128, input=32, hidden=128)}
ENGINES = ["torch_lstm", "torch_eager_cell", "lfs_primitive", "lfs_fused", "numpy_manual"]
THREADS = [2]           # torch.set_num_threads in a worker (--threads)
BASELINE = [None]       # --baseline: a second source tree, its engines named lfs_*@base


# ---- the problem -------------------------------------------------------------------------------
def make_problem(T, B, I, H, dtype="float32", seed=0):
    """Data and parameters in torch.nn.LSTM's layout: the peers' common.make_problem."""
    if os.path.isdir(PEERS):
        sys.path.insert(0, PEERS)
        try:
            import common
            a = argparse.Namespace(seq=T, batch=B, input=I, hidden=H, dtype=dtype, seed=seed)
            return common.make_problem(a)
        finally:
            sys.path.remove(PEERS)
    # the same draws in the same order (keep in step with common.make_problem)
    rng = np.random.default_rng(seed)
    k = 1.0 / np.sqrt(H)
    d = {"x": rng.standard_normal((T, B, I)), "target": rng.standard_normal((T, B, I)),
         "W_ih": rng.uniform(-k, k, (4 * H, I)), "W_hh": rng.uniform(-k, k, (4 * H, H)),
         "b_ih": rng.uniform(-k, k, (4 * H,)), "b_hh": rng.uniform(-k, k, (4 * H,)),
         "W_y": rng.uniform(-k, k, (I, H)), "b_y": rng.uniform(-k, k, (I,))}
    return {n: np.ascontiguousarray(v.astype(dtype)) for n, v in d.items()}


# ---- the engines: each returns step() and a function giving the gradients' dtypes -------------
def engine_lfs(P, T, B, I, H, lr, fused):
    sys.path.insert(0, os.environ.get("LFS_BENCH_ROOT", ROOT))      # --baseline: another tree
    import lstm_from_scratch as lfs
    from lstm_from_scratch import kernels, nn

    x = lfs.tensor(P["x"])
    target = lfs.tensor(P["target"].reshape(T * B, I))
    head = nn.Linear(H, I)
    head.weight.data[...] = P["W_y"]
    head.bias.data[...] = P["b_y"]
    if fused:
        names = ("W_ih", "W_hh", "b_ih", "b_hh")
        w = [lfs.tensor(P[n], requires_grad=True) for n in names]

        def lstm_out():
            return kernels.lstm_sequence(x, None, None, *w)[0]
    else:
        lstm = nn.LSTM(I, H, fused=False)
        for n, src in (("weight_ih_l0", "W_ih"), ("weight_hh_l0", "W_hh"),
                       ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
            getattr(lstm, n).data[...] = P[src]
        w = list(lstm.parameters())

        def lstm_out():
            return lstm(x)[0]
    params = w + list(head.parameters())
    opt = lfs.optim.SGD(params, lr=lr)
    mse = nn.functional.mse_loss
    last = [None]

    def step():
        opt.zero_grad()
        out = lstm_out()                                   # (T, B, H)
        loss = mse(head(out.reshape((T * B, H))), target)
        loss.backward()
        opt.step()
        last[0] = loss

    return step, lambda: [p.grad.dtype for p in params] + [last[0].dtype], \
        lambda: last[0].item()


def torch_training_step(P, T, B, I, H, lr, fused, device="cpu"):
    """The work in PyTorch on ``device``: ``torch.nn.LSTM`` (oneDNN's fused LSTM on the CPU,
    cuDNN's on CUDA) when ``fused``, else the peers' torch_eager_cell (gates = x_t @ Wx + h @ Wh
    + b, chunk, sigmoid/tanh). Also bench_gpu.py's. Returns (step, params, last), last[0] the
    latest loss (detached)."""
    import torch
    dev = torch.device(device)
    x = torch.from_numpy(P["x"]).to(dev)
    target = torch.from_numpy(P["target"]).to(dev)
    if fused:
        lstm = torch.nn.LSTM(I, H).to(dev)
        head = torch.nn.Linear(H, I).to(dev)
        with torch.no_grad():
            for n, src in (("weight_ih_l0", "W_ih"), ("weight_hh_l0", "W_hh"),
                           ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
                getattr(lstm, n).copy_(torch.from_numpy(P[src]))
            head.weight.copy_(torch.from_numpy(P["W_y"]))
            head.bias.copy_(torch.from_numpy(P["b_y"]))
        params = list(lstm.parameters()) + list(head.parameters())

        def forward():
            out, _ = lstm(x)
            return torch.nn.functional.mse_loss(head(out), target)
    else:
        def leaf(a):
            return torch.from_numpy(np.array(a, order="C")).to(dev).requires_grad_()   # a copy
        Wx, Wh = leaf(P["W_ih"].T), leaf(P["W_hh"].T)
        b, Wy, by = leaf(P["b_ih"] + P["b_hh"]), leaf(P["W_y"].T), leaf(P["b_y"])
        params = [Wx, Wh, b, Wy, by]

        def forward():
            h = torch.zeros(B, H, device=dev)
            c = torch.zeros(B, H, device=dev)
            hs = []
            for t in range(T):
                gates = x[t] @ Wx + h @ Wh + b
                i, f, g, o = gates.chunk(4, 1)
                i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
                c = f * c + i * g
                h = o * torch.tanh(c)
                hs.append(h)
            y = torch.stack(hs) @ Wy + by
            return ((y - target) ** 2).mean()
    opt = torch.optim.SGD(params, lr=lr)
    last = [None]

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward()
        loss.backward()
        opt.step()
        last[0] = loss.detach()

    return step, params, last


def engine_torch(P, T, B, I, H, lr, fused):
    import torch
    torch.set_num_threads(THREADS[0])
    step, params, last = torch_training_step(P, T, B, I, H, lr, fused)
    return step, lambda: [str(p.grad.dtype).replace("torch.", "") for p in params], \
        lambda: last[0].item()


def run_worker(engine, workload, steps, lr, profile=False):
    """Time one engine on one workload in this process; print one JSON line."""
    s = WORKLOADS[workload]
    T, B, I, H = s["seq"], s["batch"], s["input"], s["hidden"]
    P = make_problem(T, B, I, H)
    if engine.startswith("lfs_"):
        step, dtypes, final = engine_lfs(P, T, B, I, H, lr,
                                         fused=engine.split("@")[0] == "lfs_fused")
    elif engine.startswith("torch_"):
        step, dtypes, final = engine_torch(P, T, B, I, H, lr, fused=engine == "torch_lstm")
    else:
        raise SystemExit(f"unknown engine {engine!r}; choose from {ENGINES}")
    for _ in range(WARMUP):
        step()
    bad = [str(d) for d in dtypes() if str(d) != "float32"]
    if bad:
        raise SystemExit(f"{engine}: gradient dtype(s) {bad} are not float32")
    if profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(steps):
            step()
        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    ts, cpu = [], []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        ts.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    print(json.dumps({
        "engine": engine, "workload": workload, "ms_per_step": round(statistics.median(ts), 3),
        "cpu_ms_per_step": round(statistics.median(cpu), 3),
        "min_ms": round(min(ts), 3), "max_ms": round(max(ts), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
        "final_loss": final(), **s, "steps": steps}), flush=True)


# ---- the driver ----------------------------------------------------------------------------------
def run_one(engine, workload, steps, lr, threads=2):
    """A fresh process for one run; returns its JSON record (or an error record)."""
    s = WORKLOADS[workload]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    if "@" in engine:                   # lfs_fused@base: the library of the --baseline tree
        env["LFS_BENCH_ROOT"] = BASELINE[0]
    if engine == "numpy_manual":
        cmd = [sys.executable, os.path.join(PEERS, "numpy_manual.py"),
               "--batch", str(s["batch"]), "--seq", str(s["seq"]), "--input", str(s["input"]),
               "--hidden", str(s["hidden"]), "--steps", str(steps), "--lr", str(lr),
               "--dtype", "float32"]
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", engine,
               "--workload", workload, "--steps", str(steps), "--lr", str(lr),
               "--threads", str(threads)]
    load = os.getloadavg()[0]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        return {"engine": engine, "workload": workload,
                "error": (out.stderr.strip().splitlines() or ["?"])[-1]}
    rec = json.loads(out.stdout.strip().splitlines()[-1])
    rec.update(engine=engine, workload=workload, threads=threads,
               load=round((load + os.getloadavg()[0]) / 2, 2))
    return rec


def table(records, engines, workloads, metric="ms_per_step"):
    """Markdown: median ms/step over rounds, ratios to torch_lstm and torch_eager_cell (medians
    over rounds of the per-round ratios), peak RSS. ``metric``: "ms_per_step" (wall clock) or
    "cpu_ms_per_step" (CPU time of the process: robust to other jobs taking the cores, when
    every engine runs one thread; numpy_manual reports wall time only)."""
    by = {}
    for r in records:
        if "error" not in r and metric in r:
            by.setdefault((r["engine"], r["workload"]), {})[r["round"]] = r

    def ratio(e, wl, ref):
        a, b = by.get((e, wl), {}), by.get((ref, wl), {})
        rs = [a[k][metric] / b[k][metric] for k in a if k in b]
        return f"{statistics.median(rs):.2f}" if rs else "-"

    head = "| engine |"
    rule = "|---|"
    for wl in workloads:
        head += f" {wl} ms/step | {wl} / torch_lstm | {wl} / torch_eager_cell |"
        rule += "---:|---:|---:|"
    head += " peak RSS MB (" + " / ".join(workloads) + ") | runs |"
    rule += "---:|---:|"
    lines = [head, rule]
    for e in engines:
        row = f"| {e} |"
        rss, runs = [], []
        for wl in workloads:
            rs = by.get((e, wl), {})
            ms = [r[metric] for r in rs.values()]
            row += (f" {statistics.median(ms):.1f} |" if ms else " - |")
            row += f" {ratio(e, wl, 'torch_lstm')} | {ratio(e, wl, 'torch_eager_cell')} |"
            rss.append(f"{max(r['peak_rss_mb'] for r in rs.values()):.0f}" if rs else "-")
            runs.append(str(len(rs)))
        lines.append(row + f" {' / '.join(rss)} | {'+'.join(runs)} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20, help="timed steps per run")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--workloads", default="W1,W2")
    p.add_argument("--raw", default=None, help="append every run's JSON line to this file")
    p.add_argument("--threads", type=int, default=2,
                   help="BLAS/OpenMP threads of every engine (torch.set_num_threads too); on a "
                        "loaded machine use 1 and read the CPU-time table")
    p.add_argument("--from-raw", default=None,
                   help="only print the tables of the runs recorded in this --raw file")
    p.add_argument("--baseline", default=None,
                   help="another source tree (e.g. a checkout of main): adds the engines "
                        "lfs_primitive@base and lfs_fused@base, run from its library")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--workload", default="W2", help=argparse.SUPPRESS)
    p.add_argument("--profile", action="store_true", help="with --worker: cProfile to stderr")
    a = p.parse_args()
    THREADS[0] = a.threads
    if a.worker:
        run_worker(a.worker, a.workload, a.steps, a.lr, a.profile)
        return
    engines = [e for e in a.engines.split(",") if e]
    if a.baseline:
        BASELINE[0] = os.path.abspath(a.baseline)
        engines += [e + "@base" for e in ("lfs_primitive", "lfs_fused") if e in engines]
    if a.from_raw:
        with open(a.from_raw) as f:
            records = [json.loads(line) for line in f if line.strip()]
        seen = list(dict.fromkeys(r["engine"] for r in records))
        report(records, seen, [w for w in WORKLOADS if any(r["workload"] == w for r in records)],
               a.from_raw)
        return
    if "numpy_manual" in engines and not os.path.isfile(os.path.join(PEERS, "numpy_manual.py")):
        print(f"# {PEERS}/numpy_manual.py not found: numpy_manual left out", file=sys.stderr)
        engines.remove("numpy_manual")
    workloads = [w for w in a.workloads.split(",") if w]
    records = []
    raw = open(a.raw, "a") if a.raw else None
    for r in range(a.rounds):
        order = engines[r % len(engines):] + engines[:r % len(engines)]
        for wl in workloads:
            for e in order:
                rec = run_one(e, wl, a.steps, a.lr, a.threads)
                rec.update(round=r, utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
                records.append(rec)
                print(json.dumps(rec), file=sys.stderr, flush=True)
                if raw:
                    raw.write(json.dumps(rec) + "\n")
                    raw.flush()
    if raw:
        raw.close()
    report(records, engines, workloads,
           f"{a.rounds} round(s) x {a.steps} timed steps, {a.threads} thread(s)")


def report(records, engines, workloads, what):
    """Both tables (wall clock, CPU time), the load while they ran, and the failed runs."""
    ok = [r for r in records if "error" not in r]
    loads = [r["load"] for r in ok if "load" in r]
    utc = sorted(r["utc"] for r in ok if "utc" in r)
    print(f"\nfloat32, {what}, {utc[0] if utc else '?'} to {utc[-1] if utc else '?'}, "
          f"{os.cpu_count()} CPUs, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '-')}")
    if loads:
        print(f"load average (1 min) during the runs: median {statistics.median(loads):.1f}, "
              f"range {min(loads):.1f}-{max(loads):.1f}")
    print("\nwall clock:\n")
    print(table(records, engines, workloads))
    if any("cpu_ms_per_step" in r for r in ok):
        print("\nCPU time of the process (numpy_manual: not measured):\n")
        print(table(records, engines, workloads, metric="cpu_ms_per_step"))
    for r in records:
        if "error" in r:
            print(f"\n{r['engine']} {r['workload']}: {r['error']}")


if __name__ == "__main__":
    main()
