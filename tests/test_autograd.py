"""The engine: Tensor API, the backward pass and its bookkeeping, higher-order gradients."""
import gc
import weakref

import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import Function
from lstm_from_scratch.autograd import sum_to

F64 = np.float64


def t64(values, requires_grad=True, device=None):
    return lfs.tensor(values, dtype=F64, requires_grad=requires_grad, device=device)


# ---- Tensor API (PyTorch's names) --------------------------------------------------------------
def test_tensor_attributes(device):
    x = lfs.tensor([[1.0, 2.0, 3.0]], requires_grad=True, device=device)
    assert x.shape == (1, 3) and x.ndim == 2 and x.dtype == np.float32 and x.device == device
    assert x.requires_grad and x.is_leaf and x.grad is None
    assert type(x.data).__name__ == "ndarray"
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().tolist() == [[1.0, 2.0, 3.0]]
    assert x.sum().item() == 6.0 and isinstance(x.sum().item(), float)
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.creator is not None
    assert y.grad_fn is y.creator
    assert "grad_fn=<Mul>" in repr(y)


def test_grad_is_a_tensor_of_the_inputs_shape_and_dtype(device):
    x = lfs.tensor([1.0, 2.0], requires_grad=True, device=device)
    (x * x).sum().backward()
    assert isinstance(x.grad, lfs.Tensor)
    assert x.grad.shape == x.shape and x.grad.dtype == np.float32 and x.grad.device == device
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert not x.grad.requires_grad


def test_backward_with_explicit_gradient(device):
    x = t64([1.0, 2.0, 3.0], device=device)
    y = x * x
    y.backward(gradient=lfs.tensor([1.0, 0.5, -1.0], dtype=F64, device=device))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, -6.0])


def test_diamond_graph_is_ordered_correctly():
    """y feeds two paths (y and 1 - y) that meet again: y's node must run last."""
    x = t64([0.3, -1.2])
    y = lfs.sigmoid(x)
    z = y * (1 - y)
    z.sum().backward()
    s = 1 / (1 + np.exp(-x.numpy()))
    np.testing.assert_allclose(x.grad.numpy(), s * (1 - s) * (1 - 2 * s), rtol=1e-14)


def test_wide_diamonds_and_reuse():
    def f(v, lib):
        a = v * 2
        b = a * a + lib.exp(a) + lib.tanh(a) * a
        return b * a - b / (a + 3)

    x = t64([0.7])
    f(x, lfs).sum().backward()
    h = 1e-6
    numeric = (f(0.7 + h, np) - f(0.7 - h, np)) / (2 * h)
    np.testing.assert_allclose(x.grad.item(), numeric, rtol=1e-8)
    assert lfs.gradcheck(lambda v: f(v, lfs), [t64([0.7, -0.4])])


def test_leaf_used_many_times_accumulates():
    x = t64([2.0])
    y = x
    for _ in range(5):
        y = y + x
    y.backward()
    assert x.grad.item() == 6.0


def test_leaf_grads_never_alias_each_other():
    x, y = t64([1.0, 2.0]), t64([3.0, 4.0])
    (x + y).sum().backward()        # add hands the same upstream array to both inputs
    x.grad.data += 100.0
    np.testing.assert_array_equal(y.grad.numpy(), [1.0, 1.0])
    assert not np.shares_memory(x.grad.data, y.grad.data)


def test_leaf_grad_does_not_alias_the_seed_gradient():
    x = t64([1.0, 2.0])
    seed = lfs.tensor([1.0, 1.0], dtype=F64)
    (x * 1.0).backward(seed)
    (x + 0.0).backward(seed)
    x.grad.data[0] = -7.0
    np.testing.assert_array_equal(seed.numpy(), [1.0, 1.0])


def test_gradients_accumulate_across_backward_calls_out_of_place():
    x = t64([1.0, 2.0])
    (x * 3).sum().backward()
    first = x.grad
    first_values = first.numpy()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(first.numpy(), first_values)   # the old .grad is untouched
    assert x.grad is not first


def test_retain_graph_twice_accumulates():
    x = t64([1.0, -2.0])
    y = (x * x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * 3 * x.numpy() ** 2)


def test_second_backward_through_a_freed_graph_raises():
    x = t64([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_partly_freed_graph_raises_and_leaves_grad_untouched():
    x = t64([1.0, 2.0])
    h = x * 2
    h.sum().backward()              # frees h's node
    before = x.grad.numpy()
    with pytest.raises(RuntimeError, match="second time"):
        (h * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), before)


def test_failed_backward_leaves_no_stale_state():
    class Boom(Function):
        def forward(self, x):
            return x * 1

        def backward(self, gy):
            raise ZeroDivisionError("boom")

    x = t64([1.0])
    shared = x * 2
    bad = Boom()(shared) + shared
    with pytest.raises(ZeroDivisionError):
        bad.backward(retain_graph=True)
    assert x.grad is None
    (shared * 5).backward()          # the shared node still works and starts from zero
    assert x.grad.item() == 10.0


def test_multi_output_with_unused_outputs_gets_zeros():
    x = t64(np.arange(6.0))
    a, b, c = lfs.split(x, 2)
    (b * b).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 4, 6, 0, 0])


