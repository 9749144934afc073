"""What a network computes: architecture, the forward pass as formulas (numpy and
MATLAB syntax), and per-unit behaviour on data (dead ReLUs, saturation), with warnings
for the classic failure patterns. Also pruning of units dead on given data."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .emit import plain
from .network import (Add, Affine, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, Clip,
                      ClipTo, Dense, Div, Encode, Equal, evaluate, ExpOut, FillNaN, Func,
                      Gemm, hidden, Lookup, OneHot,
                      HuberBinaryProba, HuberOvrProba, IdentityOut, Impute, Indicate, MarkNaN, Mul,
                      MultilabelDecision, Network, OvrProba, Poly, PolyTerms, Relu, Score, Scores,
                      Select, Sigmoid, SigmoidProba, SoftmaxProba, spelled, Sub, Take, Tanh,
                      Threshold)

SATURATION = 0.01  # tanh / logistic within 1 % of a bound counts as saturated

# ------------------------------------------------------------------------ formulas
# Two more targets of the op list: how each op reads when a person types it, in numpy
# and in MATLAB (R2016b+ implicit expansion). Decisions: op -> (lines, index expression).
L, P_ = Score.LOGITS, Score.PROBA
NUMPY = {
    Sub: "Z = Z - {op.array}", Div: "Z = Z / {op.array}", Mul: "Z = Z * {op.array}",
    Add: "Z = Z + {op.array}", ClipTo: "Z = np.clip(Z, {op.low}, {op.high})",
    Gemm: "Z = Z @ {op.W} + {op.b}",
    Relu: "Z = np.maximum(Z, 0)", Tanh: "Z = np.tanh(Z)", Sigmoid: "Z = 1 / (1 + np.exp(-Z))",
    IdentityOut: ["y = Z"],
    ExpOut: ["y = np.exp(Z)"],
    BinaryProba: ["p = 1 / (1 + np.exp(-Z[:, 0]))", "proba = np.stack([1 - p, p], axis=1)"],
    SoftmaxProba: ["E = np.exp(Z - Z.max(axis=1, keepdims=True))",
                   "proba = E / E.sum(axis=1, keepdims=True)"],
    OvrProba: ["P = 1 / (1 + np.exp(-Z))", "s = P.sum(axis=1, keepdims=True)",
               "zero = s[:, 0] == 0  # every class underflowed: uniform",
               "P[zero] = 1", "s[zero] = P.shape[1]", "proba = P / s"],
    SigmoidProba: ["proba = 1 / (1 + np.exp(-Z))"],
    HuberBinaryProba: ["p = (np.clip(Z[:, 0], -1, 1) + 1) / 2", "proba = np.stack([1 - p, p], axis=1)"],
    HuberOvrProba: ["P = (np.clip(Z, -1, 1) + 1) / 2", "s = P.sum(axis=1, keepdims=True)",
                    "zero = s[:, 0] == 0  # every class at -1: uniform",
                    "P[zero] = 1", "s[zero] = P.shape[1]", "proba = P / s"],
    Scores: "scores = Z", BinaryScores: "scores = Z[:, {op.column}]",
    Threshold: lambda op, i: ([], {L: "(Z[:, 0] > 0)", P_: "(p > 0.5)"}[op.on] + ".astype(int)"),
    Argmax: lambda op, i: ([], {L: "Z", P_: "proba"}[op.on] + ".argmax(axis=1)"),
    ClassLookup: lambda op, i: ([f"label = classes[{i}]"], None),
    MultilabelDecision: lambda op, i: (["label = (proba > 0.5).astype(int)"], None),
    Take: "Z = Z[:, {op.indices}]", FillNaN: "Z = np.where(np.isnan(Z), {op.fill}, Z)",
    MarkNaN: "Z = np.where({op.mask} == 1, np.isnan(Z), Z)",
    PolyTerms: lambda op: "; ".join(
        ["T = np.hstack([np.ones((len(Z), 1)), Z])"]
        + [f"T = np.hstack([T, T[:, {op.left}[{a}:{b}].astype(int)] * Z[:, {op.right}[{a}:{b}].astype(int)]])"
           for a, b in op.groups] + [f"Z = T[:, {op.out}.astype(int)]"]),
    Lookup: "Z[:, {op.column}] = lookup(Z[:, {op.column}], {op.values}, {op.codes})"
            "  # unknown: {op.unknown}" ,
    Equal: "Z = np.where(np.isnan({op.array}), Z, Z == {op.array})",
    Apply: lambda op: (f"Z = np.{op.fn}(Z)" if op.cols is None else
                       f"Z[:, {op.cols[0]}:{op.cols[1]}] = np.{op.fn}(Z[:, {op.cols[0]}:{op.cols[1]}])"),
    "start": "Z = {src}", "end": "",
}
MATLAB = {
    Sub: "Z = Z - {op.array};", Div: "Z = Z ./ {op.array};", Mul: "Z = Z .* {op.array};",
    Add: "Z = Z + {op.array};", ClipTo: "Z = min(max(Z, {op.low}), {op.high});",
    Gemm: "Z = Z * {op.W} + {op.b};",
    Relu: "Z = max(Z, 0);", Tanh: "Z = tanh(Z);", Sigmoid: "Z = 1 ./ (1 + exp(-Z));",
    IdentityOut: ["y = Z;"],
    ExpOut: ["y = exp(Z);"],
    BinaryProba: ["p = 1 ./ (1 + exp(-Z));", "proba = [1 - p, p];"],
    SoftmaxProba: ["E = exp(Z - max(Z, [], 2));", "proba = E ./ sum(E, 2);"],
    OvrProba: ["P = 1 ./ (1 + exp(-Z));", "s = sum(P, 2);",
               "zero = (s == 0);  % every class underflowed: uniform",
               "P(zero, :) = 1;", "s(zero) = size(P, 2);", "proba = P ./ s;"],
    SigmoidProba: ["proba = 1 ./ (1 + exp(-Z));"],
    HuberBinaryProba: ["p = (min(max(Z, -1), 1) + 1) / 2;", "proba = [1 - p, p];"],
    HuberOvrProba: ["P = (min(max(Z, -1), 1) + 1) / 2;", "s = sum(P, 2);",
                    "zero = (s == 0);  % every class at -1: uniform",
                    "P(zero, :) = 1;", "s(zero) = size(P, 2);", "proba = P ./ s;"],
    Scores: "scores = Z;", BinaryScores: lambda op: f"scores = Z(:, {op.column + 1});",
    Threshold: lambda op, i: ([], {L: "(Z > 0)", P_: "(p > 0.5)"}[op.on] + " + 1"),
    Argmax: lambda op, i: ([f"[~, idx] = max({ {L: 'Z', P_: 'proba'}[op.on]}, [], 2);"], "idx"),
    ClassLookup: lambda op, i: ([f"label = classes({i});"], None),
    MultilabelDecision: lambda op, i: (["label = double(proba > 0.5);"], None),
    Take: lambda op: f"Z = Z(:, [{' '.join(str(i + 1) for i in op.indices)}]);",
    FillNaN: "m = isnan(Z); F = repmat({op.fill}, size(Z, 1), 1); Z(m) = F(m);",
    MarkNaN: "Z(:, {op.mask} == 1) = isnan(Z(:, {op.mask} == 1));",
    Apply: lambda op: ("Z = Z .* Z;" if op.fn == "square" else f"Z = {op.fn}(Z);") if op.cols is None
    else f"Z(:, {op.cols[0] + 1}:{op.cols[1]}) = {op.fn}(Z(:, {op.cols[0] + 1}:{op.cols[1]}));",
    PolyTerms: lambda op: " ".join(
        ["T = [ones(size(Z, 1), 1), Z];"]
        + [f"T = [T, T(:, {op.left}({a + 1}:{b}) + 1) .* Z(:, {op.right}({a + 1}:{b}) + 1)];"
           for a, b in op.groups] + [f"Z = T(:, {op.out} + 1);"]),
    Lookup: lambda op: f"Z(:, {op.column + 1}) = lookup(Z(:, {op.column + 1}), {op.values}, "
                       f"{op.codes});  % unknown: {op.unknown}",
    Equal: "E = double(Z == {op.array}); k = isnan({op.array}); E(:, k) = Z(:, k); Z = E;",
    "start": "Z = {src};", "end": ";",
}


def formula(net: Network, language: str = "numpy") -> list[str]:
    """The forward pass as the lines a person would type, in numpy or MATLAB syntax.
    Array names are those of the exports' .npz / .mat files."""
    table = NUMPY if language == "numpy" else MATLAB
    prog = net.program()
    names = net.meta.get("feature_names")
    comment = "  # " if language == "numpy" else "  % "
    # the names only as comment text, in emit.plain's safe characters
    lines = [table["start"].format(src="X") + (comment + "X columns: " + plain(", ".join(map(str, names)))
                               if names else "")]
    if net.vocab:
        cols = ", ".join(str(c.column) for c in net.vocab)
        lines.append(("Z[:, j] = position of X[:, j] in vocab_j, -1 unknown, NaN missing"
                      f"{comment}text columns {cols}"))
    lines += [table[type(op)](op) if callable(table[type(op)]) else table[type(op)].format(op=op)
              for op in (*prog.inputs, *prog.layers)]
    if prog.output is not None:
        lines += table[type(prog.output)]
    if prog.scores is not None:  # decision_function
        row = table[type(prog.scores)]
        lines.append(row(prog.scores) if callable(row) else row.format(op=prog.scores))
    index = None
    for op in prog.decide:
        more, index = table[type(op)](op, index)
        lines += more
    if prog.target:
        lines.append(table["start"].format(src="y"))
        lines += [table[type(op)](op) if callable(table[type(op)]) else table[type(op)].format(op=op)
                  for op in prog.target]
        lines.append("y = Z" + table["end"])
    if not net.is_classifier and net.flat and net.n_outputs == 1 and language == "numpy":
        lines.append("y = y[:, 0]")
    return lines


