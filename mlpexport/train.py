"""`mlpexport train`: the classic ReLU puzzles, scikit-learn's bundled data sets and CSV
files -> a fitted Pipeline(scaler, model), saved as .skops / .pkl / .joblib.

Built-in data sets are generated reproducibly from the seed:
    sine       150 points, x ~ U[0, 10], y = sin(x)
    relu       1,000 points, x ~ N(0, 1), y = max(0, x)
    identity   2,000 points, x ~ U(0, 1), y = x
    cubic      500 points, x ~ U[-2, 2], y = x^3
    quadratic  x = 1..1000, y = x^2 + x
and scikit-learn's bundled sets (no download): diabetes, linnerud (3 outputs), iris,
wine, breast_cancer, digits.
"""
from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from .data import is_number
from .errors import InputError, UsageError

TOYS = ("sine", "relu", "identity", "cubic", "quadratic")
BUNDLED_REGRESSION = ("diabetes", "linnerud")
BUNDLED_CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
DATASETS = TOYS + BUNDLED_REGRESSION + BUNDLED_CLASSIFICATION
MODELS = ("mlp-regressor", "mlp-classifier", "logistic")
SCALERS = ("standard", "minmax", "maxabs", "robust", "none")
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    task: str  # "regression" or "classification"
    feature_names: list[str] | None = None


def toy(name: str, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    if name == "sine":
        x = rng.uniform(0, 10, 150)
        y = np.sin(x)
    elif name == "relu":
        x = rng.normal(0, 1, 1000)
        y = np.maximum(0, x)
    elif name == "identity":
        x = rng.uniform(0, 1, 2000)
        y = x.copy()
    elif name == "cubic":
        x = rng.uniform(-2, 2, 500)
        y = x ** 3
    elif name == "quadratic":
        x = np.arange(1, 1001, dtype=float)
        y = x ** 2 + x
    else:
        raise UsageError(f"unknown data set {name!r}")
    return Dataset(x.reshape(-1, 1), y, "regression", ["x"])


def bundled(name: str) -> Dataset:
    from sklearn import datasets
    data = getattr(datasets, f"load_{name}")()
    task = "regression" if name in BUNDLED_REGRESSION else "classification"
    return Dataset(np.asarray(data.data, dtype=float), np.asarray(data.target), task,
                   [str(n) for n in data.feature_names])


def from_csv(path: str, target: str | None) -> Dataset:
    if not target:
        raise UsageError("a CSV data set needs --target COL[,COL...] naming its target column(s).")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such data file.")
    with open(path, encoding="utf-8-sig") as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    if len(lines) < 2:
        raise InputError(f"{path} needs a header row and at least one data row.")
    header = [h.strip() for h in lines[0].split(",")]
    rows = [[c.strip() for c in line.split(",")] for line in lines[1:]]
    for i, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise InputError(f"{path} line {i} has {len(r)} fields; the header has {len(header)}.")
    columns = {}
    for j, h in enumerate(header):
        try:
            columns[h] = np.array([float(r[j]) for r in rows])
        except ValueError:
            bad = next(r[j] for r in rows if not is_number(r[j]))
            raise InputError(f"{path}: column {h!r} is not numeric (value {bad!r}).") from None
    wanted = [t.strip() for t in target.split(",") if t.strip()]
    missing = [t for t in wanted if t not in columns]
    if missing:
        raise InputError(f"{path} has no column {', '.join(map(repr, missing))}; columns: {', '.join(header)}.")
    features = [h for h in header if h not in wanted]
    if not features:
        raise InputError(f"{path} has no feature columns left besides the target.")
    X = np.stack([columns[h] for h in features], axis=1)
    y = np.stack([columns[t] for t in wanted], axis=1)
    y = y[:, 0] if y.shape[1] == 1 else y
    integral = np.all(y == np.round(y)) and len(np.unique(y)) <= 20
    return Dataset(X, y, "classification" if integral and y.ndim == 1 else "regression", features)


def load_dataset(name: str, seed: int = 0, target: str | None = None) -> Dataset:
    if name in TOYS:
        return toy(name, seed)
    if name in BUNDLED_REGRESSION + BUNDLED_CLASSIFICATION:
        return bundled(name)
    if name.lower().endswith(".csv"):
        return from_csv(name, target)
    raise UsageError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)} or a .csv file.")


