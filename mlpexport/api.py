"""The Python API: convert, check and inspect a model held in memory or saved in a file.

    >>> import mlpexport
    >>> report = mlpexport.convert(model, "exports/", to="numpy,onnx")
    >>> report.passed, report.files
    (True, ['exports/model.py', 'exports/model.npz', 'exports/model.onnx'])
    >>> mlpexport.check("model.skops", against="exports/", name="model").passed
    True

`model` is a fitted estimator object (trusted: you already hold it) or the path of a
model file (.skops, .pkl, .pickle, .sav, .joblib), which goes through mlpexport's safe
loader exactly as on the command line. `data` is a 2-D array, a DataFrame (matched to the
model's feature names by name when it has them) or a .npy/.csv file path.

Errors are the typed exceptions of `mlpexport.errors` that the command line maps to exit
code 2 (UsageError, UnsafeModelError, UnsupportedModelError, DataError, ...). A
disagreement is not an exception: it is a Report whose `passed` is False (exit code 1).

This module imports nothing heavy at import time (`import mlpexport` stays fast); numpy,
scikit-learn and the targets' libraries are imported by the calls that need them.
"""
from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass, field

from .errors import DataError, RuntimeFailed, UsageError

# Target options the targets' render() understands; render() accepts **_options and would
# silently ignore a misspelt one, so names are checked here.


@dataclass
class _Model:
    est: object
    net: object
    path: str | None  # None: an estimator object
    label: str  # how reports name it: the file path, or the estimator's description
    saved_version: str | None = None  # the scikit-learn that wrote the file, when it differs


@dataclass
class _Rows:
    X: object
    source: str
    notes: list = field(default_factory=list)
    given: object = None  # check.Given: the caller's DataFrame, which scikit-learn is fed


def _quiet(_text):
    pass


def _is_path(model) -> bool:
    return isinstance(model, (str, bytes, os.PathLike))


def _load(model, *, trust_pickle: bool, note=_quiet) -> _Model:
    from .extract import describe, extract

    if _is_path(model):
        from .load import load

        path = os.fsdecode(model)
        loaded = load(path, trust_pickle=trust_pickle)
        net = extract(loaded.estimator, saved_version=loaded.saved_version,
                      model_file=_text_name(os.path.basename(path)))
        if loaded.saved_version:
            import sklearn

            from .emit import plain
            note(f"{path} was written by scikit-learn {plain(loaded.saved_version, 40)} and "
                 f"is loaded with {sklearn.__version__}.")
        if loaded.note:  # which older versions' names the file used (our own words)
            note(loaded.note)
        return _Model(loaded.estimator, net, path, path, loaded.saved_version)
    if isinstance(model, type):
        raise UsageError(f"model is the class {model.__name__}; pass a fitted instance of it "
                         f"(or the path of a model file).")
    if not hasattr(model, "predict"):
        raise UsageError(f"model must be a fitted scikit-learn estimator or the path of a model "
                         f"file, not {type(model).__name__}.")
    net = extract(model)
    return _Model(model, net, None, describe(model))


