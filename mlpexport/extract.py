"""scikit-learn estimator -> Network. The only module that reads sklearn attributes.

One function per family, dispatched on the estimator's type. Each knows its family's
quirks (strict `> 0.5`, `with_mean=False` still setting `mean_`, legacy one-vs-rest,
Poisson's `exp`) and refuses what it does not understand, naming it.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from functools import singledispatch
from typing import Callable

import numpy as np
import sklearn
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import NotFittedError
from sklearn import linear_model as _lm
from sklearn import svm as _svm
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.validation import check_is_fitted

from . import supported
from .errors import UnsupportedModelError
from .network import (HIDDEN_ACTIVATIONS, UFUNCS, Affine, Clip, Dense, Encode, Func, Head,
                      Impute, Indicate, Network, OneHot, Poly, Select, StringColumn, is_missing,
                      unseen)


class LegacyModelWarning(UserWarning):
    """The model was written by a scikit-learn whose predict_proba differs from today's."""


def _f64(a):
    return None if a is None else np.array(a, dtype=np.float64)


MAX_NESTING = 100  # Pipelines / TransformedTargetRegressors inside each other
MAX_PARAMETER_VALUES = 64 * 2**20  # a sparse coef_ is expanded to this many values at most


def _param(est, attr, *, nonzero=False):
    """est.<attr> as float64, refusing what no fitted model holds (an edited file):
    complex or non-numeric values, NaN or infinity, and zeros where it is a divisor."""
    return _values(f"{_name(est)}.{attr}", getattr(est, attr), nonzero)


def _values(what, value, nonzero=False):
    if value is None:
        return None
    if hasattr(value, "toarray"):  # a sparsified coef_ (scipy csr): validate, then expand
        value = _sparse_dense(what, value)
    if np.iscomplexobj(value):
        raise UnsupportedModelError(f"{what} holds complex numbers; a model's parameters are real.")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UnsupportedModelError(f"{what} is not an array of numbers.") from None
    if not np.isfinite(arr).all():
        raise UnsupportedModelError(
            f"{what} holds NaN or infinite values, which no fitted model has (was the file "
            f"edited?); refused.")
    if nonzero and (arr == 0).any():
        raise UnsupportedModelError(
            f"{what} holds zeros, which scikit-learn never leaves in a fitted scaler (it "
            f"replaces them by 1); refused.")
    return arr


def _sparse_dense(what, value):
    import scipy.sparse as sp
    if not sp.issparse(value) or value.format != "csr":
        raise UnsupportedModelError(f"{what} is a sparse matrix of an unsupported kind.")
    try:
        # Index arrays come from the file; scipy's dense conversion trusts them.
        value.check_format(full_check=True)
    except Exception:
        raise UnsupportedModelError(f"{what} is a malformed sparse matrix; refused.") from None
    rows, cols = value.shape
    if rows * cols > MAX_PARAMETER_VALUES:
        raise UnsupportedModelError(f"{what} has shape {value.shape}, too large to export.")
    return value.toarray()


def _name(est) -> str:
    return type(est).__name__


def _fitted(est, attribute):
    try:
        check_is_fitted(est, attribute)
    except NotFittedError:
        raise UnsupportedModelError(f"{_name(est)} is not fitted; fit it before exporting.") from None


# ------------------------------------------------------------------------- scalers
# One row per supported scaler: what its transform applies to X (in scikit-learn's
# order of operations), what its inverse_transform applies to a target, and where the
# raw inputs live (loc, spread) as it saw them, a hint for drawing test rows.

def _standard_inputs(est, name):
    _fitted(est, None)  # not n_features_in_: scikit-learn < 0.24 did not set it
    # with_mean=False still sets mean_, which transform ignores; so do we.
    center = _param(est, "mean_") if est.with_mean else None
    scale = _param(est, "scale_", nonzero=True) if est.with_std else None
    return [Affine(name, center=center, scale=scale)]


def _minmax_inputs(est, name):
    _fitted(est, "scale_")
    steps = [Affine(name, factor=_param(est, "scale_", nonzero=True), offset=_param(est, "min_"))]
    if getattr(est, "clip", False):
        low, high = est.feature_range
        steps.append(Clip(name, float(low), float(high)))
    return steps


def _maxabs_inputs(est, name):
    _fitted(est, "scale_")
    steps = [Affine(name, scale=_param(est, "scale_", nonzero=True))]
    if getattr(est, "clip", False):
        steps.append(Clip(name, -1.0, 1.0))
    return steps


def _robust_inputs(est, name):
    _fitted(est, None)
    center = _param(est, "center_") if est.with_centering else None
    scale = _param(est, "scale_", nonzero=True) if est.with_scaling else None
    return [Affine(name, center=center, scale=scale)]


def _standard_inverse(est, name):
    factor = _param(est, "scale_", nonzero=True) if est.with_std else None
    offset = _param(est, "mean_") if est.with_mean else None
    return [Affine(name, factor=factor, offset=offset)]


def _robust_inverse(est, name):
    factor = _param(est, "scale_", nonzero=True) if est.with_scaling else None
    offset = _param(est, "center_") if est.with_centering else None
    return [Affine(name, factor=factor, offset=offset)]


def _standard_range(est, n):
    loc = est.mean_ if est.mean_ is not None else np.zeros(n)
    return loc, np.sqrt(est.var_) if est.var_ is not None else np.ones(n)


def _robust_range(est, n):
    loc = est.center_ if est.center_ is not None else np.zeros(n)
    return loc, est.scale_ if est.scale_ is not None else np.ones(n)


@dataclass(frozen=True)
class ScalerRule:
    inputs: Callable  # (est, name) -> [Affine | Clip]
    inverse: Callable  # (est, name) -> [Affine]
    input_range: Callable  # (est, n_features) -> (loc, spread)