# ---------------------------------------------------------------------- on data

@dataclass
class LayerReport:
    index: int
    units: int
    activation: str
    params: int
    active_share: list[float] = field(default_factory=list)  # per unit
    saturated_share: list[float] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)  # never active on the rows

    def summary(self) -> str:
        if self.activation == "relu":
            return f"layer {self.index}: {len(self.dead)} of {self.units} units never active"
        if self.activation in ("tanh", "logistic"):
            sat = sum(1 for s in self.saturated_share if s == 1.0)
            return f"layer {self.index}: {sat} of {self.units} units saturated on every row"
        return f"layer {self.index}: {self.activation} units (no dead or saturated state)"


def unit_activity(net: Network, X) -> list[LayerReport]:
    reports = []
    for i, (layer, A) in enumerate(zip(net.layers[:-1], hidden(net, X)), start=1):
        r = LayerReport(i, layer.W.shape[1], layer.activation, layer.W.size + layer.b.size)
        if layer.activation == "relu":
            active = A > 0
        elif layer.activation == "tanh":
            active = np.abs(A) < 1 - 2 * SATURATION
            r.saturated_share = [float(s) for s in (np.abs(A) >= 1 - 2 * SATURATION).mean(axis=0)]
        elif layer.activation == "logistic":
            active = (A > SATURATION) & (A < 1 - SATURATION)
            r.saturated_share = [float(s) for s in (~active).mean(axis=0)]
        else:
            active = np.ones_like(A, dtype=bool)
        r.active_share = [float(s) for s in active.mean(axis=0)]
        if layer.activation == "relu":
            r.dead = [int(j) for j in np.flatnonzero(~active.any(axis=0))]
        reports.append(r)
    return reports


