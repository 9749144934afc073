"""The command line: exit codes, one-line errors, all-or-nothing writes."""
import json
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, cc_available, get, octave_available
from mlpexport import emit
from mlpexport.cli import main
from mlpexport.errors import ExportError

FILES = {"m.py", "m.npz", "m.onnx", "m.m", "m.mat", "m.h", "m.c"}


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
    # each runtime on its own: Octave and a C compiler may be there together, alone or not
    # at all; an export whose runtime is missing is written but never reported as proven
    ran = ["numpy", "onnx"] + ["matlab"] * octave_available() + ["c"] * cc_available()
    unrun = [t for t in ("matlab", "c") if t not in ran]
    if not unrun:
        assert "all exports agree with scikit-learn" in proc.stdout
    else:
        assert f"{', '.join(ran)} agree with scikit-learn; " in proc.stdout, proc.stdout
        for t in unrun:
            assert f"{t} written but not run" in proc.stdout, proc.stdout
        assert not any(f"{t} written but not run" in proc.stdout for t in ran)


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
    from sklearn.dummy import DummyRegressor
    X = np.random.default_rng(0).normal(size=(20, 2))
    (tmp_path / "lin.pkl").write_bytes(pickle.dumps(DummyRegressor().fit(X, X[:, 0])))
    proc = cli("convert", tmp_path / "lin.pkl", "-o", tmp_path / "o")
    assert proc.returncode == 2 and "DummyRegressor (sklearn.dummy) is not supported" in proc.stderr and "MLPRegressor" in proc.stderr
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
    ("", "rows.txt", "must be a .npy, .csv or .parquet"),
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
    env.pop("MLPEXPORT_REQUIRE_CC", None)
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


@pytest.mark.parametrize("outdir", ["file", "file/below", "/dev/null", "", "/proc/mlpexport/x"])
def test_unusable_output_paths_are_one_line_exit_2_before_any_work(model, tmp_path, outdir):
    (tmp_path / "file").write_text("x")
    target = outdir if outdir.startswith("/") or not outdir else str(tmp_path / outdir)
    proc = cli("convert", model, "-o", target, "--to", "numpy")
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "internal error" not in proc.stderr
    assert (tmp_path / "file").read_text() == "x"


def test_a_convert_that_fails_leaves_no_new_directory(tmp_path):
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(os.getcwd))
    proc = cli("convert", tmp_path / "evil.pkl", "-o", tmp_path / "new" / "out")
    assert proc.returncode == 2 and not (tmp_path / "new").exists()


@pytest.mark.parametrize("args,message", [
    (["--atol", "nan"], "not a finite number"),
    (["--atol", "-1"], "not a finite number"),
    (["--rtol", "-1"], "not a finite number"),
    (["--rtol", "inf"], "not a finite number"),
    (["--rtol", "x"], "not a number"),
    (["--to", ""], "unknown target"),
    (["--name", "x\n"], "not a valid identifier"),
    (["--name", "end"], "MATLAB keyword"),
    (["--name", "numpy"], "Python module"),
])
def test_check_refuses_bad_options(model, args, message):
    proc = cli("check", model, *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_a_stem_that_is_a_module_name_gets_a_safe_default_name(tmp_path):
    (tmp_path / "numpy.pkl").write_bytes(pickle.dumps(get("reg_classic")[0]))
    proc = cli("convert", tmp_path / "numpy.pkl", "-o", tmp_path / "o", "--to", "numpy")
    assert proc.returncode == 0 and "named numpy_model" in proc.stderr
    assert sorted(os.listdir(tmp_path / "o")) == ["numpy_model.npz", "numpy_model.py"]


def test_plot_never_overwrites_without_force_and_is_checked_first(model, tmp_path):
    plot = tmp_path / "notes.png"
    plot.write_text("mine")
    proc = cli("check", model, "--to", "numpy", "--plot", plot)
    assert proc.returncode == 2 and "--force" in proc.stderr and proc.stdout == ""
    assert plot.read_text() == "mine"
    os.symlink(tmp_path / "nowhere.png", tmp_path / "dangling.png")
    proc = cli("check", model, "--to", "numpy", "--plot", tmp_path / "dangling.png")
    assert proc.returncode == 2 and not (tmp_path / "nowhere.png").exists()


def test_plot_without_matplotlib_is_refused_before_the_check_runs(model, tmp_path):
    script = ("import sys; sys.modules['matplotlib'] = None\n"
              "from mlpexport.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.run([sys.executable, "-c", script, "check", str(model), "--to", "numpy",
                           "--plot", str(tmp_path / "p.png")], capture_output=True, text=True)
    assert proc.returncode == 2 and "pip install -e '.[plot]'" in proc.stderr
    assert proc.stdout == ""  # no check ran


