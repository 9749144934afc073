"""ONNX target: NAME.onnx, default ONNX domain only (no ai.onnx.ml, no ZipMap).

Graph: X [N, F] -> Sub/Div/Mul/Add (scalers; divided like scikit-learn, never
multiplied by a reciprocal), Clip -> MatMul + Add per layer (Mul + Add for one input), Relu/Tanh/1/(1+exp(-Z)) ->
head -> outputs. Regressors: `variable` [N, n_outputs]. Classifiers: `label` [N]
([N, k] multilabel) gathered from a constant tensor of the classes, and
`probabilities` [N, n_classes] when the model has predict_proba, and `scores` (its
decision_function: [N] for two classes, else [N, n_classes]) when it has one: a
LinearSVC has `label` + `scores`, a LogisticRegression `label` + `probabilities` +
`scores`. The lowest opset the graph's ops need (13, 19 with text columns) unless
--onnx-opset; float64 unless --dtype float32.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from . import (Stamp, cast_arrays, classes_for_storage, column_names, header, meta_record,
               target_options)
from ..errors import ExportError, RuntimeMissing
from ..network import (Add, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, ClipTo, Div,
                       Equal, ExpOut, FillNaN, Gemm, HuberBinaryProba, HuberOvrProba, IdentityOut,
                       is_missing, Lookup, MarkNaN, Mul, MultilabelDecision, OvrProba, PolyTerms,
                       Relu, Score, Scores, Sigmoid, SigmoidProba, SoftmaxProba, Sub, Take, Tanh,
                       Threshold)

FILES = (".onnx",)


@dataclass(frozen=True)
class Options:
    onnx_no_label: bool = False  # probabilities only (no label output, no classes tensor)
    onnx_opset: int | None = None  # None: the lowest opset that holds the graph's ops
    onnx_test_data: bool = False  # NAME/test_data_set_0/*.pb: ONNX's own test-data layout
    onnx_text: str = "strings"  # "codes": text columns as int64 codes (runtimes without strings)

TEXT_MODES = ("strings", "codes")
MISSING_CODE, UNKNOWN_CODE = -1, -2  # --onnx-text codes: a missing text, one not in the vocabulary

# The graph is spelled with ops whose form holds from opset 13 (ReduceSum and Unsqueeze
# take their axes as inputs) up; Equal on strings needs 19. By default a graph is written
# at the lowest opset whose schemas accept every node (onnx.checker, full check), which
# MATLAB's importer and older runtimes want (<= 14). max_opset(): the newest offered,
# MAX_OPSET or the newest the installed onnx knows, if older (onnx 1.14, the oldest this
# package supports, knows 19).
BUILD_OPSET = 19
MAX_OPSET = 20


def max_opset() -> int:
    import onnx
    return min(MAX_OPSET, onnx.defs.onnx_opset_version())

class Graph:
    """A tiny builder: named initializers and nodes, outputs named as we go."""

    def __init__(self, net, onnx_dtype, np_dtype):
        self.nodes, self.inits, self.count = [], [], 0
        self.onnx_dtype, self.np_dtype = onnx_dtype, np_dtype
        self.net, self.n_outputs = net, net.n_outputs
        self.positive = None  # the class-1 probability column, once BinaryProba made it
        self.label_type = None  # the label output's element type, once a decision made it
        # [N, 1] bools, one per encoder with handle_unknown="error": rows holding a value it
        # refuses. ONNX cannot raise, so such a row enters the first layer as NaN (_refuse).
        self.refused = []

    @property
    def names(self):
        return {t.name for t in self.inits}

    def const(self, name, value, dtype=None):
        """An initializer; constants shared by several nodes are made once."""
        from onnx import numpy_helper
        if name in self.names:
            return name
        arr = np.asarray(value, dtype=dtype or self.np_dtype)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op, inputs, out=None, **attrs):
        from onnx import helper
        self.count += 1
        out = out or f"{op.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=f"{op}_{self.count}", **attrs))
        return out


def _isnan(g, Z):
    """IsNaN spelled Not(Equal(Z, Z)): tract has no float64 IsNaN kernel, and OpenVINO,
    OpenCV and onnxruntime all compute Equal exactly (NaN is the one value unequal to
    itself)."""
    return g.node("Not", [g.node("Equal", [Z, Z])])


def _isinf(g, Z):
    """IsInf spelled Equal(Abs(Z), inf): tract has no float64 IsInf kernel."""
    return g.node("Equal", [g.node("Abs", [Z]), g.const("inf", np.inf)])


def _as_number(g, test, to=None):
    """A bool tensor as 1/0 numbers (of the graph's float type, or int64): Where(test,
    1, 0), not Cast, whose bool input tract and OpenCV do not all take (tract returned a
    bool -> int64 Cast as TDim)."""
    if to == "int64":
        one, zero = g.const("one_int", 1, dtype=np.int64), g.const("zero_int", 0, dtype=np.int64)
    else:
        one, zero = g.const("one", 1.0), g.const("zero", 0.0)
    return g.node("Where", [test, one, zero])


def _sigmoid(g, Z, out=None):
    """1 / (1 + exp(-Z)) spelled out, as scipy's expit computes it. onnxruntime's
    Sigmoid kernel loses relative precision on tiny probabilities (seen: 2.5e-3
    relative error in float64 on an unscaled SGD model's one-vs-rest probabilities)."""
    one = g.const("one", 1.0)
    denominator = g.node("Add", [one, g.node("Exp", [g.node("Neg", [Z])])])
    return g.node("Div", [one, denominator], out=out)


def _gemm(g, op, Z):
    if op.n_in == 1:
        # One input: Z @ W is an outer product, exactly Z * W. As a MatMul,
        # onnxruntime (EXTENDED optimizations, seen in 1.31) fuses a preceding
        # Div/Mul by a one-element constant into FusedMatMul's float32 alpha and
        # loses float64 precision (3e-5 absolute on a 1-input StandardScaler MLP).
        return g.node("Add", [g.node("Mul", [Z, op.W]), op.b])
    return g.node("Add", [g.node("MatMul", [Z, op.W]), op.b])


def _take(g, op, Z):
    idx = g.const(f"take_{g.count + 1}", list(op.indices), dtype=np.int64)
    return g.node("Gather", [Z, idx], axis=1)


def _mark_nan(g, op, Z):
    flagged = g.node("Equal", [op.mask, g.const("one", 1.0)])
    return g.node("Where", [flagged, _as_number(g, _isnan(g, Z)), Z])


def _poly(g, op, Z):
    """PolyTerms: T = [1, Z], then per run of one degree T = [T, T[:, left] * Z[:, right]]
    (scikit-learn's factors, so its bits), then T[:, out]. The column numbers are the
    stored (float) initializers cast to int64 here, so the weight digest covers them."""
    from onnx import TensorProto, helper

    def columns(name, start=None, stop=None):
        idx = g.node("Cast", [name], to=TensorProto.INT64)
        if start is None:
            return idx
        return g.node("Slice", [idx, g.const(f"at{start}", [start], dtype=np.int64),
                                g.const(f"at{stop}", [stop], dtype=np.int64),
                                g.const("axis0", [0], dtype=np.int64)])
    rows = g.node("Slice", [g.node("Shape", [Z]), g.const("at0", [0], dtype=np.int64),
                            g.const("at1", [1], dtype=np.int64), g.const("axis0", [0], dtype=np.int64)])
    shape = g.node("Concat", [rows, g.const("one_column", [1], dtype=np.int64)], axis=0)
    ones = g.node("ConstantOfShape", [shape], value=helper.make_tensor("one", g.onnx_dtype, [1], [1.0]))
    T = g.node("Concat", [ones, Z], axis=1)
    for start, stop in op.groups:
        lower = g.node("Gather", [T, columns(op.left, start, stop)], axis=1)
        factor = g.node("Gather", [Z, columns(op.right, start, stop)], axis=1)
        T = g.node("Concat", [T, g.node("Mul", [lower, factor])], axis=1)
    return g.node("Gather", [T, columns(op.out)], axis=1)


def _log1p(g, Z):
    """log(1 + Z) * Z / ((1 + Z) - 1), Z where 1 + Z rounds to 1 (Goldberg's exact form;
    ONNX has no Log1p and log(1 + Z) loses the low digits of a small Z)."""
    u = g.node("Add", [Z, g.const("one", 1.0)])
    d = g.node("Sub", [u, g.const("one", 1.0)])
    exact = g.node("Div", [g.node("Mul", [g.node("Log", [u]), Z]), d])
    return g.node("Where", [g.node("Equal", [d, g.const("zero", 0.0)]), Z, exact])


def _expm1(g, Z):
    """(exp(Z) - 1) * Z / log(exp(Z)), Z where exp(Z) rounds to 1, exp(Z) - 1 where it is
    -1 or infinite (ONNX has no Expm1; exp(Z) - 1 loses a small Z's digits)."""
    u = g.node("Exp", [Z])
    d = g.node("Sub", [u, g.const("one", 1.0)])
    exact = g.node("Div", [g.node("Mul", [d, Z]), g.node("Log", [u])])
    edge = g.node("Or", [g.node("Equal", [d, g.const("minus_one", -1.0)]), _isinf(g, u)])
    return g.node("Where", [g.node("Equal", [d, g.const("zero", 0.0)]), Z,
                            g.node("Where", [edge, d, exact])])


UFUNCS = {
    "log1p": _log1p, "expm1": _expm1,
    "log": lambda g, Z: g.node("Log", [Z]), "exp": lambda g, Z: g.node("Exp", [Z]),
    "sqrt": lambda g, Z: g.node("Sqrt", [Z]), "square": lambda g, Z: g.node("Mul", [Z, Z]),
}


def _apply(g, op, Z):
    if op.cols is None:
        return UFUNCS[op.fn](g, Z)
    start, stop = op.cols  # only these columns: slice them out, apply, put them back
    return _replace_columns(g, Z, start, stop, UFUNCS[op.fn](g, _cut(g, Z, start, stop)))


def _cut(g, Z, a, b):
    """Z[:, a:b] (b beyond the last column: up to the last)."""
    return g.node("Slice", [Z, g.const(f"at_{a}", [a], dtype=np.int64),
                            g.const(f"at_{b}", [b], dtype=np.int64),
                            g.const("axis1", [1], dtype=np.int64)])


def _replace_columns(g, Z, start, stop, new):
    """Z with columns start:stop replaced by `new`."""
    last = 2**62  # Slice clamps it to the last column
    return g.node("Concat", [_cut(g, Z, 0, start), new, _cut(g, Z, stop, last)], axis=1)


def _position(g, hit, dtype):
    """(found, index): whether a row of `hit` ([N, k] bool) has a True, as 0/1 [N, 1],
    and where (ArgMax of the 0/1 row), [N, 1] int64."""
    ones = _as_number(g, hit)
    found = g.node("ReduceSum", [ones, g.const("axis1", [1], dtype=np.int64)], keepdims=1)
    index = g.node("ArgMax", [ones], axis=1, keepdims=1)
    return g.node("Greater", [found, g.const("half", 0.5)]), index


def _string_codes(g, column, x):
    """[N, 1] strings -> [N, 1] numbers: the position among the known strings, -1 when
    unknown (NaN where an unknown string is an error: ONNX cannot raise), NaN for ""."""
    found, index = _position(g, g.node("Equal", [x, f"vocab_{column.column}"]), g.onnx_dtype)
    codes = g.node("Cast", [index], to=g.onnx_dtype)
    unknown = g.const("nan", np.nan) if column.error else g.const("minus_one", -1.0)
    codes = g.node("Where", [found, codes, unknown])
    empty = g.const("empty_string", np.array([""], dtype=object), dtype=object)
    missing = g.node("Equal", [x, empty])
    if column.error:  # an unknown string, not a missing one: refused
        g.refused.append(g.node("And", [g.node("Not", [found]), g.node("Not", [missing])]))
    return g.node("Where", [missing, g.const("nan", np.nan), codes])


def _given_codes(g, column, x):
    """--onnx-text codes: [N, 1] int64 codes -> [N, 1] numbers as _string_codes makes them
    from strings: k in 0..len(words)-1 is words[k], -1 (MISSING_CODE) a missing value, any
    other an unknown one (NaN where unknown is an error)."""
    n = len(column.words)
    known = g.node("And", [g.node("Greater", [x, g.const("minus_one_int", -1, dtype=np.int64)]),
                           g.node("Less", [x, g.const(f"n_words_{column.column}", n, dtype=np.int64)])])
    codes = g.node("Cast", [x], to=g.onnx_dtype)
    unknown = g.const("nan", np.nan) if column.error else g.const("minus_one", -1.0)
    codes = g.node("Where", [known, codes, unknown])
    missing = g.node("Equal", [x, g.const("minus_one_int", -1, dtype=np.int64)])
    if column.error:
        g.refused.append(g.node("And", [g.node("Not", [known]), g.node("Not", [missing])]))
    return g.node("Where", [missing, g.const("nan", np.nan), codes])


def _lookup_codes(g, op, Z):
    """Lookup: the column's value -> codes[k] where it equals values[k]; NaN -> missing;
    else unknown (NaN where unknown is an error), written back into that column."""
    col = _cut(g, Z, op.column, op.column + 1)
    found, index = _position(g, g.node("Equal", [col, op.values]), g.onnx_dtype)
    codes = g.node("Gather", [op.codes, index], axis=0)
    out = g.node("Where", [found, codes, op.unknown])  # NaN where unknown is an error
    nan = _isnan(g, col) if op.missing is not None else None
    if op.error:  # a value the encoder does not know (NaN too, unless it has a code): refused
        unknown = g.node("Not", [found])
        g.refused.append(unknown if nan is None else g.node("And", [unknown, g.node("Not", [nan])]))
    if nan is not None:
        out = g.node("Where", [nan, op.missing, out])
    return _replace_columns(g, Z, op.column, op.column + 1, out)


def _equal(g, op, Z):
    same = _as_number(g, g.node("Equal", [Z, op.array]))
    keep = g.node("Or", [_isnan(g, op.array), _isnan(g, Z)])
    return g.node("Where", [keep, Z, same])


# op type -> builder (graph, op, input tensor) -> output tensor
FORWARD = {
    Lookup: _lookup_codes,
    Equal: _equal,
    Apply: lambda g, op, Z: _apply(g, op, Z),
    Take: _take,
    FillNaN: lambda g, op, Z: g.node("Where", [_isnan(g, Z), op.fill, Z]),
    MarkNaN: _mark_nan,
    PolyTerms: _poly,
    Sub: lambda g, op, Z: g.node("Sub", [Z, op.array]),
    Div: lambda g, op, Z: g.node("Div", [Z, op.array]),
    Mul: lambda g, op, Z: g.node("Mul", [Z, op.array]),
    Add: lambda g, op, Z: g.node("Add", [Z, op.array]),
    ClipTo: lambda g, op, Z: g.node("Clip", [Z, op.low, op.high]),
    Gemm: _gemm,
    Relu: lambda g, op, Z: g.node("Relu", [Z]),
    Tanh: lambda g, op, Z: g.node("Tanh", [Z]),
    Sigmoid: lambda g, op, Z: _sigmoid(g, Z),
}


def _steps(g, ops, Z):
    for op in ops:
        Z = FORWARD[type(op)](g, op, Z)
    return Z


def _refuse(g, Z):
    """Z with the rows that hold a value an encoder refuses set to NaN: their outputs are
    NaN, whatever imputer or missing-value code would have filled the NaN code before."""
    if not g.refused:
        return Z
    refused = g.refused[0]
    for more in g.refused[1:]:
        refused = g.node("Or", [refused, more])
    return g.node("Where", [refused, g.const("nan", np.nan), Z])


def _binary(g, Z, out):
    g.positive = p = _sigmoid(g, Z)  # P[:, 1], which a Threshold on PROBA reads
    g.node("Concat", [g.node("Sub", [g.const("one", 1.0), p]), p], out=out, axis=1)
    return out


def _over_row_sum(g, P, out):
    """P over its row sum; rows that sum to 0 become uniform (scikit-learn's one-vs-rest)."""
    s = g.node("ReduceSum", [P, g.const("axis1", [1], dtype=np.int64)], keepdims=1)
    zero = g.node("Equal", [s, g.const("zero", 0.0)])
    P = g.node("Where", [zero, g.const("one", 1.0), P])
    s = g.node("Where", [zero, g.const("n_classes", float(g.n_outputs)), s])
    return g.node("Div", [P, s], out=out)


def _ovr(g, Z, out):
    """Sigmoid per class over the row sum; all-zero rows become uniform."""
    return _over_row_sum(g, _sigmoid(g, Z), out)


def _huber(g, Z):
    """(clip(Z, -1, 1) + 1) / 2, in scikit-learn's order of operations."""
    clipped = g.node("Clip", [Z, g.const("minus_one", -1.0), g.const("one", 1.0)])
    return g.node("Div", [g.node("Add", [clipped, g.const("one", 1.0)]), g.const("two", 2.0)])


def _huber_binary(g, Z, out):
    g.positive = p = _huber(g, Z)
    g.node("Concat", [g.node("Sub", [g.const("one", 1.0), p]), p], out=out, axis=1)
    return out


def _huber_ovr(g, Z, out):
    """Modified-Huber scores over the row sum; all-zero rows become uniform."""
    return _over_row_sum(g, _huber(g, Z), out)


# op type -> builder (graph, Z, output name or None) -> Y or P
OUTPUT_OPS = {
    HuberBinaryProba: _huber_binary,
    HuberOvrProba: _huber_ovr,
    IdentityOut: lambda g, Z, out: Z,
    ExpOut: lambda g, Z, out: g.node("Exp", [Z]),
    BinaryProba: _binary,
    SigmoidProba: lambda g, Z, out: _sigmoid(g, Z, out=out),
    SoftmaxProba: lambda g, Z, out: g.node("Softmax", [Z], out=out, axis=1),
    OvrProba: _ovr,
}


def _threshold(g, op, Z, P, index):
    test = g.node("Greater", [Z, g.const("zero", 0.0)] if op.on is Score.LOGITS
                  else [g.positive, g.const("half", 0.5)])
    return g.node("Reshape", [_as_number(g, test, "int64"),
                              g.const("flat", [-1], dtype=np.int64)])


def _lookup(g, op, Z, P, index):
    g.label_type = _classes_tensor(g.net, g)
    return g.node("Gather", ["classes", index], out="label", axis=0)


def _multilabel(g, op, Z, P, index):
    from onnx import TensorProto
    g.label_type = TensorProto.INT64
    return g.node("Where", [g.node("Greater", [P, g.const("half", 0.5)]),
                            g.const("one_int", 1, dtype=np.int64),
                            g.const("zero_int", 0, dtype=np.int64)], out="label")


# op type -> builder (graph, op, Z, P, index so far) -> index or label
DECIDE = {
    Threshold: _threshold,
    Argmax: lambda g, op, Z, P, index: g.node(
        "ArgMax", [Z if op.on is Score.LOGITS else P], axis=1, keepdims=0),
    ClassLookup: _lookup,
    MultilabelDecision: _multilabel,
}


# op type -> builder (graph, op, Z) -> the `scores` output (decision_function)
SCORES = {
    Scores: lambda g, op, Z: g.node("Identity", [Z], out="scores"),
    BinaryScores: lambda g, op, Z: g.node(
        "Gather", [Z, g.const(f"column{op.column}", op.column, dtype=np.int64)], out="scores",
        axis=1),
}


def _classes_tensor(net, g):
    from onnx import TensorProto, helper
    classes, kind = classes_for_storage(net)
    if kind != "number":  # the labels themselves, by hand: helper.make_tensor and numpy's
        # str arrays drop trailing NUL characters
        t = TensorProto(name="classes", data_type=TensorProto.STRING, dims=[len(classes)])
        t.string_data.extend(str(c).encode("utf-8") for c in net.classes)
        g.inits.append(t)
        return TensorProto.STRING
    g.const("classes", classes, dtype=classes.dtype)
    return helper.np_dtype_to_tensor_dtype(classes.dtype)


def _head(g, net, prog, Z, with_label):
    """-> [(output name, element type, shape)]"""
    k = net.n_outputs
    if not net.is_classifier:
        Y = _steps(g, prog.target, OUTPUT_OPS[type(prog.output)](g, Z, None))
        g.node("Identity", [Y], out="variable")
        return [("variable", g.onnx_dtype, ["N", k])]
    P, outputs = None, []
    if prog.output is not None:
        P = OUTPUT_OPS[type(prog.output)](g, Z, "probabilities")
        outputs.append(("probabilities", g.onnx_dtype, ["N", net.n_proba]))
    if prog.scores is not None:
        SCORES[type(prog.scores)](g, prog.scores, Z)
        outputs.append(("scores", g.onnx_dtype,
                        ["N"] if isinstance(prog.scores, BinaryScores) else ["N", k]))
    if not with_label:
        return outputs
    index = None
    for op in prog.decide:
        index = DECIDE[type(op)](g, op, Z, P, index)
    multilabel = not any(isinstance(op, ClassLookup) for op in prog.decide)
    return [("label", g.label_type, ["N", k] if multilabel else ["N"])] + outputs


def build(net, name, dtype="float64", with_label=True, opset=None, text="strings"):
    """Network -> onnx.ModelProto (checked), at `opset` (None: the lowest it needs);
    text="codes": text columns as int64 codes (text_codes)."""
    import onnx
    from onnx import TensorProto, helper

    onnx_dtype = TensorProto.DOUBLE if dtype == "float64" else TensorProto.FLOAT
    g = Graph(net, onnx_dtype, np.dtype(dtype))
    arrays = cast_arrays(net, dtype)
    for k, v in arrays.items():
        g.const(k, v)
    prog = net.program()
    names = net.meta.get("feature_names")
    X, inputs = "X", None
    if net.vocab:
        X, inputs = _feature_inputs(g, net, codes=text == "codes")
    Z = _steps(g, prog.layers, _refuse(g, _steps(g, prog.inputs, X)))
    outputs = _head(g, net, prog, Z, with_label)
    # The names as data: a doc string is free text that no runtime executes.
    x_doc = (f"{net.n_features} features in this order: " + ", ".join(map(str, names))
             if names else f"{net.n_features} features")
    graph = helper.make_graph(
        g.nodes, name,
        inputs or [helper.make_tensor_value_info("X", onnx_dtype, ["N", net.n_features], x_doc)],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs], initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", BUILD_OPSET)],
                              producer_name="mlpexport", ir_version=_ir(BUILD_OPSET))
    from .. import __version__
    model.producer_version = __version__
    model.doc_string = "\n".join(header(net, name, dtype))
    texts = net.texts()
    if not any(t.name == "classes" for t in g.inits):  # no label output, or multilabel 0/1
        texts.pop("classes", None)
    meta = meta_record(net, name, dtype, arrays, {"onnx_no_label": not with_label}, texts)
    meta["weights"] = list(arrays)
    meta["flat"] = net.flat
    if not with_label and net.is_classifier:  # what check judges it without (--onnx-no-label)
        meta["left_out"] = ["predict"]
    if net.vocab and text == "codes":
        meta["text_codes"] = text_codes(net)
    if names:
        meta["feature_names"] = [str(n) for n in names]  # JSON, as scikit-learn's feature_names_in_
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    _set_opset(model, opset)
    return model


