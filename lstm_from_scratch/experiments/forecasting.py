"""Chapter 9's experiments: LSTMs against baselines on three real series, and on a random walk.

    python -m lstm_from_scratch.experiments.forecasting --out book/data/forecasting.json

For each series (sunspots, CO2, El Nino; :mod:`lstm_from_scratch.data.series`): a chronological
split (70 % train, 10 % validation, 20 % test); every method forecasts ``horizon`` steps from
every test origin, using only the past; MAE, RMSE and MASE per step ahead. The LSTMs (direct,
recursive, quantile) are trained with several seeds on training origins only, with early
stopping on the validation origins. The baselines are the naive and seasonal naive forecasts,
a linear autoregression (recursive and direct, order chosen on validation) and a (S)ARIMA from
statsmodels, fitted on the training part. A second file (``--checkpoint``) holds the LSTM
trained on a generated random walk, for the chapter's stock-price section.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from .. import forecast as fc
from .. import functional as F
from .. import io, nn, optim
from ..autograd import no_grad
from ..backend import manual_seed
from ..data import DataLoader
from ..data.series import load_co2, load_elnino, load_sunspots
from ..train import fit
from .provenance import provenance, write_results

SPLIT = (0.7, 0.1)                    # train, validation; the test part is the last 20 %
QUANTILES = (0.05, 0.5, 0.95)         # a 90 % interval and the median
SERIES = {
    # transform "level": the LSTM sees the scaled series; "diff": its scaled first differences
    # arima: the candidates; the one with the lowest AIC on the training part is used
    "sunspots": dict(loader=load_sunspots, transform="level", window=24, horizon=10,
                     arima=[dict(order=(p, 0, q)) for p in (2, 3, 9) for q in (0, 1)]),
    "co2": dict(loader=load_co2, transform="diff", window=24, horizon=12,
                arima=[dict(order=(1, 1, 1), seasonal_order=(0, 1, 1, 12))]),
    "elnino": dict(loader=load_elnino, transform="level", window=24, horizon=12,
                   arima=[dict(order=(1, 0, 0), seasonal_order=(0, 1, 1, 12))]),
}
TRAIN = dict(hidden_size=32, lr=3e-3, batch_size=32, epochs=200, patience=20, clip=1.0)


# -- data ---------------------------------------------------------------------------------------

class Prepared:
    """A series, its split, its transform for the LSTM, and the windows at the origins.

    ``u`` is the transformed series aligned with ``y`` (``u[t]`` = y[t] for "level",
    y[t] - y[t-1] for "diff", with u[0] undefined); ``z = (u - mu) / sd`` with mu, sd from the
    training part. Direct targets are ``z[o + h]`` ("level") or ``sum_{k<=h} z[o + k]`` ("diff"),
    both affine in the level y[o + h], so :meth:`to_levels` maps forecasts (and quantiles) back.
    """

    def __init__(self, name, spec):
        s = spec["loader"]()
        self.name, self.series, self.spec = name, s, spec
        self.y = s.values
        self.m = s.period
        n = len(self.y)
        self.n_train = int(round(n * SPLIT[0]))
        self.n_val = int(round(n * (SPLIT[0] + SPLIT[1])))
        self.window, self.horizon = spec["window"], spec["horizon"]
        self.diff = spec["transform"] == "diff"
        u = np.full(n, np.nan)
        if self.diff:
            u[1:] = np.diff(self.y)
        else:
            u[:] = self.y
        self.u = u
        first = 1 if self.diff else 0
        self.mu = float(np.mean(u[first:self.n_train]))
        self.sd = float(np.std(u[first:self.n_train]))
        self.z = (u - self.mu) / self.sd
        self.lo = self.window + first                     # the first origin with a full window
        self.scale = fc.mase_scale(self.y[:self.n_train], self.m)

    def origins(self, part, horizon=None):
        H = self.horizon if horizon is None else horizon
        start, stop = {"train": (self.lo, self.n_train), "val": (self.n_train, self.n_val),
                       "test": (self.n_val, len(self.y))}[part]
        return fc.forecast_origins(len(self.y), start, H, stop=stop)

    def inputs(self, origins):
        X, _ = fc.windows_at(self.z, origins, self.window, 1)
        return X[..., None]                                # (N, window, 1)

    def targets(self, origins, horizon=None):
        H = self.horizon if horizon is None else horizon
        _, Z = fc.windows_at(self.z, origins, self.window, H)
        return np.cumsum(Z, axis=1) if self.diff else Z

    def to_levels(self, origins, t):
        """Direct-target space (N, H[, Q]) -> levels of y."""
        t = np.asarray(t, dtype=np.float64)
        extra = t.ndim - 2
        steps = np.arange(1, t.shape[1] + 1).reshape((1, -1) + (1,) * extra)
        if self.diff:
            last = self.y[origins - 1].reshape((-1, 1) + (1,) * extra)
            return last + self.sd * t + steps * self.mu
        return self.mu + self.sd * t

    def truth(self, origins):
        _, Y = fc.windows_at(self.y, origins, 1, self.horizon)
        return Y

    def scores(self, origins, pred):
        """Per step ahead: MAE, RMSE, MASE of level forecasts (N, H)."""
        Y = self.truth(origins)
        return {"mae": fc.mae(Y, pred, axis=0).tolist(),
                "rmse": fc.rmse(Y, pred, axis=0).tolist(),
                "mase": (fc.mae(Y, pred, axis=0) / self.scale).tolist()}


# -- the LSTM forecaster ------------------------------------------------------------------------

class Forecaster(nn.Module):
    """An LSTM over the window and a linear head on its last hidden state.

    x: (B, window, 1) -> (B, outputs), or (B, horizon, Q) for a quantile forecaster.
    """

    def __init__(self, hidden_size, horizon, n_quantiles=None, dtype=np.float64):
        super().__init__()
        self.horizon, self.n_quantiles = horizon, n_quantiles
        out = horizon * (n_quantiles or 1)
        self.lstm = nn.LSTM(1, hidden_size, batch_first=True, dtype=dtype, fused=True)
        self.head = nn.Linear(hidden_size, out, dtype=dtype)

    def forward(self, x):
        _, (h_n, _) = self.lstm(x)
        out = self.head(h_n[-1])
        if self.n_quantiles:
            out = out.reshape(out.shape[0], self.horizon, self.n_quantiles)
        return out

    def predict(self, X):
        """NumPy in, NumPy out, no gradients, in eval mode."""
        self.eval()
        with no_grad():
            ref = next(iter(self.parameters()))
            return self(F.tensor(np.asarray(X, dtype=np.float64), device=ref.device)).numpy()


def train_forecaster(prep, kind, seed, train=TRAIN):
    """Train one LSTM: kind "direct" (H outputs, MSE), "recursive" (one step, MSE, iterated)
    or "quantile" (H x 3 outputs, pinball loss). Returns (model, history, cpu seconds)."""
    H = 1 if kind == "recursive" else prep.horizon
    o_tr, o_va = prep.origins("train", H), prep.origins("val", H)
    X_tr, Y_tr = prep.inputs(o_tr), prep.targets(o_tr, H)
    X_va, Y_va = prep.inputs(o_va), prep.targets(o_va, H)
    manual_seed(seed)
    model = Forecaster(train["hidden_size"], H, len(QUANTILES) if kind == "quantile" else None)
    if kind == "quantile":
        loss_fn = lambda out, y: fc.pinball_loss(out, y, QUANTILES)   # noqa: E731
    else:
        loss_fn = nn.functional.mse_loss
    loader = DataLoader((X_tr, Y_tr), batch_size=train["batch_size"], shuffle=True, seed=seed)
    t0 = time.process_time()
    history = fit(model, loader, loss_fn, optim.Adam(model.parameters(), lr=train["lr"]),
                  epochs=train["epochs"], val_data=[(X_va, Y_va)],
                  early_stopping_patience=train["patience"], clip_grad_norm=train["clip"])
    return model, history, time.process_time() - t0


def lstm_forecast(prep, model, kind, origins):
    """Level forecasts (N, H) (and for "quantile" the quantiles (N, H, Q))."""
    X = prep.inputs(origins)
    if kind == "recursive":
        step = lambda w: model.predict(w[..., None])[:, 0]        # noqa: E731
        Z = fc.recursive_forecast(step, X[..., 0], prep.horizon)
        t = np.cumsum(Z, axis=1) if prep.diff else Z
        return prep.to_levels(origins, t), None
    out = model.predict(X)
    if kind == "quantile":
        q = prep.to_levels(origins, out)
        return q[..., QUANTILES.index(0.5)], q
    return prep.to_levels(origins, out), None


# -- baselines ----------------------------------------------------------------------------------

def ar_forecasts(prep, origins, order, strategy):
    """A linear AR on the transformed series u (levels, or differences), fitted on train."""
    first = 1 if prep.diff else 0
    u = prep.u[first:]                                 # u[first + i] -> index i
    ar = fc.LinearAR(order, strategy).fit(u[:prep.n_train - first], horizon=prep.horizon)
    f = ar.forecast(u, origins - first, prep.horizon)
    if prep.diff:
        return fc.undifference(prep.y[origins - 1], f)
    return f


def best_ar_order(prep, strategy):
    """The order (1 .. window) with the lowest validation MAE, averaged over steps ahead."""
    o = prep.origins("val")
    Y = prep.truth(o)
    errs = {p: fc.mae(Y, ar_forecasts(prep, o, p, strategy)) for p in range(1, prep.window + 1)}
    return min(errs, key=errs.get)


def arima_forecasts(prep, origins, spec, alpha=0.1):
    """(S)ARIMA fitted on the training part by maximum likelihood; at each origin the fitted
    parameters filter ``y[:o]`` (by extending the training fit with ``y[n_train:o]``) and
    forecast ``horizon`` steps with a (1 - alpha) interval."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = SARIMAX(prep.y[:prep.n_train], **spec).fit(disp=False)
        mean = np.empty((len(origins), prep.horizon))
        lo, hi = np.empty_like(mean), np.empty_like(mean)
        for k, o in enumerate(origins):
            r = res.extend(prep.y[prep.n_train:o]) if o > prep.n_train else res
            f = r.get_forecast(prep.horizon)
            mean[k] = f.predicted_mean
            ci = np.asarray(f.conf_int(alpha=alpha))
            lo[k], hi[k] = ci[:, 0], ci[:, 1]
    return mean, lo, hi, float(res.aic)


