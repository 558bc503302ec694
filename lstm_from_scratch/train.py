"""A training loop: ``fit`` (minibatches, validation, clipping, schedules, early stopping,
checkpoints, history) and truncated backpropagation through time (``TBPTTStep``, ``fit_tbptt``).

The loop is short on purpose; the book shows it. One epoch is::

    for batch in train_data:
        loss = loss_fn(model(x), y)        # or step_fn(model, batch)
        optimizer.zero_grad(); loss.backward()
        clip_grad_norm_(params, clip)      # if asked
        optimizer.step()
    validate under no_grad; scheduler.step(); early stopping; checkpoint

Progress bars are shown only when both stdout and stderr are terminals (``progress=None``,
the default) or when ``progress=True``; in Jupyter (whose streams are not terminals), in CI
and in redirected output they are off, so no bar ever lands in a stored notebook output.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import numpy as np

from .autograd import Tensor, no_grad
from .functional import as_tensor

__all__ = ["History", "TBPTTStep", "detach_state", "fit", "fit_tbptt"]


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch run (epochs numbered from 0).

    Attributes:
        train_loss: mean training loss over the epoch's batches (weighted by batch size).
        val_loss: mean validation loss after the epoch (empty without validation data).
        lr: the learning rate of parameter group 0 during the epoch.
        grad_norm: mean total gradient norm before clipping (only with ``clip_grad_norm``).
        batch_loss: the training loss of every batch, in order, across all epochs (what a
            plot of the loss per update shows; ``train_loss`` is its mean per epoch).
        metrics: name -> list of values (on validation data, or training data without it).
        best_epoch: the epoch with the lowest monitored loss (validation loss if there is
            validation data, else training loss); best_loss: that loss.
        stopped_early: whether early stopping ended training before ``epochs``.
    """

    train_loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)
    batch_loss: list = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    best_epoch: int | None = None
    best_loss: float = math.inf
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def as_dict(self) -> dict:
        return {"train_loss": list(self.train_loss), "val_loss": list(self.val_loss),
                "lr": list(self.lr), "grad_norm": list(self.grad_norm),
                "batch_loss": list(self.batch_loss),
                "metrics": {k: list(v) for k, v in self.metrics.items()},
                "best_epoch": self.best_epoch, "best_loss": self.best_loss,
                "stopped_early": self.stopped_early}

    def __repr__(self):
        last = f"{self.train_loss[-1]:.4g}" if self.train_loss else "-"
        val = f", last val_loss {self.val_loss[-1]:.4g}" if self.val_loss else ""
        return (f"History({self.epochs} epochs, last train_loss {last}{val}, best_epoch "
                f"{self.best_epoch}{', stopped early' if self.stopped_early else ''})")


