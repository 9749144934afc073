"""Network -> NAME.h + NAME.c: C99 for hard real-time (no allocation, no writable globals).

The forward pass of one row is one commented line per op (a table from op type to C,
below); weights are `static const` arrays written so that they parse back to exactly
the stored values (Python's shortest round-trip repr for double, numpy's for float).
Scratch lives on the stack, sized by compile-time constants, so every function is
reentrant: several threads may call it at once.

Model-file text reaches the files only as data: class labels and the export's record
are C string literals with every byte outside a safe set written as an octal escape;
comments carry `emit.plain` text with `*` and `?` replaced (no comment end, no trigraph).

`runner` compiles NAME.c with the system C compiler (`$CC`, else cc/gcc/clang) into a
shared library in a temporary folder and calls it through ctypes, as a user's program
would; without a compiler it raises RuntimeMissing (a SKIP row; an error when `--to c`
is named or MLPEXPORT_REQUIRE_CC=1).
"""
from __future__ import annotations

import ctypes
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from string import Template  # op lines with $k, the width of the row they loop over

import numpy as np

from . import Stamp, cast_arrays, classes_for_storage, header, meta_record, plain, target_options
from ..errors import ExportError, RuntimeFailed, RuntimeMissing
from ..network import (Add, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, ClipTo, Div, Equal,
                       ExpOut, FillNaN, Gemm, Lookup, HuberBinaryProba, HuberOvrProba, IdentityOut, MarkNaN, Mul,
                       MultilabelDecision, OvrProba, PolyTerms, Relu, Score, Scores, Sigmoid,
                       SigmoidProba, SoftmaxProba, Sub, Take, Tanh, Threshold, digest)

FILES = (".h", ".c")
REQUIRE_ENV = "MLPEXPORT_REQUIRE_CC"  # "1": a missing compiler is an error, not a SKIP
FLAGS = ("-std=c99", "-O2", "-fPIC", "-shared")


@dataclass(frozen=True)
class Options:
    """The C target has no options of its own."""


# Names a NAME must not take: those of standard C and common POSIX headers, since
# NAME.h next to the user's sources (the README builds with -I.) would shadow the system
# header of that name (compared case-insensitively: macOS file systems are). Identifiers
# are safe: every public one is NAME_ followed by a fixed word (NAME_predict, NAME_H,
# ...), and the file's own helpers are static.
C_HEADERS = ("assert", "complex", "ctype", "errno", "fenv", "float", "inttypes", "iso646",
             "limits", "locale", "math", "setjmp", "signal", "stdalign", "stdarg", "stdatomic",
             "stdbit", "stdbool", "stdckdint", "stddef", "stdint", "stdio", "stdlib",
             "stdnoreturn", "string", "tgmath", "threads", "time", "uchar", "wchar", "wctype",
             # POSIX headers a C program commonly includes next to ours
             "dirent", "dlfcn", "fcntl", "pthread", "sched", "strings", "unistd", "malloc",
             "memory", "alloca", "getopt", "poll", "termios", "syslog", "regex", "glob")
RESERVED: dict = {h: f"the name of a standard C header ({h}.h next to your sources would "
                     f"shadow the system's <{h}.h>)" for h in C_HEADERS}

