"""The idioms PyTorch users type without thinking, each checked against what PyTorch does:
transpose, max/min with a dim, the NumPy array protocol, size(), iteration, Tensor.to,
loss modules, thread-local grad mode, x ** 0 and relu at their edges, empty batches, the advice
in error messages, and the one dtype rule for tensors and NumPy arrays."""
import re
import threading

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import backend, nn

try:
    import torch
except ImportError:                 # a test-only dependency: only the parity tests need it
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

F64 = np.float64


def _pair(arr, requires_grad=True):
    arr = np.asarray(arr, dtype=F64)
    ours = lfs.tensor(arr, dtype=F64, requires_grad=requires_grad)
    if torch is None:
        return ours, None
    return ours, torch.tensor(arr, requires_grad=requires_grad)


# ---- transpose ------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("shape, dims", [((2, 3), (0, 1)), ((2, 3), (1, 0)), ((2, 3), (-1, 0)),
                                         ((2, 3, 4), (0, 2)), ((2, 3, 4), (1, -1)),
                                         ((3, 3), (0, 0))])
def test_transpose_of_two_dims_swaps_them_as_torch(shape, dims):
    a = np.random.default_rng(0).standard_normal(shape)
    x, xt = _pair(a)
    y, yt = x.transpose(*dims), xt.transpose(*dims)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(lfs.transpose(x, *dims).numpy(), yt.detach().numpy())
    w = np.random.default_rng(1).standard_normal(yt.shape)
    (y * lfs.tensor(w, dtype=F64)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_transpose_without_dims_and_with_a_permutation_keep_numpys_meaning():
    a = np.arange(24.0).reshape(2, 3, 4)
    x = lfs.tensor(a)
    np.testing.assert_array_equal(x.transpose().numpy(), a.transpose())
    np.testing.assert_array_equal(x.transpose((2, 0, 1)).numpy(), a.transpose((2, 0, 1)))
    np.testing.assert_array_equal(x.transpose(2, 0, 1).numpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(lfs.tensor(a[0]).T.numpy(), a[0].T)


# ---- max / min with a dim ---------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_min_with_dim_return_values_and_indices_as_torch(name, dim, keepdim):
    a = np.array([[1.0, 5.0, 5.0, -2.0], [3.0, 3.0, 0.0, 7.0], [-1.0, 4.0, 4.0, 4.0]])
    x, xt = _pair(a)
    out = getattr(x, name)(dim=dim, keepdim=keepdim)
    ref = getattr(xt, name)(dim=dim, keepdim=keepdim)
    values, indices = out                               # unpacks as (values, indices)
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(values.numpy(), ref.values.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), ref.indices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    # positional dim, and the function form, are the same
    np.testing.assert_array_equal(getattr(lfs, name)(x, dim, keepdim)[0].numpy(),
                                  values.numpy())
    # the gradient goes to the element the index names (ties included), as torch's
    w = np.random.default_rng(2).standard_normal(ref.values.shape)
    (values * lfs.tensor(w, dtype=F64)).sum().backward()
    (ref.values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


@needs_torch
@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_amax_amin_give_values_only_and_share_ties(name, dim):
    a = np.array([[1.0, 5.0, 5.0], [5.0, 0.0, -3.0]])
    x, xt = _pair(a)
    y = getattr(lfs, name)(x) if dim is None else getattr(x, name)(dim=dim)
    yt = getattr(torch, name)(xt) if dim is None else getattr(xt, name)(dim=dim)
    assert isinstance(y, lfs.Tensor)
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    y.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


@needs_torch
def test_max_without_dim_and_max_of_two_tensors_as_torch():
    a, b = np.array([[1.0, 7.0], [3.0, -1.0]]), np.array([[2.0, 0.0], [3.0, -5.0]])
    x, xt = _pair(a)
    y, yt = _pair(b)
    assert isinstance(x.max(), lfs.Tensor) and x.max().item() == 7.0 == xt.max().item()
    assert lfs.min(x).item() == -1.0
    np.testing.assert_array_equal(lfs.max(x, y).numpy(), torch.max(xt, yt).detach().numpy())
    np.testing.assert_array_equal(x.min(y).numpy(), xt.min(yt).detach().numpy())
    np.testing.assert_array_equal(lfs.argmax(x, dim=1).numpy(), torch.argmax(xt, dim=1).numpy())
    np.testing.assert_array_equal(x.argmin(dim=0).numpy(), xt.argmin(dim=0).numpy())
    assert lfs.argmax(x).item() == torch.argmax(xt).item() == 1
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))               # torch: a single dim; amax takes several


# ---- the NumPy array protocol ---------------------------------------------------------------------
def test_numpy_sees_the_numbers_of_a_cpu_tensor():
    t = lfs.tensor([[1.0, 2.0], [3.0, 4.5]], device="cpu")
    a = np.asarray(t)
    assert a.dtype == np.float32 and a.shape == (2, 2)
    np.testing.assert_array_equal(a, [[1.0, 2.0], [3.0, 4.5]])
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.array(t).dtype == np.float32
    assert float(np.mean(t)) == 2.625 and float(np.sum(t)) == 10.5
    assert float(np.max(t)) == 4.5 and float(np.std(t)) == pytest.approx(np.std(a))
    np.testing.assert_array_equal(np.concatenate([t, t]), np.concatenate([a, a]))
    assert np.allclose(t, a)
    # requires_grad tensors too (NumPy gets the values, as torch's .detach().numpy())
    w = lfs.tensor([1.0, 2.0], requires_grad=True, device="cpu")
    np.testing.assert_array_equal(np.asarray(w), [1.0, 2.0])
    assert f"{np.mean(t):.2f}" == "2.62" and f"{t.sum():.1f}" == "10.5"


def test_matplotlib_plots_the_numbers_of_a_cpu_tensor():
    from matplotlib.figure import Figure
    ax = Figure().add_subplot()
    (line,) = ax.plot(lfs.tensor([3.0, 1.0, 2.0], device="cpu"))
    np.testing.assert_array_equal(line.get_ydata(), [3.0, 1.0, 2.0])
    (line,) = ax.plot(lfs.arange(3, device="cpu"), lfs.tensor([0.5, 1.5, 2.5], device="cpu"))
    np.testing.assert_array_equal(line.get_xdata(), [0, 1, 2])
    counts, _, _ = ax.hist(lfs.tensor([1.0, 2.0, 2.5, 3.0], device="cpu"), bins=2)
    np.testing.assert_array_equal(counts, [1, 3])
    image = ax.imshow(lfs.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, device="cpu"))
    assert image.get_array().dtype == np.float32


