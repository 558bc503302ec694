"""Losses: values and input gradients against torch.nn.functional (float64), gradcheck,
stability for huge logits, and the error messages."""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import nn
from lstm_from_scratch.functional import loss as L

try:                      # PyTorch is optional: only the parity tests need it
    import torch
    F = torch.nn.functional
except ImportError:
    torch = F = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (parity test)")

REDUCTIONS = ["mean", "sum", "none"]


def _pair(arr, requires_grad=True):
    """The same float64 data as an lfs leaf and a torch leaf."""
    arr = np.asarray(arr, dtype=np.float64)
    return (lfs.tensor(arr, requires_grad=requires_grad),
            torch.tensor(arr, requires_grad=requires_grad))


def _compare(ours, theirs, leaves, atol=1e-12):
    """Values, then the gradient of sum(out * v) w.r.t. every leaf pair."""
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=atol)
    v = np.random.default_rng(1).standard_normal(ours.shape)
    (ours * lfs.tensor(v, dtype="float64")).sum().backward()
    (theirs * torch.tensor(v)).sum().backward()
    for a, b in leaves:
        assert a.grad is not None, "no gradient reached an input"
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=atol)


# ---- mse ---------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_matches_torch(reduction):
    rng = np.random.default_rng(0)
    x, xt = _pair(rng.standard_normal((4, 3)))
    y, yt = _pair(rng.standard_normal((4, 3)))
    _compare(L.mse_loss(x, y, reduction=reduction), F.mse_loss(xt, yt, reduction=reduction),
             [(x, xt), (y, yt)])


def test_mse_shape_mismatch_names_both_shapes():
    x = lfs.zeros(4, 1, dtype="float64")
    with pytest.raises(ValueError, match=r"\(4, 1\).*\(4,\)"):
        L.mse_loss(x, np.zeros(4))


def test_mse_numpy_target_follows_the_dtype_rule():
    x = lfs.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    out = L.mse_loss(x, np.zeros((2, 2), np.float32))
    assert out.dtype == np.float32 and out.item() == 1.0
    assert L.mse_loss(x, np.zeros((2, 2), np.int64)).dtype == np.float32   # integers adapt
    with pytest.raises(TypeError, match="mse_loss.*float32.*float64"):
        L.mse_loss(x, np.zeros((2, 2)))         # float64 with float32: as two tensors, an error


# ---- cross-entropy and nll ----------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 6), (2, 4, 3, 2), (4,)])
def test_cross_entropy_matches_torch(shape, use_weight, reduction):
    rng = np.random.default_rng(2)
    x, xt = _pair(rng.standard_normal(shape) * 3)
    C = shape[0] if len(shape) == 1 else shape[1]
    t_shape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = rng.integers(0, C, size=t_shape)
    w = rng.uniform(0.2, 2.0, size=C) if use_weight else None
    ours = L.cross_entropy(x, t, weight=w, reduction=reduction)
    theirs = F.cross_entropy(xt, torch.tensor(t), reduction=reduction,
                             weight=None if w is None else torch.tensor(w))
    _compare(ours, theirs, [(x, xt)])


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
def test_cross_entropy_ignore_index(use_weight, reduction):
    rng = np.random.default_rng(3)
    x, xt = _pair(rng.standard_normal((8, 5)))
    t = rng.integers(0, 5, size=8)
    t[[1, 4, 5]] = -100                    # out of range on purpose: ignored, never indexed
    w = rng.uniform(0.5, 1.5, size=5) if use_weight else None
    ours = L.cross_entropy(x, t, weight=w, reduction=reduction)
    theirs = F.cross_entropy(xt, torch.tensor(t), reduction=reduction,
                             weight=None if w is None else torch.tensor(w))
    _compare(ours, theirs, [(x, xt)])
    assert np.all(x.grad.numpy()[[1, 4, 5]] == 0)


