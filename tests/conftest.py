import os
import shutil
import sys
import warnings

import numpy as np
import pytest
from hypothesis import settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))

from mlpexport.check import errors  # noqa: E402
from mlpexport.data import draw_rows  # noqa: E402
from mlpexport.extract import extract
from mlpexport.check import sklearn_outputs  # noqa: E402
from zoo import ZOO, get  # noqa: E402
from zoo import unavailable as zoo_unavailable  # noqa: E402
import make  # noqa: E402  fixtures/make.py

# Under another scikit-learn than the one that wrote fixtures/models (CI's oldest set),
# the fixtures are remade from their recipes with the installed versions (see make.py).
make.ensure()


def fixture_model(name):
    """Path of the fixture model NAME for the installed scikit-learn (the committed file,
    or its remake); skips with the reason when this scikit-learn cannot make it."""
    recipe = make.named(name)
    why = make.unavailable(recipe)
    if why:
        pytest.skip(why)
    return make.model_path(recipe)

REQUIRE_OCTAVE = os.environ.get("MLPEXPORT_REQUIRE_OCTAVE") == "1"
# check runs the ONNX export in every ONNX runtime installed; the suite's other checks
# run it in onnxruntime only (tests/test_onnx_runtimes.py runs the others on the zoo).
os.environ.setdefault("MLPEXPORT_ONNX_RUNTIMES", "onnxruntime")

# CI draws the same property-test examples every run (a failure there is reproducible,
# never a roll of the dice); locally hypothesis explores new ones.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def octave_available():
    return shutil.which("octave-cli") is not None


def cc_available():
    """A C compiler as the C target finds one ($CC, cc, gcc, clang): whether C exports run.
    Independent of octave_available: a machine may have either tool alone."""
    from mlpexport.emit import c as c_target
    from mlpexport.errors import RuntimeMissing
    try:
        c_target.compiler()
    except RuntimeMissing:
        return False
    return True


def need_octave():
    if not octave_available():
        if REQUIRE_OCTAVE:
            pytest.fail("octave-cli is missing but MLPEXPORT_REQUIRE_OCTAVE=1")
        pytest.skip("octave-cli not installed: MATLAB exports not run")


def network(est):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return extract(est)


def case(name):
    """(estimator, network, rows): training rows + drawn rows incl. zeros and extremes."""
    est, X = get(name)
    net = network(est)
    return est, net, np.vstack([X, draw_rows(net)])


def reference(est, net, X):
    return sklearn_outputs(est, X, net)


def assert_matches(got, want, rtol, what=""):
    """Every output of an export equals scikit-learn's: labels identical, numbers within rtol."""
    assert set(want) <= set(got), f"{what}: missing outputs {set(want) - set(got)}"
    worst = 0.0
    for key, ref in want.items():
        out = np.asarray(got[key])
        ref = np.asarray(ref)
        if out.shape != ref.shape and out.size == ref.size:
            out = out.reshape(ref.shape)
        assert out.shape == ref.shape, f"{what} {key}: shape {out.shape} != {ref.shape}"
        if key == "predict" and ("predict_proba" in want or "decision_function" in want):
            if ref.dtype.kind in "biuf":
                same = out.astype(np.float64) == ref.astype(np.float64)
            else:
                same = out.astype(str) == ref.astype(str)
            assert same.all(), f"{what}: labels differ"
            continue
        _, rel = errors(out, ref)
        worst = max(worst, float(rel.max()))
        assert rel.max() <= rtol, f"{what} {key}: max rel error {rel.max():.3g} > {rtol:g}"
    return worst


def clear_rows(want, tol):
    """Rows whose labels are not near-ties in scikit-learn's own probabilities (or
    scores): there a float32 export may round to the other label. Rows of a regressor
    whose values float32 cannot hold (a GLM's exp far out) are left out too."""
    if "predict_proba" not in want and "decision_function" not in want:
        y = np.abs(np.asarray(want["predict"], dtype=np.float64)).reshape(len(want["predict"]), -1)
        return (y <= np.finfo(np.float32).max).all(axis=1)
    if "predict_proba" not in want and "decision_function" in want:  # labels from scores
        d = np.asarray(want["decision_function"], dtype=np.float64)
        scale = np.median(np.abs(d)) or 1.0
        if d.ndim == 1:
            return np.abs(d) > tol * scale
        s = np.sort(d, axis=1)
        return s[:, -1] - s[:, -2] > tol * scale
    if "predict_proba" not in want:
        return np.ones(len(want["predict"]), bool)
    p = np.asarray(want["predict_proba"])
    if np.ndim(want["predict"]) == 2:  # multilabel: each column against 0.5
        return (np.abs(p - 0.5) > tol).all(axis=1)
    s = np.sort(p, axis=1)
    keep = s[:, -1] - s[:, -2] > tol
    d = np.asarray(want.get("decision_function", np.zeros((len(p), 1))), dtype=np.float64)
    if d.ndim == 2 and d.shape[1] > 1:  # one-vs-rest: every sigmoid below float32's tiny
        keep &= d.max(axis=1) > np.log(np.finfo(np.float32).tiny)  # is 0/0 there
    return keep


ALL = sorted(ZOO)
# The zoo models the installed scikit-learn can build (the others skip, with the reason,
# in tests parametrized over ALL): for loops over the whole zoo inside one test.
AVAILABLE = [n for n in ALL if not zoo_unavailable(n)]