# ------------------------------------------------------------------ op -> C, one row
# z is the working row (width n), a an array, y/proba/scores the outputs of one row.
ELEMENTWISE = {
    Sub: ("{z}[j] = {z}[j] - {a};", "subtract {name}"),
    Div: ("{z}[j] = {z}[j] / {a};", "divide by {name}"),
    Mul: ("{z}[j] = {z}[j] * {a};", "multiply by {name}"),
    Add: ("{z}[j] = {z}[j] + {a};", "add {name}"),
    FillNaN: ("{z}[j] = isnan({z}[j]) ? {a} : {z}[j];", "impute: NaN -> {name}"),
    MarkNaN: ("{z}[j] = {a} == 1 ? (isnan({z}[j]) ? 1 : 0) : {z}[j];", "missing indicators where {name}"),
    Equal: ("{z}[j] = isnan({a}) || isnan({z}[j]) ? {z}[j] : {z}[j] == {a};",
            "one-hot: 1 where the code is {name}"),
}
ACTIVATIONS = {
    Relu: ("{z}[j] = {z}[j] < 0 ? 0 : {z}[j];", "relu"),
    Tanh: ("{z}[j] = TANH({z}[j]);", "tanh"),
    Sigmoid: ("{z}[j] = sigmoid({z}[j]);", "logistic"),
}
# Output ops: lines computing y (regressors) or proba (classifiers) from z[0..k);
# $k is the row's width (string.Template).
OUTPUTS = {
    IdentityOut: (["for (j = 0; j < $k; ++j) y[j] = z[j];"], "identity output"),
    ExpOut: (["for (j = 0; j < $k; ++j) y[j] = EXP(z[j]);"], "exp output (Poisson)"),
    BinaryProba: (["p = sigmoid(z[0]);", "proba[0] = 1 - p;", "proba[1] = p;"],
                  "two classes: [1 - p, p], p = sigmoid(z)"),
    SoftmaxProba: (["m = z[0];", "for (j = 1; j < $k; ++j) if (z[j] > m) m = z[j];",
                    "s = 0;", "for (j = 0; j < $k; ++j) { proba[j] = EXP(z[j] - m); s += proba[j]; }",
                    "for (j = 0; j < $k; ++j) proba[j] = proba[j] / s;"], "softmax"),
    OvrProba: (["s = 0;", "for (j = 0; j < $k; ++j) { proba[j] = sigmoid(z[j]); s += proba[j]; }",
                "for (j = 0; j < $k; ++j) proba[j] = s == 0 ? (real_t)1 / $k : proba[j] / s;"],
               "one-vs-rest: sigmoids over their sum (all underflowed: uniform)"),
    SigmoidProba: (["for (j = 0; j < $k; ++j) proba[j] = sigmoid(z[j]);"],
                   "multilabel: a sigmoid per label"),
    HuberBinaryProba: (["p = (clip1(z[0]) + 1) / 2;", "proba[0] = 1 - p;", "proba[1] = p;"],
                       "modified Huber, two classes: p = (clip(z, -1, 1) + 1) / 2"),
    HuberOvrProba: (["s = 0;",
                     "for (j = 0; j < $k; ++j) { proba[j] = (clip1(z[j]) + 1) / 2; s += proba[j]; }",
                     "for (j = 0; j < $k; ++j) proba[j] = s == 0 ? (real_t)1 / $k : proba[j] / s;"],
                    "modified Huber, one-vs-rest (all at -1 or below: uniform)"),
}
SCORES = {
    Scores: (["for (j = 0; j < $k; ++j) scores[j] = z[j];"], "decision_function: the scores"),
    BinaryScores: (["scores[0] = z[{op.column}];"], "decision_function: the positive class's score"),
}
SCORE = {Score.LOGITS: "z", Score.PROBA: "proba"}
DECIDE = {
    Threshold: lambda op: ([f"label[0] = {'z[0] > 0' if op.on is Score.LOGITS else 'proba[1] > 0.5'};"],
                           "class index: " + ("z > 0" if op.on is Score.LOGITS else "p > 0.5")),
    Argmax: lambda op: ([f"label[0] = 0;", f"for (j = 1; j < $k; ++j) if ({SCORE[op.on]}[j] > "
                         f"{SCORE[op.on]}[label[0]]) label[0] = (int32_t)j;"],
                        "class index: the first largest " + SCORE[op.on]),
    ClassLookup: lambda op: ([], ""),  # the caller looks the index up in NAME_CLASSES
    MultilabelDecision: lambda op: (["for (j = 0; j < $k; ++j) label[j] = proba[j] > 0.5;"],
                                    "multilabel: 0/1 per label, p > 0.5"),
}
DECIDES_ON_PROBA = (MultilabelDecision,)
# Small functions the ops above call, written only into files that call them (-Wall).
HELPERS = {
    "sigmoid": "static real_t sigmoid(real_t v) { return 1 / (1 + EXP(-v)); }  /* as scipy.special.expit */",
    "clip1": "static real_t clip1(real_t v) { return v < -1 ? -1 : v > 1 ? 1 : v; }",
    "lookup": """\
/* codes[k] where v == values[k]; NaN -> missing when has_missing; else unknown (NaN where
   scikit-learn raises for an unknown category: C cannot raise, the outputs become NaN) */
static real_t lookup(real_t v, const real_t *values, const real_t *codes, size_t n,
                     int has_missing, real_t missing, real_t unknown)
{
    size_t k;
    if (isnan(v)) return has_missing ? missing : unknown;
    for (k = 0; k < n; ++k)
        if (v == values[k]) return codes[k];
    return unknown;
}""",
}

