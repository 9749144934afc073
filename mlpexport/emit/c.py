"""Network -> NAME.h + NAME.c: C99 for hard real-time (no allocation, no writable globals).

The forward pass of one row is one commented line per op (a table from op type to C,
below); weights are `static const` arrays written so that they parse back to exactly
the stored values (Python's shortest round-trip repr for double, numpy's for float).
Scratch lives on the stack, sized by compile-time constants, so every function is
reentrant: several threads may call it at once; a model needing more than STACK_LIMIT of
it is refused (`refusal`). NAME_real is float in a float32 export: no double arithmetic,
so a single-precision FPU needs no soft-double helper. The non-finite check reads the
exponent bits, which -ffast-math cannot assume away. The header states the footprint
(`footprint`: weight bytes, stack, multiply-adds per row).

Model-file text reaches the files only as data: class labels and the export's record
are C string literals with every byte outside a safe set written as an octal escape;
comments carry `emit.plain` text with `*` and `?` replaced (no comment end, no trigraph).

`runner` compiles NAME.c with the system C compiler (`$CC`, else cc/gcc/clang) into a
shared library in a temporary folder and calls it through ctypes, as a user's program
would, in a child process (c_worker.py, the protocol of sandbox.py): a committed NAME.c
is untrusted code. Without a compiler it raises RuntimeMissing (a SKIP row; an error
when `--to c` is named or MLPEXPORT_REQUIRE_CC=1).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from string import Template  # op lines with $k, the width of the row they loop over

import numpy as np

from . import c_worker
from . import (Stamp, cast_arrays, classes_for_storage, header, meta_record, plain,
               refuse_nul_labels, target_options)
from ..errors import ExportError, RuntimeFailed, RuntimeMissing
from ..network import (Add, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, ClipTo, Div, Equal,
                       ExpOut, FillNaN, Gemm, Lookup, HuberBinaryProba, HuberOvrProba, IdentityOut, MarkNaN, Mul,
                       MultilabelDecision, OvrProba, PolyTerms, Relu, Score, Scores, Sigmoid,
                       SigmoidProba, SoftmaxProba, Sub, Take, Tanh, Threshold, digest)

FILES = (".h", ".c")
RUNS_IN_CHILD = True  # its runner starts a child process (check makes it after the others)
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
    FillNaN: ("{z}[j] = is_nan({z}[j]) ? {a} : {z}[j];", "impute: NaN -> {name}"),
    MarkNaN: ("{z}[j] = {a} == 1 ? (is_nan({z}[j]) ? (real_t)1 : (real_t)0) : {z}[j];", "missing indicators where {name}"),
    Equal: ("{z}[j] = is_nan({a}) || is_nan({z}[j]) ? {z}[j] : (real_t)({z}[j] == {a});",
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
    Threshold: lambda op: ([f"label[0] = {'z[0] > 0' if op.on is Score.LOGITS else 'proba[1] > HALF'};"],
                           "class index: " + ("z > 0" if op.on is Score.LOGITS else "p > 0.5")),
    Argmax: lambda op: ([f"label[0] = 0;", f"for (j = 1; j < $k; ++j) if ({SCORE[op.on]}[j] > "
                         f"{SCORE[op.on]}[label[0]]) label[0] = (int32_t)j;"],
                        "class index: the first largest " + SCORE[op.on]),
    ClassLookup: lambda op: ([], ""),  # the caller looks the index up in NAME_CLASSES
    MultilabelDecision: lambda op: (["for (j = 0; j < $k; ++j) label[j] = proba[j] > HALF;"],
                                    "multilabel: 0/1 per label, p > 0.5"),
}
DECIDES_ON_PROBA = (MultilabelDecision,)
# Small functions the ops above call, written only into files that call them (-Wall,
# clang -Wunused-function); each one's prerequisites first.
HELPERS = {
    "is_nan": """\
