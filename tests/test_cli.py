"""The command line: exit codes, one-line errors, all-or-nothing writes."""
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

from conftest import get
from mlpexport import emit
from mlpexport.cli import main
from mlpexport.errors import ExportError

FILES = {"m.py", "m.npz", "m.onnx", "m.m", "m.mat"}


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(get("clf_multi_str")[0]))
    return path


def cli(*args, env=None):
    """Run the real console entry point in a subprocess."""
    proc = subprocess.run([sys.executable, "-m", "mlpexport.cli", *map(str, args)],
                          capture_output=True, text=True, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_convert_writes_every_target_and_reports_parity(model, tmp_path):
    out = tmp_path / "out"
    proc = cli("convert", model, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert set(os.listdir(out)) == FILES
    assert "all exports agree with scikit-learn" in proc.stdout


def test_existing_files_survive_without_force(model, tmp_path):
    out = tmp_path / "out"
    assert main(["convert", str(model), "-o", str(out), "--to", "numpy,onnx"]) == 0
    (out / "m.py").write_text("# mine")
    proc = cli("convert", model, "-o", out, "--to", "numpy")
    assert proc.returncode == 2 and "--force" in proc.stderr
    assert (out / "m.py").read_text() == "# mine"
    assert cli("convert", model, "-o", out, "--to", "numpy", "--force").returncode == 0
    assert (out / "m.py").read_text() != "# mine"


@pytest.mark.parametrize("args,message", [
    (["--name", "2bad"], "not a valid identifier"),
    (["--name", "a" * 64], "not a valid identifier"),
    (["--to", "numpy,java"], "unknown target 'java'"),
    (["--dtype", "float16"], "invalid choice"),
])
def test_usage_errors_exit_2_and_write_nothing(model, tmp_path, args, message):
    out = tmp_path / "out"
    proc = cli("convert", model, "-o", out, *args)
    assert proc.returncode == 2
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists() or not os.listdir(out)


def test_default_name_is_the_stem_made_an_identifier(tmp_path):
    path = tmp_path / "2 my-model.v1.pkl"
    path.write_bytes(pickle.dumps(get("reg_classic")[0]))
    assert main(["convert", str(path), "-o", str(tmp_path / "o"), "--to", "numpy"]) == 0
    assert sorted(os.listdir(tmp_path / "o")) == ["model_2_my_model_v1.npz", "model_2_my_model_v1.py"]


def test_unsupported_and_unsafe_models_exit_2_without_files(tmp_path):
    from sklearn.linear_model import LinearRegression
    X = np.random.default_rng(0).normal(size=(20, 2))
    (tmp_path / "lin.pkl").write_bytes(pickle.dumps(LinearRegression().fit(X, X[:, 0])))
    proc = cli("convert", tmp_path / "lin.pkl", "-o", tmp_path / "o")
    assert proc.returncode == 2 and "LinearRegression (sklearn.linear_model._base) is not supported" in proc.stderr and "MLPRegressor" in proc.stderr
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(os.getcwd))
    proc = cli("convert", tmp_path / "evil.pkl", "-o", tmp_path / "o")
    assert proc.returncode == 2 and "allowlist" in proc.stderr
    proc = cli("check", tmp_path / "missing.pkl")
    assert proc.returncode == 2 and "no such model file" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_check_exit_codes_json_and_data_files(model, tmp_path):
    est = get("clf_multi_str")[0]
    X = np.random.default_rng(1).normal(size=(30, 6))
    np.save(tmp_path / "rows.npy", X)
    header = ",".join(f"f{i}" for i in range(6))
    (tmp_path / "rows.csv").write_text(header + "\n" + "\n".join(",".join(repr(float(v)) for v in r) for r in X))
    for data in ("rows.npy", "rows.csv"):
        proc = cli("check", model, "--to", "numpy,onnx", "--data", tmp_path / data, "--json")
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        assert report["passed"] and report["n_rows"] == 30
        assert {r["target"] for r in report["rows"]} == {"numpy", "onnx"}
    del est


@pytest.mark.parametrize("content,name,message", [
    ("1,2,3\n4,5,6\n", "few.csv", "3 columns but the model expects 6"),
    ("a,b,c,d,e,f\n1,2,x,4,5,6\n", "text.csv", "'x' is not a number"),
    ("", "rows.txt", "must be a .npy or .csv"),
])
def test_bad_data_exits_2(model, tmp_path, content, name, message):
    (tmp_path / name).write_text(content)
    proc = cli("check", model, "--to", "numpy", "--data", tmp_path / name)
    assert proc.returncode == 2 and message in proc.stderr


def test_check_against_stale_export_exits_1(model, tmp_path):
    out = tmp_path / "out"
    assert main(["convert", str(model), "-o", str(out), "--to", "numpy,onnx"]) == 0
    assert cli("check", model, "--against", out, "--to", "numpy,onnx").returncode == 0
    other = tmp_path / "m2.pkl"
    other.write_bytes(pickle.dumps(get("clf_binary_str")[0]))
    proc = cli("check", other, "--against", out, "--name", "m", "--to", "numpy,onnx")
    assert proc.returncode == 1 and "stale" in proc.stdout


def test_matlab_requested_without_octave_is_an_error(model, tmp_path):
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    env.pop("MLPEXPORT_REQUIRE_OCTAVE", None)  # CI sets it; this test is about its absence
    proc = cli("check", model, "--to", "matlab", env=env)
    assert proc.returncode == 2 and "octave-cli was not found" in proc.stderr
    proc = cli("check", model, env=env)  # 'all': MATLAB skipped, said so
    assert proc.returncode == 0 and "skipped: octave-cli was not found" in proc.stdout


def test_version_note_for_models_from_older_sklearn(tmp_path):
    import sklearn
    data = pickle.dumps(get("reg_classic")[0])
    current = sklearn.__version__.encode()
    (tmp_path / "old.pkl").write_bytes(data.replace(current, b"1.0.0"[:len(current)].ljust(len(current), b"0")))
    proc = cli("check", tmp_path / "old.pkl", "--to", "numpy")
    assert proc.returncode == 0 and "was written by scikit-learn 1.0" in proc.stderr


def test_help_and_no_command():
    assert cli("--help").returncode == 0
    assert "convert" in cli("--help").stdout
    assert cli().returncode == 2


def test_a_write_that_fails_midway_leaves_nothing(tmp_path, monkeypatch):
    calls = []
    real = os.replace

    def flaky(src, dst):
        if calls:
            raise OSError("disk full")
        calls.append(dst)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    with pytest.raises(ExportError, match="no files were written"):
        emit.write_all({"a.py": b"1", "a.npz": b"2"}, str(tmp_path), force=False)
    assert calls and os.listdir(tmp_path) == []  # the first file was moved in, then taken out


def test_written_files_have_ordinary_permissions(tmp_path):
    emit.write_all({"a.py": b"1"}, str(tmp_path), force=False)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "a.py").st_mode & 0o777 == 0o666 & ~umask


def test_help_does_not_import_heavy_libraries():
    script = ("import sys; from mlpexport.cli import main\n"
              "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('numpy', 'sklearn', 'onnx', 'scipy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