@needs_torch
def test_cross_entropy_custom_ignore_index_in_range():
    rng = np.random.default_rng(4)
    x, xt = _pair(rng.standard_normal((6, 3, 4)))
    t = rng.integers(0, 3, size=(6, 4))
    _compare(L.cross_entropy(x, t, ignore_index=1), F.cross_entropy(xt, torch.tensor(t), ignore_index=1),
             [(x, xt)])


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
def test_cross_entropy_label_smoothing(use_weight, reduction):
    rng = np.random.default_rng(5)
    x, xt = _pair(rng.standard_normal((7, 4, 3)))
    t = rng.integers(0, 4, size=(7, 3))
    t[0, 1] = t[3, 2] = -100
    w = rng.uniform(0.5, 1.5, size=4) if use_weight else None
    ours = L.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=0.2)
    theirs = F.cross_entropy(xt, torch.tensor(t), reduction=reduction, label_smoothing=0.2,
                             weight=None if w is None else torch.tensor(w))
    _compare(ours, theirs, [(x, xt)])


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_probability_targets(reduction, smoothing):
    rng = np.random.default_rng(6)
    x, xt = _pair(rng.standard_normal((5, 4, 2)))
    p = rng.dirichlet(np.ones(4), size=(5, 2)).transpose(0, 2, 1)    # (N, C, d1), sums to 1 over C
    y, yt = _pair(p)
    w = rng.uniform(0.5, 1.5, size=4)
    ours = L.cross_entropy(x, y, weight=w, reduction=reduction, label_smoothing=smoothing)
    theirs = F.cross_entropy(xt, yt, weight=torch.tensor(w), reduction=reduction,
                             label_smoothing=smoothing)
    _compare(ours, theirs, [(x, xt), (y, yt)])


@needs_torch
def test_cross_entropy_large_logits_are_finite_and_match_torch():
    x, xt = _pair([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3], [1e4, 1e4, -1e4]])
    t = np.array([1, 1, 2])
    ours = L.cross_entropy(x, t)
    theirs = F.cross_entropy(xt, torch.tensor(t))
    assert np.isfinite(ours.item())
    _compare(ours, theirs, [(x, xt)], atol=1e-9)
    assert np.all(np.isfinite(x.grad.numpy()))


def test_cross_entropy_large_logits_float32():
    x = lfs.tensor(np.array([[1e4, -1e4, 0.0]], np.float32), requires_grad=True)
    out = L.cross_entropy(x, np.array([1]))
    out.backward()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.item(), 2e4, rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-6)


@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_matches_torch(reduction):
    rng = np.random.default_rng(7)
    x, xt = _pair(np.log(rng.dirichlet(np.ones(6), size=5)))
    t = np.array([0, 5, -100, 2, 2])
    w = rng.uniform(0.5, 2.0, size=6)
    ours = L.nll_loss(x, t, weight=w, reduction=reduction)
    theirs = F.nll_loss(xt, torch.tensor(t), weight=torch.tensor(w), reduction=reduction)
    _compare(ours, theirs, [(x, xt)])


@needs_torch
def test_nll_all_ignored_mean_is_nan_like_torch():
    x = lfs.zeros(2, 3, dtype="float64", requires_grad=True)
    t = np.array([-100, -100])
    assert np.isnan(L.nll_loss(x, t).item())
    assert np.isnan(F.nll_loss(torch.zeros(2, 3), torch.tensor(t)).item())


@needs_torch
def test_cross_entropy_accepts_tensor_target_and_weight_tensor():
    rng = np.random.default_rng(8)
    x, xt = _pair(rng.standard_normal((4, 3)))
    t = lfs.tensor(np.array([0, 2, 1, 2]))
    w = lfs.tensor(np.array([1.0, 2.0, 0.5]), dtype="float64")
    _compare(L.cross_entropy(x, t, weight=w),
             F.cross_entropy(xt, torch.tensor([0, 2, 1, 2]), weight=torch.tensor([1.0, 2.0, 0.5],
                                                                                    dtype=torch.float64)),
             [(x, xt)])


