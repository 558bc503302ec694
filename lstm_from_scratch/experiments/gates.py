"""Why these gates? The sweep behind chapter 8: recurrent cells and LSTM variants on three
long-memory tasks, several lengths, several seeds.

    python -m lstm_from_scratch.experiments.gates --out book/data/gates.json

Every configuration (model x task x T) is trained from ``--seeds`` seeds for at most the task's
step budget (``DEFAULTS["steps"]``, or ``--steps`` for every task), the seeds of one
configuration stacked into one model
(:class:`~lstm_from_scratch.experiments.stacked.Stacked`, which equals training them one by one).
A run is **solved** at the first evaluation where its validation loss is below one tenth of the
loss of the best predictor that ignores the memory (:data:`TASKS`' ``baseline``); this
criterion is fixed before any run. A configuration stops when all its seeds are solved or the
budget is spent. The results file is rewritten after every configuration, and a configuration
already in it is skipped, so an interrupted sweep resumes where it stopped (the provenance
then records each session's wall time).

``LFS_DEVICE=gpu`` runs the same sweep on a GPU (CuPy); the initial weights and the data are
the same as on the CPU, so the runs are the same up to floating-point rounding.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .. import backend
from ..autograd import no_grad
from ..functional import tensor
from ..nn import functional as F
from ..optim import Adam
from .provenance import provenance, read_results, write_results
from .stacked import Stacked, clip_grad_norm_per_model_, per_model_norms

# ---- the tasks ------------------------------------------------------------------------------
# Arjovsky et al. (2016) copy 10 symbols out of 8; on this budget an LSTM of 32 units does not
# learn that even after 10 steps of delay, so the sweep copies 3 (same form, shorter string).
COPY_SYMBOLS, COPY_LENGTH = 8, 3


def _adding_batch(n, T, rng):
    from ..data import adding_problem
    x, y = adding_problem(n, T, rng=rng)
    return x, y                                             # (n, T, 2), (n, 1)


def _copy_batch(n, T, rng):
    from ..data import copy_task, one_hot
    x, y = copy_task(n, COPY_LENGTH, T, COPY_SYMBOLS, rng=rng)
    return one_hot(x, COPY_SYMBOLS + 2), y                  # (n, T + 20, 10), (n, T + 20)


def _order_batch(n, T, rng):
    from ..data import one_hot, temporal_order
    x, y = temporal_order(n, T, rng=rng)
    return one_hot(x, 8), y                                 # (n, T, 8), (n,)


#: The tasks: input and output sizes, the loss, and the loss of the best memoryless
#: predictor (``baseline(T)``); solved means a validation loss below ``SOLVED_FRACTION`` of it.
TASKS = {
    "adding": dict(input_size=2, output_size=1, loss="mse", every_step=False,
                   batch=_adding_batch, baseline=lambda T: 1 / 6,
                   about="the sum of the two marked numbers (MSE); baseline: predict 1"),
    "copy": dict(input_size=COPY_SYMBOLS + 2, output_size=COPY_SYMBOLS + 1, loss="ce",
                 every_step=True, batch=_copy_batch,
                 baseline=lambda T: COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH),
                 about="recall 10 symbols after T steps (cross-entropy per step); baseline: "
                       "blanks, then uniform guesses"),
    "order": dict(input_size=8, output_size=4, loss="ce", every_step=False,
                  batch=_order_batch, baseline=lambda T: math.log(4),
                  about="the order of X/Y at two distant positions, 4 classes (cross-entropy);"
                        " baseline: uniform"),
}
TASK_IDS = {"adding": 1, "copy": 2, "order": 3}
SOLVED_FRACTION = 0.1

#: The models, all at the same hidden size. LSTM variants with forget-gate weights start with
#: forget_bias=1 (Jozefowicz et al. 2015), as the reference "LSTM" does; "LSTM, bias 0" is
#: PyTorch's default initialisation.
MODELS = {
    "RNN": {"kind": "RNN", "nonlinearity": "tanh"},
    "IRNN": {"kind": "IRNN"},
    "GRU": {"kind": "GRU"},
    "LSTM, bias 0": {"kind": "LSTM"},
    "LSTM": {"kind": "LSTM", "forget_bias": 1.0},
    "no forget gate": {"kind": "LSTM", "forget_gate": False},
    "coupled (CIFG)": {"kind": "LSTM", "coupled": True},
    # f = 1 - i starts at sigma(1) when i starts at sigma(-1): the coupled gate's forget bias 1
    "coupled, bias 1": {"kind": "LSTM", "coupled": True, "input_bias": -1.0},
    "peepholes": {"kind": "LSTM", "peephole": True, "forget_bias": 1.0},
    "no input gate": {"kind": "LSTM", "input_gate": False, "forget_bias": 1.0},
    "no output gate": {"kind": "LSTM", "output_gate": False, "forget_bias": 1.0},
    "tanh gates": {"kind": "LSTM", "gate_activation": "tanh", "forget_bias": 1.0},
    "sigmoid candidate": {"kind": "LSTM", "candidate_activation": "sigmoid", "forget_bias": 1.0},
    "sigmoid cell output": {"kind": "LSTM", "cell_activation": "sigmoid", "forget_bias": 1.0},
    "all sigmoid": {"kind": "LSTM", "candidate_activation": "sigmoid", "cell_activation": "sigmoid",
                    "forget_bias": 1.0},
    "multiplicative": {"kind": "LSTM", "cell_update": "multiply", "forget_bias": 1.0, "c0": 1.0},
}

#: The sweep's settings (the command line can change them; they are recorded in the results).
DEFAULTS = dict(hidden_size=32, batch_size=32, lr=1e-2, max_norm=1.0,
                steps={"adding": 1000, "copy": 2000, "order": 1000},
                eval_every=50, n_val=256, seeds=[0, 1, 2, 3, 4], copy_length=COPY_LENGTH,
                copy_symbols=COPY_SYMBOLS, solved_fraction=SOLVED_FRACTION,
                lengths={"adding": [20, 40, 80], "copy": [5, 10, 20],
                         "order": [20, 40, 80]},
                reach_k=[1, 2, 3, 5, 8, 12, 20, 30, 50, 79], n_reach=64)


def _sig(x, digits=3):
    """x rounded to ``digits`` significant digits (None for nan/inf): the record keeps what
    survives another machine's rounding, not the last bits."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.{digits}g}")


