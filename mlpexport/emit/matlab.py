"""MATLAB target: NAME.m (the forward pass, line by line) + NAME.mat (weights, metadata,
golden rows). Runs unchanged in MATLAB R2016b+ and GNU Octave 6+.

Portable subset only: bsxfun (no reliance on implicit expansion, which MATLAB Coder
lacks before R2021b), X = double(X) first (single*double is single, integers
saturate), Z(Z < 0) = 0 for ReLU (max(0, NaN) is 0 in MATLAB), softmax minus the row
max, first-max argmax (1-based), string labels as a cell array of char, no arguments
blocks, inputParser or string arrays. `inline=True` writes the weights into the .m as
%.17g literals (they round-trip bit-exactly) for MATLAB Coder / Simulink: a `%#codegen`
file whose weights are constants of the function (no persistent, no load), with none of
the functions code generation lacks (mfilename, exist, table2struct, mat2str: the scan
in tests/test_matlab_codegen.py) and an input X that is never reassigned.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from string import Template  # the ufunc lines, with $v for their variable

import numpy as np

from . import (NAME_RE, Stamp, cast_arrays, classes_for_storage, column_names, header, meta_record,
               refuse_nul_labels, target_options)
from ..errors import ExportError, RuntimeFailed, RuntimeMissing
from ..network import (Add, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, ClipTo, Div,
                       Equal, ExpOut, FillNaN, Gemm, HuberBinaryProba, HuberOvrProba, IdentityOut,
                       is_missing, Lookup, MarkNaN, Mul, MultilabelDecision, OvrProba, PolyTerms,
                       Relu, Score, Scores, Sigmoid, SigmoidProba, SoftmaxProba, Sub, Take, Tanh,
                       Threshold)

FILES = (".m", ".mat")
REQUIRE_ENV = "MLPEXPORT_REQUIRE_OCTAVE"  # "1": a missing Octave is an error, not a SKIP


@dataclass(frozen=True)
class Options:
    matlab_inline: bool = False  # weights as %.17g literals in the .m (MATLAB Coder), no .mat
    matlab_verify: bool = False  # also write mlpexport_verify.m
    # (X, {"predict": ..., "predict_proba": ...}[, scales]) from scikit-learn: test rows
    # stored in the .mat for mlpexport_verify.m; scales (check.output_scales: output ->
    # the typical magnitude of each column, which check measures errors against) too
    golden: tuple | None = None

# Names NAME.m must not take: MATLAB/Octave keywords, and functions the generated .m
# calls (a NAME.m of that name would shadow them, on the path next to the export).
KEYWORDS = ("break case catch classdef continue else elseif end for function global if "
            "otherwise parfor persistent return spmd switch try unwind_protect "
            "unwind_protect_cleanup end_try_catch end_unwind_protect endfunction endif "
            "endfor endwhile endswitch do until while").split()
BUILTINS = ("abs addpath all any argv bsxfun cell cellfun cellstr class clear double error ismember "
            "strcmp num2str "
            "exp feval fieldnames fileparts find fprintf fullfile ind2sub int64 isa iscell "
            "iscellstr ischar isempty isequal isfield isfinite islogical isnan isnumeric isreal "
            "istable isvector load logical mat2str max median mfilename min nargin nargout "
            "ndims numel ones repmat reshape rmpath save single size sprintf str2func strcmp "
            "prod power isinf log log1p expm1 sqrt NaN exist isstruct setdiff strjoin "
            "struct sum table2struct tanh which zeros").split()
# Functions mlpexport itself writes: the verifier, and the inline export's subfunction.
OWN = {"mlpexport_verify": "the name of mlpexport's MATLAB verifier (mlpexport_verify.m)",
       "columns_by_name": "the name of the .m export's struct-input subfunction",
       "lookup": "the name of the .m export's category-lookup subfunction",
       "weights": "a name reserved for the inline export (formerly its weights subfunction)"}
RESERVED = {**{k: "a MATLAB keyword" for k in KEYWORDS},
            **{b: f"a MATLAB function the .m export calls ({b}.m would shadow it)"
               for b in BUILTINS}, **OWN}
OCTAVE_FLAGS = ["--no-gui", "--norc", "--no-history", "--quiet", "--no-window-system"]

UFUNCS = {"log1p": "$v($v < -1) = NaN; $v = log1p($v);", "expm1": "$v = expm1($v);",
          "log": "$v($v < 0) = NaN; $v = log($v);", "exp": "$v = exp($v);",
          "sqrt": "$v($v < 0) = NaN; $v = sqrt($v);", "square": "$v = $v .* $v;"}


def ufunc(fn, v="Z"):
    """numpy's fn applied in place to the MATLAB variable v."""
    return Template(UFUNCS[fn]).substitute(v=v)


