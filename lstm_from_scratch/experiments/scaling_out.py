"""Chapter 14's measurements: data-parallel training on 1 and 2 processes, and allreduce.

The record (``book/data/scaling_out.json``) is written by::

    python -m lstm_from_scratch.experiments.scaling_out --out book/data/scaling_out.json

which launches the two workers below under ``mpiexec`` and collects what they measured:

* ``train`` - a character-level LSTM language model (embedding -> LSTM -> linear) on the
  standard library's source text, wrapped in ``lfs.distributed.DistributedDataParallel``,
  with a global batch split over the processes by ``DistributedSampler``; it records the
  loss of every step (averaged over the processes: the loss of the global batch) and the
  time of each phase. ``mpiexec -n P python -m lstm_from_scratch.experiments.scaling_out
  train --json PATH [options]``.
* ``allreduce`` - the time of one allreduce as a function of the message size, fitted
  with the latency-bandwidth model t(n) = a + b n.

Both are launched with one BLAS thread per process (``OPENBLAS_NUM_THREADS=1``), so P
processes use P cores. The model is built by :func:`build_char_lm` on the data of
:func:`char_lm_data`: chapter 7's model class (:class:`lfs.lm.CharLM`), trained here on the
standard library's source (chapter 7 trains it on Python's help topics).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import data, lm, nn, optim
from ..functional import tensor
from .provenance import provenance, write_results

MODULE = "lstm_from_scratch.experiments.scaling_out"

# the measured configuration (the chapter's model); the check runs are a few float64 steps
MODEL = dict(embedding_dim=32, hidden_size=128, num_layers=2)
TRAIN = dict(seq_len=64, global_batch=32, lr=3e-3, seed=0, dtype="float32")


# ---- model and data -----------------------------------------------------------------------------
class CharLM(lm.CharLM):
    """Chapter 7's language model (:class:`lfs.lm.CharLM`: embedding -> LSTM -> linear) with a
    forward that returns the logits only, (B, T) ids -> (B, T, V): every step here starts from
    a zero state, and the wrapped module's output is all that DDP passes on."""

    def forward(self, ids, state=None):
        return super().forward(ids, state)[0]


def build_char_lm(vocab_size, embedding_dim=32, hidden_size=128, num_layers=2):
    """Chapter 7's model at this chapter's size, with the fused LSTM and PyTorch's
    initialisation (forget bias 0)."""
    return CharLM(vocab_size, embedding_dim, hidden_size, num_layers, cell="lstm", fused=True)


def char_lm_data(seq_len):
    """The standard library's source as non-overlapping (x, y) sequences of ``seq_len``
    characters, y the next character of x: two (N, seq_len) int64 arrays, and the
    vocabulary size."""
    text = data.stdlib_text()
    vocab = data.CharVocab(text)
    ids = vocab.encode(text)
    n = (len(ids) - 1) // seq_len
    x = ids[:n * seq_len].reshape(n, seq_len)
    y = ids[1:n * seq_len + 1].reshape(n, seq_len)
    return x, y, len(vocab)