SCALER_RULES = {
    StandardScaler: ScalerRule(_standard_inputs, _standard_inverse, _standard_range),
    MinMaxScaler: ScalerRule(
        _minmax_inputs,
        lambda est, name: [Affine(name, center=_param(est, "min_"),
                                  scale=_param(est, "scale_", nonzero=True))],
        lambda est, n: (est.data_min_ + est.data_range_ / 2, est.data_range_ / 2)),
    MaxAbsScaler: ScalerRule(
        _maxabs_inputs,
        lambda est, name: [Affine(name, factor=_param(est, "scale_", nonzero=True))],
        lambda est, n: (np.zeros(n), est.max_abs_)),
    RobustScaler: ScalerRule(_robust_inputs, _robust_inverse, _robust_range),
}
SCALERS = tuple(SCALER_RULES)
SCALER_NAMES = ", ".join(c.__name__ for c in SCALERS)
SUPPORTED_STEPS = (*(c.__name__ for c in SCALERS), "'passthrough'")


def _rule(est, refusal=None):
    """The row of est's class, or of the nearest supported class it derives from;
    without one, UnsupportedModelError(refusal), or None when no refusal is given."""
    rule = next((SCALER_RULES[c] for c in type(est).__mro__ if c in SCALER_RULES), None)
    if rule is None and refusal:
        raise UnsupportedModelError(refusal)
    return rule


def input_steps(est, name: str) -> list:
    """The steps a fitted transformer applies to X, in scikit-learn's order."""
    return _rule(est, f"{_name(est)} is not a supported preprocessing step; supported: "
                      f"{', '.join(SUPPORTED_STEPS)}.").inputs(est, name)


def inverse_steps(est, name: str) -> list:
    """The steps a fitted scaler's inverse_transform applies, in scikit-learn's order."""
    return _rule(est, f"TransformedTargetRegressor's transformer {_name(est)} is not "
                      f"supported; supported: {SCALER_NAMES}.").inverse(est, name)


def _input_range(est, n_features):
    """(loc, spread) of the raw inputs as the first scaler saw them."""
    rule = _rule(est)
    if rule is None:
        return None, None
    loc, spread = (_f64(a) for a in rule.input_range(est, n_features))
    if loc is None or spread is None or not (np.isfinite(loc).all() and np.isfinite(spread).all()):
        return None, None  # only a hint for drawing test rows: without it, check uses its own
    return loc, np.where(spread > 0, spread, 1.0)


# ------------------------------------------------------- width-changing steps
# Imputers, polynomial features, feature selectors and ColumnTransformers become Select
# (take columns), Impute, Indicate and Poly steps on one matrix. Each rule below maps a
# fitted transformer on `width` input columns to (steps, output width).

class _Walk:
    """What the walk over the preprocessing steps learns besides the steps: a fresh name
    per step (call it), and per input column of X whether it holds strings (the strings
    the model knows there, each with its code), its known categories (to draw rows
    from), whether an unknown category there is an error, and whether a numeric step
    reads it. Columns are followed by provenance: `cols` lists, per working column, the
    X column it still is unchanged (an int), or None once a step computed it."""

    def __init__(self, feature_names=None):
        self.count = 0
        self.words = {}  # X column -> {string: code}
        self.categories = {}  # X column -> [known values]
        self.strict = set()  # X columns where an unknown value raises
        self.numeric = set()  # X columns some numeric step reads as they are
        self.pending = []  # (array, index, X column, string): a string an imputer fills in
        self.missing = {}  # X column -> "none" | "nan": which of None and NaN is its missing value
        self.refuse_nan = set()  # X columns where NaN is an error (SimpleImputer(missing_values=None))
        self.feature_names = feature_names

    def __call__(self):
        self.count += 1
        return f"p{self.count}"

    def missing_is(self, column, kind, why):
        """Column `column` of X takes `kind` ("none" or "nan") as its missing value, the
        other one as an unknown category (scikit-learn tells None from NaN)."""
        if column is None:
            return
        if self.missing.setdefault(column, kind) != kind:
            raise UnsupportedModelError(
                f"input column {self.label(column)} has both None and NaN as missing values "
                f"({why}); the exports can tell only one of them apart from unknown categories.")

    def code(self, column, word):
        table = self.words.setdefault(column, {})
        return table.setdefault(word, float(len(table)))

    def read_as_numbers(self, cols):
        self.numeric.update(c for c in cols if c is not None)

    def moved(self, old, new, offset):
        """An imputer's fill array was copied into a wider one (a ColumnTransformer branch)."""
        self.pending = [(new, index + offset, column, word) if array is old else
                        (array, index, column, word)
                        for array, index, column, word in self.pending]

    def settle(self):
        """Put in the codes of the strings imputers fill in, now that it is known which
        columns hold text: a string filled into a number column (SimpleImputer(
        fill_value="missing") over a numeric category too) is a value no encoder there
        knows, as in scikit-learn, where it is an unseen category."""
        for array, index, column, word in self.pending:
            if column in self.words:
                array[index] = self.code(column, word)
            else:
                numbers = [v for v in self.categories.get(column, ()) if not _is_text(v)]
                array[index] = unseen(numbers)

    def label(self, column):
        names = self.feature_names
        return str(names[column]) if names is not None and column < len(names) else str(column)


def _is_nan(v) -> bool:
    return is_missing(v) and v is not None


def _is_text(v) -> bool:
    return isinstance(v, (str, np.str_))