def test_numpy_on_a_gpu_tensor_is_a_clear_error(monkeypatch):
    """Implicit device-to-host copies are refused: the error says to call .numpy()."""
    t = lfs.tensor([1.0, 2.0])

    class FakeCupy:         # what backend.get_array_module returns for a CuPy array
        pass

    real = backend.get_array_module
    monkeypatch.setattr(backend, "get_array_module",
                        lambda a: FakeCupy if a is t.data else real(a))
    with pytest.raises(TypeError, match=r"GPU.*\.numpy\(\)"):
        np.asarray(t)


@pytest.mark.gpu
def test_numpy_on_a_real_gpu_tensor_is_a_clear_error():
    if not backend.gpu_available():
        pytest.skip("needs CuPy and a CUDA device")
    t = lfs.tensor([1.0, 2.0], device="gpu")
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(t)
    from matplotlib.figure import Figure
    with pytest.raises(TypeError, match=r"GPU tensor.*\.numpy\(\)"):
        Figure().add_subplot().plot(t)      # matplotlib asks NumPy: the same clear error
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


# ---- size(), iteration, len -----------------------------------------------------------------------------
def test_size_is_torchs_method():
    t = lfs.zeros(2, 3, 4)
    assert t.size() == (2, 3, 4) and t.size() == t.shape
    assert t.size(0) == 2 and t.size(-1) == 4 and t.size(dim=1) == 3
    assert isinstance(t.size(1), int)
    with pytest.raises(IndexError, match="dimension"):
        t.size(3)
    assert t.numel() == 24 and lfs.tensor(5.0).size() == ()


