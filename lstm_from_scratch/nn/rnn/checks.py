"""Argument checks shared by the recurrent cells and layers: one wording per mistake."""
from __future__ import annotations

import numpy as np

from ...autograd import Tensor


def check_sizes(name, input_size, hidden_size):
    for arg, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{name}: {arg} must be a positive integer, got {v!r}")


def unpack_states(name, what, hx, state_names):
    """``hx`` as a list of one tensor per name in ``state_names``: (h, c) for the LSTM, h
    alone otherwise; the one wording of a wrongly packed state, for cells and layers."""
    if len(state_names) == 1:
        return [hx]
    if not isinstance(hx, (tuple, list)):
        raise TypeError(f"{name}: {what} must be a tuple ({', '.join(state_names)}), "
                        f"got {type(hx).__name__}")
    if len(hx) != len(state_names):
        raise ValueError(f"{name}: expected {what} as ({', '.join(state_names)}), "
                         f"got {len(hx)} tensors")
    return list(hx)


def check_input_size(name, x, input_size):
    """The one wording of a wrong input size, for cells and sequence layers alike."""
    if x.shape[-1] != input_size:
        raise ValueError(f"{name}: expected input of size {input_size} in the last "
                         f"dimension, got {x.shape[-1]}")


def check_tensor(name, what, t, like):
    """A clear error when ``t`` is not a Tensor of ``like``'s dtype and device; the advice
    names only conversions that exist."""
    if not isinstance(t, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
    if t.dtype != like.dtype:
        if t.dtype.kind != "f":
            raise TypeError(
                f"{name}: {what} has dtype {t.dtype} but the layer computes in {like.dtype}; "
                f"a recurrent layer takes floating-point input: convert it with "
                f"{what}.to(lfs.{like.dtype}) (token ids go through an nn.Embedding first)")
        raise TypeError(f"{name}: {what} has dtype {t.dtype} but the parameters are {like.dtype}; "
                        f"convert the model with .to(lfs.{t.dtype}) or the {what} with "
                        f".to(lfs.{like.dtype})")
    if t.device != like.device:
        raise RuntimeError(f"{name}: {what} is on device '{t.device}' but the parameters are on "
                           f"'{like.device}'; move one of them with .to()")


def unbatch(t, unbatched):
    return t.reshape(t.shape[1:]) if unbatched else t