def _imputer_steps(est, cols, walk):
    _fitted(est, "statistics_")
    width = len(cols)
    mv = est.missing_values
    if not is_missing(mv):
        raise UnsupportedModelError(
            f"SimpleImputer(missing_values={mv!r}) is not supported; only missing_values=np.nan "
            f"(or None for strings).")
    stats = np.asarray(est.statistics_)
    if stats.shape != (width,):
        raise UnsupportedModelError(f"SimpleImputer.statistics_ has shape {stats.shape}, but "
                                    f"{width} columns reach it.")
    kept = [j for j in range(width) if not is_missing(stats[j])]  # all-missing in training: dropped
    for j in kept:
        if _is_text(stats[j]):  # an object column: scikit-learn fills only missing_values there
            walk.missing_is(cols[j], "none" if mv is None else "nan", f"SimpleImputer(missing_values={mv!r})")
            if mv is None and cols[j] is not None:
                walk.refuse_nan.add(cols[j])
    fill, later = [], []
    for k, j in enumerate(kept):
        if _is_text(stats[j]):
            if cols[j] is None:
                raise UnsupportedModelError("a SimpleImputer fills strings into a column computed "
                                            "by an earlier step; only input columns can hold strings.")
            later.append((k, cols[j], str(stats[j])))
            fill.append(np.nan)
        else:
            fill.append(stats[j])
    flagged = []
    if getattr(est, "add_indicator", False):
        flagged = [int(i) for i in np.asarray(est.indicator_.features_)]
        if any(not 0 <= i < width for i in flagged):
            raise UnsupportedModelError("SimpleImputer's indicator flags columns it does not have.")
    fill = np.r_[np.array(fill, dtype=np.float64), np.full(len(flagged), np.nan)]
    if np.isinf(fill).any():
        raise UnsupportedModelError("SimpleImputer.statistics_ holds infinite values.")
    walk.pending += [(fill, k, column, word) for k, column, word in later]
    steps = []
    if len(kept) != width or flagged:
        steps.append(Select(walk(), tuple(kept) + tuple(flagged)))
    if flagged:
        steps.append(Indicate(walk(), np.r_[np.zeros(len(kept)), np.ones(len(flagged))]))
    steps.append(Impute(walk(), fill))
    return steps, [cols[j] for j in kept] + [None] * len(flagged)


def _category_values(est, i, cats, column, walk):
    """(values, missing position or None) of encoder feature i's categories: numbers as
    they are, strings as the codes StringCodes gives them (the column must be an X column)."""
    texts = [c for c in cats if _is_text(c)]
    if texts and column is None:
        raise UnsupportedModelError(f"{_name(est)} encodes strings in a column computed by an "
                                    f"earlier step; only input columns can hold strings.")
    missing = [k for k, c in enumerate(cats) if is_missing(c)]
    if len(missing) > 1:
        raise UnsupportedModelError(f"{_name(est)} has both None and NaN among the categories of "
                                    f"its column {i}; they cannot be told apart in every export.")
    if any(_is_text(c) and c == "" for c in cats):
        raise UnsupportedModelError(f"{_name(est)} has the empty string among its categories; "
                                    f"ONNX and MATLAB inputs use \"\" for a missing string.")
    if texts and missing:
        walk.missing_is(column, "none" if cats[missing[0]] is None else "nan",
                        f"{_name(est)} knows {cats[missing[0]]!r} as a category")
    values = []
    for c in cats:
        if is_missing(c):
            continue
        if texts and not _is_text(c):
            raise UnsupportedModelError(f"{_name(est)} mixes strings and numbers among the "
                                        f"categories of its column {i}.")
        values.append(walk.code(column, str(c)) if texts else float(c))
    if not texts:
        walk.read_as_numbers([column])
    if column is not None:
        walk.categories.setdefault(column, [])
        walk.categories[column] += [c for c in cats if not is_missing(c)
                                    and c not in walk.categories[column]]
    return _values(f"{_name(est)}.categories_", np.array(values, dtype=np.float64)), \
        (missing[0] if missing else None)


def _encoder_features(est, cols):
    _fitted(est, "categories_")
    cats = est.categories_
    if not (isinstance(cats, list) and len(cats) == len(cols)):
        raise UnsupportedModelError(f"{_name(est)} has categories for "
                                    f"{len(cats) if isinstance(cats, list) else '?'} columns, but "
                                    f"{len(cols)} reach it.")
    infrequent = [None] * len(cols)
    if getattr(est, "_infrequent_enabled", False):
        infrequent = list(est.infrequent_categories_)
    return [(np.asarray(c, dtype=object), () if inf is None else list(inf))
            for c, inf in zip(cats, infrequent)]


def _grouped(cats, infrequent):
    """Each category's position after scikit-learn groups the infrequent ones into one
    last position, and how many positions there are."""
    frequent = [k for k, c in enumerate(cats) if not any(_same(c, f) for f in infrequent)]
    pos = np.full(len(cats), len(frequent), dtype=np.int64)
    pos[frequent] = np.arange(len(frequent))
    return pos, len(frequent) + (1 if infrequent else 0)


def _same(a, b):
    return (is_missing(a) and is_missing(b)) or (not is_missing(a) and not is_missing(b) and a == b)


def _unknown_rule(est, handle, allowed):
    if handle not in allowed:
        raise UnsupportedModelError(f"{_name(est)}(handle_unknown={handle!r}) is not supported; "
                                    f"supported: {', '.join(allowed)}.")


def _onehot_steps(est, cols, walk):
    handle = est.handle_unknown
    _unknown_rule(est, handle, ("error", "ignore", "infrequent_if_exist"))
    drop_idx = getattr(est, "drop_idx_", None)
    steps, repeat, positions = [], [], []
    for i, ((cats, infrequent), column) in enumerate(zip(_encoder_features(est, cols), cols)):
        values, missing = _category_values(est, i, cats, column, walk)
        pos, n = _grouped(cats, infrequent)
        unknown = float(n - 1) if infrequent and handle == "infrequent_if_exist" else -1.0
        unknown = np.nan if handle == "error" else unknown  # ONNX cannot raise: NaN there
        if drop_idx is not None and drop_idx[i] is not None:
            d = pos[int(drop_idx[i])]
            pos = np.where(pos == d, -1, np.where(pos > d, pos - 1, pos))
            unknown = -1.0 if unknown == d else (unknown - 1 if unknown > d else unknown)  # NaN stays
            n -= 1
        codes = pos.astype(np.float64)
        present = [k for k, c in enumerate(cats) if not is_missing(c)]
        if column is not None and handle == "error":
            walk.strict.add(column)
        steps.append(Encode(walk(), i, values, codes[present],
                            None if missing is None else float(codes[missing]), unknown,
                            handle == "error", column))
        repeat += [i] * n
        positions += list(range(n))
    steps.append(Select(walk(), tuple(repeat)))
    steps.append(OneHot(walk(), np.array(positions, dtype=np.float64)))
    return steps, [None] * len(repeat)


