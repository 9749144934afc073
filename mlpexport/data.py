"""Rows to check on: read from --data (.npy / .csv) or drawn from what the model knows."""
from __future__ import annotations

import csv
import os
import warnings

import numpy as np

from .errors import InputError
from .network import (Add, Apply, ClipTo, Div, FORWARD, Lookup, Mul, Network, Sub, Take,
                      _lookup, _run, encode_strings, unseen)

EXTREME = 1e3  # extreme rows sit this many spreads away from the inputs' centre


def npy_header(path):
    """(shape, dtype, offset) of a .npy file whose size matches what its header claims.

    The header is author-controlled: a file claiming 100,000 rows but holding 25 numbers
    would otherwise be read as uninitialised memory, and one claiming 10**12 rows would be
    read (or allocated) for ever. Only plain C-order arrays without objects pass."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:  # 3.0 exists only for structured dtypes with non-latin-1 field names
                raise InputError(f"{path} is .npy format {version[0]}.{version[1]}, which holds "
                                 "structured records; it must be a plain numeric array.")
        except (ValueError, EOFError) as exc:
            raise InputError(f"{path} is not a readable .npy file ({exc}).") from None
        offset = f.tell()
        size = os.fstat(f.fileno()).st_size
    if dtype.hasobject:
        raise InputError(f"{path} holds Python objects; it must be a plain numeric array.")
    if fortran and len(shape) > 1:
        raise InputError(f"{path} stores its array in Fortran (column-major) order; "
                         "save it in C order (np.ascontiguousarray) and try again.")
    expected = int(np.prod(shape, dtype=object)) * dtype.itemsize  # exact, never overflows
    if size - offset != expected:
        raise InputError(
            f"{path}: its header says {' × '.join(map(str, shape)) or 'a scalar'} {dtype} values "
            f"({expected} bytes) but the file holds {size - offset} bytes after the header; "
            "it is truncated or not a .npy file.")
    return shape, dtype, offset


class NpyRows:
    """The rows of a 2-D C-order .npy file, read on demand: X[a:b] reads just those rows.

    Unlike a memory map, rows already read do not stay in the process's memory, so a
    check over a file of any size runs in the memory of one chunk."""

    def __init__(self, path):
        self.path = path
        self.shape, self.dtype, self.offset = npy_header(path)
        self.ndim = len(self.shape)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, rows):
        start, stop, _ = rows.indices(self.shape[0])
        width = int(np.prod(self.shape[1:]))
        out = np.empty((max(stop - start, 0),) + self.shape[1:], self.dtype)
        view = memoryview(out).cast("B")
        with open(self.path, "rb") as f:
            f.seek(self.offset + start * width * self.dtype.itemsize)
            got = f.readinto(view)
        if got != len(view):  # the file shrank after its size was checked
            raise InputError(f"{self.path} became shorter while it was being read.")
        return out


def _finite(X, nan_ok):
    """Per column: no infinity, and no NaN unless nan_ok says an imputer fills it there."""
    ok = np.isfinite(X)
    if nan_ok is not None and X.ndim == 2 and X.shape[1] == len(nan_ok):  # else: width refused later
        ok |= np.isnan(X) & np.asarray(nan_ok, dtype=bool)
    return ok.all(axis=0)


def read_data(path: str, n_features: int | None = None, *, stream: bool = False,
              feature_names=None, nan_ok=None, strings=()):
    """A 2-D float array from a .npy, .csv or .parquet file (numeric, optional header row;
    with the model's feature_names a CSV header or a Parquet file's column names pick the
    columns by name, see csv_rows).

    stream: a .npy file is not read at once but row range by row range (NpyRows);
    NaN and infinity are then checked chunk by chunk by whoever reads it.
    strings: the columns (in the model's order) that hold text; then the rows come back
    as a 2-D object array, text as str and an empty cell as None (CSV, Parquet only)."""
    ext = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such data file.")
    if ext not in (".npy", ".csv", ".parquet"):
        raise InputError(f"{path}: data must be a .npy, .csv or .parquet file.")
    if ext == ".csv":
        return _check_rows(path, csv_rows(path, feature_names, nan_ok=nan_ok, strings=strings),
                           n_features)
    if ext == ".parquet":
        return _check_rows(path, parquet_rows(path, feature_names, nan_ok=nan_ok, strings=strings),
                           n_features)
    if strings:
        raise InputError(f"{path}: this model reads text columns; pass the data as .csv or "
                         ".parquet (a .npy file holds numbers only).")
    X = NpyRows(path)  # validates the header against the file size first
    if X.dtype.kind not in "biuf":
        raise InputError(f"{path} holds {X.dtype} values; it must be numeric (not complex, "
                         "text or records).")
    _check_rows(path, X, n_features)
    if stream:
        return X
    try:
        X = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path} is not a readable .npy file ({type(exc).__name__}: {exc}).") from None
    finite = _finite(X, nan_ok)
    if not finite.all():
        raise InputError(f"{path}: column {int(np.argmin(finite)) + 1} contains NaN or infinite values.")
    return X


def _check_rows(path, X, n_features):
    if X.ndim != 2:
        raise InputError(f"{path} holds a {X.ndim}-D array of shape {tuple(X.shape)}; it must be 2-D.")
    if X.shape[0] == 0:
        raise InputError(f"{path} has no rows.")
    if X.shape[1] == 0:
        raise InputError(f"{path} has no columns.")
    if n_features is not None and X.shape[1] != n_features:
        raise InputError(
            f"{path} has {X.shape[1]} columns but the model expects {n_features} features.")
    return X


def read_csv(path: str):
    """(line numbers, rows of stripped cells) of a CSV file, quoted fields and all.

    The one CSV reader of mlpexport (check --data and train both use it). Blank lines are
    skipped (a line of separators only, ",,,", is a row of empty cells: missing values);
    every row must have as many fields as the first."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such data file.")
    lines, rows = [], []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            for row in reader:
                if len(row) > 1 or (row and row[0].strip()):
                    lines.append(reader.line_num)
                    rows.append([c.strip() for c in row])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path} is not a readable CSV text file ({exc}).") from None
    if not rows:
        raise InputError(f"{path} is empty.")
    for line, row in zip(lines, rows):
        if len(row) != len(rows[0]):
            raise InputError(f"{path} line {line} has {len(row)} fields; line {lines[0]} has "
                             f"{len(rows[0])}.")
    return lines, rows