def test_iteration_follows_torch():
    with pytest.raises(TypeError, match="0-d"):
        list(lfs.tensor(1.0))
    with pytest.raises(TypeError, match="0-d"):
        len(lfs.tensor(1.0))
    x = lfs.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    rows = list(x)
    assert len(rows) == 2 and all(isinstance(r, lfs.Tensor) for r in rows)
    np.testing.assert_array_equal(rows[1].numpy(), [3.0, 4.0])
    (rows[0] * 2 + rows[1]).sum().backward()                     # the rows keep the graph
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0], [1.0, 1.0]])
    a, b = lfs.tensor([5, 6])
    assert int(a) == 5 and int(b) == 6


# ---- Tensor.to parses dtypes as Module.to -----------------------------------------------------------------
@pytest.mark.parametrize("spec", ["float64", lfs.float64, np.float64, np.dtype("float64"),
                                  "torch.float64", "double"])
def test_tensor_to_parses_dtypes(spec):
    t = lfs.tensor([1.0, 2.0], requires_grad=True)         # on the default device
    for out in (t.to(spec), t.to(dtype=spec)):
        assert out.dtype == np.float64 and out.device == t.device
    for out in (t.to("cpu", spec), t.to(device="cpu", dtype=spec)):
        assert out.dtype == np.float64 and out.device == "cpu"
    m = nn.Linear(2, 2).to(spec)
    assert m.weight.dtype == np.float64
    t.to(spec).sum().backward()                                  # differentiable
    assert t.grad.dtype == np.float32


def test_tensor_to_integer_dtypes_and_other_tensors():
    t = lfs.tensor([1.7, -2.2], requires_grad=True)
    i = t.to("int64")
    assert i.dtype == np.int64 and not i.requires_grad and i.tolist() == [1, -2]
    assert t.to(lfs.int32).dtype == np.int32
    assert t.to(lfs.tensor([1.0], dtype="float64")).dtype == np.float64     # like another
    with pytest.raises((TypeError, ValueError), match="float128|dtype"):
        t.to("float128x")


# ---- loss classes are Modules ---------------------------------------------------------------------
def test_loss_classes_are_modules():
    for cls in (nn.MSELoss, nn.CrossEntropyLoss, nn.NLLLoss, nn.BCEWithLogitsLoss):
        loss = cls()
        assert isinstance(loss, nn.Module)
        assert loss.train() is loss and not loss.eval().training
        assert list(loss.parameters()) == []
    model = nn.Sequential(nn.Linear(3, 2), nn.MSELoss())      # constructs, as in torch
    assert isinstance(model[1], nn.MSELoss)
    heads = nn.ModuleList([nn.CrossEntropyLoss(reduction="sum")])
    assert heads[0].reduction == "sum"
    x = lfs.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype=lfs.float32)
    assert nn.MSELoss()(x, lfs.zeros(4, 3)).item() == pytest.approx(float(np.mean(x.numpy() ** 2)))


@needs_torch
def test_loss_weight_is_a_buffer_as_in_torch():
    w = lfs.tensor([1.0, 2.0, 0.5])
    ours = nn.CrossEntropyLoss(weight=w)
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 0.5]))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    ours.double()
    assert ours.weight.dtype == np.float64
    assert list(nn.MSELoss().state_dict()) == list(torch.nn.MSELoss().state_dict()) == []
    x = lfs.tensor(np.random.default_rng(0).standard_normal((4, 3)), dtype="float64")
    t = np.array([0, 2, 1, 2])
    ref = theirs.double()(torch.tensor(x.numpy()), torch.tensor(t))
    assert ours(x, t).item() == pytest.approx(ref.item(), rel=1e-12)