def _ir(opset):
    """The oldest IR version that holds this opset (older readers take older IRs)."""
    from onnx import helper
    return helper.find_min_ir_version_for([helper.make_opsetid("", opset)])


def _accepts(model, opset) -> str:
    """'' when every node is valid at this opset (onnx.checker, full check), else why not."""
    import onnx
    model.opset_import[0].version, model.ir_version = opset, _ir(opset)
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        return str(exc).strip().splitlines()[0][:200]
    return ""


def _has_kernels(model) -> bool:
    """Whether onnxruntime has a kernel for every node at the model's opset: the schemas
    may allow a type at an opset that no runtime implements there (a float64 Clip at 11:
    onnxruntime's double Clip kernel starts at 12)."""
    try:
        import onnxruntime as ort
    except ImportError:
        return True
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.log_severity_level = 4
    try:
        ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception:  # NOT_IMPLEMENTED: no kernel at this opset for this type
        return False
    return True


def lowest_opset(model) -> int:
    """The lowest opset (7..max_opset()) whose schemas accept every node of the graph and
    at which onnxruntime has a kernel for each."""
    for opset in range(7, max_opset() + 1):
        if not _accepts(model, opset) and _has_kernels(model):
            return opset
    raise ExportError(f"internal: the ONNX graph is valid at no opset up to {max_opset()}: "
                      f"{_accepts(model, max_opset())}")