/* NaN, from the bits: -ffast-math / -Ofast let the compiler assume isnan() is 0 */
static int is_nan(real_t v)
{
    real_bits u;
    memcpy(&u, &v, sizeof u);
    return (u & ABS_MASK) > EXP_MASK;
}""",
    "not_finite": """\
/* NaN or infinite, from the bits (all exponent bits set): survives -ffast-math / -Ofast */
static int not_finite(real_t v)
{
    real_bits u;
    memcpy(&u, &v, sizeof u);
    return (u & EXP_MASK) == EXP_MASK;
}""",
    "sigmoid": "static real_t sigmoid(real_t v) { return 1 / (1 + EXP(-v)); }  /* as scipy.special.expit */",
    "clip1": "static real_t clip1(real_t v) { return v < -1 ? -1 : v > 1 ? 1 : v; }",
    "lookup": """\
/* codes[k] where v == values[k]; NaN -> missing when has_missing; else unknown (NaN where
   scikit-learn raises for an unknown category: C cannot raise, the outputs become NaN) */
static real_t lookup(real_t v, const real_t *values, const real_t *codes, size_t n,
                     int has_missing, real_t missing, real_t unknown)
{
    size_t k;
    if (is_nan(v)) return has_missing ? missing : unknown;
    for (k = 0; k < n; ++k)
        if (v == values[k]) return codes[k];
    return unknown;
}""",
}

PRELUDE = """\
#include <math.h>
#include <string.h>

#include "{name}.h"

typedef {name}_real real_t;
"""
# The file's macros, per dtype; each is written only when the code uses it (clang
# -Wunused-macros). real_bits and the masks serve is_nan / not_finite.
MACROS = {
    "float64": {"EXP": "exp", "TANH": "tanh", "POW": "pow", "LOG": "log", "LOG1P": "log1p",
                "EXPM1": "expm1", "SQRT": "sqrt", "HALF": "0.5",
                "EXP_MASK": "0x7ff0000000000000u", "ABS_MASK": "0x7fffffffffffffffu"},
    "float32": {"EXP": "expf", "TANH": "tanhf", "POW": "powf", "LOG": "logf", "LOG1P": "log1pf",
                "EXPM1": "expm1f", "SQRT": "sqrtf", "HALF": "0.5f",
                "EXP_MASK": "0x7f800000u", "ABS_MASK": "0x7fffffffu"},
}
BITS = {"float64": "typedef uint64_t real_bits;  /* the bits of a real_t */",
        "float32": "typedef uint32_t real_bits;  /* the bits of a real_t */"}
DENSE = """\
/* out = in @ W + b for one row; W is n_in x n_out, row-major */
static void dense(const real_t *in, const real_t *W, const real_t *b, size_t n_in,
                  size_t n_out, real_t *out)
{
    size_t i, j;
    for (j = 0; j < n_out; ++j) out[j] = 0;
    for (i = 0; i < n_in; ++i)
        for (j = 0; j < n_out; ++j) out[j] += in[i] * W[i * n_out + j];
    for (j = 0; j < n_out; ++j) out[j] += b[j];
}
"""
ALL_FINITE = """\
/* 1 when every value of X[0..n) is finite */
static int all_finite(const real_t *X, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (not_finite(X[i])) return 0;
    return 1;
}
"""
# With an imputer: NaN is taken exactly in the columns it fills (nan_ok), never infinity.
ALL_TAKEN = """\
/* 1 when every value of X[0..n) is finite, or NaN in a column an imputer fills */
static int all_finite(const real_t *X, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (not_finite(X[i]) && !(is_nan(X[i]) && nan_ok[i %% %d])) return 0;
    return 1;
}
"""
# The C export keeps its scratch rows on the stack (reentrant, no allocation). A model
# whose rows need more than this per call is refused (a one-hot layer 10^6 wide would
# overflow a thread's stack and crash the caller): the header states what each export
# needs (NAME_STACK_BYTES) for the board's own limit.
STACK_LIMIT = 1 << 20
# What a frame takes beyond its arrays (saved registers, return address, locals, the
# alignment of the arrays), per function on the deepest call chain: measured with
# -fstack-usage (gcc, clang at -O0/-O2, x86-64 and Cortex-M4), see tests/test_emit_c.py.
FRAME_ALLOWANCE = 128


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
        # math.h's macros are float: cast, so a double array has no implicit promotion
        return "(real_t)NAN" if np.isnan(v) else "(real_t)INFINITY" if v > 0 else "-(real_t)INFINITY"
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
    lines = [f"    for (j = 0; j < {n_features}; ++j) z0[j] = x[j];"]
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


def _uses_j(lines) -> bool:
    return any(re.search(r"\bj\b", line) for line in lines)


def _row_function(fname, out, lines, k, comment):
    used = [v for v in ("p", "m", "s") if any(re.search(rf"\b{v}\b", line) for line in lines)]
    decl = [f"    real_t {', '.join(used)};"] if used else []
    body = _block(lines, k)
    return ([f"/* {comment} */", f"static void {fname}(const real_t *z, real_t *{out})", "{"]
            + decl + (["    size_t j;"] if _uses_j(body) else []) + body + ["}"])


def scratch_values(net) -> int:
    """real_t values on the stack along the deepest call chain: a public function's z and
    output row, then forward's input row, the rows input ops write, the hidden layers."""
    prog = net.program()
    k = net.n_outputs
    n_proba = net.n_proba if prog.output is not None else 0
    public = k + max(k, n_proba)
    forward = net.n_features
    forward += sum(len(op.indices) for op in prog.inputs if isinstance(op, Take))
    forward += sum(op.n_out for op in prog.inputs if isinstance(op, PolyTerms))
    forward += sum(op.n_out for op in [op for op in prog.layers if isinstance(op, Gemm)][:-1])
    return public + forward


