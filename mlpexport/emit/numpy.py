"""numpy target: NAME.py (the forward pass, readable line by line) + NAME.npz (weights).

The module needs only numpy. Its operations mirror scikit-learn's (subtract then
divide, `Z @ W + b`, activations, softmax minus the row max), so float64 exports match
`predict` to the last bit or two. Every operation writes into preallocated arrays
(`out=`): `predict(X)` runs the rows in cache-sized blocks, and `Model` keeps its own
buffers so a real-time loop allocates nothing after warm-up. No buffer is shared at
module level, so the module is reentrant: one Model per thread.
"""
from __future__ import annotations

import ast
import importlib.util
import io
import json
import os
import re
import sys
import textwrap
import uuid
from string import Template  # the module's fixed parts, with $placeholders
from dataclasses import dataclass

import numpy as np

from . import (Stamp, cast_arrays, classes_for_storage, header, meta_record, refuse_nul_labels,
               target_options)
from ..errors import ExportError
from ..network import (Add, Apply, Argmax, BinaryProba, BinaryScores, ClassLookup, ClipTo, Div,
                       Equal, ExpOut, FillNaN, Gemm, HuberBinaryProba, HuberOvrProba, IdentityOut,
                       Lookup, MarkNaN, Mul, MultilabelDecision, OvrProba, PolyTerms, Relu, Score, Scores,
                       Sigmoid, SigmoidProba, SoftmaxProba, Sub, Take, Tanh, Threshold)

FILES = (".py", ".npz")
RUNS_IN_CHILD = True  # its runner starts a child process (check makes it after the others)


@dataclass(frozen=True)
class Options:
    """The numpy target has no options of its own."""

BLOCK_BYTES = 2 * 2**20  # a block's widest buffer at most this big: about a core's L2 cache


def block_rows(prog, n_features, dtype):
    """Rows per block in predict(X): 4096, halved (down to 256) until the block's widest
    buffer fits BLOCK_BYTES, so that a layer's add and relu read what its product has just
    written from cache (64-(256,256)-10 at 100,000 rows: 0.72-0.77x onnxruntime's time
    with 1,024-row blocks, 1.01x with 4,096; benchmarks/bench.py, README "Speed")."""
    widest = max([n_features] + [w for _, w in stages(prog)])
    rows = 4096
    while rows > 256 and rows * widest * np.dtype(dtype).itemsize > BLOCK_BYTES:
        rows //= 2
    return rows

# One table per stage: op type -> its line(s) of numpy, with a comment. Inputs: the first
# operation reads X, later ones work in place on Z0; the target inverse works on Y.
ELEMENTWISE = {
    Sub: ("np.subtract({src}, {op.array}, out={dst})", "subtract {op.array}"),
    Div: ("np.divide({src}, {op.array}, out={dst})", "divide by {op.array}"),
    Mul: ("np.multiply({src}, {op.array}, out={dst})", "multiply by {op.array}"),
    Add: ("np.add({src}, {op.array}, out={dst})", "add {op.array}"),
    ClipTo: ("np.clip({src}, {op.low}, {op.high}, out={dst})", "clip to {op.low}, {op.high}"),
    Apply: ("np.{op.fn}({src}, out={dst})", "{op.fn}"),
}
ACTIVATIONS = {
    Relu: ("np.maximum({z}, {zero}, out={z})", "relu"),
    Tanh: ("np.tanh({z}, out={z})", "tanh"),
    Sigmoid: ("_sigmoid({z}, out={z})", "logistic"),
}
# Regressors: the raw output Z -> predictions Y.
OUTPUTS = {
    IdentityOut: ("np.copyto(Y, Z)", "identity output"),
    ExpOut: ("np.exp(Z, out=Y)", "exp output (Poisson loss)"),
}
def _aligned(lines):
    """Lines "code  # comment" with their comments in one column."""
    parts = [line.partition("# ") if "# " in line else (line, "", "") for line in lines]
    width = max(44, *(len(code.rstrip()) + 2 for code, _, _ in parts))
    return [f"{code.rstrip():<{width}}# {text}" if text else code for code, _, text in parts]


# Classifiers: the raw output Z -> probabilities P (s: a row-sum buffer). Row max and row
# sum are the ufuncs' reduce, which np.max and np.sum call after Python-level argument
# handling: the same numbers, 1.0 and 0.8 us for one row instead of 2.7 and 2.3.
PROBA = {k: _aligned(v) for k, v in {
    BinaryProba: ["_sigmoid(Z, out=P[..., 1:])",
                  "np.subtract(_ONE, P[..., 1:], out=P[..., :1])"],
    SigmoidProba: ["_sigmoid(Z, out=P)"],
    SoftmaxProba: ["np.maximum.reduce(Z, axis=-1, keepdims=True, out=s)    # softmax, minus the row max",
                   "np.subtract(Z, s, out=P)",
                   "np.exp(P, out=P)",
                   "np.add.reduce(P, axis=-1, keepdims=True, out=s)",
                   "np.divide(P, s, out=P)"],
    OvrProba: ["_sigmoid(Z, out=P)                          # one-vs-rest: sigmoid per class ...",
               "np.add.reduce(P, axis=-1, keepdims=True, out=s)    # ... divided by the row sum",
               "if not s.all():                             # all classes underflowed: uniform",
               "    zero = s[..., 0] == 0",
               "    P[zero] = 1",
               "    s[zero] = P.shape[-1]",
               "np.divide(P, s, out=P)"],
    HuberBinaryProba: ["np.clip(Z, -1, 1, out=P[..., 1:])            # modified Huber: (clip(z) + 1) / 2",
                       "np.add(P[..., 1:], _ONE, out=P[..., 1:])",
                       "np.divide(P[..., 1:], 2, out=P[..., 1:])",
                       "np.subtract(_ONE, P[..., 1:], out=P[..., :1])"],
    HuberOvrProba: ["np.clip(Z, -1, 1, out=P)                   # modified Huber: (clip(z) + 1) / 2 ...",
                    "np.add(P, _ONE, out=P)",
                    "np.divide(P, 2, out=P)",
                    "np.add.reduce(P, axis=-1, keepdims=True, out=s)    # ... divided by the row sum",
                    "if not s.all():                             # every class at -1: uniform",
                    "    zero = s[..., 0] == 0",
                    "    P[zero] = 1",
                    "    s[zero] = P.shape[-1]",
                    "np.divide(P, s, out=P)"],
}.items()}
# decision_function: an expression of a block's raw output Z.
SCORES = {
    Scores: lambda op: "Z",
    BinaryScores: lambda op: f"Z[..., {op.column}]",
}
# Decisions: an expression of a block's raw output Z, probabilities P and the index so far.
SCORE = {Score.LOGITS: "Z", Score.PROBA: "P"}
THRESHOLD = {Score.LOGITS: "(Z[..., 0] > 0)", Score.PROBA: "(P[..., 1] > 0.5)"}
DECIDE = {
    Threshold: lambda op, index: f"{THRESHOLD[op.on]}.astype(np.intp)",
    Argmax: lambda op, index: f"{SCORE[op.on]}.argmax(axis=-1)",
    ClassLookup: lambda op, index: f"classes_[{index}]",
    MultilabelDecision: lambda op, index: "(P > 0.5).astype(np.intp)",
}


