"""Optimizers, schedules and gradient clipping against torch.optim / torch.nn.utils."""
import math

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import optim
from lstm_from_scratch.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm
from lstm_from_scratch.optim import lr_scheduler

try:                      # PyTorch is optional: only the parity tests need it
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed (parity test)")

SHAPES = [(3, 4), (5,), (2, 3, 2)]


def _grad_of(k, arr, step):
    """A gradient that depends on the parameter (as a real loss's does) and on the step."""
    rng = np.random.default_rng(100 * step + k)
    return 0.5 * arr + np.sin(3 * arr) + rng.standard_normal(arr.shape)


def _run_both(make_ours, make_theirs, steps=10, none_grad_at=None):
    rng = np.random.default_rng(0)
    init = [rng.standard_normal(s) for s in SHAPES]
    ours = [lfs.tensor(a, dtype="float64", requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt, topt = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        for k, (p, q) in enumerate(zip(ours, theirs)):
            if none_grad_at == (step, k):          # skipped by both: no grad this step
                p.grad, q.grad = None, None
                continue
            g = _grad_of(k, p.numpy(), step)
            p.grad = lfs.tensor(g, dtype="float64")
            q.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=0, atol=1e-12)
    return opt, ours


SGD_CASES = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True, maximize=True),
]


@needs_torch
@pytest.mark.parametrize("kw", SGD_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_sgd_matches_torch(kw):
    _run_both(lambda ps: optim.SGD(ps, **kw), lambda ps: torch.optim.SGD(ps, **kw))


ADAM_CASES = [
    dict(),
    dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.01, amsgrad=True),
    dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True),
]


@needs_torch
@pytest.mark.parametrize("kw", ADAM_CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_adam_matches_torch(kw):
    _run_both(lambda ps: optim.Adam(ps, **kw), lambda ps: torch.optim.Adam(ps, **kw))


@needs_torch
@pytest.mark.parametrize("kw", [dict(), dict(lr=0.02, weight_decay=0.3), dict(lr=0.02, amsgrad=True)],
                         ids=["default", "wd", "amsgrad"])
def test_adamw_matches_torch(kw):
    _run_both(lambda ps: optim.AdamW(ps, **kw), lambda ps: torch.optim.AdamW(ps, **kw))


@needs_torch
def test_params_with_no_grad_are_skipped_like_torch():
    opt, ours = _run_both(lambda ps: optim.Adam(ps, lr=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01),
                          none_grad_at=(3, 1))
    assert opt.state[ours[1]]["step"] == 9 and opt.state[ours[0]]["step"] == 10


@needs_torch
def test_param_groups_with_their_own_lr():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(3), rng.standard_normal(2)
    pa, pb = lfs.tensor(a, dtype="float64", requires_grad=True), lfs.tensor(b, dtype="float64", requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    opt = optim.SGD([{"params": [pa]}, {"params": [pb], "lr": 0.5}], lr=0.1, momentum=0.9)
    topt = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[0]["momentum"] == 0.9
    for _ in range(3):
        pa.grad, pb.grad = lfs.tensor(np.cos(pa.numpy())), lfs.tensor(np.cos(pb.numpy()))
        ta.grad, tb.grad = torch.cos(ta.detach()), torch.cos(tb.detach())
        opt.step()
        topt.step()
    np.testing.assert_allclose(pb.numpy(), tb.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(pa.numpy(), ta.detach().numpy(), atol=1e-12)


def test_updates_are_in_place_and_keep_float32():
    p = lfs.tensor(np.ones(4, np.float32), requires_grad=True)
    data = p.data
    opt = optim.Adam([p], lr=0.1)
    p.grad = lfs.tensor(np.full(4, 0.5, np.float32))
    opt.step()
    assert p.data is data and p.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state[p].items() if k != "step")
    np.testing.assert_allclose(p.numpy(), 0.9, rtol=1e-6)       # Adam's first step is lr * sign


def test_zero_grad():
    p = lfs.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    p.grad = lfs.tensor(np.ones(2))
    opt.zero_grad(set_to_none=False)
    assert np.all(p.grad.numpy() == 0)
    opt.zero_grad()
    assert p.grad is None


def test_closure_returns_loss():
    p = lfs.tensor(np.array([3.0]), dtype="float64", requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.item() == 3.0 - 0.25 * 6.0


@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True),
                                  lambda ps: optim.AdamW(ps, lr=0.05)], ids=["sgd", "adam", "adamw"])
