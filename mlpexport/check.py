"""Run exports and scikit-learn on the same rows and report how far apart they are.

Errors are measured per output element: absolute |export - sklearn| and relative
|export - sklearn| / max(|sklearn|, m) where m is the median magnitude of that output
column, so values that cancel to almost zero do not blow the relative error up. An
element passes when its relative error <= rtol or its absolute error <= atol. Equal
infinities and NaNs in the same places count as agreement. Labels must be identical,
except where scikit-learn's own probabilities tie to within rtol (reported as ties).
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field

import numpy as np

from . import emit
from .errors import ExportError, InputError, RuntimeMissing
from .extract import sklearn_outputs
from .network import Network

DEFAULT_RTOL = {"float64": 1e-9, "float32": 1e-4}


@dataclass
class Row:
    target: str
    output: str
    n: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    labels_agree: float | None = None
    ties: int = 0
    passed: bool = True
    note: str = ""
    equal: int = 0  # label rows that agree (classifiers)
    differ: int = 0  # label rows that differ


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    n_rows: int = 0
    rtol: float = 0.0
    atol: float = 0.0
    fingerprint: str = ""
    samples: dict = field(default_factory=dict, repr=False)  # {export: (got, want)}, first rows

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def to_json(self) -> dict:
        return {"passed": self.passed, "n_rows": self.n_rows, "rtol": self.rtol,
                "atol": self.atol, "fingerprint": self.fingerprint,
                "rows": [asdict(r) for r in self.rows]}

    def table(self) -> str:
        head = f"{'export':<8} {'output':<14} {'max abs err':>12} {'max rel err':>12} {'labels':>8}  result"
        lines = [head, "-" * len(head)]
        for r in self.rows:
            labels = "" if r.labels_agree is None else f"{100 * r.labels_agree:.1f}%"
            result = "PASS" if r.passed else "FAIL"
            if r.note:
                result += f"  ({r.note})"
            if r.n == 0:
                lines.append(f"{r.target:<8} {r.output:<14} {'':>12} {'':>12} {'':>8}  {result}")
            else:
                lines.append(f"{r.target:<8} {r.output:<14} {r.max_abs:12.3g} {r.max_rel:12.3g} {labels:>8}  {result}")
        verdict = "all exports agree with scikit-learn" if self.passed else "DISAGREEMENT beyond tolerance"
        lines.append(f"{self.n_rows} rows, rtol {self.rtol:g}, atol {self.atol:g}: {verdict}.")
        return "\n".join(lines)


def typical_scale(want) -> np.ndarray:
    """Per output column: the median magnitude (its maximum where the median is 0)."""
    w = np.abs(np.where(np.isfinite(want), want, 0.0)).reshape(len(want), -1)
    typical = np.median(w, axis=0)
    return np.where(typical > 0, typical, w.max(axis=0))


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


def compare(target, output, got, want, rtol, atol, proba=None, typical=None) -> Row:
    want = np.asarray(want)
    got = _fit_shape(got, want)
    row = Row(target, output, n=len(want))
    if got.shape != want.shape:
        row.passed, row.note = False, f"shape {got.shape}, scikit-learn gives {want.shape}"
        return row
    if output == "predict" and proba is not None:  # classifier labels
        if want.dtype.kind in "OUS":
            equal = np.asarray(got).astype(str) == want.astype(str)
        else:
            equal = np.asarray(got, dtype=np.float64) == want.astype(np.float64)
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
    abs_err, rel_err = errors(got, want, typical)
    row.max_abs = float(abs_err.max())
    row.max_rel = float(rel_err.max())
    row.passed = bool(np.all((rel_err <= rtol) | (abs_err <= atol)))
    return row


def _label_verdict(row):
    row.passed = row.ties == row.differ
    row.note = (f"{row.differ} labels differ" + (f", {row.ties} at ties" if row.ties else "")
                if row.differ else "")
    return row


def merge(a: Row, b: Row) -> Row:
    """One row for two chunks of the same export and output."""
    out = Row(a.target, a.output, n=a.n + b.n, max_abs=max(a.max_abs, b.max_abs),
              max_rel=max(a.max_rel, b.max_rel), passed=a.passed and b.passed,
              note=a.note or b.note)
    if a.labels_agree is not None:
        out.equal, out.ties, out.differ = a.equal + b.equal, a.ties + b.ties, a.differ + b.differ
        out.labels_agree = out.equal / max(out.n, 1)
        out = _label_verdict(out)
    return out


def compare_outputs(target, got: dict, want: dict, rtol, atol, typical=None) -> list[Row]:
    rows = []
    for output, ref in want.items():
        if output not in got:
            rows.append(Row(target, output, passed=False, note="missing from the export"))
            continue
        rows.append(compare(target, output, got[output], ref, rtol, atol,
                            want.get("predict_proba"), (typical or {}).get(output)))
    return rows


def _runner(t, directory, name, required):
    """A function X -> outputs for the export, or a Row saying why there is none."""
    try:
        return emit.target(t).runner(directory, name)
    except RuntimeMissing as exc:
        if required:
            raise ExportError(str(exc)) from None
        return Row(t, "-", passed=True, note=f"skipped: {exc}")
    except Exception as exc:
        return Row(t, "-", passed=False, note=f"{name} failed to load: {type(exc).__name__}: {exc}")


CHUNK = 100_000  # rows per chunk: scikit-learn and every export see the same chunks
SAMPLE = 100_000  # the first rows set each output column's typical magnitude


def check(est, net: Network, X, targets, *, dtype="float64", rtol=None, atol=0.0,
          against: str | None = None, name: str = "model", required=(), options=None,
          files: dict | None = None, chunk: int = CHUNK) -> Report:
    """Every requested export against scikit-learn's own outputs on rows X.

    X may be a memory-mapped array: rows are read, predicted and compared `chunk` at a
    time, so memory stays bounded however many rows there are; the report is the same
    for any chunk size.
    against: a directory of committed exports to run instead of fresh ones; exports
    made from another model (fingerprint) or with edited weights (digest) fail.
    required: targets whose runtime must be present (otherwise they are skipped).
    files: already rendered exports to check (convert checks the bytes it will write).
    """
    rtol = DEFAULT_RTOL[dtype] if rtol is None else rtol
    report = Report(n_rows=len(X), rtol=rtol, atol=atol, fingerprint=net.fingerprint)
    if against is not None:
        directory, runnable = against, []
        for t in targets:
            mod = emit.target(t)
            present = [s for s in mod.FILES if os.path.exists(os.path.join(against, name + s))]
            if not present:
                if t in required:
                    report.rows.append(Row(t, "-", passed=False, note=f"no {name}{'/'.join(mod.FILES)} in {against}"))
                continue
            if len(present) < len(mod.FILES):
                report.rows.append(Row(t, "-", passed=False, note=f"incomplete export: only {', '.join(name + s for s in present)}"))
                continue
            st = mod.stamp(against, name)
            if st.fingerprint != net.fingerprint:
                report.rows.append(Row(t, "-", passed=False,
                                       note=f"stale: {st.file} was made from a different model"))
                continue
            if not st.intact:
                report.rows.append(Row(t, "-", passed=False,
                                       note=f"{st.file} weights were edited after export"))
            runnable.append(t)
        if not report.rows and not runnable:
            report.rows.append(Row("-", "-", passed=False, note=f"no exports named {name} in {against}"))
        report.rows += _compare_chunks(est, net, X, runnable, directory, name, rtol, atol, required,
                                       chunk, report.samples)
        return report
    if files is None:
        files = emit.render_all(net, name, targets, dtype, **(options or {}))
    with tempfile.TemporaryDirectory(prefix="mlpexport-check-") as tmp:
        emit.write_all(files, tmp, force=True)
        report.rows += _compare_chunks(est, net, X, targets, tmp, name, rtol, atol, required,
                                       chunk, report.samples)
    return report


def _rows_of(X, start, stop):
    Xc = np.asarray(X[start:stop], dtype=np.float64)
    if not np.isfinite(Xc).all():
        raise InputError(f"the data contain NaN or infinite values (rows {start}..{stop - 1}).")
    return Xc


PLOT_ROWS = 5000  # rows kept per export for plots


def _compare_chunks(est, net, X, targets, directory, name, rtol, atol, required, chunk, samples):
    runners, rows = {}, []
    for t in targets:
        r = _runner(t, directory, name, t in required)
        if isinstance(r, Row):
            rows.append(r)
        else:
            runners[t] = r
    Xs = _rows_of(X, 0, SAMPLE)  # the first rows: they set each column's typical scale
    sample = sklearn_outputs(est, Xs, net)
    typical = {k: typical_scale(np.asarray(v, dtype=np.float64))
               for k, v in sample.items() if not (k == "predict" and net.is_classifier)}
    merged: dict = {}
    for start in range(0, len(X), chunk):
        stop = min(start + chunk, len(X))
        if stop <= len(Xs):  # rows and scikit-learn's outputs are already at hand
            Xc, want = Xs[start:stop], {k: v[start:stop] for k, v in sample.items()}
        else:
            Xc = _rows_of(X, start, stop)
            want = sklearn_outputs(est, Xc, net)
        for t, run in list(runners.items()):
            try:
                got = run(Xc)
            except Exception as exc:  # the export itself failed on these rows
                merged[(t, "-")] = Row(t, "-", passed=False, note=f"{name} failed: {type(exc).__name__}: {exc}")
                del runners[t]
                continue
            if start == 0:
                samples[t] = ({k: v[:PLOT_ROWS] for k, v in got.items()},
                              {k: v[:PLOT_ROWS] for k, v in want.items()})
            for row in compare_outputs(t, got, want, rtol, atol, typical):
                key = (t, row.output)
                merged[key] = merge(merged[key], row) if key in merged else row
    return rows + list(merged.values())
