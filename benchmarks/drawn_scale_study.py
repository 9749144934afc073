"""Can the scale of a scaler-less MLP's inputs be read off its first layer? (issue #12, item 3)

Fits MLPs without a scaler on data at known per-feature mean/std, estimates (loc, spread)
from W1, b1 by several methods, and compares: the estimate against the truth, and the
dead-unit counts `inspect` reports on rows drawn at that estimate against those on the data.

    .venv/bin/python benchmarks/drawn_scale_study.py [--quick]
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from mlpexport.data import draw_rows
from mlpexport.extract import extract
from mlpexport.inspection import unit_activity

warnings.simplefilter("ignore", ConvergenceWarning)
F = 12


def data(mean, spread, n=1500, seed=0, f=F):
    """Raw rows at `mean`/`spread` per feature (scalars or arrays) and a target that depends on
    the standardized features, so a fitted model has something to learn at that scale."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, f))
    X = np.broadcast_to(mean, (f,)) + np.broadcast_to(spread, (f,)) * Z
    y = np.sin(Z[:, 0]) + Z[:, 1] * Z[:, 2] + 0.5 * Z[:, 3] - np.abs(Z[:, 4]) + 0.1 * rng.standard_normal(n)
    return X, y


# ----------------------------------------------------------------- estimators
def hyperplanes(W, b):
    """Unit normals, offsets: unit i's hyperplane is {x : n_i . x = d_i}."""
    norm = np.linalg.norm(W, axis=0)
    return W / norm, -b / norm


def est_none(W, b, est=None):
    return np.zeros(W.shape[0]), np.ones(W.shape[0])


def est_foot_median(W, b, est=None):
    """Feet of the perpendiculars from the origin, p_i = -b_i w_i / |w_i|^2: median, MAD."""
    N, d = hyperplanes(W, b)
    P = (N * d).T  # h x f
    loc = np.median(P, axis=0)
    spread = 1.4826 * np.median(np.abs(P - loc), axis=0)
    return loc, spread


def est_lsq(W, b, est=None):
    """The point nearest (least squares) to every unit's hyperplane; spread from the
    distances of the hyperplanes to that point (RMS), the same for every feature."""
    N, d = hyperplanes(W, b)
    loc, *_ = np.linalg.lstsq(N.T, d, rcond=None)
    r = N.T @ loc - d
    s = np.sqrt(np.mean(r ** 2)) if len(r) > W.shape[0] else np.nan
    return loc, np.full(W.shape[0], s)


def est_lsq_irls(W, b, est=None, iters=50):
    """Like est_lsq but robust (IRLS towards an L1 fit), spread = 1.4826 * MAD of the distances."""
    N, d = hyperplanes(W, b)
    A = N.T
    loc, *_ = np.linalg.lstsq(A, d, rcond=None)
    for _ in range(iters):
        r = A @ loc - d
        w = 1 / np.maximum(np.abs(r), 1e-9)
        loc, *_ = np.linalg.lstsq(A * np.sqrt(w)[:, None], d * np.sqrt(w), rcond=None)
    r = A @ loc - d
    return loc, np.full(W.shape[0], 1.4826 * np.median(np.abs(r)))


def est_inv_rms(W, b, est=None):
    """The earlier attempt: spread = 1 / RMS of the first layer's weight rows, loc 0."""
    return np.zeros(W.shape[0]), 1 / np.sqrt(np.mean(W ** 2, axis=1))


def _adam(est):
    """Adam's moment estimates of the first layer's gradients (kept on a fitted MLP as
    `_optimizer`): per feature j and unit i, g_W[j, i] = mean_n x_nj d_ni while
    g_b[i] = mean_n d_ni, so sqrt(v_W / v_b) is an RMS of x_j and m_W / m_b a mean of x_j,
    both weighted by the unit's back-propagated errors d. None without adam state."""
    opt = getattr(est, "_optimizer", None)
    if opt is None or not hasattr(opt, "vs"):
        return None
    n = len(est.coefs_)
    vW, vb, mW, mb = opt.vs[0], opt.vs[n], opt.ms[0], opt.ms[n]
    live = vb > 0  # a unit dead on every batch has no gradient
    if not live.any():
        return None
    rms = np.median(np.sqrt(vW[:, live] / vb[live]), axis=1)
    mean = np.median(mW[:, live] / np.where(mb[live] != 0, mb[live], np.nan), axis=1)
    return rms, mean


def est_adam_rms(W, b, est=None):
    """loc 0, spread = the gradient-weighted RMS of each raw feature (from Adam's v)."""
    got = _adam(est)
    if got is None:
        return np.full(W.shape[0], np.nan), np.full(W.shape[0], np.nan)
    return np.zeros(W.shape[0]), got[0]


def est_adam_moments(W, b, est=None):
    """loc = Adam's first-moment mean of each feature clipped to +-RMS, spread = what
    the RMS leaves (at least a tenth of the RMS)."""
    got = _adam(est)
    if got is None:
        return np.full(W.shape[0], np.nan), np.full(W.shape[0], np.nan)
    rms, mean = got
    loc = np.clip(np.nan_to_num(mean), -rms, rms)
    return loc, np.sqrt(np.maximum(rms ** 2 - loc ** 2, (0.1 * rms) ** 2))


TRUTH = {}  # run() puts the data's own mean/std here: the ceiling an estimate could reach


def est_oracle(W, b, est=None):
    """The data's true per-feature mean and std (not available to mlpexport)."""
    return TRUTH["loc"], TRUTH["spread"]


