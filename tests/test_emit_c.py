"""C target: every fixture through the compiled library (ctypes) against scikit-learn,
strict compiler flags (gcc, clang, C++), non-finite inputs, threads, labels as data."""
import ctypes
import os
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from mlpexport.errors import ExportError

from conftest import ALL, assert_matches, case, clear_rows, get, reference
from mlpexport import emit
from mlpexport.cli import main
from mlpexport.emit import c as c_target

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIRE_CC = os.environ.get("MLPEXPORT_REQUIRE_CC") == "1"
STRICT = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror"]


def need_cc():
    try:
        return c_target.compiler()
    except Exception:
        if REQUIRE_CC:
            pytest.fail("no C compiler is installed but MLPEXPORT_REQUIRE_CC=1")
        pytest.skip("no C compiler (cc) installed: C exports not run")


def write(net, directory, name="m", dtype="float64"):
    emit.write_all(c_target.render(net, name, dtype=dtype), str(directory), force=True)
    return str(directory)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ALL)
def test_parity_with_sklearn(name, dtype, tmp_path):
    est, net, X = case(name)
    if net.vocab:  # text columns: refused before any compiler is needed
        with pytest.raises(ExportError, match="C target takes numbers only.*export it with"):
            c_target.render(net, "m", dtype=dtype)
        return
    need_cc()
    got = c_target.runner(write(net, tmp_path, dtype=dtype), "m")(X)
    want = reference(est, net, X)
    if dtype == "float64":
        assert_matches(got, want, 1e-12, name)
    else:
        keep = clear_rows(want, 1e-4)
        assert_matches({k: v[keep] for k, v in got.items()},
                       {k: v[keep] for k, v in want.items()}, 1e-4, name)
    stamp = c_target.stamp(str(tmp_path), "m")
    assert stamp.fingerprint == net.fingerprint and stamp.intact and stamp.same_export
    assert stamp.dtype == dtype


STRICT_CASES = ["ttr_standard", "clf_multi_str", "clf_multilabel", "clf_binary_bool",
                "lr_binary", "reg_minmax_clip_chain", "sgd_modified_huber", "lin_linear_svc_multi"]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiles_cleanly_with_strict_flags_in_c_and_cpp(dtype, tmp_path):
    need_cc()
    compilers = [(["cc", *STRICT], "c")]
    if shutil.which("clang"):
        compilers.append((["clang", *STRICT], "c"))
    if shutil.which("c++"):
        compilers.append((["c++", "-x", "c++", "-Wall", "-Wextra", "-Werror"], "c++"))
    for name in STRICT_CASES:
        if name not in ALL:
            continue
        d = write(case(name)[1], tmp_path / name, dtype=dtype)
        for cmd, lang in compilers:
            proc = subprocess.run([*cmd, "-c", os.path.join(d, "m.c"), "-o", os.path.join(d, "m.o")],
                                  capture_output=True, text=True)
            assert proc.returncode == 0, f"{name} {lang} {cmd[0]}: {proc.stderr[:2000]}"


def test_generated_code_has_no_allocation_and_no_writable_globals(tmp_path):
    _, net, _ = case("clf_multi_str")
    files = c_target.render(net, "m")
    code = files["m.c"].decode()
    assert "malloc" not in code and "static real_t " not in code.replace("static real_t sigmoid", "").replace(
        "static real_t clip1", "")
    for line in code.splitlines():  # every object at file scope is const
        if line.startswith(("static ", "const ")) and "(" not in line.split("=")[0]:
            assert line.startswith(("static const", "const ")), line


def _library(tmp_path, name="clf_multi_str"):
    d = write(case(name)[1], tmp_path)
    lib = ctypes.CDLL(c_target.build(d, "m", str(tmp_path)))
    return lib


def test_nonfinite_input_returns_the_error_code_and_writes_nothing(tmp_path):
    need_cc()
    lib = _library(tmp_path)
    _, net, X = case("clf_multi_str")
    dptr = ctypes.POINTER(ctypes.c_double)
    for bad in (np.nan, np.inf, -np.inf):
        rows = np.ascontiguousarray(X[:4], dtype=np.float64)
        rows[3, 2] = bad  # the last row: nothing of the first three may be written either
        out = np.full((4, net.n_proba), -7.0)
        f = lib.m_predict_proba
        f.argtypes, f.restype = [dptr, ctypes.c_size_t, dptr], ctypes.c_int
        status = f(rows.ctypes.data_as(dptr), 4, out.ctypes.data_as(dptr))
        assert status == 1  # m_ERR_NONFINITE
        assert (out == -7.0).all()


def test_concurrent_calls_give_identical_results(tmp_path):
    need_cc()
    est, net, X = case("reg_classic")
    run = c_target.runner(write(net, tmp_path), "m")
    X = np.tile(X, (50, 1))
    want = run(X)["predict"]
    results = [None] * 4

    def work(i):
        results[i] = run(X)["predict"]
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in results:
        assert np.array_equal(r, want)
    assert_matches({"predict": want}, {"predict": est.predict(X)}, 1e-12, "reg_classic")


