"""The top-level matlab/ folder: the one source of the hand-written MATLAB code. The wheel
ships the same bytes; its MATLAB-side suite (mlpexport_test_exports, which the
matlab.unittest class in matlab/tests calls) runs in Octave on exports made by `convert`;
MISS_HIT lints and styles everything under matlab/ and lints every generated .m, in
MATLAB mode (miss_hit.cfg)."""
import glob
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import resources

import pytest

from conftest import ALL, ROOT, case, fixture_model, need_octave
from mlpexport import emit
from mlpexport.emit import matlab
from test_emit_matlab import NUMERIC_LABELS, _big_labels_model

FOLDER = os.path.join(ROOT, "matlab")
SHIPPED = sorted(glob.glob(os.path.join(FOLDER, "*.m")))  # package data of mlpexport.matlab


def test_the_matlab_folder_is_the_one_source():
    names = [os.path.basename(p) for p in SHIPPED]
    assert "mlpexport_verify.m" in names and "mlpexport_test_exports.m" in names
    assert not glob.glob(os.path.join(ROOT, "mlpexport", "**", "*.m"), recursive=True)
    with open(os.path.join(FOLDER, "mlpexport_verify.m"), "rb") as f:
        assert matlab.verifier() == f.read()
    installed = resources.files("mlpexport.matlab")
    for path in SHIPPED:
        with open(path, "rb") as f:
            assert installed.joinpath(os.path.basename(path)).read_bytes() == f.read(), path


def test_the_wheel_ships_the_matlab_folder_byte_for_byte(tmp_path):
    """Built from this checkout as a user's pip would: its mlpexport/matlab/*.m are
    matlab/'s bytes (an editable install reads matlab/ itself, so only a wheel shows it)."""
    src = tmp_path / "src"  # a copy: pip builds in the tree, and a stale build/ would leak in
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "*.egg-info", "__pycache__", ".pytest_cache", "fixtures",
        "benchmarks", "tests", "docs"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                           "-w", str(tmp_path), str(src)], capture_output=True, text=True,
                          timeout=600)
    wheels = glob.glob(str(tmp_path / "*.whl"))
    if proc.returncode != 0 or not wheels:
        pytest.fail(f"pip wheel failed: {proc.stderr[-2000:]}")
    with zipfile.ZipFile(wheels[0]) as z:
        shipped = {n: z.read(n) for n in z.namelist() if n.endswith(".m")}
    want = {}
    for path in SHIPPED:
        with open(path, "rb") as f:
            want[f"mlpexport/matlab/{os.path.basename(path)}"] = f.read()
    assert shipped == want


# ------------------------------------------------ the MATLAB-side suite, run in Octave

CONVERTED = [  # (fixture, dtype): what each exercises
    ("digits", "float32"),          # softmax probabilities that underflow to 0 in float32
    ("logistic_cv", "float32"),     # the same, a logistic model
    ("enc_text_none_imputer", "float64"),  # text columns: a struct of columns, row count
    ("pipe_ct_dataframe", "float64"),      # feature names: struct input, a char field
    ("binary_str", "float32"),      # string labels
    ("lin_linear_svc_multi", "float64"),   # scores, no probabilities
    ("diabetes", "float32"),        # a regressor
]

RUN = """args = argv();
addpath(args{1});
results = mlpexport_test_exports(args{2});
name = {results.name}; test = {results.test}; passed = [results.passed]; message = {results.message};
save('-v6', args{3}, 'name', 'test', 'passed', 'message');
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Exports made by `convert` (which stores the test rows and check's scales)."""
    from mlpexport.cli import main
    need_octave()
    d = tmp_path_factory.mktemp("exports")
    for i, (fixture, dtype) in enumerate(CONVERTED):
        model = fixture_model(fixture)
        verify = ["--matlab-verify"] if i == 0 else []
        assert main(["convert", model, "--to", "matlab", "--dtype", dtype, "-o", str(d),
                     "--force", *verify]) == 0, fixture
    return d


def test_octave_runs_the_matlab_side_suite_on_converted_exports(converted, tmp_path):
    from scipy.io import loadmat
    out = tmp_path / "results.mat"
    proc = matlab.run_octave_script(RUN, str(tmp_path), (FOLDER, converted, out))
    assert out.exists(), proc.stdout + proc.stderr
    r = loadmat(out)
    rows = list(zip((str(n[0]) for n in r["name"].ravel()), (str(t[0]) for t in r["test"].ravel()),
                    r["passed"].ravel().astype(bool),
                    (str(m[0]) if m.size else "" for m in r["message"].ravel())))
    failed = [row for row in rows if not row[2]]
    assert not failed, failed
    ran = {(n, t) for n, t, _, _ in rows}
    for fixture, _ in CONVERTED:
        assert (fixture, "verify") in ran, fixture
    assert ("pipe_ct_dataframe", "charField") in ran and ("digits", "badShape") in ran
    assert ("enc_text_none_imputer", "charField") in ran
    # the verifier counts the rows of a struct of columns (it said "1 rows")
    d = loadmat(converted / "enc_text_none_imputer.mat")
    n = d["test_predict"].shape[0]
    assert n > 1 and re.search(rf"^enc_text_none_imputer: {n} rows,", proc.stdout, re.M), proc.stdout
    assert re.search(r"^digits: PASS", proc.stdout, re.M) and re.search(r"^logistic_cv: PASS",
                                                                         proc.stdout, re.M)


