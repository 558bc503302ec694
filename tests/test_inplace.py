"""In-place operations and the version counter, against PyTorch's semantics.

``x += y`` and ``add_``, ``mul_``, ``zero_``, ``copy_``... write into the tensor's array (every
alias sees the change) and bump the version of that memory. A node that needs a value in its
backward checks, when backward reads it, that the value was not modified since the node was
recorded, and raises PyTorch's error otherwise, naming the node. In-place on a leaf that requires
grad is an error unless recording is off (the manual SGD step); in-place on a tensor of a graph
is recorded, as PyTorch does.
"""
import numpy as np
import pytest

import lstm_from_scratch as lfs
from lstm_from_scratch import nn, optim

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is not installed")

F64 = np.float64
MODIFIED = "modified by an inplace operation"


def t64(values, requires_grad=False):
    return lfs.tensor(values, dtype=F64, requires_grad=requires_grad)


# ---- the operators and methods write into the array --------------------------------------------------
@pytest.mark.parametrize("op, expected", [
    (lambda x: x.__iadd__(2.0), [3.0, 4.0, 5.0]), (lambda x: x.__isub__(1.0), [0.0, 1.0, 2.0]),
    (lambda x: x.__imul__(3.0), [3.0, 6.0, 9.0]), (lambda x: x.__itruediv__(2.0), [0.5, 1.0, 1.5]),
    (lambda x: x.add_(1.0), [2.0, 3.0, 4.0]), (lambda x: x.add_(t64([1.0, 1.0, 1.0]), alpha=2),
                                               [3.0, 4.0, 5.0]),
    (lambda x: x.sub_(t64([1.0, 2.0, 3.0])), [0.0, 0.0, 0.0]), (lambda x: x.mul_(-1), [-1.0, -2.0, -3.0]),
    (lambda x: x.div_(t64([1.0, 2.0, 4.0])), [1.0, 1.0, 0.75]), (lambda x: x.zero_(), [0.0] * 3),
    (lambda x: x.fill_(7.0), [7.0] * 3), (lambda x: x.copy_(np.array([9.0, 8.0, 7.0])), [9.0, 8.0, 7.0]),
    (lambda x: x.clamp_(min=1.5, max=2.5), [1.5, 2.0, 2.5]), (lambda x: x.clip_(max=2.0), [1.0, 2.0, 2.0]),
    (lambda x: x.neg_(), [-1.0, -2.0, -3.0]), (lambda x: x.pow_(2), [1.0, 4.0, 9.0]),
    (lambda x: x.exp_().log_(), [1.0, 2.0, 3.0]), (lambda x: x.sqrt_(), np.sqrt([1.0, 2.0, 3.0])),
    (lambda x: x.abs_(), [1.0, 2.0, 3.0]), (lambda x: x.relu_(), [1.0, 2.0, 3.0]),
    (lambda x: x.tanh_(), np.tanh([1.0, 2.0, 3.0])),
    (lambda x: x.sigmoid_(), 1 / (1 + np.exp(-np.array([1.0, 2.0, 3.0])))),
])
def test_inplace_ops_write_into_the_array_and_return_self(op, expected):
    x = t64([1.0, 2.0, 3.0])
    data, alias = x.data, x.detach()
    v0 = x._version
    out = op(x)
    assert out is x and x.data is data                       # the same tensor, the same array
    np.testing.assert_allclose(x.numpy(), expected, rtol=1e-15)
    np.testing.assert_allclose(alias.numpy(), expected, rtol=1e-15)   # aliases see it
    assert x._version > v0 and alias._version == x._version


def test_augmented_assignment_keeps_the_object():
    x = lfs.tensor([1.0, 2.0])
    y = x
    x += 1
    x *= lfs.tensor([2.0, 3.0])
    x -= np.array([1.0, 1.0], dtype=np.float32)
    x /= 2
    assert x is y and x.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), [1.5, 4.0])


