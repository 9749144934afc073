"""PNG plots (matplotlib, an optional extra: pip install 'mlpexport[plot]')."""
from __future__ import annotations

import io
import re

import numpy as np

from .errors import ExportError, UsageError
from .network import Network, evaluate, hidden


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", text or "")
    if not m or not (100 <= int(m.group(1)) <= 5000 and 100 <= int(m.group(2)) <= 5000):
        raise UsageError(f"--plot-size {text!r} must be WIDTHxHEIGHT in pixels, e.g. 900x600.")
    return int(m.group(1)), int(m.group(2))


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ExportError("plots need matplotlib: pip install 'mlpexport[plot]'.") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    fig.clf()
    return buf.getvalue()


def parity_png(samples: dict, size=(900, 600)) -> bytes:
    """samples: {export: (got outputs, scikit-learn outputs)}. Left: each export's
    values against scikit-learn's; right: the distribution of absolute errors."""
    plt = _pyplot()
    fig, (ax, hx) = plt.subplots(1, 2, figsize=(size[0] / 100, size[1] / 100))
    for target, (got, want) in samples.items():
        # the numbers behind the labels: probabilities, else the scores (LinearSVC, ...)
        key = next(k for k in ("predict_proba", "decision_function", "predict") if k in want)
        w = np.asarray(want[key], dtype=np.float64).ravel()
        g = np.asarray(got[key], dtype=np.float64).ravel()
        ax.scatter(w, g, s=6, alpha=0.6, label=target)
        err = np.abs(g - w)
        err = err[np.isfinite(err)]
        floor = 1e-18
        hx.hist(np.log10(np.maximum(err, floor)), bins=40, alpha=0.5, label=target)
    ax.set_xlabel("scikit-learn")
    ax.set_ylabel("export")
    ax.set_title("export vs scikit-learn")
    ax.legend()
    hx.set_xlabel("log10 |export - scikit-learn|  (1e-18 = exact)")
    hx.set_ylabel("values")
    hx.set_title("absolute errors")
    hx.legend()
    fig.tight_layout()
    return _png(fig)


def units_png(net: Network, X, size=(900, 600)) -> bytes:
    """One input: the fitted curve over the data range, the model at the data points and,
    as thin lines, each last-layer hidden unit's contribution (output weight x
    activation), which shows the kinks of a ReLU fit. Wider inputs: a heatmap of unit
    activity over the rows."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(size[0] / 100, size[1] / 100))
    X = np.asarray(X, dtype=np.float64)
    if net.n_features == 1 and len(net.layers) > 1:
        lo, hi = X[:, 0].min(), X[:, 0].max()
        grid = np.linspace(lo, hi, 400)[:, None]
        out = evaluate(net, grid)
        curve = out.get("predict_proba", out["predict"])
        curve = np.asarray(curve, dtype=np.float64).reshape(len(grid), -1)[:, -1]
        at_data = np.asarray(evaluate(net, X).get("predict_proba", evaluate(net, X)["predict"]),
                             dtype=np.float64).reshape(len(X), -1)[:, -1]
        ax.scatter(X[:, 0], at_data, s=8, color="black", alpha=0.5, label="model at the data")
        last = hidden(net, grid)[-1]
        w_out = net.layers[-1].W[:, 0]
        for j in range(last.shape[1]):
            ax.plot(grid[:, 0], last[:, j] * w_out[j], lw=0.6, alpha=0.7)
        ax.plot(grid[:, 0], curve, lw=2.5, color="crimson", label="fitted curve")
        ax.set_xlabel(net.meta.get("feature_names", ["x"])[0])
        ax.set_ylabel("output; thin lines: each last-layer unit's contribution (w_out * activation)")
        ax.legend()
    else:
        acts = hidden(net, X)
        if not acts:
            raise ExportError("this model has no hidden units to plot.")
        A = np.hstack([(a > 0).astype(float) if layer.activation == "relu" else a
                       for a, layer in zip(acts, net.layers[:-1])])
        im = ax.imshow(A.T, aspect="auto", interpolation="nearest", cmap="viridis")
        fig.colorbar(im, ax=ax, label="activity (ReLU: 1 = active)")
        edges = np.cumsum([a.shape[1] for a in acts])[:-1]
        for e in edges:
            ax.axhline(e - 0.5, color="white", lw=1)
        ax.set_xlabel("rows")
        ax.set_ylabel("hidden units (layers separated by white lines)")
    ax.set_title(f"{net.meta.get('source', 'model')}: what the hidden units compute")
    fig.tight_layout()
    return _png(fig)