PRELUDE = """\
#include <math.h>

#include "{name}.h"

typedef {real} real_t;
#define EXP {exp}
#define TANH {tanh}
#define POW {pow}
#define LOG log{f}
#define LOG1P log1p{f}
#define EXPM1 expm1{f}
#define SQRT sqrt{f}

/* out = in @ W + b for one row; W is n_in x n_out, row-major */
static void dense(const real_t *in, const real_t *W, const real_t *b, size_t n_in,
                  size_t n_out, real_t *out)
{{
    size_t i, j;
    for (j = 0; j < n_out; ++j) out[j] = 0;
    for (i = 0; i < n_in; ++i)
        for (j = 0; j < n_out; ++j) out[j] += in[i] * W[i * n_out + j];
    for (j = 0; j < n_out; ++j) out[j] += b[j];
}}

"""
ALL_FINITE = """\
/* 1 when every value of X[0..n) is finite */
static int all_finite(const double *X, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (!isfinite(X[i])) return 0;
    return 1;
}
"""
# With an imputer: NaN is taken exactly in the columns it fills (nan_ok), never infinity.
ALL_TAKEN = """\
/* 1 when every value of X[0..n) is finite, or NaN in a column an imputer fills */
static int all_finite(const double *X, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (isinf(X[i]) || (isnan(X[i]) && !nan_ok[i %% %d])) return 0;
    return 1;
}
"""


def _comment_text(text) -> str:
    """Model-file text for a C comment: plain, without '*' (no comment end) or '?' (no trigraph)."""
    return plain(text).replace("*", "x").replace("?", "_")


def c_string(text: str) -> str:
    """A C string literal holding text's UTF-8 bytes exactly: printable ASCII as itself,
    every other byte and  " \\ ?  as a three-digit octal escape (data, never code)."""
    out = []
    for b in str(text).encode("utf-8"):
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\?' else f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def parse_c_string(literal: str) -> str:
    """The text of a literal written by c_string."""
    body = literal.strip()[1:-1]
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]),
                  body.encode("latin-1")).decode("utf-8")


def _number(v, dtype) -> str:
    if not np.isfinite(v):  # an imputer's "leave this column" fill value; math.h's macros
        return "NAN" if np.isnan(v) else "INFINITY" if v > 0 else "-INFINITY"
    if dtype == "float32":
        return f"{np.float32(v)!s}f"
    return repr(float(v))


def _array(name, a, dtype) -> str:
    """`static const real_t name[n][m] = {...};`, one matrix row per line."""
    a = np.asarray(a)
    if a.ndim == 0:
        return f"static const real_t {name} = {_number(a, dtype)};"
    if a.ndim == 1:
        return (f"static const real_t {name}[{a.shape[0]}] = {{"
                + ", ".join(_number(v, dtype) for v in a) + "};")
    rows = ",\n".join("    {" + ", ".join(_number(v, dtype) for v in row) + "}" for row in a)
    return f"static const real_t {name}[{a.shape[0]}][{a.shape[1]}] = {{\n{rows}\n}};"


def _element(arrays, name):
    return name if np.ndim(arrays[name]) == 0 else f"{name}[j]"


# FunctionTransformer's functions (network.UFUNCS), as the macros PRELUDE defines per dtype
APPLY = {"log1p": "LOG1P({v})", "expm1": "EXPM1({v})", "log": "LOG({v})", "exp": "EXP({v})",
         "sqrt": "SQRT({v})", "square": "{v} * {v}"}


