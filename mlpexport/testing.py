"""Parity assertions for your own test suite (pytest, unittest or plain asserts).

    # tests/test_exports.py
    from mlpexport.testing import assert_parity

    def test_committed_exports_match_the_model():
        assert_parity("models/price.skops", "exports/")

`assert_parity` runs the exports committed in a folder against the model, exactly as
`mlpexport check MODEL --against DIR` does, and raises AssertionError naming each export
that disagrees, is stale (made from another model), edited, incomplete or mixed from two
exports. A runtime that is not installed (octave-cli for the MATLAB export) does not fail
the assertion: nothing was run, and the message of a later failure lists it as skipped.
Model files are read through the safe loader; bad inputs raise mlpexport's typed errors
(UsageError, DataError, ...), not AssertionError, so a broken test setup is not mistaken
for a disagreement. See docs/test_parity_example.py for a complete file.
"""
from __future__ import annotations

from .api import check

__all__ = ["assert_parity"]


def assert_parity(model, exports_dir, *, data=None, name=None, to="all", rtol=None, atol=None):
    """Assert that the exports in `exports_dir` give `model`'s predictions; return the Report.

    model: a fitted estimator or a model file path. data: rows to check on (array,
    DataFrame or .npy/.csv path; default: rows drawn from the model, extremes included).
    name: the exports' base name (default: the model file's stem, or "model" for an
    estimator object). to, rtol, atol: as in `mlpexport.check`.

    >>> assert_parity("models/price.skops", "exports/")
    >>> assert_parity(est, "exports/", name="price", data=X_test)
    """
    report = check(model, data=data, against=exports_dir, name=name, to=to, rtol=rtol, atol=atol)
    if report.passed:
        return report
    lines = [f"exports of {report.name} in {exports_dir} do not match {report.model} "
             f"(on {report.source}):"]
    for row in report.rows:
        if row.status == "FAIL":
            where = row.target if row.output == "-" else f"{row.target} {row.output}"
            lines.append(f"  {where}: {row.failure()}")
    if report.skipped:
        lines.append("  not run: " + "; ".join(f"{t} ({why.rstrip('.')})" for t, why in report.skipped))
    lines.append("Re-export with `mlpexport convert MODEL -o DIR --force` if the model changed "
                 "on purpose.")
    raise AssertionError("\n".join(lines))
