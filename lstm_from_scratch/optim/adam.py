"""Adam (Kingma & Ba, 2015), its AMSGrad variant, and AdamW (decoupled weight decay)."""
from __future__ import annotations

import math

from .. import backend
from .optimizer import Optimizer, check_hyper


class Adam(Optimizer):
    r"""``torch.optim.Adam``'s update (eq-train-adam), for each parameter p with gradient g, at
    step t:

        g <- g + weight_decay * p                (L2 penalty; AdamW decays p instead)
        m <- beta1 m + (1 - beta1) g             v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)                   (amsgrad: normalise by v_max instead of v)
        p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Args:
        params: parameters or parameter groups (see :class:`Optimizer`).
        lr: learning rate (1e-3). betas: (beta1, beta2) = (0.9, 0.999). eps: 1e-8.
        weight_decay: L2 penalty added to the gradient (0).
        amsgrad: use the running maximum of v (Reddi et al., 2018).
        maximize: ascend instead of descend.

    State per parameter: ``step`` (int), ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with
    amsgrad, ``max_exp_avg_sq``; all arrays have the parameter's shape, dtype and device.
    """

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, maximize=False):
        check_hyper("learning rate", lr)
        check_hyper("epsilon value", eps)
        check_hyper("beta parameter at index 0", betas[0], high=1.0)
        check_hyper("beta parameter at index 1", betas[1], high=1.0)
        check_hyper("weight_decay value", weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _update(self, p, g, group, state):
        xp = backend.get_array_module(p.data)
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p.data)
            state["exp_avg_sq"] = xp.zeros_like(p.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p.data)
        if group["maximize"]:
            g = -g
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], \
            group["weight_decay"]
        state["step"] += 1
        step = state["step"]
        if wd != 0:
            if self._decoupled:
                p.data *= 1 - lr * wd           # AdamW: shrink the weights, not the gradient
            else:
                g = g + wd * p.data
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m += (1 - beta1) * (g - m)              # = beta1 m + (1 - beta1) g, as torch's lerp
        v *= beta2
        v += (1 - beta2) * (g * g)
        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
        step_size = lr / bias_correction1
        if group["amsgrad"]:
            v_max = state.setdefault("max_exp_avg_sq", xp.zeros_like(p.data))
            xp.maximum(v_max, v, out=v_max)
            denom = xp.sqrt(v_max) / bias_correction2_sqrt + eps
        else:
            denom = xp.sqrt(v) / bias_correction2_sqrt + eps
        p.data -= step_size * (m / denom)


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter, 2019), as ``torch.optim.AdamW``:
    each step first shrinks the weights, ``p <- p (1 - lr weight_decay)``, then takes the
    Adam step without any L2 term in the gradient. Default ``weight_decay=1e-2``."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, maximize=False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)