def best_arima(prep):
    """The candidate of ``spec["arima"]`` with the lowest AIC on the training part."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    if len(prep.spec["arima"]) == 1:
        return prep.spec["arima"][0]
    best, best_aic = None, np.inf
    for spec in prep.spec["arima"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aic = SARIMAX(prep.y[:prep.n_train], **spec).fit(disp=False).aic
        if aic < best_aic:
            best, best_aic = spec, aic
    return best


def baselines(prep):
    o = prep.origins("test")
    out = {"naive": prep.scores(o, fc.naive_forecast(prep.y, o, prep.horizon))}
    if prep.m > 1:
        out["seasonal_naive"] = prep.scores(
            o, fc.seasonal_naive_forecast(prep.y, o, prep.horizon, prep.m))
    for strategy in ("recursive", "direct"):
        p = best_ar_order(prep, strategy)
        out[f"ar_{strategy}"] = {"order": p, **prep.scores(o, ar_forecasts(prep, o, p, strategy))}
    spec = best_arima(prep)
    mean, lo, hi, aic = arima_forecasts(prep, o, spec)
    Y = prep.truth(o)
    out["arima"] = {"spec": {k: list(v) for k, v in spec.items()}, "aic": aic,
                    **prep.scores(o, mean),
                    "coverage90": fc.coverage(Y, lo, hi, axis=0).tolist(),
                    "width90": np.mean(hi - lo, axis=0).tolist()}
    return out, {"arima": mean, "arima_lo": lo, "arima_hi": hi}


# -- one series, all methods ----------------------------------------------------------------------

def run_lstm(name, kind, seeds, log=print):
    """Train the LSTMs of one kind on one series, one per seed; their scores and test forecasts."""
    prep = Prepared(name, SERIES[name])
    o = prep.origins("test")
    Y = prep.truth(o)
    runs = {"seeds": list(seeds), "mae": [], "rmse": [], "mase": [], "epochs": [],
            "best_epoch": [], "cpu_s": [], "val_loss": []}
    if kind == "quantile":
        runs.update(coverage90=[], width90=[])
    preds, forecasts = [], {}
    for seed in seeds:
        model, hist, cpu = train_forecaster(prep, kind, seed)
        pred, q = lstm_forecast(prep, model, kind, o)
        preds.append(pred)
        sc = prep.scores(o, pred)
        for k in ("mae", "rmse", "mase"):
            runs[k].append(sc[k])
        runs["epochs"].append(hist.epochs)
        runs["best_epoch"].append(hist.best_epoch)
        runs["val_loss"].append(hist.val_loss)
        runs["cpu_s"].append(round(cpu, 2))
        if q is not None:
            runs["coverage90"].append(fc.coverage(Y, q[..., 0], q[..., -1], axis=0).tolist())
            runs["width90"].append(np.mean(q[..., -1] - q[..., 0], axis=0).tolist())
            forecasts.setdefault("quantile_lo", []).append(q[..., 0])
            forecasts.setdefault("quantile_hi", []).append(q[..., -1])
        log(f"{name} {kind} seed {seed}: {hist.epochs} epochs, {cpu:.1f} s CPU, "
            f"MASE h=1 {sc['mase'][0]:.3f}, mean {np.mean(sc['mase']):.3f}")
    preds = np.array(preds)                               # (S, N, H)
    forecasts[f"lstm_{kind}"] = preds
    ens = preds.mean(axis=0)
    runs["ensemble"] = prep.scores(o, ens)
    if kind != "quantile" and len(seeds) > 1:
        # a seed-ensemble interval: mean +- 1.645 standard deviations across seeds
        half = 1.645 * preds.std(axis=0, ddof=1)
        runs["ensemble"]["coverage90"] = fc.coverage(Y, ens - half, ens + half, axis=0).tolist()
        runs["ensemble"]["width90"] = np.mean(2 * half, axis=0).tolist()
    return runs, forecasts


def run_baselines(name, log=print):
    """The baselines of one series, the series' facts, and the baseline test forecasts."""
    prep = Prepared(name, SERIES[name])
    o = prep.origins("test")
    t0 = time.process_time()
    base, base_fc = baselines(prep)
    log(f"{name}: baselines in {time.process_time() - t0:.1f} s CPU")
    rec = {"n": len(prep.y), "n_train": prep.n_train, "n_val": prep.n_val,
           "window": prep.window, "horizon": prep.horizon, "m": prep.m,
           "transform": prep.spec["transform"], "mase_scale": prep.scale,
           "test_origins": [int(o[0]), int(o[-1])], "baselines": base, "lstm": {}}
    return rec, {"y": prep.truth(o), **base_fc}