def _ordinal_steps(est, cols, walk):
    handle = est.handle_unknown
    _unknown_rule(est, handle, ("error", "use_encoded_value"))
    unknown_value = float(est.unknown_value) if handle == "use_encoded_value" else np.nan
    encoded_missing = float(getattr(est, "encoded_missing_value", np.nan))
    steps = []
    for i, ((cats, infrequent), column) in enumerate(zip(_encoder_features(est, cols), cols)):
        values, missing = _category_values(est, i, cats, column, walk)
        # codes count the categories that are not missing (a missing value has its own,
        # encoded_missing_value): the infrequent group's code is the number of frequent ones
        # None is a category like any string (its own code); only NaN takes encoded_missing_value
        regular = [k for k, c in enumerate(cats) if not _is_nan(c)]
        grouped, _ = _grouped([cats[k] for k in regular], [c for c in infrequent if not _is_nan(c)])
        code_of = dict(zip(regular, grouped.astype(np.float64)))
        present = [k for k, c in enumerate(cats) if not is_missing(c)]
        codes = np.array([code_of[k] for k in present], dtype=np.float64)
        if missing is not None:
            missing = code_of[missing] if cats[missing] is None else encoded_missing
        if column is not None and handle == "error":
            walk.strict.add(column)
        steps.append(Encode(walk(), i, values, codes, missing, unknown_value,
                            handle == "error", column))
    return steps, [None] * len(cols)


def _poly_steps(est, cols, walk):
    _fitted(est, "n_output_features_")
    width = len(cols)
    powers = _values("PolynomialFeatures.powers_", est.powers_)
    if powers.ndim != 2 or powers.shape[1] != width or (powers < 0).any() or (powers % 1).any() \
            or powers.max(initial=0) > 64:
        raise UnsupportedModelError(f"PolynomialFeatures.powers_ (shape {powers.shape}) does not "
                                    f"fit {width} input columns.")
    walk.read_as_numbers(cols)
    return [Poly(walk(), powers)], [None] * powers.shape[0]


def _selector_steps(est, cols, walk):
    width = len(cols)
    try:
        mask = np.asarray(est.get_support(), dtype=bool)
    except Exception:  # an unfitted or malformed selector: scikit-learn raises many kinds
        raise UnsupportedModelError(f"{_name(est)} has no fitted support mask; fit it before "
                                    f"exporting.") from None
    if mask.shape != (width,):
        raise UnsupportedModelError(f"{_name(est)} selects among {mask.size} columns, but "
                                    f"{width} reach it.")
    picked = [int(i) for i in np.flatnonzero(mask)]
    return [Select(walk(), tuple(picked))], [cols[i] for i in picked]


def _ct_columns(ct, columns, width):
    """A ColumnTransformer branch's columns as indices into X."""
    idx = np.arange(width)
    if isinstance(columns, str) or (isinstance(columns, (list, tuple, np.ndarray)) and len(columns)
                                    and all(isinstance(c, str) for c in columns)):
        names = getattr(ct, "feature_names_in_", None)
        if names is None:
            raise UnsupportedModelError("a ColumnTransformer selects columns by name but was not "
                                        "fitted on named columns.")
        names = [str(n) for n in names]
        wanted = [columns] if isinstance(columns, str) else list(columns)
        missing = [c for c in wanted if c not in names]
        if missing:
            raise UnsupportedModelError(f"the ColumnTransformer's column {missing[0]!r} is not "
                                        f"among its input features.")
        return [names.index(c) for c in wanted]
    if callable(columns):
        raise UnsupportedModelError("a ColumnTransformer branch chooses its columns with a "
                                    "function; only names, indices, slices or masks are supported.")
    try:
        picked = idx[columns]
    except Exception:
        raise UnsupportedModelError("a ColumnTransformer branch's columns are not names, indices, "
                                    "a slice or a boolean mask.") from None
    return [int(i) for i in np.atleast_1d(picked)]


def _embed(step, off, w, total, walk):
    """A branch step on columns off..off+w of a `total`-wide matrix (identity elsewhere),
    and the branch's new width."""
    before, after = np.arange(off), np.arange(off + w, total)
    if isinstance(step, Select):
        idx = tuple(int(i) for i in np.r_[before, off + np.asarray(step.indices, int), after])
        return [Select(walk(), idx)], len(step.indices)
    if isinstance(step, Poly):
        n_out = step.powers.shape[0]
        P = np.zeros((total - w + n_out, total))
        P[np.arange(off), np.arange(off)] = 1
        P[off:off + n_out, off:off + w] = step.powers
        P[off + n_out + np.arange(len(after)), after] = 1
        return [Poly(walk(), P)], n_out
    if isinstance(step, Func):
        return [Func(walk(), step.fn, (off, off + w))], w
    if isinstance(step, Encode):
        return [replace(step, name=walk(), column=off + step.column)], w
    if isinstance(step, Clip):
        raise UnsupportedModelError("a clipping scaler inside a ColumnTransformer is not supported.")

    def pad(arr, value):
        return None if arr is None else np.r_[np.full(off, value), arr, np.full(len(after), value)]
    if isinstance(step, Affine):
        return [Affine(walk(), pad(step.center, 0.0), pad(step.scale, 1.0), pad(step.factor, 1.0),
                       pad(step.offset, 0.0))], w
    if isinstance(step, Impute):
        wide = Impute(walk(), pad(step.fill, np.nan))
        walk.moved(step.fill, wide.fill, off)
        return [wide], w
    if isinstance(step, OneHot):
        return [OneHot(walk(), pad(step.positions, np.nan))], w
    return [Indicate(walk(), pad(step.mask, 0.0))], w


