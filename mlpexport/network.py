"""The model description every export is made from, and its reference evaluation.

A `Network` is framework-free: plain frozen dataclasses holding numpy arrays, as
extract found them (scaler steps, dense layers, a head, a target inverse, classes).
`Network.program()` turns it into the one op list every target renders, from X to
the last label (typed ops, below):

    inputs   Sub | Div | Mul | Add (an Affine step's parts), ClipTo        X -> Z
             Take | FillNaN | MarkNaN | PolyTerms (may change the width), Apply
    target   ... and Apply (a TransformedTargetRegressor's inverse_func)
    layers   Gemm (Z @ W + b), then Relu | Tanh | Sigmoid                   Z -> Z
    output   IdentityOut | ExpOut             (regressors)                 Z -> Y
             BinaryProba | SoftmaxProba | OvrProba | SigmoidProba           Z -> P
             HuberBinaryProba | HuberOvrProba  (SGD modified_huber)
             none: a classifier without predict_proba (LinearSVC, Perceptron, ...)
    scores   Scores | BinaryScores   (decision_function of linear models)    Z -> D
    target   Sub | Div | Mul | Add (inverse of a target scaler)            Y -> Y
    decide   Threshold | Argmax, then ClassLookup; or MultilabelDecision   Z, P -> labels

`program` is the only place where a head's kind becomes ops; `evaluate` below is the
reference semantics (one numpy function per op type); every target must reproduce
it, and the tests hold all of them to scikit-learn's own `predict`.
"""
from __future__ import annotations

import enum
import functools
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
CLASSIFIER_HEADS = ("logistic", "softmax", "ovr", "multilabel",
                    # linear classifiers: labels from the decision function; "decision" has
                    # no probabilities, the modified-Huber heads have scikit-learn's formula
                    "decision", "huber-binary", "huber-ovr")
BINARY_HEADS = ("logistic", "huber-binary")  # one score column, two probability columns
AFFINE_PARTS = ("center", "scale", "factor", "offset")  # subtract, divide, multiply, add


@dataclass(frozen=True, eq=False)
class Affine:
    """Z = (Z - center) / scale * factor + offset, parts that are None are skipped.

    The four parts keep scikit-learn's own order of operations (StandardScaler
    subtracts and divides, MinMaxScaler multiplies and adds) so exports round the
    same way scikit-learn does.
    """

    name: str
    center: np.ndarray | None = None
    scale: np.ndarray | None = None
    factor: np.ndarray | None = None
    offset: np.ndarray | None = None

    def parts(self):
        """(op, array name, array) for the parts that are present, in order."""
        ops = dict(center="sub", scale="div", factor="mul", offset="add")
        return [(ops[p], f"{self.name}_{p}", getattr(self, p))
                for p in AFFINE_PARTS if getattr(self, p) is not None]


@dataclass(frozen=True, eq=False)
class Clip:
    """Z = min(max(Z, low), high) with scalar bounds."""

    name: str
    low: float
    high: float


@dataclass(frozen=True, eq=False)
class Select:
    """Z = Z[:, indices]: pick, reorder or repeat columns (a ColumnTransformer's column
    choice and branch order, a feature selector, a column an imputer also flags)."""

    name: str
    indices: tuple

    def named(self):
        return {}

    def ops(self):
        return [Take(tuple(int(i) for i in self.indices))]


@dataclass(frozen=True, eq=False)
class Impute:
    """Z = where(isnan(Z), fill, Z) per column; a NaN in `fill` leaves that column alone."""

    name: str
    fill: np.ndarray

    def named(self):
        return {f"{self.name}_fill": self.fill}

    def ops(self):
        return [FillNaN(f"{self.name}_fill")]


@dataclass(frozen=True, eq=False)
class Indicate:
    """Z = where(mask == 1, isnan(Z), Z) per column: the columns flagged by `mask` become
    0/1 missing-value indicators (SimpleImputer(add_indicator=True))."""

    name: str
    mask: np.ndarray

    def named(self):
        return {f"{self.name}_mask": self.mask}

    def ops(self):
        return [MarkNaN(f"{self.name}_mask")]


@dataclass(frozen=True, eq=False)
class Poly:
    """Z[:, k] = prod_j Z[:, j] ** powers[k, j]: PolynomialFeatures' terms in its column
    order (a row with a single 1 copies a column), computed as products of columns in
    scikit-learn's order (poly_plan), never as powers."""

    name: str
    powers: np.ndarray

    @functools.cached_property
    def plan(self):
        return poly_plan(self.powers)

    def named(self):
        left, right, out, _ = self.plan
        n = self.name
        if not len(left):  # degree 1: no products (and no empty arrays, which C cannot hold)
            return {f"{n}_out": out}
        return {f"{n}_left": left, f"{n}_right": right, f"{n}_out": out}

    def ops(self):
        n_out, n_in = self.powers.shape
        n = self.name
        return [PolyTerms(f"{n}_left", f"{n}_right", f"{n}_out", int(n_in), int(n_out),
                          self.plan[3])]


