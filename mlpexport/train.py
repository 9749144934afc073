"""`mlpexport train`: the classic ReLU puzzles, scikit-learn's bundled data sets and CSV
files -> a fitted Pipeline(scaler, model), saved as .skops / .pkl / .sav / .joblib.

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

from .data import parse_numbers, read_csv
from .errors import InputError, UsageError

TOYS = ("sine", "relu", "identity", "cubic", "quadratic")
BUNDLED_REGRESSION = ("diabetes", "linnerud")
BUNDLED_CLASSIFICATION = ("iris", "wine", "breast_cancer", "digits")
DATASETS = TOYS + BUNDLED_REGRESSION + BUNDLED_CLASSIFICATION


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray
    task: str  # "regression" or "classification"
    feature_names: list[str] | None = None
    note: str | None = None  # how the task was chosen (CSV targets), for the user
    named: bool = False  # the columns have the user's names (a CSV header): fit keeps them


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
    lines, rows = read_csv(path)
    if len(rows) < 2:
        raise InputError(f"{path} needs a header row and at least one data row.")
    header, lines, rows = rows[0], lines[1:], rows[1:]
    seen = set()
    for h in header:
        if h in seen:
            raise InputError(f"{path}: column {h!r} appears twice in the header.")
        seen.add(h)
    wanted = [t.strip() for t in target.split(",") if t.strip()]
    missing = [t for t in wanted if t not in seen]
    if missing:
        raise InputError(f"{path} has no column {', '.join(map(repr, missing))}; columns: {', '.join(header)}.")
    features = [h for h in header if h not in wanted]
    if not features:
        raise InputError(f"{path} has no feature columns left besides the target.")
    columns = {}
    for j, h in enumerate(header):
        cells = [r[j] for r in rows]
        values, bad = parse_numbers([[c] for c in cells])
        if bad is not None:
            if h in wanted and len(wanted) == 1:
                columns[h] = np.array(cells)  # text labels: a classification target
                continue
            i = bad[0]
            raise InputError(f"{path}: column {h!r} is not numeric (line {lines[i]}: {cells[i]!r})"
                             + ("; several targets must all be numeric." if h in wanted else "."))
        if not np.isfinite(values).all():
            raise InputError(f"{path}: column {h!r} contains NaN or infinite values.")
        columns[h] = values[:, 0]
    X = np.stack([columns[h] for h in features], axis=1)
    y = np.stack([columns[t] for t in wanted], axis=1)
    y = y[:, 0] if y.shape[1] == 1 else y
    task, note = target_task(y, ", ".join(map(repr, wanted)))
    return Dataset(X, y, task, features, note, named=True)


# scikit-learn's names for targets (sklearn.utils.multiclass.type_of_target) -> our task.
# Several multiclass targets are fitted as regression: MLPClassifier fits several targets
# only as 0/1 indicator columns ("multilabel-indicator").
TARGET_TASKS = {"continuous": "regression", "continuous-multioutput": "regression",
                "multiclass-multioutput": "regression", "binary": "classification",
                "multiclass": "classification", "multilabel-indicator": "classification"}


def target_task(y, name: str) -> tuple[str, str]:
    """(task, sentence saying why and how to override it), decided as scikit-learn's
    type_of_target decides: integer-valued numbers or text are classes, other numbers are
    continuous. An integer target that is really a quantity needs --model mlp-regressor."""
    from sklearn.utils.multiclass import type_of_target
    kind = type_of_target(y)
    task = TARGET_TASKS.get(kind)
    if task is None:
        raise InputError(f"target {name} is of a kind scikit-learn cannot fit ({kind}).")
    if task == "classification":
        n = len(np.unique(y)) if y.ndim == 1 else y.shape[1]
        if kind != "multilabel-indicator" and n < 2:
            raise InputError(f"target {name} has only one class ({np.unique(y)[0]!r}); "
                             "a classifier needs at least two.")
        what = f"{n} classes" if y.ndim == 1 else f"{n} indicator columns"
        hint = ("use --model mlp-regressor if it is a quantity" if y.dtype.kind in "biuf"
                else "--model logistic fits a logistic regression instead")
        return task, (f"target {name} is {kind} ({what}, by scikit-learn's type_of_target): a "
                      f"classification task, fitting an MLPClassifier; {hint}.")
    why = (" (MLPClassifier fits several targets only as 0/1 columns)"
           if kind == "multiclass-multioutput" else "")
    return task, (f"target {name} is {kind} (by scikit-learn's type_of_target): a regression "
                  f"task{why}, fitting an MLPRegressor; --model chooses another model.")


def load_dataset(name: str, seed: int = 0, target: str | None = None) -> Dataset:
    if target is not None and not name.lower().endswith(".csv"):
        raise UsageError(f"--target applies to CSV files only; {name} has its own target.")
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


# --model kinds by task (the names come from supported.py's `train` fields)
REGRESSORS = ("mlp-regressor", "linear", "ridge", "poisson")
CLASSIFIERS = ("mlp-classifier", "logistic", "linear-svc")
ONE_TARGET = ("logistic", "poisson", "linear-svc")  # fit one target column only
TARGET_SCALED = ("mlp-regressor", "linear", "ridge")  # may sit in a TransformedTargetRegressor


def build(kind: str, hidden, activation, scaler, max_iter, seed, target_scaler="none"):
    from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
    from sklearn.svm import LinearSVC

    linear = {"logistic": lambda: LogisticRegression(max_iter=max_iter),
              "linear": LinearRegression, "ridge": Ridge,
              "poisson": lambda: PoissonRegressor(max_iter=max_iter),
              "linear-svc": lambda: LinearSVC(max_iter=max_iter, random_state=seed)}
    if kind in linear:
        model = linear[kind]()
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
    if kind not in TARGET_SCALED:
        raise UsageError(f"--target-scaler applies to regressors ({', '.join(TARGET_SCALED)}) only, not "
                         f"--model {kind}.")
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

    check_options(seed, test_size)
    X, y = dataset.X, dataset.y
    if kind in CLASSIFIERS and dataset.task != "classification":
        raise UsageError(f"--model {kind} needs class labels; this data set is a regression task.")
    if kind in REGRESSORS and y.dtype.kind not in "biuf":
        raise UsageError(f"--model {kind} needs a numeric target; this one holds text labels.")
    if kind in ONE_TARGET and y.ndim != 1:
        raise UsageError(f"--model {kind} fits one target column only.")
    if kind == "poisson" and (np.asarray(y, dtype=np.float64) < 0).any():
        raise UsageError("--model poisson needs a target that is never negative (counts, rates).")
    if target_scaler != "none" and kind not in TARGET_SCALED:
        raise UsageError(f"--target-scaler applies to regressors ({', '.join(TARGET_SCALED)}) only, not "
                         f"--model {kind}.")
    try:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=test_size, random_state=seed)
    except ValueError as exc:  # too few rows for this --test-size
        raise InputError(f"{len(X)} rows cannot be split into training and held-out rows: "
                         f"{str(exc).splitlines()[0]}") from None
    if kind in CLASSIFIERS and ytr.ndim == 1 and len(np.unique(ytr)) < 2:
        # MLPClassifier would fit a one-class model that predicts a constant
        raise InputError(f"the training share of {len(X)} rows holds only one class; use more rows "
                         "or another --seed or --test-size.")
    if dataset.named:
        Xtr, Xte = _named(Xtr, dataset.feature_names), _named(Xte, dataset.feature_names)
    est = build(kind, hidden, activation, scaler, max_iter, seed, target_scaler)
    pipeline = est.regressor if target_scaler != "none" else est
    model = pipeline.steps[-1][1]
    iterations_shown = progress is not None and kind.startswith("mlp")  # MLPs print epochs
    if iterations_shown:
        model.verbose = True
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        if iterations_shown:
            with contextlib.redirect_stdout(progress):
                _fit(est, Xtr, ytr)
            progress.close_line()
            _quiet(est)
        else:
            _fit(est, Xtr, ytr)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    fitted = est.regressor_ if target_scaler != "none" else est
    n_iter = getattr(fitted.steps[-1][1], "n_iter_", None)  # None: a closed-form solver
    n_iter = int(np.max(n_iter)) if n_iter is not None else 0
    metric = "accuracy" if kind in CLASSIFIERS else "R^2"
    return Result(est, float(est.score(Xtr, ytr)), float(est.score(Xte, yte)), metric, converged, n_iter)


def _pandas():
    """pandas, or None: it is optional (the test extra installs it)."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


