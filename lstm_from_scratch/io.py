"""Saving and loading state dicts and training checkpoints as ``.npz`` archives, never pickle.

A pickle can run arbitrary code when it is loaded, so a model file from someone else would
be a program. An ``.npz`` archive is a zip of ``.npy`` files, each a small text header and the
raw bytes of one array: loading it runs nothing. We write the archive ourselves, refuse
object arrays (the only kind ``.npy`` stores as a pickle) when saving, and load with
``allow_pickle=False``, so a crafted archive with a pickled payload is rejected before any of
it is unpickled.

Files are written atomically: to a temporary file in the same directory, flushed to disk
(``fsync``), then renamed over the target (``os.replace``). A crash or an error mid-way
leaves the previous file intact and no temporary file behind.

Checkpoint layout (all arrays; keys are paths, and model keys keep their dots)::

    model/lstm.weight_ih_l0          each entry of model.state_dict()
    optim/state/<i>/<name>           optimizer state of parameter i (exp_avg, step, ...)
    optim/param_groups/<g>/<name>    hyperparameters of group g (lr, betas, params, ...)
    sched/<name>                     the scheduler's state (last_epoch, base_lrs, ...)
    meta/epoch, meta/<metric>        the epoch and any metrics passed to save_checkpoint
    meta/format                      the layout version (1)
"""
from __future__ import annotations

import os
import tempfile
import zipfile

import numpy as np

from . import backend
from .autograd import Tensor

__all__ = ["load", "load_checkpoint", "load_into", "save", "save_checkpoint"]

CHECKPOINT_FORMAT = 1


# ---- arrays in, arrays out -------------------------------------------------------------------------
def _as_array(key, value) -> np.ndarray:
    """A state-dict value as a NumPy array; object arrays (pickles) are refused."""
    if isinstance(value, Tensor):
        arr = backend.to_numpy(value.data)
    elif hasattr(value, "detach") and hasattr(value, "cpu"):          # a torch tensor
        arr = value.detach().cpu().numpy()
    elif hasattr(value, "dtype") and not isinstance(value, np.generic):  # numpy / cupy array
        arr = backend.to_numpy(value)
    else:
        arr = np.asarray(value)
    if arr.dtype.hasobject:
        raise TypeError(f"cannot save key {key!r}: its value ({type(value).__name__}) becomes an "
                        "object array, which .npz can only store as a pickle, and lfs.io never "
                        "writes or reads pickles; save numbers, strings and numeric arrays only")
    return arr


def _check_key(key):
    if not isinstance(key, str) or not key:
        raise TypeError(f"state dict keys must be non-empty strings, got {key!r}")
    return key


def _write_npz(fileobj, arrays: dict) -> None:
    """An uncompressed .npz (the format np.savez writes) into an open binary file."""
    with zipfile.ZipFile(fileobj, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr) if arr.ndim else arr,
                                          allow_pickle=False)


