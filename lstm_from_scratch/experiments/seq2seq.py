"""Chapter 11's experiment: the encoder-decoder's bottleneck, and attention removing it.

Three models translate number words into digits (``lfs.data.number_words``): the plain
encoder-decoder LSTM and the same model with additive or with multiplicative ("general")
attention (``lfs.nn.Seq2Seq``, its LSTM cells through the fused kernel: the same model,
faster). Each is trained from several seeds with the same data, budget and optimiser; each is
then scored on the test split with greedy decoding, by input length::

    python -m lstm_from_scratch.experiments.seq2seq --out book/data/seq2seq.json

writes the results (accuracy per model, seed and input-length bucket, training curves and
times) with their provenance, and the seed-0 model of each kind as a checkpoint
``book/data/seq2seq_<model>.npz`` (``lfs.io``), which the chapter loads for its figures.
``--quick`` runs a small version (for tests); ``--jobs N`` trains N runs at a time in
separate processes (each with one BLAS thread unless ``OPENBLAS_NUM_THREADS`` says otherwise).

Exact match: the decoded tokens, ``<eos>`` included, equal the target. Per-token accuracy:
the fraction of target positions (``<eos>`` included) where the decoded token is the target
token; a missing position (the output stopped early) counts as wrong.
"""
from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .. import io, manual_seed, nn, optim
from ..autograd import no_grad
from ..data import number_words
from ..nn import functional as F
from .provenance import provenance, write_results

# the models, by the name the chapter uses, and their attention
MODELS = {"encoder-decoder": None, "additive": "additive", "general": "general"}

CONFIG = dict(
    n_train=20000, n_val=1000, n_test=3000, max_digits=12, data_seed=0,
    embedding_dim=32, hidden_size=64, batch_size=64, steps=4000, lr=2e-3, clip=1.0,
    eval_every=1000, record_first=60, dtype="float32", fused=True,
)
QUICK = dict(n_train=600, n_val=100, n_test=200, max_digits=6, steps=30, eval_every=15,
             record_first=10, hidden_size=16, embedding_dim=8)

# input-length buckets (in words) for the accuracy-by-length table
BUCKETS = ((1, 6), (7, 9), (10, 12), (13, 15), (16, 19))


def bucket_names(buckets=BUCKETS):
    return [f"{lo}-{hi}" for lo, hi in buckets]


def load_data(cfg):
    """The fixed splits of the number-words task for this configuration."""
    return number_words(cfg["n_train"], cfg["n_val"], cfg["n_test"],
                        max_digits=cfg["max_digits"], seed=cfg["data_seed"])


def build_model(attention, seed, cfg, data, device=None):
    """A fresh model: the initial weights come from ``seed`` on the CPU generator, then the
    model moves to ``device``, so a seed gives the same start on either device."""
    manual_seed(seed)
    model = nn.Seq2Seq(len(data.src_vocab), len(data.tgt_vocab), cfg["embedding_dim"],
                       cfg["hidden_size"], attention=attention, device="cpu",
                       dtype=cfg["dtype"], fused=cfg.get("fused", False))
    return model.to(device) if device else model


def batch_stream(split, batch_size, seed):
    """Minibatches forever: a new shuffle of the training split per epoch, from ``seed``."""
    epoch = 0
    while True:
        rng = np.random.default_rng([seed, epoch])
        for _, batch in split.batches(batch_size, shuffle=True, rng=rng):
            yield batch
        epoch += 1


def sequence_loss(model, src, tgt_in, tgt_out):
    """Mean cross-entropy per target token (padding ignored), under teacher forcing."""
    logits = model(src, tgt_in)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1),
                           ignore_index=model.padding_idx)


def train(model, data, cfg, seed, steps=None, on_eval=None):
    """Adam with gradient clipping for ``steps`` minibatches. Returns the training loss of
    every step; ``on_eval(step)`` is called every ``eval_every`` steps."""
    steps = cfg["steps"] if steps is None else steps
    opt = optim.Adam(model.parameters(), lr=cfg["lr"])
    stream = batch_stream(data.train, cfg["batch_size"], seed)
    losses = []
    for step in range(1, steps + 1):
        loss = sequence_loss(model, *next(stream))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        losses.append(loss.item())
        if on_eval is not None and step % cfg["eval_every"] == 0:
            on_eval(step)
    return losses


def decode(model, split, max_len=None, batch_size=500, beam_size=None, length_penalty=1.0):
    """Decoded token arrays (N, L) for a split, greedy or with beam search, in batches."""
    max_len = int(split.tgt_lengths.max()) + 2 if max_len is None else max_len
    out = np.zeros((len(split), max_len), dtype=np.int64)
    model.eval()
    with no_grad():
        for index, (src, _, _) in split.batches(batch_size):
            if beam_size is None:
                res = model.greedy_decode(src, max_len)
            else:
                res = model.beam_decode(src, max_len, beam_size=beam_size,
                                        length_penalty=length_penalty)
            out[index, :res.tokens.shape[1]] = res.tokens
    model.train()
    return out