def test_the_suite_reports_a_broken_export(converted, tmp_path):
    """A suite that cannot fail proves nothing: an edited weight makes verify FAIL, and
    the runner raises mlpexport:testsFailed when called without an output."""
    from scipy.io import loadmat, savemat
    for f in ("diabetes.m", "diabetes.mat"):
        shutil.copy(converted / f, tmp_path)
    m = {k: v for k, v in loadmat(tmp_path / "diabetes.mat").items() if not k.startswith("__")}
    first = next(k for k in m if re.fullmatch(r"W\d+", k))
    m[first] = m[first] * 1.01
    savemat(tmp_path / "diabetes.mat", m, format="5")
    code = ("args = argv(); addpath(args{1});\n"
            "try\n  mlpexport_test_exports(args{2});\n  disp('NO ERROR');\n"
            "catch err\n  disp(err.identifier);\nend\n")
    proc = matlab.run_octave_script(code, str(tmp_path), (FOLDER, tmp_path))
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "mlpexport:testsFailed" and "FAIL diabetes verify" in proc.stdout, proc.stdout


# --------------------------------------------------------------------- MISS_HIT

def _mh(tool):
    exe = shutil.which(tool, path=os.path.dirname(sys.executable)) or shutil.which(tool)
    if exe is None:
        pytest.skip("miss_hit is not installed (pip install miss_hit; it is in the test extra)")
    return exe


def test_miss_hit_lints_and_styles_the_matlab_folder():
    for tool in ("mh_lint", "mh_style"):
        proc = subprocess.run([_mh(tool), FOLDER], capture_output=True, text=True, cwd=ROOT)
        assert proc.returncode == 0 and "everything seems fine" in proc.stdout, proc.stdout + proc.stderr


def test_miss_hit_style_would_catch_a_violation(tmp_path):
    """The configuration is in force: a file that breaks it is reported."""
    shutil.copytree(FOLDER, tmp_path / "matlab", ignore=shutil.ignore_patterns("*.py"))
    shutil.copy(os.path.join(ROOT, "miss_hit.cfg"), tmp_path)
    (tmp_path / "matlab" / "bad_file.m").write_text("function bad_file(x)\nif x, y=1; end\nend\n")
    proc = subprocess.run([_mh("mh_style"), str(tmp_path / "matlab")], capture_output=True,
                          text=True, cwd=tmp_path)
    assert proc.returncode != 0 and "bad_file.m" in proc.stdout


def test_miss_hit_lints_every_generated_m_in_matlab_mode(tmp_path):
    for name in ALL:
        _, net, _ = case(name)
        for dtype in ("float64", "float32"):
            (tmp_path / f"{name}_{dtype}.m").write_bytes(
                matlab.render(net, f"{name}_{dtype}", dtype=dtype)[f"{name}_{dtype}.m"])
        if name in NUMERIC_LABELS:
            (tmp_path / f"{name}_inline.m").write_bytes(
                matlab.render(net, f"{name}_inline", matlab_inline=True)[f"{name}_inline.m"])
    _, net, _ = _big_labels_model()
    emit.write_all({"big.m": matlab.render(net, "big", matlab_inline=True)["big.m"]},
                   str(tmp_path), force=True)
    (tmp_path / "mlpexport_run.m").write_text(matlab.RUNNER)
    proc = subprocess.run([_mh("mh_lint"), "--ignore-config", "--matlab", "2017b", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "everything seems fine" in proc.stdout, proc.stdout[-3000:]
    assert len(list(tmp_path.glob("*.m"))) > 2 * len(ALL)


def test_convert_stores_the_scale_check_judged_by(converted):
    """The verifier judges as check does because the .mat carries check's per-column
    typical magnitudes (of scikit-learn's outputs on the rows convert checked)."""
    import numpy as np
    from scipy.io import loadmat
    from mlpexport import api
    from mlpexport.check import output_scales
    from mlpexport.data import draw_rows
    model = fixture_model("digits")
    m = api._load(model, trust_pickle=False, note=lambda *a: None)
    want = output_scales(m.est, m.net, draw_rows(m.net))["predict_proba"]
    got = loadmat(converted / "digits.mat")["test_scale_proba"].ravel()
    np.testing.assert_array_equal(got, want)
    own = np.median(np.abs(loadmat(converted / "digits.mat")["test_proba"]), axis=0)
    assert (own < 1e-20).any()  # the test rows' own medians would fail float32 (0 vs 4e-150)