# One table per stage: op type -> its MATLAB line(s). Forward ops: (line, comment).
FORWARD = {
    Sub: ("Z = bsxfun(@minus, Z, w.{op.array});", "subtract {op.array}"),
    Div: ("Z = bsxfun(@rdivide, Z, w.{op.array});", "divide by {op.array}"),
    Mul: ("Z = bsxfun(@times, Z, w.{op.array});", "multiply by {op.array}"),
    Add: ("Z = bsxfun(@plus, Z, w.{op.array});", "add {op.array}"),
    ClipTo: ("Z = min(max(Z, w.{op.low}), w.{op.high});", "clip to {op.low}, {op.high}"),
    Gemm: ("Z = bsxfun(@plus, Z * w.{op.W}, w.{op.b});", "Z * W + b: {op.W}, {op.b}"),
    Relu: ("Z(Z < 0) = 0;", "relu"),
    Tanh: ("Z = tanh(Z);", "tanh"),
    Sigmoid: ("Z = 1 ./ (1 + exp(-Z));", "logistic"),
    # numpy's ufuncs; MATLAB's log and sqrt of a negative are complex where numpy's are NaN.
    Apply: (lambda op: ufunc(op.fn) if op.cols is None else
            f"P = Z(:, {op.cols[0] + 1}:{op.cols[1]}); "
            + ufunc(op.fn, "P") + f" Z(:, {op.cols[0] + 1}:{op.cols[1]}) = P;",
            "{op.fn}"),
    # Input ops that change the width or read NaN (indices are 1-based here).
    Take: (lambda op: f"Z = Z(:, [{' '.join(str(i + 1) for i in op.indices)}]);",
           "columns, in this order"),
    FillNaN: ("m = isnan(Z); F = repmat(w.{op.fill}, size(Z, 1), 1); Z(m) = F(m);",
              "missing values -> {op.fill} (NaN there: kept)"),
    MarkNaN: ("Z(:, w.{op.mask} == 1) = isnan(Z(:, w.{op.mask} == 1));", "missing-value indicators"),
    Lookup: (lambda op: f"Z(:, {op.column + 1}) = lookup(Z(:, {op.column + 1}), w.{op.values}, "
             f"w.{op.codes}, {'w.' + op.missing if op.missing else '[]'}, w.{op.unknown}, "
             f"{int(op.error)}, {op.column + 1 if op.source is None else op.source + 1}, '{{name}}');",
             "categories in column {op.column} -> codes"),
    Equal: ("E = Z; E(:) = bsxfun(@eq, Z, w.{op.array}); keep = bsxfun(@or, isnan(w.{op.array}), "
            "isnan(Z)); E(keep) = Z(keep); Z = E;", "one-hot: 1 where the code is {op.array}"),
    # [1, Z], then one product per term of each next degree (scikit-learn's factors: a
    # lower term times a column), then the terms in order; the column numbers are 0-based
    PolyTerms: (lambda op: "T = [ones(size(Z, 1), 1, class(Z)), Z]; " + "".join(
        f"T = [T, T(:, double(w.{op.left}({a + 1}:{b})) + 1) .* Z(:, double(w.{op.right}({a + 1}:{b})) + 1)]; "
        for a, b in op.groups) + f"Z = T(:, double(w.{op.out}) + 1);",
                "polynomial terms: {op.n_in} -> {op.n_out}"),
}
# The raw output Z -> predictions y or probabilities proba.
OUTPUTS = {
    IdentityOut: ["y = Z;"],
    ExpOut: ["y = exp(Z);                              % exp output (Poisson loss)"],
    BinaryProba: ["p = 1 ./ (1 + exp(-Z));",
                  "proba = [1 - p, p];"],
    SigmoidProba: ["proba = 1 ./ (1 + exp(-Z));"],
    SoftmaxProba: ["E = exp(bsxfun(@minus, Z, max(Z, [], 2)));",
                   "proba = bsxfun(@rdivide, E, sum(E, 2));"],
    OvrProba: ["P = 1 ./ (1 + exp(-Z));                % one-vs-rest: sigmoid per class ...",
               "s = sum(P, 2);                         % ... divided by the row sum",
               "zero = (s == 0);                       % all classes underflowed: uniform",
               "P(zero, :) = 1;",
               "s(zero) = size(P, 2);",
               "proba = bsxfun(@rdivide, P, s);"],
    HuberBinaryProba: ["p = (min(max(Z, -1), 1) + 1) / 2;        % modified Huber",
                       "proba = [1 - p, p];"],
    HuberOvrProba: ["P = (min(max(Z, -1), 1) + 1) / 2;        % modified Huber per class ...",
                    "s = sum(P, 2);                         % ... divided by the row sum",
                    "zero = (s == 0);                       % every class at -1: uniform",
                    "P(zero, :) = 1;",
                    "s(zero) = size(P, 2);",
                    "proba = bsxfun(@rdivide, P, s);"],
}
# decision_function: the raw output Z -> scores (two classes: one column).
SCORES = {
    Scores: lambda op: "scores = Z;",
    BinaryScores: lambda op: f"scores = Z(:, {op.column + 1});",
}
# Decisions: op -> (lines, the 1-based class index they leave, as an expression).
SCORE = {Score.LOGITS: "Z", Score.PROBA: "proba"}
THRESHOLD = {Score.LOGITS: "(Z > 0)", Score.PROBA: "(p > 0.5)"}  # p: BinaryProba's P(:, 2)
DECIDE = {
    Threshold: lambda op, index: ([], f"{THRESHOLD[op.on]} + 1"),
    Argmax: lambda op, index: ([f"[~, idx] = max({SCORE[op.on]}, [], 2);                 "
                                "% first maximum, 1-based"], "idx"),
    ClassLookup: lambda op, index: ([f"label = w.classes({index});"], None),
    MultilabelDecision: lambda op, index: (["label = double(proba > 0.5);"], None),
}