def score(tokens, split):
    """Exact match (N,) bool and per-token accuracy (N,) of decoded ``tokens`` (N, L)."""
    T = split.tgt_out.shape[1]
    L = tokens.shape[1]
    width = max(T, L)
    pred = np.zeros((len(split), width), dtype=np.int64)
    pred[:, :L] = tokens
    target = np.zeros((len(split), width), dtype=np.int64)
    target[:, :T] = split.tgt_out
    real = np.arange(width)[None, :] < split.tgt_lengths[:, None]
    hit = (pred == target) & real
    token_acc = hit.sum(axis=1) / split.tgt_lengths
    exact = hit.sum(axis=1) == split.tgt_lengths       # the decoder stops at <eos>
    return exact, token_acc


def by_bucket(values, lengths, buckets=BUCKETS):
    """Mean of ``values`` per input-length bucket (None for an empty bucket) and the counts."""
    means, counts = [], []
    for lo, hi in buckets:
        sel = (lengths >= lo) & (lengths <= hi)
        counts.append(int(sel.sum()))
        means.append(float(values[sel].mean()) if sel.any() else None)
    return means, counts


def evaluate(model, split, buckets=BUCKETS):
    """Greedy-decoding accuracy on a split, overall and per input-length bucket."""
    exact, token_acc = score(decode(model, split), split)
    em_b, counts = by_bucket(exact.astype(float), split.src_lengths, buckets)
    tok_b, _ = by_bucket(token_acc, split.src_lengths, buckets)
    return {"exact_match": float(exact.mean()), "token_accuracy": float(token_acc.mean()),
            "exact_match_by_length": em_b, "token_accuracy_by_length": tok_b,
            "bucket_counts": counts}


def _log(*args):
    print(*args, flush=True)


def run_one(name, seed, cfg, data, device=None, checkpoint=None, log=_log):
    """Train one model from one seed and evaluate it; optionally save its weights."""
    model = build_model(MODELS[name], seed, cfg, data, device)
    curve = []

    def on_eval(step):
        curve.append([step, evaluate(model, data.val)["exact_match"]])
        log(f"  {name:16s} seed {seed} step {step:5d}: val exact match {curve[-1][1]:.3f}")

    t0, c0 = time.perf_counter(), time.process_time()
    losses = train(model, data, cfg, seed, on_eval=on_eval)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    result = {"model": name, "seed": seed, "train_wall_s": round(wall, 1),
              "train_cpu_s": round(cpu, 1),
              "first_losses": [round(x, 6) for x in losses[:cfg["record_first"]]],
              "loss_every_100": [round(float(np.mean(losses[k:k + 100])), 4)
                                 for k in range(0, len(losses), 100)],
              "val_curve": curve, "test": evaluate(model, data.test)}
    if checkpoint is not None:
        io.save(model.state_dict(), checkpoint)
        result["checkpoint"] = Path(checkpoint).name
    return result


def _run_job(job):
    """One (model, seed) run in a worker process: its own data, its own result."""
    name, seed, cfg, device, ckpt = job
    result = run_one(name, seed, cfg, load_data(cfg), device, ckpt, log=lambda *a: None)
    _report(result)
    return result


def _report(r):
    test = r["test"]
    buckets = [None if v is None else round(v, 3) for v in test["exact_match_by_length"]]
    print(f"{r['model']:16s} seed {r['seed']}: test exact match {test['exact_match']:.3f}, "
          f"by input length {buckets} ({r['train_cpu_s']:.0f} s CPU)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="book/data/seq2seq.json")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--device", default=None, help="cpu or gpu (default: lfs's default)")
    parser.add_argument("--quick", action="store_true", help="a small version, for tests")
    parser.add_argument("--no-checkpoints", action="store_true")
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at the same time")
    args = parser.parse_args(argv)
    meta = provenance(None if argv is None else ["lstm_from_scratch/experiments/seq2seq.py",
                                                  *argv])
    cfg = dict(CONFIG, **(QUICK if args.quick else {}))
    if args.steps is not None:
        cfg["steps"] = args.steps
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    jobs = []
    for seed in args.seeds:
        for name in args.models:
            ckpt = None
            if seed == args.seeds[0] and not args.no_checkpoints:
                ckpt = out.with_name(f"{out.stem}_{name.replace('-', '_')}.npz")
            jobs.append((name, seed, cfg, args.device, ckpt))
    t0 = time.perf_counter()
    if args.jobs > 1:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")     # read by each new process
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
            runs = list(pool.map(_run_job, jobs))              # results in the jobs' order
    else:
        data = load_data(cfg)
        runs = []
        for name, seed, _, device, ckpt in jobs:
            runs.append(run_one(name, seed, cfg, data, device, ckpt))
            _report(runs[-1])
    meta["wall_time_s"] = round(time.perf_counter() - t0, 1)
    meta["jobs"] = args.jobs
    write_results(out, {"provenance": meta, "config": cfg, "models": MODELS,
                        "buckets": [list(b) for b in BUCKETS],
                        "bucket_names": bucket_names(), "runs": runs})
    return runs


if __name__ == "__main__":
    main()