def _comment(line, text):
    return f"{line:<42}  # {text}"


def _elementwise(op, src, dst):
    line, text = ELEMENTWISE[type(op)]
    return _comment(line.format(op=op, src=src, dst=dst), text.format(op=op))


# Input ops that change the width, or need a copy first: (src, dst) -> line, comment.
def _note(line, text):
    return f"{line:<42}  # {text}"


WIDENING = {
    # Z.take, the ndarray method, as Z.dot: np.take's wrapper doubles one row's 1 us
    Take: lambda op, src, dst: _note(f"{src}.take({list(op.indices)}, axis=-1, out={dst})",
                                        "columns, in this order"),
}


def _poly_lines(op, src, table, dst):
    """PolyTerms: the table [1, Z, products] built in runs of products whose lower terms
    are consecutive columns and whose factor is one column (scikit-learn's own slices and
    factors: XP[:, start:end] * X[:, i]), then the terms copied in PolynomialFeatures'
    order, run by run (_POLY_RUNS)."""
    base = 1 + op.n_in
    lines = [_note(f"{table}[..., 0] = 1", f"polynomial terms: {op.n_in} -> {op.n_out}, bias"),
             _note(f"np.copyto({table}[..., 1:{base}], {src})", "degree 1")]
    if op.groups:
        lines += [f"for start, stop, lower, column in {op.left}_runs:  # a lower term times a column",
                  f"    np.multiply({table}[..., lower:lower + stop - start], {src}[..., column:column + 1], "
                  f"out={table}[..., start:stop])"]
    lines += [f"for start, stop, first in {op.out}_runs:  # the terms, in order",
              f"    np.copyto({dst}[..., start:stop], {table}[..., first:first + stop - start])"]
    return lines


POLY_RUNS = '''def _product_runs(left, right, base, groups):
    """(start, stop, lower, column) per run of products k of one degree whose lower
    terms left[k] are consecutive and whose factor right[k] is one column: table columns
    start:stop = columns lower:lower + stop - start times column `column`."""
    runs = []
    for first, end in groups:
        k = first
        while k < end:
            j = k + 1
            while j < end and left[j] == left[j - 1] + 1 and right[j] == right[k]:
                j += 1
            runs.append((base + k, base + j, int(left[k]), int(right[k])))
            k = j
    return tuple(runs)


def _copy_runs(out):
    """(start, stop, first) per run of consecutive table columns in out."""
    runs, k = [], 0
    while k < len(out):
        j = k + 1
        while j < len(out) and out[j] == out[j - 1] + 1:
            j += 1
        runs.append((k, j, int(out[k])))
        k = j
    return tuple(runs)
'''


def poly_setup(prog):
    """Module lines that turn each PolyTerms' stored column numbers into its runs."""
    lines = []
    for op in prog.inputs:
        if isinstance(op, PolyTerms):
            if op.groups:
                lines.append(f"{op.left}_runs = _product_runs({op.left}, {op.right}, {1 + op.n_in}, "
                             f"{tuple(op.groups)!r})")
            lines.append(f"{op.out}_runs = _copy_runs({op.out})")
    return lines


def index_arrays(prog):
    """Arrays that hold column numbers (stored as numbers like every array): made intp
    once at import."""
    return [n for op in prog.inputs if isinstance(op, PolyTerms)
            for n in ((op.left, op.right, op.out) if op.groups else (op.out,))]
IN_PLACE = {
    FillNaN: lambda op, z: _note(f"np.copyto({z}, {op.fill}, where=np.isnan({z}))",
                                    f"missing values -> {op.fill} (NaN there: kept)"),
    Apply: lambda op, z: _note(
        f"np.{op.fn}({z}, out={z})" if op.cols is None else
        f"np.{op.fn}({z}[..., {op.cols[0]}:{op.cols[1]}], out={z}[..., {op.cols[0]}:{op.cols[1]}])",
        op.fn if op.cols is None else f"{op.fn} of columns {op.cols[0]}:{op.cols[1]}"),
    MarkNaN: lambda op, z: _note(f"np.copyto({z}, np.isnan({z}), where={op.mask} == 1)",
                                    "missing-value indicators"),
    Lookup: lambda op, z: _note(
        f"_lookup({z}, {op.column}, {op.values}, {op.codes}, {op.missing}, {op.unknown}, "
        f"{op.error}, {op.source})", f"categories in column {op.column} -> codes"),
    Equal: lambda op, z: _note(
        f"np.copyto({z}, {z} == {op.array}, where=({op.array} == {op.array}) & ({z} == {z}))",
        f"one-hot: 1 where the code is {op.array}"),
}


def _input_plan(prog):
    """(lines, buffers) of the input ops. Old-style programs (no width change) keep one
    buffer Z0 of the first layer's width; each width change writes a new buffer."""
    lines, bufs, src, width = [], [], "X", prog.n_features

    def fresh(w):
        name = "Z0" if not bufs else f"Z0_{len(bufs)}"
        bufs.append((name, w))
        return name
    for op in prog.inputs:
        if isinstance(op, PolyTerms):
            table = fresh(op.n_table)
            dst = fresh(op.n_out)
            lines += _poly_lines(op, src, table, dst)
            width = op.n_out
        elif type(op) in WIDENING:
            width = len(op.indices) if isinstance(op, Take) else op.n_out
            dst = fresh(width)
            lines.append(WIDENING[type(op)](op, src, dst))
        elif type(op) in IN_PLACE:
            if src == "X":  # never write into the caller's array
                dst = fresh(width)
                lines.append(f"np.copyto({dst}, X)")
                src = dst
            lines.append(IN_PLACE[type(op)](op, src))
            dst = src
        else:
            dst = src if src != "X" else fresh(width)
            lines.append(_elementwise(op, src, dst))
        src = dst
    return lines, bufs, src