def test_inplace_errors_on_dtype_and_shape():
    x = lfs.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="float32 and float64|float64 and float32"):
        x += t64([1.0, 1.0])
    i = lfs.tensor([1, 2])
    with pytest.raises(TypeError, match="int64"):
        i += 0.5                                # the result is float: it cannot go into int64
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3, 2\)"):
        x += lfs.ones(3, 2)                     # broadcasting may not grow the target
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])       # failed ops change nothing
    assert x._version == 0


def test_views_share_the_version_counter():
    x = lfs.zeros(2, 3)
    row = x[0]
    row += 1
    assert x._version == row._version == 1
    np.testing.assert_array_equal(x.numpy(), [[1, 1, 1], [0, 0, 0]])
    x.reshape(-1).zero_()
    assert row._version == 2 and float(np.abs(x.numpy()).max()) == 0.0


# ---- leaves ---------------------------------------------------------------------------------------------
def test_inplace_on_a_leaf_that_requires_grad_is_an_error():
    w = lfs.tensor([1.0, 2.0], requires_grad=True)
    for op in (lambda: w.add_(1.0), lambda: w.zero_(), lambda: w.__isub__(1.0),
               lambda: w.copy_(np.zeros(2)), lambda: w.mul_(2.0)):
        with pytest.raises(RuntimeError, match="leaf.*requires grad.*in-place"):
            op()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])


def test_inplace_on_a_view_of_such_a_leaf_is_an_error():
    w = lfs.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    for view in (w[0], w.reshape(-1), w.T):
        with pytest.raises(RuntimeError, match="view of a leaf"):
            view.add_(1.0)
    np.testing.assert_array_equal(w.numpy(), [[1.0, 2.0], [3.0, 4.0]])


def test_manual_sgd_step_inside_no_grad():
    """The loop of every tutorial: p -= lr * p.grad under no_grad, then zero the gradient."""
    lfs.manual_seed(0)
    model = nn.Linear(3, 1)
    params = list(model.parameters())
    x, y = lfs.randn(8, 3), lfs.randn(8, 1)
    before = [p.numpy() for p in params]
    ids = [id(p) for p in params]
    loss = ((model(x) - y) ** 2).mean()
    loss.backward()
    grads = [p.grad.numpy() for p in params]
    with lfs.no_grad():
        for p in model.parameters():
            p -= 0.1 * p.grad
            p.grad.zero_()
    assert [id(p) for p in model.parameters()] == ids
    for p, b, g in zip(model.parameters(), before, grads):
        np.testing.assert_allclose(p.numpy(), b - np.float32(0.1) * g, rtol=1e-6)
        assert p.is_leaf and p.requires_grad and float(np.abs(p.grad.numpy()).max()) == 0.0
    loss2 = ((model(x) - y) ** 2).mean()
    assert loss2.item() < loss.item()


# ---- saved values modified between forward and backward --------------------------------------------------
def test_modifying_a_saved_input_raises_at_backward_naming_the_node():
    a, b = t64([1.0, 2.0], True), t64([3.0, 4.0])
    y = (a * b).sum()
    b.add_(1.0)                     # b is needed for a's gradient
    with pytest.raises(RuntimeError, match=f"{MODIFIED}.*Mul"):
        y.backward()
    assert a.grad is None           # nothing half-written


def test_modifying_a_saved_output_raises():
    x = t64([0.5, 1.0], True)
    y = lfs.exp(x)
    with lfs.no_grad():
        y.mul_(2.0)                 # exp's backward reads its output
    with pytest.raises(RuntimeError, match=f"{MODIFIED}.*Exp"):
        y.sum().backward()


def test_values_that_are_not_needed_may_change():
    """As in torch: add saves nothing, so changing its inputs afterwards is fine."""
    a, b = t64([1.0, 2.0], True), t64([3.0, 4.0])
    y = (a + b).sum()
    b.mul_(10.0)
    y.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0])
    c = t64([1.0, 2.0], True)
    k = t64([5.0, 6.0])
    z = (c * k).sum()               # c's gradient needs k, not c ...
    d = c.detach()
    d.zero_()                       # ... so changing c (through an alias) is fine
    z.backward()
    np.testing.assert_array_equal(c.grad.numpy(), [5.0, 6.0])