def test_state_dict_round_trip_continues_identically(make):
    """5 steps, save, 5 more == 5 steps, load into a fresh optimizer, 5 more."""
    rng = np.random.default_rng(2)
    init = [rng.standard_normal(s) for s in SHAPES]

    def run(params, opt, steps, start):
        for step in range(start, start + steps):
            for k, p in enumerate(params):
                p.grad = lfs.tensor(_grad_of(k, p.numpy(), step), dtype="float64")
            opt.step()

    ps = [lfs.tensor(a, dtype="float64", requires_grad=True) for a in init]
    opt = make(ps)
    run(ps, opt, 5, 0)
    saved = opt.state_dict()
    saved_params = [p.numpy() for p in ps]
    assert all(isinstance(v, np.ndarray) for st in saved["state"].values() for v in st.values())
    run(ps, opt, 5, 5)

    qs = [lfs.tensor(a, dtype="float64", requires_grad=True) for a in saved_params]
    opt2 = make(qs)
    opt2.load_state_dict(saved)
    run(qs, opt2, 5, 5)
    for p, q in zip(ps, qs):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_mismatch_errors():
    p, q = lfs.tensor(np.ones(2), requires_grad=True), lfs.tensor(np.ones(3), requires_grad=True)
    sd = optim.SGD([p, q], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="has 2 parameter"):
        optim.SGD([p], lr=0.1).load_state_dict(sd)


def test_optimizer_argument_errors():
    p = lfs.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([p], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="required"):
        optim.SGD([p])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match="Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)


# ---- schedules ---------------------------------------------------------------------------------------------
SCHEDULES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),       # 30 steps: past T_max and back
    ("CosineAnnealingLR", dict(T_max=30)),
]


@needs_torch
@pytest.mark.parametrize("name,kw", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_schedules_match_torch_for_30_steps(name, kw):
    p = lfs.tensor(np.ones(2), requires_grad=True)
    q = torch.ones(2, requires_grad=True)
    opt = optim.SGD([{"params": [p]}], lr=0.1)
    topt = torch.optim.SGD([q], lr=0.1)
    sched = getattr(lr_scheduler, name)(opt, **kw)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kw)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), abs=1e-15)
    for _ in range(30):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr()[0] == pytest.approx(tsched.get_last_lr()[0], rel=1e-12, abs=1e-15)
        assert opt.param_groups[0]["lr"] == sched.get_last_lr()[0]


def test_lambda_lr_and_scheduler_state_dict():
    p = lfs.tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1 + e))
    for _ in range(3):
        sched.step()
    assert sched.get_last_lr() == [0.25]
    st = sched.state_dict()
    assert "optimizer" not in st and "lr_lambdas" not in st and st["last_epoch"] == 3
    opt2 = optim.SGD([lfs.tensor(np.ones(2), requires_grad=True)], lr=1.0)
    s2 = lr_scheduler.StepLR(opt2, step_size=2)
    s2.load_state_dict({"last_epoch": np.asarray(5), "step_size": 2, "gamma": 0.1})
    assert s2.last_epoch == 5 and isinstance(s2.last_epoch, int)


def test_cosine_closed_form_within_T_max():
    p = lfs.tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([p], lr=0.2)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=12, eta_min=0.01)
    for t in range(1, 13):
        sched.step()
        expected = 0.01 + (0.2 - 0.01) * (1 + math.cos(math.pi * t / 12)) / 2
        assert sched.get_last_lr()[0] == pytest.approx(expected, rel=1e-12)


