"""Programs that tests/test_distributed.py runs under ``mpiexec -n 2``, one per case:

    mpiexec -n 2 python tests/mpi_cases.py CASE OUT_DIR

Each writes what it found to OUT_DIR (rank 0 only) or fails with an assertion. The helpers
at the top (a small language model, its data, a training loop) are also imported by the
tests themselves, for the single-process side of a comparison.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

import lstm_from_scratch as lfs

F = lfs.nn.functional
V, T, N = 11, 6, 48            # vocabulary, sequence length, number of sequences


class TinyLM(lfs.nn.Module):
    """Embedding -> 2-layer LSTM -> Linear: every kind of parameter a language model has."""

    def __init__(self):
        super().__init__()
        self.embed = lfs.nn.Embedding(V, 5)
        self.lstm = lfs.nn.LSTM(5, 7, num_layers=2, batch_first=True)
        self.head = lfs.nn.Linear(7, V)

    def forward(self, x):
        out, _ = self.lstm(self.embed(x))
        return self.head(out)


def make_model(seed):
    lfs.manual_seed(seed)
    return TinyLM().double()


def make_data():
    ids = np.random.default_rng(7).integers(0, V, size=(N, T + 1))
    return ids[:, :-1].copy(), ids[:, 1:].copy()


def train_epochs(model, optimizer, sampler, batch_size, epochs, data, on_step=None):
    """Plain data-parallel training: one optimizer step per batch of the sampler's share."""
    x_all, y_all = data
    loader = lfs.data.DataLoader((x_all, y_all), batch_size=batch_size, sampler=sampler)
    losses = []
    for epoch in epochs:
        sampler.set_epoch(epoch)
        for x, y in loader:
            logits = model(lfs.tensor(x))
            loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if on_step is not None:
                on_step(len(losses))
    return losses


def flat_params(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


def reference_run(epochs, batch_size, state=None):
    """One process, batch ``batch_size``, no lfs.distributed at all (optionally resumed)."""
    from lstm_from_scratch.distributed import DistributedSampler

    model = make_model(100)
    opt = lfs.optim.Adam(model.parameters(), lr=0.01)
    if state is not None:
        lfs.io.load_checkpoint(state, model, opt)
    sampler = DistributedSampler(N, num_replicas=1, rank=0, shuffle=True, seed=3)
    losses = train_epochs(model, opt, sampler, batch_size, epochs, make_data())
    return model, losses


# ---- the cases ------------------------------------------------------------------------------
def case_equivalence(out):
    """2 ranks x batch B == 1 rank x batch 2B, for overlap on/off and small/large buckets."""
    import lstm_from_scratch.distributed as dist

    dist.init_process_group(backend="mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    B = 4
    reference, ref_losses = reference_run(range(2), world * B)
    results = {}
    for overlap in (True, False):
        for cap in (None, 0.0005):                      # one bucket / several buckets
            # each rank starts from different weights: DDP must copy rank 0's (seed 100)
            model = dist.DistributedDataParallel(make_model(100 + rank), bucket_cap_mb=cap,
                                                 overlap=overlap)
            opt = lfs.optim.Adam(model.parameters(), lr=0.01)
            sampler = dist.DistributedSampler(N, shuffle=True, seed=3)
            losses = train_epochs(model, opt, sampler, B, range(2), make_data())
            # the mean of the ranks' losses is the loss of the whole batch
            mean_losses = lfs.tensor(np.array(losses))
            dist.all_reduce(mean_losses, op=dist.ReduceOp.AVG)
            mine = flat_params(model.module)
            everyone = [None] * world
            dist.all_gather_object(everyone, mine)
            key = f"overlap={overlap},cap={cap}"
            results[key] = {
                "max_param_diff": float(np.abs(mine - flat_params(reference)).max()),
                "max_loss_diff": float(np.abs(mean_losses.numpy() - ref_losses).max()),
                "ranks_bitwise_equal": all(np.array_equal(everyone[0], e) for e in everyone),
                "steps": len(losses),
                "buckets": len(model.bucket_sizes),
                "params": len(list(model.parameters())),
                "allreduce_calls": model.allreduce_calls,
            }
            model.remove_hooks()
    if rank == 0:
        (Path(out) / "equivalence.json").write_text(json.dumps(results, indent=1))
    dist.destroy_process_group()


def case_sampler(out):
    """The shards of real ranks: equal sizes, disjoint, covering; a new order each epoch."""
    import lstm_from_scratch.distributed as dist

    dist.init_process_group()
    world = dist.get_world_size()
    results = []
    for n in (10, 11):
        for drop_last in (False, True):
            for epoch in (0, 1):
                sampler = dist.DistributedSampler(n, shuffle=True, seed=5, drop_last=drop_last)
                sampler.set_epoch(epoch)
                shards = [None] * world
                dist.all_gather_object(shards, sampler.indices().tolist())
                results.append({"n": n, "drop_last": drop_last, "epoch": epoch,
                                "len": len(sampler), "shards": shards})
    if dist.get_rank() == 0:
        (Path(out) / "sampler.json").write_text(json.dumps(results))
    dist.destroy_process_group()


def case_failure(out):
    """Rank 1 fails in the middle of training while rank 0 waits in an allreduce."""
    import lstm_from_scratch.distributed as dist

    dist.init_process_group()
    rank = dist.get_rank()
    model = dist.DistributedDataParallel(make_model(100))
    opt = lfs.optim.Adam(model.parameters(), lr=0.01)

    def fail(step):
        if rank == 1 and step == 2:
            raise ValueError("injected failure on rank 1 at step 2")

    train_epochs(model, opt, dist.DistributedSampler(N, seed=3), 4, range(2), make_data(),
                 on_step=fail)
    print("rank", rank, "finished training, which it must not", flush=True)


def case_checkpoint(out):
    """Train one epoch on 2 ranks, checkpoint (rank 0), train another; record both."""
    import lstm_from_scratch.distributed as dist

    dist.init_process_group()
    model = dist.DistributedDataParallel(make_model(100))
    opt = lfs.optim.Adam(model.parameters(), lr=0.01)
    sampler = dist.DistributedSampler(N, shuffle=True, seed=3)
    train_epochs(model, opt, sampler, 4, [0], make_data())
    dist.save_checkpoint(Path(out) / "epoch0.npz", model, opt, epoch=0)
    train_epochs(model, opt, sampler, 4, [1], make_data())
    if dist.get_rank() == 0:
        np.save(Path(out) / "final_params.npy", flat_params(model.module))
    dist.destroy_process_group()


if __name__ == "__main__":
    case, out_dir = sys.argv[1], sys.argv[2]
    globals()["case_" + case](out_dir)