def _file_mode(path):
    """Keep an existing file's permissions; new files get 0o666 minus the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mask = os.umask(0)
        os.umask(mask)
        return 0o666 & ~mask


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); silently skipped where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(state_dict, path) -> None:
    """Save a dict of arrays (a ``state_dict()``) to ``path`` as an ``.npz`` archive.

    Args:
        state_dict: str -> Tensor, NumPy/CuPy array, torch tensor or number. Keys may hold
            dots and slashes. Values are copied to the CPU.
        path: the file to write (no suffix is added); replaced atomically if it exists.
    Raises:
        TypeError: a key is not a string, or a value would need pickling (object arrays).
    """
    # convert and check everything before touching the disk
    arrays = {_check_key(k): _as_array(k, v) for k, v in dict(state_dict).items()}
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_npz(f, arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def load(path) -> dict:
    """Load an ``.npz`` archive written by :func:`save` into a dict of NumPy arrays.

    Never unpickles: a file that is not a zip archive (e.g. a pickle from ``torch.save``), a
    member that is not an ``.npy`` array, or an array stored as a pickled object raises
    ``ValueError`` without running any of it.
    """
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz archive (lfs.io reads only the .npz files "
                         "lfs.io.save writes; pickles are refused because loading one can run "
                         "code)")
    out = {}
    with np.load(path, allow_pickle=False) as npz:
        for name in npz.zip.namelist():
            if not name.endswith(".npy"):
                raise ValueError(f"{path}: member {name!r} is not an .npy array; refusing the "
                                 "archive")
        for key in npz.files:
            try:
                out[key] = npz[key]
            except ValueError as e:
                if "pickle" in str(e) or "Object arrays" in str(e):
                    raise ValueError(
                        f"{path}: entry {key!r} is a pickled object array; refusing to load it "
                        "(unpickling can run arbitrary code, so lfs.io never does)") from None
                raise
    return out


def load_into(module, path, strict: bool = True):
    """``module.load_state_dict(load(path), strict)``: missing, unexpected and mis-shaped keys
    are reported by name. Returns ``(missing_keys, unexpected_keys)``."""
    return module.load_state_dict(load(path), strict=strict)


# ---- checkpoints -------------------------------------------------------------------------------------
def _flatten_optimizer(state: dict, prefix="optim/") -> dict:
    flat = {}
    for index, entries in state["state"].items():
        for name, value in entries.items():
            flat[f"{prefix}state/{int(index)}/{name}"] = value
    for g, group in enumerate(state["param_groups"]):
        for name, value in group.items():
            if value is None:
                continue            # no array for None; the optimizer keeps its default
            if name == "params":
                value = np.asarray(value, dtype=np.int64)
            flat[f"{prefix}param_groups/{g}/{name}"] = value
    return flat


def _unflatten_optimizer(flat: dict, prefix="optim/") -> dict | None:
    state, groups = {}, {}
    found = False
    for key, value in flat.items():
        if not key.startswith(prefix):
            continue
        found = True
        kind, index, name = key[len(prefix):].split("/", 2)
        target = state if kind == "state" else groups
        target.setdefault(int(index), {})[name] = value
    if not found:
        return None
    return {"state": state, "param_groups": [groups[g] for g in sorted(groups)]}


def _sub(flat: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in flat.items() if k.startswith(prefix)}


def save_checkpoint(path, model=None, optimizer=None, scheduler=None, epoch=None,
                    **metrics) -> None:
    """Save model, optimizer and scheduler state with the epoch and metrics, in one ``.npz``.

    Args:
        path: the file to write (atomically).
        model: anything with ``state_dict()`` (an ``lfs.nn.Module``), or None.
        optimizer: an ``lfs.optim.Optimizer``, or None.
        scheduler: an ``lfs.optim.lr_scheduler`` scheduler, or None.
        epoch: an int, or None.
        **metrics: numbers or arrays (``val_loss=0.12``), stored as ``meta/<name>``.
    """
    flat = {"meta/format": np.asarray(CHECKPOINT_FORMAT)}
    if epoch is not None:
        flat["meta/epoch"] = np.asarray(int(epoch))
    for name, value in metrics.items():
        flat[f"meta/{name}"] = value
    if model is not None:
        for name, value in model.state_dict().items():
            flat[f"model/{name}"] = value
    if optimizer is not None:
        flat.update(_flatten_optimizer(optimizer.state_dict()))
    if scheduler is not None:
        for name, value in scheduler.state_dict().items():
            if value is not None:
                flat[f"sched/{name}"] = value
    save(flat, path)


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, strict: bool = True) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, restoring whatever is passed in.

    Args:
        model, optimizer, scheduler: objects to restore in place (each optional; ``strict``
            applies to the model's keys).
    Returns:
        A dict: ``"epoch"`` (int or None), ``"metrics"`` (name -> number or array),
        ``"model"`` (the model's state dict), ``"optimizer"`` and ``"scheduler"`` (their
        state dicts, or None when the file has none).
    """
    flat = load(path)
    model_state = _sub(flat, "model/")
    optim_state = _unflatten_optimizer(flat)
    sched_state = _sub(flat, "sched/") or None
    meta = _sub(flat, "meta/")
    if model is not None:
        model.load_state_dict(model_state, strict=strict)
    if optimizer is not None:
        if optim_state is None:
            raise KeyError(f"{os.fspath(path)} holds no optimizer state (no 'optim/...' keys)")
        optimizer.load_state_dict(optim_state)
    if scheduler is not None:
        if sched_state is None:
            raise KeyError(f"{os.fspath(path)} holds no scheduler state (no 'sched/...' keys)")
        scheduler.load_state_dict(sched_state)
    epoch = meta.pop("epoch", None)
    meta.pop("format", None)
    metrics = {k: (v.item() if v.ndim == 0 else v) for k, v in meta.items()}
    return {"epoch": None if epoch is None else int(epoch), "metrics": metrics,
            "model": model_state, "optimizer": optim_state, "scheduler": sched_state}