def _batch(task, T, seeds, n, step, device, dtype=np.float32):
    """A training batch for every seed: x (S, T', n, I) on ``device``, y as a NumPy array.

    Seed s draws its data from its own stream, ``default_rng([seed, task, T, step])``."""
    make = TASKS[task]["batch"]
    xs, ys = [], []
    for s in seeds:
        x, y = make(n, T, np.random.default_rng([s, TASK_IDS[task], T, step]))
        xs.append(x)
        ys.append(y)
    x = np.stack(xs).astype(dtype).transpose(0, 2, 1, 3)   # time-major per model
    return tensor(np.ascontiguousarray(x), device=device), np.stack(ys)


def validation_set(task, T, n, device, dtype=np.float32):
    """The validation set of (task, T), the same for every seed and model: x (1, T', n, I)."""
    x, y = TASKS[task]["batch"](n, T, np.random.default_rng([10 ** 6, TASK_IDS[task], T]))
    x = np.ascontiguousarray(x.astype(dtype).transpose(1, 0, 2)[None])
    return tensor(x, device=device), y[None]


def per_model_loss(task, out, y, accuracy=False):
    """The loss of each model (a Tensor (S,)) and, with ``accuracy`` for the classification
    tasks, the accuracy of each (NumPy (S,), on the recalled symbols for the copy task; else
    None).

    out: (S, B, out) or (S, T', B, out) for the copy task; y: NumPy targets (S or 1, ...)."""
    spec = TASKS[task]
    S = out.shape[0]
    if spec["loss"] == "mse":
        target = tensor(np.broadcast_to(y, out.shape).astype(out.dtype), device=out.device)
        return ((out - target) ** 2).reshape(S, -1).mean(axis=1), None
    C = out.shape[-1]
    if task == "copy":                               # y: (S, n, T') -> time-major (S, T', n)
        y = y.transpose(0, 2, 1)
    y = np.broadcast_to(y, out.shape[:-1])
    target = tensor(np.ascontiguousarray(y).reshape(-1), device=out.device)
    losses = F.cross_entropy(out.reshape(-1, C), target, reduction="none").reshape(S, -1)
    if not accuracy:
        return losses.mean(axis=1), None
    pred = out.numpy().argmax(axis=-1)
    hit = pred == y
    if task == "copy":
        hit = hit[:, -COPY_LENGTH:]                  # the recalled symbols
    return losses.mean(axis=1), hit.reshape(S, -1).mean(axis=1)