def parse_numbers(rows):
    """Rows of text cells -> (2-D float64 array, None), or (None, (row, column) of the first
    cell that is not a number).

    Numbers are what numpy's own text parser (np.loadtxt) reads: unlike Python's float() it
    refuses '1_000'; 'nan' and 'inf' parse (callers refuse non-finite values by name).
    Cells are joined with a control character no number contains, one line per row."""
    width = len(rows[0]) if rows else 0
    if width == 0:  # no number columns (every feature is text): nothing to parse
        return np.empty((len(rows), 0)), None
    lines = ["\x1f".join(row) for row in rows]
    values = _loadtxt(lines, width)
    if values is not None:
        return values, None
    lo, hi = 0, len(rows)  # the first bad row lies in rows[lo:hi]: halve that range
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _loadtxt(lines[lo:mid], width) is None:
            hi = mid
        else:
            lo = mid
    column = next(j for j, c in enumerate(rows[lo]) if _loadtxt([c], 1) is None)
    return None, (lo, column)


def _loadtxt(lines, width):
    """The numbers of these lines, or None where any cell is not one. An empty cell, a line
    break inside a quoted cell or a cell holding the separator would shift rows or columns;
    the shape check catches each."""
    if any("\n" in line or "\r" in line for line in lines):
        return None
    try:
        with warnings.catch_warnings():  # "input contained no data": the shape check says so
            warnings.simplefilter("ignore", UserWarning)
            values = np.loadtxt(lines, dtype=np.float64, delimiter="\x1f", comments=None,
                                quotechar=None, ndmin=2)
    except ValueError:
        return None
    return values if values.shape == (len(lines), width) else None


class DataNote(UserWarning):
    """Something the user should know about their data file (e.g. columns ignored)."""