METHODS = {"N(0,1)": est_none, "feet median/MAD": est_foot_median, "lsq": est_lsq,
           "lsq-L1": est_lsq_irls, "1/rms(W)": est_inv_rms,
           "adam RMS, loc 0": est_adam_rms, "adam moments": est_adam_moments,
           "oracle (true mean/std)": est_oracle}


# ----------------------------------------------------------------- measures
def dead(net, X):
    return [len(r.dead) for r in unit_activity(net, X) if r.activation == "relu"]


def coverage(W, b, Xtrue, Xdrawn):
    """Share of drawn first-layer pre-activations inside the [1%, 99%] range they have on
    the data, averaged over units (1 = same range; 0 = disjoint)."""
    Zt, Zd = Xtrue @ W + b, Xdrawn @ W + b
    lo, hi = np.quantile(Zt, 0.01, axis=0), np.quantile(Zt, 0.99, axis=0)
    return float(((Zd >= lo) & (Zd <= hi)).mean())


def fmt(v):
    return "nan" if not np.isfinite(v) else f"{v:.3g}"


def run(cases, out=sys.stdout):
    """Prints one markdown row per case: the truth, where the first layer's hyperplanes are,
    and per method the estimate (median over features) and the dead units on drawn rows."""
    print("| case | true mean/std | units crossing data | hyperplane dist / data-centre dist | "
          "dead on data | " + " | ".join(f"{m}: loc/spread, dead" for m in METHODS) + " |", file=out)
    print("|" + "---|" * (5 + len(METHODS)), file=out)
    rows = []
    for name, make, mean, spread in cases:
        X, y = data(mean, spread)
        Xfit, Xtest = X[:1000], X[1000:]
        est = make()
        if isinstance(est, MLPClassifier):
            est.fit(Xfit, (y[:1000] > np.median(y)).astype(int))
        else:
            est.fit(Xfit, y[:1000])
        net = extract(est)
        W, b = net.layers[0].W, net.layers[0].b
        tm, ts = X.mean(axis=0), X.std(axis=0)
        TRUTH.update(loc=tm, spread=ts)
        Z = Xtest @ W + b
        crossing = float(((Z > 0).any(axis=0) & (Z < 0).any(axis=0)).mean())
        dist = np.median(np.abs(b) / np.linalg.norm(W, axis=0))
        centre = np.linalg.norm(tm)
        true_dead = dead(net, Xtest)
        cells = []
        for mname, m in METHODS.items():
            loc, sp = m(W, b, est)
            if np.isfinite(loc).all() and np.isfinite(sp).all() and (sp > 0).all():
                Xd = draw_rows(replace(net, input_loc=loc, input_spread=sp), n=500)[:500]
                d = dead(net, Xd)
                loc_err = float(np.median(np.abs(loc - tm) / ts))  # in true spreads
                factor = float(np.exp(np.median(np.abs(np.log(sp / ts)))))  # spread off by
                cells.append(f"{fmt(np.median(loc))}/{fmt(np.median(sp))}, {d}")
            else:
                d, loc_err, factor = None, np.nan, np.nan
                cells.append("n/a (fewer units than features, or no adam state)")
            rows.append(dict(case=name, mean=np.mean(mean), spread=np.mean(spread), method=mname,
                             loc_err=loc_err, factor=factor, dead_true=true_dead, dead_drawn=d))
        print(f"| {name} | {np.mean(mean):g}/{np.mean(spread):.3g} | {crossing:.2f} | "
              f"{fmt(dist)} / {fmt(centre)} | {true_dead} | " + " | ".join(cells) + " |",
              file=out, flush=True)
    return rows


def summary(rows, out=sys.stdout):
    """Per method: how many cases land within 3x of the true spread and within 1 true spread
    of the true location, and how many reproduce the dead-unit counts on the data."""
    print("\n| method | cases it applies to | spread within 3x | loc within 1 std | both | "
          "dead counts equal |", file=out)
    print("|---|---|---|---|---|---|", file=out)
    for m in METHODS:
        r = [x for x in rows if x["method"] == m and x["dead_drawn"] is not None]
        sp = sum(1 for x in r if x["factor"] <= 3)
        lo = sum(1 for x in r if x["loc_err"] <= 1)
        both = sum(1 for x in r if x["factor"] <= 3 and x["loc_err"] <= 1)
        relu = [x for x in r if x["dead_true"]]
        same = sum(1 for x in relu if x["dead_drawn"] == x["dead_true"])
        print(f"| {m} | {len(r)} | {sp} | {lo} | {both} | {same} of {len(relu)} relu |", file=out)


def mlp(cls, hidden, act, seed=0, **kw):
    return lambda: cls(hidden_layer_sizes=hidden, activation=act, random_state=seed, **kw)


def cases(quick=False):
    mixed_mean = np.linspace(-300, 1000, F)
    mixed_spread = np.geomspace(1, 100, F)
    scales = [(0, 1), (60, 20), (-300, 1), (1000, 100), (0, 20), (60, 1), (mixed_mean, mixed_spread)]
    models = [("reg relu (11,10)", mlp(MLPRegressor, (11, 10), "relu")),
              ("reg tanh (32,)", mlp(MLPRegressor, (32,), "tanh")),
              ("clf relu (32,)", mlp(MLPClassifier, (32,), "relu")),
              ("reg relu (64,) lbfgs", mlp(MLPRegressor, (64,), "relu", solver="lbfgs", max_iter=2000)),
              ("reg relu (11,10) 2000it", mlp(MLPRegressor, (11, 10), "relu", max_iter=2000))]
    if quick:
        models = models[:2]
    return [(f"{m}", make, mean, spread) for m, make in models for mean, spread in scales]


if __name__ == "__main__":
    summary(run(cases("--quick" in sys.argv)))