def parse_hidden(text: str) -> tuple[int, ...]:
    if not re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", text or ""):
        raise UsageError(f"--hidden {text!r} must be layer widths like 11,10.")
    sizes = tuple(int(t) for t in text.split(","))
    if any(s < 1 or s > 100000 for s in sizes):
        raise UsageError(f"--hidden {text!r}: every width must be between 1 and 100000.")
    return sizes


def build(kind: str, hidden, activation, scaler, max_iter, seed, target_scaler="none"):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler

    if kind == "logistic":
        model = LogisticRegression(max_iter=max_iter)
    else:
        cls = MLPRegressor if kind == "mlp-regressor" else MLPClassifier
        model = cls(hidden_layer_sizes=hidden, activation=activation, max_iter=max_iter,
                    random_state=seed)
    scalers = {"standard": StandardScaler, "minmax": MinMaxScaler, "maxabs": MaxAbsScaler,
               "robust": RobustScaler}
    steps = [scalers[scaler]()] if scaler != "none" else ["passthrough"]
    pipeline = make_pipeline(*steps, model)
    if target_scaler == "none":
        return pipeline
    if kind != "mlp-regressor":
        raise UsageError("--target-scaler applies to regressors only.")
    from sklearn.compose import TransformedTargetRegressor
    return TransformedTargetRegressor(pipeline, transformer=scalers[target_scaler]())


class Progress(io.TextIOBase):
    """Turns scikit-learn's verbose 'Iteration N, loss = L' lines into one updating line."""

    def __init__(self, stream, max_iter):
        self.stream, self.max_iter, self.buffer = stream, max_iter, ""

    def write(self, text):
        self.buffer += text
        *lines, self.buffer = self.buffer.split("\n")
        for line in lines:
            m = re.match(r"Iteration (\d+), loss = ([-+0-9.eE]+)", line)
            if m:
                self.stream.write(f"\repoch {m.group(1)}/{self.max_iter}  loss {float(m.group(2)):.6g}   ")
                self.stream.flush()
        return len(text)

    def close_line(self):
        self.stream.write("\r" + " " * 60 + "\r")
        self.stream.flush()


@dataclass
class Result:
    estimator: object
    train_score: float
    test_score: float
    metric: str
    converged: bool
    n_iter: int


def train(dataset: Dataset, kind: str, hidden=(100,), activation="relu", scaler="standard",
          max_iter=200, seed=0, test_size=0.25, target_scaler="none", progress=None) -> Result:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    if kind in ("mlp-classifier", "logistic") and dataset.task != "classification":
        raise UsageError(f"--model {kind} needs class labels; this data set is a regression task.")
    if not 0 <= test_size < 1:
        raise UsageError("--test-size must be in [0, 1).")
    X, y = dataset.X, dataset.y
    if test_size > 0:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed)
    else:
        Xtr, Xte, ytr, yte = X, X, y, y
    est = build(kind, hidden, activation, scaler, max_iter, seed, target_scaler)
    pipeline = est.regressor if target_scaler != "none" else est
    model = pipeline.steps[-1][1]
    if progress is not None and kind != "logistic":
        model.verbose = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if progress is not None and kind != "logistic":
            with contextlib.redirect_stdout(progress):
                est.fit(Xtr, ytr)
            progress.close_line()
            _quiet(est)
        else:
            est.fit(Xtr, ytr)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    fitted = est.regressor_ if target_scaler != "none" else est
    n_iter = int(np.max(getattr(fitted.steps[-1][1], "n_iter_", 0)))
    metric = "accuracy" if kind != "mlp-regressor" else "R^2"
    return Result(est, float(est.score(Xtr, ytr)), float(est.score(Xte, yte)), metric, converged, n_iter)


def _quiet(est):
    """The saved model should not print when someone refits it."""
    inner = est.regressor_ if hasattr(est, "regressor_") else est
    inner.steps[-1][1].verbose = False


def model_bytes(est, path: str) -> bytes:
    """The model in the format its file name asks for (.skops by default)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".skops":
        import skops.io as sio
        return sio.dumps(est)
    if suffix in (".pkl", ".pickle"):
        import pickle
        return pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL)
    if suffix == ".joblib":
        import joblib
        buf = io.BytesIO()
        joblib.dump(est, buf)
        return buf.getvalue()
    raise UsageError(f"-o {path}: the model file must end in .skops, .pkl, .pickle or .joblib.")


def progress_for(stream=None, quiet=False, max_iter=200):
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        return None
    return Progress(stream, max_iter)