def csv_rows(path: str, feature_names=None, *, nan_ok=None, strings=()) -> np.ndarray:
    """The numbers of a CSV file for check --data: a first row that is not all numbers is a
    header (named in errors about its columns). With the model's `feature_names` and a
    header, the columns are picked by name, in the model's order, as scikit-learn matches
    a DataFrame: a missing feature is an error, other columns (ids, targets) are ignored
    with a DataNote. Without a header, the columns are the features in order. An empty
    cell is a missing value: NaN in a number column (refused where no imputer fills it),
    None in a text column (`strings`: their positions among the features)."""
    lines, rows = read_csv(path)
    header = None
    text = set(strings)
    # a first row whose number cells are not all numbers is a header; the file of a model
    # with text columns and feature names always has one (its columns are matched by name)
    first = [c or "nan" for j, c in enumerate(rows[0]) if j not in text]
    if parse_numbers([first])[1] is not None or (text and feature_names):
        header, lines, rows = rows[0], lines[1:], rows[1:]
        if not rows:
            raise InputError(f"{path} has a header row but no rows.")
    if header is not None and feature_names is not None:
        header, rows = _by_name(path, header, rows, list(feature_names))
    width = len(rows[0])
    numbers = [j for j in range(width) if j not in text]
    X, bad = parse_numbers([[row[j] or "nan" for j in numbers] for row in rows])
    if bad is not None:
        i, j = bad
        raise InputError(f"{path} line {lines[i]}: {rows[i][numbers[j]]!r} is not a number.")
    fills = np.asarray(nan_ok)[numbers] if nan_ok is not None and len(nan_ok) == width else None
    finite = _finite(X, fills)  # a width that is not the model's is refused later
    if not finite.all():
        j = numbers[int(np.argmin(finite))]
        name = repr(header[j]) if header else str(j + 1)
        raise InputError(f"{path}: column {name} contains NaN or infinite values.")
    if not text:
        return X
    mixed = np.empty((len(rows), width), dtype=object)
    mixed[:, numbers] = X
    for j in sorted(text):
        mixed[:, j] = [row[j] if row[j] else None for row in rows]
    return mixed


def parquet_rows(path: str, feature_names=None, *, nan_ok=None, strings=()) -> np.ndarray:
    """The numbers of a Parquet file (pyarrow reads it): columns picked by the model's
    feature names as for a CSV header, else all columns in order."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading .parquet needs pyarrow (pip install pyarrow), "
                         "or pass .csv or .npy.") from None
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path} is not a readable Parquet file ({type(exc).__name__}: {exc}).") from None
    names = table.column_names
    picked = match_columns(path, names, feature_names) if feature_names is not None else range(len(names))
    import pyarrow as pa
    for j in picked:
        if pa.types.is_temporal(table.column(j).type):
            raise InputError(f"{path}: column {names[j]!r} holds {table.column(j).type} values, "
                             "not numbers; convert them to numbers first.")
    if strings:
        mixed = np.empty((table.num_rows, len(picked)), dtype=object)
        for k, j in enumerate(picked):
            values = table.column(j).to_pylist()
            mixed[:, k] = [None if v is None or v == "" else v for v in values] if k in strings \
                else [np.nan if v is None else v for v in values]
        return mixed
    columns = []
    for j in picked:
        column = table.column(j)
        try:
            columns.append(np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64))
        except (TypeError, ValueError):
            raise InputError(f"{path}: column {names[j]!r} is not numeric ({column.type}).") from None
    X = np.stack(columns, axis=1) if columns else np.empty((table.num_rows, 0))
    finite = _finite(X, nan_ok)
    if not finite.all():
        j = int(np.argmin(finite))
        raise InputError(f"{path}: column {names[list(picked)[j]]!r} contains NaN or infinite values.")
    return X


def _by_name(path, header, rows, names):
    """(names, rows) with the cells of the named columns, in the model's order."""
    at = match_columns(path, header, names)
    return names, [[row[j] for j in at] for row in rows]


def match_columns(where: str, columns, names) -> list[int]:
    """Positions of the model's feature `names` among `columns` (a CSV header, a
    DataFrame's columns), as scikit-learn matches a DataFrame: a missing or doubled
    feature is an InputError naming it; other columns (ids, targets) are ignored with a
    DataNote."""
    columns, names = [str(c) for c in columns], list(names)
    duplicated = sorted({c for c in columns if columns.count(c) > 1 and c in names})
    if duplicated:
        raise InputError(f"{where} has more than one column named {', '.join(map(repr, duplicated))}.")
    missing = [n for n in names if n not in columns]
    if missing:
        raise InputError(f"{where} has no column {', '.join(map(repr, missing))}, which the model "
                         f"was fitted on (its columns: {', '.join(columns)}).")
    ignored = [c for c in columns if c not in names]
    if ignored:
        warnings.warn(f"{where}: columns {', '.join(map(repr, ignored))} are not features of the "
                      f"model and were ignored; the others were matched by name.", DataNote,
                      stacklevel=4)
    return [columns.index(n) for n in names]