def _text_name(name: str) -> str:
    """A file name as text every export can store (ONNX metadata and MATLAB strings are
    UTF-8): bytes that are not UTF-8 (a Linux file name may hold any) kept visible as
    \\xNN escapes instead of the surrogates Python decodes them to."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _versions(report, m: _Model):
    """The proof is against the installed scikit-learn: every report names it, and the
    version that wrote the model file when that differs."""
    import sklearn

    from .emit import plain
    report.sklearn_version = sklearn.__version__
    report.written_by = plain(m.saved_version, 40) if m.saved_version else ""


def _name(model, name, targets, note=_quiet) -> str:
    """NAME: checked when given; else the model file's stem made an identifier, or
    "model" for an estimator object."""
    from .emit import check_name, default_name

    if name is not None:
        return check_name(name, targets)
    if not _is_path(model):
        return "model"
    path = os.fsdecode(model)
    chosen = default_name(path, targets)
    if chosen != os.path.splitext(os.path.basename(path))[0]:
        note(f"the exports are named {chosen} (from {path}); --name chooses another.")
    return chosen


def _typed(*, to=None, name=None, rtol=None, atol=None, outdir=False):
    """The API's arguments of the wrong type: a UsageError naming the argument (the
    command line's parser never passes them; a caller of the API can)."""
    import numbers

    if to is not None and not isinstance(to, str):
        raise UsageError(f"to must be a string such as 'numpy,onnx' or 'all', not "
                         f"{type(to).__name__} {to!r}."[:200])
    if name is not None and not isinstance(name, str):
        raise UsageError(f"name must be a string (an identifier), not {type(name).__name__}.")
    for flag, value in (("rtol", rtol), ("atol", atol)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise UsageError(f"{flag} must be a number >= 0, not {type(value).__name__} {value!r}."[:200])
    if outdir is not False and not isinstance(outdir, (str, bytes, os.PathLike)):
        raise UsageError(f"outdir must be a directory path, not {type(outdir).__name__}.")


def _target_options(options: dict) -> dict:
    """The user's target options, every one the registered targets declare given (so
    the export id does not depend on which defaults were spelled out)."""
    import dataclasses

    from .emit import COMMON_OPTIONS, known_options, target

    known = known_options()
    names = sorted(set(known) - set(COMMON_OPTIONS))  # golden is convert's own
    unknown = sorted(set(options) - set(names))
    if unknown:
        raise UsageError(f"unknown target option {', '.join(unknown)}; the options are "
                         f"{', '.join(names)}.")
    defaults = {f.name: f.default for k in names for f in dataclasses.fields(target(known[k]).Options)}
    out = {}
    for k in names:
        if k in _ALWAYS:  # export ids have always carried these switches
            out[k] = bool(options.get(k, False))
        elif options.get(k, defaults[k]) != defaults[k]:  # newer ones only when not the
            value = options[k]  # default, so that adding an option changes no export id
            out[k] = bool(value) if isinstance(defaults[k], bool) else value
    return out


_ALWAYS = ("matlab_inline", "matlab_verify", "onnx_no_label")


def _named(to, targets) -> tuple:
    """Targets the user named explicitly (not "all"): their committed files must exist."""
    return tuple(t for t in targets if to is not None and str(to).strip() != "all")


def _required(to, targets) -> tuple:
    """Targets whose runtime must be present: named explicitly, or those whose target
    module's REQUIRE_ENV variable is "1" (CI sets MLPEXPORT_REQUIRE_OCTAVE and
    MLPEXPORT_REQUIRE_CC). Others are SKIP when their runtime is missing."""
    from . import emit

    explicit = list(_named(to, targets))
    for t in targets:
        env = getattr(emit.target(t), "REQUIRE_ENV", None)
        if env and os.environ.get(env) == "1" and t not in explicit:
            explicit.append(t)
    return tuple(explicit)


def _numbers_only(net, targets, to, note, done, dtype="float64"):
    """The targets without C for a model the C target refuses (text columns, scratch rows
    over its stack limit), unless the user named it (then that refusal is the error)."""
    if "c" in targets and "c" not in _named(to, targets):
        if net.vocab:
            note(f"c: not {done}: the C target takes numbers only, and this model reads text "
                 "columns.")
            return [t for t in targets if t != "c"]
        from .emit import c as c_target
        why = c_target.refusal(net, dtype)
        if why:
            note(f"c: not {done}: {why.removesuffix('; export it with --to numpy, onnx or matlab.')}.")
            return [t for t in targets if t != "c"]
    return targets


def drawn_source(net, n) -> str:
    """Where drawn rows came from. Without a scaler in front nothing in the model says
    where its inputs live (docs/drawn_scale_study.md: the first layer does not tell), so
    the rows are N(0, 1) and the report says so."""
    if net.input_loc is None and not net.vocab and not net.categories:
        return f"{n} drawn rows, N(0, 1): no scaler says where your inputs live (pass --data for your own)"
    return f"{n} drawn rows (pass --data for your own)"


def _known(net, X):
    """X with every text value made known, so that encode_strings checks numbers only (an
    unknown category is scikit-learn's and the exports' business, not a data error)."""
    import numpy as np

    from .network import is_missing

    X = X.copy()
    for c in net.vocab:
        col = X[:, c.column]
        # text, and None or NaN where it is not the column's missing value: a category
        known = np.array([isinstance(v, str) or (is_missing(v) and (v is None) != (c.missing == "none")
                                                 and not (v is not None and c.refuse_nan))
                          for v in col], dtype=bool)
        col[known] = c.words[0]
    return X


def _unread_as_nan(X, net):
    """X with the columns no step reads (remainder="drop") as NaN, whatever they hold
    (text, say): scikit-learn ignores them, and every export takes NaN there."""
    import numpy as np

    if X.dtype.kind in "biuf" or X.ndim != 2 or X.shape[1] != net.n_features:
        return X
    unread = net.unread_columns()
    if not unread.any():
        return X
    X = X.astype(object)
    X[:, unread] = np.nan
    return X


def _file_missing(X, net):
    """A file's empty text cells (None) as the missing value each text column takes (None
    or NaN, as the model knows it): a file has one way to say missing, scikit-learn two."""
    for c in net.vocab:
        if c.missing != "none" and len(X):
            col = X[:, c.column]
            col[[v is None for v in col]] = float("nan")
    return X


def _text_rows(X, net, where):
    """Rows of a model with text columns (a 2-D object array in feature order), checked as
    scikit-learn and the exports will read them: rows and columns there, numbers where the
    model reads numbers, NaN only where it is handled, and no category an encoder refuses
    (handle_unknown="error": scikit-learn raises for that row, so nothing can be compared)."""
    import numpy as np

    from .network import encode_strings
    names = net.meta.get("feature_names")
    if X.shape[0] == 0:
        raise DataError(f"{where}: no rows.")
    if X.shape[1] != net.n_features:
        raise DataError(f"{where}: {X.shape[1]} columns but the model expects {net.n_features} features.")
    try:
        codes = encode_strings(net, _known(net, X))
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where} cannot be read as the model's columns ({exc}).") from None
    finite = (np.isfinite(codes) | (np.isnan(codes) & net.nan_columns())).all(axis=0)
    if not finite.all():
        j = int(np.argmin(finite))
        raise DataError(f"{where}: column {repr(names[j]) if names else j + 1} contains NaN or "
                        "infinite values where the model takes none.")
    try:
        if any(c.error for c in net.vocab):  # the codes again, now with unknown text refused
            encode_strings(net, X)
    except ValueError as exc:  # a category where the encoder has handle_unknown="error"
        raise DataError(f"{where}: {exc}; the model's encoder refuses categories it has not "
                        "seen, as scikit-learn does.") from None
    return X