def test_no_grad_records_nothing_and_restores():
    x = t64([1.0])
    with lfs.no_grad():
        y = x * 2
        assert not lfs.is_grad_enabled()
        with lfs.enable_grad():
            z = x * 3
    assert lfs.is_grad_enabled()
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad

    @lfs.no_grad()
    def f(v):
        return v * v
    assert not f(x).requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_detach_shares_data_and_cuts_the_graph():
    x = t64([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.creator is None
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])   # no gradient through d


def test_retain_grad_on_intermediate():
    x = t64([1.0, 3.0])
    y = x * 2
    y.retain_grad()
    z = y * 5
    (y * y + z).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), 2 * y.numpy() + 5)
    np.testing.assert_array_equal(x.grad.numpy(), 2 * (2 * y.numpy() + 5))
    assert z.grad is None           # not retained


def test_retain_grad_on_one_output_of_a_multi_output_node():
    x = t64(np.arange(4.0))
    a, b = lfs.split(x, 2)
    b.retain_grad()
    (a.sum() + (b * 3).sum()).backward()
    np.testing.assert_array_equal(b.grad.numpy(), [3.0, 3.0])
    assert a.grad is None


def test_lfs_grad_returns_without_touching_dot_grad():
    x, w = t64([1.0, 2.0]), t64([3.0, 4.0])
    y = (x * w).sum()
    gx, gw = lfs.grad(y, [x, w])
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gw.numpy(), [1.0, 2.0])
    assert x.grad is None and w.grad is None


def test_lfs_grad_of_an_intermediate_tensor():
    x = t64([1.0, 2.0])
    h = x * 3
    y = (h * h).sum()
    (gh,) = lfs.grad(y, h)
    np.testing.assert_array_equal(gh.numpy(), 2 * h.numpy())


def test_lfs_grad_unused_input():
    x, u = t64([1.0]), t64([2.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused"):
        lfs.grad(y, [x, u], retain_graph=True)
    gx, gu = lfs.grad(y, [x, u], allow_unused=True)
    assert gu is None and gx.item() == 2.0


# ---- higher order ---------------------------------------------------------------------------------
def test_create_graph_gives_tanh_second_derivative():
    xs = np.linspace(-2, 2, 9)
    x = t64(xs)
    y = lfs.tanh(x)
    (g,) = lfs.grad(y.sum(), x, create_graph=True)
    assert g.requires_grad
    np.testing.assert_allclose(g.numpy(), 1 - np.tanh(xs) ** 2, rtol=1e-14)
    (g2,) = lfs.grad(g.sum(), x)
    t = np.tanh(xs)
    np.testing.assert_allclose(g2.numpy(), -2 * t * (1 - t * t), rtol=1e-12, atol=1e-15)


def test_backward_create_graph_then_backward_again():
    x = t64([1.5, -0.5])
    (x ** 3).sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())


def test_third_derivative():
    x = t64([0.4])
    y = lfs.exp(x * 2) * 3
    (g1,) = lfs.grad(y, x, create_graph=True)
    (g2,) = lfs.grad(g1, x, create_graph=True)
    (g3,) = lfs.grad(g2, x)
    np.testing.assert_allclose(g3.item(), 24 * np.exp(0.8), rtol=1e-13)


def test_newton_step_converges():
    """Newton's method on f(x) = x^4 - 3x^2 + x + exp(x/2), gradients and curvature by autograd."""
    def f(x):
        return x ** 4 - 3 * x ** 2 + x + lfs.exp(x * 0.5)

    x = t64(2.0)
    for _ in range(20):
        (g,) = lfs.grad(f(x), x, create_graph=True)
        (h,) = lfs.grad(g, x)
        x = t64(x.item() - g.item() / h.item())
    (g,) = lfs.grad(f(x), x)
    assert abs(g.item()) < 1e-12
    xv = x.item()
    assert 4 * xv ** 3 - 6 * xv + 1 + 0.5 * np.exp(xv / 2) == pytest.approx(0.0, abs=1e-12)
    assert 12 * xv ** 2 - 6 + 0.25 * np.exp(xv / 2) > 0      # a minimum


def test_gradgradcheck_on_a_composite():
    x, w = t64([[0.3, -0.2], [0.5, 0.1]]), t64([[1.0, 0.5], [-0.3, 0.8]])
    assert lfs.gradgradcheck(lambda a, b: lfs.tanh(a @ b) * lfs.sigmoid(a), [x, w])


# ---- depth ------------------------------------------------------------------------------------------
def test_chain_of_100000_operations():
    """No recursion anywhere: forward and backward through 100,000 nodes."""
    x = t64([1.0])
    y = x
    c = 1.0 + 1e-6
    for _ in range(100_000):
        y = y * c
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [c ** 100_000], rtol=1e-9)