def stages(prog):
    """Buffer names and widths of the forward pass: Z0 (and Z0_1, ... when input steps
    change the width) for the input steps, Z1..ZL for the dense layers."""
    dense = [op for op in prog.layers if isinstance(op, Gemm)]
    if any(type(op) in WIDENING or type(op) in IN_PLACE or isinstance(op, PolyTerms) for op in prog.inputs):
        out = _input_plan(prog)[1]
    else:
        out = [("Z0", dense[0].n_in)] if prog.inputs else []
    return out + [(f"Z{i}", op.n_out) for i, op in enumerate(dense, start=1)]


def forward_lines(prog):
    lines, src = [], "X"
    if any(type(op) in WIDENING or type(op) in IN_PLACE or isinstance(op, PolyTerms) for op in prog.inputs):
        lines, _, src = _input_plan(prog)
    for op in (prog.inputs if src == "X" else ()):
        lines.append(_elementwise(op, src, "Z0"))
        src = "Z0"
    i = 0
    for op in prog.layers:
        if isinstance(op, Gemm):
            i, z = i + 1, f"Z{i + 1}"
            # Z.dot(W), the ndarray method: np.dot's dispatch costs as much as a 12 x 11 product
            lines.append(_comment(f"{src}.dot({op.W}, out={z})", f"layer {i}: {op.n_in} -> {op.n_out}"))
            lines.append(f"np.add({z}, {op.b}, out={z})")
            src = z
        else:
            line, text = ACTIVATIONS[type(op)]
            lines.append(_comment(line.format(z=src, zero=f"zero{src[1:]}"), text))
    return lines + [f"return {src}"]


def _bound(prog, arrays, unpack):
    """_bound(buf): _forward for one set of buffers with every name it reads bound once
    (numpy's functions and the weights as default arguments, the buffers in a closure), so
    a Model's call runs the same lines without global lookups or unpacking buf each time."""
    lines = forward_lines(prog)
    text = "\n".join(lines)
    functions = sorted(set(re.findall(r"\bnp\.(\w+)\(", text)))
    buffers = set(re.findall(r"\w+", unpack.split("=")[0]))
    weights = [a for a in arrays if a not in buffers and re.search(rf"\b{a}\b", text)]
    bound = [f"{w}={w}" for w in weights] + [f"{f}=np.{f}" for f in functions]
    lines = [_realigned(re.sub(rf"\bnp\.({'|'.join(functions)})\(", r"\1(", line), line)
             for line in lines] if functions else lines
    signature = textwrap.wrap(f"def _bound(buf, {', '.join(bound)}):", 96,
                              subsequent_indent=" " * 11)
    return ("\n".join(signature) + "\n"
            '    """_forward on buf, its names bound once: a Model\'s per-call path."""\n'
            f"{unpack}\n\n"
            "    def forward(X):\n" + _indent(lines, 8) + "\n"
            "    return forward\n")


def _realigned(line, original):
    """`line` (original with np. taken out) with its comment where _comment puts it."""
    if line == original or "# " not in original:
        return line
    code, _, comment = line.partition("# ")
    return _comment(code.rstrip(), comment)


def relu_zeros(prog):
    """(name, width) of the zeros each relu compares its layer with: a block's own shape
    for a block (np.maximum runs twice as fast on two arrays of one shape as on an array and
    a scalar), the scalar _ZERO for one row. Views of one read-only array of zeros (calloc'd:
    pages never written read as the system's one zero page, no memory)."""
    widths, out, src = dict(stages(prog)), [], None
    i = 0
    for op in prog.layers:
        if isinstance(op, Gemm):
            i += 1
            src = f"Z{i}"
        elif isinstance(op, Relu):
            out.append((f"zero{i}", widths[src]))
    return out


NARROW = 32  # vectors at most this wide are repeated on a block's rows (see repeated)


def repeated(prog, arrays):
    """The vectors a block is shifted or scaled by (input steps, biases) that are narrow
    enough to keep repeated on BLOCK rows: with a vector of the block's own shape numpy
    runs one flat loop, not one short loop per row (3x faster at 12 columns; the same
    numbers). Wide vectors already make long loops and would cost BLOCK times their size."""
    names = [op.array for op in prog.inputs if type(op) in (Sub, Div, Mul, Add)]
    names += [op.b for op in prog.layers if isinstance(op, Gemm)]
    return [a for a in dict.fromkeys(names)
            if a in arrays and np.ndim(arrays[a]) == 1 and 1 < len(arrays[a]) <= NARROW]


def output_lines(prog):
    line, text = OUTPUTS[type(prog.output)]
    return [_comment(line, text)] + [_elementwise(op, "Y", "Y") for op in prog.target]


def label_expr(prog):
    """Labels of a block from its raw output Z and probabilities P."""
    expr = None
    for op in prog.decide:
        expr = DECIDE[type(op)](op, expr)
    return expr


def _indent(lines, n=4):
    return "\n".join(" " * n + line if line else "" for line in lines)