def _by_name(data, net):
    """A DataFrame's columns in the model's feature order, matched by name (as
    data.csv_rows matches a CSV header); None when the model or the data have no names."""
    names = net.meta.get("feature_names")
    columns = getattr(data, "columns", None)
    if not names or columns is None:
        return None
    from .data import match_columns
    at = match_columns("the data", columns, names)
    return data[[list(columns)[j] for j in at]]


def _frame_values(frame):
    """A DataFrame's values, pandas' nullable columns (Float64, Int64, boolean) as float64
    with NaN for NA, as scikit-learn reads them."""
    import numpy as np

    values = frame.to_numpy()
    nullable = [j for j, d in enumerate(frame.dtypes)
                if not isinstance(d, np.dtype) and getattr(d, "kind", "") in "biuf"]
    if nullable:
        values = values.astype(object)
        for j in nullable:
            values[:, j] = frame.iloc[:, j].to_numpy(dtype=np.float64, na_value=np.nan)
        if len(nullable) == frame.shape[1]:
            values = values.astype(np.float64)
    return values


def _array(data, net):
    """Rows of an array-like (numpy array, DataFrame, nested lists) as a 2-D float64 array.
    A DataFrame is matched to the model's feature names by name when the model has them."""
    import numpy as np

    names = net.meta.get("feature_names")
    kinds = sorted({type(c).__name__ for c in getattr(data, "columns", ())})
    if len(kinds) > 1 and "str" in kinds:
        raise DataError(f"the data's column names are of types {kinds}; scikit-learn raises "
                        "TypeError for names that are not all strings (X.columns.astype(str)).")
    frame = _by_name(data, net)
    data = data if frame is None else frame
    if hasattr(data, "to_numpy") and hasattr(data, "dtypes"):
        data = _frame_values(data)
    elif hasattr(data, "to_numpy"):
        data = data.to_numpy()
    elif hasattr(data, "values") and not callable(data.values):
        data = data.values
    try:
        X = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise DataError(f"the data cannot be read as a 2-D array of numbers ({exc}).") from None
    if X.ndim != 2:
        raise DataError(f"the data are a {X.ndim}-D array of shape {X.shape}; they must be 2-D "
                        f"(rows x {net.n_features} features), e.g. X.reshape(-1, {net.n_features}).")
    X = _unread_as_nan(X, net)
    if net.vocab:  # text columns: kept as objects; the numbers are checked through their codes
        return _text_rows(np.asarray(X, dtype=object), net, "the data")
    if X.dtype.kind not in "biuf":
        if X.dtype.kind == "c":
            raise DataError("the data are complex numbers; they must be real.")
        if X.dtype.kind in "mM":
            raise DataError(f"the data hold {X.dtype} values (dates or times), not numbers; "
                            "convert them to numbers first.")
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"the data hold {X.dtype} values that are not numbers.") from None
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.shape[0] == 0:
        raise DataError("the data have no rows.")
    if X.shape[1] != net.n_features:
        raise DataError(f"the data have {X.shape[1]} columns but the model expects "
                        f"{net.n_features} features.")
    finite = (np.isfinite(X) | (np.isnan(X) & net.nan_columns())).all(axis=0)  # imputed: NaN ok
    if not finite.all():
        j = int(np.argmin(finite))
        raise DataError(f"column {repr(names[j]) if names else j + 1} of the data contains NaN "
                        f"or infinite values.")
    return X