SIGNAL_AT = """
import os, signal, sys
from mlpexport import emit
from mlpexport.cli import main
real, where, signame = emit.write_all, sys.argv[1], sys.argv[2]

def write_all(files, outdir, **kw):  # the signal lands right after a write into `where`
    out = real(files, outdir, **kw)
    if os.path.basename(outdir).startswith(where):
        os.kill(os.getpid(), getattr(signal, signame))
    return out

emit.write_all = write_all
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("signame", ["SIGINT", "SIGHUP", "SIGTERM"])
def test_a_signal_cleans_up_and_tells_the_truth(model, tmp_path, signame):
    """A signal while the exports are checked in a temp folder removes that folder
    (SIGHUP used to kill the process with the folder left); one after the files were
    written says so, naming them, rather than "no files were written"."""
    import signal
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for where, out in (("mlpexport-check-", "out1"), ("out2", "out2")):
        proc = subprocess.run([sys.executable, "-c", SIGNAL_AT, where, signame, "convert",
                               str(model), "-o", str(tmp_path / out), "--to", "numpy"],
                              capture_output=True, text=True, env=dict(os.environ, TMPDIR=str(tmp)))
        assert proc.returncode == 128 + getattr(signal, signame), proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert [f for f in os.listdir(tmp) if f.startswith("mlpexport")] == []
        if out == "out1":
            assert "no files were written" in proc.stderr
    assert not (tmp_path / "out1").exists()
    assert sorted(os.listdir(tmp_path / "out2")) == ["m.npz", "m.py"]
    assert "2 files had been written" in proc.stderr and "m.py" in proc.stderr


KILL_BETWEEN_RENAMES = """
import os, sys
from mlpexport.cli import main
real = os.replace

def replace(src, dst):  # the first file is moved into -o, then the process dies (kill -9)
    real(src, dst)
    if os.path.dirname(os.path.abspath(dst)) == os.path.abspath(sys.argv[4]):
        os._exit(137)

os.replace = replace
sys.exit(main(sys.argv[1:]))
"""


def test_a_kill_between_renames_leaves_a_set_check_refuses(model, tmp_path):
    """SIGKILL cannot be held off: the folder then holds NAME.py of the new export and
    NAME.npz of the old one. check --against must see that they belong to different
    exports (same model, float32 then float64), and the next convert cleans up."""
    out = tmp_path / "out"
    assert main(["convert", str(model), "-o", str(out), "--to", "numpy", "--dtype", "float32"]) == 0
    proc = subprocess.run([sys.executable, "-c", KILL_BETWEEN_RENAMES, "convert", str(model), "-o",
                           str(out), "--to", "numpy", "--force"], capture_output=True, text=True)
    assert proc.returncode == 137
    assert any(f.endswith(".tmp") for f in os.listdir(out))  # the other staged file
    proc = cli("check", model, "--against", out, "--to", "numpy")
    assert proc.returncode == 1 and "different exports" in proc.stdout, proc.stdout
    assert cli("convert", model, "-o", out, "--to", "numpy", "--force").returncode == 0
    assert sorted(os.listdir(out)) == ["m.npz", "m.py"]
    assert cli("check", model, "--against", out, "--to", "numpy").returncode == 0


def _junit(path):
    """The JUnit file parsed back, held to the shape CI systems read."""
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    for suite in root:
        assert suite.tag == "testsuite" and suite.get("name")
        cases = suite.findall("testcase")
        assert int(suite.get("tests")) == len(cases)
        assert int(suite.get("failures")) == sum(c.find("failure") is not None for c in cases)
        assert int(suite.get("skipped")) == sum(c.find("skipped") is not None for c in cases)
        assert suite.get("errors") == "0" and float(suite.get("time")) >= 0
        for c in cases:
            assert c.get("classname") and c.get("name")
            assert len([e for e in c if e.tag in ("failure", "skipped", "error")]) <= 1
    assert int(root.get("tests")) == sum(int(s.get("tests")) for s in root)
    return root


@pytest.fixture
def two_models(tmp_path):
    """a.pkl and b.pkl with their numpy + ONNX exports in out/; b's are then made stale."""
    for stem, zoo in (("a", "clf_multi_str"), ("b", "reg_classic")):
        (tmp_path / f"{stem}.pkl").write_bytes(pickle.dumps(get(zoo)[0]))
        assert main(["convert", str(tmp_path / f"{stem}.pkl"), "-o", str(tmp_path / "out"),
                     "--to", "numpy,onnx"]) == 0
    return tmp_path


