"""lfs.io: .npz round trips, atomic writes, refusal of pickles, checkpoints."""
import builtins
import os
import shutil

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import io, optim
from lstm_from_scratch.optim import lr_scheduler


def _files(directory):
    return sorted(os.listdir(directory))


def test_round_trip_keeps_dtypes_and_values(tmp_path):
    rng = np.random.default_rng(0)
    sd = {
        "lstm.weight_ih_l0": rng.standard_normal((8, 3)).astype(np.float32),
        "lstm.bias_hh_l0": rng.standard_normal(8),                    # float64
        "head.weight": lfs.tensor(rng.standard_normal((1, 2)), dtype="float64"),
        "steps": np.asarray(7, dtype=np.int64),
        "flag": np.asarray(True),
        "name": np.asarray("adding"),                                 # a unicode array, no pickle
        "nested/key.with.dots": np.arange(3, dtype=np.int32),
    }
    path = tmp_path / "model.npz"
    io.save(sd, path)
    back = io.load(path)
    assert list(back) == list(sd)
    for k, v in sd.items():
        v = v.numpy() if isinstance(v, lfs.Tensor) else v
        assert back[k].dtype == v.dtype, k
        np.testing.assert_array_equal(back[k], v)
    assert _files(tmp_path) == ["model.npz"]                 # no temporary file left behind
    # the file is an ordinary .npz: NumPy itself reads it without pickles
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["lstm.bias_hh_l0"], sd["lstm.bias_hh_l0"])


def test_object_arrays_are_refused_on_save_and_nothing_is_written(tmp_path):
    path = tmp_path / "bad.npz"
    with pytest.raises(TypeError, match=r"'meta'.*object array"):
        io.save({"w": np.ones(2), "meta": {"a": 1}}, path)
    with pytest.raises(TypeError, match="object array"):
        io.save({"w": np.array([np.ones(2), np.ones(3)], dtype=object)}, path)
    with pytest.raises(TypeError, match="strings"):
        io.save({3: np.ones(2)}, path)
    assert _files(tmp_path) == []


def test_failure_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    io.save({"a": np.zeros(3), "b": np.ones(2)}, path)
    before = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:          # the first array is already in the temporary file
            raise OSError("disk full (simulated)")
        return real(*args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="simulated"):
        io.save({"a": np.full(3, 5.0), "b": np.full(2, 6.0)}, path)
    assert len(calls) == 2
    assert path.read_bytes() == before                       # old file intact
    assert _files(tmp_path) == ["ckpt.npz"]                  # temporary file removed
    np.testing.assert_array_equal(io.load(path)["a"], np.zeros(3))


def test_overwrite_replaces_atomically_and_keeps_permissions(tmp_path):
    path = tmp_path / "w.npz"
    io.save({"a": np.zeros(1)}, path)
    os.chmod(path, 0o640)
    io.save({"a": np.ones(1)}, path)
    assert io.load(path)["a"][0] == 1.0
    assert (os.stat(path).st_mode & 0o777) == 0o640


