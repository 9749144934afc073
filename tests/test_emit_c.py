"""C target: every fixture through the compiled library (ctypes) against scikit-learn,
strict compiler flags (gcc, clang, C++), non-finite inputs, threads, labels as data."""
import ctypes
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest

from mlpexport.errors import ExportError

from conftest import ALL, AVAILABLE, assert_matches, case, clear_rows, get, reference
from mlpexport import emit
from mlpexport.cli import main
from mlpexport.emit import c as c_target
from mlpexport.emit import c_worker

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


# --------------------------------------------------------------- C on microcontrollers
# The fixture zoo in both dtypes, each export named after its fixture (NAME_32, NAME_64)
# so that one compiler process takes every file at once.
def _zoo_names():
    return [n for n in AVAILABLE if not case(n)[1].vocab]


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    d = tmp_path_factory.mktemp("zoo")
    names = []
    for n in _zoo_names():
        for dtype in ("float32", "float64"):
            name = f"{n}_{dtype[-2:]}"
            emit.write_all(c_target.render(case(n)[1], name, dtype=dtype), str(d), force=True)
            names.append(name)
    return d, names


def _compile_all(cmd, files, cwd):
    """Every file through one compiler command, in two processes (the machine has 2 cores)."""
    halves = [files[0::2], files[1::2]]
    procs = [subprocess.Popen([*cmd, *h], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for h in halves if h]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    return all(p.returncode == 0 for p in procs), "".join(outs)


WARNINGS = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion", "-Wdouble-promotion",
            "-Wshadow", "-Werror"]
# clang -Weverything less one warning, as the README says why: -Wfloat-equal (category
# codes, one-hot columns and missing-value masks are compared exactly, as scikit-learn does).
CLANG_OFF = ["-Wno-float-equal"]
CORTEX_M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"]
SOFT_DOUBLE = re.compile(r"__aeabi_(d\w+|[a-z0-9]*2d)\b|__\w+df[23]\b")


def _frames(su_file, name):
    """-fstack-usage's frames of one object: (largest public function, all static ones)."""
    frames = {}
    for line in open(su_file):
        where, size, _ = line.rstrip("\n").split("\t")
        frames[where.rsplit(":", 1)[-1]] = int(size)
    public = max(v for f, v in frames.items() if f.startswith(name + "_"))
    return public, frames


def _stated(d, name, what):
    text = (d / f"{name}.h").read_text()
    return int(re.search(rf"^#define {name}_{what} (\d+)$", text, re.M).group(1))


def _check_footprint(d, out, names, nm):
    """The header's stack is at least the deepest chain -fstack-usage allows (a public
    function plus every static function's frame, an upper bound on any chain) and no more
    than 768 bytes over the public function + forward; its weight bytes are the sizes nm
    gives the object's const data (class labels apart), exactly at -O0."""
    for name in names:
        public, frames = _frames(out / f"{name}.su", name)
        upper = public + sum(v for f, v in frames.items() if not f.startswith(name + "_"))
        lower = public + frames.get("forward", 0)
        stated = _stated(d, name, "STACK_BYTES")
        assert upper <= stated <= lower + 768, (name, stated, upper, lower)
        table = subprocess.run([nm, "-S", str(out / f"{name}.o")], capture_output=True, text=True).stdout
        data = sum(int(p[1], 16) for p in (ln.split() for ln in table.splitlines())
                   if len(p) == 4 and p[2] in "rRdD" and p[3] != f"{name}_CLASSES")
        assert data == _stated(d, name, "WEIGHT_BYTES"), (name, data)


def test_zoo_is_clean_under_gcc_strict_warnings_and_headers_state_the_stack(zoo, tmp_path):
    """gcc -Wall -Wextra -Wconversion -Wdouble-promotion -Wshadow -Werror on every export in
    both dtypes (the float32 classifiers' `proba[1] > 0.5` promoted to double before);
    the headers' stack and weight bytes against -fstack-usage and nm, at -O2 and -O0."""
    need_cc()
    _need("gcc", "the gcc warning run")
    d, names = zoo
    files = [str(d / f"{n}.c") for n in names]
    for opt in ("-O2", "-O0"):
        out = tmp_path / opt
        out.mkdir()
        ok, log = _compile_all(["gcc", opt, *WARNINGS, "-fstack-usage", "-c"], files, out)
        assert ok, log[:3000]
        if opt == "-O0":
            _check_footprint(d, out, names, "nm")
        else:  # the optimiser keeps fewer frames; the stated stack still bounds them
            for name in names:
                public, frames = _frames(out / f"{name}.su", name)
                static = sum(v for f, v in frames.items() if not f.startswith(name + "_"))
                assert public + static <= _stated(d, name, "STACK_BYTES"), name