def _ct_steps(ct, cols, walk):
    _fitted(ct, "transformers_")
    width = len(cols)
    weights = getattr(ct, "transformer_weights", None) or {}
    if not isinstance(weights, dict):
        raise UnsupportedModelError("the ColumnTransformer's transformer_weights is not a dict.")
    branches = []  # (input columns, fitted transformer or "passthrough", weight or None)
    for entry in ct.transformers_:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3):
            raise UnsupportedModelError("the ColumnTransformer's transformers_ are malformed.")
        name, trans, columns = entry
        if isinstance(trans, str) and trans == "drop":
            continue
        picked = _ct_columns(ct, columns, width)
        if not picked:
            continue  # scikit-learn skips a branch with no columns
        weight = weights.get(name)
        if weight is not None:
            weight = _values(f"transformer_weights[{name!r}]", weight)
            if weight.shape != ():
                raise UnsupportedModelError(f"the ColumnTransformer's transformer_weights[{name!r}] "
                                            f"is not one number.")
        branches.append((picked, trans, weight))
    steps = [Select(walk(), tuple(c for picked, _, _ in branches for c in picked))]
    total, off, out = len(steps[0].indices), 0, []
    for picked, trans, weight in branches:
        w = len(picked)
        branch_cols = [cols[c] for c in picked]
        local, branch_out = [], branch_cols
        if not (isinstance(trans, str) and trans == "passthrough"):
            local, branch_out = _transform_steps(trans, branch_cols, walk)
        if weight is not None:  # scikit-learn multiplies the branch's output by its weight
            width_out = len(branch_out)
            local = local + [Affine(walk(), factor=np.full(width_out, float(weight)))]
            branch_out = [None] * width_out
        for step in local:
            embedded, w_new = _embed(step, off, w, total, walk)
            steps += embedded
            total += w_new - w
            w = w_new
        off += w
        out += branch_out
    return steps, out


def _transform_steps(est, cols, walk):
    """(steps, output columns' provenance) of one fitted transformer, or a Pipeline of them."""
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, PolynomialFeatures
    if est is None or (isinstance(est, str) and est == "passthrough"):
        return [], cols
    if isinstance(est, Pipeline):
        steps = []
        for _, step in _steps(est):
            more, cols = _transform_steps(step, cols, walk)
            steps += more
        return steps, cols
    if isinstance(est, ColumnTransformer):
        return _ct_steps(est, cols, walk)
    if isinstance(est, SimpleImputer):
        return _imputer_steps(est, cols, walk)
    if isinstance(est, OneHotEncoder):
        return _onehot_steps(est, cols, walk)
    if isinstance(est, OrdinalEncoder):
        return _ordinal_steps(est, cols, walk)
    if isinstance(est, PolynomialFeatures):
        return _poly_steps(est, cols, walk)
    if isinstance(est, SelectorMixin):
        return _selector_steps(est, cols, walk)
    walk.read_as_numbers(cols)
    if _name(est) == "FunctionTransformer":
        fn = _ufunc(est, "func")  # None: how a fitted ColumnTransformer stores "passthrough"
        return ([] if fn is None else [Func(walk(), fn)]), ([None] * len(cols) if fn else cols)
    steps = input_steps(est, walk())
    for step in steps:
        for _, arr_name, arr in (step.parts() if isinstance(step, Affine) else ()):
            if arr.shape != (len(cols),):
                raise UnsupportedModelError(
                    f"{_name(est)} has {arr.shape} values but {len(cols)} columns reach it; the "
                    f"pipeline's steps do not fit together.")
    return steps, [None] * len(cols)


def _ufunc(est, attr):
    """The name of est.<attr> when it is exactly one of numpy's UFUNCS (or None)."""
    fn = getattr(est, attr, None)
    if fn is None:
        return None
    for name in UFUNCS:
        if fn is getattr(np, name):
            if getattr(est, "kw_args" if attr == "func" else "inv_kw_args", None):
                raise UnsupportedModelError(f"FunctionTransformer with keyword arguments for "
                                            f"{attr} is not supported.")
            return name
    raise UnsupportedModelError(
        f"FunctionTransformer {attr} {getattr(fn, '__name__', type(fn).__name__)!r} is not "
        f"supported; supported: numpy's {', '.join(UFUNCS)}.")


def _is_new_step(step):
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_selection import SelectorMixin
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, PolynomialFeatures
    return (isinstance(step, (ColumnTransformer, SelectorMixin, SimpleImputer, PolynomialFeatures,
                              OneHotEncoder, OrdinalEncoder))
            or _name(step) == "FunctionTransformer")


# ------------------------------------------------------------------------ models

@singledispatch
def model(est) -> dict:
    """layers, head, classes and notes of a fitted final estimator."""
    raise UnsupportedModelError(
        f"{_name(est)} is not supported; mlpexport exports {supported.summary()}.")


def _mlp_layers(est):
    _fitted(est, "coefs_")
    if est.activation not in HIDDEN_ACTIVATIONS:
        raise UnsupportedModelError(
            f"{_name(est)} has hidden activation {est.activation!r}; supported: "
            f"{', '.join(HIDDEN_ACTIVATIONS)}.")
    coefs, intercepts = est.coefs_, est.intercepts_
    if (not isinstance(coefs, (list, tuple)) or not isinstance(intercepts, (list, tuple))
            or len(coefs) != len(intercepts) or not coefs):
        raise UnsupportedModelError(f"{_name(est)} has inconsistent coefs_ and intercepts_.")
    layers = []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        W, b = _values(f"{_name(est)}.coefs_[{i}]", W), _values(f"{_name(est)}.intercepts_[{i}]", b)
        ok = W.ndim == 2 and b.shape == (W.shape[1],)
        if i > 0:
            ok = ok and W.shape[0] == layers[-1].W.shape[1]
        if not ok:
            raise UnsupportedModelError(
                f"{_name(est)} layer {i + 1} has inconsistent shapes: coefs_ {W.shape}, "
                f"intercepts_ {b.shape}.")
        last = i == len(coefs) - 1
        layers.append(Dense(W, b, "identity" if last else est.activation))
    return layers