def footprint(net, dtype, arrays=None) -> dict:
    """What the export needs on a board: weight bytes (const data: weights, column
    tables; the class labels are apart), the stack of one call (the scratch arrays of the
    deepest call chain plus FRAME_ALLOWANCE for each of its frames: public function ->
    forward -> dense/lookup -> is_nan) and the multiply-adds of the dense layers per row."""
    size = 4 if dtype == "float32" else 8
    prog = net.program()
    out = {"stack_bytes": scratch_values(net) * size + 4 * FRAME_ALLOWANCE,
           "macs": sum(op.n_in * op.n_out for op in prog.layers if isinstance(op, Gemm))}
    if arrays is not None:
        weights = sum(max(np.size(a), 1) for a in arrays.values()) * size
        weights += sum(4 * len(op.indices) for op in prog.inputs if isinstance(op, Take))
        weights += net.n_features if net.nan_columns().any() else 0
        out["weight_bytes"] = weights
    return {key: int(v) for key, v in out.items()}


def refusal(net, dtype) -> str | None:
    """Why the C target cannot take this model, or None (checked before any rendering)."""
    if net.vocab:
        return ("the C target takes numbers only; this model reads string columns "
                f"({', '.join(c.label for c in net.vocab)}): export it with --to "
                "numpy, onnx or matlab.")
    stack = footprint(net, dtype)["stack_bytes"]
    if stack > STACK_LIMIT:
        return (f"the C export keeps its scratch rows on the stack, and this model needs "
                f"{stack:,} bytes of it per call in {dtype} (widest row: {_widest(net):,} "
                f"values), over the C target's limit of {STACK_LIMIT:,} bytes (1 MiB); "
                "export it with --to numpy, onnx or matlab.")
    return None


