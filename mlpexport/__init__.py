"""mlpexport: run a trained scikit-learn MLP or logistic model anywhere, with the same answers.

Export a fitted model (an estimator object, or a .skops/.pkl/.joblib file read through a
safe loader) to a numpy module, an ONNX graph and a MATLAB function, and prove that each
gives scikit-learn's own predictions:

    >>> import mlpexport
    >>> report = mlpexport.convert(model, "exports/")       # check, then write
    >>> report.passed
    True
    >>> mlpexport.check("model.skops", against="exports/").passed   # the CI gate
    True
    >>> mlpexport.inspect(model)["layers"]                  # what it computes

    convert(model, outdir, *, to="all", name=None, dtype="float64", data=None, force=False)
    check(model, *, data=None, against=None, name=None, to="all", rtol=None, atol=None)
    inspect(model, *, data=None) -> dict
    mlpexport.testing.assert_parity(model, exports_dir)     # for your own pytest suite

convert and check return a Report: `passed`, `rows` (export, output, max_abs, max_rel,
labels, status PASS/FAIL/SKIP), `source` (where the rows came from), `to_json()`, and
`print(report)` for the table. A disagreement is not an exception: the Report's
`passed` is False (the command line's exit code 1). Problems are typed exceptions, all
derived from MlpexportError (the command line's exit code 2): UsageError,
UnsafeModelError, UnsupportedModelError, ModelFileError, DataError, OutputExistsError
(a file exists and force=False), ExportError (an export's runtime missing or crashing).
"""
import sys as _sys
import types as _types

__version__ = "0.1.0"

# Light on purpose: errors has no imports and api imports numpy, scikit-learn and the
# targets' libraries only inside the calls, so `import mlpexport` (and `--help`) is fast.
from .api import check, convert, inspect  # noqa: E402
from .errors import (DataError, ExportError, MlpexportError, ModelFileError,  # noqa: E402
                     OutputExistsError, UnsafeModelError, UnsupportedModelError, UsageError)

__all__ = ["convert", "check", "inspect", "MlpexportError", "UsageError", "UnsafeModelError",
           "UnsupportedModelError", "ModelFileError", "DataError", "OutputExistsError",
           "ExportError", "__version__"]


class _Package(_types.ModuleType):
    """`check` is both a function of the API and a submodule (mlpexport/check.py).
    Importing a submodule sets it as an attribute of the package, which would replace
    the function the first time anything runs `from .check import ...`; the function is
    kept. (`inspect`'s module is mlpexport/inspection.py, so it never shadows the
    standard library's `inspect`.) The modules stay importable by
    their full names (`from mlpexport.check import Report`)."""

    def __setattr__(self, attr, value):
        if attr == "check" and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(attr, value)


_sys.modules[__name__].__class__ = _Package