# ---- the workers (run under mpiexec) -------------------------------------------------------------
def train_worker(args):
    """Train for ``args.steps`` steps on every process of the job; rank 0 writes the JSON."""
    import lstm_from_scratch as lfs
    import lstm_from_scratch.distributed as dist

    F = nn.functional
    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    if args.global_batch % world:
        raise ValueError(f"--global-batch {args.global_batch} is not divisible by {world} "
                         "processes")
    local_batch = args.global_batch // world
    x_all, y_all, vocab_size = char_lm_data(args.seq_len)
    lfs.manual_seed(args.seed)
    model = build_char_lm(vocab_size, args.embedding_dim, args.hidden_size, args.num_layers)
    model = model.to(dtype=args.dtype)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=args.bucket_cap_mb,
                                       overlap=not args.no_overlap)
    opt = optim.Adam(ddp.parameters(), lr=args.lr)
    sampler = dist.DistributedSampler(len(x_all), shuffle=True, seed=args.seed, drop_last=True)
    loader = data.DataLoader((x_all, y_all), batch_size=local_batch, sampler=sampler,
                             drop_last=True)
    losses, phases = [], []           # phases: (forward, backward, step, cpu) per step
    epoch = 0
    dist.barrier()
    start = time.perf_counter()
    while len(losses) < args.steps:
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            t0, c0 = time.perf_counter(), time.process_time()
            logits = ddp(tensor(xb))
            loss = F.cross_entropy(logits.reshape(-1, vocab_size), yb.reshape(-1))
            t1 = time.perf_counter()
            opt.zero_grad()
            loss.backward()               # the gradients are averaged in here
            t2 = time.perf_counter()
            opt.step()
            t3 = time.perf_counter()
            losses.append(loss.item())
            if rank == 1 and len(losses) == args.fail_at_step:      # fault injection
                raise RuntimeError(f"injected failure at step {len(losses)}")
            phases.append((t1 - t0, t2 - t1, t3 - t2, time.process_time() - c0, t3 - t0))
            if len(losses) == args.steps:
                break
        epoch += 1
    total = time.perf_counter() - start
    # the loss of the global batch is the mean of the processes' losses (equal batch sizes)
    loss_curve = tensor(np.array(losses, dtype=np.float64))
    dist.all_reduce(loss_curve, op=dist.ReduceOp.AVG)
    mine = {"phases": phases, "wait": ddp.comm_wait_seconds, "launch": ddp.comm_launch_seconds,
            "total": total}
    everyone = [None] * world
    dist.all_gather_object(everyone, mine)
    if rank == 0:
        skip = min(2, args.steps - 1)        # the first steps warm caches and allocators
        per_rank = []
        for r in everyone:
            ph = np.array(r["phases"])[skip:]
            per_rank.append({
                "forward_s": float(np.median(ph[:, 0])),
                "backward_s": float(np.median(ph[:, 1])),
                "optimizer_s": float(np.median(ph[:, 2])),
                "cpu_per_step_s": float(np.median(ph[:, 3])),
                "step_s": float(np.median(ph[:, 4])),
                "comm_wait_per_step_s": r["wait"] / args.steps,
                "comm_launch_per_step_s": r["launch"] / args.steps,
                "total_s": r["total"],
            })
        result = {
            "processes": world, "local_batch": local_batch, "steps": args.steps,
            "config": {k: getattr(args, k) for k in (
                "embedding_dim", "hidden_size", "num_layers", "seq_len", "global_batch",
                "lr", "seed", "dtype", "bucket_cap_mb", "no_overlap")},
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "gradient_bytes": int(sum(ddp.bucket_sizes)),
            "buckets": len(ddp.bucket_sizes),
            "allreduce_calls_per_step": ddp.allreduce_calls / args.steps,
            "losses": loss_curve.numpy().tolist(),
            "ranks": per_rank,
            "step_s": max(r["step_s"] for r in per_rank),     # the slowest rank sets the pace
            "wall_s": max(r["total_s"] for r in per_rank),
            "env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "MPIR_CVAR_ASYNC_PROGRESS")
                    if k in os.environ},
        }
        write_results(args.json, result)
    dist.destroy_process_group()


def allreduce_worker(args):
    """Time of one in-place allreduce (float32) per message size, the median and the best of
    the repetitions (the slower rank's); rank 0 writes. The best is what the hardware does
    when nothing else interferes; the median is what a busy machine gives."""
    import lstm_from_scratch.distributed as dist
    from mpi4py import MPI

    dist.init_process_group(backend="mpi")
    comm = MPI.COMM_WORLD
    sizes, seconds, best = [], [], []
    for exponent in range(args.min_exp, args.max_exp + 1, args.step_exp):
        n = 2 ** exponent
        buf = np.ones(n, dtype=np.float32)
        reps = max(3, min(args.reps, int(args.reps * 2 ** (14 - exponent))))
        times = []
        for _ in range(reps + 2):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            times.append(time.perf_counter() - t0)
        sizes.append(int(buf.nbytes))
        seconds.append(comm.allreduce(float(np.median(times[2:])), op=MPI.MAX))
        best.append(comm.allreduce(float(np.min(times[2:])), op=MPI.MAX))
    if comm.Get_rank() == 0:
        alpha, beta = fit_latency_bandwidth(sizes, best)
        write_results(args.json, {"processes": comm.Get_size(), "bytes": sizes,
                                  "seconds": seconds, "seconds_best": best,
                                  "a_s": alpha, "b_s_per_byte": beta,
                                  "mpi": MPI.Get_library_version().splitlines()[0].strip()})
    dist.destroy_process_group()


