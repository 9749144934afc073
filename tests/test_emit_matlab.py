"""MATLAB target, run for real in GNU Octave: parity on every model of the table, the
inline variant, error identifiers, the hand-written verifier."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ALL, assert_matches, case, clear_rows, need_octave, reference
from mlpexport import emit
from mlpexport.emit import matlab
from mlpexport.errors import ExportError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERIFY_DIR = os.path.join(ROOT, "matlab")
NUMERIC_LABELS = [n for n in ALL if case(n)[1].classes is None
                  or case(n)[1].classes.dtype.kind in "biuf"]


@pytest.fixture(scope="module")
def octave_results(tmp_path_factory):
    """Every zoo model exported as .m/.mat (float64, float32) and inline, run in one Octave."""
    need_octave()
    jobs, keys = [], []
    for name in ALL:
        est, net, X = case(name)
        for variant in ("float64", "float32", "inline"):
            if variant == "inline" and name not in NUMERIC_LABELS:
                continue
            d = tmp_path_factory.mktemp(f"{name}_{variant}")
            dtype = "float32" if variant == "float32" else "float64"
            files = matlab.render(net, name, dtype=dtype, matlab_inline=variant == "inline")
            emit.write_all(files, str(d), force=True)
            jobs.append((str(d), name, X))
            keys.append((name, variant))
    return dict(zip(keys, matlab.run_many(jobs)))


@pytest.mark.parametrize("name", ALL)
def test_float64_parity_in_octave(name, octave_results):
    est, net, X = case(name)
    assert_matches(octave_results[(name, "float64")], reference(est, net, X), 1e-9, name)


@pytest.mark.parametrize("name", ALL)
def test_float32_parity_in_octave(name, octave_results):
    est, net, X = case(name)
    want = reference(est, net, X)
    got = octave_results[(name, "float32")]
    keep = clear_rows(want, 1e-4)
    got = {k: np.asarray(v).reshape(len(X), -1)[keep] for k, v in got.items()}
    want = {k: np.asarray(v).reshape(len(X), -1)[keep] for k, v in want.items()}
    assert_matches(got, want, 1e-4, name)


@pytest.mark.parametrize("name", NUMERIC_LABELS)
def test_inline_variant_gives_the_same_numbers(name, octave_results):
    a, b = octave_results[(name, "float64")], octave_results[(name, "inline")]
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]))


def test_inline_has_no_file_io_and_exact_literals():
    _, net, _ = case("reg_classic")
    text = matlab.render(net, "m", matlab_inline=True)["m.m"].decode()
    assert "load(" not in text and "function w = weights()" in text
    W1 = net.layers[0].W
    assert f"{W1[0, 0]:.17g}" in text and float(f"{W1[0, 0]:.17g}") == W1[0, 0]


def test_inline_refuses_string_labels():
    _, net, _ = case("clf_multi_str")
    with pytest.raises(ExportError, match="numeric outputs only"):
        matlab.render(net, "m", matlab_inline=True)


def test_non_ascii_labels_are_refused_at_export():
    from sklearn.linear_model import LogisticRegression
    X = np.random.default_rng(0).normal(size=(40, 2))
    est = LogisticRegression().fit(X, np.where(X[:, 0] > 0, "café", "thé"))
    from conftest import network
    with pytest.raises(ExportError, match="not ASCII"):
        matlab.render(network(est), "m")


def octave_eval(code, cwd):
    need_octave()
    return matlab.run_octave_script(code, str(cwd))


ERROR_CASES = [
    ("X = nan(2, 12);", "mlpexport:nonFinite"),
    ("X = ones(2, 12); X(2, 3) = Inf;", "mlpexport:nonFinite"),
    ("X = ones(2, 5);", "mlpexport:badShape"),
    ("X = ones(2, 12, 2);", "mlpexport:badShape"),
    ("X = 'abcdefghijkl';", "mlpexport:notNumeric"),
    ("X = {1, 2};", "mlpexport:notNumeric"),
    ("X = complex(ones(1, 12), 1);", "mlpexport:notNumeric"),
]


@pytest.fixture(scope="module")
def classic_dir(tmp_path_factory):
    _, net, _ = case("reg_classic")
    d = tmp_path_factory.mktemp("classic")
    emit.write_all(matlab.render(net, "classic"), str(d), force=True)
    return d


@pytest.mark.parametrize("setup,identifier", ERROR_CASES, ids=[e for _, e in ERROR_CASES])
def test_bad_input_raises_documented_error_identifier(setup, identifier, classic_dir):
    code = (f"addpath('{classic_dir}');\n{setup}\n"
            "try\n  classic(X);\n  disp('NO ERROR');\ncatch err\n  disp(err.identifier);\nend\n")
    out = octave_eval(code, classic_dir).stdout.strip().splitlines()
    assert out[-1] == identifier


def test_single_sample_as_vector_and_integer_input(classic_dir):
    est, _, X = case("reg_classic")
    row = X[:1]
    code = (f"addpath('{classic_dir}');\n"
            f"x = [{' '.join(f'{v:.17g}' for v in row[0])}];\n"
            "a = classic(x); b = classic(x'); c = classic(int32(ones(2, 12)));\n"
            "fprintf('%.17g %.17g %.17g %d\\n', a, b, c(1), isa(c, 'double'));\n")
    a, b, c, is_double = octave_eval(code, classic_dir).stdout.split()
    want = est.predict(row)[0]
    assert abs(float(a) - want) <= 1e-9 * abs(want) and float(a) == float(b)
    assert abs(float(c) - est.predict(np.ones((1, 12)))[0]) <= 1e-9 * abs(float(c)) and is_double == "1"


@pytest.fixture(scope="module")
def verify_exports(tmp_path_factory):
    """Exports made through `convert`, which stores scikit-learn's golden outputs."""
    import pickle
    from mlpexport.cli import main
    d = tmp_path_factory.mktemp("verify")
    names = ["reg_classic", "ttr_minmax_multi", "clf_multi_str", "clf_multilabel", "lr_legacy_ovr"]
    for name in names:
        with open(d / f"{name}.pkl", "wb") as f:
            pickle.dump(case(name)[0], f)
        assert main(["convert", str(d / f"{name}.pkl"), "--to", "matlab", "-o", str(d)]) == 0
    return d, names