def poly_plan(powers):
    """(left, right, out, groups): PolynomialFeatures' terms as products of columns, in
    the order scikit-learn's transform multiplies them. A table T holds 1, then the
    n_in columns of Z, then one column per product: T[:, 1 + n_in + k] = T[:, left[k]] *
    Z[:, right[k]]. Each product of degree d is a term of degree d - 1 times the column
    right[k], the term's lowest column (scikit-learn: XP[:, start:end] * X[:, i], the
    terms of columns >= i times column i), so the bits are scikit-learn's. groups: the
    (start, stop) runs of k of one degree, lowest first: a product reads only columns of
    earlier runs, so a run is one vectorised multiply. out: the T column of each term, in
    PolynomialFeatures' column order (0: the bias, 1 + j: Z[:, j])."""
    powers = np.asarray(powers, dtype=np.int64)
    n_out, n_in = powers.shape
    found = {}  # products needed, by their powers: (degree, the term it extends, column)
    for p in map(tuple, powers):
        while sum(p) >= 2 and p not in found:
            i = next(j for j, e in enumerate(p) if e)
            parent = p[:i] + (p[i] - 1,) + p[i + 1:]
            found[p] = (sum(p), parent, i)
            p = parent
    order = sorted(found, key=lambda p: found[p][0])  # stable: by degree, then first need
    column = {p: 1 + n_in + k for k, p in enumerate(order)}
    column[(0,) * n_in] = 0
    for j in range(n_in):
        column[tuple(int(j == i) for i in range(n_in))] = 1 + j
    left = np.array([column[found[p][1]] for p in order], dtype=np.float64)
    right = np.array([found[p][2] for p in order], dtype=np.float64)
    out = np.array([column[tuple(p)] for p in powers], dtype=np.float64)
    groups, start = [], 0
    degrees = [found[p][0] for p in order]
    for k in range(1, len(order) + 1):
        if k == len(order) or degrees[k] != degrees[start]:
            groups.append((start, k))
            start = k
    return left, right, out, tuple(groups)


@dataclass(frozen=True, eq=False)
class Encode:
    """Z[:, column] = codes[k] where Z[:, column] == values[k]; a NaN there becomes
    `missing` (None: NaN is unknown), any other value `unknown`, or, with error=True,
    raises as scikit-learn does (handle_unknown="error"). A category encoder's lookup:
    OneHotEncoder's output position (-1: a row of zeros), OrdinalEncoder's code."""

    name: str
    column: int
    values: np.ndarray
    codes: np.ndarray
    missing: float | None
    unknown: float
    error: bool
    source: int | None = None  # the X column it reads, unchanged (for the error message)

    def named(self):
        n = self.name
        named = {f"{n}_values": self.values, f"{n}_codes": self.codes,
                 f"{n}_unknown": np.float64(self.unknown)}
        if self.missing is not None:
            named[f"{n}_missing"] = np.float64(self.missing)
        return named

    def ops(self):
        n = self.name
        return [Lookup(self.column, f"{n}_values", f"{n}_codes",
                       None if self.missing is None else f"{n}_missing",
                       f"{n}_unknown", self.error, self.source)]


@dataclass(frozen=True, eq=False)
class OneHot:
    """Z = (Z == positions) as 0/1 per column; a NaN position leaves its column alone, a
    NaN in Z stays NaN. After a Select that repeats an encoded column once per output
    column, this is one-hot encoding of the codes an Encode wrote."""

    name: str
    positions: np.ndarray

    def named(self):
        return {f"{self.name}_positions": self.positions}

    def ops(self):
        return [Equal(f"{self.name}_positions")]


UFUNCS = ("log1p", "expm1", "log", "exp", "sqrt", "square")  # FunctionTransformer's, elementwise


@dataclass(frozen=True, eq=False)
class Func:
    """Z = fn(Z) elementwise, fn one of UFUNCS (numpy's function of that name)."""

    name: str
    fn: str
    cols: tuple | None = None  # (start, stop): only these columns (a ColumnTransformer branch)

    def named(self):
        return {}

    def ops(self):
        return [Apply(self.fn, self.cols)]


@dataclass(frozen=True, eq=False)
class StringColumn:
    """An input column that holds strings: the strings the model knows there, in the
    order of their codes. error: an unknown string is an error (an encoder with
    handle_unknown="error" reads the column); label: the column's name for messages."""

    column: int
    words: tuple
    error: bool = False
    label: str = ""
    # None and NaN are two values to scikit-learn: the one the model knows as this column's
    # missing value (an encoder's None or NaN category, an imputer's missing_values) codes
    # as NaN; the other is an unknown category, or with refuse_nan a NaN is an error
    # (SimpleImputer(missing_values=None) raises "Input contains NaN").
    missing: str = "nan"  # "nan" or "none"
    refuse_nan: bool = False

    def missing_value(self):
        """The value this column takes as missing: None or NaN."""
        return None if self.missing == "none" else np.nan


@dataclass(frozen=True, eq=False)
class Dense:
    """Z = Z @ W + b, then `activation` (one of HIDDEN_ACTIVATIONS)."""

    W: np.ndarray
    b: np.ndarray
    activation: str = "identity"


