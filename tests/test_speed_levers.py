"""Engine-level speed levers (see docs/decisions.md, "Performance notes"): they must not change
what is computed beyond rounding, and each must be able to fail its test."""
import subprocess
import sys

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import cpu as _cpu
from lstm_from_scratch.functional import column_major as linalg_column_major
from lstm_from_scratch.functional import linalg


def _recurrent_grads(defer, capture=False, steps=6, seed=0, column_major=False):
    """h_t = tanh(linear(h_{t-1}, W, b) + x_t): W applied at every step, as a recurrent layer
    does (with ``column_major``: through one column-major copy, as nn.LSTM/GRU/RNN do).
    Returns the gradients of W and b (and of x) in float64."""
    rng = np.random.default_rng(seed)
    W = lfs.tensor(rng.standard_normal((5, 5)) * 0.5, requires_grad=True)
    b = lfs.tensor(rng.standard_normal(5), requires_grad=True)
    x = lfs.tensor(rng.standard_normal((steps, 3, 5)), requires_grad=True)
    old = linalg.DEFER_WEIGHT_GRADIENTS
    linalg.DEFER_WEIGHT_GRADIENTS = defer
    try:
        h = lfs.zeros((3, 5), dtype=np.float64)
        W_steps = linalg_column_major(W) if column_major else W
        total = 0
        for t in range(steps):
            h = lfs.tanh(lfs.linear(h, W_steps, b) + x[t])
            total = total + (h * h).sum()
        if capture:
            return [g.numpy() for g in lfs.grad(total, [W, b, x])]
        total.backward()
        return [W.grad.numpy(), b.grad.numpy(), x.grad.numpy()]
    finally:
        linalg.DEFER_WEIGHT_GRADIENTS = old


@pytest.mark.parametrize("capture", [False, True], ids=["backward", "lfs.grad"])
def test_deferred_weight_gradient_equals_the_per_step_sum(capture):
    dense = _recurrent_grads(False, capture)
    deferred = _recurrent_grads(True, capture)
    assert np.abs(dense[0]).max() > 1e-2
    for a, b in zip(deferred, dense):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


@pytest.mark.parametrize("capture", [False, True], ids=["backward", "lfs.grad"])
def test_weight_gradient_through_column_major_is_deferred_and_equal(capture, monkeypatch):
    """The recurrent layers hand every step W_hh stored column by column (one recorded copy
    per sequence): the per-step gradients still reach W as one SumOfProducts, computed once,
    and equal the plain per-step sum."""
    dense = _recurrent_grads(False, capture)
    materialized = []
    original = linalg.SumOfProducts.materialize

    def counting(self):
        materialized.append(len(self.gys))
        return original(self)

    monkeypatch.setattr(linalg.SumOfProducts, "materialize", counting)
    deferred = _recurrent_grads(True, capture, column_major=True)
    assert materialized == [6]          # one product over the 6 steps' rows, computed once
    for a, b in zip(deferred, dense):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-13)


def test_linear_with_a_column_major_weight_gives_contiguous_equal_gradients():
    rng = np.random.default_rng(3)
    W = lfs.tensor(rng.standard_normal((8, 5)), requires_grad=True)
    x = lfs.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    Wc = linalg_column_major(W)
    assert Wc.data.flags.f_contiguous and not Wc.data.flags.c_contiguous
    assert np.array_equal(Wc.numpy(), W.numpy())
    gy = rng.standard_normal((4, 8))
    lfs.linear(x, Wc).backward(lfs.tensor(gy))
    assert x.grad.data.flags.c_contiguous
    np.testing.assert_allclose(x.grad.numpy(), gy @ W.numpy(), rtol=0, atol=1e-13)
    np.testing.assert_allclose(W.grad.numpy(), gy.T @ x.numpy(), rtol=0, atol=1e-13)
    with pytest.raises(ValueError, match=r"column_major: expected a 2-D tensor, got shape \(5,\)"):
        linalg_column_major(W[0])


def test_deferred_weight_gradient_is_summed_with_dense_contributions():
    """W also used by a MatMul (dense gradient) and by Linear (deferred): both add up."""
    rng = np.random.default_rng(1)
    W = lfs.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    x = lfs.tensor(rng.standard_normal((2, 3)))
    y = (lfs.linear(x, W) ** 2).sum() + (lfs.linear(x * 2.0, W)).sum() + (x @ W.T).sum()
    y.backward()
    got = W.grad.numpy()
    xa, Wa = x.numpy(), W.numpy()
    want = 2 * (xa @ Wa.T).T @ xa + np.ones((2, 4)).T @ (2 * xa) + np.ones((2, 4)).T @ xa
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    y2 = (lfs.linear(x, W) ** 2).sum()
    y2.backward()                                   # accumulates into the existing .grad
    np.testing.assert_allclose(W.grad.numpy(), want + 2 * (xa @ Wa.T).T @ xa, rtol=0, atol=1e-12)