def _set_opset(model, opset):
    """The model at `opset` (None: the lowest it needs), checked; a user's opset the
    graph's ops do not hold is a usage error naming the range offered."""
    from ..errors import UsageError
    low = lowest_opset(model)
    if opset is None:
        opset = low
    elif isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not low <= opset <= max_opset():
        raise UsageError(f"--onnx-opset {opset!r}: this graph's ops need opset {low} to "
                         f"{max_opset()}{' (Equal on strings is opset 19)' if low >= 19 else ''}; "
                         f"choose one of them.")
    why = _accepts(model, int(opset))
    if why:
        raise ExportError(f"the ONNX graph is not valid at opset {opset}: {why}")


def input_names(net) -> list[str]:
    """The graph's inputs when some feature holds strings: one per feature that a step
    reads, named after it (x0, x1, ... without names), as skl2onnx names a DataFrame's
    columns. A column no step reads (remainder="drop": a name, a ticket number) is no
    input at all: it may hold anything, and one ONNX input has one element type."""
    return [n for n, unread in zip(column_names(net), _unread(net)) if not unread]


def _unread(net):
    """Columns left out of the inputs: those no step reads (all kept if none is read)."""
    unread = net.unread_columns()
    return unread if not unread.all() else np.zeros_like(unread)


def text_codes(net) -> dict:
    """--onnx-text codes: what a caller codes each text input with (ONNX metadata
    `text_codes`, and NAME.codes.json): {input name: its vocabulary}, the code of a text its
    position there; a missing one MISSING_CODE, one not in it UNKNOWN_CODE (any other)."""
    names = input_names(net)
    return {"missing": MISSING_CODE, "unknown": UNKNOWN_CODE,
            "columns": {names[c.column]: list(c.words) for c in net.vocab}}