# ---- helpers ------------------------------------------------------------------------------------------
def detach_state(state):
    """The recurrent state cut from the graph: Tensors detached, tuples/lists kept, None kept.

    Truncated BPTT carries the values of (h, c) into the next chunk but not the graph that
    produced them, so the next backward stops at the chunk boundary."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state


def _show_progress(progress) -> bool:
    if progress is not None:
        return bool(progress)
    try:
        return sys.stdout.isatty() and sys.stderr.isatty()
    except (AttributeError, ValueError):       # replaced or closed streams
        return False


def _reference_param(model):
    params = getattr(model, "parameters", None)
    if params is None:
        return None
    for p in params():
        return p
    return None


def _to_tensor(a, ref):
    """An array of a batch as a Tensor on the model's device; floats take the model's dtype."""
    if isinstance(a, Tensor) or a is None:
        return a
    if not hasattr(a, "dtype"):
        a = np.asarray(a)
    if ref is None:
        return as_tensor(a)             # no parameters: the default device
    if a.dtype.kind == "f" and a.dtype != ref.dtype:
        a = a.astype(ref.dtype)
    return as_tensor(a, device=ref.device)


def _to_tensors(batch, ref):
    if isinstance(batch, (tuple, list)):
        return tuple(_to_tensor(a, ref) for a in batch)
    return (_to_tensor(batch, ref),)


def _batch_size(batch) -> int:
    first = batch[0]
    return int(first.shape[0]) if getattr(first, "ndim", 0) else 1


def _call_step(model, batch, loss_fn, step_fn):
    """(loss, output, target) for one batch, by ``step_fn`` or ``loss_fn(model(x), y)``."""
    if step_fn is not None:
        result = step_fn(model, batch)
        if isinstance(result, tuple):
            loss, output, target = result
            return loss, output, target
        return result, None, None
    if len(batch) < 2:
        raise ValueError("fit: a batch must be (inputs, targets, ...) when no step_fn is given")
    output = model(batch[0])
    return loss_fn(output, batch[1]), output, batch[1]


def _batches(data, epoch):
    return data(epoch) if callable(data) else data


def _check_reiterable(data, what, epochs):
    """Batches are read once per epoch: a one-shot iterator (a generator, ``iter(list)``,
    ``map``...) would be empty from the second epoch on. Say so before training starts."""
    if epochs > 1 and not callable(data) and iter(data) is data:
        raise TypeError(
            f"fit: {what} is a one-shot iterator ({type(data).__name__}), but the data must be "
            f"re-iterable: it is read once per epoch ({epochs} epochs), and an iterator is "
            "empty after the first. Pass a list of batches, an lfs.data.DataLoader, or a "
            "function epoch -> batches (e.g. lambda epoch: make_batches())")


def _set_mode(model, training):
    fn = getattr(model, "train", None)
    if callable(fn):
        fn(training)


def _run_pass(model, data, epoch, loss_fn, step_fn, optimizer, params, clip, metrics, ref,
              show, desc, batch_losses=None):
    """One pass over ``data``: training when ``optimizer`` is given, else evaluation.
    Appends every batch's loss to ``batch_losses`` when it is a list.

    Returns (mean loss, mean grad norm or None, {metric: mean}).
    """
    training = optimizer is not None
    reset = getattr(step_fn, "reset", None)
    if callable(reset):
        reset()                                  # e.g. a TBPTT state starts again
    batches = _batches(data, epoch)
    bar = None
    if show:
        from tqdm.auto import tqdm
        total = len(batches) if hasattr(batches, "__len__") else None
        bar = tqdm(total=total, desc=desc, leave=False, file=sys.stderr, dynamic_ncols=True)
    total_loss, count, norms = 0.0, 0, []
    sums = {name: 0.0 for name in (metrics or {})}
    try:
        for k, raw in enumerate(batches):
            batch = _to_tensors(raw, ref)
            n = _batch_size(batch)
            if training:
                loss, output, target = _call_step(model, batch, loss_fn, step_fn)
                value = float(loss.item())
                if not math.isfinite(value):
                    raise FloatingPointError(
                        f"fit: the training loss is {value} at epoch {epoch}, batch {k}; "
                        "lower the learning rate or clip the gradients (clip_grad_norm=...)")
                optimizer.zero_grad()
                loss.backward()
                if clip is not None:
                    from .nn.utils import clip_grad_norm_
                    norms.append(float(clip_grad_norm_(params, clip).item()))
                optimizer.step()
            else:
                with no_grad():
                    loss, output, target = _call_step(model, batch, loss_fn, step_fn)
                value = float(loss.item())
            total_loss += value * n
            count += n
            if batch_losses is not None:
                batch_losses.append(value)
            if metrics:
                if output is None:
                    raise ValueError("fit: metrics need the model's output; a step_fn must "
                                     "return (loss, output, target) to use them")
                with no_grad():
                    for name, fn in metrics.items():
                        sums[name] += float(fn(output, target)) * n
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{total_loss / count:.4g}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    if count == 0:
        raise ValueError(f"fit: the {'training' if training else 'validation'} data gave no "
                         "batches")
    mean_norm = float(np.mean(norms)) if norms else None
    return total_loss / count, mean_norm, {k: v / count for k, v in sums.items()}


def fit(model, train_data, loss_fn=None, optimizer=None, epochs: int = 1, *, val_data=None,
        step_fn=None, scheduler=None, clip_grad_norm: float | None = None,
        early_stopping_patience: int | None = None, min_delta: float = 0.0,
        restore_best_weights: bool = True, checkpoint_path=None, metrics: dict | None = None,
        progress: bool | None = None, verbose: bool = False, on_epoch_end=None) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_data``.

    Args:
        model: an ``lfs.nn.Module`` (anything with ``parameters()``, ``state_dict()`` and
            ``load_state_dict()``; ``train()``/``eval()`` are called when present).
        train_data: batches, re-iterable each epoch: a list of ``(x, y)``, an
            ``lfs.data.DataLoader``, or a function ``epoch -> iterable of batches`` (a
            generator or other one-shot iterator only for ``epochs=1``). NumPy
            arrays become Tensors on the model's device, floats cast to its dtype.
        loss_fn: ``loss_fn(model(x), y) -> scalar Tensor`` (unused when ``step_fn`` given).
        optimizer: an ``lfs.optim`` optimizer over the model's parameters.
        epochs: the most passes to run.
        val_data: batches for validation after each epoch (no gradients, ``model.eval()``).
        step_fn: ``step_fn(model, batch) -> loss`` or ``-> (loss, output, target)``, to replace
            ``loss_fn(model(x), y)`` (sequence models, TBPTT). If it has a ``reset()`` method,
            that is called before every pass.
        scheduler: an ``lfs.optim.lr_scheduler`` scheduler, stepped once after each epoch.
        clip_grad_norm: if set, ``clip_grad_norm_(model.parameters(), clip_grad_norm)``
            before every optimizer step; the mean pre-clipping norm is recorded.
        early_stopping_patience: stop after this many epochs without an improvement of the
            monitored loss (validation loss, or training loss without validation data) by
            more than ``min_delta``; with ``restore_best_weights`` the model ends with the
            weights of the best epoch.
        checkpoint_path: if set, ``lfs.io.save_checkpoint`` of model, optimizer, scheduler,
            epoch and losses there, each time the monitored loss improves (the best model).
        metrics: name -> ``fn(output, target) -> float``, averaged over the validation
            batches (or training batches without validation data).
        progress: show tqdm progress bars: True, False, or None = only on a terminal.
        verbose: print one line per epoch.
        on_epoch_end: called as ``on_epoch_end(epoch, history)`` after each epoch (after
            validation, the scheduler step and checkpointing), e.g. to print a sample of
            what the model generates; the model is in training mode again by then.
    Returns:
        A :class:`History`.
    """
    if step_fn is None and loss_fn is None:
        raise ValueError("fit: give loss_fn (or a step_fn that computes the loss)")
    if optimizer is None:
        raise ValueError("fit: an optimizer is required")
    if epochs < 0:
        raise ValueError(f"fit: epochs must be >= 0, got {epochs}")
    _check_reiterable(train_data, "train_data", epochs)
    if val_data is not None:
        _check_reiterable(val_data, "val_data", epochs)
    params = list(model.parameters())
    ref = params[0] if params else None
    show = _show_progress(progress)
    history = History()
    for name in metrics or {}:
        history.metrics[name] = []
    best_state, waited = None, 0
    for epoch in range(epochs):
        history.lr.append(float(optimizer.param_groups[0]["lr"]))
        _set_mode(model, True)
        train_metrics = metrics if val_data is None else None
        loss, norm, m_train = _run_pass(model, train_data, epoch, loss_fn, step_fn, optimizer,
                                        params, clip_grad_norm, train_metrics, ref, show,
                                        f"epoch {epoch + 1}/{epochs}", history.batch_loss)
        history.train_loss.append(loss)
        if norm is not None:
            history.grad_norm.append(norm)
        monitored, m_values = loss, m_train
        if val_data is not None:
            _set_mode(model, False)
            val_loss, _, m_values = _run_pass(model, val_data, epoch, loss_fn, step_fn, None,
                                              params, None, metrics, ref, show, "validation")
            _set_mode(model, True)
            history.val_loss.append(val_loss)
            monitored = val_loss
        for name, value in m_values.items():
            history.metrics[name].append(value)
        if scheduler is not None:
            scheduler.step()

        improved = monitored < history.best_loss - min_delta
        if improved or history.best_epoch is None:
            history.best_loss, history.best_epoch, waited = monitored, epoch, 0
            if early_stopping_patience is not None and restore_best_weights:
                best_state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
            if checkpoint_path is not None:
                from .io import save_checkpoint
                extra = {"train_loss": loss}
                if history.val_loss:
                    extra["val_loss"] = history.val_loss[-1]
                save_checkpoint(checkpoint_path, model, optimizer, scheduler, epoch=epoch,
                                **extra)
        else:
            waited += 1
        if verbose:
            parts = [f"epoch {epoch + 1}/{epochs}", f"train_loss {loss:.4g}"]
            if history.val_loss:
                parts.append(f"val_loss {history.val_loss[-1]:.4g}")
            parts += [f"{k} {v:.4g}" for k, v in m_values.items()]
            print("  ".join(parts))
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if early_stopping_patience is not None and waited >= early_stopping_patience:
            history.stopped_early = epoch + 1 < epochs
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