def render_c(net, name, dtype, arrays, meta) -> tuple[str, str]:
    prog = net.program()
    k = net.n_outputs
    classifier = net.is_classifier
    n_proba = net.n_proba if prog.output is not None else 0
    real = "double" if dtype == "float64" else "float"
    top = "\n".join(f" * {_comment_text(line)}" for line in header(net, name, dtype))
    intro = f"/*\n{top}\n */"
    N = name  # every public identifier starts with NAME_, as the contract says
    R = f"{N}_real"

    # ------------------------------------------------------------------ the source
    c = [intro, f"/* export {meta['export_id']} */", PRELUDE.format(name=name)]
    macros_at = len(c)  # the macros and small functions the code below uses go here
    c += [DENSE] if prog.layers else []
    c.append("/* weights (float64: Python's shortest round-trip decimal; float32: numpy's) */")
    c += [_array(a_name, a, dtype) for a_name, a in arrays.items()]
    nan_ok = net.nan_columns()
    if nan_ok.any():
        c.append(f"static const unsigned char nan_ok[{net.n_features}] = {{"
                 + ", ".join(str(int(v)) for v in nan_ok) + "};  /* columns an imputer fills */")
        c.append(ALL_TAKEN % net.n_features)
    else:
        c.append(ALL_FINITE)
    classes, kind = classes_for_storage(net)
    if classes is not None:
        ctype = _class_ctype(classes, kind)
        c.append(f"const {ctype} {N}_CLASSES[{N}_N_CLASSES] = {{"
                 + ", ".join(_class_literal(v, kind) for v in classes) + "};")
    c += ["", "/* one row of X -> the last layer's raw output z */",
          "static void forward(const real_t *x, real_t *z)", "{"]
    c += forward_lines(prog, net.n_features, arrays) + ["}", ""]

    if prog.output is not None:
        lines, text = OUTPUTS[type(prog.output)]
        out = "proba" if classifier else "y"
        c += _row_function("output_row", out, lines, k, f"z -> {out}: {text}") + [""]
    if prog.target:
        target = [_elementwise_line(op, "y", k, arrays) for op in prog.target]
        c += ["/* y -> y: the inverse of the target scaler */",
              "static void target_row(real_t *y)", "{"]
        c += (["    size_t j;"] if _uses_j(target) else []) + target + ["}", ""]
    if prog.scores is not None:
        lines, text = SCORES[type(prog.scores)]
        c += _row_function("scores_row", "scores", [ln.format(op=prog.scores) for ln in lines], k,
                           f"z -> scores: {text}") + [""]

    check = [f"    if (!all_finite(X, n_rows * {N}_N_FEATURES)) return {N}_ERR_NONFINITE;"]
    loop = [f"    for (r = 0; r < n_rows; ++r) {{",
            f"        forward(X + r * {N}_N_FEATURES, z);"]
    zdecl = f"    real_t z[{k}];"
    if not classifier:
        c += [f"int {N}_predict(const {R} *X, size_t n_rows, {R} *y)", "{",
              zdecl, f"    real_t out[{k}];", "    size_t r, j;"] + check + loop
        c += ["        output_row(z, out);"] + (["        target_row(out);"] if prog.target else [])
        c += [f"        for (j = 0; j < {k}; ++j) y[r * {k} + j] = out[j];", "    }", "    return 0;", "}"]
    else:
        if prog.output is not None:
            c += [f"int {N}_predict_proba(const {R} *X, size_t n_rows, {R} *proba)", "{",
                  zdecl, f"    real_t p[{n_proba}];", "    size_t r, j;"] + check + loop
            c += ["        output_row(z, p);",
                  f"        for (j = 0; j < {n_proba}; ++j) proba[r * {n_proba} + j] = p[j];",
                  "    }", "    return 0;", "}", ""]
        decide = [op for op in prog.decide if not isinstance(op, ClassLookup)]
        needs_proba = any(getattr(op, "on", None) is Score.PROBA or isinstance(op, DECIDES_ON_PROBA)
                          for op in decide)
        per_row = k if isinstance(decide[0], MultilabelDecision) else 1
        body = [f"    for (r = 0; r < n_rows; ++r, label += {per_row}) {{",
                f"        forward(X + r * {N}_N_FEATURES, z);"]
        if needs_proba:
            body.append("        output_row(z, proba);")
        for op in decide:
            lines, text = DECIDE[type(op)](op)
            body += [f"        {Template(line).substitute(k=k if op_is_z(op) else n_proba)}" for line in lines]
            body[-1] = f"{body[-1]:<70} /* {text} */"
        c += [f"int {N}_predict_index(const {R} *X, size_t n_rows, int32_t *label)", "{", zdecl]
        if needs_proba:
            c.append(f"    real_t proba[{n_proba}];")
        c += ["    size_t r, j;" if _uses_j(body) else "    size_t r;"] + check + body
        c += ["    }", "    return 0;", "}"]
    if prog.scores is not None:
        width = 1 if isinstance(prog.scores, BinaryScores) else k
        c += ["", f"int {N}_decision_function(const {R} *X, size_t n_rows, {R} *scores)", "{",
              zdecl, f"    real_t s[{width}];", "    size_t r, j;"] + check + loop
        c += ["        scores_row(z, s);",
              f"        for (j = 0; j < {width}; ++j) scores[r * {width} + j] = s[j];",
              "    }", "    return 0;", "}"]
    called = "\n".join(c)
    wanted = set()
    while True:  # a helper may call another (lookup -> is_nan)
        more = {fn for fn in HELPERS if f"{fn}(" in called + "".join(HELPERS[f] for f in wanted)}
        if more == wanted:
            break
        wanted = more
    helpers = [text for fn, text in HELPERS.items() if fn in wanted]
    called += "\n".join(helpers)
    macros = [f"#define {m} {v}" for m, v in MACROS[dtype].items() if re.search(rf"\b{m}\b", called)]
    if re.search(r"\breal_bits\b", called):
        macros.insert(0, BITS[dtype])
    c[macros_at:macros_at] = ["\n".join(macros) + "\n"] * bool(macros) + ["\n\n".join(helpers) + "\n"] * bool(helpers)

    # ------------------------------------------------------------------ the header
    size = footprint(net, dtype, arrays)
    h = [intro, f"#ifndef {N}_H", f"#define {N}_H", "", "#include <stddef.h>",
         "#include <stdint.h>", "", "#ifdef __cplusplus", 'extern "C" {', "#endif", "",
         f"typedef {real} {R};  /* {dtype}: the type of X and of every output but labels */",
         f"#define {N}_N_FEATURES {net.n_features}",
         f"#define {N}_N_OUTPUTS {k}"]
    if classes is not None:
        h.append(f"#define {N}_N_CLASSES {len(classes)}")
    h += [f"#define {N}_ERR_NONFINITE 1  /* an input is NaN or infinite: nothing was written */",
          "/* footprint: const data (flash) of the weights and column tables, without the",
          "   class labels; the stack of one call (scratch arrays plus frames, the deepest",
          "   call chain); multiply-adds of the dense layers for one row */",
          f"#define {N}_WEIGHT_BYTES {size['weight_bytes']}",
          f"#define {N}_STACK_BYTES {size['stack_bytes']}",
          f"#define {N}_MACS {size['macs']}",
          f'#define {N}_FINGERPRINT "{meta["fingerprint"]}"',
          f'#define {N}_EXPORT_ID "{meta["export_id"]}"',
          f"#define {N}_RECORD {c_string(json.dumps(meta, sort_keys=True))}", ""]
    if classes is not None:
        h.append(f"extern const {ctype} {N}_CLASSES[{N}_N_CLASSES];  /* labels by class index */")
    rows = "X is n_rows x " + f"{N}_N_FEATURES, row-major; outputs are row-major too"
    h.append(f"/* {rows}. Each returns 0, or {N}_ERR_NONFINITE. Reentrant. */")
    decls = []
    if not classifier:
        decls.append(f"int {N}_predict(const {R} *X, size_t n_rows, {R} *y);  "
                     f"/* y: n_rows x {N}_N_OUTPUTS */")
    else:
        if prog.output is not None:
            decls.append(f"int {N}_predict_proba(const {R} *X, size_t n_rows, {R} *proba);  "
                         f"/* proba: n_rows x {n_proba} */")
        per_row = k if isinstance(prog.decide[0], MultilabelDecision) else 1
        what = "0/1 per label" if per_row > 1 else f"index into {N}_CLASSES"
        decls.append(f"int {N}_predict_index(const {R} *X, size_t n_rows, int32_t *label);  "
                     f"/* label: n_rows x {per_row}, {what} */")
    if prog.scores is not None:
        width = 1 if isinstance(prog.scores, BinaryScores) else k
        decls.append(f"int {N}_decision_function(const {R} *X, size_t n_rows, {R} *scores);  "
                     f"/* scores: n_rows x {width} */")
    h += decls + ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif  /* {N}_H */", ""]
    return "\n".join(h), "\n".join(c) + "\n"


