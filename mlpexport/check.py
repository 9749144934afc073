"""Run exports and scikit-learn on the same rows and report how far apart they are.

Errors are measured per output element: absolute |export - sklearn| and relative
|export - sklearn| / max(|sklearn|, m) where m is the median magnitude of that output
column, so values that cancel to almost zero do not blow the relative error up. An
element passes when its relative error <= rtol or its absolute error <= atol. Equal
infinities and NaNs in the same places count as agreement.

Labels must be identical, compared exactly in their own type: strings as strings,
numbers by exact value (an int64 label is never rounded through float64; a float export
of an integer label must equal it exactly), and an export whose label type cannot hold
scikit-learn's labels (numbers for strings, floats too narrow for the integers) fails.
Rows where scikit-learn's own probabilities tie to within rtol are excused (reported as
ties).

Each row has a status, the contract's words: PASS (the export ran and agrees), FAIL
(it disagrees, or is stale, edited, incomplete or mixed from two exports), SKIP (its
runtime is not installed, so nothing was proven; the check still passes). A runtime that
crashes is not a disagreement: `check` raises RuntimeFailed (the CLI's exit 2).

Tolerances: `rtol` None means the default for the arithmetic of each export (1e-9 for
float64, 1e-4 for float32), read per export from what a committed export records; every
row carries the rtol and atol it was judged by.

JSON (`Report.to_json`): numbers that are not finite (an infinite error of a failing
row) are written as the strings "inf", "-inf" and "nan", so the output is strict JSON.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils.extmath import softmax

from . import emit
from .errors import ExportError, InputError, RuntimeFailed, RuntimeMissing, UsageError
from .network import Network

DEFAULT_RTOL = {"float64": 1e-9, "float32": 1e-4}
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"


# ------------------------------------------------------------------ the oracle

@dataclass(frozen=True)
class Given:
    """The caller's own object (a DataFrame, its columns in feature order) whose rows are
    X[offset:offset + len(frame)]: scikit-learn is fed those rows of it, unchanged (a None
    stays None, a nullable column stays nullable), never a frame rebuilt from X; the
    exports get X, the same values as plain objects."""
    frame: object
    offset: int = 0


def oracle(est, Xc, net: Network, given: Given | None = None, start: int = 0) -> dict:
    """sklearn_outputs for the rows X[start:start + len(Xc)]: where they are the caller's
    own rows, of the caller's own object."""
    if given is None:
        return sklearn_outputs(est, Xc, net)
    stop = start + len(Xc)
    lo, hi = max(start, given.offset), min(stop, given.offset + len(given.frame))
    if lo >= hi:
        return sklearn_outputs(est, Xc, net)
    parts = ([sklearn_outputs(est, Xc[:lo - start], net)] if lo > start else []) + [
        sklearn_outputs(est, given.frame.iloc[lo - given.offset:hi - given.offset], net)] + (
        [sklearn_outputs(est, Xc[hi - start:], net)] if hi < stop else [])
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def sklearn_outputs(est, X, net: Network) -> dict[str, np.ndarray]:
    """scikit-learn's own predict (and predict_proba, decision_function, the ones the
    model has) on X: what every export must match.

    For a legacy one-vs-rest LogisticRegression, today's scikit-learn computes softmax
    probabilities the writing version never did; the reference then is scikit-learn's
    own one-vs-rest formula (`_predict_proba_lr`) on the same scores.
    """
    names = net.meta.get("feature_names")
    if names is not None and isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == len(names):
        from .optional import pandas  # a model fitted on named columns may select them by name
        pd = pandas("checking a model fitted on a DataFrame (scikit-learn runs it on a DataFrame only)")
        # dtype=object: every value stays the object it is (pandas >= 3 would infer a str
        # column and turn None into NaN, which scikit-learn tells apart)
        X = pd.DataFrame(X, columns=names, dtype=object if X.dtype == object else None)
        if net.vocab:  # text columns stay objects; the others are numbers, as fitted
            text = set(net.string_columns())
            X = X.astype({n: float for j, n in enumerate(names) if j not in text})
    out = {"predict": est.predict(X)}
    if not net.is_classifier:
        return out
    if net.has_scores:
        out["decision_function"] = est.decision_function(X)
    if not net.has_proba:
        return out
    legacy = net.meta.get("legacy")
    if legacy:
        final = est.steps[-1][1] if isinstance(est, Pipeline) else est
        Xt = est[:-1].transform(X) if isinstance(est, Pipeline) else X
        if legacy == "ovr":
            out["predict_proba"] = final._predict_proba_lr(Xt)
        else:
            d = final.decision_function(Xt)
            out["predict_proba"] = softmax(np.c_[-d, d])
    else:
        out["predict_proba"] = est.predict_proba(X)
    return out