def render_module(net, name, dtype, arrays, meta=None) -> str:
    """NAME.py. Model-file text lands here only as plain comment text (`header`, through
    emit.plain) or as Python literals made by repr (feature names); class labels stay in
    the .npz. `meta` is the record written into the .npz, so both carry one export_id."""
    meta = meta or meta_record(net, name, dtype, arrays)
    doc = "\n".join(header(net, name, dtype))
    prog = net.program()
    k = net.n_outputs
    n_proba = net.n_proba
    names = list(arrays) + list(net.strings())
    loads = "\n".join(f"    {a} = _w[{a!r}]" for a in names)
    cls = ""
    if net.classes is not None:
        cls = "    classes_ = _w['classes']\n"
        if meta["classes_kind"] == "object":
            cls += "    classes_ = classes_.astype(object)\n"
    st = stages(prog)
    tiled = repeated(prog, arrays)
    zeros = relu_zeros(prog)
    buf_names = ", ".join([n for n, _ in st] + tiled + [z for z, _ in zeros])
    extra = ", P, s" if net.has_proba else ""
    usage = [f"    import {name}",
             f"    {name}.predict(X)            # X: (n_samples, {net.n_features}) real numbers"]
    if net.has_proba:
        usage.append(f"    {name}.predict_proba(X)")
    if net.has_scores:
        usage.append(f"    {name}.decision_function(X)")
    first = ("predict_proba" if net.has_proba else "decision_function" if net.is_classifier
             else "predict")
    usage += [f"    m = {name}.Model()           # real-time: one per thread, no allocations",
              f"    m.{first}(x)        # x: one sample; returns m's own buffer"]
    if net.is_classifier:
        usage.append(f"    m.predict(x)              # its label, shape (1,) as scikit-learn's")
    parts = [f'"""{doc}\n\nUsage:\n' + "\n".join(usage)
             + f'\n\nNeeds only numpy; the weights are in {name}.npz next to this file.\n"""',
             "import os\n\nimport numpy as np\n",
             f"FINGERPRINT = {meta['fingerprint']!r}\n"
             f"EXPORT_ID = {meta['export_id']!r}  # the same id is in {name}.npz: one export\n"
             f"DTYPE = np.{dtype}\n"
             "_ZERO, _ONE = np.zeros((), DTYPE), np.ones((), DTYPE)  # constants, never written\n"
             f"n_features_in_ = {net.n_features}\n"
             f"BLOCK = {block_rows(prog, net.n_features, dtype)}  # rows per block in predict(X)"]
    if "feature_names" in net.meta:
        names_in = [str(n) for n in net.meta["feature_names"]]  # repr of a str is a literal
        parts.append(f"feature_names_in_ = np.array({names_in!r}, dtype=object)")
    parts.append(
        f"_HERE = os.path.dirname(os.path.abspath(__file__))\n"
        f"with np.load(os.path.join(_HERE, {name + '.npz'!r}), allow_pickle=False) as _w:\n"
        f"{loads}\n{cls}"
        f"del _w\n"
        + "".join(f"{a} = {a}.astype(np.intp)  # column numbers\n" for a in index_arrays(prog)))
    if poly_setup(prog):
        parts.append(POLY_RUNS + "\n" + "\n".join(poly_setup(prog)) + "\n")
    if tiled:
        parts.append("# Narrow vectors repeated on BLOCK rows, read-only: a block is shifted or scaled by\n"
                     "# them in one flat loop (see _buffers).\n"
                     + "\n".join(f"{a}_rows = np.tile({a}, (BLOCK, 1))" for a in tiled) + "\n"
                     + "".join(f"{a}_rows.flags.writeable = False\n" for a in tiled))
    if zeros:
        parts.append("# Zeros for a block's relu, read-only: np.maximum of two arrays of one shape runs twice\n"
                     "# as fast as with a scalar. Pages never written read as the system's zero page: no memory.\n"
                     f"_ZEROS = np.zeros(BLOCK * {max(w for _, w in zeros)}, DTYPE)\n"
                     "_ZEROS.flags.writeable = False\n")
    nan_ok = net.nan_columns()
    load = model_load(net, nan_ok.any())  # the Model's _load
    if nan_ok.any():
        parts.append(f"_NAN_OK = np.array({[bool(v) for v in nan_ok]!r})  # columns an imputer fills")
    parts.append(Template(COLUMNS).substitute(name=name))
    if net.vocab:
        words = ", ".join(f"{c.column}: vocab_{c.column}" for c in net.vocab)
        parts.append(f"_WORDS = {{{words}}}  # the strings each string column knows, by code\n"
                     f"_STRICT = {[c.column for c in net.vocab if c.error]!r}"
                     "  # an unknown string there is an error\n"
                     f"_NONE = {[c.column for c in net.vocab if c.missing == 'none']!r}"
                     "  # None is the missing value there (elsewhere NaN is; the other: unknown)\n"
                     f"_NO_NAN = {[c.column for c in net.vocab if c.refuse_nan]!r}"
                     "  # NaN is an error there\n" + NUMBERS)
    unread = net.unread_columns()
    columns = "_columns(X)"
    if unread.any():
        parts.append(f"_UNREAD = {[int(j) for j in np.flatnonzero(unread)]!r}"
                     "  # columns no step reads: any value there\n\n\n" + UNREAD)
        columns = "_unread(_columns(X))"
    parts.append(Template(VALIDATE).substitute(
        name=name, as_array=f"_numbers({columns})" if net.vocab else f"np.asarray({columns})",
        finite_check=VALIDATE_NAN if nan_ok.any() else VALIDATE_FINITE))
    if any(isinstance(op, Lookup) for op in prog.inputs):
        parts.append(LOOKUP)
    parts.append(SIGMOID)
    widths = ", ".join(f"np.empty(rows + ({w},), DTYPE)" for _, w in st)
    if tiled:
        widths += ",\n            " + ", ".join(f"{a}_rows[:k] if k else {a}" for a in tiled)
    if zeros:
        widths += ",\n            " + ", ".join(f"_ZEROS[:k * {w}].reshape(k, {w}) if k else _ZERO"
                                                 for _, w in zeros)
    if net.has_proba:
        widths += f", np.empty(rows + ({n_proba},), DTYPE), np.empty(rows + (1,), DTYPE)"
    parts.append(
        "def _buffers(n):\n"
        + _indent(textwrap.wrap(
            f'"""Scratch arrays for n rows (n=None: one row as 1-D vectors): {", ".join(n for n, _ in st)}, '
            "one per stage of the forward pass"
            + (f"; then {', '.join(tiled)} as _forward takes them: repeated on the n rows (read-only "
               "views), or the vectors themselves for one row" if tiled else "")
            + (f"; then {', '.join(z for z, _ in zeros)}, what each relu compares with: zeros of "
               "its layer's shape (views of _ZEROS), or _ZERO for one row" if zeros else "")
            + ("; P, s for the probabilities" if net.has_proba else "") + '."""', 88)) + "\n"
        "    rows = () if n is None else (n,)\n"
        + ("    k = n if n is not None and n <= BLOCK else None  # rows of the repeated vectors, zeros\n"
           if tiled or zeros else "")
        + f"    return ({widths}{',' if len(st) + len(tiled) + len(zeros) == 1 and not net.has_proba else ''})\n")
    parts.append(
        "def _forward(X, buf):\n"
        '    """Validated rows X -> the last layer\'s raw output, computed in buf (len(X) rows)."""\n'
        + (f"    # {', '.join(tiled)}: the vectors repeated on each row of a block\n" if tiled else "")
        + f"    {buf_names}{extra}{',' if len(st) + len(tiled) + len(zeros) == 1 and not net.has_proba else ''} = buf\n"
        + _indent(forward_lines(prog)) + "\n")
    parts.append(_bound(prog, arrays, f"    {buf_names}{extra}"
                        f"{',' if len(st) + len(tiled) + len(zeros) == 1 and not net.has_proba else ''} = buf"))
    parts.append(BLOCKS)
    if net.is_classifier and not net.has_proba:
        parts.append(_decision_only(net, prog, k, load))
    elif net.is_classifier:
        parts.append("def _proba(Z, P, s):\n"
                     '    """Class probabilities of raw outputs Z, written into P."""\n'
                     + _indent(PROBA[type(prog.output)]) + "\n    return P\n")
        lookup = any(isinstance(op, ClassLookup) for op in prog.decide)
        label_dtype = "classes_.dtype" if lookup else "np.intp"
        label_shape = "len(X)" if lookup else f"(len(X), {k})"
        label = label_expr(prog)
        needs_p = "P" in label
        parts.append(
            "def predict(X):\n"
            '    """Predicted labels, as scikit-learn\'s predict."""\n'
            "    X = _validate(X)\n"
            f"    out = np.empty({label_shape}, dtype={label_dtype})\n"
            "    for i, Xb, buf in _blocks(X):\n"
            "        Z = _forward(Xb, buf)\n"
            + ("        P = _proba(Z, buf[-2], buf[-1])\n" if needs_p else "")
            + f"        out[i:i + len(Xb)] = {label}\n"
            "    return out\n\n\n"
            "def predict_proba(X):\n"
            '    """Class probabilities, as scikit-learn\'s predict_proba."""\n'
            "    X = _validate(X)\n"
            f"    out = np.empty((len(X), {n_proba}), DTYPE)\n"
            "    for i, Xb, buf in _blocks(X):\n"
            "        _proba(_forward(Xb, buf), out[i:i + len(Xb)], buf[-1])\n"
            "    return out\n")
        if prog.scores is not None:
            parts.append(_decision_function(prog))
        model_class = Template(MODEL_CLASSIFIER).substitute(width=n_proba, label=label, **load)
        if prog.scores is not None:
            model_class += Template(MODEL_SCORES).substitute(scores=SCORES[type(prog.scores)](prog.scores))
        parts.append(model_class)
    else:
        parts.append(
            "def _output(Z, Y):\n"
            '    """The network\'s raw output Z -> predictions, written into Y."""\n'
            + _indent(output_lines(prog)) + "\n    return Y\n")
        flat = net.flat and k == 1
        parts.append(
            "def predict(X):\n"
            '    """Predicted values, as scikit-learn\'s predict."""\n'
            "    X = _validate(X)\n"
            f"    out = np.empty((len(X), {k}), DTYPE)\n"
            "    for i, Xb, buf in _blocks(X):\n"
            "        _output(_forward(Xb, buf), out[i:i + len(Xb)])\n"
            f"    return {'out[:, 0]' if flat else 'out'}\n")
        identity = isinstance(prog.output, IdentityOut) and not prog.target
        parts.append(Template(MODEL_REGRESSOR).substitute(
            **load,
            width=k, result="self._out[..., 0] if rows is not None else self._out" if flat else "self._out",
            # identity output: the last layer's buffer is the result, no copy
            own_out=f"        self._out = self._buf[{len(st) - 1}]  # the last layer's output: no copy\n"
            if identity else "",
            predict="self._forward(self._load(x))" if identity
            else "_output(self._forward(self._load(x)), self._out)"))
    return "\n\n".join(parts)