def _forward(ops, name, width=40):
    lines = []
    for op in ops:
        line, text = FORWARD[type(op)]
        code = line(op) if callable(line) else line.format(op=op)
        code = code.replace("'{name}'", f"'{name}'")  # the export's name, an identifier
        lines.append(f"{code:<{width}}% {text.format(op=op)}")
    return lines


def _outputs(net):
    """NAME.m's output arguments, in order: y; [label, proba]; [label, scores] for a
    classifier without probabilities; [label, proba, scores] for one with both."""
    if not net.is_classifier:
        return ["y"]
    return (["label"] + (["proba"] if net.has_proba else [])
            + (["scores"] if net.has_scores else []))


def _head(net, prog):
    lines = [] if prog.output is None else list(OUTPUTS[type(prog.output)])
    if prog.scores is not None:
        lines.append(f"{SCORES[type(prog.scores)](prog.scores):<40}% decision_function")
    index = None
    for op in prog.decide:
        more, index = DECIDE[type(op)](op, index)
        lines += more
        if isinstance(op, ClassLookup) and net.classes.dtype.kind == "b":
            lines.append("label = logical(label);                 % the classes are true/false")
    if prog.target:
        lines.append("Z = y;")
        lines += _forward(prog.target, "")
        lines.append("y = Z;")
    return lines


IDENT = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
EXACT = 2 ** 53  # integers beyond this are not all exact as doubles


def _check_labels(net):
    refuse_nul_labels(net, "MATLAB", "a .mat file's char arrays do not keep (Octave ends the label there)")
    classes, kind = classes_for_storage(net)
    if kind in ("str", "object"):
        for c in classes:
            if not str(c).isascii():
                raise ExportError(
                    f"class label {str(c)!r} is not ASCII; GNU Octave cannot read such labels "
                    f"from a .mat file, so the MATLAB export refuses them.")
    if kind == "number" and classes.dtype.kind == "u" and classes.size and classes.max() >= 2 ** 63:
        raise ExportError("the model has class labels of 2^63 or more; MATLAB's int64 cannot "
                          "hold them, so the MATLAB export refuses them.")
    return classes, kind


def _check_names(net, name):
    """Everything that becomes MATLAB source besides fixed text: the function name and
    the array names of the forward pass. Both are identifiers, never model-file text."""
    if not NAME_RE.fullmatch(name) or name.lower() in RESERVED:
        raise ExportError(f"{name!r} cannot name a MATLAB function; use letters, digits and _, "
                          f"starting with a letter, and no MATLAB keyword or builtin.")
    for op in net.program():
        args = [v for k, v in vars(op).items() if isinstance(v, str) and k != "label"]  # label: data
        if not all(IDENT.fullmatch(a) for a in args):
            raise ExportError(f"internal array names {args} are not MATLAB identifiers.")


def _struct_names(net):
    """Feature names a struct's fields can carry: valid MATLAB identifiers (ASCII, which
    Octave reads from a .mat), else None. A model with text columns but no feature names
    takes fields x0, x1, ... (as its ONNX inputs are named)."""
    if not net.meta.get("feature_names") and not net.vocab:
        return None
    names = column_names(net)
    if all(NAME_RE.fullmatch(n) for n in names):
        return names
    return None


def _struct_input(net, name, inline):
    """Lines that turn a struct of columns (a table in MATLAB) into X, checked by name."""
    if not net.meta.get("feature_names") and not net.vocab:
        return []
    take = ["% a struct with one field per feature (in MATLAB also a table): columns by name",
            "if exist('istable') && istable(X)",
            "    X = table2struct(X, 'ToScalar', true);",
            "end"]
    if inline or not _struct_names(net):
        why = ("the inline export has no feature names (drop --matlab-inline)" if inline else
               "the feature names of this model are not all MATLAB identifiers")
        return ([] if inline else take) + ["if isstruct(X)",
                       f"    error('mlpexport:featureNames', '{name}: X must be a matrix: {why}.');",
                       "end", ""]
    unread = " ".join(str(int(j)) for j in np.flatnonzero(net.unread_columns()))
    if net.vocab:
        strict = " ".join(str(c.column) for c in net.vocab if c.error)
        return take + ["if ~isstruct(X)",
                       f"    error('mlpexport:notStruct', '{name}: X must be a struct with one field "
                       "per feature (cell arrays of char for the string columns), or a table.');",
                       "end",
                       f"X = columns_by_name(X, w.feature_names, '{name}', w, [{strict}], [{unread}]);", ""]
    return take + ["if isstruct(X)",
                   f"    X = columns_by_name(X, w.feature_names, '{name}', [{unread}]);",
                   "end", ""]


LOOKUP = [
    "",
    "function v = lookup(c, values, codes, missing, unknown, strict, column, fname)",
    "% codes(k) where c equals values(k); NaN -> missing (empty: NaN is unknown); any",
    "% other value -> unknown, or an error when strict (handle_unknown='error')",
    "[hit, at] = ismember(c, values);",
    "v = repmat(unknown, size(c));",
    "v(hit) = codes(at(hit));",
    "known = hit;",
    "if ~isempty(missing)",
    "    v(isnan(c)) = missing;",
    "    known = known | isnan(c);",
    "end",
    "if strict && ~all(known)",
    "    bad = c(~known);",
    "    error('mlpexport:unknownCategory', '%s: unknown category %g in column %d.', fname, bad(1), column);",
    "end",
    "end",
]

