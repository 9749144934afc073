"""numpy target: NAME.py (the forward pass, readable line by line) + NAME.npz (weights).

The module needs only numpy. Its operations mirror scikit-learn's (subtract then
divide, `Z @ W + b`, in-place activations), so float64 exports match `predict` to
the last bit or two.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import uuid

import numpy as np

from . import Stamp, cast_arrays, classes_for_storage, header, meta_record
from ..errors import ExportError

FILES = (".py", ".npz")

# One line per operation, in place on Z once Z is a fresh array (the first operation
# makes it one, so the caller's X is never modified).
OPS = {
    "sub": ("Z = {src} - {0}", "Z -= {0}"),
    "div": ("Z = {src} / {0}", "Z /= {0}"),
    "mul": ("Z = {src} * {0}", "Z *= {0}"),
    "add": ("Z = {src} + {0}", "Z += {0}"),
    "clip": ("Z = np.clip({src}, {0}, {1})", "np.clip(Z, {0}, {1}, out=Z)"),
    "dense": ("Z = {src} @ {0} + {1}", "Z = Z @ {0} + {1}"),
}
ACTIVATIONS = {
    "identity": None,
    "relu": "np.maximum(Z, 0, out=Z)",
    "tanh": "np.tanh(Z, out=Z)",
    "logistic": "Z = _sigmoid(Z)",
}
COMMENTS = {"sub": "subtract", "div": "divide by", "mul": "multiply by", "add": "add",
            "clip": "clip to", "dense": "dense layer"}


def _lines(steps, src="X"):
    out, fresh = [], False
    for op, *args in steps:
        if op == "act":
            line = ACTIVATIONS[args[0]]
            if line:
                out.append(f"{line:<40}# {args[0]}")
            continue
        form = OPS[op][1 if fresh else 0]
        line = form.format(*args, src=src)
        out.append(f"{line:<40}# {COMMENTS[op]} {', '.join(args)}")
        fresh = True
    return out


HEADS = {
    "identity": [],
    "exp": ["Z = np.exp(Z)                           # exp output (Poisson loss)"],
}


def _predict_body(net):
    """Lines of predict(), after Z = _forward(_validate(X))."""
    kind, decide = net.head.kind, net.head.decide
    if kind in ("identity", "exp"):
        lines = list(HEADS[kind])
        lines += _lines(net.target_steps(), src="Z") if net.target_steps() else []
        lines.append("return Z[:, 0]" if net.flat and net.n_outputs == 1 else "return Z")
        return lines
    if kind == "logistic":
        test = "Z[:, 0] > 0" if decide == "logit" else "_sigmoid(Z[:, 0]) > 0.5"
        return [f"return classes_[({test}).astype(np.intp)]"]
    if kind == "multilabel":
        return ["return (_sigmoid(Z) > 0.5).astype(np.intp)"]
    score = "Z" if decide == "logit" else "_proba(Z)"
    return [f"return classes_[{score}.argmax(axis=1)]"]


PROBA = {
    "logistic": ["p = _sigmoid(Z[:, 0])",
                 "return np.stack([1 - p, p], axis=1)"],
    "multilabel": ["return _sigmoid(Z)"],
    "softmax": ["E = np.exp(Z - Z.max(axis=1, keepdims=True))",
                "return E / E.sum(axis=1, keepdims=True)"],
    "ovr": ["P = _sigmoid(Z)                  # one-vs-rest: sigmoid per class ...",
            "s = P.sum(axis=1, keepdims=True)  # ... divided by the row sum",
            "zero = s[:, 0] == 0               # all classes underflowed: uniform",
            "P[zero] = 1",
            "s[zero] = P.shape[1]",
            "return P / s"],
}


def _indent(lines, n=4):
    return "\n".join(" " * n + line if line else "" for line in lines)


def render_module(net, name, dtype, arrays) -> str:
    meta = meta_record(net, name, dtype, arrays)
    doc = "\n".join(header(net, name, dtype))
    names = list(arrays)
    loads = "\n".join(f"    {k} = _w[{k!r}]" for k in names)
    cls = ""
    if net.classes is not None:
        cls = "    classes_ = _w['classes']\n"
        if meta["classes_kind"] == "object":
            cls += "    classes_ = classes_.astype(object)\n"
    parts = [f'"""{doc}\n\nUsage:\n    import {name}\n    {name}.predict(X)        # X: (n_samples, {net.n_features}) real numbers'
             + (f"\n    {name}.predict_proba(X)" if net.is_classifier else "")
             + f'\n\nNeeds only numpy; the weights are in {name}.npz next to this file.\n"""',
             "import os\n\nimport numpy as np\n",
             f"FINGERPRINT = {meta['fingerprint']!r}",
             f"DTYPE = np.{dtype}",
             f"n_features_in_ = {net.n_features}",
             ]
    if "feature_names" in net.meta:
        parts.append(f"feature_names_in_ = np.array({net.meta['feature_names']!r}, dtype=object)")
    parts.append(
        f"_HERE = os.path.dirname(os.path.abspath(__file__))\n"
        f"with np.load(os.path.join(_HERE, {name + '.npz'!r}), allow_pickle=False) as _w:\n"
        f"{loads}\n{cls}"
        f"del _w\n")
    parts.append(VALIDATE.replace("NAME", name))
    parts.append(SIGMOID)
    parts.append(
        "def _forward(X):\n"
        '    """Validated rows -> the last layer\'s raw output."""\n'
        '    with np.errstate(over="ignore"):\n'
        + _indent(_lines(net.steps()), 8) + "\n    return Z\n")
    doc_predict = ("Predicted labels, as scikit-learn's predict." if net.is_classifier
                   else "Predicted values, as scikit-learn's predict.")
    parts.append(
        "def predict(X):\n"
        f'    """{doc_predict}"""\n'
        "    Z = _forward(_validate(X))\n"
        '    with np.errstate(over="ignore"):\n'
        + _indent(_predict_body(net), 8) + "\n")
    if net.is_classifier:
        parts.append(
            "def _proba(Z):\n"
            '    with np.errstate(over="ignore", invalid="ignore"):\n'
            + _indent(PROBA[net.head.kind], 8) + "\n\n\n"
            "def predict_proba(X):\n"
            '    """Class probabilities, as scikit-learn\'s predict_proba."""\n'
            "    return _proba(_forward(_validate(X)))\n")
    return "\n\n".join(parts)