def test_check_several_models_groups_the_report_and_fails_if_one_is_stale(two_models, capsys):
    d = two_models
    a, b, out = str(d / "a.pkl"), str(d / "b.pkl"), str(d / "out")
    capsys.readouterr()
    assert main(["check", a, b, "--against", out, "--to", "numpy,onnx"]) == 0
    text = capsys.readouterr().out
    assert f"== {a} (exports named a)" in text and f"== {b} (exports named b)" in text
    assert text.rstrip().endswith("2 models: every one passed.")
    # b's exports replaced by another model's: only b fails, and the exit code says so
    other = d / "c.pkl"
    other.write_bytes(pickle.dumps(get("reg_multi_tanh")[0]))
    assert main(["convert", str(other), "-o", out, "--to", "numpy", "--name", "b", "--force"]) == 0
    capsys.readouterr()
    assert main(["check", a, b, "--against", out, "--to", "numpy,onnx", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False
    assert [(m["model"], m["name"], m["passed"]) for m in report["models"]] == [(a, "a", True), (b, "b", False)]
    assert any("stale" in r["note"] for r in report["models"][1]["rows"])
    assert main(["check", a, b, "--against", out, "--to", "numpy,onnx"]) == 1
    assert capsys.readouterr().out.rstrip().endswith(f"2 models: 1 FAILED ({b}).")


@pytest.mark.parametrize("flag", ["--junit", "--plot"])
def test_an_empty_report_path_is_a_usage_error(flag, tmp_path, capsys):
    """An unset CI variable (--junit "$REPORT") must not silently drop the report."""
    model = tmp_path / "m.skops"
    model.write_bytes(open(os.path.join(ROOT, "fixtures", "models", "classic.skops"), "rb").read())
    assert main(["check", str(model), "--to", "numpy", flag, ""]) == 2
    assert "error" in capsys.readouterr().err


def test_junit_one_suite_per_model_one_case_per_export_and_output(two_models, capsys):
    d = two_models
    out = str(d / "out")
    other = d / "c.pkl"
    other.write_bytes(pickle.dumps(get("reg_multi_tanh")[0]))
    assert main(["convert", str(other), "-o", out, "--to", "numpy", "--name", "b", "--force"]) == 0
    junit = d / "reports" / "parity.xml"
    assert main(["check", str(d / "a.pkl"), str(d / "b.pkl"), "--against", out,
                 "--to", "numpy,onnx", "--junit", str(junit)]) == 1
    root = _junit(junit)
    a, b = root.findall("testsuite")
    assert (a.get("name"), b.get("name")) == (str(d / "a.pkl"), str(d / "b.pkl"))
    assert sorted((c.get("classname"), c.get("name")) for c in a.findall("testcase")) == [
        ("a.numpy", "predict"), ("a.numpy", "predict_proba"), ("a.onnx", "predict"), ("a.onnx", "predict_proba")]
    assert (a.get("failures"), b.get("failures"), root.get("failures")) == ("0", "1", "1")
    failure = b.find("testcase[@classname='b.numpy']/failure")
    assert failure.get("type") == "stale" and "different model" in failure.get("message")
    assert b.find("testcase[@classname='b.onnx']").find("failure") is None  # still b's own
    capsys.readouterr()
    # an existing report is replaced, as pytest's --junitxml does (a build artefact; the
    # exports keep their no-clobber rule)
    assert main(["check", str(d / "a.pkl"), "--against", out, "--to", "numpy", "--junit",
                 str(junit)]) == 0
    assert _junit(junit).get("tests") == "2" and _junit(junit).get("failures") == "0"
    assert main(["check", str(d / "a.pkl"), "--against", out, "--to", "numpy", "--junit",
                 str(junit), "--force"]) == 0
    assert _junit(junit).get("tests") == "2"
    # a check that stops with exit 2 leaves last run's report as it was
    before = junit.read_bytes()
    assert main(["check", str(d / "missing.pkl"), "--against", out, "--junit", str(junit)]) == 2
    assert junit.read_bytes() == before


def test_junit_marks_a_runtime_that_is_not_installed_skipped(model, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))  # no octave-cli, no cc
    monkeypatch.delenv("MLPEXPORT_REQUIRE_OCTAVE", raising=False)
    monkeypatch.delenv("MLPEXPORT_REQUIRE_CC", raising=False)
    monkeypatch.delenv("CC", raising=False)
    junit = tmp_path / "j.xml"
    assert main(["check", str(model), "--junit", str(junit)]) == 0
    suite = _junit(junit).find("testsuite")
    skipped = suite.find("testcase[@classname='m.matlab']/skipped")
    assert skipped is not None and "octave-cli" in skipped.get("message")
    skipped = suite.find("testcase[@classname='m.c']/skipped")
    assert skipped is not None and "C compiler" in skipped.get("message")
    assert suite.get("skipped") == "2" and suite.get("failures") == "0"
    assert int(suite.get("tests")) == 6  # numpy, onnx x (predict, predict_proba) + matlab + c


@pytest.mark.parametrize("args,message", [
    (["--name", "x"], "--name names the exports of one model"),
    (["--plot", "p.png"], "--plot draws one model"),
])
def test_several_models_refuse_single_model_options(model, args, message, capsys):
    assert main(["check", str(model), str(model), *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""  # refused before any check ran


def test_an_error_in_one_of_several_models_names_it(model, tmp_path, capsys):
    from sklearn.dummy import DummyRegressor
    (tmp_path / "lin.pkl").write_bytes(pickle.dumps(DummyRegressor().fit(np.eye(2), [0, 1])))
    assert main(["check", str(model), str(tmp_path / "lin.pkl"), "--to", "numpy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlpexport: error: {tmp_path / 'lin.pkl'}: ") and "DummyRegressor" in err
    assert len(err.strip().splitlines()) == 1


def test_a_check_that_errors_writes_no_junit_and_leaves_no_new_folder(model, tmp_path, capsys):
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(os.getcwd))
    junit = tmp_path / "reports" / "deep" / "j.xml"
    assert main(["check", str(model), str(tmp_path / "evil.pkl"), "--junit", str(junit)]) == 2
    assert "allowlist" in capsys.readouterr().err and not (tmp_path / "reports").exists()


def test_notes_say_which_old_names_a_file_used_and_which_csv_columns_were_ignored(tmp_path):
    legacy = os.path.join(os.path.dirname(__file__), "..", "fixtures", "legacy", "hand",
                          "old_mlp_regressor_python2.pkl")
    proc = cli("check", legacy, "--to", "numpy")
    assert proc.returncode == 0 and "uses names of older versions (Python 2 strings" in proc.stderr
    import copy
    est = copy.deepcopy(get("reg_classic")[0])  # as if fitted on a DataFrame
    est[0].feature_names_in_ = np.array([f"f{i}" for i in range(12)], dtype=object)
    (tmp_path / "named.pkl").write_bytes(pickle.dumps(est))
    rows = np.random.default_rng(0).normal(size=(5, 12))
    header = ["id"] + [f"f{i}" for i in reversed(range(12))]
    body = [",".join([str(k)] + [repr(float(v)) for v in r[::-1]]) for k, r in enumerate(rows)]
    (tmp_path / "rows.csv").write_text("\n".join([",".join(header), *body]))
    proc = cli("check", tmp_path / "named.pkl", "--to", "numpy", "--data", tmp_path / "rows.csv")
    assert proc.returncode == 0, proc.stderr
    assert "columns 'id' are not features of the model and were ignored" in proc.stderr


def test_convert_proves_parity_on_the_users_rows(tmp_path, capsys):
    """convert --data: the user's rows plus drawn extremes, and the report says so (#12)."""
    pd = pytest.importorskip("pandas")
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(60, 20, size=(150, 3)), columns=["speed", "load", "temp"])
    est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=200, random_state=0).fit(df, df["speed"] / 10)
    model = tmp_path / "car.pkl"
    model.write_bytes(pickle.dumps(est))
    shuffled = df[["temp", "speed", "load"]].assign(id=np.arange(150), price=1.0)
    shuffled.to_csv(tmp_path / "car.csv", index=False)
    out = tmp_path / "out"
    assert main(["convert", str(model), "-o", str(out), "--to", "numpy", "--data",
                 str(tmp_path / "car.csv")]) == 0
    text = capsys.readouterr().out
    assert "150 rows from car.csv" in text and "drawn" in text
    assert main(["convert", str(model), "-o", str(out), "--to", "numpy", "--force"]) == 0
    assert "pass --data" in capsys.readouterr().out.lower()