FIELDS_ARE_THE_NAMES = [
    "given = fieldnames(S);",
    "missing = setdiff(names, given);",
    "unexpected = setdiff(given, names);",
    "if ~isempty(missing) || ~isempty(unexpected)",
    "    error('mlpexport:featureNames', '%s: the fields must be the feature names; missing: {%s}, unexpected: {%s}.', ...",
    "          fname, strjoin(missing(:)', ', '), strjoin(unexpected(:)', ', '));",
    "end",
    "M = zeros(numel(S.(names{1})), numel(names));",
]

COLUMNS_BY_NAME = [
    "",
    "function M = columns_by_name(S, names, fname, unread)",
    "% the fields of a struct of column vectors as an N x numel(names) matrix, in the",
    "% model's feature order; missing or unexpected fields are an error naming them. The",
    "% columns no step reads (unread, 0-based) may hold anything: NaN here.",
    *FIELDS_ARE_THE_NAMES,
    "for k = 1:numel(names)",
    "    if any(unread == k - 1)",
    "        M(:, k) = NaN;",
    "        continue",
    "    end",
    "    v = S.(names{k});",
    "    if ~(isnumeric(v) || islogical(v)) || ~isreal(v)  % Octave reads '12' as codes 49 50",
    "        error('mlpexport:notNumeric', '%s: field %s must hold real numbers, not %s.', fname, names{k}, class(v));",
    "    end",
    "    M(:, k) = double(v(:));",
    "end",
    "end",
]

STRING_COLUMNS_BY_NAME = [
    "",
    "function M = columns_by_name(S, names, fname, w, strict, unread)",
    "% the fields of a struct of column vectors (cell arrays of char for string columns)",
    "% as an N x numel(names) matrix, in the model's feature order: a string becomes its",
    "% position among the known strings (vocab_<column>), -1 when unknown, NaN when ''.",
    "% The columns no step reads (unread, 0-based) may hold anything: NaN here.",
    *FIELDS_ARE_THE_NAMES,
    "for k = 1:numel(names)",
    "    v = S.(names{k});",
    "    if any(unread == k - 1)",
    "        M(:, k) = NaN;",
    "        continue",
    "    end",
    "    vocab = sprintf('vocab_%d', k - 1);",
    "    if ~isfield(w, vocab)",
    "        if ~(isnumeric(v) || islogical(v)) || ~isreal(v)",
    "            error('mlpexport:notNumeric', '%s: field %s must hold real numbers.', fname, names{k});",
    "        end",
    "        M(:, k) = double(v(:));",
    "        continue",
    "    end",
    "    if ischar(v)",
    "        v = cellstr(v);",
    "    end",
    "    if ~iscellstr(v)",
    "        error('mlpexport:notText', '%s: field %s must be a cell array of char (text).', fname, names{k});",
    "    end",
    "    [hit, at] = ismember(v(:), w.(vocab));",
    "    M(:, k) = -1;",
    "    M(hit, k) = at(hit) - 1;",
    "    empty = strcmp(v(:), '');",
    "    M(empty, k) = NaN;",
    "    if any(strict == k - 1) && ~all(hit | empty)",
    "        bad = v(~(hit | empty));",
    "        error('mlpexport:unknownCategory', '%s: unknown category ''%s'' in %s.', fname, bad{1}, names{k});",
    "    end",
    "end",
    "end",
]