def gradient_reach(model, task, x, y, ks):
    """Norms of dL/dh_{T'-1-k} (and dL/dc for the LSTM) for each k in ``ks``, per model:
    how much the loss at the end still depends on the state k steps earlier.

    Returns {"k": [...], "h": (len(ks), S) list, "c": ... or None}."""
    out, (hs, cs) = model(x, every_step=TASKS[task]["every_step"], keep_states=True)
    loss = per_model_loss(task, out, y)[0].sum()
    T = len(hs)
    ks = [k for k in ks if k < T]
    from ..autograd import grad
    states = [hs[T - 1 - k] for k in ks] + ([cs[T - 1 - k] for k in ks] if cs else [])
    grads = grad(loss, states, allow_unused=True)
    norms = per_model_norms([g if g is not None else np.zeros(states[0].shape)
                             for g in grads])
    h = [[_sig(v) for v in row] for row in norms[:len(ks)]]
    c = [[_sig(v) for v in row] for row in norms[len(ks):]] if cs else None
    return {"k": ks, "h": h, "c": c}


def run_config(model_name, task, T, seeds, settings=None, device=None, log=None):
    """Train ``MODELS[model_name]`` on (task, T) from each seed (stacked); the record.

    Returns a dict: model, task, T, seeds, parameters (per model), steps_run, eval_steps,
    val_loss and accuracy (one list per seed, 3 significant digits), solved_step (per seed,
    None if not solved), reach (gradient reach at initialisation and at the end), cpu_s."""
    cfg = {**DEFAULTS, **(settings or {})}
    if (cfg["copy_length"], cfg["copy_symbols"]) != (COPY_LENGTH, COPY_SYMBOLS):
        raise ValueError("run_config: the copy task's length and symbols are the module's "
                         f"COPY_LENGTH, COPY_SYMBOLS = {COPY_LENGTH}, {COPY_SYMBOLS}")
    device = backend.get_device() if device is None else device
    spec = TASKS[task]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    model = Stacked(MODELS[model_name], spec["input_size"], cfg["hidden_size"],
                    spec["output_size"], seeds, device=device)
    opt = Adam(model.parameters(), lr=cfg["lr"])
    x_val, y_val = validation_set(task, T, cfg["n_val"], device)
    x_reach, y_reach = x_val[:, :, :cfg["n_reach"]], y_val[:, :cfg["n_reach"]]
    threshold = SOLVED_FRACTION * spec["baseline"](T)
    S = len(seeds)
    record = dict(model=model_name, task=task, T=T, seeds=list(seeds),
                  parameters=model.num_parameters_per_model(),
                  eval_steps=[], val_loss=[[] for _ in seeds], accuracy=[[] for _ in seeds],
                  solved_step=[None] * S)
    reach0 = gradient_reach(model, task, x_reach, y_reach, cfg["reach_k"])
    step = 0
    budget = cfg["steps"][task] if isinstance(cfg["steps"], dict) else cfg["steps"]
    while step < budget:
        x, y = _batch(task, T, seeds, cfg["batch_size"], step, device)
        losses, _ = per_model_loss(task, model(x, every_step=spec["every_step"]), y)
        opt.zero_grad()
        losses.sum().backward()
        clip_grad_norm_per_model_(model.parameters(), cfg["max_norm"])
        opt.step()
        step += 1
        if step % cfg["eval_every"] == 0:
            with no_grad():
                val, acc = per_model_loss(task, model(x_val, every_step=spec["every_step"]),
                                          y_val, accuracy=True)
            val = val.numpy()
            record["eval_steps"].append(step)
            for s in range(S):
                record["val_loss"][s].append(_sig(val[s]))
                if acc is not None:
                    record["accuracy"][s].append(_sig(acc[s]))
                if record["solved_step"][s] is None and val[s] < threshold:
                    record["solved_step"][s] = step
            if log:
                log(f"  {model_name} {task} T={T} step {step}: val "
                    + " ".join(f"{v:.3g}" for v in val))
            if all(v is not None for v in record["solved_step"]):
                break
    if task == "adding":
        record["accuracy"] = None
    record["steps_run"] = step
    record["reach"] = {"k": reach0["k"], "h_init": reach0["h"], "c_init": reach0["c"]}
    reach1 = gradient_reach(model, task, x_reach, y_reach, cfg["reach_k"])
    record["reach"].update(h_final=reach1["h"], c_final=reach1["c"])
    record["cpu_s"] = round(time.process_time() - cpu0, 1)
    record["wall_s"] = round(time.perf_counter() - wall0, 1)
    return record


