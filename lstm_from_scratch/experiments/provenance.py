"""Where a recorded result came from: command, commit, versions, machine and date.

    >>> meta = provenance()              # at the start of a run
    >>> meta["wall_time_s"] = 812.4      # the caller adds what it measured
    >>> write_results("book/data/gates.json", {"provenance": meta, "runs": runs})
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path


def _git(*args: str) -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_description() -> str:
    from .. import backend

    if backend.get_device() != "gpu":
        return "cpu"
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return "gpu: " + (name.decode() if isinstance(name, bytes) else str(name))


def provenance(argv: list[str] | None = None) -> dict:
    """A dict describing this run, JSON-serialisable.

    Keys: ``command`` (as typed, from ``sys.argv`` unless ``argv`` is given), ``commit`` (git
    HEAD, with ``-dirty`` when the work tree has uncommitted changes to tracked files; None
    outside a git checkout), ``library_version``, ``python``, ``numpy``, ``machine`` (CPU model
    and core count), ``device`` (``cpu`` or the GPU's name), ``date`` (UTC, ISO 8601).
    """
    import numpy as np

    from .. import __version__

    argv = sys.argv if argv is None else argv
    # `python -m pkg.mod` puts the module's file path in argv[0]: give the command back as typed
    if argv and argv[0].endswith(".py") and "lstm_from_scratch" in Path(argv[0]).parts:
        module = Path(argv[0]).with_suffix("").parts
        module = ".".join(module[module.index("lstm_from_scratch"):])
        command = "python -m " + module + "".join(" " + shlex.quote(a) for a in argv[1:])
    else:
        command = " ".join(shlex.quote(a) for a in argv)
    commit = _git("rev-parse", "HEAD")
    if commit and _git("status", "--porcelain", "--untracked-files=no"):
        commit += "-dirty"
    return {
        "command": command,
        "commit": commit,
        "library_version": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}",
        "device": _device_description(),
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
    }


def write_results(path, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_results(path) -> dict:
    """Read a results file written by :func:`write_results`."""
    return json.loads(Path(path).read_text())


def built_on_cpu(build, device=None):
    """``build()`` with the CPU as the default device, then moved to ``device`` (default:
    ``lfs.get_device()``).

    The initial weights then come from the CPU generator (``lfs.manual_seed`` seeds it), so a
    seed gives the same start on either device, and a chapter's live re-run on a GPU can be
    compared with a record made on the CPU. (CuPy's generator draws another stream.)
    """
    from .. import backend

    target = backend.get_device() if device is None else device
    previous = backend.get_device()
    backend.set_device("cpu")
    try:
        model = build()
    finally:
        backend.set_device(previous)
    return model.to(target)

