"""Chapter 10's experiments: classifying the speakers of the Japanese Vowels set.

    python -m lstm_from_scratch.experiments.classification --out book/data/classification.json

Uni- and bidirectional LSTMs with one and two layers (dropout between layers), three ways to
pool the padded output over time, several seeds each, against a logistic regression on summary
features of each sequence. The data (:func:`lstm_from_scratch.data.uea.load_japanese_vowels`)
has a fixed train/test split; 6 training utterances per speaker are held out for validation
(early stopping). Accuracy and the confusion matrix are measured on the test split.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from .. import functional as F
from .. import io, nn, optim
from ..autograd import no_grad
from ..backend import manual_seed
from ..data.batching import pad_sequences
from ..data.uea import load_japanese_vowels
from ..nn.utils_rnn import last_valid, masked_mean, reverse_padded
from ..train import fit
from .provenance import provenance, write_results

N_CLASSES = 9
TRAIN = dict(lr=1e-2, batch_size=32, epochs=80, patience=15, clip=1.0, val_per_class=6)
MODELS = {
    # name: (num_layers, bidirectional, dropout, pooling); all with hidden_size 32
    "uni-1 last-padded": (1, False, 0.0, "last_padded"),
    "uni-1": (1, False, 0.0, "last"),
    "uni-1 mean": (1, False, 0.0, "mean"),
    "bi-1": (1, True, 0.0, "last"),
    "uni-2 dropout": (2, False, 0.3, "last"),
    "bi-2 dropout": (2, True, 0.3, "last"),
}
HIDDEN = 32
CHECKPOINTS = {"uni-1": "uni1", "uni-1 last-padded": "uni1_last_padded"}   # first seed saved


class SequenceClassifier(nn.Module):
    """LSTM layers over a padded batch, a pooling over time, and a linear head.

    Each layer and direction is a one-layer ``nn.LSTM``; the backward direction reads
    ``reverse_padded(x)`` and its output is reversed back, so on padded batches every real
    position gets exactly what it would get from the sequence alone. Between layers the
    concatenated output passes through dropout (as ``nn.LSTM(dropout=...)``).

    forward(x, lengths): x (T, B, I) padded time-major, lengths (B,) -> logits (B, C).
    pooling: "last" (forward h at t = L_b - 1 and, if bidirectional, backward h at t = 0),
    "mean" (mean over the real steps), or "last_padded" (the output at t = T - 1: the mistake).
    """

    def __init__(self, input_size, hidden_size, num_classes, num_layers=1, bidirectional=False,
                 dropout=0.0, pooling="last", fused=True, dtype=np.float64):
        super().__init__()
        if pooling not in ("last", "mean", "last_padded"):
            raise ValueError(f"SequenceClassifier: unknown pooling {pooling!r}")
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.directions = 2 if bidirectional else 1
        self.pooling = pooling
        D = self.directions
        self.rnns = nn.ModuleList([
            nn.LSTM(input_size if layer == 0 else D * hidden_size, hidden_size, fused=fused,
                    dtype=dtype)
            for layer in range(num_layers) for _ in range(D)])
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(D * hidden_size, num_classes, dtype=dtype)

    def features(self, x, lengths):
        """The last layer's output (T, B, D*H): [forward h_t ; backward h_t] at real steps."""
        D = self.directions
        for layer in range(self.num_layers):
            out, _ = self.rnns[layer * D](x)
            if D == 2:
                back, _ = self.rnns[layer * D + 1](reverse_padded(x, lengths))
                out = F.concat([out, reverse_padded(back, lengths)], axis=-1)
            x = self.drop(out) if layer < self.num_layers - 1 else out
        return x

    def pool(self, out, lengths):
        H = self.hidden_size
        if self.pooling == "mean":
            return masked_mean(out, lengths)
        if self.pooling == "last_padded":
            return out[-1]
        last = last_valid(out[:, :, :H], lengths)           # forward: after step L_b
        if self.directions == 1:
            return last
        return F.concat([last, out[0, :, H:]], axis=-1)     # backward: after reading all

    def forward(self, x, lengths):
        return self.head(self.pool(self.features(x, lengths), lengths))

    def load_lstm(self, lstm):
        """Copy the weights of an ``nn.LSTM`` (or a torch state dict of one) with the same
        layers and directions: ``weight_ih_l{k}[_reverse]`` -> ``rnns[k*D + d].weight_ih_l0``."""
        state = lstm.state_dict() if hasattr(lstm, "state_dict") else lstm
        D = self.directions
        for layer in range(self.num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                self.rnns[layer * D + d].load_state_dict(
                    {f"{n}_l0": state[n + sfx] for n in ("weight_ih", "weight_hh", "bias_ih",
                                                           "bias_hh")})
        return self


def count_parameters(model) -> int:
    return int(sum(p.numpy().size for p in model.parameters()))


# -- data -----------------------------------------------------------------------------------------

def load_data(val_per_class=TRAIN["val_per_class"], seed=0):
    """Train / validation / test, each (list of (L, 12) arrays, labels); channels standardised
    with the mean and standard deviation of all training frames. The validation part is the
    first ``val_per_class`` utterances of each speaker in a shuffled order (fixed by ``seed``)."""
    seqs, y = load_japanese_vowels("train")
    test_seqs, y_test = load_japanese_vowels("test")
    rng = np.random.default_rng(seed)
    val_idx = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:val_per_class]
                                      for c in range(N_CLASSES)]))
    is_val = np.zeros(len(y), bool)
    is_val[val_idx] = True
    frames = np.concatenate([s for s, v in zip(seqs, is_val) if not v])
    mu, sd = frames.mean(axis=0), frames.std(axis=0)
    norm = lambda ss: [(s - mu) / sd for s in ss]                      # noqa: E731
    tr = norm([s for s, v in zip(seqs, is_val) if not v]), y[~is_val]
    va = norm([s for s, v in zip(seqs, is_val) if v]), y[is_val]
    return tr, va, (norm(test_seqs), y_test)