# ---- binary cross-entropy with logits ------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("use_weight", [False, True])
@pytest.mark.parametrize("use_pos_weight", [False, True])
def test_bce_with_logits_matches_torch(use_pos_weight, use_weight, reduction):
    rng = np.random.default_rng(9)
    x, xt = _pair(rng.standard_normal((6, 3)) * 4)
    y, yt = _pair(rng.uniform(0, 1, size=(6, 3)))
    w = rng.uniform(0.5, 1.5, size=(6, 1)) if use_weight else None
    pw = rng.uniform(0.5, 3.0, size=3) if use_pos_weight else None
    ours = L.binary_cross_entropy_with_logits(x, y, weight=w, pos_weight=pw, reduction=reduction)
    theirs = F.binary_cross_entropy_with_logits(
        xt, yt, reduction=reduction, weight=None if w is None else torch.tensor(w),
        pos_weight=None if pw is None else torch.tensor(pw))
    _compare(ours, theirs, [(x, xt), (y, yt)])


@needs_torch
def test_bce_with_logits_large_logits_and_zero():
    x, xt = _pair([1e4, -1e4, 1e4, -1e4, 0.0, 0.0, 40.0])
    y, yt = _pair([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    ours = L.binary_cross_entropy_with_logits(x, y, reduction="none")
    theirs = F.binary_cross_entropy_with_logits(xt, yt, reduction="none")
    assert np.all(np.isfinite(ours.numpy()))
    _compare(ours, theirs, [(x, xt), (y, yt)], atol=1e-10)
    # at x = 0 the derivative is sigmoid(0) - y: 0.5 and -0.5 (a composed max/abs gets 0 wrong)
    v = np.random.default_rng(1).standard_normal(7)
    np.testing.assert_allclose(x.grad.numpy()[4:6], [0.5 * v[4], -0.5 * v[5]], atol=1e-15)


def test_bce_shape_mismatch():
    with pytest.raises(ValueError, match=r"\(3,\).*\(3, 1\)"):
        L.binary_cross_entropy_with_logits(lfs.zeros(3, 1), np.zeros(3))


# ---- gradcheck (finite differences) ----------------------------------------------------------------------
def _leaf(shape, seed, scale=1.0):
    return lfs.tensor(np.random.default_rng(seed).standard_normal(shape) * scale,
                      dtype="float64", requires_grad=True)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gradcheck_losses(reduction):
    x, y = _leaf((3, 4), 0), _leaf((3, 4), 1)
    assert lfs.gradcheck(lambda a, b: L.mse_loss(a, b, reduction=reduction), [x, y])
    t = np.array([1, 3, -100])
    w = np.array([0.5, 1.0, 2.0, 1.5])
    assert lfs.gradcheck(lambda a: L.cross_entropy(a, t, weight=w, reduction=reduction,
                                                   label_smoothing=0.1), [x])
    assert lfs.gradcheck(lambda a: L.nll_loss(a, t, reduction=reduction), [x])
    p = lfs.tensor(np.random.default_rng(2).uniform(0, 1, (3, 4)), dtype="float64",
                   requires_grad=True)
    assert lfs.gradcheck(lambda a, b: L.binary_cross_entropy_with_logits(
        a, b, pos_weight=np.array([1.0, 2.0, 0.5, 3.0]), reduction=reduction), [x, p])


def test_gradcheck_cross_entropy_nd_and_weight_gradient():
    x = _leaf((2, 3, 4), 3)
    w = lfs.tensor(np.array([0.5, 1.0, 2.0]), dtype="float64", requires_grad=True)
    t = np.array([[0, 1, 2, 1], [2, 2, 0, -100]])
    assert lfs.gradcheck(lambda a, b: L.cross_entropy(a, t, weight=b), [x, w])


def test_gradgradcheck_cross_entropy_and_bce():
    x = _leaf((3, 4), 4)
    t = np.array([0, 3, 2])
    assert lfs.gradgradcheck(lambda a: L.cross_entropy(a, t), [x])
    y = np.random.default_rng(5).uniform(0, 1, (3, 4))
    assert lfs.gradgradcheck(lambda a: L.binary_cross_entropy_with_logits(a, y), [x])


# ---- errors ----------------------------------------------------------------------------------------------
def test_float_class_targets_are_rejected_clearly():
    x = lfs.zeros(4, 3)
    with pytest.raises(TypeError, match="integer dtype.*float"):
        L.cross_entropy(x, np.array([0.0, 1.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="integer dtype"):
        L.nll_loss(x, np.zeros((4, 3)))


def test_target_out_of_range_names_value_and_classes():
    x = lfs.zeros(4, 3)
    with pytest.raises(IndexError, match=r"target 3 .*C=3"):
        L.cross_entropy(x, np.array([0, 1, 3, 1]))
    with pytest.raises(IndexError, match=r"target -1 .*C=3"):
        L.nll_loss(x, np.array([0, -1, 2, 1]))


def test_target_shape_mismatch_names_both():
    x = lfs.zeros(4, 3, 5)
    with pytest.raises(ValueError, match=r"\(4, 3, 5\).*\(4, 5\).*\(4, 3\)"):
        L.cross_entropy(x, np.zeros((4, 3), dtype=np.int64))


def test_bad_reduction_and_weight_shape():
    x = lfs.zeros(4, 3)
    with pytest.raises(ValueError, match="reduction"):
        L.cross_entropy(x, np.zeros(4, dtype=np.int64), reduction="avg")
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        L.cross_entropy(x, np.zeros(4, dtype=np.int64), weight=np.ones(4))


def test_loss_objects_call_the_functions():
    rng = np.random.default_rng(10)
    x = lfs.tensor(rng.standard_normal((4, 3)), dtype="float64")
    t = np.array([0, 2, 1, 0])
    assert nn.CrossEntropyLoss(reduction="sum")(x, t).item() == \
        L.cross_entropy(x, t, reduction="sum").item()
    assert nn.MSELoss()(x, np.zeros((4, 3))).item() == L.mse_loss(x, np.zeros((4, 3))).item()
    assert nn.NLLLoss()(x, t).item() == L.nll_loss(x, t).item()
    y = rng.uniform(0, 1, (4, 3))
    assert nn.BCEWithLogitsLoss()(x, y).item() == L.binary_cross_entropy_with_logits(x, y).item()
    assert "reduction='sum'" in repr(nn.CrossEntropyLoss(reduction="sum"))
    assert L.MSELoss is nn.MSELoss           # the old import path still names the same class


# ---- devices (the GPU case runs only with CuPy and a CUDA device) -------------------------------------
def test_losses_on_device_match_cpu(device):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((6, 4, 3))
    t = rng.integers(0, 4, size=(6, 3))
    t[0, 0] = -100
    y = rng.uniform(0, 1, size=(6, 4, 3))
    w = rng.uniform(0.5, 1.5, size=4)
    fns = [lambda a: L.cross_entropy(a, t, weight=w, label_smoothing=0.1),
           lambda a: L.nll_loss(a, t, reduction="sum"),
           lambda a: L.binary_cross_entropy_with_logits(a, y, pos_weight=np.ones((4, 1)) * 2),
           lambda a: L.mse_loss(a, y)]
    for fn in fns:
        ref = lfs.tensor(x, dtype="float64", requires_grad=True)
        on = lfs.tensor(x, dtype="float64", requires_grad=True, device=device)
        out_ref, out = fn(ref), fn(on)
        out_ref.backward()
        out.backward()
        assert out.device == device and on.grad.device == device
        np.testing.assert_allclose(out.numpy(), out_ref.numpy(), rtol=1e-12)
        np.testing.assert_allclose(on.grad.numpy(), ref.grad.numpy(), rtol=1e-10, atol=1e-14)