# ---- grad mode is per thread -----------------------------------------------------------------------
def test_no_grad_in_one_thread_does_not_turn_off_recording_in_another():
    inside, release, seen = threading.Event(), threading.Event(), {}

    def worker():
        with lfs.no_grad():
            seen["worker_enabled"] = lfs.is_grad_enabled()
            inside.set()
            release.wait(10)
        seen["worker_after"] = lfs.is_grad_enabled()

    th = threading.Thread(target=worker)
    th.start()
    try:
        assert inside.wait(10)
        assert lfs.is_grad_enabled()                  # this thread still records
        x = lfs.tensor([1.0, 2.0], requires_grad=True)
        y = (x * x).sum()
        assert y.requires_grad and y.creator is not None
        y.backward()
        np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    finally:
        release.set()
        th.join(10)
    assert seen == {"worker_enabled": False, "worker_after": True}


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with lfs.no_grad():
        th = threading.Thread(target=lambda: seen.append(lfs.is_grad_enabled()))
        th.start()
        th.join(10)
    assert seen == [True]           # as torch: grad mode is thread-local and starts enabled


# ---- x ** 0 and relu at their edges ---------------------------------------------------------------
@needs_torch
def test_gradient_of_x_to_the_zero_is_zero_as_torch():
    a = np.array([0.0, 2.0, -3.0])
    x, xt = _pair(a)
    (x ** 0).sum().backward()
    (xt ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    assert not np.isnan(x.grad.numpy()).any()
    # tensor exponent: both gradients, including the zero exponent at base 0
    x, xt = _pair([0.0, 0.0, 2.0, 0.0])
    e, et = _pair([0.0, 2.0, 0.0, 0.5])
    (x ** e).sum().backward()
    (xt ** et).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(e.grad.numpy(), et.grad.numpy())


@needs_torch
def test_relu_of_negative_values_is_plus_zero_and_nan_stays_nan():
    a = np.array([-1.0, -0.0, 0.0, 2.0, np.nan])
    y = lfs.relu(lfs.tensor(a, dtype=F64)).numpy()
    ref = torch.relu(torch.tensor(a)).numpy()
    np.testing.assert_array_equal(y, ref)
    assert not np.signbit(y[0])                          # relu(-1) is +0.0
    assert np.signbit(y).tolist() == np.signbit(ref).tolist()   # (relu(-0.0) is -0.0 in torch)


# ---- empty batches ---------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_batch_gives_empty_outputs_of_torchs_shapes(mode, fused, bidirectional, batch_first):
    if fused and mode == "RNN":
        pytest.skip("RNN has no fused path")
    kw = dict(num_layers=2, bidirectional=bidirectional, batch_first=batch_first)
    ours = getattr(nn, mode)(3, 4, fused=fused, dtype=lfs.float64, **kw) if fused else \
        getattr(nn, mode)(3, 4, dtype=lfs.float64, **kw)
    theirs = getattr(torch.nn, mode)(3, 4, dtype=torch.float64, **kw)
    shape = (0, 5, 3) if batch_first else (5, 0, 3)
    x = lfs.zeros(*shape, dtype=F64, requires_grad=True)
    out, state = ours(x)
    ref_out, ref_state = theirs(torch.zeros(*shape, dtype=torch.float64))
    assert out.shape == tuple(ref_out.shape)
    states = state if isinstance(state, tuple) else (state,)
    ref_states = ref_state if isinstance(ref_state, tuple) else (ref_state,)
    assert [s.shape for s in states] == [tuple(s.shape) for s in ref_states]
    total = out.sum() + sum(s.sum() for s in states)
    total.backward()
    assert x.grad.shape == shape
    assert all(p.grad is not None and p.grad.shape == p.shape for p in ours.parameters())
    assert all(float(np.abs(p.grad.numpy()).max()) == 0.0 for p in ours.parameters())


@pytest.mark.parametrize("cls", [nn.LSTMCell, nn.GRUCell, nn.RNNCell])
def test_empty_batch_through_cells(cls):
    x = lfs.zeros(0, 3, requires_grad=True)
    out = cls(3, 4)(x)
    outs = out if isinstance(out, tuple) else (out,)
    assert all(o.shape == (0, 4) for o in outs)
    sum(o.sum() for o in outs).backward()
    assert x.grad.shape == (0, 3)


# ---- error advice that can be followed ---------------------------------------------------------------
def _advice_names(message):
    return re.findall(r"lfs\.(\w+)", message)


@pytest.mark.parametrize("layer", [nn.LSTM(3, 4), nn.GRU(3, 4), nn.RNN(3, 4), nn.LSTMCell(3, 4)])
def test_integer_input_error_gives_advice_that_exists(layer):
    x = lfs.tensor(np.zeros((5, 2, 3) if not isinstance(layer, nn.LSTMCell) else (2, 3),
                            dtype=np.int64))
    with pytest.raises(TypeError) as info:
        layer(x)
    msg = str(info.value)
    assert "int64" in msg and "float" in msg
    assert ".to(lfs.int64)" not in msg
    for name in _advice_names(msg):
        assert hasattr(lfs, name), f"the advice names lfs.{name}, which does not exist: {msg}"
    assert "Embedding" in msg                     # token ids go through an embedding first


def test_float_dtype_mismatch_advice_names_existing_dtypes():
    layer = nn.LSTM(3, 4)
    with pytest.raises(TypeError) as info:
        layer(lfs.zeros(5, 2, 3, dtype="float64"))
    msg = str(info.value)
    assert _advice_names(msg) and all(hasattr(lfs, n) for n in _advice_names(msg))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, None])
