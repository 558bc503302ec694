"""Saving and loading state dicts and training checkpoints as ``.npz`` archives, never pickle.

A pickle can run arbitrary code when it is loaded, so a model file from someone else would
be a program. An ``.npz`` archive is a zip of ``.npy`` files, each a small text header and the
raw bytes of one array: loading it runs nothing. We write the archive ourselves, refuse
object arrays (the only kind ``.npy`` stores as a pickle) when saving, and load with
``allow_pickle=False``, so a crafted archive with a pickled payload is rejected before any of
it is unpickled.

Files are written atomically. Everything is converted and checked first (values, and keys:
a key that the archive could not store faithfully is refused), so an error leaves the old
file untouched. The archive is then written to an unnamed file in the target's directory
(``O_TMPFILE``, Linux), flushed to disk (``fsync``), given a name with ``linkat`` and renamed
over the target (``os.replace``): a crash or a ``SIGKILL`` while writing leaves the old file
intact and no temporary file, because the new one has no name until it is complete. Where
``O_TMPFILE`` is missing, the file is written under a temporary name of our own
(``.<name>.lfs-<pid>-<random>.tmp``); an error removes it, and after a kill the next save into
that directory removes the ones whose writer is gone.

``load`` refuses archives that would expand to more than ``max_bytes`` (by default the larger
of 64 MiB and the file's own size, so everything ``save`` writes loads, while a small
compressed file cannot claim gigabytes).

Checkpoint layout (all arrays; keys are paths, and model keys keep their dots)::

    model/lstm.weight_ih_l0          each entry of model.state_dict()
    optim/state/<i>/<name>           optimizer state of parameter i (exp_avg, step, ...)
    optim/param_groups/<g>/<name>    hyperparameters of group g (lr, betas, params, ...)
    sched/<name>                     the scheduler's state (last_epoch, base_lrs, ...)
    meta/epoch, meta/<metric>        the epoch and any metrics passed to save_checkpoint
    meta/format                      the layout version (1)
"""
from __future__ import annotations

import errno
import math
import os
import re
import secrets
import zipfile

import numpy as np

try:
    import fcntl                        # POSIX: a live writer holds a lock on its temporary file
except ImportError:                     # pragma: no cover (Windows)
    fcntl = None

from . import backend
from .autograd import Tensor

__all__ = ["load", "load_checkpoint", "load_into", "save", "save_checkpoint"]

CHECKPOINT_FORMAT = 1
DEFAULT_MAX_BYTES = 64 * 2**20          # what a load may expand to, unless the file is larger
_O_TMPFILE = getattr(os, "O_TMPFILE", None)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_TEMP_NAME = re.compile(r"\..+\.lfs-(\d+)-[0-9a-f]{16}\.tmp")


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
    """A key that load() gives back unchanged: its member name ``key + ".npy"`` must survive
    the zip format (no NUL, which zip truncates at; encodable as UTF-8)."""
    if not isinstance(key, str) or not key:
        raise TypeError(f"state dict keys must be non-empty strings, got {key!r}")
    member = key + ".npy"
    if "\x00" in key:
        raise ValueError(f"cannot save key {key!r}: it contains a NUL character, which a zip "
                         "archive cannot store (the name would be cut there)")
    try:
        member.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"cannot save key {key!r}: it is not valid Unicode text (it cannot be "
                         "encoded as UTF-8, as a zip archive stores names)") from None
    if zipfile.ZipInfo(member).filename != member:
        raise ValueError(f"cannot save key {key!r}: a zip archive would store it as "
                         f"{zipfile.ZipInfo(member).filename[:-4]!r}")
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
        ValueError: a key that the archive could not store (a NUL character, text that is
            not Unicode). Nothing is written when any key or value is refused.
    """
    # convert and check everything before touching the disk
    arrays = {_check_key(k): _as_array(k, v) for k, v in dict(state_dict).items()}
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    mode = _file_mode(path)
    _remove_stale_temporaries(directory)
    if _O_TMPFILE is not None:
        try:
            fd = os.open(directory, _O_TMPFILE | os.O_WRONLY | _O_CLOEXEC, 0o600)
        except OSError as e:            # a file system without O_TMPFILE: the fallback below
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT):
                raise
        else:
            if _write_unnamed(fd, arrays, mode, directory, path):
                return
    _write_named(arrays, mode, directory, path)


def _temporary_name(path):
    return f".{os.path.basename(path)}.lfs-{os.getpid()}-{secrets.token_hex(8)}.tmp"


def _write_to(fd, arrays, mode):
    with os.fdopen(fd, "wb", closefd=False) as f:
        _write_npz(f, arrays)
        f.flush()
        os.fsync(fd)
    os.fchmod(fd, mode)


def _write_unnamed(fd, arrays, mode, directory, path) -> bool:
    """Write into an O_TMPFILE file, then name it and rename it over ``path``. False when
    the system cannot give it a name (no /proc): the caller falls back to a named file."""
    tmp = os.path.join(directory, _temporary_name(path))
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)      # held until we close: "a live writer"
        _write_to(fd, arrays, mode)
        try:
            # linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, tmp, AT_SYMLINK_FOLLOW); passing
            # dst_dir_fd makes CPython call linkat (plain link() would not follow the link)
            dir_fd = os.open(directory, os.O_RDONLY | _O_CLOEXEC)
            try:
                os.link(f"/proc/self/fd/{fd}", os.path.basename(tmp), dst_dir_fd=dir_fd,
                        follow_symlinks=True)
            finally:
                os.close(dir_fd)
        except OSError:
            return False
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
    finally:
        os.close(fd)
    _fsync_directory(directory)
    return True


def _write_named(arrays, mode, directory, path) -> None:
    tmp = os.path.join(directory, _temporary_name(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_CLOEXEC, 0o600)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        _write_to(fd, arrays, mode)
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    finally:
        os.close(fd)
    _fsync_directory(directory)


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _process_alive(pid: int) -> bool:
    if os.name != "posix":
        return True                 # no safe probe: leave the file alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(directory):
    """Delete temporary files of ours that a killed save left in ``directory``: those whose
    writer process is gone and whose lock nobody holds. Nothing else is touched."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMP_NAME.fullmatch(name)
        if match is None or _process_alive(int(match.group(1))):
            continue
        full = os.path.join(directory, name)
        try:
            fd = os.open(full, os.O_RDONLY | _O_CLOEXEC)
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue        # a live writer (in another PID namespace) holds it
            _unlink_quietly(full)
        finally:
            os.close(fd)