def _rows(data, net, *, stream=False, drawn=None) -> _Rows:
    """The rows a check or an inspection runs on, and where they came from."""
    import numpy as np

    from .data import draw_rows, read_data

    if data is None:
        X = draw_rows(net) if drawn is None else drawn
        return _Rows(X, drawn_source(net, len(X)))
    if _is_path(data):
        path = os.fsdecode(data)
        unread = [int(j) for j in np.flatnonzero(net.unread_columns())]
        X = read_data(path, net.n_features, stream=stream,
                      feature_names=net.meta.get("feature_names"), nan_ok=net.nan_columns(),
                      strings=sorted(set(net.string_columns()) | set(unread)))
        X = _unread_as_nan(X, net)  # read as text: they may hold anything
        if net.vocab:
            X = _text_rows(_file_missing(X, net), net, path)
        elif X.dtype == object:
            X = X.astype(np.float64)
        _in_domain(X, net, path)
        return _Rows(X, f"{len(X)} rows from {os.path.basename(path)}")
    X = _array(data, net)
    _in_domain(X, net, "the data")
    frame = _by_name(data, net)
    from .check import Given
    given = Given(frame) if hasattr(frame, "iloc") else None  # a pandas DataFrame
    return _Rows(X, f"{len(X)} given rows", given=given)


def _in_domain(X, net, where, chunk=65536):
    """Rows a FunctionTransformer of the model takes outside its function's domain
    (np.log of a negative number, np.exp overflowing) give NaN or an infinity, which
    scikit-learn's predict refuses: a DataError naming the first such row."""
    import numpy as np

    from .data import domain_ok
    from .network import Apply

    fns = sorted({op.fn for op in net.program().inputs if isinstance(op, Apply)})
    if not fns:
        return
    for start in range(0, len(X), chunk):
        ok = domain_ok(net, np.asarray(X[start:start + chunk]))
        if not ok.all():
            row = start + int(np.argmin(ok))
            raise DataError(f"{where}: row {row} (0-based) is outside the domain of the model's "
                            f"FunctionTransformer ({', '.join('np.' + f for f in fns)}): it gives "
                            f"NaN or an infinity there, and scikit-learn's predict refuses the row.")