def _feature_inputs(g, net, codes=False):
    """One [N, 1] input per feature (string or number, or int64 codes for text with
    codes=True); the text ones become codes; all are joined into the [N, n_features]
    matrix the input ops read."""
    from onnx import TensorProto, helper
    strings = {c.column: c for c in net.vocab}
    names, unread = column_names(net), _unread(net)
    for c in ([] if codes else net.vocab):
        g.inits.append(helper.make_tensor(f"vocab_{c.column}", TensorProto.STRING, [len(c.words)],
                                          [w.encode("utf-8") for w in c.words]))
    for n in names:  # ONNX names its inputs by the features: a name must be non-empty UTF-8
        if not n:
            raise ExportError(f"feature name {n!r} cannot name an ONNX input (ONNX input names "
                              f"are non-empty text); rename the column before fitting, or "
                              f"export with --to numpy.")
        try:
            n.encode("utf-8")
        except UnicodeEncodeError:
            raise ExportError(f"feature name {n!r} is not UTF-8 text, which ONNX names must be; "
                              f"rename the column before fitting.") from None
    taken = g.names | {f"vocab_{c.column}" for c in net.vocab}
    clash = [n for n, skip in zip(names, unread) if not skip and (
        n in taken or n in ("X", "label", "probabilities", "scores", "variable"))]
    if clash or len(set(names)) != len(names):
        raise ExportError(f"feature name {(clash or names)[0]!r} clashes with another name in the "
                          f"ONNX graph; rename the column before fitting.")
    columns, inputs = [], []
    text, code = (TensorProto.INT64, _given_codes) if codes else (TensorProto.STRING, _string_codes)
    for j, n in enumerate(names):
        if unread[j]:
            columns.append(None)  # filled below: any column will do, no step reads it
            continue
        kind = text if j in strings else g.onnx_dtype
        doc = ("text code" if codes else "string") if j in strings else "number"
        inputs.append(helper.make_tensor_value_info(n, kind, ["N", 1], doc))
        columns.append(code(g, strings[j], n) if j in strings else n)
    filler = next(c for c in columns if c is not None)
    return g.node("Concat", [filler if c is None else c for c in columns], axis=1), inputs