def test_zoo_is_clean_under_clang_weverything(zoo, tmp_path):
    _need("clang", "clang -Weverything")
    d, names = zoo
    ok, log = _compile_all(["clang", "-std=c99", "-O2", "-Weverything", *CLANG_OFF, "-Werror", "-c"],
                           [str(d / f"{n}.c") for n in names], tmp_path)
    assert ok, log[:3000]


def test_zoo_is_clean_under_cppcheck(zoo):
    """No uninitialised reads (the old `(void)j;`), no style findings (variable scope...)."""
    _need("cppcheck", "static analysis")
    d, names = zoo
    proc = subprocess.run(["cppcheck", "-q", "-j2", "--std=c99", "--error-exitcode=1",
                           "--enable=warning,style,performance,portability",
                           *[str(d / f"{n}.c") for n in names]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[:3000]


REQUIRE_C_TOOLS = os.environ.get("MLPEXPORT_REQUIRE_C_TOOLS") == "1"  # CI: a missing tool fails


def _need(tool, what):
    if not shutil.which(tool):
        if REQUIRE_C_TOOLS:
            pytest.fail(f"{tool} is not installed but MLPEXPORT_REQUIRE_C_TOOLS=1")
        pytest.skip(f"{tool} is not installed: {what} not run (apt-get install clang cppcheck "
                    "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)")


def test_float32_zoo_has_no_double_on_a_cortex_m4(zoo, tmp_path):
    """Every float32 export for a Cortex-M4F (single-precision FPU): -Wdouble-promotion
    -Werror clean and no soft-double helper in the object (nm); a float64 object of the
    same build does call them, so the nm test can see them. The footprint again, on ARM."""
    _need("arm-none-eabi-gcc", "the Cortex-M4 build")
    d, names = zoo
    for name in names:  # the source too: `double` only in float class labels (data)
        if name.endswith("_32"):
            code = re.sub(r"/\*.*?\*/", "", (d / f"{name}.c").read_text(), flags=re.S)
            code = re.sub(rf"^const double {name}_CLASSES\[.*$", "", code, flags=re.M)
            assert "double" not in code, name
    for opt in ("-O2", "-O0"):
        out = tmp_path / opt
        out.mkdir()
        f32 = [n for n in names if n.endswith("_32")]
        ok, log = _compile_all(["arm-none-eabi-gcc", opt, *CORTEX_M4, *WARNINGS, "-fstack-usage", "-c"],
                               [str(d / f"{n}.c") for n in f32], out)
        assert ok, log[:3000]
        for name in f32:
            undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(out / f"{name}.o")],
                                       capture_output=True, text=True, check=True).stdout
            assert not SOFT_DOUBLE.search(undefined), (name, undefined)
        if opt == "-O0":
            _check_footprint(d, out, f32, "arm-none-eabi-nm")
    subprocess.run(["arm-none-eabi-gcc", "-O2", *CORTEX_M4, "-c", str(d / "reg_classic_64.c"), "-o",
                    str(tmp_path / "f64.o")], check=True)
    undefined = subprocess.run(["arm-none-eabi-nm", "-u", str(tmp_path / "f64.o")],
                               capture_output=True, text=True, check=True).stdout
    assert SOFT_DOUBLE.search(undefined)