def test_dataloader_batch_size_is_checked_at_construction(bad):
    with pytest.raises((ValueError, TypeError), match="batch_size"):
        lfs.data.DataLoader(np.zeros((10, 2)), batch_size=bad)


def test_fit_says_a_one_shot_iterator_is_not_re_iterable():
    from lstm_from_scratch.functional.loss import mse_loss
    X, y = np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32)
    model = nn.Linear(3, 1)
    opt = lfs.optim.SGD(model.parameters(), lr=0.1)
    gen = ((X[k:k + 4], y[k:k + 4]) for k in range(0, 8, 4))
    before = model.weight.numpy()
    with pytest.raises(TypeError, match="re-iterable"):
        lfs.train.fit(model, gen, mse_loss, opt, epochs=2, progress=False)
    np.testing.assert_array_equal(model.weight.numpy(), before)     # failed before training
    gen = ((X[k:k + 4], y[k:k + 4]) for k in range(0, 8, 4))
    with pytest.raises(TypeError, match="re-iterable"):
        lfs.train.fit(model, [(X, y)], mse_loss, opt, epochs=2, val_data=iter([(X, y)]),
                      progress=False)
    # one epoch over a generator is fine: it is iterated once
    hist = lfs.train.fit(model, gen, mse_loss, opt, epochs=1, progress=False)
    assert hist.epochs == 1


# ---- one dtype rule for tensors and NumPy arrays ------------------------------------------------------------
def test_float_arrays_follow_the_same_rule_as_tensors():
    t32 = lfs.tensor([1.0, 2.0])
    a64 = np.array([1.0, 2.0])
    ops = [lambda a, b: a + b, lambda a, b: b - a, lambda a, b: a * b, lambda a, b: a / b,
           lambda a, b: lfs.maximum(a, b), lambda a, b: lfs.where(np.array([True, False]), a, b)]
    for op in ops:
        with pytest.raises(TypeError, match="float32 and float64|float64 and float32"):
            op(t32, lfs.tensor(a64))                  # two tensors: an error ...
        with pytest.raises(TypeError, match="float32 and float64|float64 and float32"):
            op(t32, a64)                              # ... and so is a tensor with an array
    with pytest.raises(TypeError, match="float32 and float64|float64 and float32"):
        lfs.nn.functional.mse_loss(t32, a64)
    # the same dtype, integers, Python data and scalars are fine, and keep float32
    assert (t32 + a64.astype(np.float32)).dtype == np.float32
    assert (t32 + np.arange(2)).dtype == np.float32
    assert (t32 + [0.5, 1.5]).dtype == np.float32
    assert (t32 * np.float64(0.5)).dtype == np.float32 and (t32 * 0.5).dtype == np.float32
