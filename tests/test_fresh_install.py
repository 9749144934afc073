"""Nothing missing on a fresh install: `pip install mlpexport` (the runtime dependencies
only, no extras) into a new venv, then the README's commands (.ci/fresh_install.sh, which
CI also runs on its own): README command 1, the docs/mixed_types example, models fitted on
DataFrames, text columns, --data CSV, inspect, check --against, train and the API; the
commands that need an extra stop with one plain line naming it.

The venv is built once per session from a copy of the package (the working tree gets no
build/ folder), or taken from MLPEXPORT_FRESH_VENV when that names one (.ci/run builds it).
Without pip or its package index the test skips with the reason, unless
MLPEXPORT_REQUIRE_FRESH_INSTALL=1 (CI) makes that a failure."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, ".ci", "fresh_install.sh")
REQUIRE = os.environ.get("MLPEXPORT_REQUIRE_FRESH_INSTALL") == "1"
MODEL = os.path.join(ROOT, "fixtures", "models", "enc_mixed_types.skops")


def _unavailable(why):
    if REQUIRE:
        pytest.fail(f"{why}, but MLPEXPORT_REQUIRE_FRESH_INSTALL=1")
    pytest.skip(why)


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory):
    given = os.environ.get("MLPEXPORT_FRESH_VENV")
    if given:
        if not os.path.isfile(os.path.join(given, "bin", "mlpexport")):
            pytest.fail(f"MLPEXPORT_FRESH_VENV={given} holds no installed mlpexport")
        return given
    base = tmp_path_factory.mktemp("fresh")
    src = base / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src)
    shutil.copytree(os.path.join(ROOT, "mlpexport"), src / "mlpexport",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    venv = base / "venv"
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                       capture_output=True, text=True, timeout=300)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"cannot make a venv: {exc}")
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                          "--disable-pip-version-check", str(src)],
                         capture_output=True, text=True, timeout=1200)
    if pip.returncode != 0:
        lines = [line.strip() for line in pip.stderr.splitlines()
                 if line.strip() and "is ignored" not in line]
        said = [line for line in lines if "ERROR" in line or "No matching" in line] or lines
        _unavailable("pip install of mlpexport into a fresh venv failed (no package index?): "
                     + " / ".join(said[:2]))
    return str(venv)


def test_every_readme_command_works_with_the_runtime_dependencies_only(fresh_venv):
    if shutil.which("bash") is None:
        _unavailable("bash not found (.ci/fresh_install.sh is a bash script)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    proc = subprocess.run(["bash", SCRIPT, fresh_venv], capture_output=True, text=True,
                          timeout=1200, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "every README command that needs no extra works" in out


def test_a_dataframe_model_without_pandas_is_one_plain_line_not_an_internal_error(tmp_path):
    """An install made with --no-deps can lack pandas: checking a model fitted on a
    DataFrame then says what to install (exit 2) and writes nothing. It was
    `internal error: ModuleNotFoundError: No module named 'pandas'`."""
    script = ("import sys; sys.modules['pandas'] = None\n"
              "from mlpexport.cli import main\n"
              f"sys.exit(main(['convert', {MODEL!r}, '--to', 'numpy', '-o', 'out']))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "pip install pandas" in errors[0], proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_the_oracle_gives_scikit_learn_nan_for_a_missing_text_value_under_any_pandas(tmp_path):
    """Rows mlpexport makes (drawn, or read from a CSV's empty cells) hold the column's own
    missing value: NaN where the model's imputer counts NaN as missing. The oracle hands
    scikit-learn every value as the object it is, so under pandas 2 (which keeps None in a
    text column, where pandas 3 makes it NaN) SimpleImputer(missing_values=nan) still
    imputes those rows; with None there the oracle and every export disagreed (the
    mixed-types example failed with exit 1 under pandas 2.2). CI's floors run holds pandas 2."""
    import numpy as np

    from conftest import case
    from mlpexport.api import _rows
    from mlpexport.check import sklearn_outputs

    est, net, _ = case("mixed_types")
    csv = tmp_path / "rows.csv"
    csv.write_text("age,fare,embarked,sex,pclass\n30,10,,male,3\n40,80,S,,1\n")
    X = _rows(str(csv), net).X
    seen = []

    class Spy:
        def __getattr__(self, name):
            return getattr(est, name)

        def predict(self, frame):
            seen.append(frame)
            return est.predict(frame)

    sklearn_outputs(Spy(), X, net)
    frame = seen[0]
    for row, column in ((0, "embarked"), (1, "sex")):
        value = frame[column].iloc[row]
        assert value is not None and value != value, f"{column}: {value!r} given to scikit-learn"