class _Payload:
    """Unpickling this object calls open(marker, "w"): it creates the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def test_pickled_npz_is_refused_without_running_its_code(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.npz"
    np.savez(evil, weight=np.ones(2), x=np.array([_Payload(marker)], dtype=object))
    assert not marker.exists()
    with pytest.raises(ValueError, match=r"'x'.*pickle"):
        io.load(evil)
    assert not marker.exists()
    # control: the payload is live, so the test above could fail - NumPy with
    # allow_pickle=True runs it (on a copy, with its own marker)
    control_marker = tmp_path / "control"
    control = tmp_path / "control.npz"
    np.savez(control, x=np.array([_Payload(control_marker)], dtype=object))
    with np.load(control, allow_pickle=True) as npz:
        npz["x"]
    assert control_marker.exists()


def test_plain_pickle_and_foreign_members_are_refused(tmp_path):
    import pickle
    import zipfile
    marker = tmp_path / "pwned"
    p = tmp_path / "model.pt"
    p.write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not an .npz"):
        io.load(p)
    z = tmp_path / "odd.npz"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="readme.txt"):
        io.load(z)
    assert not marker.exists()


def test_torch_state_dict_saved_here_loads_back_into_torch(tmp_path):
    torch = pytest.importorskip("torch")
    m = torch.nn.LSTM(3, 4)
    io.save(m.state_dict(), tmp_path / "t.npz")
    back = io.load(tmp_path / "t.npz")
    m2 = torch.nn.LSTM(3, 4)
    m2.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()})
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])


# ---- with modules -----------------------------------------------------------------------------------------
def _model():
    nn = pytest.importorskip("lstm_from_scratch.nn")
    lfs.manual_seed(0)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(3, 5, batch_first=True)
            self.head = nn.Linear(5, 2)

        def forward(self, x):
            out, _ = self.lstm(x)
            return self.head(out[:, -1])
    return Net()


def test_load_into_reports_keys_by_name(tmp_path):
    model = _model()
    sd = model.state_dict()
    io.save(sd, tmp_path / "m.npz")
    other = _model()
    io.load_into(other, tmp_path / "m.npz")
    for k, v in sd.items():
        np.testing.assert_array_equal(other.state_dict()[k], v)
    broken = dict(sd)
    broken.pop("head.bias")
    broken["head.extra"] = np.zeros(2)
    broken["head.weight"] = np.zeros((3, 5))
    io.save(broken, tmp_path / "bad.npz")
    with pytest.raises(Exception) as info:
        io.load_into(other, tmp_path / "bad.npz")
    for name in ("head.bias", "head.extra", "head.weight"):
        assert name in str(info.value)


def test_checkpoint_round_trip_resumes_training_exactly(tmp_path):
    x = lfs.tensor(np.random.default_rng(1).standard_normal((4, 6, 3)), dtype="float32")

    def train_steps(model, opt, sched, n):
        for _ in range(n):
            opt.zero_grad()
            loss = (model(x) ** 2).mean()
            loss.backward()
            opt.step()
            sched.step()

    model = _model()
    opt = optim.Adam(model.parameters(), lr=0.01, amsgrad=True)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=7)
    train_steps(model, opt, sched, 3)
    path = tmp_path / "ckpt.npz"
    io.save_checkpoint(path, model, opt, sched, epoch=3, val_loss=0.25, curve=np.arange(3.0))
    keys = io.load(path)
    assert "model/lstm.weight_ih_l0" in keys and "optim/state/0/exp_avg" in keys
    assert "optim/param_groups/0/lr" in keys and "sched/last_epoch" in keys
    train_steps(model, opt, sched, 3)

    model2 = _model()                                 # same seed, then overwritten anyway
    opt2 = optim.Adam(model2.parameters(), lr=0.5)
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=7)
    info = io.load_checkpoint(path, model2, opt2, sched2)
    assert info["epoch"] == 3 and info["metrics"]["val_loss"] == 0.25
    np.testing.assert_array_equal(info["metrics"]["curve"], np.arange(3.0))
    assert opt2.param_groups[0]["betas"] == (0.9, 0.999) and opt2.param_groups[0]["amsgrad"] is True
    assert sched2.last_epoch == 3
    train_steps(model2, opt2, sched2, 3)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(model2.state_dict()[k], v)
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_load_checkpoint_without_optimizer_state(tmp_path):
    model = _model()
    io.save_checkpoint(tmp_path / "c.npz", model, epoch=1)
    opt = optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(KeyError, match="no optimizer state"):
        io.load_checkpoint(tmp_path / "c.npz", model, opt)
    shutil.copy(tmp_path / "c.npz", tmp_path / "d.npz")
    assert io.load_checkpoint(tmp_path / "d.npz", model)["optimizer"] is None


def test_device_tensors_save_and_checkpoint_load_onto_device(tmp_path, device):
    t = lfs.tensor(np.arange(6.0).reshape(2, 3), dtype="float32", device=device)
    io.save({"t": t}, tmp_path / "t.npz")
    back = io.load(tmp_path / "t.npz")["t"]
    assert isinstance(back, np.ndarray) and back.dtype == np.float32
    np.testing.assert_array_equal(back, np.arange(6.0).reshape(2, 3))
    p = lfs.tensor(np.ones(3), dtype="float32", requires_grad=True, device=device)
    opt = optim.Adam([p], lr=0.1)
    p.grad = lfs.tensor(np.ones(3), dtype="float32", device=device)
    opt.step()
    io.save_checkpoint(tmp_path / "c.npz", optimizer=opt, epoch=0)
    opt2 = optim.Adam([p], lr=0.1)
    io.load_checkpoint(tmp_path / "c.npz", optimizer=opt2)
    st = opt2.state[p]
    assert st["step"] == 1 and lfs.backend.device_of(st["exp_avg"]) == device
    assert st["exp_avg"].dtype == np.float32


# ---- errors a user meets first: a typo, a folder --------------------------------------------------------
def test_missing_file_and_folder_raise_the_os_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="typo.npz"):
        io.load(tmp_path / "typo.npz")
    with pytest.raises(IsADirectoryError):
        io.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(tmp_path / "nothing.npz")


# ---- validate everything before the old file is touched ---------------------------------------------------
@pytest.mark.parametrize("key", ["a\x00b", "\x00", "bad\ud800", "x.npy\x00y"])
def test_keys_that_would_not_load_back_are_refused_before_writing(tmp_path, key):
    path = tmp_path / "good.npz"
    io.save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="key"):
        io.save({"w": np.ones(3), key: np.ones(2)}, path)
    assert path.read_bytes() == before and _files(tmp_path) == ["good.npz"]
    np.testing.assert_array_equal(io.load(path)["w"], np.arange(3.0))


def test_every_key_that_save_accepts_loads_back(tmp_path):
    keys = ["a", "a/b", "model/lstm.weight_ih_l0", "x.npy", "sp ace", "ünï", "a\\b", "-",
            "tab\there", "new\nline", "/lead", "trail/", "dot."]
    path = tmp_path / "k.npz"
    io.save({k: np.asarray(i) for i, k in enumerate(keys)}, path)
    back = io.load(path)
    assert list(back) == keys
    assert [int(v) for v in back.values()] == list(range(len(keys)))


# ---- a killed save leaves no temporary file ----------------------------------------------------------------
_KILLED_SAVE = r"""
import sys, time
import numpy as np
from lstm_from_scratch import io
if sys.argv[2] == "fallback":
    io._O_TMPFILE = None                       # as on a system without O_TMPFILE