def _elementwise_line(op, z, n, arrays):
    if isinstance(op, Apply):
        start, stop = op.cols if op.cols is not None else (0, n)
        line = f"{z}[j] = " + APPLY[op.fn].format(v=f"{z}[j]") + ";"
        return f"    for (j = {start}; j < {stop}; ++j) {line:<46} /* {op.fn} */"
    if isinstance(op, Lookup):
        c = op.column
        has = op.missing is not None
        line = (f"{z}[{c}] = lookup({z}[{c}], {op.values}, {op.codes}, {len(arrays[op.values])}, "
                f"{int(has)}, {op.missing if has else 0}, {op.unknown});")
        return f"    {line:<66} /* categories in column {c} -> codes */"
    if isinstance(op, (FillNaN, MarkNaN)):
        form, text = ELEMENTWISE[type(op)]
        name = op.fill if isinstance(op, FillNaN) else op.mask
        line, text = form.format(z=z, a=_element(arrays, name)), text.format(name=name)
    elif isinstance(op, ClipTo):
        line = (f"{z}[j] = {z}[j] < {op.low} ? {op.low} : {z}[j] > {op.high} ? {op.high} : {z}[j];")
        text = "clip"
    else:
        form, text = ELEMENTWISE[type(op)]
        line, text = form.format(z=z, a=_element(arrays, op.array)), text.format(name=op.array)
    return f"    for (j = 0; j < {n}; ++j) {line:<46} /* {text} */"


def forward_lines(prog, n_features, arrays):
    """Body of `forward`: one row of X -> the last layer's raw output z. Input ops that
    change the width (Take, PolyTerms) write a new row x1, x2, ..."""
    dense_ops = [op for op in prog.layers if isinstance(op, Gemm)]
    widths = [n_features] + [op.n_out for op in dense_ops[:-1]]
    decls = [f"    real_t z0[{n_features}];"]
    lines = [f"    for (j = 0; j < {n_features}; ++j) z0[j] = (real_t)x[j];"]
    row, width, n_rows = "z0", n_features, 0
    for op in prog.inputs:
        if isinstance(op, Take):
            n_rows += 1
            new, width = f"x{n_rows}", len(op.indices)
            decls.append(f"    static const int take{n_rows}[{width}] = {{"
                         + ", ".join(str(int(i)) for i in op.indices) + "};")
            decls.append(f"    real_t {new}[{width}];")
            line = f"{new}[j] = {row}[take{n_rows}[j]];"
            lines.append(f"    for (j = 0; j < {width}; ++j) {line:<46} /* pick columns */")
            row = new
        elif isinstance(op, PolyTerms):  # [1, row, products], then the terms in order
            n_rows += 1
            new, width, table = f"x{n_rows}", op.n_out, f"t{n_rows}"
            decls.append(f"    real_t {table}[{op.n_table}];")
            decls.append(f"    real_t {new}[{width}];")
            lines.append(f"    {table}[0] = 1;{'':<40} /* polynomial terms: {op.n_in} -> {op.n_out} */")
            lines.append(f"    for (j = 0; j < {op.n_in}; ++j) {table}[1 + j] = {row}[j];")
            if op.groups:  # each a lower term times a column, as scikit-learn multiplies
                lines.append(f"    for (k = 0; k < {op.groups[-1][1]}; ++k) {table}[{1 + op.n_in} + k] = "
                             f"{table}[(size_t){op.left}[k]] * {row}[(size_t){op.right}[k]];")
            lines.append(f"    for (k = 0; k < {op.n_out}; ++k) {new}[k] = {table}[(size_t){op.out}[k]];")
            row = new
        else:
            lines.append(_elementwise_line(op, row, width, arrays))
    decls += [f"    real_t z{i}[{w}];" for i, w in enumerate(widths[1:], start=1)]
    decls.append("    size_t j;")
    if any(isinstance(op, PolyTerms) for op in prog.inputs):
        decls += ["    size_t k;"]
    lines = decls + [""] + lines

    def buffer(i):  # the input row, z1.. the hidden layers, z the last layer's output
        return row if i == 0 else "z" if i == len(dense_ops) else f"z{i}"

    i = 0
    for op in prog.layers:
        if isinstance(op, Gemm):
            src = buffer(i)
            i += 1
            call = f"dense({src}, &{op.W}[0][0], {op.b}, {op.n_in}, {op.n_out}, {buffer(i)});"
            lines.append(f"    {call:<66} /* layer {i}: {op.n_in} -> {op.n_out} */")
        else:
            form, text = ACTIVATIONS[type(op)]
            line = form.format(z=buffer(i))
            lines.append(f"    for (j = 0; j < {dense_ops[i - 1].n_out}; ++j) {line:<46} /* {text} */")
    return lines