def _decision_function(prog):
    scores = prog.scores
    width = "len(X)" if isinstance(scores, BinaryScores) else f"(len(X), {_last_width(prog)})"
    return ("def decision_function(X):\n"
            '    """Scores, as scikit-learn\'s decision_function (two classes: one column, (n,))."""\n'
            "    X = _validate(X)\n"
            f"    out = np.empty({width}, DTYPE)\n"
            "    for i, Xb, buf in _blocks(X):\n"
            "        Z = _forward(Xb, buf)\n"
            f"        out[i:i + len(Xb)] = {SCORES[type(scores)](scores)}\n"
            "    return out\n")


def _last_width(prog):
    return [op for op in prog.layers if isinstance(op, Gemm)][-1].n_out


def _decision_only(net, prog, k, load):
    """predict and decision_function of a classifier without probabilities, and its Model."""
    label = label_expr(prog)
    return ("def predict(X):\n"
            '    """Predicted labels, as scikit-learn\'s predict (from the decision function)."""\n'
            "    X = _validate(X)\n"
            "    out = np.empty(len(X), dtype=classes_.dtype)\n"
            "    for i, Xb, buf in _blocks(X):\n"
            "        Z = _forward(Xb, buf)\n"
            f"        out[i:i + len(Xb)] = {label}\n"
            "    return out\n\n\n"
            + _decision_function(prog) + "\n\n"
            + Template(MODEL_DECISION).substitute(width=k, label=label, **load,
                                                  scores=SCORES[type(prog.scores)](prog.scores)))


# A Model of a model with imputers: a row whose only values that are not finite are NaN in
# columns an imputer fills is taken as it is, without _validate (impute_indicator_clf's
# predict_proba of a row with a NaN: 18 instead of 33 us; 15 us without a NaN).
MODEL_FILLABLE_INIT = '''        self._fillable = np.empty(self._x.shape, bool)  # NaN that an imputer fills
'''
MODEL_FILLABLE = '''            np.logical_and(np.isnan(x, out=self._fillable), _NAN_OK, out=self._fillable)
            np.copyto(self._x, x)
            np.copyto(self._x, _ZERO, where=self._fillable)
            if self._flat.dot(self._zeros) == 0:  # finite once those NaN are 0
                return x
'''