def test_headers_count_the_multiply_adds_of_scikit_learns_coefficients(zoo):
    """NAME_MACS against the final estimator's own coefficient count (coefs_ or coef_)."""
    d, names = zoo
    checked = 0
    for n in _zoo_names():
        est = case(n)[0]
        last = est.steps[-1][1] if hasattr(est, "steps") else est
        last = getattr(last, "regressor_", last)  # TransformedTargetRegressor
        if hasattr(last, "coefs_"):
            want = sum(w.size for w in last.coefs_)
        elif hasattr(last, "coef_"):
            want = np.size(last.coef_)
        else:
            continue
        for dtype in ("32", "64"):
            assert _stated(d, f"{n}_{dtype}", "MACS") == want, n
        checked += 1
    assert checked > 50


def test_float32_api_is_float_and_float64_is_double(tmp_path):
    _, net, _ = case("clf_multi_str")
    for dtype, real in (("float32", "float"), ("float64", "double")):
        h = c_target.render(net, "m", dtype=dtype)["m.h"].decode()
        assert f"typedef {real} m_real;" in h
        assert "int m_predict_proba(const m_real *X, size_t n_rows, m_real *proba);" in h
        code = c_target.render(net, "m", dtype=dtype)["m.c"].decode()
        if dtype == "float32":
            assert "double" not in re.sub(r"/\*.*?\*/", "", code, flags=re.S)


FAST = [["-std=c99", "-Ofast", "-fPIC", "-shared"], ["-std=c99", "-O2", "-ffast-math", "-fPIC", "-shared"]]


@pytest.mark.parametrize("flags", FAST, ids=["Ofast", "ffast-math"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["reg_classic", "clf_multi_str", "impute_mean_nan"])
def test_nonfinite_guard_survives_fast_math(name, dtype, flags, tmp_path):
    """Built with -Ofast / -ffast-math (which let the compiler assume isfinite() is 1):
    a NaN or infinite row still returns NAME_ERR_NONFINITE and writes nothing, an
    imputed column still takes NaN, and finite rows still agree with scikit-learn."""
    need_cc()
    est, net, X = case(name)
    d = write(net, tmp_path, dtype=dtype)
    c_real, real = c_worker.real_type({"dtype": dtype})
    lib = ctypes.CDLL(c_target.build(d, "m", str(tmp_path), flags=flags))
    fname = "m_predict" if not net.is_classifier else "m_predict_proba"
    f = getattr(lib, fname)
    ptr = ctypes.POINTER(c_real)
    f.argtypes, f.restype = [ptr, ctypes.c_size_t, ptr], ctypes.c_int
    width = net.n_outputs if not net.is_classifier else net.n_proba
    rows = np.ascontiguousarray(X[:5], dtype=real)
    rows = rows[~np.isnan(rows).any(axis=1)][:3] if np.isnan(rows).any() else rows[:3]
    nan_ok = net.nan_columns()
    for bad in (np.nan, np.inf, -np.inf):
        for col in range(net.n_features):
            if np.isnan(bad) and nan_ok[col]:
                continue
            r = rows.copy()
            r[-1, col] = bad
            out = np.full((len(r), width), -7.0, dtype=real)
            assert f(r.ctypes.data_as(ptr), len(r), out.ctypes.data_as(ptr)) == 1, (bad, col)
            assert (out == -7.0).all()
    if nan_ok.any():  # NaN where the imputer fills it is a value, not an error
        r = rows.copy()
        r[:, np.flatnonzero(nan_ok)[0]] = np.nan
        out = np.empty((len(r), width), dtype=real)
        assert f(r.ctypes.data_as(ptr), len(r), out.ctypes.data_as(ptr)) == 0
        want = est.predict_proba(r.astype(np.float64)) if net.is_classifier else est.predict(r.astype(np.float64))
        np.testing.assert_allclose(out.reshape(np.shape(want)), want, rtol=1e-3 if dtype == "float32" else 1e-9)
    finite = np.ascontiguousarray(X[~np.isnan(X).any(axis=1)], dtype=real)
    out = np.empty((len(finite), width), dtype=real)
    assert f(finite.ctypes.data_as(ptr), len(finite), out.ctypes.data_as(ptr)) == 0
    want = reference(est, net, finite.astype(np.float64))
    key = "predict" if not net.is_classifier else "predict_proba"
    keep = clear_rows(want, 1e-4) if dtype == "float32" else slice(None)
    got = out.reshape(np.shape(want[key]))
    np.testing.assert_allclose(got[keep], np.asarray(want[key])[keep],
                               rtol=1e-4 if dtype == "float32" else 1e-9, atol=1e-6 if dtype == "float32" else 1e-12)


def test_scratch_over_the_stack_limit_is_refused_by_name(tmp_path, capsys):
    """Issue 29.5: the scratch rows live on the stack, so a model whose rows need more than
    1 MiB per call (a one-hot layer 10^6 wide crashed convert with SIGSEGV) is refused with
    the limit; without --to c the other targets are written and C is noted as left out."""
    import pickle
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    from mlpexport.extract import extract
    wide = 140_000  # numeric categories: float64 rows of 1.1 MB; float32: 560 KB, under the limit
    X = np.arange(wide, dtype=float).reshape(-1, 1)
    est = make_pipeline(OneHotEncoder(handle_unknown="ignore"), Ridge(solver="lsqr")).fit(
        X, np.random.default_rng(0).normal(size=wide))
    net = extract(est)
    with pytest.raises(ExportError, match=r"widest row: 140,000.*limit of 1,048,576 bytes \(1 MiB\)"):
        c_target.render(net, "m", dtype="float64")
    assert c_target.refusal(net, "float32") is None
    assert c_target.footprint(net, "float32")["stack_bytes"] < c_target.STACK_LIMIT
    model = tmp_path / "wide.pkl"
    model.write_bytes(pickle.dumps(est))
    assert main(["convert", str(model), "-o", str(tmp_path / "c"), "--to", "c"]) == 2
    err = capsys.readouterr().err
    assert "limit of 1,048,576 bytes" in err and "Traceback" not in err
    assert not (tmp_path / "c").exists() or not os.listdir(tmp_path / "c")
    from mlpexport.api import _numbers_only
    notes = []
    assert _numbers_only(net, ["numpy", "c"], "all", notes.append, "written", "float64") == ["numpy"]
    assert "c: not written" in notes[0] and "limit of 1,048,576 bytes" in notes[0]
    assert _numbers_only(net, ["numpy", "c"], "all", notes.append, "written", "float32") == ["numpy", "c"]


# ------------------------------------------------- the export run on an emulated Cortex-M4
M4_CASES = ["reg_classic", "clf_multi_str", "ct_dataframe", "lin_linear_svc_multi"]
M4_DIR = os.path.join(ROOT, "docs", "cortex_m4")
QEMU_M4 = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none", "-serial", "none",
           "-semihosting-config", "enable=on,target=native", "-kernel"]