real = np.lib.format.write_array
def slow(*args, **kwargs):
    real(*args, **kwargs)
    print("writing", flush=True)               # part of the archive is on disk now
    time.sleep(60)
np.lib.format.write_array = slow
io.save({"a": np.ones(1000), "b": np.zeros(1000)}, sys.argv[1])
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs POSIX signals")
@pytest.mark.parametrize("mode", ["o_tmpfile", "fallback"])
def test_save_killed_with_sigkill_leaves_no_temporary_file(tmp_path, mode):
    import signal
    import subprocess
    import sys
    path = tmp_path / "ckpt.npz"
    io.save({"a": np.zeros(2)}, path)
    before = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SAVE, str(path), mode],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before                   # the old checkpoint is intact
    leftovers = [f for f in _files(tmp_path) if f != "ckpt.npz"]
    if mode == "o_tmpfile" and io._O_TMPFILE is not None:
        assert leftovers == []                           # the file never had a name
    # in any case the next save into the folder removes what a killed save left
    io.save({"a": np.ones(2)}, path)
    assert _files(tmp_path) == ["ckpt.npz"]
    np.testing.assert_array_equal(io.load(path)["a"], np.ones(2))


def test_next_save_leaves_other_files_and_live_saves_alone(tmp_path):
    path = tmp_path / "ckpt.npz"
    other = tmp_path / ".ckpt.npz.notours.tmp"
    other.write_text("someone else's")
    (tmp_path / "notes.txt").write_text("keep")
    # a save in progress in this (live) process, and one of a writer that holds its lock
    live = tmp_path / f".ckpt.npz.lfs-{os.getpid()}-{'0' * 16}.tmp"
    live.write_text("being written")
    locked = tmp_path / f".other.npz.lfs-{2**22 + 12345}-{'1' * 16}.tmp"    # no such pid
    locked.write_text("being written elsewhere")
    fcntl = pytest.importorskip("fcntl")
    with open(locked) as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        io.save({"a": np.zeros(2)}, path)
    assert sorted(_files(tmp_path)) == sorted(["ckpt.npz", other.name, "notes.txt",
                                               live.name, locked.name])
    io.save({"a": np.zeros(2)}, path)                   # the lock is gone, and so is its writer
    assert locked.name not in _files(tmp_path) and live.name in _files(tmp_path)