def warnings_for(net: Network, X, layers: list[LayerReport]) -> list[str]:
    out = []
    if not net.inputs:
        X = np.asarray(X, dtype=np.float64)
        one_sign = [j for j in range(X.shape[1]) if (X[:, j] >= 0).all() or (X[:, j] <= 0).all()]
        if len(one_sign) == X.shape[1]:
            out.append("every input column has one sign on the data and there is no scaler in "
                       "front: first-layer units see w*x + b with one sign over the range, so "
                       "ReLUs are dead or act as one linear piece (put a StandardScaler first).")
    for r in layers:
        if r.activation == "relu" and r.dead and len(r.dead) == r.units:
            out.append(f"layer {r.index}: every unit is dead on the data, so the output is "
                       f"constant: no gradient reaches the layers before it.")
        elif r.activation == "relu" and r.dead:
            out.append(f"layer {r.index}: {len(r.dead)} of {r.units} ReLU units never active "
                       f"on the data (indices {r.dead}).")
        if r.units == 1:
            out.append(f"layer {r.index} has a single unit: everything after it sees one "
                       f"number, and a single ReLU that starts on its dead side never learns.")
    first = evaluate(net, X)
    pred = first.get("predict_proba", first.get("decision_function", first["predict"]))
    if np.asarray(pred).dtype.kind in "f" and len(X) > 1 and np.ptp(np.asarray(pred), axis=0).max() == 0:
        out.append("the output is constant on the data.")
    return out


# ---------------------------------------------------------------------- pruning

def prune(net: Network, dead: list[list[int]]) -> Network:
    """Remove dead units (per hidden layer) and their rows in the next weight matrix.
    Exact on rows where those units output 0; a unit dead on some data may wake on other
    inputs, so pruned exports are only proven on the data they were pruned with."""
    layers = list(net.layers)
    for i, drop in enumerate(dead):
        if not drop:
            continue
        keep = np.setdiff1d(np.arange(layers[i].W.shape[1]), drop)
        if len(keep) == 0:
            keep = np.array([0])  # keep one (dead) unit so the layer still exists
        layers[i] = Dense(layers[i].W[:, keep], layers[i].b[keep], layers[i].activation)
        nxt = layers[i + 1]
        layers[i + 1] = Dense(nxt.W[keep, :], nxt.b, nxt.activation)
    return replace(net, layers=tuple(layers), meta={**net.meta, "pruned": True})


def n_params(net: Network) -> int:
    return int(sum(layer.W.size + layer.b.size for layer in net.layers))


