"""Tensor.register_post_accumulate_grad_hook: a leaf's hook runs, during backward, as soon
as its gradient is final (what data-parallel training needs to overlap communication with
the rest of the backward pass)."""
import gc

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import autograd


def leaf(values):
    return lfs.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_hook_sees_the_final_gradient_once():
    x = leaf([1.0, 2.0, 3.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy()))
    # x is used three times; the hook must see the sum of all three contributions
    y = (x * x).sum() + (3 * x).sum() + x.sum()
    y.backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], 2 * x.numpy() + 4)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * x.numpy() + 4)


def test_hooks_run_in_the_order_gradients_become_final():
    # a chain a -> b -> c in forward: c's gradient is final first, a's last. The hooks must
    # run while backward still has work to do (before the earlier layers' gradients exist).
    a, b, c = leaf([0.5]), leaf([1.5]), leaf([-0.7])
    order, grads_existing = [], []
    for name, t in (("a", a), ("b", b), ("c", c)):
        t.register_post_accumulate_grad_hook(
            lambda t, name=name: (order.append(name),
                                  grads_existing.append([u.grad is not None for u in (a, b, c)])))
    h = lfs.tanh(a * 2.0)
    h = lfs.tanh(h * b)
    loss = (h * c).sum()
    loss.backward()
    assert order == ["c", "b", "a"]
    assert grads_existing[0] == [False, False, True]     # only c's gradient existed at c's hook
    assert grads_existing[1] == [False, True, True]


def test_hooks_run_before_the_rest_of_backward():
    log = []

    class Probe(lfs.Function):          # the identity, which logs when its backward runs
        def forward(self, x):
            return x

        def backward(self, gy):
            log.append("probe backward")
            return gy

    a, c = leaf([0.5, 1.0]), leaf([2.0, 3.0])
    a.register_post_accumulate_grad_hook(lambda t: log.append("hook a"))
    c.register_post_accumulate_grad_hook(lambda t: log.append("hook c"))
    (Probe()(a * 2.0) * c).sum().backward()
    # c's gradient is final once the last multiplication has run: its hook comes before
    # the backward of the earlier nodes, not at the end of the pass
    assert log == ["hook c", "probe backward", "hook a"]


def test_gradients_equal_those_without_hooks():
    lfs.manual_seed(0)
    lstm = lfs.nn.LSTM(3, 5, num_layers=2).double()
    x = lfs.tensor(np.random.default_rng(0).standard_normal((6, 2, 3)))

    def grads():
        lstm.zero_grad()
        out, _ = lstm(x)
        (out * out).sum().backward()
        return [p.grad.numpy() for p in lstm.parameters()]

    plain = grads()
    count = []
    handles = [p.register_post_accumulate_grad_hook(lambda t: count.append(1))
               for p in lstm.parameters()]
    hooked = grads()
    assert len(count) == len(plain)
    for g0, g1 in zip(plain, hooked):
        np.testing.assert_array_equal(g0, g1)
    for h in handles:
        h.remove()
    grads()
    assert len(count) == len(plain)                      # removed hooks no longer run


def test_hook_accumulates_into_an_existing_grad():
    x = leaf([1.0, -1.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.numpy()))
    (2 * x).sum().backward()
    (5 * x).sum().backward()                              # no zero_grad: .grad accumulates
    np.testing.assert_array_equal(seen[1], [7.0, 7.0])


def test_leaf_root_and_unused_leaf():
    x, unused = leaf([2.0]), leaf([3.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append("x"))
    unused.register_post_accumulate_grad_hook(lambda t: seen.append("unused"))
    x.backward(lfs.tensor(np.array([1.0])))               # the leaf is the root itself
    assert seen == ["x"]
    (x * 2.0).sum().backward()
    assert seen == ["x", "x"] and unused.grad is None


def test_no_hook_for_lfs_grad():
    x = leaf([1.0, 2.0])
    x.register_post_accumulate_grad_hook(lambda t: pytest.fail("hook ran under lfs.grad"))
    (g,) = lfs.grad((x * x).sum(), x)
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert x.grad is None


def test_create_graph_hook_gets_a_differentiable_grad():
    x = leaf([3.0])
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.requires_grad))
    (x ** 3).sum().backward(create_graph=True)
    assert seen == [True]
    np.testing.assert_allclose(x.grad.numpy(), [27.0])


def test_registration_errors():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        lfs.tensor(np.ones(2)).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="callable"):
        x.register_post_accumulate_grad_hook(3)


def test_a_hook_that_refers_to_its_tensor_does_not_keep_it_alive():
    gc.collect()
    before = len(autograd._post_accumulate_grad_hooks)
    x = leaf([1.0])
    x.register_post_accumulate_grad_hook(lambda t: x.numel())     # a cycle through x
    assert len(autograd._post_accumulate_grad_hooks) == before + 1
    del x
    gc.collect()
    assert len(autograd._post_accumulate_grad_hooks) == before