@dataclass(frozen=True, eq=False)
class Head:
    """How the last layer's output becomes predictions.

    kind: identity/exp (regressors); logistic (binary, one column), softmax,
    ovr (sigmoid per class divided by the row sum), multilabel (sigmoid per column);
    decision (no probabilities: one column for two classes, else one per class),
    huber-binary / huber-ovr (SGDClassifier(loss="modified_huber")'s probabilities).
    decide: "proba" when labels come from probabilities (MLPClassifier: p > 0.5,
    argmax of softmax), "logit" when they come from raw scores (linear models:
    z > 0, argmax of z).
    """

    kind: str
    decide: str = "proba"


@dataclass(frozen=True, eq=False)
class Network:
    n_features: int
    layers: tuple[Dense, ...]
    head: Head
    inputs: tuple = ()  # Affine | Clip | Select | Impute | Indicate | Poly
    target: tuple[Affine, ...] = ()
    classes: np.ndarray | None = None
    flat: bool = True  # regressors: one output comes back as (n,), like predict
    input_loc: np.ndarray | None = None  # where inputs live, for drawing test rows
    input_spread: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    vocab: tuple = ()  # StringColumn per input column that holds strings
    categories: tuple = ()  # (column, known values) of categorical inputs, to draw rows from

    def texts(self) -> dict[str, np.ndarray]:
        """Everything besides the weights that an export stores and reads, as `digest`
        takes it: the feature names (how named input is matched to columns), the class
        labels (label_form) and the known strings of each text column."""
        out = {}
        if self.meta.get("feature_names"):
            out["feature_names"] = np.array([str(n) for n in self.meta["feature_names"]], dtype=object)
        if self.classes is not None:
            out["classes"] = label_form(self.classes)
        return out | self.strings()

    def strings(self) -> dict[str, np.ndarray]:
        """The known strings of each string column, by the name the exports give them."""
        return {f"vocab_{c.column}": np.array(list(c.words), dtype=str) for c in self.vocab}

    def string_columns(self) -> list[int]:
        return [c.column for c in self.vocab]

    @property
    def is_classifier(self) -> bool:
        return self.head.kind in CLASSIFIER_HEADS

    @property
    def n_outputs(self) -> int:
        return int(self.layers[-1].W.shape[1])

    @property
    def n_proba(self) -> int:
        """Columns of predict_proba: two for a binary logistic head, else one per output."""
        if not self.has_proba:
            return 0
        return 2 if self.head.kind in BINARY_HEADS else self.n_outputs

    @property
    def has_proba(self) -> bool:
        """The model has predict_proba."""
        return self.is_classifier and self.head.kind != "decision"

    @property
    def has_scores(self) -> bool:
        """The model has decision_function: classifiers that decide on raw scores (linear
        models), not on probabilities (MLPClassifier)."""
        return self.is_classifier and self.head.decide == "logit" and self.head.kind != "multilabel"

    def outputs(self) -> list[str]:
        """scikit-learn's names of what the model computes, as every export offers them."""
        if not self.is_classifier:
            return ["predict"]
        return (["predict"] + (["predict_proba"] if self.has_proba else [])
                + (["decision_function"] if self.has_scores else []))

    def program(self) -> "Program":
        """The whole computation as typed ops, from X to the last label (see `Program`)."""
        return program(self)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every parameter by the name the exports give it, as float64."""
        named = {}
        for step in (*self.inputs, *self.target):
            if hasattr(step, "named"):
                named.update(step.named())
            elif isinstance(step, Clip):
                named[f"{step.name}_low"] = np.float64(step.low)
                named[f"{step.name}_high"] = np.float64(step.high)
            else:
                for _, name, arr in step.parts():
                    named[name] = arr
        for i, layer in enumerate(self.layers, start=1):
            named[f"W{i}"] = layer.W
            named[f"b{i}"] = layer.b
        return {k: np.asarray(v, dtype=np.float64) for k, v in named.items()}

    def describe(self) -> dict:
        """The non-numeric structure, as plain JSON-able data."""
        prog = self.program()
        return {
            "n_features": self.n_features,
            "activations": [layer.activation for layer in self.layers[:-1]],
            "head": self.head.kind,
            "decide": self.head.decide,
            "flat": self.flat,
            # This spelling of the ops is frozen: the fingerprint of every export
            # already written (and committed next to a model) is computed from it.
            "steps": [spelled(op) for op in (*prog.inputs, *prog.layers)],
            "target_steps": [spelled(op) for op in prog.target],
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
        } | ({"strings": [[c.column, list(c.words), c.error]
                          + ([c.missing, c.refuse_nan] if (c.missing, c.refuse_nan) != ("nan", False) else [])
                          for c in self.vocab]}
             if self.vocab else {})

    def nan_columns(self) -> np.ndarray:
        """Which input columns may hold NaN: those whose NaN never reaches the first layer
        (an imputer fills it, or no step reads the column), as scikit-learn accepts them.
        Found by running the input ops on rows of ones with one NaN each."""
        n = self.n_features
        ok = np.zeros(n, dtype=bool)
        ops = self.program().inputs
        if not any(isinstance(op, (Take, FillNaN, Lookup)) for op in ops):
            return ok  # every column reaches the first layer as it is
        arrays = self.arrays()
        known = self._known_row()
        forward = FORWARD | {Lookup: lambda op, a, Z: _lookup(op, a, Z, strict=False)}
        for start in range(0, n, 256):
            cols = np.arange(start, min(n, start + 256))
            X = np.repeat(known[None, :], len(cols), axis=0)
            X[np.arange(len(cols)), cols] = np.nan
            with np.errstate(all="ignore"):
                ok[cols] = ~np.isnan(_run(ops, arrays, X, forward)).any(axis=1)
        return ok

    def unread_columns(self) -> np.ndarray:
        """Which input columns no step reads (a ColumnTransformer's remainder="drop"):
        scikit-learn ignores what they hold, so every export takes any value there. Found
        by running the input ops on a row every lookup knows, with each column changed in
        turn (to NaN, and to two other numbers): a column is unread when nothing changes."""
        n = self.n_features
        unread = np.zeros(n, dtype=bool)
        ops = self.program().inputs
        if not any(isinstance(op, Take) for op in ops):
            return unread  # every column reaches the first layer
        arrays, known = self.arrays(), self._known_row()
        forward = FORWARD | {Lookup: lambda op, a, Z: _lookup(op, a, Z, strict=False)}
        text = set(self.string_columns())
        with np.errstate(all="ignore"):
            base = _run(ops, arrays, known[None, :].copy(), forward)[0]
            for start in range(0, n, 256):
                cols = np.arange(start, min(n, start + 256))
                same = np.ones(len(cols), dtype=bool)
                for value in (np.nan, 3.25, -1e6):
                    X = np.repeat(known[None, :], len(cols), axis=0)
                    X[np.arange(len(cols)), cols] = value
                    out = _run(ops, arrays, X, forward)
                    same &= ((out == base) | (np.isnan(out) & np.isnan(base))).all(axis=1)
                unread[cols] = same
        unread[list(text)] = False
        return unread

    def unknown_columns(self) -> np.ndarray:
        """Which categorical input columns take a category the model has never seen
        without an error (an encoder with handle_unknown other than "error" reads them)."""
        ok = np.zeros(self.n_features, dtype=bool)
        if not self.categories:
            return ok
        known = self._known_row()
        ops, arrays = self.program().inputs, self.arrays()
        for col, values in self.categories:  # a text column's unknown code is -1
            X = known[None, :].copy()
            X[0, col] = -1.0 if isinstance(values[0], str) else unseen(values)
            try:
                _run(ops, arrays, X)  # an encoder with handle_unknown="error" raises
                ok[col] = True
            except ValueError:
                ok[col] = False
        return ok

    def _known_row(self) -> np.ndarray:
        """A row of numbers every lookup knows: a category where there are some (the code
        of a known string in text columns), 1 elsewhere."""
        known = np.ones(self.n_features)
        for col, values in self.categories:
            known[col] = values[0] if not isinstance(values[0], str) else 0
        return known

    @property
    def fingerprint(self) -> str:
        """sha256 of the structure, every weight and every stored string (feature names,
        labels, vocabularies): what an export was made from."""
        h = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode())
        h.update(digest(self.arrays() | self.texts()).encode())
        return h.hexdigest()[:32]


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def label_form(values) -> np.ndarray:
    """Class labels as `digest` takes them, however a file holds them: text as str
    (object array), numbers (bool, int, float) as float64."""
    a = np.asarray(values).ravel()
    if a.dtype.kind in "OUS":
        return np.array([str(v) for v in a], dtype=object)
    return a.astype(np.float64)


def digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and bytes of a set of arrays; a text array (str,
    bytes or object) by its values as a JSON list of str, whatever its width or shape, so
    every file format's way of holding strings gives the same digest. The one place that
    decides what an export's digest (and the fingerprint) covers: each target hands it
    every array and string it stores (Network.arrays() | Network.texts())."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        if a.dtype.kind in "OUS":
            h.update(f"{name}|text|".encode())
            h.update(json.dumps([str(v) for v in a.ravel()]).encode())
            continue
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


# ------------------------------------------------------------------------ the op list
# What a model computes, as typed ops on named values: X the input rows, Z the working
# array (raw output of the last layer after the layers), Y a regressor's predictions,
# P a classifier's probabilities, and the labels. Array names (op.array, op.W, ...) are
# the keys of `Network.arrays()`, which every export stores under the same names.
# A target maps each op type to its syntax (a table); none decides what a model means.


class Op:
    """One step of the computation (a small frozen dataclass)."""

    __slots__ = ()


@dataclass(frozen=True)
class Elementwise(Op):
    """Z = Z (op) array, one value per column (input scaling, target inverse). The
    subclasses are the four operations; equal only within one class."""

    array: str


class Sub(Elementwise):
    """Z - array."""


class Div(Elementwise):
    """Z / array."""


class Mul(Elementwise):
    """Z * array."""


class Add(Elementwise):
    """Z + array."""


@dataclass(frozen=True)
class ClipTo(Op):
    """Z = min(max(Z, low), high), scalar bounds named `low` and `high`."""

    low: str
    high: str


@dataclass(frozen=True)
class Take(Op):
    """Z = Z[:, indices] (0-based; columns may repeat or be left out): the width changes."""

    indices: tuple


@dataclass(frozen=True)
class FillNaN(Op):
    """Z = where(isnan(Z), fill, Z), one fill value per column; a NaN fill value leaves
    its column unchanged (so one array serves columns that are not imputed)."""

    fill: str


@dataclass(frozen=True)
class MarkNaN(Op):
    """Z = where(mask == 1, isnan(Z) as 0/1, Z), mask one 0/1 value per column."""

    mask: str


@dataclass(frozen=True)
class PolyTerms(Op):
    """Polynomial terms, n_in -> n_out columns, as products of columns (poly_plan): a
    table T = [1, Z, products], T[:, 1 + n_in + k] = T[:, left[k]] * Z[:, right[k]] for
    each run (start, stop) in groups in turn, then Z = T[:, out]. left, right and out
    are 0-based column numbers stored as numbers; a column no term reads never enters
    a product (NaN there stays out, as x ** 0 is 1 in scikit-learn)."""

    left: str
    right: str
    out: str
    n_in: int
    n_out: int
    groups: tuple  # ((start, stop), ...): runs of products of one degree

    @property
    def n_table(self) -> int:
        return 1 + self.n_in + (self.groups[-1][1] if self.groups else 0)


@dataclass(frozen=True)
class Apply(Op):
    """Z = fn(Z) elementwise, fn in UFUNCS with numpy's meaning (square: Z * Z); with
    cols = (start, stop) only Z[:, start:stop] (0-based, stop excluded) changes."""

    fn: str
    cols: tuple | None = None


@dataclass(frozen=True)
class Lookup(Op):
    """Z[:, column] = codes[k] where Z[:, column] == values[k] (values: no NaN); NaN ->
    the scalar `missing` (no `missing`: NaN is unknown); any other value -> the scalar
    `unknown`, or with error=True an error naming the column and the value (a target
    that cannot raise, ONNX, writes NaN there: that row's outputs are NaN)."""

    column: int
    values: str
    codes: str
    missing: str | None
    unknown: str
    error: bool
    source: int | None = None  # the X column, when Z[:, column] is still that column


@dataclass(frozen=True)
class Equal(Op):
    """Z = where(isnan(a) | isnan(Z), Z, Z == a) as 0/1, one value a per column."""

    array: str


@dataclass(frozen=True)
class StringCodes(Op):
    """X[:, column] (strings) -> the position of each value in `vocab` (a string array),
    -1 for a string not in it, NaN for a missing one (None, NaN, or "" where a target has
    no other way to say missing). The first stage: every later op sees numbers only.
    error: an unknown string is an error naming `label` and the value (an encoder
    with handle_unknown="error" reads this column)."""

    column: int
    vocab: str
    error: bool = False
    label: str = ""


@dataclass(frozen=True)
class Gemm(Op):
    """Z = Z @ W + b: one dense layer, n_in -> n_out."""

    W: str
    b: str
    n_in: int
    n_out: int


@dataclass(frozen=True)
class Relu(Op):
    pass


@dataclass(frozen=True)
class Tanh(Op):
    pass


@dataclass(frozen=True)
class Sigmoid(Op):
    """Z = 1 / (1 + exp(-Z)), as scipy.special.expit (a hidden logistic activation)."""


ACTIVATION_OPS = {"identity": None, "relu": Relu(), "tanh": Tanh(), "logistic": Sigmoid()}


# Output ops: Z -> Y (regressors) or Z -> P (classifiers).
@dataclass(frozen=True)
class IdentityOut(Op):
    """Y = Z."""


@dataclass(frozen=True)
class ExpOut(Op):
    """Y = exp(Z) (Poisson loss)."""


@dataclass(frozen=True)
class BinaryProba(Op):
    """p = sigmoid(Z[:, 0]); P = [1 - p, p] (one output column, two classes)."""


@dataclass(frozen=True)
class SoftmaxProba(Op):
    """P = exp(Z - rowmax(Z)) / rowsum(...)."""


@dataclass(frozen=True)
class OvrProba(Op):
    """P = sigmoid(Z) / rowsum(sigmoid(Z)); a row whose sigmoids all underflowed to 0
    becomes uniform (scikit-learn's one-vs-rest normalisation)."""


@dataclass(frozen=True)
class SigmoidProba(Op):
    """P = sigmoid(Z) per column (multilabel)."""


@dataclass(frozen=True)
class HuberBinaryProba(Op):
    """p = (clip(Z[:, 0], -1, 1) + 1) / 2; P = [1 - p, p] (SGDClassifier's modified_huber,
    two classes)."""


@dataclass(frozen=True)
class HuberOvrProba(Op):
    """P = (clip(Z, -1, 1) + 1) / 2, divided by its row sum; a row that is all 0 becomes
    uniform (SGDClassifier's modified_huber, three or more classes)."""


# Scores ops: Z -> D, scikit-learn's decision_function.
@dataclass(frozen=True)
class Scores(Op):
    """D = Z, one column per class (n, k)."""


@dataclass(frozen=True)
class BinaryScores(Op):
    """D = Z[:, column], shape (n,): two classes have one score, the positive class's
    (column is 0 for a one-column model; 1 for the [-z, z] model older scikit-learn wrote
    for a binary multinomial LogisticRegression)."""

    column: int


# Decision ops: (Z, P) -> labels.
class Score(enum.Enum):
    """What a decision reads: the raw scores Z (linear models decide on z > 0, argmax
    z) or the probabilities P (MLPClassifier: p > 0.5 strictly, argmax p)."""

    LOGITS = "logit"
    PROBA = "proba"


@dataclass(frozen=True)
class Threshold(Op):
    """index = Z[:, 0] > 0 (LOGITS) or P[:, 1] > 0.5 (PROBA), strictly; 0 or 1."""

    on: Score


@dataclass(frozen=True)
class Argmax(Op):
    """index = the first column holding the row's maximum of Z or P."""

    on: Score


@dataclass(frozen=True)
class ClassLookup(Op):
    """label = classes[index]."""


@dataclass(frozen=True)
class MultilabelDecision(Op):
    """labels = (P > 0.5) as integers 0/1, one column per label."""


@dataclass(frozen=True)
class Program:
    """A Network's computation in stages, each a tuple of ops:
    inputs (X -> Z), layers (Z -> raw output Z), output (Z -> Y or P, one op; None for
    a classifier without probabilities), target (Y -> Y: the inverse of a target
    scaler), decide (Z, P -> labels), scores (Z -> D, decision_function; None when the
    model has none)."""

    inputs: tuple
    layers: tuple
    output: Op | None
    target: tuple = ()
    decide: tuple = ()
    scores: Op | None = None
    n_features: int = 0  # the width of X, which input ops may change
    strings: tuple = ()  # StringCodes ops, before the inputs: string columns -> numbers

    def __iter__(self):
        ops = (*self.strings, *self.inputs, *self.layers, self.output, *self.target, *self.decide, self.scores)
        return iter(op for op in ops if op is not None)


def _affine_ops(step):
    if hasattr(step, "ops"):
        return step.ops()
    if isinstance(step, Clip):
        return [ClipTo(f"{step.name}_low", f"{step.name}_high")]
    kinds = dict(sub=Sub, div=Div, mul=Mul, add=Add)
    return [kinds[op](name) for op, name, _ in step.parts()]


OUTPUT_OPS = {"identity": IdentityOut(), "exp": ExpOut(), "logistic": BinaryProba(),
              "softmax": SoftmaxProba(), "ovr": OvrProba(), "multilabel": SigmoidProba(),
              "decision": None, "huber-binary": HuberBinaryProba(), "huber-ovr": HuberOvrProba()}


def program(net: Network) -> Program:
    """The one place where a head's kind and decision become ops."""
    layers = []
    for i, layer in enumerate(net.layers, start=1):
        layers.append(Gemm(f"W{i}", f"b{i}", int(layer.W.shape[0]), int(layer.W.shape[1])))
        if ACTIVATION_OPS[layer.activation] is not None:
            layers.append(ACTIVATION_OPS[layer.activation])
    kind = net.head.kind
    on = Score(net.head.decide)
    if kind == "multilabel":
        decide = (MultilabelDecision(),)
    elif kind in BINARY_HEADS or (kind == "decision" and net.n_outputs == 1):
        decide = (Threshold(on), ClassLookup())
    elif kind in ("softmax", "ovr", "decision", "huber-ovr"):
        decide = (Argmax(on), ClassLookup())
    else:
        decide = ()
    scores = None
    if net.has_scores:  # two classes: the positive class's score, as scikit-learn's (n,)
        two = net.classes is not None and len(net.classes) == 2
        scores = BinaryScores(net.n_outputs - 1) if two else Scores()
    return Program(
        inputs=tuple(op for step in net.inputs for op in _affine_ops(step)),
        layers=tuple(layers), output=OUTPUT_OPS[kind],
        target=tuple(op for step in net.target for op in _affine_ops(step)),
        decide=decide, scores=scores, n_features=net.n_features,
        strings=tuple(StringCodes(c.column, f"vocab_{c.column}", c.error, c.label)
                      for c in net.vocab))


_SPELLING = {Sub: "sub", Div: "div", Mul: "mul", Add: "add", ClipTo: "clip", Gemm: "dense"}
_ACTIVATION_NAMES = {type(op): name for name, op in ACTIVATION_OPS.items() if op is not None}


def spelled(op) -> list:
    """An op as the fingerprint's structure spells it (['sub', 'x_center'], ['act', 'relu'])."""
    if type(op) in _ACTIVATION_NAMES:
        return ["act", _ACTIVATION_NAMES[type(op)]]
    if isinstance(op, Gemm):
        return ["dense", op.W, op.b]
    if isinstance(op, ClipTo):
        return ["clip", op.low, op.high]
    if isinstance(op, Take):
        return ["take", list(op.indices)]
    if isinstance(op, FillNaN):
        return ["fillnan", op.fill]
    if isinstance(op, MarkNaN):
        return ["marknan", op.mask]
    if isinstance(op, PolyTerms):
        return ["poly", op.left, op.right, op.out, op.n_in, op.n_out, [list(g) for g in op.groups]]
    if isinstance(op, Apply):
        return ["apply", op.fn] + ([] if op.cols is None else list(op.cols))
    if isinstance(op, Lookup):
        return ["lookup", op.column, op.values, op.codes, op.missing, op.unknown, op.error]
    if isinstance(op, Equal):
        return ["equal", op.array]
    return [_SPELLING[type(op)], op.array]


# ---------------------------------------------------------------- reference semantics
# The reference target: one numpy expression per op type. Every export is held to it.

def _apply(op, Z):
    if op.cols is None:
        return getattr(np, op.fn)(Z)
    Z = Z.copy()
    start, stop = op.cols
    Z[:, start:stop] = getattr(np, op.fn)(Z[:, start:stop])
    return Z


def _poly(op, a, Z):
    T = np.empty((len(Z), op.n_table), dtype=Z.dtype)
    T[:, 0] = 1
    T[:, 1:1 + op.n_in] = Z
    if op.groups:
        left, right = a[op.left].astype(np.intp), a[op.right].astype(np.intp)
    for start, stop in op.groups:
        base = 1 + op.n_in
        np.multiply(T[:, left[start:stop]], Z[:, right[start:stop]], out=T[:, base + start:base + stop])
    return T[:, a[op.out].astype(np.intp)]


def _lookup(op, a, Z, strict=True):
    """Lookup's meaning; strict=False writes NaN where strict raises (as ONNX does)."""
    Z = Z.copy()
    col = Z[:, op.column]
    values, codes = a[op.values], a[op.codes]
    hit = col[:, None] == values[None, :]
    found = hit.any(axis=1)
    missing = np.isnan(col) & (op.missing is not None)
    bad = ~found & ~missing
    if op.error and bad.any():
        if strict:
            v = col[bad][0]
            raise ValueError(f"Found unknown categories [{_plain(v)!r}] in column "
                             f"{op.column if op.source is None else op.source} during transform")
        fallback = np.nan
    else:
        fallback = a[op.unknown]
    out = np.where(found, codes[hit.argmax(axis=1)], fallback)
    Z[:, op.column] = out if op.missing is None else np.where(missing, a[op.missing], out)
    return Z


def _equal(op, a, Z):
    eq = (Z == a[op.array]).astype(Z.dtype)
    return np.where(np.isnan(a[op.array]) | np.isnan(Z), Z, eq)


def is_missing(v) -> bool:
    """None or NaN: a missing value in a column of rows, as scikit-learn's imputers and
    encoders see it (every export spells it so: NaN, None, "" in ONNX and MATLAB text)."""
    return v is None or (isinstance(v, (float, np.floating)) and v != v)


def unseen(values) -> float:
    """A number that is not among a numeric column's known categories."""
    return max((float(v) for v in values), default=0.0) + 0.5


def string_codes(string_column: StringColumn, column) -> np.ndarray:
    """StringCodes' meaning: each value's position in the known words, -1 for an unknown
    value (or an error), NaN for the column's missing value (None or NaN, see
    StringColumn.missing; the other one is an unknown value, as in scikit-learn)."""
    index = {w: float(i) for i, w in enumerate(string_column.words)}
    out = np.empty(len(column))
    none_missing = string_column.missing == "none"
    for r, v in enumerate(column):
        if is_missing(v) and (v is None) == none_missing:
            out[r] = np.nan
        elif is_missing(v) and v is not None and string_column.refuse_nan:
            raise ValueError(f"Input contains NaN in column {string_column.label or string_column.column}, "
                             f"whose missing value is None")
        else:
            out[r] = index.get(v, -1.0) if isinstance(v, str) else -1.0
            if out[r] < 0 and string_column.error:
                raise ValueError(f"Found unknown categories [{v!r}] in column "
                                 f"{string_column.label or string_column.column} during transform")
    return out


def encode_strings(net: Network, X) -> np.ndarray:
    """Rows with string columns (a 2-D object array in feature order) -> numbers, by the
    StringCodes stage; rows of numbers pass as float64."""
    if not net.vocab:
        return np.asarray(X, dtype=np.float64)
    X = np.asarray(X, dtype=object)
    out = np.empty(X.shape, dtype=np.float64)
    strings = {c.column: c for c in net.vocab}
    for j in range(X.shape[1]):
        if j in strings:
            out[:, j] = string_codes(strings[j], X[:, j])
        else:
            out[:, j] = np.array([np.nan if v is None else v for v in X[:, j]], dtype=np.float64)
    return out


def _ovr(Z):
    P = expit(Z)
    s = P.sum(axis=1, keepdims=True)
    zero = s[:, 0] == 0  # every class underflowed: uniform, as scikit-learn does
    P[zero] = 1
    s[zero] = P.shape[1]
    return P / s


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _binary(Z):
    p = expit(Z[:, 0])
    return np.stack([1 - p, p], axis=1)


def _huber(Z):
    return (np.clip(Z, -1, 1) + 1) / 2


def _huber_binary(Z):
    p = _huber(Z[:, 0])
    return np.stack([1 - p, p], axis=1)


def _huber_ovr(Z):
    P = _huber(Z)
    s = P.sum(axis=1, keepdims=True)
    zero = s[:, 0] == 0  # every class at -1 or below: uniform, as scikit-learn does
    P[zero] = 1
    s[zero] = P.shape[1]
    return P / s


# op type -> function (op, arrays, value) -> value
FORWARD = {
    Sub: lambda op, a, Z: Z - a[op.array],
    Div: lambda op, a, Z: Z / a[op.array],
    Mul: lambda op, a, Z: Z * a[op.array],
    Add: lambda op, a, Z: Z + a[op.array],
    ClipTo: lambda op, a, Z: np.minimum(np.maximum(Z, a[op.low]), a[op.high]),
    Gemm: lambda op, a, Z: Z @ a[op.W] + a[op.b],
    Relu: lambda op, a, Z: np.maximum(Z, 0),
    Take: lambda op, a, Z: Z[:, list(op.indices)],
    FillNaN: lambda op, a, Z: np.where(np.isnan(Z), a[op.fill], Z),
    MarkNaN: lambda op, a, Z: np.where(a[op.mask] == 1, np.isnan(Z), Z),
    PolyTerms: lambda op, a, Z: _poly(op, a, Z),
    Apply: lambda op, a, Z: _apply(op, Z),
    Lookup: lambda op, a, Z: _lookup(op, a, Z),
    Equal: _equal,
    Tanh: lambda op, a, Z: np.tanh(Z),
    Sigmoid: lambda op, a, Z: expit(Z),
}
OUTPUT = {IdentityOut: lambda Z: Z, ExpOut: np.exp, BinaryProba: _binary,
          SoftmaxProba: _softmax, OvrProba: _ovr, SigmoidProba: expit,
          HuberBinaryProba: _huber_binary, HuberOvrProba: _huber_ovr}
# op type -> function (op, Z) -> decision_function
SCORES = {Scores: lambda op, Z: Z, BinaryScores: lambda op, Z: Z[:, op.column]}


def _score(on, Z, P):
    return Z if on is Score.LOGITS else P


# op type -> function (op, Z, P, index, classes) -> index or labels
DECIDE = {
    Threshold: lambda op, Z, P, i, c: ((Z[:, 0] > 0) if op.on is Score.LOGITS
                                       else (P[:, 1] > 0.5)).astype(int),
    Argmax: lambda op, Z, P, i, c: _score(op.on, Z, P).argmax(axis=1),
    ClassLookup: lambda op, Z, P, i, c: c[i],
    MultilabelDecision: lambda op, Z, P, i, c: (P > 0.5).astype(int),
}


def _run(ops, arrays, Z, forward=FORWARD):
    for op in ops:
        Z = forward[type(op)](op, arrays, Z)
    return Z


def hidden(net: Network, X) -> list[np.ndarray]:
    """Activations after each hidden layer (for inspection and pruning)."""
    prog = net.program()
    Z = _run(prog.inputs, net.arrays(), encode_strings(net, X))
    out = []
    for layer in net.layers[:-1]:
        Z = Z @ layer.W + layer.b
        act = ACTIVATION_OPS[layer.activation]
        Z = Z if act is None else FORWARD[type(act)](act, {}, Z)
        out.append(Z)
    return out


def logits(net: Network, X) -> np.ndarray:
    """The last dense layer's output, before the head."""
    prog = net.program()
    return _run((*prog.inputs, *prog.layers), net.arrays(), encode_strings(net, X))


def evaluate(net: Network, X) -> dict[str, np.ndarray]:
    """Reference outputs: {"predict": ..., "predict_proba": ..., "decision_function": ...}
    as scikit-learn gives them (the ones the model has: `Network.outputs()`)."""
    prog = net.program()
    Z = logits(net, X)
    with np.errstate(over="ignore", invalid="ignore"):
        out = None if prog.output is None else OUTPUT[type(prog.output)](Z)
        if not net.is_classifier:
            Y = _run(prog.target, net.arrays(), out)
            return {"predict": Y[:, 0] if net.flat and Y.shape[1] == 1 else Y}
        labels = None
        for op in prog.decide:
            labels = DECIDE[type(op)](op, Z, out, labels, net.classes)
        result = {"predict": labels}
        if out is not None:
            result["predict_proba"] = out
        if prog.scores is not None:
            result["decision_function"] = SCORES[type(prog.scores)](prog.scores, Z)
        return result