def render(net, name, *, dtype="float64", **options) -> dict[str, bytes]:
    opts = target_options(Options, options)
    if opts.onnx_text not in TEXT_MODES:
        from ..errors import UsageError
        raise UsageError(f"--onnx-text {opts.onnx_text!r}: choose strings or codes.")
    model = build(net, name, dtype, with_label=not opts.onnx_no_label, opset=opts.onnx_opset,
                  text=opts.onnx_text)
    files = {f"{name}.onnx": model.SerializeToString()}
    if net.vocab and opts.onnx_text == "codes":  # the vocabulary for the caller, beside it
        files[f"{name}.codes.json"] = (json.dumps(text_codes(net), indent=1, ensure_ascii=False)
                                       + "\n").encode("utf-8")
    if opts.onnx_test_data:
        golden = options.get("golden")
        if golden is None:
            raise ExportError("--onnx-test-data needs the rows convert proves (the golden rows).")
        files.update(test_data(model, name, golden[0], golden[1]))  # rows, sklearn's outputs
    return files


def test_data(model, name, X, outputs) -> dict[str, bytes]:
    """ONNX's test-data layout, as onnxruntime's onnx_test_runner and onnx's backend tests
    read it: NAME/test_data_set_0/input_<i>.pb (the rows, fed as check feeds them) and
    output_<j>.pb (scikit-learn's outputs in the graph's element types), TensorProtos
    named after the graph's inputs and outputs."""
    from onnx import helper, numpy_helper
    inputs = [i.name for i in model.graph.input]
    kinds = [i.type.tensor_type.elem_type for i in model.graph.input]
    from onnx import TensorProto
    dtype = np.float32 if TensorProto.FLOAT in kinds else np.float64
    meta = {p.key: p.value for p in model.metadata_props}
    codes = json.loads(meta["text_codes"]) if "text_codes" in meta else None
    feeds = feed(inputs, [k == TensorProto.STRING for k in kinds], X, dtype,
                 _input_columns(inputs, meta), codes)
    files = {}
    folder = f"{name}/test_data_set_0"
    for i, n in enumerate(inputs):
        files[f"{folder}/input_{i}.pb"] = numpy_helper.from_array(feeds[n], n).SerializeToString()
    for j, o in enumerate(model.graph.output):
        want = np.asarray(outputs[OUTPUTS[o.name]])
        kind = o.type.tensor_type.elem_type
        if kind == TensorProto.STRING:
            value = np.array([str(v) for v in want.ravel()], dtype=object).reshape(want.shape)
        else:
            value = want.astype(helper.tensor_dtype_to_np_dtype(kind))
        shape = [d.dim_param and len(want) or d.dim_value for d in o.type.tensor_type.shape.dim]
        files[f"{folder}/output_{j}.pb"] = numpy_helper.from_array(
            value.reshape(shape), o.name).SerializeToString()
    return files