def summary(record):
    """Solve rate and steps to solve of one configuration: a dict with ``solved`` (count),
    ``seeds``, ``rate``, and ``median``, ``min``, ``max`` of the steps of the solved runs (None
    when no run solved)."""
    steps = [s for s in record["solved_step"] if s is not None]
    n = len(record["solved_step"])
    return dict(solved=len(steps), seeds=n, rate=len(steps) / n,
                median=float(np.median(steps)) if steps else None,
                min=min(steps) if steps else None, max=max(steps) if steps else None)


def compare(recorded, live, checkpoints=None, rtol=0.05, step_slack=50):
    """Whether a re-run reproduces a recorded configuration, seed by seed, on what survives
    floating-point rounding (another BLAS sums in another order, and training amplifies the
    difference once a run leaves its plateau): the validation losses at a few
    ``checkpoints`` (steps; default the first three evaluations) to ``rtol`` (5%: two
    significant digits with a margin), and the step at which the run was solved, to
    ``step_slack`` steps (one evaluation).

    Returns one dict per seed of ``live``: seed, the recorded and live losses at the
    checkpoints, the recorded and live solved steps, and ``ok``."""
    n_live = len(live["eval_steps"])
    if live["eval_steps"] != recorded["eval_steps"][:n_live]:
        raise ValueError("compare: the re-run evaluated at other steps than the record")
    if checkpoints is None:
        checkpoints = live["eval_steps"][:3]
    idx = [live["eval_steps"].index(c) for c in checkpoints]
    last = live["eval_steps"][-1] if n_live else 0
    out = []
    for j, seed in enumerate(live["seeds"]):
        i = recorded["seeds"].index(seed)
        a = [recorded["val_loss"][i][k] for k in idx]
        b = [live["val_loss"][j][k] for k in idx]
        loss_ok = all(x is not None and y is not None and abs(x - y) <= rtol * max(abs(x), abs(y))
                      for x, y in zip(a, b))
        rec_step, live_step = recorded["solved_step"][i], live["solved_step"][j]
        if rec_step is not None and rec_step <= last:
            step_ok = live_step is not None and abs(live_step - rec_step) <= step_slack
        else:                                       # the record solved it later, or never
            step_ok = live_step is None or live_step >= last - step_slack
        out.append(dict(seed=seed, checkpoints=list(checkpoints), recorded_loss=a, live_loss=b,
                        recorded_step=rec_step, live_step=live_step,
                        ok=bool(loss_ok and step_ok)))
    return out


def configurations(settings=None):
    """Every (model, task, T) of the sweep, cheapest task lengths first."""
    cfg = {**DEFAULTS, **(settings or {})}
    out = []
    for task, lengths in cfg["lengths"].items():
        for T in lengths:
            for name in MODELS:
                out.append((name, task, T))
    return sorted(out, key=lambda c: (c[2] + (2 * COPY_LENGTH if c[1] == "copy" else 0)))