def batches(seqs, y, batch_size, shuffle=False, seed=0):
    """Padded batches (x (T_batch, B, 12), lengths (B,), y (B,)); T_batch = the longest in the
    batch. With ``shuffle`` the order is a permutation drawn from ``seed``."""
    order = np.random.default_rng(seed).permutation(len(y)) if shuffle else np.arange(len(y))
    out = []
    for start in range(0, len(y), batch_size):
        idx = order[start:start + batch_size]
        x, lengths, _ = pad_sequences([seqs[i] for i in idx], batch_first=False)
        out.append((x, lengths, y[idx]))
    return out


def _step(model, batch):
    x, lengths, y = batch
    logits = model(x, lengths.numpy())
    return nn.functional.cross_entropy(logits, y), logits, y


def predict(model, seqs, batch_size=512):
    """Class probabilities (N, C) as NumPy, in eval mode."""
    model.eval()
    ref = next(iter(model.parameters()))
    out = []
    with no_grad():
        for x, lengths, _ in batches(seqs, np.zeros(len(seqs), np.int64), batch_size):
            logits = model(F.tensor(x, dtype=ref.dtype, device=ref.device), lengths)
            out.append(F.softmax(logits, axis=-1).numpy())
    return np.concatenate(out)


def train_classifier(name, seed, data, train=TRAIN, hidden_size=HIDDEN):
    """Train one model of ``MODELS``; returns (model, history, cpu seconds)."""
    (tr_x, tr_y), (va_x, va_y), _ = data
    layers, bi, dropout, pooling = MODELS[name]
    manual_seed(seed)
    model = SequenceClassifier(12, hidden_size, N_CLASSES, layers, bi, dropout, pooling)
    train_batches = lambda epoch: batches(tr_x, tr_y, train["batch_size"], True,   # noqa: E731
                                          seed=seed * 1000 + epoch)
    t0 = time.process_time()
    history = fit(model, train_batches, None, optim.Adam(model.parameters(), lr=train["lr"]),
                  epochs=train["epochs"], val_data=batches(va_x, va_y, 512), step_fn=_step,
                  early_stopping_patience=train["patience"], clip_grad_norm=train["clip"])
    return model, history, time.process_time() - t0