# ---- a cap on what a load may expand to ---------------------------------------------------------------
def _deflate_bomb(path, n_bytes, name="w"):
    """An .npz whose one DEFLATE member expands to n_bytes of zeros (float64), written in
    chunks so that the test itself never holds it in memory."""
    import zipfile
    n = n_bytes // 8
    header = {"descr": "<f8", "fortran_order": False, "shape": (n,)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open(name + ".npy", "w", force_zip64=True) as f:
            np.lib.format.write_array_header_1_0(f, header)
            chunk = bytes(1 << 20)
            left = n * 8
            while left:
                f.write(chunk[:min(left, len(chunk))])
                left -= min(left, len(chunk))


def _member_size(path, name="w.npy"):
    import zipfile
    with zipfile.ZipFile(path) as zf:
        return zf.getinfo(name).file_size           # the .npy header and the data


def test_load_refuses_to_expand_past_its_cap(tmp_path):
    bomb = tmp_path / "bomb.npz"
    _deflate_bomb(bomb, 95 * 2**20)                     # 95 MiB of zeros ...
    assert os.path.getsize(bomb) < 200_000              # ... in a file of about 95 KB
    size = _member_size(bomb)
    assert 95 * 2**20 < size < 95 * 2**20 + 1024
    with pytest.raises(ValueError, match=rf"'w'.*{size} bytes.*max_bytes"):
        io.load(bomb)                                   # refused by default ...
    with pytest.raises(ValueError, match=r"'w'"):
        io.load(bomb, max_bytes=2**20)
    with pytest.raises(ValueError, match=r"'w'"):
        io.load_checkpoint(bomb)
    small = tmp_path / "small.npz"
    _deflate_bomb(small, 2**20)
    assert io.load(small)["w"].shape == (2**17,)        # under the cap: loads
    with pytest.raises(ValueError, match=rf"'w'.*{_member_size(small)} bytes"):
        io.load(small, max_bytes=2**19)                 # ... unless the cap is lower
    assert io.load(bomb, max_bytes=2**27)["w"].shape == (95 * 2**17,)   # raised on request


def test_an_uncompressed_archive_of_any_size_is_within_the_default_cap(tmp_path):
    path = tmp_path / "big.npz"
    io.save({"w": np.zeros(9 * 2**20, dtype=np.float64)}, path)        # 72 MiB, stored
    assert io.load(path)["w"].shape == (9 * 2**20,)


def test_header_that_claims_more_than_the_member_holds_is_refused(tmp_path):
    import zipfile
    path = tmp_path / "liar.npz"
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    with zipfile.ZipFile(path, "w") as zf:
        with zf.open("w.npy", "w") as f:
            np.lib.format.write_array_header_1_0(f, header)
            f.write(bytes(64))
    with pytest.raises(ValueError, match="'w'"):
        io.load(path)