def _block(lines, k):
    return [f"    {Template(line).substitute(k=k)}" for line in lines]


def _row_function(fname, out, lines, k, comment):
    used = [v for v in ("p", "m", "s") if any(re.search(rf"\b{v}\b", line) for line in lines)]
    decl = [f"    real_t {', '.join(used)};"] if used else []
    return ([f"/* {comment} */", f"static void {fname}(const real_t *z, real_t *{out})", "{"]
            + decl + ["    size_t j;"] + _block(lines, k) + ["    (void)j;", "}"])


def render_c(net, name, dtype, arrays, meta) -> tuple[str, str]:
    prog = net.program()
    k = net.n_outputs
    classifier = net.is_classifier
    n_proba = net.n_proba if prog.output is not None else 0
    real, exp_fn, tanh_fn, pow_fn = (("double", "exp", "tanh", "pow") if dtype == "float64"
                                     else ("float", "expf", "tanhf", "powf"))
    top = "\n".join(f" * {_comment_text(line)}" for line in header(net, name, dtype))
    intro = f"/*\n{top}\n */"

    # ------------------------------------------------------------------ the header
    N = name  # every public identifier starts with NAME_, as the contract says
    h = [intro, f"#ifndef {N}_H", f"#define {N}_H", "", "#include <stddef.h>",
         "#include <stdint.h>", "", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
         f"#define {N}_N_FEATURES {net.n_features}",
         f"#define {N}_N_OUTPUTS {k}"]
    classes, kind = classes_for_storage(net)
    if classes is not None:
        h.append(f"#define {N}_N_CLASSES {len(classes)}")
    h += [f"#define {N}_ERR_NONFINITE 1  /* an input is NaN or infinite: nothing was written */",
          f'#define {N}_FINGERPRINT "{meta["fingerprint"]}"',
          f'#define {N}_EXPORT_ID "{meta["export_id"]}"',
          f"#define {N}_RECORD {c_string(json.dumps(meta, sort_keys=True))}", ""]
    if classes is not None:
        ctype = _class_ctype(classes, kind)
        h.append(f"extern const {ctype} {N}_CLASSES[{N}_N_CLASSES];  /* labels by class index */")
    rows = "X is n_rows x " + f"{N}_N_FEATURES, row-major; outputs are row-major too"
    h.append(f"/* {rows}. Each returns 0, or {N}_ERR_NONFINITE. Reentrant. */")
    decls = []
    if not classifier:
        decls.append(f"int {N}_predict(const double *X, size_t n_rows, double *y);  "
                     f"/* y: n_rows x {N}_N_OUTPUTS */")
    else:
        if prog.output is not None:
            decls.append(f"int {N}_predict_proba(const double *X, size_t n_rows, double *proba);  "
                         f"/* proba: n_rows x {n_proba} */")
        per_row = k if isinstance(prog.decide[0], MultilabelDecision) else 1
        what = "0/1 per label" if per_row > 1 else f"index into {N}_CLASSES"
        decls.append(f"int {N}_predict_index(const double *X, size_t n_rows, int32_t *label);  "
                     f"/* label: n_rows x {per_row}, {what} */")
    if prog.scores is not None:
        width = 1 if isinstance(prog.scores, BinaryScores) else k
        decls.append(f"int {N}_decision_function(const double *X, size_t n_rows, double *scores);  "
                     f"/* scores: n_rows x {width} */")
    h += decls + ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif  /* {N}_H */", ""]

    # ------------------------------------------------------------------ the source
    c = [intro, f"/* export {meta['export_id']} */",
         PRELUDE.format(name=name, real=real, exp=exp_fn, tanh=tanh_fn, pow=pow_fn,
                        f="" if dtype == "float64" else "f")]
    helpers_at = len(c)  # the small functions the code below calls go here (see HELPERS)
    c.append("/* weights (float64: Python's shortest round-trip decimal; float32: numpy's) */")
    c += [_array(a_name, a, dtype) for a_name, a in arrays.items()]
    nan_ok = net.nan_columns()
    if nan_ok.any():
        c.append(f"static const unsigned char nan_ok[{net.n_features}] = {{"
                 + ", ".join(str(int(v)) for v in nan_ok) + "};  /* columns an imputer fills */")
        c.append(ALL_TAKEN % net.n_features)
    else:
        c.append(ALL_FINITE)
    if classes is not None:
        c.append(f"const {ctype} {N}_CLASSES[{N}_N_CLASSES] = {{"
                 + ", ".join(_class_literal(v, kind) for v in classes) + "};")
    c += ["", "/* one row of X -> the last layer's raw output z */",
          f"static void forward(const double *x, real_t *z)", "{"]
    c += forward_lines(prog, net.n_features, arrays) + ["}", ""]

    if prog.output is not None:
        lines, text = OUTPUTS[type(prog.output)]
        out = "proba" if classifier else "y"
        c += _row_function(f"output_row", out, lines, k, f"z -> {out}: {text}") + [""]
    if prog.target:
        c += ["/* y -> y: the inverse of the target scaler */",
              "static void target_row(real_t *y)", "{", "    size_t j;"]
        c += [_elementwise_line(op, "y", k, arrays) for op in prog.target] + ["}", ""]
    if prog.scores is not None:
        lines, text = SCORES[type(prog.scores)]
        c += _row_function("scores_row", "scores", [ln.format(op=prog.scores) for ln in lines], k,
                           f"z -> scores: {text}") + [""]

    check = [f"    if (!all_finite(X, n_rows * {N}_N_FEATURES)) return {N}_ERR_NONFINITE;"]
    loop = [f"    for (r = 0; r < n_rows; ++r) {{",
            f"        forward(X + r * {N}_N_FEATURES, z);"]
    zdecl = f"    real_t z[{k}];"
    if not classifier:
        c += [f"int {N}_predict(const double *X, size_t n_rows, double *y)", "{",
              zdecl, f"    real_t out[{k}];", "    size_t r, j;"] + check + loop
        c += ["        output_row(z, out);"] + (["        target_row(out);"] if prog.target else [])
        c += [f"        for (j = 0; j < {k}; ++j) y[r * {k} + j] = out[j];", "    }", "    return 0;", "}"]
    else:
        if prog.output is not None:
            c += [f"int {N}_predict_proba(const double *X, size_t n_rows, double *proba)", "{",
                  zdecl, f"    real_t p[{n_proba}];", "    size_t r, j;"] + check + loop
            c += ["        output_row(z, p);",
                  f"        for (j = 0; j < {n_proba}; ++j) proba[r * {n_proba} + j] = p[j];",
                  "    }", "    return 0;", "}", ""]
        decide = [op for op in prog.decide if not isinstance(op, ClassLookup)]
        needs_proba = any(getattr(op, "on", None) is Score.PROBA or isinstance(op, DECIDES_ON_PROBA)
                          for op in decide)
        per_row = k if isinstance(decide[0], MultilabelDecision) else 1
        c += [f"int {N}_predict_index(const double *X, size_t n_rows, int32_t *label)", "{", zdecl]
        if needs_proba:
            c.append(f"    real_t proba[{n_proba}];")
        c += ["    size_t r, j;"] + check + ["    (void)j;", f"    for (r = 0; r < n_rows; ++r, label += {per_row}) {{",
                                             f"        forward(X + r * {N}_N_FEATURES, z);"]
        if needs_proba:
            c.append("        output_row(z, proba);")
        for op in decide:
            lines, text = DECIDE[type(op)](op)
            c += [f"        {Template(line).substitute(k=k if op_is_z(op) else n_proba)}" for line in lines]
            c[-1] = f"{c[-1]:<70} /* {text} */"
        c += ["    }", "    return 0;", "}"]
    if prog.scores is not None:
        width = 1 if isinstance(prog.scores, BinaryScores) else k
        c += ["", f"int {N}_decision_function(const double *X, size_t n_rows, double *scores)", "{",
              zdecl, f"    real_t s[{width}];", "    size_t r, j;"] + check + loop
        c += ["        scores_row(z, s);",
              f"        for (j = 0; j < {width}; ++j) scores[r * {width} + j] = s[j];",
              "    }", "    return 0;", "}"]
    called = "\n".join(c)
    helpers = [text for fn, text in HELPERS.items() if f"{fn}(" in called]
    c[helpers_at:helpers_at] = ["\n".join(helpers) + "\n"] if helpers else []
    return "\n".join(h), "\n".join(c) + "\n"


