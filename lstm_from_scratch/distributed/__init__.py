"""Data-parallel training over processes: MPI through mpi4py (CPU), NCCL on GPUs.

PyTorch's ``torch.distributed`` names::

    import lstm_from_scratch.distributed as dist

    dist.init_process_group(backend="mpi")         # rank and world size from mpiexec
    model = dist.DistributedDataParallel(build_model())
    sampler = dist.DistributedSampler(train_arrays, shuffle=True, seed=0)
    loader = lfs.data.DataLoader(train_arrays, batch_size=B, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            loss = loss_fn(model(x), y)
            optimizer.zero_grad(); loss.backward()  # gradients averaged over processes
            optimizer.step()
    dist.save_checkpoint("ckpt.npz", model, optimizer)   # written by rank 0 only

and run it with ``mpiexec -n 4 python train.py``.

* :mod:`.process_group` - ``init_process_group``, ``get_rank``, ``get_world_size``,
  ``all_reduce``, ``broadcast``, ``barrier``...; backends ``"mpi"`` and ``"nccl"``
  (the NCCL backend is untested: it has not run on GPUs yet);
* :mod:`.ddp` - ``DistributedDataParallel``: bucketed gradient averaging that overlaps
  with the backward pass;
* :mod:`.sampler` - ``DistributedSampler``: a disjoint shard of the data per rank;
* :mod:`.checkpoint` - ``save_checkpoint`` on rank 0.

This package needs the optional dependency ``mpi4py`` with an MPI library (MPICH from PyPI
wheels): ``pip install -e ".[mpi]"``. Nothing else in ``lstm_from_scratch`` imports it.
"""
try:
    from mpi4py import MPI  # noqa: F401  (initialises MPI, as a plain mpi4py program would)
except (ImportError, RuntimeError, OSError) as _error:     # no mpi4py, or no MPI library
    raise ImportError(
        "lstm_from_scratch.distributed needs mpi4py and an MPI library, which are optional "
        "dependencies: install them with `pip install -e \".[mpi]\"` (mpi4py and MPICH, from "
        f"PyPI wheels). The import failed with {type(_error).__name__}: {_error}") from _error

from .checkpoint import save_checkpoint
from .ddp import DistributedDataParallel
from .process_group import (ReduceOp, Work, all_gather_object, all_reduce, barrier, broadcast,
                            destroy_process_group, get_backend, get_rank, get_world_size,
                            init_process_group, is_initialized, is_mpi_available,
                            is_nccl_available)
from .sampler import DistributedSampler

__all__ = ["DistributedDataParallel", "DistributedSampler", "ReduceOp", "Work",
           "all_gather_object", "all_reduce", "barrier", "broadcast", "destroy_process_group",
           "get_backend", "get_rank", "get_world_size", "init_process_group", "is_initialized",
           "is_mpi_available", "is_nccl_available", "save_checkpoint"]