@pytest.mark.parametrize("make", [lambda p: optim.SGD(p, lr=0.1), lambda p: optim.SGD(p, lr=0.1, momentum=0.9),
                                  lambda p: optim.Adam(p, lr=0.1), lambda p: optim.AdamW(p, lr=0.1)])
def test_optimizer_step_between_forward_and_backward_raises(make):
    lfs.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))   # layer 1's gradient needs W_2
    opt = make(model.parameters())
    x = lfs.randn(4, 3)
    loss = model(x).sum()
    loss.backward(retain_graph=True)
    versions = [p._version for p in model.parameters()]
    opt.step()
    assert all(p._version > v for p, v in zip(model.parameters(), versions))
    with pytest.raises(RuntimeError, match=f"{MODIFIED}.*Linear"):
        loss.backward()
    # a fresh forward after the step is fine; so is a single layer, whose weight gradient
    # needs only the input (torch does not raise there either)
    model(x).sum().backward()
    layer = nn.Linear(3, 2)
    loss = layer(x).sum()
    for p in layer.parameters():
        p.grad = lfs.zeros_like(p)
    make(layer.parameters()).step()
    loss.backward()


def test_second_backward_after_inplace_change_raises_with_retain_graph():
    a, w = t64([1.0, 2.0], True), t64([2.0, 3.0], True)
    h = a * 1.0
    y = (h * w).sum()
    y.backward(retain_graph=True)
    with lfs.no_grad():
        h.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_fused_lstm_checks_its_saved_values():
    lfs.manual_seed(0)
    lstm = nn.LSTM(3, 4, fused=True)
    x = lfs.randn(5, 2, 3)
    out, (h, c) = lstm(x)
    with lfs.no_grad():
        out.zero_()                 # its own output is what the weight gradient needs
    with pytest.raises(RuntimeError, match=f"{MODIFIED}.*LSTMFused"):
        (h.sum() + c.sum()).backward()
    out, _ = lstm(x)
    opt = optim.SGD(lstm.parameters(), lr=0.1)
    for p in lstm.parameters():
        p.grad = lfs.zeros_like(p)
    opt.step()
    with pytest.raises(RuntimeError, match=f"{MODIFIED}.*LSTMFused"):
        out.sum().backward()


# ---- in-place on a tensor of the graph is recorded, as in torch ----------------------------------------------
@needs_torch
def test_inplace_on_graph_tensors_gives_torchs_gradients():
    rng = np.random.default_rng(0)
    a_np, c_np, w_np = rng.standard_normal((3, 2)), rng.standard_normal((3, 2)), rng.standard_normal(2)

    def run(lib):
        if lib == "torch":
            mk = lambda v: torch.tensor(v, requires_grad=True)           # noqa: E731
            zeros = lambda *s: torch.zeros(*s, dtype=torch.float64)      # noqa: E731
        else:
            mk = lambda v: lfs.tensor(v, dtype=F64, requires_grad=True)  # noqa: E731
            zeros = lambda *s: lfs.zeros(*s, dtype=F64)                 # noqa: E731
        a, c, w = mk(a_np), mk(c_np), mk(w_np)
        b = a * 2
        b += c                      # AddBackward on a non-leaf
        b *= c                      # needs the old b for c's gradient
        b -= w                      # broadcast into b's shape
        b /= 3.0
        b.clamp_(min=-0.5)
        b.tanh_()                   # needs its own output
        total = zeros(())
        for k in range(3):
            total += (b[k] * w).sum()   # accumulating losses into a tensor made without grad
        total.backward()
        return [t.detach().numpy() if lib == "torch" else t.numpy() for t in (total,)] + \
            [t.grad.numpy() for t in (a, c, w)]

    for ours, theirs in zip(run("lfs"), run("torch")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_recorded_inplace_op_rebases_the_tensor():
    a = t64([1.0, 2.0], True)
    b = a * 3
    node = b.grad_fn
    b.add_(1.0)
    assert not b.is_leaf and b.grad_fn is not node and b.requires_grad
    total = lfs.zeros((), dtype=F64)
    assert total.is_leaf and not total.requires_grad
    total += b.sum()
    assert not total.is_leaf and total.requires_grad
    total.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 3.0])