def op_is_z(op) -> bool:
    """Whether a decision reads the raw scores z (width NAME_N_OUTPUTS) rather than proba."""
    return getattr(op, "on", None) is Score.LOGITS


def _class_ctype(classes, kind) -> str:
    if kind != "number":
        return "char *const"
    if classes.dtype.kind == "f":
        return "double"
    if classes.dtype.kind == "u" and classes.max(initial=0) > np.iinfo(np.int64).max:
        raise ExportError("the C export holds integer class labels as int64; these do not fit.")
    return "long long"


def _class_literal(v, kind) -> str:
    if kind != "number":
        return c_string(v)
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    v = int(v)
    return "(-9223372036854775807LL - 1)" if v == -2**63 else f"{v}LL"


def render(net, name, *, dtype="float64", **options) -> dict[str, bytes]:
    target_options(Options, options)  # nothing of its own to read; a misspelling is refused
    if net.vocab:
        raise ExportError("the C target takes numbers only; this model reads string columns "
                          f"({', '.join(c.label for c in net.vocab)}): export it with --to "
                          "numpy, onnx or matlab.")
    arrays = cast_arrays(net, dtype)
    meta = meta_record(net, name, dtype, arrays, options)
    meta["flat"] = bool(net.flat)
    h, c = render_c(net, name, dtype, arrays, meta)
    return {f"{name}.h": h.encode(), f"{name}.c": c.encode()}