M4_STACK_PAINT = """\
#define PAINT 0x5A5A5A5Au
#define DEPTH 65536u
static uint32_t *base;  /* main's stack pointer */
__attribute__((noinline)) static void paint(void)
{
    uint32_t *p = base - DEPTH / 4, *sp;
    __asm volatile ("mov %0, sp" : "=r"(sp));
    while (p < sp - 16) *p++ = PAINT;
}
static size_t used(void)  /* bytes below main's stack pointer the last call wrote */
{
    const uint32_t *p = base - DEPTH / 4;
    while (*p == PAINT) ++p;
    return (size_t)(base - p) * 4;
}
"""


def _m4_calls(record, n):
    """(function, width, is_label) of every entry point an export has, as runner calls them."""
    k = record["n_outputs"]
    if record["classes"] is None:
        return [("predict", k, False)]
    calls = []
    if "predict_proba" in record["outputs"]:
        calls.append(("predict_proba", 2 if record["head"] in ("logistic", "huber-binary") else k, False))
    calls.append(("predict_index", k if record["head"] == "multilabel" else 1, True))
    if "decision_function" in record["outputs"]:
        calls.append(("decision_function", 1 if len(record["classes"]) == 2 else k, False))
    return calls


def _m4_harness(name, record, X, dtype):
    """main.c for the board: the rows as constants, every entry point over all of them,
    each value printed with enough digits to read back the exact float or double; then a
    row with NaN in its first column that an imputer does not fill, which must be refused.
    The stack each call takes is measured on the board: the stack below main's is painted
    with a pattern before the call, and the deepest word changed after it is its depth."""
    real = f"{name}_real"
    suffix = "f" if dtype == "float32" else ""
    fmt = (lambda v: f"{np.float32(v)!r}".replace("np.float32(", "").rstrip(")")) if dtype == "float32" \
        else (lambda v: repr(float(v)))
    lit = lambda v: (f"{fmt(v)}{suffix}" if np.isfinite(v) else f"({real})NAN")
    rows = ",\n".join("    {" + ", ".join(lit(v) for v in row) + "}" for row in X)
    n, width = X.shape
    calls = _m4_calls(record, n)
    most = max(w for _, w, _ in calls)
    lines = ["#include <math.h>", "#include <stdio.h>", "#include <string.h>", f'#include "{name}.h"', "",
             f"static const {real} X[{n}][{width}] = {{\n{rows}\n}};",
             f"static {real} out[{n * most}];", M4_STACK_PAINT]
    lines += [f"static int32_t label[{n * most}];"] * any(is_label for _, _, is_label in calls)
    lines += ["",
             "int main(void)", "{", f"    {real} bad[{width}];", "    size_t i, depth;", "    int rc;",
             '    __asm volatile ("mov %0, sp" : "=r"(base));']
    for fn, w, is_label in calls:
        buf = "label" if is_label else "out"
        lines += ["    paint();", f"    rc = {name}_{fn}(&X[0][0], {n}, {buf});", "    depth = used();",
                  f'    printf("{fn} %d %lu\\n", rc, (unsigned long)depth);',
                  f"    for (i = 0; i < {n * w}; ++i) "
                  + ('printf("%ld\\n", (long)label[i]);' if is_label else 'printf("%.17g\\n", (double)out[i]);')]
    nan_ok = record.get("nan_columns") or [False] * width
    col = next(j for j in range(width) if not nan_ok[j])
    fn, _, is_label = calls[0]
    lines += [f"    memcpy(bad, X[0], sizeof bad);", f"    bad[{col}] = ({real})NAN;",
              f'    printf("nonfinite %d\\n", {name}_{fn}(bad, 1, {"label" if is_label else "out"}));',
              "    return 0;", "}", ""]
    return "\n".join(lines)