def load(path, max_bytes: int | None = None) -> dict:
    """Load an ``.npz`` archive written by :func:`save` into a dict of NumPy arrays.

    Never unpickles: a file that is not a zip archive (e.g. a pickle from ``torch.save``), a
    member that is not an ``.npy`` array, or an array stored as a pickled object raises
    ``ValueError`` without running any of it.

    Args:
        path: the archive.
        max_bytes: the most bytes the archive's arrays may take once loaded (their sizes
            uncompressed, added up). Default: the larger of 64 MiB and the file's own size,
            so any archive that ``save`` wrote loads, while a small compressed file cannot
            expand to gigabytes (a "zip bomb"). Raise it for large compressed files you trust.
    Raises:
        FileNotFoundError, IsADirectoryError, PermissionError: as the OS says.
        ValueError: not an ``.npz`` archive; a member that is not an array, is a pickle, is
            corrupt, or would take the archive past ``max_bytes`` (naming the member).
    """
    path = os.fspath(path)
    out = {}
    with open(path, "rb") as f:
        if not zipfile.is_zipfile(f):
            raise ValueError(f"{path} is not an .npz archive (lfs.io reads only the .npz files "
                             "lfs.io.save writes; pickles are refused because loading one can "
                             "run code)")
        limit = max(DEFAULT_MAX_BYTES, os.fstat(f.fileno()).st_size) if max_bytes is None \
            else int(max_bytes)
        f.seek(0)
        _check_members(f, path, limit)
        f.seek(0)
        with np.load(f, allow_pickle=False) as npz:
            for key in npz.files:
                try:
                    out[key] = npz[key]
                except ValueError as e:
                    if "pickle" in str(e) or "Object arrays" in str(e):
                        raise ValueError(
                            f"{path}: entry {key!r} is a pickled object array; refusing to "
                            "load it (unpickling can run arbitrary code, so lfs.io never "
                            "does)") from None
                    raise
    return out


def _check_members(f, path, limit):
    """Before anything is decompressed in full: every member is an .npy array whose header
    fits the member, and the sizes add up to at most ``limit`` bytes."""
    total = 0
    with zipfile.ZipFile(f) as zf:
        for info in zf.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                raise ValueError(f"{path}: member {name!r} is not an .npy array; refusing the "
                                 "archive")
            key = name[:-4]
            total += info.file_size
            if total > limit:
                raise ValueError(
                    f"{path}: member {key!r} expands to {info.file_size} bytes "
                    f"({info.file_size / 2**20:.1f} MiB; {info.compress_size} stored), which "
                    f"takes the archive past the limit of {limit} bytes; pass a larger "
                    "max_bytes= to lfs.io.load for a file you trust")
            with zf.open(info) as member:
                try:
                    version = np.lib.format.read_magic(member)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                    elif version == (2, 0):
                        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                    else:
                        shape, _, dtype = np.lib.format._read_array_header(member, version)
                except ValueError as e:
                    raise ValueError(f"{path}: member {key!r} is not a valid .npy array: "
                                     f"{e}") from None
                if dtype.hasobject:
                    continue                    # refused when loaded, with its own message
                nbytes = math.prod(shape) * dtype.itemsize
                if member.tell() + nbytes > info.file_size:
                    raise ValueError(
                        f"{path}: member {key!r} declares an array of {nbytes} bytes (shape "
                        f"{shape}, {dtype}) but holds {info.file_size} bytes; the archive is "
                        "corrupt")


def load_into(module, path, strict: bool = True, max_bytes: int | None = None):
    """``module.load_state_dict(load(path), strict)``: missing, unexpected and mis-shaped keys
    are reported by name. Returns ``(missing_keys, unexpected_keys)``."""
    return module.load_state_dict(load(path, max_bytes=max_bytes), strict=strict)


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


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, strict: bool = True,
                    max_bytes: int | None = None) -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`, restoring whatever is passed in.

    Args:
        model, optimizer, scheduler: objects to restore in place (each optional; ``strict``
            applies to the model's keys).
        max_bytes: as in :func:`load`.
    Returns:
        A dict: ``"epoch"`` (int or None), ``"metrics"`` (name -> number or array),
        ``"model"`` (the model's state dict), ``"optimizer"`` and ``"scheduler"`` (their
        state dicts, or None when the file has none).
    """
    flat = load(path, max_bytes=max_bytes)
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