# ---- the cost model ------------------------------------------------------------------------------
def fit_latency_bandwidth(nbytes, seconds):
    """(a, b) of t = a + b n by least squares on *relative* errors (each point weighs the
    same whether it took microseconds or milliseconds)."""
    n = np.asarray(nbytes, dtype=np.float64)
    t = np.asarray(seconds, dtype=np.float64)
    A = np.stack([1 / t, n / t], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return float(a), float(b)


def ring_allreduce_seconds(p, nbytes, alpha, beta):
    """The ring algorithm on p processes: 2(p-1) steps, each a message of n/p bytes, so
    2(p-1) alpha + 2(p-1)/p * n * beta (alpha per message, beta per byte)."""
    p = np.asarray(p, dtype=np.float64)
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * nbytes * beta


# ---- launching ------------------------------------------------------------------------------------
def mpiexec_path():
    """``mpiexec`` beside this Python (where the mpich wheel puts it), else on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        raise RuntimeError("no mpiexec found beside the Python interpreter or on PATH; install "
                           "the mpi extra: pip install -e \".[mpi]\"")
    return found


def launch(processes, worker, *options, timeout=600, env=None):
    """Run ``mpiexec -n processes python -m MODULE worker --json TMP options...`` and return
    what the worker wrote. One BLAS thread per process; CPU processes (LFS_DEVICE=cpu).

    If the job fails, the RuntimeError carries the report of every rank that failed (its
    traceback and the ``lfs.distributed: rank r of P failed with ...`` line), read from the
    files the ranks write under ``LFS_ERROR_DIR`` (stderr alone may lose them, see
    :mod:`lstm_from_scratch.distributed.process_group`), then the end of stderr."""
    from ..distributed.process_group import ERROR_DIR_VARIABLE, read_error_reports

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [mpiexec_path(), "-n", str(processes), sys.executable, "-m", MODULE, worker,
               "--json", str(out), *map(str, options)]
        full_env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                    "LFS_DEVICE": "cpu", ERROR_DIR_VARIABLE: tmp, **(env or {})}
        proc = subprocess.Popen(cmd, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)         # mpiexec, its proxies, every rank
            proc.communicate()
            raise RuntimeError(f"{' '.join(cmd[:4])} ... {worker} did not finish in "
                               f"{timeout} s") from None
        if proc.returncode != 0:
            reports = "".join(read_error_reports(tmp).values())
            raise RuntimeError(f"mpiexec -n {processes} ... {worker} failed with exit code "
                               f"{proc.returncode}:\n{reports}stderr (end):\n{stderr[-3000:]}")
        return json.loads(out.read_text())


def check_runs():
    """The small runs the chapter repeats live: 5 float64 steps on 1 and on 2 processes."""
    options = ["--steps", 5, "--dtype", "float64"]
    return {p: launch(p, "train", *options)["losses"] for p in (1, 2)}


# the timing variants: (name, processes, extra options, extra environment)
VARIANTS = [
    ("1 process", 1, [], {}),
    ("2 processes", 2, [], {}),
    ("2 processes, no overlap", 2, ["--no-overlap"], {}),
    ("2 processes, 0.25 MiB buckets", 2, ["--bucket-cap-mb", 0.25], {}),
    ("2 processes, 0.25 MiB buckets, no overlap", 2, ["--bucket-cap-mb", 0.25, "--no-overlap"],
     {}),
    ("2 processes, one bucket per tensor", 2, ["--bucket-cap-mb", 1e-6], {}),
    ("2 processes, 0.25 MiB buckets, async progress", 2, ["--bucket-cap-mb", 0.25],
     {"MPIR_CVAR_ASYNC_PROGRESS": "1"}),
]


def record(out, steps=150, timing_steps=40, repeats=4):
    """Everything chapter 14 reports, into one JSON file with its provenance.

    The loss curves come from one long run per process count; the timings from ``repeats``
    shorter runs of every variant, interleaved (so a burst of load on the shared machine
    hits all variants alike), summarised by the median over the repeats."""
    meta = provenance()
    meta["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    start = time.perf_counter()
    result = {"provenance": meta, "model": MODEL, "train": TRAIN}
    result["curves"] = {p: launch(p, "train", "--steps", steps)["losses"] for p in (1, 2)}
    timings = {name: [] for name, *_ in VARIANTS}
    benches = []
    for _ in range(repeats):
        for name, processes, options, env in VARIANTS:
            timings[name].append(launch(processes, "train", "--steps", timing_steps, *options,
                                        env=env))
        benches.append(launch(2, "allreduce", "--reps", 100, "--step-exp", 1))
    result["timings"] = {name: summarise(runs) for name, runs in timings.items()}
    # the allreduce benchmark, run once per repeat: the best time of any run, the median of
    # the runs' medians (a quiet moment of the shared machine shows in the best times)
    result["allreduce"] = {
        **benches[0],
        "seconds": np.median([b["seconds"] for b in benches], axis=0).tolist(),
        "seconds_best": np.min([b["seconds_best"] for b in benches], axis=0).tolist(),
        "runs": len(benches)}
    # compute time against the local batch, on one process: for the extrapolation (wall
    # time, and CPU time, which is what a core of its own would take)
    result["compute_vs_batch"] = {}
    for b in (4, 8, 16, 32, 64):
        runs = [launch(1, "train", "--steps", 8, "--global-batch", b) for _ in range(repeats)]
        result["compute_vs_batch"][b] = {
            "wall_s": float(np.median([r["step_s"] for r in runs])),
            "cpu_s": float(np.median([r["ranks"][0]["cpu_per_step_s"] for r in runs]))}
    result["check_runs"] = check_runs()
    meta["wall_time_s"] = round(time.perf_counter() - start, 1)
    meta["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    write_results(out, result)
    return result


def summarise(runs):
    """The median over repeated runs of each timing (slowest rank for the step time)."""
    first = runs[0]
    keys = ["forward_s", "backward_s", "optimizer_s", "cpu_per_step_s", "comm_wait_per_step_s",
            "comm_launch_per_step_s"]
    return {
        "processes": first["processes"], "local_batch": first["local_batch"],
        "steps": first["steps"], "repeats": len(runs), "config": first["config"],
        "parameters": first["parameters"], "gradient_bytes": first["gradient_bytes"],
        "buckets": first["buckets"],
        "allreduce_calls_per_step": first["allreduce_calls_per_step"],
        "step_s": float(np.median([r["step_s"] for r in runs])),
        "step_s_each": [r["step_s"] for r in runs],
        # per-rank means of each phase, then the median over repeats
        **{k: float(np.median([np.mean([rk[k] for rk in r["ranks"]]) for r in runs]))
           for k in keys},
    }


# ---- command line ----------------------------------------------------------------------------------
def _parser():
    ap = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="record everything into this JSON file (the driver)")
    sub = ap.add_subparsers(dest="worker")
    tr = sub.add_parser("train", help="the training worker (run under mpiexec)")
    tr.add_argument("--json", required=True)
    tr.add_argument("--steps", type=int, default=20)
    for name, value in {**MODEL, **TRAIN}.items():
        tr.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    tr.add_argument("--bucket-cap-mb", type=float, default=None)
    tr.add_argument("--no-overlap", action="store_true")
    tr.add_argument("--fail-at-step", type=int, default=0,
                    help="rank 1 raises at this step (to see the whole job stop)")
    ar = sub.add_parser("allreduce", help="the allreduce benchmark (run under mpiexec)")
    ar.add_argument("--json", required=True)
    ar.add_argument("--reps", type=int, default=100)
    ar.add_argument("--min-exp", type=int, default=0)
    ar.add_argument("--max-exp", type=int, default=22)
    ar.add_argument("--step-exp", type=int, default=2)
    return ap


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.worker == "train":
        train_worker(args)
    elif args.worker == "allreduce":
        allreduce_worker(args)
    elif args.out:
        record(args.out)
    else:
        _parser().error("give --out FILE (record everything) or a worker: train, allreduce")


if __name__ == "__main__":
    main()