OUTPUTS = {"variable": "predict", "label": "predict", "probabilities": "predict_proba",
           "scores": "decision_function"}


def runner(directory, name, runtime="onnxruntime"):
    """X -> outputs by scikit-learn's names, from NAME.onnx loaded once in onnxruntime
    (or onnx.reference)."""
    path = os.path.join(directory, f"{name}.onnx")
    if runtime == "reference":
        import onnx
        from onnx.reference import ReferenceEvaluator
        model = onnx.load(path)
        kinds = [i.type.tensor_type.elem_type for i in model.graph.input]
        dtype = np.float32 if onnx.TensorProto.FLOAT in kinds else np.float64
        strings = [k == onnx.TensorProto.STRING for k in kinds]
        inputs = [i.name for i in model.graph.input]
        names = [o.name for o in model.graph.output]
        at = _input_columns(inputs, {p.key: p.value for p in model.metadata_props})
        evaluator = ReferenceEvaluator(model)
        codes = given_codes(path)

        def infer(X):
            with np.errstate(over="ignore"):  # exp overflows to inf on extreme rows, as in ORT
                return evaluator.run(None, feed(inputs, strings, X, dtype, at, codes))
    else:
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeMissing("onnxruntime is not installed (pip install onnxruntime).") from None
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        kinds = [i.type for i in sess.get_inputs()]
        dtype = np.float32 if "tensor(float)" in kinds else np.float64
        strings = [k == "tensor(string)" for k in kinds]
        inputs = [i.name for i in sess.get_inputs()]
        names = [o.name for o in sess.get_outputs()]
        at = _input_columns(inputs, sess.get_modelmeta().custom_metadata_map)
        codes = given_codes(path)

        def infer(X):
            return sess.run(None, feed(inputs, strings, X, dtype, at, codes))
    unexpected = [n for n in names if n not in OUTPUTS]
    if unexpected:
        raise ExportError(f"{path} has an unexpected output {unexpected[0]!r}.")

    def run_rows(X):
        return {OUTPUTS[n]: v for n, v in zip(names, infer(X))}
    run_rows.left_out = left_out(path)
    return run_rows