def render_m(net, name, dtype, inline_arrays=None, export_id="") -> str:
    """NAME.m. Model-file text (versions, file names) reaches it only through header(),
    which keeps plain characters; everything else is identifiers, numbers and fixed text."""
    _check_names(net, name)
    prog = net.program()
    f = net.n_features
    names = _outputs(net)
    outs = names[0] if len(names) == 1 else f"[{', '.join(names)}]"
    cast = "double" if dtype == "float64" else "single"
    h = header(net, name, dtype)
    if net.is_classifier and not (net.has_proba and net.has_scores):
        usage = [f"{outs} = {name}(X) returns the predicted labels (N x 1"
                 + (", a cell array of char)" if classes_for_storage(net)[1] != "number" else ")")
                 if any(isinstance(op, ClassLookup) for op in prog.decide) else
                 f"{outs} = {name}(X) returns 0/1 labels (N x {net.n_outputs})",
                 "and the class probabilities, as scikit-learn's predict and predict_proba."
                 if net.has_proba else
                 "and the scores, as scikit-learn's predict and decision_function (N x 1 for "
                 "two classes)."]
    elif net.is_classifier:
        usage = [f"{outs} = {name}(X) returns the predicted labels (N x 1"
                 + (", a cell array of char)" if classes_for_storage(net)[1] != "number" else ")"),
                 "the class probabilities and the scores, as scikit-learn's predict,",
                 "predict_proba and decision_function (scores: N x 1 for two classes)."]
    else:
        usage = [f"y = {name}(X) returns the predictions (N x {net.n_outputs} double), as "
                 "scikit-learn's predict."]
    load = ([f"w = weights();"] if inline_arrays is not None else
            [f"w = load(fullfile(fileparts(mfilename('fullpath')), '{name}.mat'));"])
    verify = ([] if inline_arrays is not None else [
        f"%   Re-check it in MATLAB without Python: mlpexport_verify('{name}') runs it on",
        f"%   the test rows in {name}.mat (mlpexport_verify.m: convert --matlab-verify)."])
    lines = [
        f"function {outs} = {name}(X)",
        f"%{name.upper()}  {h[0].split(': ', 1)[1]}",
        *[f"%   {u}" for u in usage],
        f"%   X is N x {f}: one row per sample, real numbers.",
        "%",
        *[f"%   {line}" for line in h[1:]],
        *verify,
        "%   Runs unchanged in MATLAB R2016b+ and GNU Octave 6+.",
        ("%   Weights are written into this file (no .mat needed)." if inline_arrays is not None
         else f"%   Weights are loaded once from {name}.mat next to this file."),
        *([f"%   Export id: {export_id} (the same id is in {name}.mat: one export)."]
          if export_id and inline_arrays is None else
          [f"%   Export id: {export_id}."] if export_id else []),
        "",
        *(_inline_body(net, name, prog, cast, inline_arrays) if inline_arrays is not None else [
            "persistent w",
            "if isempty(w)",
            *[f"    {line}" for line in load],
            "end",
            "",
            *_struct_input(net, name, False),
            "% input checks",
            "if ~(isnumeric(X) || islogical(X)) || ~isreal(X)",
            f"    error('mlpexport:notNumeric', '{name}: X must be a real numeric matrix, not %s.', class(X));",
            "end",
            f"if isvector(X) && numel(X) == {f}",
            f"    X = reshape(X, 1, {f});                % a single sample given as a vector",
            "end",
            f"if ndims(X) ~= 2 || size(X, 2) ~= {f}",
            f"    error('mlpexport:badShape', '{name}: X must be N x {f} (one row per sample), got %s.', mat2str(size(X)));",
            "end",
            f"X = {cast}(X);",
            *_finite_check(net, name),
            "",
            "% forward pass",
            "Z = X;",
            *_forward((*prog.inputs, *prog.layers), name),
            "",
            "% output",
            *_head(net, prog)]),
        "end",
    ]
    if inline_arrays is None and _struct_names(net):
        lines += STRING_COLUMNS_BY_NAME if net.vocab else COLUMNS_BY_NAME
    if any(isinstance(op, Lookup) for op in prog.inputs):
        lines += LOOKUP
    return "\n".join(lines) + "\n"


WEIGHT = re.compile(r"\bw\.([A-Za-z]\w*)")


def _inline_body(net, name, prog, cast, arrays):
    """The inline export's body, for MATLAB Coder: the weights are constants of the
    function (w_<array> = literal: static const data in generated C), X is never
    reassigned (an input's class and size stay what the caller declared), and no call
    needs the file system or dynamic text (see the module doc)."""
    f = net.n_features
    code = [
        "%#codegen",
        *_struct_input(net, name, True),
        "% input checks",
        "if ~(isnumeric(X) || islogical(X)) || ~isreal(X)",
        f"    error('mlpexport:notNumeric', '{name}: X must be a real numeric matrix.');",
        "end",
        f"if ndims(X) ~= 2 || ~(size(X, 2) == {f} || (isvector(X) && numel(X) == {f}))",
        f"    error('mlpexport:badShape', '{name}: X must be N x {f} (one row per sample), got %d x %d.', "
        "size(X, 1), size(X, 2));",
        "end",
        f"Z = {cast}(reshape(X, [], {f}));         % N x {f}; a single sample may come as a vector",
        *_finite_check(net, name, "Z"),
        "",
        "% weights, biases and scaler parameters: constants, %.17g (exact)",
        *[f"w_{k} = {_literal(v, cast)};" for k, v in arrays.items()],
        "",
        "% forward pass",
        *_forward((*prog.inputs, *prog.layers), name),
        "",
        "% output",
        *_head(net, prog)]
    return [WEIGHT.sub(r"w_\1", line) for line in code]


def _finite_check(net, name, X="X"):
    """Refuse NaN and Inf; NaN only in the columns no imputer fills (named by number:
    feature names are model-file text and never become code)."""
    return [line.replace("X(", f"{X}(") for line in _finite_lines(net, name)]


def _finite_lines(net, name):
    ok = net.nan_columns()
    if not ok.any():
        return ["if ~all(isfinite(X(:)))",
                f"    error('mlpexport:nonFinite', '{name}: X contains NaN or Inf.');",
                "end"]
    cols = " ".join(str(j + 1) for j in np.flatnonzero(~ok))
    return [f"cols = [{cols}];",
            "refused = any(isnan(X(:, cols)), 1);     % NaN only where an imputer fills it",
            "if any(refused)",
            f"    error('mlpexport:nanColumn', '{name}: X contains NaN in column %d, which no imputer fills.', cols(find(refused, 1)));",
            "end",
            "if any(isinf(X(:)))",
            f"    error('mlpexport:nonFinite', '{name}: X contains Inf.');",
            "end"]


def _literal(a, cast):
    a = np.asarray(a)
    if a.dtype.kind == "b":
        return "logical(" + _literal(a.astype(np.float64), "double") + ")"
    if a.dtype.kind in "iu":
        return _int64_literal(a)
    rows = np.atleast_2d(a) if a.ndim < 2 else a
    text = ";\n    ".join(" ".join(f"{float(x):.17g}" for x in row) for row in rows)
    body = f"[{text}]" if rows.size != 1 else text
    return f"{cast}({body})" if cast == "single" else body


