"""The model description every export is made from, and its reference evaluation.

A `Network` is framework-free: plain frozen dataclasses holding numpy arrays. The
forward pass is a straight line of steps applied to one working array `Z`:

    Z = X
    input steps   Affine (Z - center) / scale * factor + offset, Clip(low, high)
    dense layers  Z = Z @ W + b, then the layer's activation
    head          identity | exp | logistic | softmax | ovr | multilabel
    target steps  Affine (inverse of a TransformedTargetRegressor's scaler)
    labels        classes[index] for classifiers

`evaluate` below is the reference semantics; every emitter must reproduce it, and the
tests hold all of them to scikit-learn's own `predict`.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

import numpy as np

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
HEADS = ("identity", "exp", "logistic", "softmax", "ovr", "multilabel")
CLASSIFIER_HEADS = ("logistic", "softmax", "ovr", "multilabel")
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
class Dense:
    """Z = Z @ W + b, then `activation` (one of HIDDEN_ACTIVATIONS)."""

    W: np.ndarray
    b: np.ndarray
    activation: str = "identity"


@dataclass(frozen=True, eq=False)
class Head:
    """How the last layer's output becomes predictions.

    kind: identity/exp (regressors); logistic (binary, one column), softmax,
    ovr (sigmoid per class divided by the row sum), multilabel (sigmoid per column).
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
    inputs: tuple[Affine | Clip, ...] = ()
    target: tuple[Affine, ...] = ()
    classes: np.ndarray | None = None
    flat: bool = True  # regressors: one output comes back as (n,), like predict
    input_loc: np.ndarray | None = None  # where inputs live, for drawing test rows
    input_spread: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def is_classifier(self) -> bool:
        return self.head.kind in CLASSIFIER_HEADS

    @property
    def n_outputs(self) -> int:
        return int(self.layers[-1].W.shape[1])

    @property
    def n_proba(self) -> int:
        """Columns of predict_proba: two for a binary logistic head, else one per output."""
        return 2 if self.head.kind == "logistic" else self.n_outputs

    def steps(self):
        """The forward pass as (op, *array names) tuples, shared by every emitter.

        ops: sub/div/mul/add NAME, clip LOW HIGH, dense W b, act ACTIVATION.
        Head and target steps are not included; see `target_steps`.
        """
        out = self.input_steps()
        for i, layer in enumerate(self.layers, start=1):
            out.append(("dense", f"W{i}", f"b{i}"))
            if layer.activation != "identity":
                out.append(("act", layer.activation))
        return out

    def input_steps(self):
        return [op for step in self.inputs for op in _step_ops(step)]

    def target_steps(self):
        return [op for step in self.target for op in _step_ops(step)]

    def arrays(self) -> dict[str, np.ndarray]:
        """Every parameter by the name the exports give it, as float64."""
        named = {}
        for step in (*self.inputs, *self.target):
            if isinstance(step, Clip):
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
        return {
            "n_features": self.n_features,
            "activations": [layer.activation for layer in self.layers[:-1]],
            "head": self.head.kind,
            "decide": self.head.decide,
            "flat": self.flat,
            "steps": [list(s) for s in self.steps()],
            "target_steps": [list(s) for s in self.target_steps()],
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
        }

    @property
    def fingerprint(self) -> str:
        """sha256 of the structure and every weight: what an export was made from."""
        h = hashlib.sha256(json.dumps(self.describe(), sort_keys=True).encode())
        h.update(digest(self.arrays()).encode())
        return h.hexdigest()[:32]


def _step_ops(step):
    if isinstance(step, Clip):
        return [("clip", f"{step.name}_low", f"{step.name}_high")]
    return [(op, name) for op, name, _ in step.parts()]


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and bytes of a set of arrays."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:32]


# ---------------------------------------------------------------- reference semantics

def _sigmoid(z):
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


ACTIVATION_FUNCTIONS = {
    "identity": lambda z: z,
    "logistic": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


def _apply(op, args, arrays, Z):
    if op == "sub":
        return Z - arrays[args[0]]
    if op == "div":
        return Z / arrays[args[0]]
    if op == "mul":
        return Z * arrays[args[0]]
    if op == "add":
        return Z + arrays[args[0]]
    if op == "clip":
        return np.minimum(np.maximum(Z, arrays[args[0]]), arrays[args[1]])
    if op == "dense":
        return Z @ arrays[args[0]] + arrays[args[1]]
    if op == "act":
        return ACTIVATION_FUNCTIONS[args[0]](Z)
    raise ValueError(op)


def _run(steps, arrays, Z):
    for op, *args in steps:
        Z = _apply(op, args, arrays, Z)
    return Z


def hidden(net: Network, X) -> list[np.ndarray]:
    """Activations after each hidden layer (for inspection and pruning)."""
    Z = _run(net.input_steps(), net.arrays(), np.asarray(X, dtype=np.float64))
    out = []
    for layer in net.layers[:-1]:
        Z = ACTIVATION_FUNCTIONS[layer.activation](Z @ layer.W + layer.b)
        out.append(Z)
    return out


def logits(net: Network, X) -> np.ndarray:
    """The last dense layer's output, before the head."""
    return _run(net.steps(), net.arrays(), np.asarray(X, dtype=np.float64))


def evaluate(net: Network, X) -> dict[str, np.ndarray]:
    """Reference outputs: {"predict": ..., "predict_proba": ...} as scikit-learn gives them."""
    Z = logits(net, X)
    kind, decide = net.head.kind, net.head.decide
    with np.errstate(over="ignore", invalid="ignore"):
        if kind in ("identity", "exp"):
            Y = np.exp(Z) if kind == "exp" else Z
            Y = _run(net.target_steps(), net.arrays(), Y)
            return {"predict": Y[:, 0] if net.flat and Y.shape[1] == 1 else Y}
        if kind == "logistic":
            p = _sigmoid(Z[:, 0])
            proba = np.stack([1 - p, p], axis=1)
            index = (Z[:, 0] > 0) if decide == "logit" else (p > 0.5)
            return {"predict": net.classes[index.astype(int)], "predict_proba": proba}
        if kind == "multilabel":
            proba = _sigmoid(Z)
            return {"predict": (proba > 0.5).astype(int), "predict_proba": proba}
        if kind == "softmax":
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            proba = E / E.sum(axis=1, keepdims=True)
        else:  # ovr
            P = _sigmoid(Z)
            s = P.sum(axis=1, keepdims=True)
            zero = s[:, 0] == 0
            P[zero] = 1
            s[zero] = P.shape[1]
            proba = P / s
        index = (Z if decide == "logit" else proba).argmax(axis=1)
        return {"predict": net.classes[index], "predict_proba": proba}