# --------------------------------------------------------------------------- convert

def convert(model, outdir, *, to="all", name=None, dtype="float64", data=None, force=False,
            prune_dead=False, trust_pickle=False, onnx_runtimes=None, **target_options):
    """Export `model` into `outdir` and return the Report of the check run before writing.

    Every export is rendered in memory, run, and compared with scikit-learn's own
    predict (and predict_proba) on drawn rows (plus `data`, when given); only when all
    agree are the files written, all of them or none. Existing files are not replaced
    unless force=True. A disagreement writes nothing and returns a Report whose `passed`
    is False.

    to: "numpy", "onnx", "matlab", a comma-separated list of them, or "all".
    name: base name of the files (default: the model file's stem made an identifier, or
        "model" for an estimator object). dtype: "float64" or "float32".
    data: rows to check on as well (array, DataFrame or .npy/.csv path); with
        prune_dead=True, ReLU units never active on these rows are removed (the export
        is then proven on these rows only).
    trust_pickle: load a pickle without the allowlist (only for files you wrote).
    onnx_runtimes: ONNX runtimes besides onnxruntime that must run the ONNX export before
        it is written ("openvino,tract,opencv,node,web" or "all"; default none, see check).
    target_options: matlab_inline, matlab_verify, onnx_no_label, onnx_opset, onnx_text ("codes"),
        onnx_test_data (see `mlpexport convert
        --help`); any other name is a UsageError.

    >>> from sklearn.neural_network import MLPRegressor
    >>> est = MLPRegressor(hidden_layer_sizes=(8,)).fit(X, y)
    >>> report = mlpexport.convert(est, "out", to="numpy", name="sine")
    >>> report.files
    ['out/sine.py', 'out/sine.npz']
    """
    return _convert(model, outdir, to=to, name=name, dtype=dtype, data=data, force=force,
                    prune_dead=prune_dead, trust_pickle=trust_pickle, options=target_options,
                    onnx_runtimes=onnx_runtimes)


def _onnx_runtimes(text, default):
    """--onnx-runtimes (None: MLPEXPORT_ONNX_RUNTIMES when set, else `default`) -> the
    runtimes besides onnxruntime (None: every one installed)."""
    from .emit import onnx_runtimes
    if text is None:
        text = os.environ.get("MLPEXPORT_ONNX_RUNTIMES") or None
        if text is None:
            return default
    return onnx_runtimes.parse(text)


def _convert(model, outdir, *, to, name, dtype, data, force, prune_dead, trust_pickle,
             options, note=None, written=None, onnx_runtimes=None):
    """convert, for the CLI too: `note` prints as it goes, `written` receives the paths
    as soon as they are in place (for an honest message after an interrupt)."""
    from . import emit

    notes = []
    note = note or notes.append
    written = [] if written is None else written
    _typed(to=to, name=name, outdir=outdir)
    options = _target_options(options)
    targets = emit.parse_targets(to)
    runtimes = _onnx_runtimes(onnx_runtimes, ())  # convert: onnxruntime unless named
    name = _name(model, name, targets, note)
    if dtype not in emit.DTYPES:
        raise UsageError(f"dtype must be float64 or float32, not {dtype!r}.")
    if prune_dead and data is None:
        raise UsageError("--prune-dead needs --data FILE: units are pruned only where they are "
                         "dead on rows you supply.")
    outdir = os.fspath(outdir)
    created = emit.check_outdir(outdir)  # a path the user got wrong fails before any work
    try:
        report = _convert_checked(model, outdir, targets, name, dtype, data, force, prune_dead,
                                  trust_pickle, options, to, note, written, runtimes)
    finally:
        if not written:
            emit.remove_created(created)
    report.notes = notes
    return report