VALIDATE = '''def _validate(X):
    """X as a 2-D array of finite reals with n_features_in_ columns, or ValueError."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        if X.dtype.kind == "c":
            raise ValueError("Complex data not supported; X must contain real numbers.")
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X must contain only real numbers: {exc}") from None
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array of shape (n_samples, {n_features_in_}), got a "
            f"{X.ndim}-D array of shape {X.shape}; reshape a single sample with "
            f"X.reshape(1, -1).")
    if X.shape[1] != n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but NAME is expecting {n_features_in_} "
            f"features as input.")
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}); at least 1 is required.")
    with np.errstate(over="ignore"):  # values too large for DTYPE become inf: refused below
        X = X.astype(DTYPE, copy=False)
    if not np.isfinite(X).all():
        if np.isnan(X).any():
            raise ValueError("Input X contains NaN.")
        raise ValueError(f"Input X contains infinity or a value too large for {X.dtype!r}.")
    return X
'''

SIGMOID = '''def _sigmoid(Z):
    """The logistic function 1 / (1 + exp(-Z)), as scipy.special.expit."""
    return 1.0 / (1.0 + np.exp(-Z))
'''


def render(net, name, *, dtype="float64", **_options) -> dict[str, bytes]:
    arrays = cast_arrays(net, dtype)
    stored = dict(arrays)
    classes, _ = classes_for_storage(net)
    if classes is not None:
        stored["classes"] = classes
    stored["mlpexport_meta"] = np.array(json.dumps(meta_record(net, name, dtype, arrays)))
    buf = io.BytesIO()
    np.savez(buf, **stored)
    code = render_module(net, name, dtype, arrays)
    compile(code, f"{name}.py", "exec")  # never write a module that does not parse
    return {f"{name}.py": code.encode(), f"{name}.npz": buf.getvalue()}


def load_module(directory, name):
    """Import NAME.py from directory under a private module name (no sys.path change)."""
    path = os.path.join(directory, f"{name}.py")
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist.")
    spec = importlib.util.spec_from_file_location(f"_mlpexport_{name}_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ExportError(f"{path} does not import: {type(exc).__name__}: {exc}") from None
    finally:
        sys.modules.pop(spec.name, None)
    return module


def run(directory, name, X) -> dict[str, np.ndarray]:
    module = load_module(directory, name)
    out = {"predict": module.predict(X)}
    if hasattr(module, "predict_proba"):
        out["predict_proba"] = module.predict_proba(X)
    return out


def stamp(directory, name) -> Stamp:
    from ..network import digest

    path = os.path.join(directory, f"{name}.npz")
    with np.load(path, allow_pickle=False) as w:
        meta = json.loads(str(w["mlpexport_meta"]))
        arrays = {k: w[k] for k in w.files if k not in ("classes", "mlpexport_meta")}
    module_text = open(os.path.join(directory, f"{name}.py"), encoding="utf-8").read()
    same = f"FINGERPRINT = {meta['fingerprint']!r}" in module_text
    return Stamp(f"{name}.py/.npz", meta["fingerprint"] if same else "mismatch",
                 digest(arrays) == meta["digest"])