def _int64_literal(a):
    """Integer labels as int64, exactly. A MATLAB number literal is a double, so values
    beyond 2^53 are written as high * 2^32 + low, each part exact as a double, and
    combined in int64 arithmetic (exact in MATLAB and Octave)."""
    v = [int(x) for x in np.asarray(a).reshape(-1)]
    col = lambda xs: "[" + "; ".join(str(x) for x in xs) + "]"  # noqa: E731
    if all(abs(x) <= EXACT for x in v):
        return f"int64({col(v)})"
    hi, lo = [x >> 32 for x in v], [x & 0xFFFFFFFF for x in v]
    return (f"int64({col(hi)}) * int64(4294967296) ...     % high 32 bits\n"
            f"    + int64({col(lo)})")


def render(net, name, *, dtype="float64", **options) -> dict[str, bytes]:
    """NAME.m + NAME.mat (or NAME.m alone, inline), and mlpexport_verify.m when asked."""
    from scipy.io import savemat

    opts = target_options(Options, options)
    matlab_inline, matlab_verify, golden = opts.matlab_inline, opts.matlab_verify, opts.golden

    arrays = cast_arrays(net, dtype)
    classes, kind = _check_labels(net)
    texts = net.texts()
    texts.pop("feature_names", None)  # not stored, never read: X is a matrix
    if _struct_names(net) and not matlab_inline:  # the struct's fields (x0, x1, ... without names)
        texts["feature_names"] = np.array(_struct_names(net), dtype=object)
    meta = meta_record(net, name, dtype, arrays, {"matlab_inline": bool(matlab_inline)}, texts)
    if net.vocab:
        if matlab_inline or not _struct_names(net):
            raise ExportError("this model reads string columns, which the MATLAB export takes as "
                              "struct fields: it needs feature names that are MATLAB identifiers "
                              "and a .mat (no --matlab-inline).")
        if not all(w.isascii() for c in net.vocab for w in c.words):
            raise ExportError("the model knows non-ASCII strings; GNU Octave cannot read them "
                              "from a .mat file, so the MATLAB export refuses them.")
    if matlab_inline:
        if kind not in (None, "number"):
            raise ExportError("the inline MATLAB export carries numeric outputs only; this "
                              "model has string labels (drop --matlab-inline to use a .mat).")
        if matlab_verify:
            raise ExportError("mlpexport_verify.m checks an export against the test rows in "
                              "its .mat; the inline export has none (drop --matlab-inline).")
        inline = dict(arrays)
        if classes is not None:
            inline["classes"] = classes.reshape(-1, 1)
        return {f"{name}.m": render_m(net, name, dtype, inline, meta["export_id"]).encode()}
    stored = {k: v for k, v in arrays.items()}
    if classes is not None:
        stored["classes"] = (classes.astype(object) if kind != "number" else classes).reshape(-1, 1)
    stored["meta"] = {k: _mat_value(v) for k, v in meta.items()}
    for key, words in net.strings().items():  # data for the string columns' codes
        stored[key] = words.astype(object).reshape(-1, 1)
    if _struct_names(net):  # data for a struct's field check; never part of the .m's text
        stored["feature_names"] = np.array(_struct_names(net), dtype=object).reshape(-1, 1)
    if golden is not None:
        X, outputs = golden[:2]
        scales = golden[2] if len(golden) > 2 and golden[2] is not None else {}
        for output, key in (("predict_proba", "test_scale_proba"),
                            ("decision_function", "test_scale_scores"), ("predict", "test_scale_predict")):
            if output in scales:
                stored[key] = np.asarray(scales[output], dtype=np.float64).reshape(1, -1)
        stored["test_X"] = (struct_of(_struct_names(net), net.string_columns(), X) if net.vocab
                            else np.asarray(X, dtype=np.float64))
        predict = np.asarray(outputs["predict"])
        if predict.ndim == 1:
            predict = predict.reshape(-1, 1)
        stored["test_predict"] = predict.astype(object) if predict.dtype.kind in "OUS" else predict
        if "predict_proba" in outputs:
            stored["test_proba"] = np.asarray(outputs["predict_proba"], dtype=np.float64)
        elif "decision_function" in outputs:  # a classifier without probabilities
            scores = np.asarray(outputs["decision_function"], dtype=np.float64)
            stored["test_scores"] = scores.reshape(len(scores), -1)
    buf = io.BytesIO()
    savemat(buf, stored, format="5", oned_as="row", long_field_names=True)  # fields up to 63 characters, as MATLAB names
    files = {f"{name}.m": render_m(net, name, dtype, None, meta["export_id"]).encode(),
             f"{name}.mat": buf.getvalue()}
    if matlab_verify:
        files["mlpexport_verify.m"] = verifier()
    return files


def verifier() -> bytes:
    """mlpexport_verify.m, hand-written: its one source is the top-level matlab/ folder,
    installed as the package mlpexport.matlab (setup.py)."""
    return resources.files("mlpexport.matlab").joinpath("mlpexport_verify.m").read_bytes()