@dataclass(frozen=True)
class Tolerance:
    """rtol None: the default of each export's arithmetic (DEFAULT_RTOL)."""
    rtol: float | None = None
    atol: float = 0.0

    def __post_init__(self):
        for flag, value in (("--rtol", self.rtol), ("--atol", self.atol)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise UsageError(f"{flag} must be a finite number >= 0, not {value!r}.")

    def rtol_for(self, dtype: str) -> float:
        return DEFAULT_RTOL[dtype] if self.rtol is None else self.rtol


@dataclass
class Row:
    target: str
    output: str
    n: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    labels_agree: float | None = None
    ties: int = 0
    status: str = PASS
    note: str = ""
    equal: int = 0  # label rows that agree (classifiers)
    differ: int = 0  # label rows that differ
    rtol: float = 0.0  # the tolerances this row was judged by
    atol: float = 0.0
    type_note: str = field(default="", repr=False)  # labels of a type that cannot hold sklearn's
    beyond_range: int = 0  # rows left out: beyond what the export's arithmetic holds (compare)

    @property
    def passed(self) -> bool:
        """Proven to agree. A skipped row is not: nothing was run."""
        return self.status == PASS

    @property
    def export(self) -> str:
        """The target this row is about (numpy, onnx, matlab), the API's name for `target`."""
        return self.target

    @property
    def labels(self) -> float | None:
        """Share of rows whose labels agree (classifiers' predict), else None."""
        return self.labels_agree

    def failure(self) -> str:
        """Why this row failed, in one sentence (empty for a row that did not fail)."""
        if self.status != FAIL:
            return ""
        if self.note:
            return self.note
        return (f"max rel error {self.max_rel:.3g} > rtol {self.rtol:g} "
                f"(max abs error {self.max_abs:.3g}, atol {self.atol:g})")

    def to_json(self) -> dict:
        d = asdict(self)
        del d["type_note"]  # already part of note
        d["passed"] = self.passed
        return d


@dataclass
class Report:
    """What a check proved: one Row per export and output.

    passed   nothing failed (skipped exports do not fail a check, and prove nothing)
    rows     Rows: export, output, max_abs, max_rel, labels, status (PASS/FAIL/SKIP)
    source   where the rows came from ("286 drawn rows", "400 rows from X.csv")
    model    the model file (or the estimator's description); name: the exports' name
    estimator  what the model is, e.g. "Pipeline(StandardScaler, MLPRegressor)"
    files    paths convert wrote (empty for check, and for a convert that disagreed)
    notes    what the CLI prints as notes (default name chosen, older scikit-learn, ...)
    error    the runtime error that ended the check ("" if none): check raises it as
             RuntimeFailed, with this report (the rows before it) as its `.report`;
             error_target is the export it is about
    sklearn_version  the installed scikit-learn, whose outputs the exports are compared with
    written_by  the scikit-learn that wrote the model file, when it is another ("" if not)
    """
    rows: list[Row] = field(default_factory=list)
    n_rows: int = 0
    rtol: float = 0.0  # the loosest rtol any row was judged by (rows carry their own)
    atol: float = 0.0
    fingerprint: str = ""
    samples: dict = field(default_factory=dict, repr=False)  # {export: (got, want)}, first rows
    source: str = ""
    model: str = ""
    name: str = ""
    estimator: str = ""
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list, repr=False)
    seconds: float = field(default=0.0, repr=False)  # wall time of the check (JUnit's time)
    error: str = ""
    error_target: str = ""
    sklearn_version: str = ""
    written_by: str = ""

    def versions(self) -> str:
        """"scikit-learn 1.3.0 (the model file was written by 1.9.1)", or ""."""
        if not self.sklearn_version:
            return ""
        wrote = f" (the model file was written by {self.written_by})" if self.written_by else ""
        return f"scikit-learn {self.sklearn_version}{wrote}"

    def __str__(self) -> str:
        return self.table()

    @property
    def passed(self) -> bool:
        """Nothing failed (the exit code): skipped exports do not fail the check."""
        return not self.error and not any(r.status == FAIL for r in self.rows)

    def _targets(self, status) -> list[str]:
        return list(dict.fromkeys(r.target for r in self.rows if r.status == status))

    @property
    def failed(self) -> list[str]:
        return self._targets(FAIL)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        """(export, why it was not run), for exports whose runtime is missing."""
        return [(r.target, r.note.removeprefix("skipped: ")) for r in self.rows if r.status == SKIP]

    @property
    def agree(self) -> list[str]:
        """Exports that ran and agree on every output: what this report proves."""
        bad = set(self.failed) | {t for t, _ in self.skipped}
        return [t for t in self._targets(PASS) if t not in bad]

    def summary(self, unrun: str = "not run") -> str:
        """What was proven and what was not, e.g. "numpy, onnx agree with scikit-learn;
        matlab not run: octave-cli was not found". convert says unrun="written but not run"."""
        if self.passed and not self.skipped and self.agree:
            return "all exports agree with scikit-learn"
        parts = [f"ERROR: {self.error.rstrip('.')}"] if self.error else []
        failed = [t for t in self.failed if t != "-"]
        if not self.passed and not self.error:
            parts.append(f"DISAGREEMENT: {', '.join(failed)} {'does' if len(failed) == 1 else 'do'} "
                         f"not agree with scikit-learn" if failed else "DISAGREEMENT: nothing to check")
        if self.agree:
            parts.append(f"{', '.join(self.agree)} agree{'s' if len(self.agree) == 1 else ''} "
                         f"with scikit-learn")
        parts += [f"{t} {unrun}: {why.rstrip('.')}" for t, why in self.skipped]
        if self.passed and not self.agree:
            parts.insert(0, "nothing was proven")
        return "; ".join(parts)

    def to_json(self) -> dict:
        extra = {k: getattr(self, k) for k in ("model", "name", "estimator", "source", "files",
                                               "error", "error_target", "sklearn_version",
                                               "written_by") if getattr(self, k)}
        return _finite({"passed": self.passed, **extra, "n_rows": self.n_rows, "rtol": self.rtol,
                        "atol": self.atol, "fingerprint": self.fingerprint,
                        "agree": self.agree,
                        "skipped": [{"target": t, "reason": why} for t, why in self.skipped],
                        "summary": self.summary(),
                        "rows": [r.to_json() for r in self.rows]})

    def table(self, unrun: str = "not run") -> str:
        w = max([8] + [len(r.target) for r in self.rows])  # onnx[openvino] is wider
        head = f"{'export':<{w}} {'output':<14} {'max abs err':>12} {'max rel err':>12} {'labels':>8}  result"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            labels = "" if r.labels_agree is None else f"{100 * r.labels_agree:.1f}%"
            result = r.status + (f"  ({r.note})" if r.note else "")
            if r.n == 0:
                lines.append(f"{r.target:<{w}} {r.output:<14} {'':>12} {'':>12} {'':>8}  {result}")
            else:
                lines.append(f"{r.target:<{w}} {r.output:<14} {r.max_abs:12.3g} {r.max_rel:12.3g} {labels:>8}  {result}")
        rtols = sorted({r.rtol for r in self.rows if r.status != SKIP and r.n})
        rtol = (f"rtol {self.rtol:g}" if len(rtols) <= 1 else
                f"rtol per export dtype ({', '.join(f'{v:g}' for v in rtols)})")
        lines.append(f"{self.source or f'{self.n_rows} rows'}, {rtol}, atol {self.atol:g}: "
                     f"{self.summary(unrun)}.")
        if self.versions():
            lines.append(f"Reference outputs: {self.versions()}.")
        return "\n".join(lines)