def _widest(net) -> int:
    prog = net.program()
    widths = [net.n_features] + [op.n_out for op in prog.layers if isinstance(op, Gemm)]
    widths += [len(op.indices) for op in prog.inputs if isinstance(op, Take)]
    widths += [op.n_out for op in prog.inputs if isinstance(op, PolyTerms)]
    return max(widths)


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
    why = refusal(net, dtype)
    if why:
        raise ExportError(why)
    refuse_nul_labels(net, "C", "ends a C string")
    arrays = cast_arrays(net, dtype)
    texts = {k: v for k, v in net.texts().items() if k == "classes"}  # no names in C: X is a matrix
    meta = meta_record(net, name, dtype, arrays, options, texts)
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
    from ..load import check_export_file
    check_export_file(os.path.join(directory, f"{name}.h"))
    with open(os.path.join(directory, f"{name}.h"), encoding="latin-1") as f:
        text = f.read()
    found = re.search(rf'^#define {re.escape(name)}_RECORD ("(?:[^"\\]|\\[0-7]{{3}})*")$', text, re.M)
    if not found:
        raise ExportError(f"{name}.h has no {name}_RECORD line; it was not written by mlpexport.")
    return json.loads(parse_c_string(found.group(1)))


COMPILER_MEMORY = 8 * 2**30  # address space of the compiler and what it starts