def _mat_value(v):
    if v is None:
        return np.zeros((0, 0))
    if isinstance(v, list):
        return np.array([str(x) for x in v], dtype=object) if v else np.zeros((0, 0))
    return v


# -------------------------------------------------------------------------- running

def octave() -> str:
    exe = shutil.which("octave-cli") or shutil.which("octave")
    if not exe:
        raise RuntimeMissing("octave-cli was not found, so the MATLAB export was not run "
                             "(apt-get install octave).")
    return exe


# The Octave side of run_many. A constant: directories, file and function names reach it
# only as data (argv), never as source text, so no path or name can become code.
# argv: TMP, then FOLDER NAME for each export. Export i reads TMP/in<i>.mat (X) and
# writes TMP/out<i>.mat (a, and b when it has two outputs) or TMP/err<i>.mat.
RUNNER = """\
% mlpexport: run MATLAB exports on test rows (written by mlpexport; paths come from argv).
args = argv();
tmp = args{1};
for i = 1:(numel(args) - 1) / 2
  folder = args{2 * i};
  name = args{2 * i + 1};
  addpath(folder);
  clear('-f', name);  % an export of the same name run before is cached, with its weights
  try
    d = load(fullfile(tmp, sprintf('in%d.mat', i)));
    if nargout(name) > 2
      [a, b, c] = feval(name, d.X);
      save('-v6', fullfile(tmp, sprintf('out%d.mat', i)), 'a', 'b', 'c');
    elseif nargout(name) > 1
      [a, b] = feval(name, d.X);
      save('-v6', fullfile(tmp, sprintf('out%d.mat', i)), 'a', 'b');
    else
      a = feval(name, d.X);
      save('-v6', fullfile(tmp, sprintf('out%d.mat', i)), 'a');
    end
  catch err
    identifier = err.identifier;
    message = err.message;
    save('-v6', fullfile(tmp, sprintf('err%d.mat', i)), 'identifier', 'message');
  end
  rmpath(folder);
end
"""