def run_series(name, seeds, kinds=("direct", "recursive", "quantile"), log=print):
    """Everything for one series, in this process."""
    rec, forecasts = run_baselines(name, log)
    for kind in kinds:
        rec["lstm"][kind], f = run_lstm(name, kind, seeds, log)
        forecasts.update(f)
    return rec, forecasts


def _job(task):
    """One unit of work for a pool of processes: ("baselines", name) or ("lstm", name, kind,
    seeds) or ("random_walk", checkpoint)."""
    if task[0] == "baselines":
        return run_baselines(task[1])
    if task[0] == "lstm":
        return run_lstm(*task[1:])
    return run_random_walk(task[1])


# -- the random walk ------------------------------------------------------------------------------

RANDOM_WALK = dict(n=1500, seed=2024, window=30, hidden_size=32, lr=3e-3, epochs=60,
                   patience=15, batch_size=32, model_seed=0)


def random_walk(n=RANDOM_WALK["n"], seed=RANDOM_WALK["seed"]):
    """A 'stock price': 100 * exp(cumulative sum of N(0, 0.01^2) daily log returns), (n,)."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(0.01 * rng.standard_normal(n)))


class RandomWalkPrep(Prepared):
    """The random walk, modelled the way many tutorials do: scaled levels, one step ahead."""

    def __init__(self):
        self.y = random_walk()
        self.m, self.diff, self.spec = 1, False, {"transform": "level"}
        n = len(self.y)
        self.n_train, self.n_val = int(round(n * SPLIT[0])), int(round(n * sum(SPLIT)))
        self.window, self.horizon = RANDOM_WALK["window"], 1
        self.u = self.y
        self.mu = float(np.mean(self.y[:self.n_train]))
        self.sd = float(np.std(self.y[:self.n_train]))
        self.z = (self.y - self.mu) / self.sd
        self.lo = self.window
        self.scale = fc.mase_scale(self.y[:self.n_train])


def run_random_walk(checkpoint, log=print):
    prep = RandomWalkPrep()
    cfg = dict(TRAIN, hidden_size=RANDOM_WALK["hidden_size"], lr=RANDOM_WALK["lr"],
               epochs=RANDOM_WALK["epochs"], patience=RANDOM_WALK["patience"])
    model, hist, cpu = train_forecaster(prep, "direct", RANDOM_WALK["model_seed"], cfg)
    io.save(model.state_dict(), checkpoint)
    o = prep.origins("test")
    pred, _ = lstm_forecast(prep, model, "direct", o)
    rec = {"config": RANDOM_WALK, "epochs": hist.epochs, "best_epoch": hist.best_epoch,
           "cpu_s": round(cpu, 2), "lstm": prep.scores(o, pred),
           "naive": prep.scores(o, fc.naive_forecast(prep.y, o, 1))}
    log(f"random walk: {hist.epochs} epochs, {cpu:.1f} s CPU, LSTM MAE {rec['lstm']['mae'][0]:.4f}"
        f", naive {rec['naive']['mae'][0]:.4f}")
    return rec


def _round(x, nd=4):
    return np.round(np.asarray(x, dtype=np.float64), nd).tolist()


def _children_cpu():
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="book/data/forecasting.json")
    ap.add_argument("--forecasts", default="book/data/forecasting_forecasts.npz",
                    help="the test forecasts of every method, for the chapter's figures")
    ap.add_argument("--checkpoint", default="book/data/forecasting_randomwalk.npz")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--series", nargs="*", default=list(SERIES))
    ap.add_argument("--jobs", type=int, default=1, help="processes to run the runs in")
    args = ap.parse_args(argv)
    meta = provenance()
    t_wall, t_cpu = time.time(), time.process_time()
    results = {"provenance": meta, "split": SPLIT, "quantiles": QUANTILES, "train": TRAIN,
               "series": {}}
    seeds = list(range(args.seeds))
    kinds = ("direct", "recursive", "quantile")
    tasks = [("baselines", n) for n in args.series]
    tasks += [("lstm", n, k, seeds) for n in args.series for k in kinds]
    tasks += [("random_walk", args.checkpoint)]
    if args.jobs > 1:
        # independent runs in separate processes; each one is seeded, so the results do not
        # depend on the number of processes
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
            outputs = pool.map(_job, tasks, chunksize=1)
    else:
        outputs = [_job(t) for t in tasks]
    arrays = {}
    for task, out in zip(tasks, outputs):
        if task[0] == "baselines":
            results["series"][task[1]], forecasts = out
        elif task[0] == "lstm":
            results["series"][task[1]]["lstm"][task[2]], forecasts = out
        else:
            results["random_walk"], forecasts = out, {}
        name = task[1]
        for k, v in forecasts.items():
            arrays[f"{name}/{k}"] = np.asarray(v, dtype=np.float64)
    meta["wall_time_s"] = round(time.time() - t_wall, 1)
    meta["cpu_time_s"] = round(time.process_time() - t_cpu + _children_cpu(), 1)
    io.save(arrays, args.forecasts)
    write_results(args.out, results)
    print(f"wrote {args.out}, {args.forecasts}, {args.checkpoint} in {meta['wall_time_s']} s")


if __name__ == "__main__":
    main()