def _training_notes(est):
    notes = {"estimator": _name(est)}
    for attr in ("n_iter_", "loss_", "best_loss_", "solver", "alpha"):
        value = getattr(est, attr, None)
        if isinstance(value, (int, float, str, np.number)) and not isinstance(value, bool):
            notes[attr.rstrip("_")] = value.item() if isinstance(value, np.number) else value
    if hasattr(est, "hidden_layer_sizes"):
        notes["activation"] = est.activation
    return notes


@model.register
def _(est: MLPRegressor):
    layers = _mlp_layers(est)
    if est.out_activation_ not in ("identity", "exp"):
        raise UnsupportedModelError(
            f"MLPRegressor has output activation {est.out_activation_!r}; supported: identity, exp.")
    return dict(layers=layers, head=Head(est.out_activation_), classes=None,
                notes=_training_notes(est))


@model.register
def _(est: MLPClassifier):
    layers = _mlp_layers(est)
    y_type = est._label_binarizer.y_type_
    classes = np.asarray(est.classes_)
    out = est.out_activation_
    if y_type == "multilabel-indicator" and out == "logistic":
        head = Head("multilabel")
    elif y_type == "binary" and out == "logistic" and layers[-1].W.shape[1] == 1 and len(classes) == 2:
        head = Head("logistic")  # predict: p > 0.5, strictly
    elif y_type == "multiclass" and out == "softmax" and layers[-1].W.shape[1] == len(classes):
        head = Head("softmax")  # predict: first argmax of the probabilities
    else:
        raise UnsupportedModelError(
            f"MLPClassifier with target type {y_type!r}, output activation {out!r} and "
            f"{len(classes)} classes is not supported.")
    return dict(layers=layers, head=head, classes=classes, notes=_training_notes(est))


def _linear(est, intercept=True):
    coef = _param(est, "coef_")
    if coef.ndim != 2:
        raise UnsupportedModelError(f"{_name(est)}.coef_ has shape {coef.shape}, not (classes, features).")
    b = _param(est, "intercept_") if intercept else np.zeros(coef.shape[0])
    b = np.broadcast_to(b, (coef.shape[0],)).copy()
    return Dense(coef.T, b, "identity")


@model.register
def _(est: LogisticRegression):  # also LogisticRegressionCV, a subclass
    _fitted(est, "coef_")
    layer = _linear(est)
    classes = np.asarray(est.classes_)
    notes = _training_notes(est)
    legacy = getattr(est, "multi_class", None)  # only in pickles of scikit-learn < 1.8
    if len(classes) == 2:
        if legacy == "multinomial":
            # Old scikit-learn: softmax over [-z, z]; labels still from z > 0.
            warnings.warn("this LogisticRegression was written with multi_class='multinomial' "
                          "on two classes; exporting the probabilities that version computed "
                          "(softmax over [-z, z]).", LegacyModelWarning, stacklevel=3)
            layer = Dense(np.hstack([-layer.W, layer.W]), np.hstack([-layer.b, layer.b]))
            return dict(layers=[layer], head=Head("softmax", "logit"), classes=classes,
                        notes={**notes, "legacy": "binary-multinomial"})
        return dict(layers=[layer], head=Head("logistic", "logit"), classes=classes, notes=notes)
    ovr = legacy in ("ovr", "warn") or (legacy in ("auto", "deprecated") and est.solver == "liblinear")
    if ovr:
        warnings.warn("this LogisticRegression was written by an older scikit-learn as a "
                      "one-vs-rest model; exporting the probabilities that version computed "
                      "(sigmoid per class divided by the row sum), which differ from what "
                      "scikit-learn >= 1.8 computes for it.", LegacyModelWarning, stacklevel=3)
        return dict(layers=[layer], head=Head("ovr", "logit"), classes=classes,
                    notes={**notes, "legacy": "ovr"})
    return dict(layers=[layer], head=Head("softmax", "logit"), classes=classes, notes=notes)


# SGDClassifier's losses (and the names older scikit-learn gave some of them): those
# with predict_proba, and the ones whose model only has a decision function.
SGD_PROBA_LOSSES = {"log_loss": ("logistic", "ovr"), "log": ("logistic", "ovr"),
                    "modified_huber": ("huber-binary", "huber-ovr")}
SGD_DECISION_LOSSES = ("hinge", "squared_hinge", "perceptron", "squared_error", "squared_loss",
                       "huber", "epsilon_insensitive", "squared_epsilon_insensitive")


def _shown(est) -> str:
    """The estimator as the user wrote it, for refusals: SGDClassifier(loss='hinge')."""
    loss = getattr(est, "loss", None)
    if isinstance(est, SGDClassifier) and isinstance(loss, str):
        return f"{_name(est)}(loss={loss[:40]!r})"
    return _name(est)