def run_octave_script(script: str, cwd: str, args=(), timeout=600) -> subprocess.CompletedProcess:
    """Run a constant Octave script with `args` as its argv() (data, never code)."""
    path = os.path.join(cwd, "mlpexport_run.m")
    with open(path, "w") as f:
        f.write(script)
    try:
        return subprocess.run([octave(), *OCTAVE_FLAGS, path, *map(str, args)], cwd=cwd,
                              capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RuntimeFailed(f"Octave did not finish within {timeout:g} s and was stopped; "
                            f"no MATLAB results were taken.") from None


def _died(proc) -> str:
    if proc.returncode < 0:
        try:
            how = f"was killed by {signal.Signals(-proc.returncode).name}"
        except ValueError:
            how = f"was killed by signal {-proc.returncode}"
    else:
        how = f"exited with status {proc.returncode}"
    said = " ".join(proc.stderr.split())[:300]
    return how + (f" ({said})" if said else "")


def run_many(jobs, timeout=600) -> list[dict]:
    """[(directory, name, X)] -> outputs of each, in one Octave process. Anything but a
    clean run that wrote every output (a crash, a signal, a timeout, a missing output,
    an error raised by the .m) is RuntimeFailed: never something that looks like results."""
    from scipy.io import loadmat, savemat

    octave()  # fail early, with the install hint, when Octave is missing
    with tempfile.TemporaryDirectory(prefix="mlpexport-octave-") as tmp:
        args = [tmp]
        for i, (directory, name, X) in enumerate(jobs, start=1):
            if os.pathsep in os.path.abspath(directory):  # addpath splits it there
                raise RuntimeFailed(f"Octave cannot add the folder {os.path.abspath(directory)!r} "
                                    f"to its path: it contains {os.pathsep!r}; move the export.")
            savemat(os.path.join(tmp, f"in{i}.mat"), {"X": _octave_input(directory, name, X)},
                    format="5", long_field_names=True)  # feature names up to 63 characters
            args += [os.path.abspath(directory), name]
        proc = run_octave_script(RUNNER, tmp, args, timeout)
        results = []
        for i, (directory, name, _) in enumerate(jobs, start=1):
            err = os.path.join(tmp, f"err{i}.mat")
            out = os.path.join(tmp, f"out{i}.mat")
            _within_limits(name, err, out)  # written by the .m's Octave: untrusted too
            if os.path.exists(err):
                e = loadmat(err)
                ident, msg = (_text(e.get(k)) for k in ("identifier", "message"))
                raise RuntimeFailed(f"{name}.m raised an error in Octave: "
                                    f"{': '.join(t for t in (ident, msg) if t)}")
            if proc.returncode != 0:
                raise RuntimeFailed(f"Octave {_died(proc)} while running {name}.m; "
                                    f"no MATLAB results were taken.")
            if not os.path.exists(out):
                raise RuntimeFailed(f"Octave finished without writing the outputs of {name}.m"
                                    f"{': ' + _died(proc) if proc.stderr.strip() else ''}.")
            m = loadmat(out)
            if "b" in m:
                second = _second_output(directory, name)
                got = {"predict": _labels(m["a"]), second: m["b"]}
                if "c" in m:
                    got["decision_function"] = m["c"]
                results.append(got)
            else:
                results.append({"predict": m["a"]})
        return results


def _within_limits(name, *paths):
    """Octave's result files within the loader's limits (load.check_export_mat), else
    RuntimeFailed: the .m that wrote them is untrusted code."""
    from ..load import check_export_mat
    for path in paths:
        try:
            check_export_mat(path)
        except ExportError as exc:
            raise RuntimeFailed(f"the results Octave wrote for {name}.m were refused: {exc}") from None


def _octave_input(directory, name, X):
    """X as NAME.m takes it: a matrix, or, for a model with string columns, a struct of
    columns named by the export's .mat (cell arrays of char, '' for a missing string)."""
    X = np.asarray(X)
    if X.dtype != object:
        return X.astype(np.float64)
    from scipy.io import loadmat

    from ..load import check_export_mat
    check_export_mat(os.path.join(directory, f"{name}.mat"))
    stored = loadmat(os.path.join(directory, f"{name}.mat"))
    names = [str(n[0]) for n in stored["feature_names"].ravel()]
    return struct_of(names, [j for j in range(len(names)) if f"vocab_{j}" in stored], X)


def struct_of(names, strings, X) -> dict:
    """Rows as a struct of columns for savemat: cell arrays of char for the text columns
    (`strings`, '' for a missing value), doubles for the others."""
    columns = {}
    for j, n in enumerate(names):
        col = X[:, j]
        if j in strings or any(isinstance(v, str) for v in col):  # text (a column no step reads, too)
            cells = np.empty((len(col), 1), dtype=object)
            cells[:, 0] = ["" if is_missing(v) else str(v) for v in col]
            columns[n] = cells
        else:
            columns[n] = np.array([np.nan if v is None else v for v in col],
                                  dtype=np.float64).reshape(-1, 1)
    return columns


FUNCTION_LINE = re.compile(r"^function \[label, (proba|scores)\b")


def _second_output(directory, name) -> str:
    """What NAME.m's second output is (the .m is read as data): proba, or the scores of
    a classifier without probabilities."""
    try:
        with open(os.path.join(directory, f"{name}.m"), encoding="utf-8", errors="replace") as f:
            found = FUNCTION_LINE.match(f.readline())
    except OSError:
        found = None
    return "decision_function" if found and found.group(1) == "scores" else "predict_proba"


def _text(v) -> str:
    a = np.asarray(v if v is not None else "")
    return " ".join(str(x) for x in a.ravel())[:500] if a.size else ""


def _labels(a):
    if a.dtype == object:  # a cell array of char
        return np.array([str(c[0]) if c.size else "" for c in a.ravel()], dtype=object)
    return a


def runner(directory, name):
    """X -> outputs of NAME.m, each call one octave-cli run (Octave must be installed)."""
    octave()
    return lambda X: run_many([(directory, name, X)])[0]


def run(directory, name, X) -> dict[str, np.ndarray]:
    return runner(directory, name)(X)


def _cellstr(v) -> np.ndarray:
    """A cell array of char as loadmat gives it -> its strings ('' for an empty cell)."""
    return np.array(["".join(np.asarray(c).ravel().astype(str)) for c in np.asarray(v).ravel()],
                    dtype=object)


EXPORT_ID_LINE = re.compile(r"^%\s+Export id: ([0-9a-f]+)\b", re.M)


def stamp(directory, name) -> Stamp:
    from scipy.io import loadmat

    from ..load import check_export_file, check_export_mat
    from ..network import digest, label_form
    path = os.path.join(directory, f"{name}.mat")
    check_export_mat(path)  # the loader's limits, before scipy inflates anything
    check_export_file(os.path.join(directory, f"{name}.m"))
    m = loadmat(path, squeeze_me=True)
    meta = m["meta"]
    fields = meta.dtype.names or ()
    fingerprint, stored_digest = str(meta["fingerprint"]), str(meta["digest"])
    dtype = str(meta["dtype"]) if "dtype" in fields else "float64"
    mat_id = str(meta["export_id"]) if "export_id" in fields else None
    skip = {"classes", "meta", "test_X", "test_predict", "test_proba", "test_scores",
            "test_scale_proba", "test_scale_scores", "test_scale_predict", "feature_names"}
    raw = loadmat(path)  # strings: in the fingerprint
    arrays = {k: np.asarray(v) for k, v in raw.items()
              if not k.startswith(("__", "vocab_")) and k not in skip}
    arrays = {k: (v.reshape(-1) if v.shape[0] == 1 and k[0] != "W" else v) for k, v in arrays.items()}
    arrays = {k: (v.reshape(()) if v.size == 1 and k.endswith(("_low", "_high")) else v)
              for k, v in arrays.items()}
    for k, v in raw.items():  # the strings it stores: labels, vocabularies, feature names
        if k == "classes":
            arrays[k] = label_form(_cellstr(v) if v.dtype.kind == "O" else v)
        elif k.startswith("vocab_") or k == "feature_names":
            arrays[k] = _cellstr(v)
    text = open(os.path.join(directory, f"{name}.m"), encoding="utf-8", errors="replace").read()
    same = fingerprint in text
    found = EXPORT_ID_LINE.search(text)
    same_export = mat_id is not None and found is not None and found.group(1) == mat_id
    return Stamp(f"{name}.m/.mat", fingerprint if same else "mismatch",
                 digest(arrays) == stored_digest, dtype=dtype, same_export=same_export)