def _named(X, names):
    """X as a DataFrame with the CSV's column names, so the model records them in
    feature_names_in_ as scikit-learn does (without pandas, X as is)."""
    pd = _pandas()
    return X if pd is None else pd.DataFrame(X, columns=list(names))


def names_note(dataset) -> str | None:
    """Why a model trained on a CSV has no feature names, if it has none."""
    if dataset.named and _pandas() is None:
        return ("note: pandas is not installed, so the model keeps no feature names "
                "(pip install pandas to fit on the named columns).")
    return None


def check_options(seed, test_size):
    """Refuse values scikit-learn would reject with a traceback (or silently misuse)."""
    if not 0 <= seed <= 2 ** 32 - 1:  # numpy's RandomState seeds
        raise UsageError(f"--seed {seed} must be between 0 and {2 ** 32 - 1}.")
    if not 0 < test_size < 1:  # also refuses NaN
        raise UsageError(f"--test-size {test_size} must be a share between 0 and 1 (exclusive).")


def _fit(est, X, y):
    """scikit-learn's refusals of the data (e.g. one class left in the training share)
    become input errors: the data, not mlpexport, needs changing."""
    try:
        est.fit(X, y)
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"scikit-learn cannot fit this data: {first}") from None


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
    if suffix in (".pkl", ".pickle", ".sav"):
        import pickle
        return pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL)
    if suffix == ".joblib":
        import joblib
        buf = io.BytesIO()
        joblib.dump(est, buf)
        return buf.getvalue()
    raise UsageError(f"-o {path}: the model file must end in .skops, .pkl, .pickle, .sav or .joblib.")


def progress_for(stream=None, quiet=False, max_iter=200):
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        return None
    return Progress(stream, max_iter)
