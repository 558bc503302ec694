"""Fused LSTM and GRU: a whole sequence (or one cell step) as ONE autograd node with a
hand-derived backward, on NumPy (CPU) and CuPy (GPU).

The primitive path (``nn.LSTMCell`` composed of ``matmul``, ``sigmoid``, ``tanh``, ``*``,
``+``) records about a dozen graph nodes per time step and pays Python and NumPy overhead for
each. A fused node records one, and organises the arithmetic the way a hand-written BPTT does:

* the input projection ``x W_ih^T + b`` of all T steps is one matrix product;
* the recurrence runs one recurrent product and one element-wise pass per step forward
  (all gate activations and the cell update) and one per step backward;
* the weight gradients and ``dx`` are one matrix product each, over all T*B rows, after the
  backward loop.

On the CPU the element-wise pass is a dozen in-place NumPy calls into preallocated buffers;
on the GPU it is one CUDA kernel (``_cuda.py``, compiled on first use). Results equal the
primitive path (float64: 1e-12) and PyTorch's ``nn.LSTM`` / ``nn.GRU``.

Large work buffers are reused across calls on the CPU: each node owns its buffers until the
engine frees it, then they go back to a free list (``_workspace.py``); ``clear_workspace()``
drops the free ones.

The backward is first-order only: under ``create_graph=True`` it raises
``NotImplementedError`` (use the primitive path, ``fused=False``, for higher-order gradients).

    lstm_sequence(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh) -> output, h_n, c_n
    lstm_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh) -> h_new, c_new
    gru_sequence(x, h0, weight_ih, weight_hh, bias_ih, bias_hh) -> output, h_n
    gru_cell(x, h, weight_ih, weight_hh, bias_ih, bias_hh) -> h_new
"""
from ._workspace import clear_workspace
from .gru import GRUFused, gru_cell, gru_sequence
from .lstm import LSTMFused, lstm_cell, lstm_sequence

__all__ = ["GRUFused", "LSTMFused", "clear_workspace", "gru_cell", "gru_sequence", "lstm_cell",
           "lstm_sequence"]
