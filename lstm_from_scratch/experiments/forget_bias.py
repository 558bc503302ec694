"""Chapter 6's forget-gate bias experiment: how many steps an LSTM needs on the adding problem
with the forget-gate bias initialised to 0 (PyTorch's default) and to 1, over several seeds.

The record (``book/data/forget_bias.json``) and the trained model that chapter 4 and the
appendix inspect (``book/data/adding_lstm.npz``) are written by::

    python -m lstm_from_scratch.experiments.forget_bias --out book/data/forget_bias.json \\
        --checkpoint book/data/adding_lstm.npz

Every run trains :class:`AddingNet` (an LSTM and a linear head on its last hidden state) in
float64 with Adam and gradient clipping on its own stream of adding-problem batches, and evaluates the
validation MSE every ``eval_every`` steps on one fixed validation set. A seed fixes both the
initial weights and the training data, so the two biases of one seed differ in nothing else.
Training is chaotic enough that float32 runs on two BLAS builds (different summation orders)
part visibly after a few hundred steps; in float64 the chapter's live re-run reproduces the
record on any CPU. The initial weights are always drawn on the CPU (a GPU's generator draws
other numbers from the same seed) and then moved to the device, so a run on a GPU starts where
the record's run started. The result of a run is its validation curve and the first evaluated step at which the
validation MSE fell below ``threshold`` (0.05, under a third of the 0.167 of predicting the
mean: the network must be remembering the first marked number).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import data, io, nn, no_grad, optim
from ..backend import get_device, manual_seed
from ..functional import tensor
from ..nn import functional as F
from .provenance import built_on_cpu, provenance, write_results

#: The configuration of every run (chapter 6).
CONFIG = dict(seq_len=40, hidden_size=16, batch_size=32, lr=1e-2, clip=1.0, steps=1500,
              eval_every=25, n_val=500, val_seed=1, threshold=0.05, dtype="float64")
#: The seeds and the biases of the record.
SEEDS = tuple(range(16))
BIASES = (0.0, 1.0)


class AddingNet(nn.Module):
    """An LSTM over x: (B, T, 2) and a linear head on its last hidden state -> (B, 1)."""

    def __init__(self, hidden_size=16, forget_bias=0.0, dtype=None, device=None):
        super().__init__()
        self.lstm = nn.LSTM(2, hidden_size, batch_first=True, forget_bias=forget_bias,
                            fused=True,     # the same numbers as fused=False, a little faster
                            dtype=dtype, device=device)
        self.head = nn.Linear(hidden_size, 1, dtype=dtype, device=device)

    def forward(self, x):
        _, (h_n, c_n) = self.lstm(x)
        return self.head(h_n[0])


def train_adding(forget_bias, seed, steps=None, stop_below=False, config=CONFIG, device=None):
    """Train one :class:`AddingNet`; return its validation curve and the trained model.

    Args:
        forget_bias: the LSTM's ``forget_bias``.
        seed: initial weights (``manual_seed(seed)``) and training data (adding-problem
            seed ``1000 + seed``).
        steps: training steps (default ``config["steps"]``); the batches are those of a run
            of ``config["steps"]`` steps, so a shorter run is the beginning of the full one.
        stop_below: stop at the first evaluation below ``config["threshold"]``.
        config: the configuration (pass a record's own ``config`` to re-run that record).
        device: where to train (default ``get_device()``); the initial weights are drawn on
            the CPU whatever the device, so every device starts from the same weights.
    Returns:
        ``{"steps": [...], "val_mse": [...], "first_below": step or None}`` and the model.
    """
    c = config
    steps = c["steps"] if steps is None else steps
    T, B = c["seq_len"], c["batch_size"]
    dtype = np.dtype(c.get("dtype", "float32"))      # records made before it was recorded
    device = get_device() if device is None else device
    manual_seed(seed)
    model = built_on_cpu(lambda: AddingNet(c["hidden_size"], forget_bias, dtype=dtype), device)
    opt = optim.Adam(model.parameters(), lr=c["lr"])
    # the batches of a full run, whatever `steps` is: a shorter run trains on their beginning
    x_train, y_train = data.adding_problem(max(steps, c["steps"]) * B, T, seed=1000 + seed,
                                           dtype=dtype)
    val = data.adding_problem(c["n_val"], T, seed=c["val_seed"], dtype=dtype)
    x_val, y_val = (tensor(a, device=device) for a in val)
    record = {"steps": [], "val_mse": [], "first_below": None}
    for step in range(1, steps + 1):
        batch = slice((step - 1) * B, step * B)
        loss = F.mse_loss(model(tensor(x_train[batch], device=device)),
                          tensor(y_train[batch], device=device))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), c["clip"])
        opt.step()
        if step % c["eval_every"] == 0:
            with no_grad():
                val = F.mse_loss(model(x_val), y_val).item()
            record["steps"].append(step)
            record["val_mse"].append(val)
            if val < c["threshold"] and record["first_below"] is None:
                record["first_below"] = step
                if stop_below:
                    break
    return record, model


def run(seeds=SEEDS, biases=BIASES, steps=None, checkpoint=None, log=print):
    """Every (bias, seed) pair; with ``checkpoint``, save the model of bias 1, seed 0 there."""
    runs = []
    for seed in seeds:
        for fb in biases:
            t0 = time.process_time()
            record, model = train_adding(fb, seed, steps)
            record.update(forget_bias=fb, seed=seed,
                          cpu_time_s=round(time.process_time() - t0, 1))
            runs.append(record)
            log(f"forget_bias={fb:g} seed={seed}: below {CONFIG['threshold']} at "
                f"{record['first_below']}, final {record['val_mse'][-1]:.4f} "
                f"({record['cpu_time_s']} s CPU)")
            if checkpoint is not None and fb == 1.0 and seed == 0:
                io.save(model.state_dict(), checkpoint)
    return runs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the results file (JSON)")
    parser.add_argument("--checkpoint", help="where to save the model of bias 1, seed 0 (.npz)")
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds 0 .. N-1")
    args = parser.parse_args(argv)
    meta = provenance()
    t0 = time.time()
    runs = run(seeds=tuple(range(args.seeds)), checkpoint=args.checkpoint)
    meta["wall_time_s"] = round(time.time() - t0, 1)
    meta["cpu_time_s"] = round(sum(r["cpu_time_s"] for r in runs), 1)
    write_results(args.out, {"provenance": meta, "config": CONFIG, "runs": runs})


if __name__ == "__main__":
    main()