def _compiler_limits():
    """In the compiler's process, before it starts: a committed NAME.c may #include
    /dev/zero, which the preprocessor would read until memory runs out."""
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (COMPILER_MEMORY, COMPILER_MEMORY))
    except (ImportError, ValueError, OSError):
        pass


def build(directory, name, workdir, timeout=None, flags=FLAGS) -> str:
    """Compile NAME.c into a shared library in workdir; its path. The compiler runs in
    its own process group with no stdin, COMPILER_MEMORY of address space, and stops at
    the sandbox's time limit (a committed NAME.c may #include a FIFO or a device)."""
    from . import sandbox

    timeout = sandbox.time_limit() if timeout is None else timeout
    lib = os.path.join(workdir, f"lib{name}.so")
    cmd = [*compiler(), *flags, "-o", lib, os.path.join(directory, f"{name}.c"), "-lm"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, errors="replace",
                            cwd=workdir, start_new_session=True, preexec_fn=_compiler_limits)
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # cc and the cc1/as/ld it started
        proc.communicate()
        raise RuntimeFailed(f"the C compiler did not finish {name}.c within {timeout:g} s "
                            f"(stopped).") from None
    if proc.returncode != 0:
        first = (stderr.strip().splitlines() or ["(no message)"])[0]
        raise RuntimeFailed(f"the C compiler failed on {name}.c: {plain(first)[:300]}")
    return lib


# The child that loads the library and runs it (fixed code in its own file, run as a
# script: see c_worker.py).
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c_worker.py")