def _convert_checked(model, outdir, targets, name, dtype, data, force, prune_dead,
                     trust_pickle, options, to, note, written, onnx_runtimes=()):
    import numpy as np

    from . import emit
    from .check import check
    from .data import draw_rows
    from .check import output_scales, sklearn_outputs

    start = time.monotonic()
    m = _load(model, trust_pickle=trust_pickle, note=note)
    net = m.net
    targets = _numbers_only(net, targets, to, note, "written", dtype)
    drawn = draw_rows(net)
    if prune_dead:
        given = _rows(data, net)
        net = _prune(net, given, note)
        rows, golden = given, np.asarray(given.X[:48])  # given.given: its frame, at offset 0
    elif data is not None:
        given = _rows(data, net)
        rows = _Rows(np.vstack([drawn, given.X]), f"{len(drawn)} drawn rows and {given.source}",
                     given=given.given and dataclasses.replace(given.given, offset=len(drawn)))
        golden = draw_rows(net, n=24, seed=1)
    else:
        rows = _Rows(drawn, drawn_source(net, len(drawn)))
        golden = draw_rows(net, n=24, seed=1)
    # golden rows are stored in the .mat for mlpexport_verify.m, with the scale of each
    # output column that check judges rows.X by (so the verifier judges as check does);
    # --onnx-test-data stores them too, so they are proven as well
    if options.get("onnx_test_data") and "onnx" in targets:
        rows = _Rows(np.vstack([rows.X, golden]), f"{rows.source}, and the {len(golden)} "
                     "rows of the ONNX test data", given=rows.given)  # given rows come first
    scales = output_scales(m.est, net, rows.X) if "matlab" in targets else None
    options = dict(options, golden=(golden, sklearn_outputs(m.est, golden, net), scales))
    files = emit.render_all(net, name, targets, dtype, **options)
    report = check(m.est, net, rows.X, targets, dtype=dtype, name=name,
                   required=_required(to, targets), files=files, given=rows.given,
                   onnx_runtimes=onnx_runtimes)
    report.source, report.model, report.name = rows.source, m.label, name
    report.estimator = net.meta.get("source", "")
    _versions(report, m)
    if report.passed:
        report.files = emit.write_all(files, outdir, force=force, written=written)
    report.seconds = time.monotonic() - start
    return report


def _prune(net, rows, note):
    from .inspection import n_params, prune, unit_activity

    X = rows.X
    dead = [r.dead for r in unit_activity(net, X)]
    pruned = prune(net, dead)
    removed = n_params(net) - n_params(pruned)
    note(f"--prune-dead removed {sum(map(len, dead))} units never active on the {rows.source} "
         f"({removed} of {n_params(net)} parameters). The export is proven equal to "
         f"scikit-learn on those rows only: a unit dead on this data may wake on other inputs.")
    return pruned


# ----------------------------------------------------------------------------- check

def check(model, *, data=None, against=None, name=None, to="all", rtol=None, atol=None,
          dtype="float64", trust_pickle=False, onnx_runtimes=None, **target_options):
    """Run exports and scikit-learn on the same rows; return a Report.

    Without `against`, fresh exports are made in a temporary folder and run. With
    against=DIR, the exports already in DIR (NAME.py/.npz, NAME.onnx, NAME.m/.mat,
    whichever exist) are run instead: the CI gate for committed exports. An export made
    from another model is a FAIL named "stale"; so are edited, incomplete and mixed sets.

    data: rows (array, DataFrame or .npy/.csv path); default: rows drawn from what the
        model knows of its inputs, plus zeros and extreme rows.
    name: the exports' base name (default: the model file's stem, or "model").
    to: targets to run; with "all" a runtime that is not installed (octave-cli) is a
        SKIP row, naming a target makes its absence a RuntimeMissing error.
    rtol: default 1e-9 for float64 exports, 1e-4 for float32 ones; atol default 0.
    dtype, target_options: how fresh exports are made (as in `convert`).
    onnx_runtimes: where the ONNX export runs besides onnxruntime, each its own rows
        (onnx[openvino], onnx[tract], onnx[opencv], onnx[node], onnx[web]): "openvino,tract", "all",
        or "onnxruntime" for none; default every one installed (SKIP rows for the rest).
        A runtime named here, or by MLPEXPORT_REQUIRE_OPENVINO=1 (..._TRACT, _OPENCV,
        _NODE, _WEB), must be installed.

    >>> report = mlpexport.check("model.skops", against="exports/")
    >>> report.passed, [(r.export, r.output, r.status) for r in report.rows]
    (True, [('numpy', 'predict', 'PASS'), ('onnx', 'predict', 'PASS')])
    >>> print(report)                                                  # the text table
    """
    return _check(model, data=data, against=against, name=name, to=to, rtol=rtol, atol=atol,
                  dtype=dtype, trust_pickle=trust_pickle, options=target_options,
                  onnx_runtimes=onnx_runtimes)


