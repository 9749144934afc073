"""A new target is one module plus one registry entry: this file is both.

`pylists` writes NAME_pylists.py, plain Python on lists (no numpy in the generated code),
one table from op type to its syntax. It is registered from this test only, and held to
scikit-learn on the whole fixture zoo like the shipped targets."""
from __future__ import annotations

import ast
import importlib.util
import os
import re
import sys
import uuid
from dataclasses import dataclass

import numpy as np
import pytest

from conftest import ALL, assert_matches, case, reference
from mlpexport import emit
from mlpexport.errors import ExportError, UsageError
from mlpexport.network import (Add, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, ClipTo,
                               digest, label_form, Div, Equal, ExpOut, FillNaN, Gemm, HuberBinaryProba,
                               HuberOvrProba, IdentityOut, Lookup, MarkNaN, Mul, MultilabelDecision, OvrProba, PolyTerms,
                               Relu, Score, Scores, Sigmoid, SigmoidProba, SoftmaxProba, Sub, Take,
                               Tanh, Threshold)

# ------------------------------------------------------------------ the target module

FILES = ("_pylists.py",)


@dataclass(frozen=True)
class Options:
    pylists_comments: bool = True  # one comment per line, saying which op it is


SCORE = {Score.LOGITS: "z", Score.PROBA: "proba"}
THRESHOLD = {Score.LOGITS: "z[0] > 0", Score.PROBA: "p > 0.5"}
# op type -> line(s) of Python on lists; z is the working row, y / proba the outputs.
SYNTAX = {
    Sub: "z = [v - c for v, c in zip(z, {op.array})]",
    Div: "z = [v / c for v, c in zip(z, {op.array})]",
    Mul: "z = [v * c for v, c in zip(z, {op.array})]",
    Add: "z = [v + c for v, c in zip(z, {op.array})]",
    ClipTo: "z = [min(max(v, {op.low}), {op.high}) for v in z]",
    Gemm: "z = [sum(v * w for v, w in zip(z, col)) + c for col, c in zip(zip(*{op.W}), {op.b})]",
    Relu: "z = [max(v, 0.0) for v in z]",
    Tanh: "z = [math.tanh(v) for v in z]",
    Sigmoid: "z = [_sigmoid(v) for v in z]",
    Take: "z = [z[i] for i in {op.indices}]",
    Apply: "z = [_UFUNC[{op.fn!r}](v) if {op.cols} is None or {op.cols}[0] <= i < {op.cols}[1] else v "
           "for i, v in enumerate(z)]",
    FillNaN: "z = [v if v == v or c is None else c for v, c in zip(z, {op.fill})]",
    MarkNaN: "z = [float(v != v) if c == 1 else v for v, c in zip(z, {op.mask})]",
    PolyTerms: "t = [1.0] + z; [t.append(t[int(a)] * z[int(b)]) for a, b in zip({op.left}, {op.right})]; "
               "z = [t[int(k)] for k in {op.out}]",
    Lookup: "z[{op.column}] = _lookup(z[{op.column}], {op.values}, {op.codes}, {op.missing}, "
            "{op.unknown}, {op.error})",
    Equal: "z = [v if c is None or v != v else float(v == c) for v, c in zip(z, {op.array})]",
    IdentityOut: ["y = z"],
    ExpOut: ["y = [_exp(v) for v in z]"],
    BinaryProba: ["p = _sigmoid(z[0])", "proba = [1 - p, p]"],
    SoftmaxProba: ["m = max(z)", "e = [_exp(v - m) for v in z]", "t = sum(e)",
                   "proba = [v / t for v in e]"],
    OvrProba: ["q = [_sigmoid(v) for v in z]", "t = sum(q)",
               "proba = [v / t for v in q] if t else [1 / len(q)] * len(q)"],
    SigmoidProba: ["proba = [_sigmoid(v) for v in z]"],
    HuberBinaryProba: ["p = (min(max(z[0], -1.0), 1.0) + 1) / 2", "proba = [1 - p, p]"],
    HuberOvrProba: ["q = [(min(max(v, -1.0), 1.0) + 1) / 2 for v in z]", "t = sum(q)",
                    "proba = [v / t for v in q] if t else [1 / len(q)] * len(q)"],
    Scores: ["scores = z"],
    BinaryScores: ["scores = z[{op.column}]"],
}
DECIDE = {  # op type -> (op, index expression so far) -> (lines, index expression)
    Threshold: lambda op, i: ([], f"int({THRESHOLD[op.on]})"),
    Argmax: lambda op, i: ([], f"max(range(len({SCORE[op.on]})), key={SCORE[op.on]}.__getitem__)"),
    ClassLookup: lambda op, i: ([f"label = classes[{i}]"], None),
    MultilabelDecision: lambda op, i: (["label = [int(v > 0.5) for v in proba]"], None),
}
PRELUDE = '''import math


def _exp(v):
    try:
        return math.exp(v)
    except OverflowError:
        return math.inf


_UFUNC = {"log1p": math.log1p, "expm1": math.expm1, "log": math.log, "exp": math.exp,
          "sqrt": math.sqrt, "square": lambda v: v * v}


def _sigmoid(v):
    return 1 / (1 + _exp(-v))


def _nan(v):
    return math.nan if v is None else v


def _lookup(v, values, codes, missing, unknown, error):
    if v == v and v in values:
        return codes[values.index(v)]
    if v != v and missing is not None:
        return _nan(missing)
    if error:
        raise ValueError(f"unknown category {v!r}")
    return _nan(unknown)


def _code(v, words, error):
    if v is None or v != v:
        return math.nan
    if v in words:
        return float(words.index(v))
    if error:
        raise ValueError(f"unknown category {v!r}")
    return -1.0
'''