def runner(directory, name, timeout=None):
    """X -> outputs of NAME.c, compiled, loaded and called in a child process (the
    sandbox of emit/sandbox.py): the library's code, its constructors included, never
    runs in mlpexport's own process, and its only accepted result is validated arrays.
    A crash, an exit, a hang (`timeout` seconds, default the sandbox's) or output that
    is not its results is RuntimeFailed. Used for every C export, the ones convert has
    just written too. The runner is also a context manager (close() stops the child)."""
    from . import sandbox

    record = read_record(directory, name)
    try:
        classes = record["classes"]
        width = max(int(record["n_outputs"]), len(classes or ()), 2)
        int(record["n_features"])
        expected = c_worker.outputs(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise ExportError(f"{name}.h records an unreadable export ({type(exc).__name__}: "
                          f"{str(exc)[:200]}).") from None
    with tempfile.TemporaryDirectory(prefix="mlpexport-c-") as work:
        lib = build(directory, name, work, timeout)
        record_path = os.path.join(work, "record.json")
        with open(record_path, "w", encoding="utf-8") as f:
            json.dump({**record, "name": name}, f)
        # the child has loaded the library and read the record once it is ready: the
        # files can go when this block ends
        return sandbox.IsolatedRunner(
            lib, expected=expected, object_labels=record.get("classes_kind") != "number",
            max_width=width, max_text=max((len(str(c)) for c in classes or ()), default=1),
            timeout=timeout, command=[sys.executable, "-I", WORKER, lib, record_path],
            label=f"{name}.c", starting="while its library was loaded")


def _classes(lib, name, record) -> np.ndarray:
    """NAME_CLASSES as a compiled library holds it (c_worker.classes)."""
    return c_worker.classes(lib, name, record)


def run(directory, name, X) -> dict[str, np.ndarray]:
    with runner(directory, name) as run_rows:
        return run_rows(X)


# ------------------------------------------------------------------------- stamping
CLASSES_RE = re.compile(r"^const [\w *]+ \w+_CLASSES\[\w+\] = \{(.*)\};$", re.M)
ARRAY_RE = re.compile(r"^static const real_t (\w+)((?:\[\d+\])*) = (\{.*?\}|[^;{]*);$", re.M | re.S)


def stamp(directory, name) -> Stamp:
    """Fingerprint and weights read back from the files as data (never compiled)."""
    from ..load import check_export_file
    from ..network import label_form

    record = read_record(directory, name)
    dtype = record.get("dtype", "float64")
    check_export_file(os.path.join(directory, f"{name}.c"))
    with open(os.path.join(directory, f"{name}.c"), encoding="latin-1") as f:
        text = f.read()
    arrays = {}
    for m in ARRAY_RE.finditer(text):
        shape = tuple(int(d) for d in re.findall(r"\d+", m.group(2)))
        tokens = [t.replace("(real_t)", "") for t in re.split(r"[,{}\s]+", m.group(3)) if t]
        values = ([np.float32(t.removesuffix("f")) for t in tokens] if dtype == "float32"
                  else [float(t) for t in tokens])
        arrays[m.group(1)] = np.array(values, dtype=dtype).reshape(shape)
    found = CLASSES_RE.search(text)
    if found:  # the labels it stores, read back as written by _class_literal
        body = found.group(1)
        if record.get("classes_kind") != "number":
            labels = [parse_c_string(t) for t in re.findall(r'"(?:[^"\\]|\\[0-7]{3})*"', body)]
        else:
            labels = [-2.0 ** 63 if "-9223372036854775807LL - 1" in t else float(t.removesuffix("LL"))
                      for t in re.split(r",\s*(?![^(]*\))", body) if t.strip()]
        arrays["classes"] = label_form(np.array(labels, dtype=object if labels and
                                                isinstance(labels[0], str) else np.float64))
    same = f"export {record['export_id']}" in text
    return Stamp(f"{name}.h/.c", record["fingerprint"], digest(arrays) == record["digest"],
                 dtype=dtype, same_export=same)