def _classifier(est, heads=("decision", "decision")):
    """A linear classifier: coef_ (1 or n_classes, features), labels from its decision
    function (z > 0 for two classes, else the first argmax), as LinearClassifierMixin.
    heads: the head kinds for two classes and for more."""
    _fitted(est, "coef_")
    coef = _param(est, "coef_")
    if coef.ndim == 1:  # RidgeClassifier keeps two classes' coef_ as (features,)
        coef = coef.reshape(1, -1)
    if coef.ndim != 2:
        raise UnsupportedModelError(f"{_shown(est)}.coef_ has shape {coef.shape}, not "
                                    f"(classes, features).")
    b = _param(est, "intercept_").reshape(-1)
    if b.size not in (1, coef.shape[0]):
        raise UnsupportedModelError(f"{_shown(est)} has {coef.shape[0]} score columns but "
                                    f"{b.size} intercepts; the model file is inconsistent.")
    layer = Dense(coef.T, np.broadcast_to(b, (coef.shape[0],)).copy(), "identity")
    classes = np.asarray(est.classes_)
    binarizer = getattr(est, "_label_binarizer", None)  # RidgeClassifier's
    if str(getattr(binarizer, "y_type_", "")).startswith("multilabel"):
        raise UnsupportedModelError(f"{_shown(est)} fitted on multilabel targets is not "
                                    f"supported; fit it on one label per row.")
    width = layer.W.shape[1]
    if len(classes) == 2 and width == 1:
        head = Head(heads[0], "logit")
    elif len(classes) > 2 and width == len(classes):
        head = Head(heads[1], "logit")
    else:
        raise UnsupportedModelError(
            f"{_shown(est)} has {width} score columns for {len(classes)} classes; a fitted "
            f"linear classifier has one for two classes, else one per class.")
    return dict(layers=[layer], head=head, classes=classes, notes=_training_notes(est))


@model.register
def _(est: SGDClassifier):
    loss = est.loss
    if isinstance(loss, str) and loss in SGD_PROBA_LOSSES:
        return _classifier(est, SGD_PROBA_LOSSES[loss])
    if isinstance(loss, str) and loss in SGD_DECISION_LOSSES:
        return _classifier(est)
    raise UnsupportedModelError(
        f"{_shown(est)} is not supported; mlpexport knows the losses "
        f"{', '.join(sorted({*SGD_PROBA_LOSSES, *SGD_DECISION_LOSSES}))}.")


def _decision_classifier(est):
    return _classifier(est)


for _cls in (_lm.RidgeClassifier, _lm.RidgeClassifierCV, _lm.Perceptron, _svm.LinearSVC,
             # deprecated in scikit-learn 1.8, to be removed in 1.10
             getattr(_lm, "PassiveAggressiveClassifier", None)):
    if _cls is not None:
        model.register(_cls)(_decision_classifier)


def _linear_regressor(est, out="identity"):
    """A linear model's predict: X @ coef_ + intercept_ (then the GLM's inverse link).
    coef_ of one dimension predicts (n,), of two (n, n_targets), as predict does."""
    _fitted(est, "coef_")
    coef = _param(est, "coef_")
    if coef.ndim not in (1, 2) or coef.size == 0:
        raise UnsupportedModelError(f"{_name(est)}.coef_ has shape {coef.shape}, not "
                                    f"(features,) or (targets, features).")
    W = coef.reshape(-1, 1) if coef.ndim == 1 else coef.T
    b = _param(est, "intercept_")
    if b.size not in (1, W.shape[1]):
        raise UnsupportedModelError(f"{_name(est)}.intercept_ has {b.size} values for "
                                    f"{W.shape[1]} outputs.")
    b = np.broadcast_to(b.reshape(-1), (W.shape[1],)).copy()
    return dict(layers=[Dense(W, b, "identity")], head=Head(out), classes=None,
                notes=_training_notes(est), flat=coef.ndim == 1)


for _cls in (_lm.LinearRegression, _lm.Ridge, _lm.RidgeCV, _lm.Lasso, _lm.LassoCV,
             _lm.ElasticNet, _lm.ElasticNetCV, _lm.Lars, _lm.LassoLars, _lm.BayesianRidge,
             _lm.ARDRegression, _lm.HuberRegressor, _lm.QuantileRegressor, _lm.SGDRegressor,
             _svm.LinearSVR, _lm.MultiTaskLasso, _lm.MultiTaskLassoCV, _lm.MultiTaskElasticNet,
             _lm.MultiTaskElasticNetCV):
    model.register(_cls)(_linear_regressor)


def _glm(est):
    """PoissonRegressor, GammaRegressor, TweedieRegressor: predict is the inverse link of
    X @ coef_ + intercept_, the link the fitted model holds (Tweedie's link='auto' is
    identity for power <= 0, else log)."""
    from sklearn._loss.link import IdentityLink, LogLink
    _fitted(est, "coef_")
    link = getattr(getattr(est, "_base_loss", None), "link", None)
    if isinstance(link, LogLink):
        out = "exp"
    elif isinstance(link, IdentityLink):
        out = "identity"
    else:
        raise UnsupportedModelError(
            f"{_name(est)} has a link function mlpexport does not know ({type(link).__name__}); "
            f"supported: identity, log.")
    return _linear_regressor(est, out)


for _cls in (_lm.PoissonRegressor, _lm.GammaRegressor, _lm.TweedieRegressor):
    model.register(_cls)(_glm)


# ----------------------------------------------------------------------- wrappers

def _steps(pipeline):
    """Pipeline.steps, checked: a file can hold anything there."""
    steps = getattr(pipeline, "steps", None)
    if not (isinstance(steps, (list, tuple)) and steps
            and all(isinstance(s, (list, tuple)) and len(s) == 2 and isinstance(s[0], str)
                    for s in steps)):
        raise UnsupportedModelError(
            "the Pipeline's steps are not a list of (name, estimator) pairs; the model file "
            "is malformed.")
    return steps