# -------------------------------------------------------------------------- running

def compiler() -> list[str]:
    """The C compiler command: $CC, else cc, gcc or clang on PATH."""
    if os.environ.get("CC"):
        cmd = shlex.split(os.environ["CC"])
        if cmd and shutil.which(cmd[0]):
            return cmd
    for exe in ("cc", "gcc", "clang"):
        if shutil.which(exe):
            return [shutil.which(exe)]
    raise RuntimeMissing("no C compiler (cc) was found, so the C export was not run "
                         "(apt-get install gcc).")


def read_record(directory, name) -> dict:
    """The export's record from NAME.h, read as data."""
    with open(os.path.join(directory, f"{name}.h"), encoding="latin-1") as f:
        text = f.read()
    found = re.search(rf'^#define {re.escape(name)}_RECORD ("(?:[^"\\]|\\[0-7]{{3}})*")$', text, re.M)
    if not found:
        raise ExportError(f"{name}.h has no {name}_RECORD line; it was not written by mlpexport.")
    return json.loads(parse_c_string(found.group(1)))


def build(directory, name, workdir) -> str:
    """Compile NAME.c into a shared library in workdir; its path."""
    lib = os.path.join(workdir, f"lib{name}.so")
    cmd = [*compiler(), *FLAGS, "-o", lib, os.path.join(directory, f"{name}.c"), "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        raise RuntimeFailed(f"the C compiler failed on {name}.c: {first}")
    return lib


def runner(directory, name):
    record = read_record(directory, name)
    with tempfile.TemporaryDirectory(prefix="mlpexport-c-") as work:
        lib = ctypes.CDLL(build(directory, name, work))  # stays loaded once its file is gone
    n_features, k = record["n_features"], record["n_outputs"]
    outputs = record["outputs"]
    classifier = record["classes"] is not None
    dptr, iptr = ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int32)

    def call(fname, X, out, ptr):
        f = getattr(lib, f"{name}_{fname}")
        f.argtypes, f.restype = [dptr, ctypes.c_size_t, ptr], ctypes.c_int
        status = f(X.ctypes.data_as(dptr), X.shape[0], out.ctypes.data_as(ptr))
        if status != 0:
            raise ValueError(f"{name}_{fname} returned {status}: an input is NaN or infinite.")
        return out

    labels = None
    if classifier:
        labels = _classes(lib, name, record)

    def run_rows(X):
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = X.shape[0]
        if X.ndim != 2 or X.shape[1] != n_features:
            raise ValueError(f"X must have {n_features} columns, not shape {X.shape}.")
        if not classifier:
            y = call("predict", X, np.empty((n, k)), dptr)
            return {"predict": y[:, 0] if record["flat"] and k == 1 else y}
        out = {}
        if "predict_proba" in outputs:
            width = 2 if record["head"] in ("logistic", "huber-binary") else k
            out["predict_proba"] = call("predict_proba", X, np.empty((n, width)), dptr)
        multilabel = record["head"] == "multilabel"
        index = call("predict_index", X, np.empty((n, k if multilabel else 1), np.int32), iptr)
        out["predict"] = index if multilabel else labels[index[:, 0]]
        if "decision_function" in outputs:
            two = len(record["classes"]) == 2
            scores = call("decision_function", X, np.empty((n, 1 if two else k)), dptr)
            out["decision_function"] = scores[:, 0] if two else scores
        return out
    return run_rows


