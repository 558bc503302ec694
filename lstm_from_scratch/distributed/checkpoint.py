"""Checkpoints of a data-parallel run: rank 0 writes, every rank can read.

All replicas hold the same parameters and optimizer state, so one copy is enough, and
several processes writing one file would race. The file holds the *unwrapped* model's
state dict (keys without ``module.``), so a checkpoint of a P-process run resumes on any
number of processes, including one without ``lfs.distributed`` at all
(``lfs.io.load_checkpoint``).
"""
from __future__ import annotations

from .. import io
from . import process_group as pg
from .ddp import DistributedDataParallel

__all__ = ["save_checkpoint"]


def _unwrap(model):
    return model.module if isinstance(model, DistributedDataParallel) else model


def save_checkpoint(path, model=None, optimizer=None, scheduler=None, epoch=None,
                    **metrics) -> None:
    """``lfs.io.save_checkpoint`` on rank 0 only, then a barrier, so that no rank goes on
    (and perhaps reads the file) before it is complete. ``model`` may be wrapped in
    :class:`DistributedDataParallel`; the wrapped module is saved. Call it on every rank."""
    if pg.get_rank() == 0:
        io.save_checkpoint(path, _unwrap(model), optimizer, scheduler, epoch=epoch, **metrics)
    pg.barrier()