def key_of(model, task, T):
    return f"{model} | {task} | {T}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="book/data/gates.json", help="results file (JSON)")
    p.add_argument("--models", nargs="*", help="only these models (names of MODELS)")
    p.add_argument("--tasks", nargs="*", help="only these tasks")
    p.add_argument("--steps", type=int, help="one step budget per run for every task")
    p.add_argument("--seeds", type=int, nargs="*", help="the seeds")
    p.add_argument("--shard", help="K/N: run only the configurations whose index is K modulo N "
                                   "(run N processes, each with its own --out, then --merge)")
    p.add_argument("--done", nargs="+", metavar="FILE", default=[],
                   help="skip the configurations recorded in these results files too (to "
                        "re-shard a sweep that is under way)")
    p.add_argument("--merge", nargs="+", metavar="FILE",
                   help="combine the results files of shards into --out")
    p.add_argument("--dry-run", action="store_true", help="list the configurations only")
    args = p.parse_args(argv)
    if args.merge:
        merge(args.merge, args.out)
        return
    settings = {}
    if args.steps:
        settings["steps"] = args.steps
    if args.seeds:
        settings["seeds"] = args.seeds
    cfg = {**DEFAULTS, **settings}
    todo = [c for c in configurations(settings)
            if (not args.models or c[0] in args.models) and (not args.tasks or c[1] in args.tasks)]
    out = Path(args.out)
    results = read_results(out) if out.exists() else None
    if results is not None and results["settings"] != _jsonable(cfg):
        sys.exit(f"{out} was made with other settings; use another --out or delete it")
    if results is None:
        results = {"provenance": {}, "settings": _jsonable(cfg), "sessions": [], "runs": {}}
    done = set(results["runs"])
    for path in args.done:
        if Path(path).exists():
            other = read_results(path)
            if other["settings"] != results["settings"]:
                sys.exit(f"{path} was made with other settings")
            done |= set(other["runs"])
    todo = [c for c in todo if key_of(*c) not in done]
    if args.shard:                      # of what is left, so that shards can be re-cut
        k, n = (int(v) for v in args.shard.split("/"))
        todo = todo[k::n]
    print(f"{len(todo)} configurations to run", flush=True)
    if args.dry_run:
        for c in todo:
            print("  " + key_of(*c))
        return
    session = provenance(sys.argv if argv is None else ["gates.py", *argv])
    results["provenance"] = session
    results["sessions"].append(session)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for n, (name, task, T) in enumerate(todo, 1):
        if any(Path(p).exists() and key_of(name, task, T) in read_results(p)["runs"]
               for p in args.done):                 # done elsewhere since we started
            continue
        rec = run_config(name, task, T, cfg["seeds"], settings)
        results["runs"][key_of(name, task, T)] = rec
        session["wall_time_s"] = round(time.perf_counter() - wall0, 1)
        session["cpu_time_s"] = round(time.process_time() - cpu0, 1)
        session["configurations"] = n
        write_results(out, results)
        solved = sum(s is not None for s in rec["solved_step"])
        print(f"[{n}/{len(todo)}] {key_of(name, task, T)}: solved {solved}/{len(rec['seeds'])}, "
              f"{rec['steps_run']} steps, {rec['cpu_s']:.0f} s cpu, {rec['wall_s']:.0f} s wall",
              flush=True)


def merge(paths, out):
    """Combine results files (shards of one sweep, same settings) into ``out``.

    The merged file keeps every session's provenance and records the sweep's cost: its total
    CPU time (``cpu_time_s``), the sum of the sessions' wall times (``process_wall_time_s``),
    its wall time (``wall_time_s``: the time at least one session was running, the union of
    their intervals) and the time from the first session's start to the last one's end
    (``elapsed_s``, which includes any pause between sessions)."""
    import datetime

    parts = [read_results(p) for p in paths]
    settings = parts[0]["settings"]
    if any(p["settings"] != settings for p in parts):
        raise ValueError("merge: the files were made with different settings")
    runs, sessions = {}, []
    for part in parts:
        runs.update(part["runs"])
        sessions.extend(part["sessions"])
    order = {key_of(*c): i for i, c in enumerate(configurations(settings))}
    runs = dict(sorted(runs.items(), key=lambda kv: order.get(kv[0], len(order))))
    start = [datetime.datetime.fromisoformat(s["date"]) for s in sessions]
    end = [t + datetime.timedelta(seconds=s.get("wall_time_s", 0)) for t, s in zip(start, sessions)]
    busy, reach = 0.0, None                 # the union of the sessions' intervals
    for a, b in sorted(zip(start, end)):
        if reach is None or a > reach:
            busy += (b - a).total_seconds()
            reach = b
        elif b > reach:
            busy += (b - reach).total_seconds()
            reach = b
    sweep = dict(configurations=len(runs), sessions=len(sessions),
                 cpu_time_s=round(sum(s.get("cpu_time_s", 0) for s in sessions), 1),
                 process_wall_time_s=round(sum(s.get("wall_time_s", 0) for s in sessions), 1),
                 wall_time_s=round(busy, 1),
                 elapsed_s=round((max(end) - min(start)).total_seconds(), 1))
    write_results(out, {"provenance": provenance(), "sweep": sweep, "settings": settings,
                        "sessions": sessions, "runs": runs})
    print(f"merged {len(runs)} configurations from {len(paths)} files into {out}: "
          f"{sweep['cpu_time_s'] / 3600:.2f} h cpu, {sweep['wall_time_s'] / 3600:.2f} h wall "
          f"({sweep['process_wall_time_s'] / 3600:.2f} h summed over sessions)")


def _jsonable(cfg):
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}


if __name__ == "__main__":
    main()