# ---- gradient clipping --------------------------------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(s) for s in SHAPES]
    ours = [lfs.tensor(np.zeros(s), dtype="float64", requires_grad=True) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, q, g in zip(ours, theirs, grads):
        p.grad, q.grad = lfs.tensor(g, dtype="float64"), torch.tensor(g)
    extra = lfs.tensor(np.zeros(3), requires_grad=True)       # grad None: skipped
    total = clip_grad_norm_(ours + [extra], max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert isinstance(total, lfs.Tensor) and total.shape == ()
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12, atol=1e-15)
    if max_norm == 0.5:       # the clipped gradient really has (nearly) the asked-for norm
        assert get_total_norm([p.grad for p in ours], norm_type).item() == pytest.approx(0.5, rel=1e-5)
    assert extra.grad is None


def test_clip_grad_norm_float32_and_nonfinite():
    p = lfs.tensor(np.zeros(3, np.float32), requires_grad=True)
    p.grad = lfs.tensor(np.array([3.0, 4.0, 0.0], np.float32))
    total = clip_grad_norm_([p], 1.0)
    assert total.dtype == np.float32 and total.item() == pytest.approx(5.0)
    assert p.grad.dtype == np.float32
    np.testing.assert_allclose(p.grad.numpy(), [0.6, 0.8, 0.0], rtol=1e-5)
    p.grad = lfs.tensor(np.array([np.inf, 1.0, 0.0], np.float32))
    with pytest.raises(RuntimeError, match="inf"):
        clip_grad_norm_(p, 1.0, error_if_nonfinite=True)


@needs_torch
def test_clip_grad_value_matches_torch():
    g = np.random.default_rng(4).standard_normal((4, 5)) * 2
    p = lfs.tensor(np.zeros((4, 5)), dtype="float64", requires_grad=True)
    q = torch.zeros((4, 5), dtype=torch.float64, requires_grad=True)
    p.grad, q.grad = lfs.tensor(g, dtype="float64"), torch.tensor(g)
    clip_grad_value_([p], 0.7)
    torch.nn.utils.clip_grad_value_([q], 0.7)
    np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())


# ---- devices (the GPU case runs only with CuPy and a CUDA device) -------------------------------------
@pytest.mark.parametrize("make", [lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                       weight_decay=0.01),
                                  lambda ps: optim.Adam(ps, lr=0.05, amsgrad=True, weight_decay=0.1),
                                  lambda ps: optim.AdamW(ps, lr=0.05)], ids=["sgd", "adam", "adamw"])
def test_optimizers_and_clipping_on_device_match_cpu(device, make):
    rng = np.random.default_rng(5)
    init = [rng.standard_normal(s) for s in SHAPES]
    cpu = [lfs.tensor(a, dtype="float64", requires_grad=True) for a in init]
    dev = [lfs.tensor(a, dtype="float64", requires_grad=True, device=device) for a in init]
    o_cpu, o_dev = make(cpu), make(dev)
    for step in range(5):
        for k, (p, q) in enumerate(zip(cpu, dev)):
            g = _grad_of(k, p.numpy(), step) * 3
            p.grad = lfs.tensor(g, dtype="float64")
            q.grad = lfs.tensor(g, dtype="float64", device=device)
        n_cpu, n_dev = clip_grad_norm_(cpu, 1.0), clip_grad_norm_(dev, 1.0)
        assert n_dev.device == device
        np.testing.assert_allclose(n_dev.item(), n_cpu.item(), rtol=1e-12)
        o_cpu.step()
        o_dev.step()
    for p, q in zip(cpu, dev):
        assert q.device == device
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-10, atol=1e-12)
    sd = o_dev.state_dict()          # NumPy arrays, loadable onto either device
    assert all(isinstance(v, np.ndarray) for st in sd["state"].values() for v in st.values())
    o2 = make(dev)
    o2.load_state_dict(sd)
    arrays = [v for st in o2.state.values() for k, v in st.items() if k != "step"]
    assert arrays and all(lfs.backend.device_of(a) == device for a in arrays)