def test_retain_grad_follows_the_rebased_tensor():
    a = t64([1.0, 2.0], True)
    b = a * 2
    b.retain_grad()
    b.mul_(3.0)
    (b * b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), 2 * 6 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(a.grad.numpy(), 72 * np.array([1.0, 2.0]))


def test_setitem_writes_and_is_recorded():
    x = lfs.zeros(3, 2)
    x[1] = lfs.tensor([1.0, 2.0])
    x[:, 0] = 5.0
    np.testing.assert_array_equal(x.numpy(), [[5, 0], [5, 2], [5, 0]])
    assert x._version == 2
    v = lfs.tensor([1.0, 2.0], requires_grad=True)
    out = lfs.zeros(3, 2)
    out[2] = v * 2                  # the row assignment of a hand-written RNN loop
    out.sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 2.0])
    w = lfs.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        w[0] = 3.0


def test_library_writes_to_data_keep_working():
    lfs.manual_seed(0)
    model = nn.LSTM(3, 4)
    sd = model.state_dict()
    nn.init.zeros_(model.weight_hh_l0)
    model.load_state_dict(sd)
    model.to(lfs.float64)
    opt = optim.Adam(model.parameters(), lr=0.01)
    x = lfs.randn(5, 2, 3, dtype=F64)
    for _ in range(2):
        opt.zero_grad()
        out, _ = model(x)
        out.sum().backward()
        opt.step()
    assert all(p.is_leaf and p.requires_grad for p in model.parameters())


@needs_torch
def test_operations_recorded_before_an_inplace_change_keep_their_gradient():
    """Nodes that used a tensor before it was changed in place still see its old identity in
    backward (PyTorch's edges point to nodes, ours to tensors: the engine follows them back)."""
    a_np = np.array([0.5, -1.0, 2.0])

    def run(lib):
        if lib == "torch":
            a = torch.tensor(a_np, requires_grad=True)
        else:
            a = lfs.tensor(a_np, dtype=F64, requires_grad=True)
        y = a * 2
        z = y * 3                   # uses y before the change
        first = y[0] * 7            # a view of y, used before the change
        y *= 5                      # recorded; z and first still refer to the old y
        y += y                      # x += x: twice the old value
        w = y * 1                   # uses the new y
        later = y[1] * 11           # a view taken after the change
        loss = z.sum() + w.sum() + first + later
        loss.backward()
        return a.grad.numpy() if lib == "torch" else a.grad.numpy()

    np.testing.assert_allclose(run("lfs"), run("torch"), rtol=1e-15)


def test_a_view_used_after_its_base_changed_in_place_is_refused():
    """PyTorch rebuilds the graph of a view whose base was changed in place (and the other
    way round); this engine cannot, so backward refuses instead of using the old graph."""
    a = t64([0.5, -1.0, 2.0], True)
    y = a * 2
    first = y[0]
    y *= 5                          # first's value is now 5x, its graph says y_old[0]
    with pytest.raises(RuntimeError, match="changed in place"):
        (first * 7).backward()
    b = t64([0.5, -1.0, 2.0], True)
    z = b * 2
    v = z[0]
    v += 1                          # z's memory changed through its view
    with pytest.raises(RuntimeError, match="changed in place"):
        (z * 3).sum().backward()
    c = t64([0.5, -1.0], True)
    u = c * 2
    with lfs.no_grad():
        u += 1                      # not recorded: as PyTorch, backward ignores it
    (u * 3).sum().backward()
    np.testing.assert_array_equal(c.grad.numpy(), [6.0, 6.0])