def _line(op, options):
    text = SYNTAX[type(op)].format(op=op)
    return f"{text:<60}# {type(op).__name__}" if options.pylists_comments else text


def _no_nan(v):
    """NaN (an imputer's fill for a column it leaves alone) as None: WEIGHTS stays a literal."""
    if isinstance(v, list):
        return [_no_nan(x) for x in v]
    return None if v != v else v


def render(net, name, *, dtype="float64", **options):
    opts = emit.target_options(Options, options)
    if dtype != "float64":
        raise ExportError("the pylists target computes in Python floats (float64) only.")
    prog = net.program()
    arrays = net.arrays()
    body = ["z = [math.nan if v is None else v for v in x]"] + [f"z[{op.column}] = _code(z[{op.column}], VOCAB[{op.column}], {op.error})"
                              for op in prog.strings]
    body += [_line(op, opts) for op in (*prog.inputs, *prog.layers)]
    body += SYNTAX[type(prog.output)] if prog.output is not None else ["proba = None"]
    if prog.scores is not None:
        body += [line.format(op=prog.scores) for line in SYNTAX[type(prog.scores)]]
    else:
        body += ["scores = None"]
    if prog.target:
        body += ["z = y"] + [_line(op, opts) for op in prog.target] + ["y = z"]
    index = None
    for op in prog.decide:
        more, index = DECIDE[type(op)](op, index)
        body += more
    result = ("label, proba, scores" if net.is_classifier
              else "y[0]" if net.flat and net.n_outputs == 1 else "y")
    # what this target stores besides weights, for the digest: labels, vocabularies (no names)
    texts = {k: v for k, v in net.texts().items() if k != "feature_names"}
    meta = emit.meta_record(net, name, dtype, arrays, options, texts)
    weights = {k: _no_nan(v.tolist()) for k, v in arrays.items()}
    classes = None if net.classes is None else [c.item() if hasattr(c, "item") else c
                                                for c in net.classes]
    code = "\n".join([
        f'"""{emit.header(net, name, dtype)[0]}"""', PRELUDE,
        f"FINGERPRINT = {meta['fingerprint']!r}",
        f"DIGEST = {meta['digest']!r}",
        f"WEIGHTS = {weights!r}",
        f"classes = {classes!r}",
        f"VOCAB = {({c.column: list(c.words) for c in net.vocab})!r}",
        "globals().update(WEIGHTS)", "", "",
        "def predict_row(x):", *[f"    {line}" for line in body], f"    return {result}", ""])
    return {f"{name}_pylists.py": code.encode()}