def model_load(net, fillable):
    """The parts of the Model's _load: with text columns every row goes through _validate;
    with numbers only a row of DTYPE is taken as it is when it is finite, or (`fillable`:
    some column takes NaN) when its only values that are not are NaN in columns an imputer
    fills."""
    if net.vocab:
        return {"load_doc": MODEL_LOAD_TEXT_DOC, "fast": "", "check": MODEL_CHECK_TEXT,
                "fillable_init": ""}
    return {"load_doc": MODEL_LOAD_DOC, "fast": MODEL_FAST + (MODEL_FILLABLE if fillable else ""),
            "check": MODEL_CHECK, "fillable_init": MODEL_FILLABLE_INIT if fillable else ""}


BLOCKS = '''def _blocks(X):
    """(first row, rows, buffers) for consecutive blocks of at most BLOCK rows."""
    full = None
    for i in range(0, len(X), BLOCK):
        Xb = X[i:i + BLOCK]
        if len(Xb) == BLOCK:
            full = full or _buffers(BLOCK)
            yield i, Xb, full
        else:
            yield i, Xb, _buffers(len(Xb))
'''

MODEL_INIT = '''
    def __init__(self, rows=None):
        self.rows = rows
        shape = () if rows is None else (rows,)
        self._x = np.empty(shape + (n_features_in_,), DTYPE)
        self._flat = self._x.reshape(-1)
        self._zeros = np.zeros(self._flat.shape, DTYPE)
        self._row = self._x.shape if rows is None else None  # the shape taken as it is
$fillable_init        self._buf = _buffers(rows)
        self._forward = _bound(self._buf)
        self._out = np.empty(shape + ($width,), DTYPE)
'''

MODEL_LOAD = '''
    def _load(self, x):
        """$load_doc"""
$fast        x = np.asarray(x)
        if x.shape != self._x.shape:
            if x.shape == (1, n_features_in_) and self.rows is None:
                x = x[0]  # one row given as a 1 x n_features_in_ matrix
            else:
                raise ValueError(
                    f"this Model takes {'one row' if self.rows is None else f'{self.rows} rows'} "
                    f"of {n_features_in_} features, got an array of shape {x.shape}.")
$check        return self._x
'''
# _load's parts: numbers only (a row of DTYPE is read as it is; others are copied and
# checked), or with text columns (every row through _validate, which codes the strings:
# a number in a text column is an unknown category there, as in predict, never a code).
MODEL_LOAD_DOC = '''x checked, without allocating: x itself when it is one row of DTYPE (it is only
        read), else its copy in the Model's input buffer.'''
MODEL_FAST = '''        if type(x) is np.ndarray and x.dtype is self._x.dtype and x.shape == self._row:
            if x.dot(self._zeros) == 0:  # NaN exactly when a value is NaN or inf
                return x
'''
MODEL_CHECK = '''        if x.dtype.kind not in "biuf":
            x = _validate(x.reshape(-1, n_features_in_)).reshape(self._x.shape)
        np.copyto(self._x, x, casting="unsafe")
        if np.dot(self._flat, self._zeros) != 0:  # NaN exactly when a value is NaN or inf
            _validate(self._x.reshape(-1, n_features_in_))  # raises the precise error
'''
MODEL_LOAD_TEXT_DOC = '''x checked and its strings coded (_validate), in the Model's input buffer.'''
MODEL_CHECK_TEXT = '''        np.copyto(self._x, _validate(x.reshape(-1, n_features_in_)).reshape(self._x.shape))
'''

MODEL_REGRESSOR = '''class Model:
    """Allocation-free predictions for real-time loops. One Model per thread.

    m = Model()              # buffers for one sample (Model(rows=n): n at a time)
    y = m.predict(x)         # x: n_features_in_ values -> y: (n_outputs,) values;
                             # y is m's own buffer, overwritten by the next call
    """
''' + MODEL_INIT + '''$own_out        self._result = $result
''' + MODEL_LOAD + '''
    def predict(self, x):
        $predict
        return self._result
'''

MODEL_CLASSIFIER = '''class Model:
    """Allocation-free probabilities for real-time loops. One Model per thread.

    m = Model()              # buffers for one sample (Model(rows=n): n at a time)
    p = m.predict_proba(x)   # x: n_features_in_ values -> p: (n_classes,) values;
                             # p is m's own buffer, overwritten by the next call
    m.predict(x)             # labels, as scikit-learn's predict: shape (1,) for one
                             # sample (these allocate: they are objects of classes_)
    """
''' + MODEL_INIT + MODEL_LOAD + '''
    def predict_proba(self, x):
        return _proba(self._forward(self._load(x)), self._out, self._buf[-1])

    def predict(self, x):
        Z = self._forward(self._load(x))
        P = _proba(Z, self._out, self._buf[-1])
        if self.rows is None:  # one sample: labels of shape (1,), as scikit-learn's predict
            Z, P = Z[np.newaxis], P[np.newaxis]
        return $label
'''

MODEL_SCORES = '''
    def decision_function(self, x):
        """Scores, as scikit-learn's decision_function: a view of m's own buffer."""
        Z = self._forward(self._load(x))
        return $scores
'''

MODEL_DECISION = '''class Model:
    """Allocation-free scores for real-time loops. One Model per thread.

    m = Model()              # buffers for one sample (Model(rows=n): n at a time)
    d = m.decision_function(x)  # x: n_features_in_ values -> d: its scores (one value
                             # for two classes), a view of m's own buffer, overwritten
                             # by the next call
    m.predict(x)             # labels, as scikit-learn's predict: shape (1,) for one
                             # sample (these allocate: they are objects of classes_)
    """
''' + MODEL_INIT + MODEL_LOAD + '''
    def decision_function(self, x):
        Z = self._forward(self._load(x))
        return $scores

    def predict(self, x):
        Z = self._forward(self._load(x))
        if self.rows is None:  # one sample: labels of shape (1,), as scikit-learn's predict
            Z = Z[np.newaxis]
        return $label
'''