def draw_rows(net: Network, n: int = 256, seed: int = 0) -> np.ndarray:
    """In-distribution rows (from the first scaler's statistics when there is one),
    a row of zeros, and extreme rows far outside the training range (exp, logistic
    and softmax overflow there)."""
    rng = np.random.default_rng(seed)
    f = net.n_features
    loc = net.input_loc if net.input_loc is not None else np.zeros(f)
    spread = net.input_spread if net.input_spread is not None else np.ones(f)
    typical = loc + spread * rng.standard_normal((n, f))
    signs = rng.choice([-1.0, 1.0], size=(16, f))
    corners = loc + EXTREME * spread * signs
    axes = np.repeat(loc[None, :], 2 * min(f, 16), axis=0)
    for i in range(min(f, 16)):
        axes[2 * i, i] += EXTREME * spread[i]
        axes[2 * i + 1, i] -= EXTREME * spread[i]
    X = np.vstack([typical, np.zeros((1, f)), loc[None, :], corners, axes])
    funcs = any(isinstance(op, Apply) for op in net.program().inputs)
    if funcs:  # a FunctionTransformer: every drawn value inside its function's domain
        X = _into_domain(X, *raw_domain(net))
    if net.categories or net.vocab:
        X = _categorical_rows(net, X, rng)
    if funcs:
        X = X[np.flatnonzero(domain_ok(net, X))]
    return X


# Where each FunctionTransformer function gives a finite number (closed bounds, inside the
# open ones: log(1e-300) is finite), and how a bound on its output maps back to its input.
_BIG = 700.0  # exp(700) is finite; exp(710) is not
DOMAIN = {"log": (1e-300, np.inf), "sqrt": (0.0, np.inf), "log1p": (-1 + 1e-15, np.inf),
          "exp": (-np.inf, _BIG), "expm1": (-np.inf, _BIG), "square": (-1e150, 1e150)}


def _inverse_bounds(fn, lo, hi):
    """The inputs x of fn (in its domain) with lo <= fn(x) <= hi, as an interval."""
    with np.errstate(all="ignore"):
        if fn == "log":
            lo, hi = np.exp(lo), np.exp(hi)
        elif fn == "log1p":
            lo, hi = np.expm1(lo), np.expm1(hi)
        elif fn == "sqrt":
            lo, hi = np.where(lo > 0, np.square(lo), -np.inf), np.where(hi >= 0, np.square(hi), -1.0)
        elif fn == "exp":
            lo, hi = (np.where(lo > 0, np.log(np.maximum(lo, 1e-300)), -np.inf),
                      np.where(hi > 0, np.log(np.maximum(hi, 1e-300)), -np.inf))
        elif fn == "expm1":
            lo, hi = (np.where(lo > -1, np.log1p(np.maximum(lo, -1 + 1e-15)), -np.inf),
                      np.where(hi > -1, np.log1p(np.maximum(hi, -1 + 1e-15)), -np.inf))
        else:  # square: |x| <= sqrt(hi) (a lower bound on x * x is no interval: left to the filter)
            r = np.sqrt(np.maximum(hi, 0.0))
            lo, hi = -r, r
    d_lo, d_hi = DOMAIN[fn]
    return np.maximum(lo, d_lo), np.minimum(hi, d_hi)


def raw_domain(net: Network):
    """(lo, hi) per input column: raw values inside these bounds keep every elementwise
    function of the input steps (FunctionTransformer) inside its domain, found by walking
    the input ops backwards from the first layer. Steps that are not elementwise (codes,
    polynomial terms) end the walk: what they read is left unbounded (domain_ok catches
    the rest)."""
    ops = net.program().inputs
    arrays = net.arrays()
    widths = [net.n_features]
    for op in ops:  # the width before each op
        widths.append(len(op.indices) if isinstance(op, Take) else
                      op.n_out if hasattr(op, "n_out") else widths[-1])
    lo, hi = np.full(widths[-1], -np.inf), np.full(widths[-1], np.inf)
    for op, width in zip(reversed(ops), reversed(widths[:-1])):
        with np.errstate(all="ignore"):
            if isinstance(op, Apply):
                start, stop = op.cols if op.cols is not None else (0, width)
                lo[start:stop], hi[start:stop] = _inverse_bounds(op.fn, lo[start:stop], hi[start:stop])
            elif isinstance(op, (Sub, Add)):
                a = arrays[op.array] * (1 if isinstance(op, Sub) else -1)
                lo, hi = lo + a, hi + a
            elif isinstance(op, (Mul, Div)):
                a = arrays[op.array]
                zero = a == 0  # multiplied by 0: any value gives the same 0
                a = a if isinstance(op, Div) else 1 / np.where(zero, 1.0, a)
                lo, hi = np.minimum(lo * a, hi * a), np.maximum(lo * a, hi * a)
                lo, hi = np.where(zero | np.isnan(lo), -np.inf, lo), np.where(zero | np.isnan(hi), np.inf, hi)
            elif isinstance(op, ClipTo):
                low, high = float(arrays[op.low]), float(arrays[op.high])
                lo = np.where(lo <= low, -np.inf, lo)
                hi = np.where(hi >= high, np.inf, hi)
            elif isinstance(op, Take):
                new_lo, new_hi = np.full(width, -np.inf), np.full(width, np.inf)
                for k, j in enumerate(op.indices):
                    new_lo[j], new_hi[j] = max(new_lo[j], lo[k]), min(new_hi[j], hi[k])
                lo, hi = new_lo, new_hi
            elif isinstance(op, Lookup):  # codes: the column's categories are drawn apart
                lo, hi = lo.copy(), hi.copy()
                lo[op.column], hi[op.column] = -np.inf, np.inf
            elif op.__class__.__name__ in ("FillNaN", "MarkNaN"):
                continue  # a finite value passes unchanged (MarkNaN's 0/1 are in any domain)
            else:  # PolyTerms, Equal: not walked back
                lo, hi = np.full(width, -np.inf), np.full(width, np.inf)
    empty = lo > hi
    lo[empty], hi[empty] = -np.inf, np.inf  # no value fits: left to domain_ok
    return lo, hi