# ---- truncated backpropagation through time -------------------------------------------------------------
class TBPTTStep:
    """A ``step_fn`` for :func:`fit` that trains on consecutive chunks of long sequences.

    The model is called as ``model(x, state) -> (output, new_state)`` (``lfs.nn.LSTM``'s
    convention, with ``state = (h, c)``). The new state's values carry into the next chunk,
    but detached: the gradient of a chunk stops at its first step, which bounds the cost
    of a backward pass by the chunk length. ``reset()`` (called by ``fit`` before each pass)
    starts from a zero state again.

    Args:
        loss_fn: ``loss_fn(output, y) -> scalar Tensor``.
    """

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn
        self.state = None

    def reset(self):
        self.state = None

    def __call__(self, model, batch):
        x, y = batch[0], batch[1]
        output, state = model(x, self.state)
        self.state = detach_state(state)
        return self.loss_fn(output, y), output, y


def fit_tbptt(model, train_chunks, loss_fn, optimizer, epochs: int = 1, *, val_chunks=None,
              **kwargs) -> History:
    """:func:`fit` with a :class:`TBPTTStep`: ``train_chunks`` are consecutive ``(x, y)``
    chunks of the same streams (e.g. ``lfs.data.bptt_batches(batchify(ids, B), T)``), in
    order; the state carries across them within an epoch and restarts each epoch and for
    validation. Other keyword arguments go to :func:`fit`."""
    return fit(model, train_chunks, None, optimizer, epochs, val_data=val_chunks,
               step_fn=TBPTTStep(loss_fn), **kwargs)
