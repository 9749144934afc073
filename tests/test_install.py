"""mlpexport installs into the environment where the model lives: a project pinned to an
older scikit-learn and numpy 1 keeps them (pip changes neither), and convert + check of a
model trained there agree with that scikit-learn.

Needs pip to reach the package registry (its cache makes it quick); skips with the reason
when it cannot, unless MLPEXPORT_REQUIRE_PIP=1 (CI), where that is a failure."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

REQUIRE_PIP = os.environ.get("MLPEXPORT_REQUIRE_PIP") == "1"
PINNED = ["scikit-learn==1.4.2", "numpy<2"]  # a common pinned stack of a user's project

TRAIN = """
import sys
import numpy as np
import skops.io as sio
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 4))
reg = make_pipeline(StandardScaler(), MLPRegressor((16, 8), max_iter=300, random_state=0))
reg.fit(X, X @ [1.0, -2.0, 0.5, 3.0] + np.sin(X[:, 0]))
clf = MLPClassifier((8,), max_iter=300, random_state=0).fit(X, np.where(X[:, 0] > 0, "yes", "no"))
sio.dump(reg, sys.argv[1] + "/reg.skops")
import joblib
joblib.dump(clf, sys.argv[1] + "/clf.joblib")
"""


def run(*cmd, timeout=600, **kw):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                          timeout=timeout, **kw)


def unreachable(why):
    if REQUIRE_PIP:
        pytest.fail(f"{why}, but MLPEXPORT_REQUIRE_PIP=1")
    pytest.skip(why)


def versions(python):
    out = run(python, "-c", "import sklearn, numpy; print(sklearn.__version__, numpy.__version__)")
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_pip_install_keeps_a_pinned_sklearn_and_numpy_1_and_proves_parity_there(tmp_path):
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv).returncode == 0
    py, pip = venv / "bin" / "python", [venv / "bin" / "python", "-m", "pip", "-q",
                                        "--disable-pip-version-check"]
    # The user's project: its pinned scikit-learn and numpy 1, installed first.
    user = run(*pip, "install", *PINNED)
    if user.returncode != 0:
        if "Could not find a version" in user.stderr or "connection" in user.stderr.lower() \
                or "Temporary failure" in user.stderr or "Max retries" in user.stderr:
            unreachable(f"pip could not fetch {' '.join(PINNED)} from the package registry")
        pytest.fail(user.stderr[-2000:])
    before = versions(py)
    assert before[0] == "1.4.2" and before[1].startswith("1."), before
    # Then mlpexport under the project's constraints (as README's Install says): pip must
    # find every other dependency for that stack and change neither. (Unconstrained, pip
    # takes onnx's newest ml_dtypes, which needs numpy 2, and upgrades numpy for it.)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(PINNED) + "\n")
    proc = run(*pip, "install", "-c", constraints, ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert versions(py) == before, f"pip changed scikit-learn/numpy {before} -> {versions(py)}"
    assert run(py, "-c", TRAIN, tmp_path).returncode == 0
    mlpexport = venv / "bin" / "mlpexport"
    for model in ("reg.skops", "clf.joblib"):
        out = tmp_path / model.replace(".", "_")
        conv = run(mlpexport, "convert", tmp_path / model, "-o", out, "--to", "numpy,onnx")
        assert conv.returncode == 0, conv.stdout + conv.stderr
        check = run(mlpexport, "check", tmp_path / model, "--against", out, "--to", "numpy,onnx",
                    "--json")
        assert check.returncode == 0, check.stdout + check.stderr
        report = json.loads(check.stdout)
        assert report["passed"] and report["sklearn_version"] == "1.4.2"
        assert "written_by" not in report  # trained by the same scikit-learn
        assert {r["target"] for r in report["rows"]} == {"numpy", "onnx"}
        assert all(r["status"] == "PASS" and r["max_rel"] <= 1e-9 for r in report["rows"]), report