def _into_domain(X, lo, hi):
    """Drawn values outside [lo, hi] reflected into it (a value below lo at distance d
    lands at lo + d), then clipped: the spread of the draw is kept where the domain allows."""
    X = np.where(X < lo, lo + (lo - X), X)
    X = np.where(X > hi, hi - (X - hi), X)
    return np.clip(X, lo, hi)


def domain_ok(net: Network, X) -> np.ndarray:
    """Per row: whether every value the input steps give the first layer is finite or
    NaN where NaN is allowed, i.e. scikit-learn's model accepts the row (a function
    outside its domain gives NaN or inf, which scikit-learn's predict refuses)."""
    Z = encode_strings(net, X)
    forward = FORWARD | {Lookup: lambda op, a, Z: _lookup(op, a, Z, strict=False)}
    with np.errstate(all="ignore"):
        out = _run(net.program().inputs, net.arrays(), Z, forward)
    return np.isfinite(out).all(axis=1)


def rows_as_records(X) -> np.ndarray:
    """Rows with text columns (a 2-D object array) as records a .npy/.npz holds without
    pickle: (number, text, kind); numeric rows pass unchanged. rows_from_records undoes it."""
    X = np.asarray(X)
    if X.dtype != object:
        return X
    kind = np.zeros(X.shape, np.int8)
    number = np.full(X.shape, np.nan)
    text = np.full(X.shape, "", dtype=object)
    for index, v in np.ndenumerate(X):
        if v is None:
            kind[index] = 2
        elif isinstance(v, str):
            kind[index], text[index] = 1, v
        else:
            number[index] = v
    width = max((len(t) for t in text.ravel()), default=1) or 1
    out = np.empty(X.shape, dtype=[("number", "f8"), ("text", f"U{width}"), ("kind", "i1")])
    out["number"], out["text"], out["kind"] = number, text.astype(str), kind
    return out


def rows_from_records(R) -> np.ndarray:
    """The object rows rows_as_records stored (anything else passes unchanged)."""
    if R.dtype.names != ("number", "text", "kind"):
        return R
    rows = R["number"].astype(object)
    rows[R["kind"] == 1] = R["text"][R["kind"] == 1]
    rows[R["kind"] == 2] = None
    return rows


UNSEEN = "(a category never seen in training)"  # drawn where an unknown category is allowed


def _categorical_rows(net: Network, X, rng):
    """Drawn rows where categorical columns hold their known categories (text columns as
    str), plus one row per column with a missing value where the model takes one and one
    with an unseen category where that is not an error (as in scikit-learn)."""
    rows = X.astype(object)
    categories = dict(net.categories)
    for j, values in categories.items():
        rows[:, j] = [values[k] for k in rng.integers(0, len(values), len(rows))]
    nan_ok, unknown_ok = net.nan_columns(), net.unknown_columns()
    extra = []
    text = {c.column: c for c in net.vocab}
    for j in categories:
        if nan_ok[j]:  # the column's missing value: None or NaN, as the model knows it
            extra.append((j, text[j].missing_value() if j in text else np.nan))
        if unknown_ok[j]:
            extra.append((j, UNSEEN if j in net.string_columns() else unseen(categories[j])))
    more = np.repeat(rows[:1], len(extra), axis=0)
    for i, (j, value) in enumerate(extra):
        more[i, j] = value
    rows = np.vstack([rows, more])
    return rows if net.vocab else rows.astype(np.float64)