PAYLOADS = ['a"b', "back\\slash", "new\nline", "*/ int evil = 1; /*", "??/", "tri??=graph",
            "ünïcödé", "%s%n"]


def test_string_labels_are_data_and_come_back_exactly(tmp_path):
    need_cc()
    from sklearn.linear_model import LogisticRegression
    X = np.random.default_rng(0).normal(size=(80, 3))
    y = np.array(PAYLOADS)[np.arange(80) % len(PAYLOADS)]
    est = LogisticRegression(max_iter=500).fit(X, y)
    from mlpexport.extract import extract
    net = extract(est)
    net.meta["model_file"] = "x*/ int evil2 = 2; /* ??/"
    d = write(net, tmp_path)
    code = (tmp_path / "m.c").read_text(encoding="latin-1") + (tmp_path / "m.h").read_text(encoding="latin-1")
    proc = subprocess.run(["cc", *STRICT, "-c", os.path.join(d, "m.c"), "-o", str(tmp_path / "m.o")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lib = ctypes.CDLL(c_target.build(d, "m", str(tmp_path)))
    assert not hasattr(lib, "evil") and not hasattr(lib, "evil2")
    import re
    code = re.sub(r'"(?:[^"\\\n]|\\[0-7]{3})*"', '""', code)  # string literals: data
    code = re.sub(r"/\*.*?\*/", "", code, flags=re.S)  # comments
    assert "evil" not in code  # the payloads stayed inside literals and comments
    got = c_target.runner(d, "m")(X)
    assert list(got["predict"]) == list(est.predict(X))
    assert list(c_target._classes(lib, "m", c_target.read_record(d, "m"))) == list(est.classes_)


def test_edited_weights_and_stale_exports_are_named(tmp_path):
    _, net, _ = case("reg_classic")
    d = write(net, tmp_path)
    path = tmp_path / "m.c"
    text = path.read_text()
    start = text.index("static const real_t W1")
    first = text.index("{", text.index("= {", start) + 3) + 1  # W1's first value
    path.write_text(text[:first] + "1.5" + text[text.index(",", first):])
    stamp = c_target.stamp(d, "m")
    assert stamp.fingerprint == net.fingerprint and not stamp.intact


def test_cli_convert_and_check_against(tmp_path):
    need_cc()
    import pickle
    model = tmp_path / "m.pkl"
    model.write_bytes(pickle.dumps(get("clf_binary_str")[0]))
    out = tmp_path / "out"
    assert main(["convert", str(model), "-o", str(out), "--to", "c"]) == 0
    assert sorted(os.listdir(out)) == ["m.c", "m.h"]
    assert main(["check", str(model), "--to", "c"]) == 0
    assert main(["check", str(model), "--against", str(out), "--to", "c"]) == 0
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps(get("clf_binary_int")[0]))
    assert main(["check", str(other), "--against", str(out), "--name", "m", "--to", "c"]) == 1


def test_without_a_compiler_c_is_skip_and_naming_it_is_an_error(tmp_path, monkeypatch, capsys):
    import pickle
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("MLPEXPORT_REQUIRE_CC", raising=False)
    model = tmp_path / "m.pkl"
    model.write_bytes(pickle.dumps(get("reg_classic")[0]))
    assert main(["check", str(model), "--to", "numpy,c"]) == 2
    assert "no C compiler" in capsys.readouterr().err
    from mlpexport.check import check_fresh
    est, net, X = case("reg_classic")
    report = check_fresh(est, net, X, ["numpy", "c"])
    c_rows = [r for r in report.rows if r.target == "c"]
    assert [r.status for r in c_rows] == ["SKIP"] and report.passed


def test_readme_example_compiles_and_prints_sklearns_answers(tmp_path):
    """docs/c_example/main.c, the README's example, against the bundled classic model."""
    need_cc()
    from mlpexport.load import load
    model = os.path.join(ROOT, "fixtures", "models", "classic.skops")
    assert main(["convert", model, "-o", str(tmp_path), "--to", "c", "--name", "classic"]) == 0
    shutil.copy(os.path.join(ROOT, "docs", "c_example", "main.c"), tmp_path)
    exe = tmp_path / "main"
    proc = subprocess.run(["cc", *STRICT, "-o", str(exe), str(tmp_path / "main.c"),
                           str(tmp_path / "classic.c"), "-lm"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    est = load(model).estimator
    x = np.array([[0.5] * est.n_features_in_])
    printed = float(run.stdout.split("=")[-1])
    assert printed == pytest.approx(float(est.predict(x)[0]), rel=1e-12)
    bad = subprocess.run([str(exe), "nan"], capture_output=True, text=True)
    assert bad.returncode == 1 and "NaN or infinite" in bad.stderr