def _m4_parse(stdout, record, n):
    got, lines, status = {}, iter(stdout.splitlines()), {}
    for fn, w, is_label in _m4_calls(record, n):
        head = next(lines).split()
        assert head[0] == fn, stdout[:500]
        status[fn] = int(head[1])
        status[fn + " stack"] = int(head[2])
        vals = [next(lines) for _ in range(n * w)]
        got[fn] = (np.array([int(v) for v in vals], dtype=np.int64) if is_label
                   else np.array([float(v) for v in vals])).reshape(n, w)
    tail = next(lines).split()
    assert tail[0] == "nonfinite", stdout[-500:]
    status["nonfinite"] = int(tail[1])
    return got, status


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", M4_CASES)
def test_runs_on_an_emulated_cortex_m4_like_scikit_learn(name, dtype, tmp_path):
    """docs/cortex_m4's start-up and linker script, the export and a harness built with
    arm-none-eabi-gcc for a Cortex-M4F (hard float, single-precision FPU), run bare metal
    on QEMU's mps2-an386 board with semihosting: every output on the same rows as
    scikit-learn, and a NaN row refused with NAME_ERR_NONFINITE."""
    _need("arm-none-eabi-gcc", "the Cortex-M4 run")
    _need("qemu-system-arm", "the Cortex-M4 run")
    est, net, X = case(name)
    d = write(net, tmp_path, name="m", dtype=dtype)
    record = c_target.read_record(d, "m")
    record["nan_columns"] = [bool(v) for v in net.nan_columns()]
    real = np.float32 if dtype == "float32" else np.float64
    Xr = X.astype(real)
    finite = ~np.isinf(Xr).any(axis=1) & ~(np.isnan(Xr) & ~net.nan_columns()).any(axis=1)
    X, Xr = X[finite], Xr[finite]
    (tmp_path / "main.c").write_text(_m4_harness("m", record, Xr, dtype))
    elf = tmp_path / "m.elf"
    build = subprocess.run(["arm-none-eabi-gcc", "-std=c99", "-O2", *CORTEX_M4, "-Wall", "-Wextra", "-Werror",
                            "--specs=rdimon.specs", "-nostartfiles", "-T", os.path.join(M4_DIR, "mps2_an386.ld"),
                            "-I", d, os.path.join(M4_DIR, "startup.c"), str(tmp_path / "main.c"),
                            os.path.join(d, "m.c"), "-lm", "-o", str(elf)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[:3000]
    run = subprocess.run([*QEMU_M4, str(elf)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[:2000]
    got, status = _m4_parse(run.stdout, record, len(X))
    assert status.pop("nonfinite") == 1
    stacks = {k: status.pop(k) for k in list(status) if k.endswith(" stack")}
    assert set(status.values()) == {0}
    stated = _stated(tmp_path, "m", "STACK_BYTES")
    assert 0 < max(stacks.values()) <= stated, (stacks, stated)
    print(f"{name} {dtype}: stack measured on the Cortex-M4 {stacks}, stated {stated}")
    out = {}
    labels = np.asarray(est.classes_, dtype=object) if record["classes"] is not None else None
    for fn, arr in got.items():
        if fn == "predict":
            out["predict"] = arr[:, 0] if record["flat"] and arr.shape[1] == 1 else arr
        elif fn == "predict_index":
            out["predict"] = labels[arr[:, 0]]
        elif fn == "decision_function":
            out[fn] = arr[:, 0] if arr.shape[1] == 1 else arr
        else:
            out[fn] = arr
    want = reference(est, net, X)
    if dtype == "float64":
        assert_matches(out, want, 1e-12, name)
    else:
        keep = clear_rows(want, 1e-4)
        assert_matches({k: v[keep] for k, v in out.items()}, {k: np.asarray(v)[keep] for k, v in want.items()},
                       1e-4, name)


def test_board_example_in_docs_runs_on_the_emulated_cortex_m4(tmp_path):
    """docs/cortex_m4 (README, "C on a microcontroller"): the commands in main.c's comment,
    run as written; it prints scikit-learn's answer (float32) and the header's footprint."""
    _need("arm-none-eabi-gcc", "the board example")
    _need("qemu-system-arm", "the board example")
    from mlpexport.load import load
    model = os.path.join(ROOT, "fixtures", "models", "classic.skops")
    assert main(["convert", model, "-o", str(tmp_path), "--to", "c", "--dtype", "float32",
                 "--name", "classic"]) == 0
    for f in ("main.c", "startup.c", "mps2_an386.ld"):
        shutil.copy(os.path.join(M4_DIR, f), tmp_path)
    comment = (tmp_path / "main.c").read_text().split("*/")[0]
    text = "\n".join(line.lstrip("/* ").rstrip() for line in comment.splitlines()).replace("\\\n", " ")
    commands = [ln for ln in text.splitlines() if ln.startswith(("arm-none-eabi-gcc ", "qemu-system-arm "))]
    assert len(commands) == 2, comment
    for cmd in commands:
        argv = shlex.split(cmd)
        done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (argv, done.stderr[:2000])
    lines = done.stdout.splitlines()
    est = load(model).estimator
    want = float(est.predict(np.full((1, est.n_features_in_), 0.5))[0])
    assert float(lines[0].split("=")[1]) == pytest.approx(want, rel=1e-4)
    header = (tmp_path / "classic.h").read_text()
    stated = [int(re.search(rf"classic_{w} (\d+)", header).group(1)) for w in ("WEIGHT_BYTES", "STACK_BYTES", "MACS")]
    assert lines[1] == "weights {} B flash, stack {} B, {} multiply-adds per row".format(*stated)
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert f"# {lines[0]}\n# {lines[1]}\n" in readme  # the README shows this run's output


def test_readme_states_the_classic_exports_footprint(tmp_path):
    from mlpexport.load import load
    from mlpexport.extract import extract
    net = extract(load(os.path.join(ROOT, "fixtures", "models", "classic.skops")).estimator)
    header = c_target.render(net, "classic", dtype="float64")["classic.h"].decode()
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    for what in ("WEIGHT_BYTES", "STACK_BYTES", "MACS", "N_FEATURES"):
        value = re.search(rf"^#define classic_{what} (\d+)", header, re.M).group(1)
        assert re.search(rf"^#define classic_{what} {value} ", readme, re.M), what