COLUMNS = '''def _column_name(j):
    """Column j of X as messages name it: its feature name, else its index."""
    names = globals().get("feature_names_in_")
    return repr(names[j]) if names is not None else str(j)


def _names_differ(unexpected, missing):
    """scikit-learn's message for columns that do not match feature_names_in_."""
    message = "The feature names should match those that were passed during fit.\\n"
    for title, names in (("Feature names unseen at fit time:", unexpected),
                         ("Feature names seen at fit time, yet now missing:", missing)):
        if names:
            message += title + "\\n" + "".join(f"- {n}\\n" for n in names[:5])
            message += "- ...\\n" if len(names) > 5 else ""
    if not unexpected and not missing:
        message += "Feature names must be in the same order as they were in fit.\\n"
    return ValueError(message)


def _columns(X):
    """X as scikit-learn's estimator takes it: a DataFrame (anything with .columns and
    .to_numpy) whose string column names must equal feature_names_in_, in order; a dict
    of columns, matched by name; otherwise an array in feature order."""
    names = globals().get("feature_names_in_")
    if isinstance(X, dict):
        if names is None:
            raise ValueError("X is a dict of columns, but $name was fitted without feature "
                             "names; pass a 2-D array in feature order.")
        unexpected = sorted(str(k) for k in X if k not in set(names))
        missing = sorted(n for n in names if n not in X)
        if unexpected or missing:
            raise _names_differ(unexpected, missing)
        cols = [np.asarray(X[n]).reshape(-1) for n in names]
        if all(c.dtype.kind in "biuf" for c in cols):
            return np.column_stack(cols)
        # text: each value as given (numpy would turn a None or NaN beside strings into text)
        return np.column_stack([np.asarray(X[n], dtype=object).reshape(-1) for n in names])
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "to_numpy"):
        return X
    given = list(columns)
    kinds = sorted({type(c).__name__ for c in given})
    if len(kinds) > 1 and "str" in kinds:  # scikit-learn's TypeError, whatever was fitted
        raise TypeError(
            "Feature names are only supported if all input features have string names, but "
            f"your input has {kinds} as feature name / column name types. If you want feature "
            "names to be stored and validated, you must convert them all to strings, by using "
            "X.columns = X.columns.astype(str) for example. Otherwise you can remove feature / "
            "column names from your input data, or convert them all to a non-string data type.")
    if names is not None and all(isinstance(c, str) for c in given) and given != list(names):
        raise _names_differ(sorted(set(given) - set(names)), sorted(set(names) - set(given)))
    A = X.to_numpy()
    dtypes = list(getattr(X, "dtypes", ()))
    nullable = [j for j, d in enumerate(dtypes)  # pandas' Float64, Int64, boolean: NA is NaN
                if not isinstance(d, np.dtype) and getattr(d, "kind", "") in "biuf"]
    if nullable:
        A = A.astype(object)
        for j in nullable:
            A[:, j] = X.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
        if len(nullable) == len(dtypes):
            A = A.astype(np.float64)
    return A
'''

VALIDATE = '''def _validate(X):
    """X as a 2-D array of finite reals with n_features_in_ columns, or ValueError."""
    X = $as_array
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
            f"X has {X.shape[1]} features, but $name is expecting {n_features_in_} "
            f"features as input.")
    if X.shape[0] == 0:
        raise ValueError(f"Found array with 0 sample(s) (shape={X.shape}); at least 1 is required.")
    with np.errstate(over="ignore"):  # values too large for DTYPE become inf: refused below
        X = X.astype(DTYPE, copy=False)
$finite_check        raise ValueError(f"Input X contains infinity or a value too large for {X.dtype!r}.")
    return X
'''

# _validate's check for values that are not finite: NaN nowhere, or only in the columns
# an imputer fills (_NAN_OK); then whatever is left that is not finite is an infinity.
VALIDATE_FINITE = '''    if not np.isfinite(X).all():
        if np.isnan(X).any():
            raise ValueError("Input X contains NaN.")
'''
VALIDATE_NAN = '''    if not np.isfinite(X).all():
        nan = np.isnan(X)
        refused = (nan & ~_NAN_OK).any(axis=0)
        if refused.any():  # NaN only where an imputer fills it
            j = int(np.argmax(refused))
            names = globals().get("feature_names_in_")
            column = repr(names[j]) if names is not None else f"{j} (0-based)"
            raise ValueError(f"Input X contains NaN in column {column}, which no imputer fills.")
    if not (np.isfinite(X) | np.isnan(X)).all():
'''

UNREAD = '''def _unread(X):
    """X with the columns no step reads (_UNREAD, left to a ColumnTransformer's
    remainder="drop") set to 0: they may hold anything (text, say), as scikit-learn
    ignores them."""
    X = X if isinstance(X, np.ndarray) else np.asarray(X, dtype=object)  # each value as given
    if X.ndim == 2 and X.shape[1] == n_features_in_ and X.dtype.kind not in "biuf":
        X = X.astype(object)
        X[:, _UNREAD] = 0.0
    return X
'''

NUMBERS = '''_CODES = {j: {w: float(i) for i, w in enumerate(words)} for j, words in _WORDS.items()}


def _numbers(X):
    """Rows with string columns -> numbers: a string becomes its position among the
    strings its column knows (_WORDS), -1 when unknown; the column's missing value (None in
    _NONE, else NaN) becomes NaN, the other one is unknown, as scikit-learn tells them apart."""
    X = np.asarray(X, dtype=object)
    if X.ndim != 2 or X.shape[1] != n_features_in_:
        return X  # _validate says what is wrong
    out = np.empty(X.shape, np.float64)
    for j in range(X.shape[1]):
        if j not in _CODES:
            try:
                out[:, j] = [np.nan if v is None else v for v in X[:, j]]
            except (TypeError, ValueError):
                raise ValueError(f"X must contain only real numbers in column {_column_name(j)}.") from None
            continue
        codes, none = _CODES[j], j in _NONE
        for i, v in enumerate(X[:, j]):
            nan = isinstance(v, float) and v != v
            if (v is None and none) or (nan and not none):
                out[i, j] = np.nan
            elif nan and j in _NO_NAN:
                raise ValueError(f"Input contains NaN in column {_column_name(j)}, whose missing "
                                 "value is None")
            elif isinstance(v, str) and v in codes:
                out[i, j] = codes[v]
            elif j in _STRICT:
                raise ValueError(f"Found unknown categories [{v!r}] in column {_column_name(j)} "
                                 "during transform")
            else:
                out[i, j] = -1.0
    return out
'''