def _unwrap(est, scalers, target, flat):
    """Walk Pipeline / TransformedTargetRegressor down to the final model (a loop, not
    recursion: a file can nest them thousands deep)."""
    for _ in range(MAX_NESTING):
        if isinstance(est, Pipeline):
            steps = _steps(est)
            for step_name, step in steps[:-1]:
                if step is None or (isinstance(step, str) and step == "passthrough"):
                    continue
                if not (isinstance(step, SCALERS) or _is_new_step(step)):
                    raise UnsupportedModelError(
                        f"Pipeline step {step_name!r} ({_name(step)}) is not supported; supported "
                        f"steps: {', '.join(SUPPORTED_STEPS)}.")
                scalers.append(step)
            est = steps[-1][1]
            if est is None or isinstance(est, str):
                raise UnsupportedModelError("the Pipeline has no final estimator.")
        elif isinstance(est, TransformedTargetRegressor):
            _fitted(est, "regressor_")
            if _name(est.transformer_) == "FunctionTransformer":
                fn = _ufunc(est.transformer_, "inverse_func")
                _ufunc(est.transformer_, "func")  # refuses any other function in the file
                if fn is not None:
                    target.insert(0, Func("y", fn))
                flat = getattr(est, "_training_dim", 1) == 1
                est = est.regressor_
                continue
            if not isinstance(est.transformer_, SCALERS):
                raise UnsupportedModelError(
                    f"TransformedTargetRegressor with transformer {_name(est.transformer_)} (or "
                    f"func/inverse_func) is not supported; supported: {SCALER_NAMES}.")
            target.insert(0, est.transformer_)
            flat = getattr(est, "_training_dim", 1) == 1
            est = est.regressor_
        else:
            return est, flat
    raise UnsupportedModelError(
        f"the model nests Pipelines or TransformedTargetRegressors more than {MAX_NESTING} "
        f"deep; mlpexport exports a model with a few steps before it.")


def extract(est, *, saved_version: str | None = None, model_file: str = "") -> Network:
    """Turn a fitted, supported estimator into a Network, or refuse, naming what is wrong."""
    scalers, target = [], []
    final, flat = _unwrap(est, scalers, target, True)
    parts = model(final)
    if not target:  # a TransformedTargetRegressor decides the shape of predict itself
        flat = parts.get("flat", True)
    if target and parts["classes"] is not None:
        raise UnsupportedModelError("TransformedTargetRegressor must wrap a regressor.")
    layers = parts["layers"]
    n_features = layers[0].W.shape[0]
    names = ["x"] if len(scalers) == 1 else [f"x{i}" for i in range(1, len(scalers) + 1)]
    widened = any(_is_new_step(s) for s in scalers)
    if widened:
        # Steps that change the width: X's width is what the first step was fitted on.
        width = getattr(scalers[0], "n_features_in_", None)
        if not isinstance(width, (int, np.integer)) or not 0 < width <= 10**6:
            raise UnsupportedModelError(f"{_name(scalers[0])} does not record how many input "
                                        f"features it was fitted on (n_features_in_).")
        names_in = getattr(est, "feature_names_in_", None)
        walk, inputs = _Walk(None if names_in is None else [str(n) for n in names_in]), []
        cols = list(range(int(width)))
        for scaler in scalers:
            more, cols = _transform_steps(scaler, cols, walk)
            inputs += more
        walk.read_as_numbers(cols)  # the model reads what reaches it as numbers
        walk.settle()
        both = sorted(set(walk.words) & walk.numeric)
        if both:
            raise UnsupportedModelError(
                f"input column {walk.label(both[0])} holds strings for one step and numbers for "
                f"another; only encoders and imputers may read a string column.")
        vocab = tuple(StringColumn(j, tuple(walk.words[j]), j in walk.strict, walk.label(j),
                                   walk.missing.get(j, "nan"), j in walk.refuse_nan)
                      for j in sorted(walk.words))
        categories = tuple((j, tuple(walk.categories[j])) for j in sorted(walk.categories))
        out = len(cols)
        if out != n_features:
            raise UnsupportedModelError(
                f"the preprocessing steps give {out} columns but the model's first layer takes "
                f"{n_features}; the pipeline's steps do not fit together.")
        n_features = int(width)
    else:
        vocab, categories = (), ()
        inputs = [s for scaler, name in zip(scalers, names) for s in input_steps(scaler, name)]
    tnames = ["y"] if len(target) == 1 else [f"y{i}" for i in range(1, len(target) + 1)]
    targets = [s for scaler, name in zip(target, tnames)
               for s in ([scaler] if isinstance(scaler, Func) else inverse_steps(scaler, name))]
    for step in ((*inputs, *targets) if not widened else targets):
        if isinstance(step, Affine):
            width = n_features if step in inputs else layers[-1].W.shape[1]
            for _, arr_name, arr in step.parts():
                if arr.shape != (width,):
                    raise UnsupportedModelError(
                        f"{arr_name} has shape {arr.shape} but the model expects {width} "
                        f"values; the pipeline's steps do not fit together.")
    declared = getattr(est, "n_features_in_", n_features)
    if declared != n_features:
        raise UnsupportedModelError(
            f"{_name(est)} declares {declared} input features but its first layer has "
            f"{n_features}.")
    # where the raw inputs live: the first step's statistics when it is a scaler (also in
    # front of steps that change the width, which it sees before they do)
    loc, spread = _input_range(scalers[0], n_features) if scalers else (None, None)
    meta = dict(parts["notes"])
    meta["source"] = describe(est)
    meta["sklearn_version"] = saved_version or sklearn.__version__
    meta["model_file"] = model_file
    names_in = getattr(est, "feature_names_in_", None)
    if names_in is not None:
        meta["feature_names"] = [str(n) for n in names_in]
    return Network(n_features=n_features, layers=tuple(layers), head=parts["head"],
                   inputs=tuple(inputs), target=tuple(targets), classes=parts["classes"],
                   flat=flat, input_loc=loc, input_spread=spread, meta=meta, vocab=vocab,
                   categories=categories)


def describe(est, _depth=0) -> str:
    """A short name for a model: 'Pipeline(StandardScaler, MLPRegressor)'."""
    if _depth > MAX_NESTING:
        return "..."
    if isinstance(est, Pipeline):
        inner = [s if isinstance(s, str) else describe(s, _depth + 1) for _, s in _steps(est)]
        return f"Pipeline({', '.join(str(i) for i in inner)})"
    if isinstance(est, TransformedTargetRegressor):
        reg = est.regressor_ if hasattr(est, "regressor_") else est.regressor
        tr = est.transformer_ if hasattr(est, "transformer_") else est.transformer
        return f"TransformedTargetRegressor({describe(reg, _depth + 1)}, {_name(tr)})"
    return _name(est)