def runner(directory, name):
    path = os.path.join(directory, f"{name}_pylists.py")
    spec = importlib.util.spec_from_file_location(f"_pylists_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def run_rows(X):
        X = np.asarray(X)
        rows = [module.predict_row(x) for x in (X if X.dtype == object else X.astype(np.float64)).tolist()]
        if module.classes is None:
            return {"predict": np.array(rows)}
        labels = [label for label, _, _ in rows]
        out = {"predict": np.array(labels, dtype=object if isinstance(labels[0], str) else None)}
        if rows[0][1] is not None:
            out["predict_proba"] = np.array([proba for _, proba, _ in rows])
        if rows[0][2] is not None:
            out["decision_function"] = np.array([scores for _, _, scores in rows])
        return out
    return run_rows


def stamp(directory, name):
    """Read as data (ast.literal_eval), never run."""
    with open(os.path.join(directory, f"{name}_pylists.py"), encoding="utf-8") as f:
        text = f.read()
    fields = dict(re.findall(r"^(FINGERPRINT|DIGEST|WEIGHTS|classes|VOCAB) = (.*)$", text, re.M))
    weights = {k: np.asarray(v, dtype=np.float64)
               for k, v in ast.literal_eval(fields["WEIGHTS"]).items()}
    classes = ast.literal_eval(fields["classes"])
    if classes is not None:
        weights["classes"] = label_form(classes)
    weights.update({f"vocab_{c}": np.array(words, dtype=object)
                    for c, words in ast.literal_eval(fields["VOCAB"]).items()})
    return emit.Stamp(f"{name}_pylists.py", ast.literal_eval(fields["FINGERPRINT"]),
                      digest(weights) == ast.literal_eval(fields["DIGEST"]))


# ------------------------------------------------------------------------- the tests

@pytest.fixture
def pylists(monkeypatch):
    """Registered for one test: the registry entry is the whole of the wiring."""
    monkeypatch.setitem(emit.TARGETS, "pylists", sys.modules[__name__])
    return "pylists"


@pytest.mark.parametrize("name", ALL)
def test_a_test_only_target_matches_sklearn_on_the_zoo(name, pylists, tmp_path):
    est, net, X = case(name)
    files = emit.render_all(net, "m", [pylists], "float64")
    assert "numpy" not in files["m_pylists.py"].decode()  # lists only, no numpy
    emit.write_all(files, str(tmp_path), force=True)
    got = emit.target(pylists).runner(str(tmp_path), "m")(X)
    assert_matches(got, reference(est, net, X), 1e-12, name)
    stamp = emit.target(pylists).stamp(str(tmp_path), "m")
    assert stamp.fingerprint == net.fingerprint and stamp.intact


def test_check_runs_a_registered_target_like_a_shipped_one(pylists):
    from mlpexport.check import check_fresh
    est, net, X = case("clf_multi_str")
    report = check_fresh(est, net, X[:50], [pylists, "numpy"])
    assert {row.target for row in report.rows} == {pylists, "numpy"}
    assert report.passed


def test_every_registered_target_satisfies_the_protocol(pylists):
    for t in emit.TARGETS:
        assert isinstance(emit.target(t), emit.Target), t
    assert not isinstance(emit, emit.Target)  # a module without FILES, Options, runner ...


def test_the_registry_gives_the_target_choices(pylists):
    assert emit.parse_targets("pylists,numpy") == [pylists, "numpy"]
    assert pylists in emit.parse_targets("all")
    with pytest.raises(UsageError, match="pylists"):
        emit.parse_targets("java")  # the message lists what is registered


def test_options_are_typed_per_target_and_unknown_ones_refused(pylists):
    _, net, _ = case("reg_classic")
    plain = render(net, "m", pylists_comments=False)["m_pylists.py"].decode()
    assert "# Gemm" not in plain and "# Gemm" in render(net, "m")["m_pylists.py"].decode()
    with pytest.raises(UsageError, match="pylists_coments"):
        emit.render_all(net, "m", [pylists], "float64", pylists_coments=False)
    # another target's option is part of the export set, not a misspelling
    render(net, "m", matlab_inline=True)