LOOKUP = '''def _lookup(Z, column, values, codes, missing, unknown, error, source):
    """Z[..., column] -> codes[k] where it equals values[k]; NaN -> missing (None: NaN is
    unknown); other values -> unknown, or an error (handle_unknown="error")."""
    col = Z[..., column]
    hit = col[..., None] == values
    found = hit.any(axis=-1)
    nan = np.isnan(col)
    if error and not (found | (nan & (missing is not None))).all():
        v = np.atleast_1d(col)[~np.atleast_1d(found | (nan & (missing is not None)))][0]
        raise ValueError(f"Found unknown categories [{v.item()!r}] in column "
                         f"{column if source is None else _column_name(source)} during transform")
    out = np.where(found, codes[hit.argmax(axis=-1)], unknown)
    Z[..., column] = out if missing is None else np.where(nan, missing, out)
'''

SIGMOID = '''def _sigmoid(Z, out):
    """out = 1 / (1 + exp(-Z)), as scipy.special.expit (out may be Z itself)."""
    np.negative(Z, out=out)
    with np.errstate(over="ignore"):  # exp(-Z) overflows to inf: the result is 0
        np.exp(out, out=out)
    np.add(out, _ONE, out=out)
    np.divide(_ONE, out, out=out)
    return out
'''


def render(net, name, *, dtype="float64", **options) -> dict[str, bytes]:
    target_options(Options, options)  # nothing of its own to read; a misspelling is refused
    refuse_nul_labels(net, "numpy", "a .npz string array drops at the end", trailing_only=True)
    arrays = cast_arrays(net, dtype)
    stored = dict(arrays)
    classes, _ = classes_for_storage(net)
    if classes is not None:
        stored["classes"] = classes
    stored.update(net.strings())
    # One record for both files: NAME.py repeats its export_id, so a .py and an .npz
    # from different exports (a kill between renames, a hand copy) are told apart.
    meta = meta_record(net, name, dtype, arrays, options)
    stored["mlpexport_meta"] = np.array(json.dumps(meta))
    buf = io.BytesIO()
    np.savez(buf, **stored)
    code = render_module(net, name, dtype, arrays, meta)
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


def runner(directory, name, isolated=False, timeout=None):
    """X -> {"predict": ..., "predict_proba": ...} of NAME.py, imported once.

    isolated=False: imported into this process (exports mlpexport just wrote).
    isolated=True: run in a child process whose only accepted result is the arrays it
    returns (committed exports, which are untrusted code: see emit/sandbox.py); its
    failures are RuntimeFailed. `timeout` (seconds, isolated only) bounds the import and
    each call."""
    if isolated:
        return _isolated_runner(directory, name, timeout)
    module = load_module(directory, name)

    def run_rows(X):
        out = {"predict": module.predict(X)}
        if hasattr(module, "predict_proba"):
            out["predict_proba"] = module.predict_proba(X)
        if hasattr(module, "decision_function"):
            out["decision_function"] = module.decision_function(X)
        return out
    return run_rows


def _isolated_runner(directory, name, timeout):
    from . import sandbox

    path = os.path.join(directory, f"{name}.py")
    if not os.path.exists(path):
        raise ExportError(f"{path} does not exist.")
    from ..load import check_export_npz

    check_export_npz(os.path.join(directory, f"{name}.npz"))  # the loader's limits hold here too
    try:  # what the outputs must look like comes from the .npz, read as data
        with np.load(os.path.join(directory, f"{name}.npz"), allow_pickle=False) as w:
            meta = json.loads(str(w["mlpexport_meta"]))
        classes = meta.get("classes")
        width = max(int(meta["n_outputs"]), len(classes or ()), 2)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{name}.npz in {directory} is not a readable mlpexport export "
                          f"({type(exc).__name__}: {exc}).") from None
    known = ("predict", "predict_proba", "decision_function")
    expected = meta.get("outputs")
    if not (isinstance(expected, list) and "predict" in expected
            and all(isinstance(o, str) and o in known for o in expected)):
        # written before "outputs" was recorded (or not by mlpexport: then the run fails)
        expected = ("predict", "predict_proba") if classes is not None else ("predict",)
    return sandbox.IsolatedRunner(
        path, expected=tuple(expected),
        object_labels=meta.get("classes_kind") == "object", max_width=width,
        max_text=max((len(str(c)) for c in classes or ()), default=1), timeout=timeout)


def run(directory, name, X) -> dict[str, np.ndarray]:
    return runner(directory, name)(X)


_ASSIGNED = re.compile(r"^(FINGERPRINT|EXPORT_ID) = '([0-9a-f]*)'", re.MULTILINE)
_NAMES = re.compile(r"^feature_names_in_ = np\.array\((\[.*\]), dtype=object\)$", re.MULTILINE)


def stamp(directory, name) -> Stamp:
    """What NAME.npz records (fingerprint, dtype, weights digest) and whether NAME.py
    names the same model and the same export. Both files are read as data: nothing of a
    committed NAME.py runs here."""
    from ..load import check_export_file, check_export_npz
    from ..network import digest, label_form

    path = os.path.join(directory, f"{name}.npz")
    check_export_npz(path)  # the loader's limits, before numpy inflates anything
    check_export_file(os.path.join(directory, f"{name}.py"))
    try:
        with np.load(path, allow_pickle=False) as w:
            meta = json.loads(str(w["mlpexport_meta"]))
            arrays = {k: w[k] for k in w.files if k != "mlpexport_meta"}
        if "classes" in arrays:
            arrays["classes"] = label_form(arrays["classes"])
        with open(os.path.join(directory, f"{name}.py"), "rb") as f:
            module_text = f.read().decode("utf-8", errors="replace")
        fingerprint, dtype, stored_digest = meta["fingerprint"], meta["dtype"], meta["digest"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ExportError(f"{name}.py/.npz in {directory} is not a readable mlpexport export "
                          f"({type(exc).__name__}: {exc}).") from None
    names = _NAMES.search(module_text)  # what named input is matched against, read as data
    if names:
        try:
            arrays["feature_names"] = np.array([str(n) for n in ast.literal_eval(names.group(1))],
                                               dtype=object)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            arrays["feature_names"] = np.array(["(unreadable)"], dtype=object)
    assigned = dict(_ASSIGNED.findall(module_text))
    same_model = assigned.get("FINGERPRINT") == fingerprint
    # An export written before export ids existed has none in either file (None == None):
    # nothing to compare, and the fingerprint and digest checks still apply.
    same_export = assigned.get("EXPORT_ID") == meta.get("export_id")
    return Stamp(f"{name}.py/.npz", fingerprint if same_model else "mismatch",
                 digest(arrays) == stored_digest, dtype=str(dtype), same_export=same_export)