def given_codes(path) -> dict | None:
    """The text_codes record of a graph written with --onnx-text codes (None otherwise)."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    if "text_codes" not in meta:
        return None
    try:
        codes = json.loads(meta["text_codes"])
        if isinstance(codes, dict) and isinstance(codes.get("columns"), dict):
            return codes
    except ValueError:
        pass
    raise ExportError(f"{path} has an unreadable text_codes record in its metadata.")


def left_out(path) -> tuple[str, ...]:
    """scikit-learn's names of the outputs the export was written without on purpose
    (`predict` under --onnx-no-label), from its metadata: check judges only the rest."""
    import onnx
    model = onnx.load(path, load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    try:
        names = json.loads(meta.get("left_out", "[]"))
    except ValueError:
        return ()
    return tuple(n for n in names if n == "predict") if isinstance(names, list) else ()


def _input_columns(inputs, meta) -> list[int] | None:
    """The X column each per-feature input takes (the recorded feature names, or x0, x1,
    ...): a column no step reads has no input. None for the one input X."""
    if inputs == ["X"]:
        return None
    names = json.loads(meta.get("feature_names") or "null") or [f"x{j}" for j in range(
        int(meta.get("n_features", len(inputs))))]
    return [names.index(n) if n in names else j for j, n in enumerate(inputs)]


def feed(inputs, strings, X, dtype, at=None, codes=None) -> dict:
    """Rows in feature order -> the graph's inputs: X itself, or one [N, 1] column per
    input, X's column at[k] (strings as str, a missing one, None or NaN, as ""; numbers as
    dtype; with `codes`, a text_codes record, text columns as its int64 codes)."""
    if len(inputs) == 1 and not strings[0] and at is None:
        return {inputs[0]: np.asarray(X, dtype=dtype)}
    X = np.asarray(X, dtype=object)
    out = {}
    vocab = {} if codes is None else codes["columns"]
    for k, (name, is_string) in enumerate(zip(inputs, strings)):
        col = X[:, k if at is None else at[k]]
        if name in vocab:
            index = {w: i for i, w in enumerate(vocab[name])}
            out[name] = np.array([codes["missing"] if is_missing(v) else index.get(str(v), codes["unknown"])
                                  for v in col], dtype=np.int64).reshape(-1, 1)
        elif is_string:
            out[name] = np.array(["" if is_missing(v) else str(v) for v in col],
                                 dtype=object).reshape(-1, 1)
        else:
            out[name] = np.array([np.nan if v is None else v for v in col], dtype=dtype).reshape(-1, 1)
    return out


def run(directory, name, X, runtime="onnxruntime") -> dict[str, np.ndarray]:
    return runner(directory, name, runtime)(X)


def stamp(directory, name) -> Stamp:
    import onnx
    from onnx import numpy_helper

    from ..load import check_export_file
    from ..network import digest, label_form
    path = os.path.join(directory, f"{name}.onnx")
    check_export_file(path)
    model = onnx.load(path, load_external_data=False)  # nothing outside the file is read
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer):
        raise ExportError(f"{name}.onnx keeps weights in external files, which mlpexport never "
                          f"writes; refused.")
    meta = {p.key: p.value for p in model.metadata_props}
    weights = set(json.loads(meta.get("weights", "[]")))
    stored = {t.name: (np.array(list(t.string_data), dtype=object)  # as written: NULs kept
                       if t.data_type == onnx.TensorProto.STRING else numpy_helper.to_array(t))
              for t in model.graph.initializer
              if t.name in weights or t.name == "classes" or t.name.startswith("vocab_")}
    arrays = {k: (np.array([_text(v) for v in a.ravel()], dtype=object)
                  if a.dtype.kind in "OSU" else a) for k, a in stored.items()}
    if "classes" in arrays:
        arrays["classes"] = label_form(arrays["classes"])
    names = json.loads(meta.get("feature_names", "null"))
    if names:
        arrays["feature_names"] = np.array([str(n) for n in names], dtype=object)
    inputs = [i.name for i in model.graph.input]
    # one input per feature a step reads (a model with text columns): fed by name, so they
    # are recorded names (x0, x1, ... without them), in their order
    expected = [str(n) for n in names or (f"x{j}" for j in range(int(meta.get("n_features", 0))))]
    at = [expected.index(n) if n in expected else -1 for n in inputs]
    named = inputs == ["X"] or (min(at, default=0) >= 0 and at == sorted(set(at)))
    if "text_codes" in meta:  # --onnx-text codes: the vocabularies are in the metadata
        try:
            columns = json.loads(meta["text_codes"])["columns"]
            arrays.update({f"vocab_{expected.index(n)}": np.array([str(w) for w in words], dtype=object)
                           for n, words in columns.items()})
        except (ValueError, KeyError, TypeError, AttributeError):
            named = False  # an unreadable record: not the export we wrote
    return Stamp(f"{name}.onnx", meta.get("fingerprint"),
                 named and digest(arrays) == meta.get("digest"), dtype=meta.get("dtype", "float64"))


def _text(v) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)