def test_verifier_passes_on_fresh_exports(verify_exports):
    d, names = verify_exports
    code = f"addpath('{VERIFY_DIR}'); addpath('{d}');\n" + "".join(
        f"ok = mlpexport_verify('{n}'); fprintf('RESULT %s %d\\n', '{n}', ok);\n" for n in names)
    out = octave_eval(code, d).stdout
    for n in names:
        assert f"RESULT {n} 1" in out, out


def test_verifier_fails_on_a_tampered_mat(verify_exports, tmp_path):
    from scipy.io import loadmat, savemat
    d, _ = verify_exports
    for suffix in (".m", ".mat"):
        shutil.copy(d / f"clf_multi_str{suffix}", tmp_path)
    m = {k: v for k, v in loadmat(tmp_path / "clf_multi_str.mat").items() if not k.startswith("__")}
    m["W2"] = m["W2"] * 1.001
    savemat(tmp_path / "clf_multi_str.mat", m, format="5")
    code = (f"addpath('{VERIFY_DIR}'); addpath('{tmp_path}');\n"
            "try\n  mlpexport_verify('clf_multi_str');\n  disp('NO ERROR');\n"
            "catch err\n  disp(err.identifier);\nend\n")
    out = octave_eval(code, tmp_path).stdout.strip().splitlines()
    assert out[-1] == "mlpexport:verifyFailed"


def test_mat_file_is_readable_by_a_matlab_user(tmp_path):
    from scipy.io import loadmat
    _, net, _ = case("clf_multi_str")
    emit.write_all(matlab.render(net, "m"), str(tmp_path), force=True)
    m = loadmat(tmp_path / "m.mat")
    assert m["W1"].shape == net.layers[0].W.shape and m["x_center"].shape == (1, 6)
    assert [str(c[0]) for c in m["classes"].ravel()] == ["setosa", "versicolor", "virginica"]
    assert str(m["meta"]["fingerprint"][0, 0][0]) == net.fingerprint


def test_generated_code_passes_miss_hit_lint(tmp_path):
    mh_lint = shutil.which("mh_lint", path=os.path.dirname(sys.executable)) or shutil.which("mh_lint")
    if mh_lint is None:
        pytest.skip("miss_hit not installed")
    for name in ("reg_classic", "clf_multi_str", "lr_legacy_ovr"):
        _, net, _ = case(name)
        (tmp_path / f"{name}.m").write_bytes(matlab.render(net, name)[f"{name}.m"])
    shutil.copy(os.path.join(VERIFY_DIR, "mlpexport_verify.m"), tmp_path)
    proc = subprocess.run([mh_lint, "--matlab", "2017b", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