def _check(model, *, data, against, name, to, rtol, atol, dtype, trust_pickle, options,
           note=None, onnx_runtimes=None):
    from . import emit
    from .check import check as run_check

    notes = []
    note = note or notes.append
    _typed(to=to, name=name, rtol=rtol, atol=atol)
    if against is not None and not isinstance(against, (str, bytes, os.PathLike)):
        raise UsageError(f"against must be a directory path, not {type(against).__name__}.")
    options = _target_options(options)
    targets = emit.parse_targets(to)
    runtimes = _onnx_runtimes(onnx_runtimes, None)  # check: every one installed
    # the chosen name is news only for the committed exports it finds; fresh exports are
    # made in a temporary folder and never written where the user looks
    name = _name(model, name, targets, note if against is not None else _quiet)
    if dtype not in emit.DTYPES:
        raise UsageError(f"dtype must be float64 or float32, not {dtype!r}.")
    if against is not None:
        against = os.fspath(against)
        if not os.path.isdir(against):
            raise UsageError(f"--against {against}: no such directory.")
    start = time.monotonic()
    m = _load(model, trust_pickle=trust_pickle, note=note)
    if against is None:
        targets = _numbers_only(m.net, targets, to, note, "run", dtype)
    rows = _rows(data, m.net, stream=True)

    def describe(report):
        report.source, report.model, report.name = rows.source, m.label, name
        report.estimator = m.net.meta.get("source", "")
        _versions(report, m)
        report.notes, report.seconds = notes, time.monotonic() - start
        return report
    try:
        report = run_check(m.est, m.net, rows.X, targets, dtype=dtype, rtol=rtol,
                           atol=0.0 if atol is None else atol, against=against, name=name,
                           required=_required(to, targets), expected=_named(to, targets),
                           options=options, given=rows.given,
                           onnx_runtimes=runtimes)
    except RuntimeFailed as exc:  # the rows so far and the error, for the CLI's reports
        if getattr(exc, "report", None) is not None:
            describe(exc.report)
        raise
    return describe(report)


# --------------------------------------------------------------------------- inspect

def inspect(model, *, data=None, trust_pickle=False) -> dict:
    """What the network computes, as a dict (the content of `mlpexport inspect --json`):
    layers, parameters, the forward pass as numpy and MATLAB formulas, and per-unit
    activity on `data` (default: 1000 rows drawn from the model), with warnings such as
    dead ReLU units or saturated layers.

    >>> rep = mlpexport.inspect(est)
    >>> rep["total_params"], rep["warnings"]
    (265, [])
    """
    return _inspect(model, data=data, trust_pickle=trust_pickle)[0]


def _inspect(model, *, data, trust_pickle, note=_quiet):
    """(report dict, Network, rows): the CLI draws its plot from the same rows."""
    from .data import draw_rows
    from .inspection import report

    m = _load(model, trust_pickle=trust_pickle, note=note)
    rows = _rows(data, m.net, drawn=None if data is not None else draw_rows(m.net, n=1000)[:1000])
    rep = report(m.net, rows.X)
    rep["rows_source"] = rows.source  # "1000 drawn rows: pass --data ..." / "400 rows from X.csv"
    return rep, m.net, rows.X
