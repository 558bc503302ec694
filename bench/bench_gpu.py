"""One LSTM training step on the GPU: this library's fused and primitive paths against cuDNN.

The work of bench_lstm.py (one LSTM layer over T steps from a zero state, a linear head on every
h_t, MSE, backward through all T steps, SGD on every parameter), on the workloads of
../shared/BENCHMARKS.md:

    G1 B64 T128 I512 H512 (launches and T small GEMMs)   G2 B8 T128 I32 H128 (launch latency)
    G3 B256 T256 I1024 H1024 (GEMM throughput)

Engines (all in one process per precision; each is checked to reach the same loss as cuDNN):

* ``torch_cudnn``: ``torch.nn.LSTM`` on CUDA (cuDNN's fused LSTM);
* ``torch_eager_cell``: the cell in torch ops, a Python loop over T;
* ``lfs_fused``: ``lfs.kernels.lstm_sequence`` on CuPy (one CUDA kernel per step and direction);
* ``lfs_primitive``: ``lfs.nn.LSTM(fused=False)`` on CuPy (the teaching path);
* ``lfs_fused_graph``: EXPERIMENTAL, NOT YET RUN ON A GPU. The fused LSTM's forward and
  backward time loops (the library's own CUDA kernels, cuBLAS through ctypes on a handle bound
  to the capturing stream, as ../shared/bench-gpu/lstm_cuda_graph.py found necessary) captured
  once as CUDA graphs and replayed every step (LSTM only, like the probe: the head, loss and
  update are the same as lfs_fused's). Falls back to reporting why when capture fails.

Precision: FP32 on both sides by default (``torch.backends.cudnn.allow_tf32 = False``,
``torch.backends.cuda.matmul.allow_tf32 = False``; CuPy's cuBLAS without TF32); ``--tf32``
allows TF32 on both sides (CuPy through ``CUPY_TF32=1``, which must be set before CuPy is
imported: so each precision runs in its own process).

    python bench/bench_gpu.py --out bench/results/gpu.json          # both precisions, G1-G3
    python bench/bench_gpu.py --dry-run                              # CPU, tiny sizes: logic only

``--dry-run`` runs every engine on the CPU (NumPy and torch's CPU path) at tiny sizes, so the
script's logic can be tested where there is no GPU; its times mean nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

import bench_lstm  # noqa: E402  (the problem's draws and the PyTorch peers, shared)

WORKLOADS = {"G1": dict(batch=64, seq=128, input=512, hidden=512),
             "G2": dict(batch=8, seq=128, input=32, hidden=128),
             "G3": dict(batch=256, seq=256, input=1024, hidden=1024)}
DRY = {"G1": dict(batch=4, seq=6, input=5, hidden=8), "G2": dict(batch=2, seq=5, input=3, hidden=4),
       "G3": dict(batch=3, seq=4, input=6, hidden=5)}
ENGINES = ["torch_cudnn", "torch_eager_cell", "lfs_fused", "lfs_primitive", "lfs_fused_graph"]


# ---- engines: each returns step() and loss() ------------------------------------------------
def engine_torch(P, T, B, I, H, device, cudnn):
    import torch
    step, _, last = bench_lstm.torch_training_step(P, T, B, I, H, 1e-3, cudnn, device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    return step, lambda: float(last[0]), sync


def engine_lfs(P, T, B, I, H, device, fused, graph=False):
    import lstm_from_scratch as lfs
    from lstm_from_scratch import kernels, nn

    lfs.set_device(device)
    x = lfs.tensor(P["x"])
    target = lfs.tensor(P["target"].reshape(T * B, I))
    head = nn.Linear(H, I)
    head.weight.data[...] = lfs.tensor(P["W_y"]).data
    head.bias.data[...] = lfs.tensor(P["b_y"]).data
    if fused:
        w = [lfs.tensor(P[n], requires_grad=True) for n in ("W_ih", "W_hh", "b_ih", "b_hh")]
        if graph:
            from cuda_graph_lstm import GraphedLSTM        # bench/cuda_graph_lstm.py
            graphed = GraphedLSTM(T, B, I, H)

            def lstm_out():
                return graphed(x, *w)
        else:
            def lstm_out():
                return kernels.lstm_sequence(x, None, None, *w)[0]
    else:
        lstm = nn.LSTM(I, H, fused=False)
        for n, src in (("weight_ih_l0", "W_ih"), ("weight_hh_l0", "W_hh"),
                       ("bias_ih_l0", "b_ih"), ("bias_hh_l0", "b_hh")):
            getattr(lstm, n).data[...] = lfs.tensor(P[src]).data
        w = list(lstm.parameters())

        def lstm_out():
            return lstm(x)[0]
    params = w + list(head.parameters())
    opt = lfs.optim.SGD(params, lr=1e-3)
    last = [None]

    def step():
        opt.zero_grad()
        loss = nn.functional.mse_loss(head(lstm_out().reshape((T * B, H))), target)
        loss.backward()
        opt.step()
        last[0] = loss

    if device == "gpu":
        import cupy as cp
        sync = cp.cuda.get_current_stream().synchronize
    else:
        sync = lambda: None                                        # noqa: E731
    return step, lambda: last[0].item(), sync


def time_engine(make, warmup, steps):
    step, loss, sync = make()
    for _ in range(warmup):
        step()
    sync()
    ts = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {"ms_per_step": round(statistics.median(ts), 3), "min_ms": round(min(ts), 3),
            "max_ms": round(max(ts), 3), "final_loss": loss()}


def worker(a):
    """One precision, every workload and engine, in this process; prints JSON lines."""
    if a.tf32 and not a.dry_run:
        os.environ["CUPY_TF32"] = "1"           # before CuPy is imported
    import torch
    if not a.dry_run:
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    device_t, device_l = ("cpu", "cpu") if a.dry_run else ("cuda", "gpu")
    sizes = DRY if a.dry_run else WORKLOADS
    for wl in a.workloads.split(","):
        s = sizes[wl]
        T, B, I, H = s["seq"], s["batch"], s["input"], s["hidden"]
        P = bench_lstm.make_problem(T, B, I, H)
        for e in a.engines.split(","):
            makers = {
                "torch_cudnn": lambda: engine_torch(P, T, B, I, H, device_t, True),
                "torch_eager_cell": lambda: engine_torch(P, T, B, I, H, device_t, False),
                "lfs_fused": lambda: engine_lfs(P, T, B, I, H, device_l, True),
                "lfs_primitive": lambda: engine_lfs(P, T, B, I, H, device_l, False),
                "lfs_fused_graph": lambda: engine_lfs(P, T, B, I, H, device_l, True, True)}
            rec = {"engine": e, "workload": wl, "tf32": a.tf32, **s}
            try:
                if e == "lfs_fused_graph" and a.dry_run:
                    raise RuntimeError("CUDA graphs need a GPU (skipped in --dry-run)")
                if e == "lfs_fused_graph":          # graphed vs lstm_sequence, float32
                    from cuda_graph_lstm import selfcheck
                    rec["selfcheck_max_abs_err"] = selfcheck()
                rec.update(time_engine(makers[e], a.warmup, a.steps))
            except Exception as exc:                       # report, go on with the others
                rec["error"] = f"{type(exc).__name__}: {exc}"[:300]
            print(json.dumps(rec), flush=True)


def provenance(dry_run):
    """GPU model, driver, CUDA, CuPy and PyTorch versions, date, commit, host."""
    info = {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(), "python": platform.python_version(),
            "numpy": np.__version__, "dry_run": dry_run}
    try:
        info["commit"] = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                                        capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    try:
        import torch
        info["torch"] = torch.__version__
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["cudnn"] = torch.backends.cudnn.version()
            info["torch_cuda"] = torch.version.cuda
    except ImportError:
        pass
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version",
                              "--format=csv,noheader"], capture_output=True, text=True)
        if out.returncode == 0:
            info["nvidia_smi"] = out.stdout.strip()
    except OSError:
        pass
    if not dry_run:
        try:
            import cupy
            info["cupy"] = cupy.__version__
            info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
            info["cuda_driver"] = cupy.cuda.runtime.driverGetVersion()
        except Exception as exc:                           # noqa: BLE001
            info["cupy"] = f"unavailable: {exc}"
    return info


def table(records):
    """Markdown: ms/step and the ratio to torch_cudnn of the same workload and precision."""
    ref = {(r["workload"], r["tf32"]): r["ms_per_step"] for r in records
           if r["engine"] == "torch_cudnn" and "ms_per_step" in r}
    lines = ["| workload | precision | engine | ms/step | / cuDNN | final loss |",
             "|---|---|---|---:|---:|---:|"]
    for r in records:
        prec = "TF32" if r["tf32"] else "FP32"
        if "error" in r:
            lines.append(f"| {r['workload']} | {prec} | {r['engine']} | - | - | {r['error']} |")
            continue
        base = ref.get((r["workload"], r["tf32"]))
        ratio = f"{r['ms_per_step'] / base:.2f}" if base else "-"
        lines.append(f"| {r['workload']} | {prec} | {r['engine']} | {r['ms_per_step']:.2f} | "
                     f"{ratio} | {r['final_loss']:.6f} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=None, help="write the results (JSON) here")
    p.add_argument("--workloads", default="G1,G2,G3")
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--precisions", default="fp32,tf32")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: test the logic")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--tf32", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a)
        return
    records = []
    for prec in a.precisions.split(","):
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--workloads", a.workloads,
               "--engines", a.engines, "--steps", str(a.steps), "--warmup", str(a.warmup)]
        cmd += ["--tf32"] if prec == "tf32" else []
        cmd += ["--dry-run"] if a.dry_run else []
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT,
                                                           os.environ.get("PYTHONPATH", "")]))
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        got = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode != 0 or not got:
            got.append({"engine": "worker", "workload": "-", "tf32": prec == "tf32",
                        "error": (out.stderr.strip().splitlines() or ["?"])[-1][:300]})
        records += got
        for r in got:
            print(json.dumps(r), file=sys.stderr, flush=True)
    result = {"provenance": provenance(a.dry_run), "steps": a.steps, "warmup": a.warmup,
              "records": records, "table": table(records)}
    print(result["table"])
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