def test_graph_memory_is_released():
    """No reference cycles between tensors and nodes: refcounting frees the graph."""
    gc.disable()
    try:
        x = t64([1.0])
        y = lfs.tanh(x * 2)
        node = weakref.ref(y.creator)
        y.backward()
        del y
        assert node() is None
        h = lfs.tanh(x * 3)
        h.retain_grad()
        node = weakref.ref(h.creator)
        del h
        assert node() is None
    finally:
        gc.enable()


# ---- the engine's shared helpers ------------------------------------------------------------------
def test_sum_to_undoes_broadcasting():
    g = np.ones((2, 3, 4))
    assert sum_to(g, (3, 1)).shape == (3, 1)
    np.testing.assert_array_equal(sum_to(g, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(sum_to(g, (4,)), np.full((4,), 6.0))
    np.testing.assert_array_equal(sum_to(g, ()), 24.0)
    assert sum_to(g, (2, 3, 4)) is g


def test_custom_function_with_saved_values_and_needs_input_grad():
    class MulAdd(Function):
        """a * b + a, written as a user would: saved_inputs and needs_input_grad."""

        def forward(self, a, b):
            return a * b + a

        def backward(self, gy):
            a, b = self.saved_inputs()
            need_a, need_b = self.needs_input_grad
            return (gy * (b + 1) if need_a else None), (gy * a if need_b else None)

    a, b = t64([1.0, 2.0]), t64([3.0], requires_grad=False)
    y = MulAdd()(a, b)
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 4.0])
    assert b.grad is None
    assert lfs.gradcheck(lambda u, v: MulAdd()(u, v), [t64([1.0, 2.0]), t64([3.0])])
    assert lfs.gradgradcheck(lambda u, v: MulAdd()(u, v), [t64([1.0, 2.0]), t64([3.0])])


def test_gradcheck_fails_on_a_wrong_backward():
    class BadSquare(Function):
        def forward(self, x):
            return x * x

        def backward(self, gy):
            return gy * self.saved_input()      # missing the factor 2

    x = t64([[0.5, -1.0], [2.0, 0.25]])
    with pytest.raises(lfs.GradcheckError) as info:
        lfs.gradcheck(lambda v: BadSquare()(v), [x])
    message = str(info.value)
    assert "input 0" in message and "index" in message
    assert "analytic" in message and "numeric" in message
    assert lfs.gradcheck(lambda v: BadSquare()(v), [x], raise_exception=False) is False


def test_gradcheck_names_the_wrong_input_and_worst_element():
    class WrongSecond(Function):
        def forward(self, a, b):
            return a * b

        def backward(self, gy):
            a, b = self.saved_inputs()
            return gy * b, gy * a * 1.5         # b's gradient is wrong

    a, b = t64([1.0, 2.0, 3.0]), t64([4.0, 5.0, 6.0])
    with pytest.raises(lfs.GradcheckError, match=r"input 1 \(shape \(3,\)\) at index \(\d,\)"):
        lfs.gradcheck(lambda u, v: WrongSecond()(u, v), [a, b])


def test_gradgradcheck_fails_when_backward_is_not_differentiable():
    class ConstantGrad(Function):
        """x**2 with a correct first derivative saved as a plain array: the second
        derivative through it is lost, and gradgradcheck must notice."""

        def forward(self, x):
            self.two_x = 2 * x
            return x * x

        def backward(self, gy):
            return gy * self.two_x

    x = t64([0.5, -1.5])
    assert lfs.gradcheck(lambda v: ConstantGrad()(v), [x])
    with pytest.raises(lfs.GradcheckError, match="input 0"):
        lfs.gradgradcheck(lambda v: ConstantGrad()(v), [x])


def test_gradcheck_requires_float64():
    with pytest.raises(TypeError, match="float64"):
        lfs.gradcheck(lambda v: v * 2, [lfs.tensor([1.0], requires_grad=True)])


def test_backward_create_graph_keeps_the_graph_for_a_second_derivative():
    # PyTorch's default: retain_graph follows create_graph, so x.grad can be differentiated
    x = lfs.tensor([0.3, -1.2], dtype=lfs.float64, requires_grad=True)
    x.tanh().sum().backward(create_graph=True)
    first = x.grad
    x.grad = None
    first.sum().backward()
    t = np.tanh(np.array([0.3, -1.2]))
    np.testing.assert_allclose(x.grad.numpy(), -2 * t * (1 - t * t), rtol=1e-12)