# ---------------------------------------------------------------------- report

def steps_summary(net: Network) -> list[str]:
    out = []
    for step in net.inputs:
        if isinstance(step, Clip):
            out.append(f"clip to [{step.low:g}, {step.high:g}]")
        elif isinstance(step, Select):
            out.append(f"take {len(step.indices)} columns")
        elif isinstance(step, Impute):
            out.append(f"fill NaN in {int((~np.isnan(step.fill)).sum())} columns")
        elif isinstance(step, Indicate):
            out.append(f"{int(step.mask.sum())} missing-value indicators")
        elif isinstance(step, Poly):
            out.append(f"polynomial terms {step.powers.shape[1]} -> {step.powers.shape[0]}")
        elif isinstance(step, Encode):
            out.append(f"categories of column {step.column} -> codes ({len(step.values)} known)")
        elif isinstance(step, OneHot):
            out.append(f"one-hot ({int((~np.isnan(step.positions)).sum())} columns)")
        elif isinstance(step, Func):
            where = "" if step.cols is None else f" on columns {step.cols[0]}..{step.cols[1] - 1}"
            out.append(f"{step.fn}{where}")
        else:
            parts = [f"{op} {name}" for op, name, _ in step.parts()]
            out.append(", ".join(parts) if parts else "passthrough")
    return out


def report(net: Network, X) -> dict:
    layers = unit_activity(net, X)
    m = net.meta
    return {
        "source": m.get("source", ""),
        "sklearn_version": m.get("sklearn_version", ""),
        "n_features": net.n_features,
        "feature_names": m.get("feature_names"),
        "preprocessing": steps_summary(net),
        "nan_columns": [int(j) for j in np.flatnonzero(net.nan_columns())],
        "layers": [
            {"index": r.index, "units": r.units, "activation": r.activation, "params": r.params,
             "dead": r.dead, "active_share": r.active_share, "saturated_share": r.saturated_share}
            for r in layers],
        "output": {"units": net.n_outputs, "head": net.head.kind,
                   "params": int(net.layers[-1].W.size + net.layers[-1].b.size)},
        "target_transform": [" ".join(spelled(op)) for op in net.program().target],
        "classes": None if net.classes is None else [c.item() if hasattr(c, "item") else c for c in net.classes],
        "total_params": n_params(net),
        "training": {k: m[k] for k in ("n_iter", "loss", "best_loss", "solver") if k in m},
        "rows": int(len(X)),
        "formula_numpy": formula(net, "numpy"),
        "formula_matlab": formula(net, "matlab"),
        "warnings": warnings_for(net, X, layers),
    }


def text(rep: dict) -> str:
    lines = [f"{rep['source']} (scikit-learn {rep['sklearn_version']})"]
    names = f" ({', '.join(rep['feature_names'][:8])}{', ...' if len(rep['feature_names']) > 8 else ''})" \
        if rep.get("feature_names") else ""
    n = rep["n_features"]
    lines.append(f"input: {n} feature{'s' if n != 1 else ''}{names}")
    for s in rep["preprocessing"]:
        lines.append(f"  preprocessing: {s}")
    first = (rep["layers"] or [rep["output"]])[0]
    width = first["params"] // first["units"] - 1  # what reaches the first layer
    for layer in rep["layers"]:
        lines.append(f"  layer {layer['index']}: {width} -> {layer['units']} {layer['activation']}, "
                     f"{layer['params']} parameters")
        width = layer["units"]
    out = rep["output"]
    lines.append(f"  output: {width} -> {out['units']} ({out['head']}), {out['params']} parameters")
    for s in rep["target_transform"]:
        lines.append(f"  target inverse transform: {s}")
    if rep["classes"] is not None:
        lines.append(f"classes: {rep['classes']}")
    lines.append(f"total parameters: {rep['total_params']}")
    if rep["training"]:
        lines.append("training: " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in rep["training"].items()))
    lines.append("")
    lines.append("forward pass, numpy (arrays as in NAME.npz):")
    lines += [f"    {x}" for x in rep["formula_numpy"]]
    lines.append("forward pass, MATLAB (arrays as in NAME.mat; R2016b+ implicit expansion):")
    lines += [f"    {x}" for x in rep["formula_matlab"]]
    lines.append("")
    lines.append(f"on {rep.get('rows_source') or str(rep['rows']) + ' rows'}:")
    for layer in rep["layers"]:
        lines.append("  " + LayerReport(layer["index"], layer["units"], layer["activation"], 0,
                                        layer["active_share"], layer["saturated_share"],
                                        layer["dead"]).summary())
    for w in rep["warnings"]:
        lines.append(f"warning: {w}")
    if not rep["warnings"]:
        lines.append("no warnings.")
    return "\n".join(lines)