def _finite(value):
    """JSON-safe copy: non-finite floats become "inf", "-inf" or "nan" (see module doc)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    return value


def typical_scale(want) -> np.ndarray:
    """Per output column: the median magnitude (its maximum where the median is 0)."""
    w = np.abs(np.where(np.isfinite(want), want, 0.0)).reshape(len(want), -1)
    typical = np.median(w, axis=0)
    return np.where(typical > 0, typical, w.max(axis=0))


def output_scales(est, net, X) -> dict[str, np.ndarray]:
    """The per-column scale `check` judges numeric outputs by: typical_scale of
    scikit-learn's outputs on the first SAMPLE rows of X (convert stores it in the .mat,
    so mlpexport_verify.m judges its test rows as check judged the export)."""
    return _scales(sklearn_outputs(est, _rows_of(X, 0, SAMPLE, net.nan_columns()), net), net)


def _scales(sample, net) -> dict[str, np.ndarray]:
    """typical_scale of each numeric output in scikit-learn's outputs `sample`."""
    return {k: typical_scale(np.asarray(v, dtype=np.float64))
            for k, v in sample.items() if not (k == "predict" and net.is_classifier)}


def errors(got, want, typical=None) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise absolute and relative errors of numeric outputs (see module doc).
    typical: per-column scale (default: computed from want itself)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore", over="ignore"):
        abs_err = np.where(same, 0.0, np.abs(got - want))
    abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)
    typical = typical_scale(want) if typical is None else typical
    w = np.abs(np.where(np.isfinite(want), want, 0.0)).reshape(len(want), -1)
    scale = np.maximum(w, typical).reshape(want.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_err = np.where(scale > 0, abs_err / scale, abs_err)
    rel_err = np.where(abs_err == 0, 0.0, rel_err)
    return abs_err, rel_err


def _fit_shape(got, want):
    """Exports with a fixed rank (ONNX, MATLAB) give (n, 1) where predict gives (n,)."""
    got = np.asarray(got)
    if got.shape != want.shape and got.size == want.size and np.squeeze(got).shape == np.squeeze(want).shape:
        got = got.reshape(want.shape)
    return got


def _label_kind(a: np.ndarray) -> str:
    """"number" (bool, int, float), "str", or the dtype's name for anything else."""
    if a.dtype.kind in "biuf":
        return "number"
    if a.dtype.kind == "U":
        return "str"
    if a.dtype.kind == "O":
        values = a.ravel().tolist()
        if all(isinstance(v, str) for v in values):
            return "str"
        if all(isinstance(v, (bool, int, float, np.bool_, np.number)) for v in values):
            return "number"
    return a.dtype.name


def _python(a: np.ndarray) -> list:
    """Elements as Python scalars: Python compares int with float exactly, numpy does not
    (it casts int64 to float64, where 2**53 + 1 == 2**53)."""
    return [v.item() if isinstance(v, np.generic) else v for v in a.ravel().tolist()]


def labels_equal(got: np.ndarray, want: np.ndarray) -> tuple[np.ndarray, str]:
    """Elementwise exact equality of labels in their own type, and a note when the export's
    label type cannot hold scikit-learn's labels (then the labels are a FAIL)."""
    gk, wk = _label_kind(got), _label_kind(want)
    if gk != wk:
        words = {"number": "numbers", "str": "strings"}
        return np.zeros(want.shape, bool), (f"labels come back as {words.get(gk, gk)}, "
                                            f"scikit-learn gives {words.get(wk, wk)}")
    if wk == "str":  # as Python strings: numpy's str arrays drop trailing NUL characters
        same = [a == b for a, b in zip(_python(got), _python(want))]
        return np.array(same, dtype=bool).reshape(want.shape), ""
    if wk != "number" or (got.dtype.kind == want.dtype.kind and got.dtype.kind != "O"):
        return got == want, ""  # same kind: numpy compares exactly
    note = ""
    if got.dtype.kind == "f" and want.dtype.kind in "iu":
        exact = 2 ** (np.finfo(got.dtype).nmant + 1)  # beyond it not every integer is a float
        too_big = want[np.abs(want.astype(object)) > exact]
        if too_big.size:
            note = (f"labels come back as {got.dtype}, which cannot hold scikit-learn's "
                    f"{want.dtype} labels exactly (e.g. {too_big.ravel()[0]})")
    # float64 holds every integer below 2**53 exactly, so there it compares exactly;
    # the (rare) elements at or beyond it are compared as Python numbers
    try:
        with np.errstate(invalid="ignore", over="ignore"):
            g, w = got.astype(np.float64), want.astype(np.float64)
    except (OverflowError, TypeError, ValueError):  # Python ints beyond any float
        g = w = np.full(want.shape, np.inf)
    with np.errstate(invalid="ignore"):
        equal = g == w
        big = ~(np.abs(g) < 2.0**53) | ~(np.abs(w) < 2.0**53)  # NaN too: compared as objects
    if big.any():
        equal[big] = [a == b for a, b in zip(_python(got[big]), _python(want[big]))]
    return equal, note


def compare(target, output, got, want, rtol, atol, proba=None, typical=None, scores=None,
            scale_of_scores=None, limit=None) -> Row:
    """limit: the largest magnitude the export's arithmetic holds (float32's max for a
    float32 export). Rows where scikit-learn's value is beyond it (a GLM's exp far out)
    and the export's is too, with the same sign (its infinity), are left out and counted
    in the note; the other rows are judged as ever."""
    want = np.asarray(want)
    got = _fit_shape(got, want)
    row = Row(target, output, n=len(want), rtol=rtol, atol=atol)
    if got.shape != want.shape:
        row.status, row.note = FAIL, f"shape {got.shape}, scikit-learn gives {want.shape}"
        return row
    if output == "predict" and proba is None and scores is not None:  # decision only
        equal, row.type_note = labels_equal(got, want)
        row_ok = equal.reshape(len(want), -1).all(axis=1)
        row.equal = int(row_ok.sum())
        row.labels_agree = row.equal / max(row.n, 1)
        bad = ~row_ok
        if bad.any():  # a tie: the deciding scores within rtol of their typical size
            d = np.asarray(scores, dtype=np.float64)
            scale = typical_scale(d) if scale_of_scores is None else scale_of_scores
            d = d / np.maximum(scale, np.finfo(float).tiny)
            if d.ndim == 1:
                margin = np.abs(d[bad])
            else:
                top = np.sort(d[bad], axis=1)
                margin = top[:, -1] - top[:, -2]
            row.ties = int((margin <= rtol).sum())
        row.differ = int(bad.sum())
        return _label_verdict(row)
    if output == "predict" and proba is not None:  # classifier labels
        equal, row.type_note = labels_equal(got, want)
        row_ok = equal.reshape(len(want), -1).all(axis=1)
        row.equal = int(row_ok.sum())
        row.labels_agree = row.equal / max(row.n, 1)
        bad = ~row_ok
        if bad.any():
            p = np.sort(np.asarray(proba, dtype=np.float64)[bad], axis=1)
            margin = (p[:, -1] - p[:, -2]) if p.shape[1] > 1 else np.abs(p[:, 0] - 0.5)
            if want.ndim == 2:  # multilabel: distance of each column from 0.5
                margin = np.abs(np.asarray(proba)[bad] - 0.5).min(axis=1)
            row.ties = int((margin <= rtol).sum())
        row.differ = int(bad.sum())
        return _label_verdict(row)
    beyond = _beyond_range(got, want, limit)
    if beyond is not None:
        row.beyond_range, row.note = int(beyond.sum()), _beyond_note(int(beyond.sum()))
        got, want = got[~beyond], want[~beyond]
        if not len(want):
            return row
    abs_err, rel_err = errors(got, want, typical)
    row.max_abs = float(abs_err.max())
    row.max_rel = float(rel_err.max())
    row.status = PASS if np.all((rel_err <= rtol) | (abs_err <= atol)) else FAIL
    return row


def _beyond_range(got, want, limit):
    """[n] bool: rows where some value of scikit-learn's is beyond `limit` and the
    export's matching value is as well, with the same sign; None when there are none."""
    if limit is None or want.dtype.kind != "f":
        return None
    w = want.reshape(len(want), -1).astype(np.float64)
    g = np.asarray(got, dtype=np.float64).reshape(len(want), -1)
    with np.errstate(invalid="ignore"):
        out = (np.abs(w) > limit) & (np.abs(g) >= limit) & (np.sign(g) == np.sign(w))
        rows = out.any(axis=1) & ((out | ~(np.abs(w) > limit)).all(axis=1))
    return rows if rows.any() else None


def _beyond_note(n):
    return f"{n} row{'s' if n != 1 else ''} beyond float32's range left out"


def _label_verdict(row):
    """Ties excuse differing labels; a label type that cannot hold sklearn's never is."""
    row.status = PASS if row.ties == row.differ and not row.type_note else FAIL
    notes = [f"{row.differ} labels differ" + (f", {row.ties} at ties" if row.ties else "")
             if row.differ else "", row.type_note]
    row.note = "; ".join(n for n in notes if n)
    return row


def merge(a: Row, b: Row) -> Row:
    """One row for two chunks of the same export and output."""
    out = Row(a.target, a.output, n=a.n + b.n, max_abs=max(a.max_abs, b.max_abs),
              max_rel=max(a.max_rel, b.max_rel), status=FAIL if FAIL in (a.status, b.status) else PASS,
              note=a.note or b.note, rtol=a.rtol, atol=a.atol)
    out.beyond_range = a.beyond_range + b.beyond_range
    if out.beyond_range:
        out.note = _beyond_note(out.beyond_range)
    if a.labels_agree is not None:
        out.equal, out.ties, out.differ = a.equal + b.equal, a.ties + b.ties, a.differ + b.differ
        out.labels_agree = out.equal / max(out.n, 1)
        out.type_note = a.type_note or b.type_note
        out = _label_verdict(out)
    return out


def compare_outputs(target, got: dict, want: dict, rtol, atol, typical=None, left_out=(),
                    limit=None) -> list[Row]:
    """Rows for each of scikit-learn's outputs. left_out: outputs the export was written
    without on purpose (ONNX --onnx-no-label), not judged. limit: the largest magnitude
    the export's arithmetic holds (float32's max), see compare."""
    rows = []
    for output, ref in want.items():
        if output not in got:
            if output == "decision_function" and "predict_proba" in got:
                continue  # written before exports had decision_function: nothing to compare
            if output in left_out:
                continue  # written without it (--onnx-no-label): the rest is judged
            rows.append(Row(target, output, status=FAIL, note="missing from the export",
                            rtol=rtol, atol=atol))
            continue
        rows.append(compare(target, output, got[output], ref, rtol, atol,
                            want.get("predict_proba"), (typical or {}).get(output),
                            want.get("decision_function"),
                            (typical or {}).get("decision_function"), limit))
    return rows


def _crashed(t, name, exc) -> RuntimeFailed:
    """A runtime error, not a disagreement: named, with what the runtime said."""
    if not isinstance(exc, RuntimeFailed):
        what = str(exc) if isinstance(exc, ExportError) else f"{type(exc).__name__}: {exc}"
        exc = RuntimeFailed(f"the {t} export {name} did not run: {what}")
    exc.target = getattr(exc, "target", None) or t
    return exc


def _runner(t, directory, name, required, committed):
    """A function X -> outputs for the export, or a SKIP Row when its runtime is missing.
    A committed export is untrusted code: the numpy one runs in a child process, and
    anything it raises (SystemExit included) is a runtime error, never a pass."""
    mod = emit.target(t)
    kwargs = {}
    if committed and "isolated" in inspect.signature(mod.runner).parameters:
        kwargs["isolated"] = True
    try:
        return mod.runner(directory, name, **kwargs)
    except RuntimeMissing as exc:
        if required:
            raise ExportError(str(exc)) from None
        return Row(t, "-", status=SKIP, note=f"skipped: {exc}")
    except (Exception, SystemExit) as exc:
        raise _crashed(t, name, exc) from None


CHUNK = 100_000  # rows per chunk: scikit-learn and every export see the same chunks
SAMPLE = 100_000  # the first rows set each output column's typical magnitude


def check_fresh(est, net: Network, X, targets, *, dtype="float64", tol: Tolerance = Tolerance(),
                name: str = "model", required=(), options=None, files: dict | None = None,
                chunk: int = CHUNK, given=None, onnx_runtimes=()) -> Report:
    """Exports made now (or the rendered `files`, which convert is about to write) against
    scikit-learn's own outputs on rows X."""
    rtol = tol.rtol_for(dtype)
    report = Report(n_rows=len(X), rtol=rtol, atol=tol.atol, fingerprint=net.fingerprint)
    if files is None:
        files = emit.render_all(net, name, targets, dtype, **(options or {}))
    with tempfile.TemporaryDirectory(prefix="mlpexport-check-") as tmp:
        emit.write_all(files, tmp, force=True)
        rtols, dtypes = {t: rtol for t in targets}, {t: dtype for t in targets}
        with _errors_into(report):
            extra, skipped = _onnx_runtimes(tmp, name, tol, onnx_runtimes, rtols, dtypes)
            report.rows += _run_and_compare(est, net, X, rtols, tol.atol, tmp, name, required,
                                            chunk, report.samples, given=given, dtypes=dtypes,
                                            extra=extra) + skipped
    return report


@contextlib.contextmanager
def _errors_into(report):
    """A runtime error ends the check: it is raised with the report so far (its rows,
    and the error) as `.report`, so that the CLI still writes its JUnit and JSON."""
    try:
        yield
    except RuntimeFailed as exc:
        report.error, report.error_target = str(exc), getattr(exc, "target", None) or ""
        exc.report = report
        raise


def check_against(est, net: Network, X, directory: str, targets, *, name: str = "model",
                  tol: Tolerance = Tolerance(), required=(), expected=None,
                  chunk: int = CHUNK, given=None, onnx_runtimes=()) -> Report:
    """The exports committed in `directory` against scikit-learn's own outputs on rows X.
    Incomplete sets, sets mixed from two exports, exports of another model (fingerprint)
    and edited weights (digest) fail; each export is judged at the rtol of the arithmetic
    it records, unless tol.rtol is given. expected: targets whose files must be there
    (the ones the user named; default: `required`); required: targets whose runtime
    must be present."""
    expected = required if expected is None else expected
    report = Report(n_rows=len(X), rtol=tol.rtol_for("float64"), atol=tol.atol,
                    fingerprint=net.fingerprint)
    runnable, edited, dtypes = {}, set(), {}
    for t in targets:
        mod = emit.target(t)
        names = [name + s for s in mod.FILES]
        present = [f for f in names if os.path.exists(os.path.join(directory, f))]

        def fail(note, rtol=report.rtol, t=t):
            report.rows.append(Row(t, "-", status=FAIL, note=note, rtol=rtol, atol=tol.atol))
        if not present:
            if t in expected:
                fail(f"no {name}{'/'.join(mod.FILES)} in {directory}")
            continue
        if len(present) < len(names):
            fail(f"incomplete export: only {', '.join(present)}")
            continue
        try:
            st = mod.stamp(directory, name)
        except Exception as exc:  # committed files are untrusted input: truncated, not ours
            fail(f"{' / '.join(names)} cannot be read as an mlpexport export "
                 f"({type(exc).__name__}: {str(exc)[:200]})")
            continue
        dtype = getattr(st, "dtype", "float64")  # Stamp.dtype: what the export was written in
        if dtype not in DEFAULT_RTOL:
            fail(f"{st.file} records an unknown arithmetic {str(dtype)[:40]!r}")
            continue
        rtol = tol.rtol_for(dtype)
        if not getattr(st, "same_export", True):
            fail(f"{' and '.join(names)} come from different exports", rtol)
            continue
        if st.fingerprint != net.fingerprint:
            fail(f"stale: {st.file} was made from a different model", rtol)
            continue
        if not st.intact:
            fail(f"stale: {st.file} was edited after export (its weights, feature names, labels "
                 f"or vocabularies no longer match the digest it records)", rtol)
            edited.add(t)
        runnable[t], dtypes[t] = rtol, dtype
    if not report.rows and not runnable:
        report.rows.append(Row("-", "-", status=FAIL, note=f"no exports named {name} in {directory}"))
    with _errors_into(report):
        extra, skipped = ({}, []) if "onnx" in edited else _onnx_runtimes(
            directory, name, tol, onnx_runtimes, runnable, dtypes)
        report.rows += _run_and_compare(est, net, X, runnable, tol.atol, directory, name,
                                        required, chunk, report.samples, committed=True,
                                        edited=edited, given=given, dtypes=dtypes,
                                        extra=extra) + skipped
    judged = [r.rtol for r in report.rows if r.status != SKIP and r.rtol]
    report.rtol = max(judged, default=report.rtol)
    return report


def check(est, net: Network, X, targets, *, dtype="float64", rtol=None, atol=0.0,
          against: str | None = None, name: str = "model", required=(), expected=None,
          options=None, files: dict | None = None, chunk: int = CHUNK, given=None,
          onnx_runtimes=()) -> Report:
    """Every requested export against scikit-learn's own outputs on rows X
    (check_against when `against` names a directory of committed exports, else
    check_fresh).

    X may be a memory-mapped array: rows are read, predicted and compared `chunk` at a
    time, so memory stays bounded however many rows there are; the report is the same
    for any chunk size.
    required: targets whose runtime must be present (otherwise they are skipped).
    files: already rendered exports to check (convert checks the bytes it will write).
    given: the caller's own rows (Given) among X, which scikit-learn is fed unchanged.
    onnx_runtimes: the ONNX runtimes besides onnxruntime to run the ONNX export in
        (emit/onnx_runtimes.py; None: every one installed), each its own rows
        (onnx[openvino], ...). A runtime that cannot load or run the graph is a FAIL row.
    Raises RuntimeFailed when an export's runtime crashes (not a disagreement).
    """
    tol = Tolerance(rtol, atol)
    if against is not None:
        return check_against(est, net, X, against, targets, name=name, tol=tol,
                             required=required, expected=expected, chunk=chunk, given=given,
                             onnx_runtimes=onnx_runtimes)
    return check_fresh(est, net, X, targets, dtype=dtype, tol=tol, name=name, required=required,
                       options=options, files=files, chunk=chunk, given=given,
                       onnx_runtimes=onnx_runtimes)


def _onnx_runtimes(directory, name, tol, chosen, rtols, dtypes):
    """The ONNX export in the other ONNX runtimes (emit/onnx_runtimes.py): {row target:
    runner}, adding each one's rtol and dtype to rtols and dtypes, and the SKIP rows of
    runtimes that are absent or cannot run this graph (a string label they cannot
    return, text inputs, OpenCV's float64). chosen: the runtimes (None: all installed);
    one named there or by its MLPEXPORT_REQUIRE_... variable must be installed."""
    if "onnx" not in rtols or chosen == ():
        return {}, []
    from .emit import onnx_runtimes as rt
    must = rt.required(chosen)
    extra, rows = {}, []
    for runtime in (chosen if chosen is not None else rt.LABELS):
        label = rt.LABELS[runtime]
        try:
            run = rt.runner(directory, name, runtime)
        except RuntimeMissing as exc:
            if runtime in must:
                raise ExportError(f"{exc} (required: {rt.REQUIRE_ENV[runtime]}=1 or "
                                  f"--onnx-runtimes names it).") from None
            rows.append(Row(label, "-", status=SKIP, note=f"skipped: {exc}"))
            continue
        except rt.NotRun as exc:
            rows.append(Row(label, "-", status=SKIP, note=f"skipped: {exc}"))
            continue
        except RuntimeFailed as exc:
            rows.append(Row(label, "-", status=FAIL, note=str(exc), rtol=rtols["onnx"],
                            atol=tol.atol))
            continue
        dtypes[label] = run.judged
        rtols[label] = tol.rtol_for(run.judged)
        extra[label] = run
        if "predict" in run.left_out and "predict" not in rt.left_out_of(directory, name):
            rows.append(Row(label, "predict", status=SKIP,
                            note=f"skipped: {runtime} returns no string tensors"))
    return extra, rows


def _rows_of(X, start, stop, nan_ok=None):
    if getattr(X, "dtype", None) == object:  # text columns: checked when the rows were read
        return np.asarray(X[start:stop])
    Xc = np.asarray(X[start:stop], dtype=np.float64)
    ok = np.isfinite(Xc)
    if nan_ok is not None:
        ok |= np.isnan(Xc) & nan_ok  # an imputer fills NaN in these columns
    if not ok.all():
        row = int(np.argmin(ok.all(axis=1)))  # the first bad row, and its first bad column
        column = int(np.argmin(ok[row]))
        raise InputError(f"the data contain NaN or infinite values where the model takes none "
                         f"(row {start + row}, column {column + 1}).")
    return Xc


PLOT_ROWS = 5000  # rows kept per export for plots


def _progress(starts, n_rows, chunk):
    """The chunk starts, shown as a tqdm bar when stderr is a terminal and there is more
    than one chunk (nothing when piped, or without tqdm: pip install tqdm)."""
    if n_rows <= chunk or not getattr(sys.stderr, "isatty", lambda: False)():
        return starts
    try:
        from tqdm import tqdm
    except ImportError:
        return starts
    return tqdm(starts, desc="rows", unit="chunk", total=len(starts), leave=False, file=sys.stderr)


def _limit(dtype):
    """The largest magnitude an export of this arithmetic holds (None: float64's, all
    of scikit-learn's)."""
    return float(np.finfo(np.float32).max) if dtype == "float32" else None


def _run_and_compare(est, net, X, rtols: dict, atol, directory, name, required, chunk, samples,
                     committed=False, edited=(), given=None, dtypes=None, extra=None):
    """Rows for each export in `rtols` (target -> rtol): run on X chunk by chunk, compared
    with scikit-learn; dtypes: target -> the arithmetic it is judged in; extra: more
    runners (the ONNX export in other runtimes, _onnx_runtimes), whose crash is a FAIL
    row. A crash raises RuntimeFailed, except for a committed export already failed as
    edited, whose crash is reported in a FAIL row (the edit explains it).

    Committed exports are untrusted code, and some run in child processes (the numpy
    and C ones from the start, the MATLAB one in Octave at its first call). Before any
    of them runs, everything this process still needs is imported: scikit-learn's own
    first outputs are computed (its lazy imports, pandas), emit.sandbox.seal_parent
    imports the rest, and the runners that work in this process (ONNX: onnxruntime)
    are made before the ones that start a child. So nothing a child writes on our
    sys.path is ever imported here."""
    runners, rows, dtypes, extra = {}, [], dtypes or {}, extra or {}
    nan_ok = net.nan_columns()
    Xs = _rows_of(X, 0, SAMPLE, nan_ok)  # the first rows: they set each column's typical scale
    sample = oracle(est, Xs, net, given, 0)
    from .emit import sandbox
    sandbox.time_limit()  # a bad MLPEXPORT_TIMEOUT is a usage error, before anything runs
    if committed:
        sandbox.seal_parent()
    in_child = [t for t in rtols if t not in extra
                and getattr(emit.target(t), "RUNS_IN_CHILD", False)]
    for t in [t for t in rtols if t not in in_child and t not in extra] + in_child:
        try:
            r = _runner(t, directory, name, t in required, committed)
        except RuntimeFailed as exc:
            if t not in edited:
                raise
            rows.append(Row(t, "-", status=FAIL, note=str(exc), rtol=rtols[t], atol=atol))
            continue
        if isinstance(r, Row):
            rows.append(r)
        else:
            runners[t] = r
    runners.update(extra)
    order = list(rtols)  # rows in the order the targets were asked for
    rows.sort(key=lambda r: order.index(r.target))
    runners = {t: runners[t] for t in order if t in runners}
    typical = _scales(sample, net)  # what output_scales stores for the MATLAB verifier
    merged: dict = {}
    for start in _progress(range(0, len(X), chunk), len(X), chunk):
        stop = min(start + chunk, len(X))
        if stop <= len(Xs):  # rows and scikit-learn's outputs are already at hand
            Xc, want = Xs[start:stop], {k: v[start:stop] for k, v in sample.items()}
        else:
            Xc = _rows_of(X, start, stop, nan_ok)
            want = oracle(est, Xc, net, given, start)
        for t, run in list(runners.items()):
            try:
                got = run(Xc)
            except (Exception, SystemExit) as exc:
                if t not in edited and t not in extra:
                    raise _crashed(t, name, exc) from None
                merged[(t, "-")] = Row(t, "-", status=FAIL, note=str(_crashed(t, name, exc)),
                                       rtol=rtols[t], atol=atol)
                del runners[t]
                continue
            if start == 0:
                samples[t] = ({k: v[:PLOT_ROWS] for k, v in got.items()},
                              {k: v[:PLOT_ROWS] for k, v in want.items()})
            for row in compare_outputs(t, got, want, rtols[t], atol, typical,
                                       getattr(run, "left_out", ()), _limit(dtypes.get(t))):
                key = (t, row.output)
                merged[key] = merge(merged[key], row) if key in merged else row
    for (t, _), row in merged.items():  # what a runtime computes differently, said once per row
        note = getattr(extra.get(t), "note", "")
        if note and row.status != SKIP:
            row.note = "; ".join(n for n in (row.failure() or row.note, note) if n)
    for run in runners.values():  # children stop now (else when they are collected)
        getattr(run, "close", lambda: None)()
    return rows + list(merged.values())


# ------------------------------------------------------------------ several models

def group_table(reports: list[Report]) -> str:
    """The text report of several models: each model's table under its name, then a line
    naming the models that failed."""
    if len(reports) == 1:
        return reports[0].table()
    parts = [f"== {r.model} (exports named {r.name})\n{r.table()}" for r in reports]
    failed = [r.model for r in reports if not r.passed]
    parts.append(f"{len(reports)} models: " + (f"{len(failed)} FAILED ({', '.join(failed)})"
                                               if failed else "every one passed") + ".")
    return "\n\n".join(parts)


def group_json(reports: list[Report]) -> dict:
    """One model: its report as before. Several: {"passed", "models": [report, ...]}."""
    if len(reports) == 1:
        return reports[0].to_json()
    return {"passed": all(r.passed for r in reports), "models": [r.to_json() for r in reports]}


def _xml_text(text: str) -> str:
    """Text XML 1.0 can hold: a note may quote a committed file's bytes, and ElementTree
    writes control characters as they are, which no XML parser reads back."""
    return "".join(c if c in "\t\n\r" or (" " <= c <= "\ud7ff") or ("\ue000" <= c <= "\ufffd")
                   or c >= "\U00010000" else "?" for c in str(text))


def junit_xml(reports: list[Report]) -> bytes:
    """JUnit XML as CI systems read it: <testsuites> with one <testsuite> per model, one
    <testcase> per export and output (classname MODELNAME.export, name the output),
    <failure> on a disagreement or a stale/edited/incomplete export, <skipped> where a
    runtime is not installed, and <error> (a testcase NAME.export / export) for the
    runtime error that ended a check (Report.error). Each suite's <system-out> is the
    text table."""
    import xml.etree.ElementTree as ET

    def counts(rows, errors=0):
        return {"tests": str(len(rows) + errors), "failures": str(sum(r.status == FAIL for r in rows)),
                "errors": str(errors), "skipped": str(sum(r.status == SKIP for r in rows))}

    every = [row for r in reports for row in r.rows]
    root = ET.Element("testsuites", name="mlpexport check",
                      **counts(every, sum(bool(r.error) for r in reports)),
                      time=f"{sum(r.seconds for r in reports):.3f}")
    for rep in reports:
        suite = ET.SubElement(root, "testsuite", name=_xml_text(rep.model or rep.name),
                              **counts(rep.rows, int(bool(rep.error))), time=f"{rep.seconds:.3f}")
        props = ET.SubElement(suite, "properties")
        for key, value in (("name", rep.name), ("rows", rep.source or f"{rep.n_rows} rows"),
                           ("fingerprint", rep.fingerprint), ("atol", f"{rep.atol:g}"),
                           ("sklearn_version", rep.sklearn_version),
                           ("written_by", rep.written_by)):
            if value or key not in ("sklearn_version", "written_by"):
                ET.SubElement(props, "property", name=key, value=_xml_text(value))
        for row in rep.rows:
            export = "" if row.target == "-" else f".{row.target}"
            case = ET.SubElement(suite, "testcase", classname=_xml_text(f"{rep.name}{export}"),
                                 name=_xml_text("export" if row.output == "-" else row.output),
                                 time="0")
            if row.status == FAIL:
                why = row.failure()
                kind = "stale" if why.startswith("stale") else "disagreement"
                failure = ET.SubElement(case, "failure", message=_xml_text(why), type=kind)
                failure.text = _xml_text(
                    f"{row.target} {row.output}: {why}\nmax abs error {row.max_abs:.6g}, max rel "
                    f"error {row.max_rel:.6g} on {row.n} rows (rtol {row.rtol:g}, atol {row.atol:g})")
            elif row.status == SKIP:
                ET.SubElement(case, "skipped", message=_xml_text(row.note.removeprefix("skipped: ")))
        if rep.error:
            export = f".{rep.error_target}" if rep.error_target else ""
            case = ET.SubElement(suite, "testcase", classname=_xml_text(f"{rep.name}{export}"),
                                 name="export", time="0")
            ET.SubElement(case, "error", message=_xml_text(rep.error),
                          type="runtime").text = _xml_text(rep.error)
        ET.SubElement(suite, "system-out").text = _xml_text(rep.table())
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