def confusion_matrix(y_true, y_pred, n=N_CLASSES):
    """(n, n) counts: row = true class, column = predicted class."""
    cm = np.zeros((n, n), np.int64)
    np.add.at(cm, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return cm


# -- the non-sequential baseline ------------------------------------------------------------------

def summary_features(seqs):
    """Per utterance, for each of the 12 channels: mean, standard deviation, minimum, maximum,
    first and last value; and the length: (N, 73). Order in time is lost except for the first
    and last frames."""
    rows = [np.concatenate([s.mean(0), s.std(0), s.min(0), s.max(0), s[0], s[-1], [len(s)]])
            for s in seqs]
    return np.array(rows)


class LogisticRegression:
    """Multinomial logistic regression with an L2 penalty, ``lfs.nn.Linear`` + cross-entropy,
    fitted by full-batch Adam with a decaying step to convergence (the problem is convex: the
    seed does not matter).

    The objective is ``mean cross-entropy + l2 / 2 * |W|^2`` (the bias is not penalised), the
    same as scikit-learn's ``LogisticRegression(C=1 / (l2 * N))``.
    """

    def __init__(self, l2=1e-3, steps=1500, lr=0.05, n_classes=N_CLASSES):
        self.l2, self.steps, self.lr, self.n_classes = l2, steps, lr, n_classes

    def fit(self, X, y):
        X = np.asarray(X, np.float64)
        self.mu_, self.sd_ = X.mean(0), X.std(0) + 1e-12
        Xs = F.tensor((X - self.mu_) / self.sd_)
        manual_seed(0)
        self.linear = nn.Linear(X.shape[1], self.n_classes, dtype=np.float64)
        opt = optim.Adam(self.linear.parameters(), lr=self.lr)
        for step in range(self.steps):
            # the learning rate decays linearly to zero, so Adam settles on the optimum
            opt.param_groups[0]["lr"] = self.lr * (1 - step / self.steps)
            loss = nn.functional.cross_entropy(self.linear(Xs), y) \
                + 0.5 * self.l2 * (self.linear.weight ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        self.loss_ = float(loss.item())
        return self

    def predict_proba(self, X):
        Xs = F.tensor((np.asarray(X, np.float64) - self.mu_) / self.sd_)
        with no_grad():
            return F.softmax(self.linear(Xs), axis=-1).numpy()


def run_baseline(data, l2_grid=(1e-4, 1e-3, 1e-2, 1e-1)):
    """The L2 strength with the best validation accuracy, then refitted on train + validation."""
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = data
    val_acc = {}
    for l2 in l2_grid:
        m = LogisticRegression(l2).fit(summary_features(tr_x), tr_y)
        val_acc[l2] = float(np.mean(m.predict_proba(summary_features(va_x)).argmax(1) == va_y))
    best = max(l2_grid, key=lambda k: (val_acc[k], -k))
    m = LogisticRegression(best).fit(summary_features(tr_x + va_x), np.concatenate([tr_y, va_y]))
    pred = m.predict_proba(summary_features(te_x)).argmax(1)
    return {"l2": best, "val_accuracy": val_acc, "n_parameters": 73 * N_CLASSES + N_CLASSES,
            "test_accuracy": float(np.mean(pred == te_y)),
            "confusion": confusion_matrix(te_y, pred).tolist()}


# -- the sweep ------------------------------------------------------------------------------------

def run_one(name, seed, data, checkpoint=None, log=print):
    """Train one model with one seed; its test results (and weights, if ``checkpoint``)."""
    _, _, (te_x, te_y) = data
    model, hist, cpu = train_classifier(name, seed, data)
    pred = predict(model, te_x).argmax(1)
    acc = float(np.mean(pred == te_y))
    if checkpoint:
        io.save(model.state_dict(), checkpoint)
    out = {"test_accuracy": acc, "epochs": hist.epochs, "best_epoch": hist.best_epoch,
           "cpu_s": round(cpu, 2), "val_loss": hist.val_loss,
           "confusion": confusion_matrix(te_y, pred), "n_parameters": count_parameters(model)}
    if name.endswith("last-padded"):
        # the same model on each test utterance alone (no padding at all)
        alone = np.array([predict(model, [s]).argmax(1)[0] for s in te_x])
        out["test_accuracy_unpadded"] = float(np.mean(alone == te_y))
        out["changed_by_padding"] = float(np.mean(alone != pred))
    log(f"{name} seed {seed}: {hist.epochs} epochs, {cpu:.1f} s CPU, test accuracy {acc:.4f}")
    return out


def collect(name, seeds, outs):
    """The per-seed results of one model as one record (confusion matrices summed)."""
    rec = {"seeds": list(seeds), "n_parameters": outs[0]["n_parameters"],
           "confusion": sum(o["confusion"] for o in outs).tolist()}
    for key in ("test_accuracy", "epochs", "best_epoch", "cpu_s", "val_loss",
                "test_accuracy_unpadded", "changed_by_padding"):
        if key in outs[0]:
            rec[key] = [o[key] for o in outs]
    return rec


_DATA = None


def _job(task):
    global _DATA
    if _DATA is None:
        _DATA = load_data()
    return run_one(*task[:2], _DATA, checkpoint=task[2])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="book/data/classification.json")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--checkpoints", default="book/data",
                    help="folder for the first seed's weights of " + ", ".join(CHECKPOINTS))
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--jobs", type=int, default=1, help="processes to run the runs in")
    args = ap.parse_args(argv)
    meta = provenance()
    t_wall, t_cpu = time.time(), time.process_time()
    data = load_data()
    results = {"provenance": meta, "train": TRAIN, "hidden_size": HIDDEN,
               "sizes": {"train": len(data[0][1]), "val": len(data[1][1]),
                         "test": len(data[2][1])},
               "baseline": run_baseline(data), "models": {}}
    print(f"logistic regression: test accuracy {results['baseline']['test_accuracy']:.4f}")
    seeds = list(range(args.seeds))
    tasks = []
    for name in args.models:
        for seed in seeds:
            ckpt = None
            if name in CHECKPOINTS and seed == seeds[0]:
                ckpt = f"{args.checkpoints}/classification_{CHECKPOINTS[name]}.npz"
            tasks.append((name, seed, ckpt))
    if args.jobs > 1:
        # independent, seeded runs in separate processes: the results do not depend on --jobs
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            outputs = pool.map(_job, tasks, chunksize=1)
    else:
        outputs = [run_one(*t[:2], data, checkpoint=t[2]) for t in tasks]
    for name in args.models:
        outs = [o for t, o in zip(tasks, outputs) if t[0] == name]
        results["models"][name] = collect(name, seeds, outs)
    meta["wall_time_s"] = round(time.time() - t_wall, 1)
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    meta["cpu_time_s"] = round(time.process_time() - t_cpu + children.ru_utime
                               + children.ru_stime, 1)
    write_results(args.out, results)
    print(f"wrote {args.out} in {meta['wall_time_s']} s")


if __name__ == "__main__":
    main()