def test_create_graph_keeps_the_weight_gradient_differentiable():
    rng = np.random.default_rng(2)
    W = lfs.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    x = lfs.tensor(rng.standard_normal((2, 3)))
    (gW,) = lfs.grad((lfs.linear(x, W) ** 2).sum(), [W], create_graph=True)
    assert isinstance(gW, lfs.Tensor) and gW.requires_grad
    (ggW,) = lfs.grad((gW * gW).sum(), [W])
    assert np.isfinite(ggW.numpy()).all() and np.abs(ggW.numpy()).max() > 0


def test_sum_of_products_can_fail():
    """The comparison above is not vacuous: a wrong materialisation is caught."""
    original = linalg.SumOfProducts.materialize
    try:
        linalg.SumOfProducts.materialize = lambda self: original(self) * 1.001
        with pytest.raises(AssertionError):
            test_deferred_weight_gradient_equals_the_per_step_sum(False)
    finally:
        linalg.SumOfProducts.materialize = original


def test_malloc_tuning_is_on_by_default_and_can_be_refused():
    code = "import lstm_from_scratch.cpu as c; print(c.malloc_tuned)"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"LFS_MALLOC_TUNING": "0", "PATH": ""})
    if sys.platform.startswith("linux"):
        assert on.stdout.strip() in ("True", "False")       # False off glibc (musl)
    assert off.stdout.strip() == "False", off.stderr
    assert _cpu.tune_malloc() == _cpu.malloc_tuned


def test_sigmoid_formulation_choice_can_be_overridden():
    code = "import lstm_from_scratch.cpu as c; print(c.SIGMOID_VIA_TANH)"
    for choice, want in (("exp", "False"), ("tanh", "True")):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"LFS_SIGMOID": choice, "PATH": ""})
        assert r.stdout.strip() == want, r.stderr


def test_blas_threads_sets_and_restores_openblas_threads():
    ctx = _cpu.blas_threads(1)
    if not ctx.available:
        pytest.skip("NumPy does not use OpenBLAS here")
    get = ctx._api[1]
    before = get()
    with ctx:
        assert get() == 1
        a = np.ones((64, 64), np.float32)
        assert float((a @ a)[0, 0]) == 64.0
    assert get() == before


def test_set_blas_threads_sets_and_returns_the_previous_count():
    with pytest.raises(ValueError, match="set_blas_threads: n must be a positive int, got 0"):
        _cpu.set_blas_threads(0)
    ctx = _cpu.blas_threads(1)
    if not ctx.available:
        assert _cpu.set_blas_threads(1) is None
        pytest.skip("NumPy does not use OpenBLAS here")
    get = ctx._api[1]
    before = get()
    try:
        assert _cpu.set_blas_threads(1) == before
        assert get() == 1
        assert _cpu.set_blas_threads(2) == 1 and get() == 2
    finally:
        ctx._api[0](before)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_recurrent_layers_column_major_w_hh_changes_only_rounding(kind, monkeypatch):
    """The layers' column-major W_hh (one recorded copy per sequence) against the plain
    parameter: outputs and every gradient equal in float64, bidirectional and stacked."""
    from lstm_from_scratch.nn.rnn import layers

    def run(column_major):
        monkeypatch.setattr(layers, "COLUMN_MAJOR_W_HH", column_major)
        lfs.manual_seed(4)
        layer = getattr(lfs.nn, kind)(3, 5, num_layers=2, bidirectional=True,
                                      dtype=lfs.float64)
        x = lfs.randn(6, 2, 3, dtype=lfs.float64, requires_grad=True)
        out = layer(x)[0]
        kinds = {type(t.creator).__name__ for t in _graph_tensors(out)}
        (out * out).sum().backward()
        return out.numpy(), [p.grad.numpy() for p in layer.parameters()] + [x.grad.numpy()], \
            kinds

    plain_out, plain_grads, plain_kinds = run(False)
    out, grads, kinds = run(True)
    assert "ColumnMajor" in kinds and "ColumnMajor" not in plain_kinds
    np.testing.assert_allclose(out, plain_out, rtol=0, atol=1e-13)
    for a, b in zip(grads, plain_grads):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def _graph_tensors(root):
    """Every non-leaf tensor input reachable from root (root included)."""
    seen, todo, found = set(), [root], []
    while todo:
        t = todo.pop()
        if t.creator is None or id(t.creator) in seen:
            continue
        seen.add(id(t.creator))
        found.append(t)
        todo.extend(t.creator.inputs)
    return found


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_column_major_w_hh_keeps_the_in_place_check(kind):
    """W_hh changed in place between forward and backward (an optimizer step in between, as in
    PyTorch's classic GAN mistake) still raises, as PyTorch's layers do: the column-major copy
    checks its input as a node that saved it would."""
    lfs.manual_seed(5)
    layer = getattr(lfs.nn, kind)(3, 4)
    out = layer(lfs.randn(5, 2, 3))[0]
    loss = (out * out).sum()
    loss.backward(retain_graph=True)
    lfs.optim.SGD(layer.parameters(), lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