def _classes(lib, name, record) -> np.ndarray:
    """NAME_CLASSES as the compiled library holds it, in scikit-learn's label kind."""
    values = record["classes"]
    n = len(values)
    symbol = f"{name}_CLASSES"
    if record["classes_kind"] != "number":
        raw = (ctypes.c_char_p * n).in_dll(lib, symbol)
        return np.array([v.decode("utf-8") for v in raw], dtype=object)
    if all(isinstance(v, bool) for v in values):
        return np.array(list((ctypes.c_longlong * n).in_dll(lib, symbol)), dtype=bool)
    if all(isinstance(v, int) for v in values):
        return np.array(list((ctypes.c_longlong * n).in_dll(lib, symbol)), dtype=np.int64)
    return np.array(list((ctypes.c_double * n).in_dll(lib, symbol)), dtype=np.float64)


def run(directory, name, X) -> dict[str, np.ndarray]:
    return runner(directory, name)(X)


# ------------------------------------------------------------------------- stamping
ARRAY_RE = re.compile(r"^static const real_t (\w+)((?:\[\d+\])*) = (\{.*?\}|[^;{]*);$", re.M | re.S)


def stamp(directory, name) -> Stamp:
    """Fingerprint and weights read back from the files as data (never compiled)."""
    record = read_record(directory, name)
    dtype = record.get("dtype", "float64")
    with open(os.path.join(directory, f"{name}.c"), encoding="latin-1") as f:
        text = f.read()
    arrays = {}
    for m in ARRAY_RE.finditer(text):
        shape = tuple(int(d) for d in re.findall(r"\d+", m.group(2)))
        tokens = [t for t in re.split(r"[,{}\s]+", m.group(3)) if t]
        values = ([np.float32(t.removesuffix("f")) for t in tokens] if dtype == "float32"
                  else [float(t) for t in tokens])
        arrays[m.group(1)] = np.array(values, dtype=dtype).reshape(shape)
    same = f"export {record['export_id']}" in text
    return Stamp(f"{name}.h/.c", record["fingerprint"], digest(arrays) == record["digest"],
                 dtype=dtype, same_export=same)
