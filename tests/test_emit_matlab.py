"""MATLAB target, run for real in GNU Octave: parity on every model of the table, the
inline variant, error identifiers, the hand-written verifier; model-file text and paths
never becoming code; a misbehaving Octave never passing for results; exact int64 labels."""
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from conftest import ALL, assert_matches, case, clear_rows, need_octave, reference
from mlpexport import emit
from mlpexport.emit import matlab
from mlpexport.errors import ExportError, RuntimeFailed, UsageError

NUMERIC_LABELS = [n for n in ALL if (case(n)[1].classes is None
                                      or case(n)[1].classes.dtype.kind in "biuf")
                  and not case(n)[1].vocab]  # the inline export: numbers in and out


@pytest.fixture(scope="module")
def octave_results(tmp_path_factory):
    """Every zoo model exported as .m/.mat (float64, float32) and inline (both), run in one Octave."""
    need_octave()
    jobs, keys = [], []
    for name in ALL:
        est, net, X = case(name)
        for variant in ("float64", "float32", "inline", "inline32"):
            if variant.startswith("inline") and name not in NUMERIC_LABELS:
                continue
            d = tmp_path_factory.mktemp(f"{name}_{variant}")
            dtype = "float32" if variant.endswith("32") else "float64"
            files = matlab.render(net, name, dtype=dtype, matlab_inline=variant.startswith("inline"))
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
    """The Coder-ready variant (tests/test_matlab_codegen.py) still runs in Octave, with
    the .mat export's outputs bit for bit, in float64 and float32."""
    for mat, inline in (("float64", "inline"), ("float32", "inline32")):
        a, b = octave_results[(name, mat)], octave_results[(name, inline)]
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=inline)


def test_inline_has_no_file_io_and_exact_literals():
    _, net, _ = case("reg_classic")
    text = matlab.render(net, "m", matlab_inline=True)["m.m"].decode()
    assert "load(" not in text and "persistent" not in text and "w_W1 = [" in text
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


def octave_eval(code, cwd, *args):
    """Run Octave code; paths go in as argv() (args{1}, args{2}, ...), never as source."""
    need_octave()
    return matlab.run_octave_script("args = argv();\n" + code, str(cwd), args)


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
    code = (f"addpath(args{{1}});\n{setup}\n"
            "try\n  classic(X);\n  disp('NO ERROR');\ncatch err\n  disp(err.identifier);\nend\n")
    out = octave_eval(code, classic_dir, classic_dir).stdout.strip().splitlines()
    assert out[-1] == identifier


def test_single_sample_as_vector_and_integer_input(classic_dir):
    est, _, X = case("reg_classic")
    row = X[:1]
    code = ("addpath(args{1});\n"
            f"x = [{' '.join(f'{v:.17g}' for v in row[0])}];\n"
            "a = classic(x); b = classic(x'); c = classic(int32(ones(2, 12)));\n"
            "fprintf('%.17g %.17g %.17g %d\\n', a, b, c(1), isa(c, 'double'));\n")
    a, b, c, is_double = octave_eval(code, classic_dir, classic_dir).stdout.split()
    want = est.predict(row)[0]
    assert abs(float(a) - want) <= 1e-9 * abs(want) and float(a) == float(b)
    assert abs(float(c) - est.predict(np.ones((1, 12)))[0]) <= 1e-9 * abs(float(c)) and is_double == "1"


@pytest.fixture(scope="module")
def verify_exports(tmp_path_factory):
    """Exports made through `convert`, which stores scikit-learn's golden outputs."""
    import pickle
    from mlpexport.cli import main
    need_octave()  # convert runs the export: without Octave this fixture skips
    d = tmp_path_factory.mktemp("verify")
    names = ["reg_classic", "ttr_minmax_multi", "clf_multi_str", "clf_multilabel", "lr_legacy_ovr"]
    for i, name in enumerate(names):
        with open(d / f"{name}.pkl", "wb") as f:
            pickle.dump(case(name)[0], f)
        verify = ["--matlab-verify"] if i == 0 else []  # writes mlpexport_verify.m once
        assert main(["convert", str(d / f"{name}.pkl"), "--to", "matlab", "-o", str(d), *verify]) == 0
    assert (d / "mlpexport_verify.m").read_bytes() == matlab.verifier()
    return d, names


def test_verifier_passes_on_fresh_exports(verify_exports):
    d, names = verify_exports
    code = "addpath(args{1});\n" + "".join(
        f"ok = mlpexport_verify('{n}'); fprintf('RESULT %s %d\\n', '{n}', ok);\n" for n in names)
    out = octave_eval(code, d, d).stdout
    for n in names:
        assert f"RESULT {n} 1" in out, out


def test_verifier_fails_on_a_tampered_mat(verify_exports, tmp_path):
    from scipy.io import loadmat, savemat
    d, _ = verify_exports
    for f in ("clf_multi_str.m", "clf_multi_str.mat", "mlpexport_verify.m"):
        shutil.copy(d / f, tmp_path)
    m = {k: v for k, v in loadmat(tmp_path / "clf_multi_str.mat").items() if not k.startswith("__")}
    m["W2"] = m["W2"] * 1.001
    savemat(tmp_path / "clf_multi_str.mat", m, format="5")
    code = ("addpath(args{1});\n"
            "try\n  mlpexport_verify('clf_multi_str');\n  disp('NO ERROR');\n"
            "catch err\n  disp(err.identifier);\nend\n")
    out = octave_eval(code, tmp_path, tmp_path).stdout.strip().splitlines()
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
    _, net, _ = _big_labels_model()  # inline: weights and int64 labels written as literals
    (tmp_path / "big.m").write_bytes(matlab.render(net, "big", matlab_inline=True)["big.m"])
    (tmp_path / "mlpexport_run.m").write_text(matlab.RUNNER)
    (tmp_path / "mlpexport_verify.m").write_bytes(matlab.verifier())
    proc = subprocess.run([mh_lint, "--matlab", "2017b", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------ shipping, names, stamps

def test_verifier_ships_in_the_package_and_is_named_in_the_header():
    _, net, _ = case("reg_classic")
    files = matlab.render(net, "m", matlab_verify=True)
    assert set(files) == {"m.m", "m.mat", "mlpexport_verify.m"}
    assert files["mlpexport_verify.m"].startswith(b"function ok = mlpexport_verify(name, rtol, atol)")
    assert "mlpexport_verify('m')" in files["m.m"].decode()
    assert "mlpexport_verify.m" not in matlab.render(net, "m")  # only on request
    with pytest.raises(ExportError, match="inline"):
        matlab.render(net, "m", matlab_inline=True, matlab_verify=True)


@pytest.mark.parametrize("name", ["end", "function", "bsxfun", "max", "Sum", "nargout", "weights",
                                  "mlpexport_verify"])
def test_matlab_keywords_and_builtins_are_refused_as_names(name):
    with pytest.raises(UsageError, match="choose another name"):
        emit.check_name(name, ["matlab"])
    _, net, _ = case("reg_classic")
    with pytest.raises(ExportError):  # the library refuses it too, not only the CLI
        matlab.render(net, name)


def _called(text):
    """Every name the .m calls or indexes as a function: identifier followed by '('."""
    code = "\n".join(line.split("%", 1)[0] for line in text.splitlines()
                     if not line.lstrip().startswith("%"))
    code = re.sub(r"'[^'\n]*'", "''", code)  # no words from inside strings
    return set(re.findall(r"(?<![.\w])([A-Za-z]\w*)\s*\(", code))


def test_reserved_names_cover_every_function_the_m_file_calls():
    variables = {"w", "X", "Z", "E", "P", "p", "s", "idx", "zero", "label", "proba", "y", "scores",
                 "F", "T", "k", "refused", "cols",  # input ops of pipelines
                 "M", "missing", "unexpected",  # columns_by_name, for struct input
                 "v", "c", "at", "codes", "bad"}  # lookup and the text columns' codes
    for name in ALL:
        _, net, _ = case(name)
        for inline in ((False, True) if name in NUMERIC_LABELS else (False,)):
            text = matlab.render(net, "m", matlab_inline=inline)["m.m"].decode()
            missing = {c for c in _called(text) - variables - {"m"} - set(matlab.RESERVED)
                       if not c.startswith("w_")}  # the inline export's constants
            assert not missing, f"{name}: {missing} are called but not reserved"
    missing = _called(matlab.RUNNER) - {"args", "d"} - set(matlab.RESERVED)
    assert not missing, f"runner: {missing}"


def test_stamp_reports_dtype_and_whether_m_and_mat_are_one_export(tmp_path):
    _, net, _ = case("clf_multi_str")
    a, b = tmp_path / "a", tmp_path / "b"
    emit.write_all(matlab.render(net, "m", dtype="float32"), str(a), force=True)
    emit.write_all(matlab.render(net, "m", dtype="float64"), str(b), force=True)
    st = matlab.stamp(str(a), "m")
    assert (st.fingerprint, st.intact, st.dtype, st.same_export) == (net.fingerprint, True, "float32", True)
    shutil.copy(b / "m.m", a / "m.m")  # a set mixed from two exports of the same model
    st = matlab.stamp(str(a), "m")
    assert st.fingerprint == net.fingerprint and not st.same_export


# ------------------------------------------------ model-file text and paths never run

TOUCH = "system('touch $MLPEXPORT_MARKER')"  # no '/': it also goes into folder names


@pytest.fixture
def marker(tmp_path, monkeypatch):
    """A file that exists only if a payload ran (Octave's system() inherits the variable)."""
    path = tmp_path / "MARKER"
    monkeypatch.setenv("MLPEXPORT_MARKER", str(path))
    return path


def _payload_net(net):
    """The network with author-controlled text that tries to run a command in Octave."""
    meta = dict(net.meta, sklearn_version=f"1.0\n{TOUCH};\n%",
                model_file=f"x');{TOUCH};%.pkl", source=f"MLP\n%}}\n{TOUCH};")
    return dataclasses.replace(net, meta=meta)


def test_model_text_and_paths_never_become_octave_code(tmp_path, monkeypatch, marker):
    need_octave()
    est, net, X = case("clf_multi_str")
    net = _payload_net(net)
    payload = f"a');{TOUCH};%"
    outdir = tmp_path / f"it's {payload}"          # the export directory ...
    private_tmp = tmp_path / f"tmp {payload}"       # ... and TMPDIR carry the payload
    private_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    files = matlab.render(net, "same", matlab_verify=True,
                          golden=(X[:20], reference(est, net, X[:20])))
    text = files["same.m"].decode()
    assert all(line.startswith("%") for line in text.splitlines() if "system" in line), text
    emit.write_all(files, str(outdir), force=True)
    got = matlab.run_many([(str(outdir), "same", X)])[0]
    assert_matches(got, reference(est, net, X), 1e-9, "payload dir")
    # later, by hand: a user cds into the folder and runs the export and the verifier
    code = f"cd(args{{1}});\ny = same(ones(2, {net.n_features}));\nok = mlpexport_verify('same');\nfprintf('OK %d\\n', ok);\n"
    out = octave_eval(code, outdir, outdir)
    assert "OK 1" in out.stdout, out.stdout + out.stderr
    assert not marker.exists()


def test_inline_export_keeps_model_text_out_of_code(tmp_path, marker):
    need_octave()
    est, net, X = case("reg_classic")
    files = matlab.render(_payload_net(net), "same", matlab_inline=True)
    emit.write_all(files, str(tmp_path), force=True)
    got = matlab.run_many([(str(tmp_path), "same", X)])[0]
    assert_matches(got, reference(est, net, X), 1e-9, "inline")
    assert not marker.exists()


# --------------------------------------------- a misbehaving Octave is never results

def _fake_octave(tmp_path, monkeypatch, body):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "octave-cli"
    exe.write_text("#!/bin/sh\n" + body + "\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    assert shutil.which("octave-cli") == str(exe)


@pytest.mark.parametrize("body,what", [
    ("echo 'boom' >&2; exit 1", "exited with status 1.*boom"),
    ("kill -KILL $$", "killed by SIGKILL"),
    ("exit 0", "without writing the outputs"),
    ("sleep 20", "did not finish within 1 s"),
], ids=["exit1", "sigkill", "no-outputs", "timeout"])
def test_a_crashing_octave_raises_runtime_failed(body, what, tmp_path, monkeypatch, classic_dir):
    _fake_octave(tmp_path, monkeypatch, body)
    with pytest.raises(RuntimeFailed, match=what):
        matlab.run_many([(str(classic_dir), "classic", np.ones((2, 12)))], timeout=1)


@pytest.mark.parametrize("body,what", [
    ("error('my:id', 'the export broke');", "raised an error in Octave: my:id: the export broke"),
    ("exit(0);", "without writing the outputs"),
    ("exit(3);", "exited with status 3"),
], ids=["error", "exit0", "exit3"])
def test_an_export_that_errors_or_exits_raises_runtime_failed(body, what, tmp_path):
    need_octave()
    (tmp_path / "broken.m").write_text(f"function y = broken(X)\n{body}\ny = X;\nend\n")
    with pytest.raises(RuntimeFailed, match=what):
        matlab.run_many([(str(tmp_path), "broken", np.ones((2, 3)))])


# ------------------------------------------------------------ exact int64 labels

BIG = np.array([2**53, 2**53 + 1, 2**60, -2**62 - 1], dtype=np.int64)  # not all doubles


def _big_labels_model():
    from sklearn.linear_model import LogisticRegression
    from conftest import network
    X = np.random.default_rng(0).normal(size=(120, 4))
    est = LogisticRegression().fit(X, BIG[np.argmax(X, axis=1)])
    return est, network(est), X


def test_int64_labels_beyond_2_53_stay_exact(tmp_path):
    need_octave()
    est, net, X = _big_labels_model()
    want = est.predict(X)
    assert want.dtype == np.int64 and set(want) == set(BIG)  # 2^53 + 1 is predicted
    jobs = []
    for inline in (False, True):
        d = tmp_path / ("inline" if inline else "mat")
        emit.write_all(matlab.render(net, "big", matlab_inline=inline), str(d), force=True)
        jobs.append((str(d), "big", X))
    for (d, _, _), got in zip(jobs, matlab.run_many(jobs)):
        label = np.asarray(got["predict"]).reshape(-1)
        assert label.dtype == np.int64, d
        np.testing.assert_array_equal(label, want, err_msg=d)


def test_one_octave_run_uses_each_folders_own_export_of_a_name(tmp_path):
    """run_many runs exports of the same name from several folders in one Octave: each
    must use its own weights, not the first one's cached in the function's persistent."""
    need_octave()
    est, net, X = case("reg_classic")
    last = net.layers[-1]
    shifted = dataclasses.replace(net, layers=net.layers[:-1] + (dataclasses.replace(last, b=last.b + 1000.0),))
    for d, n, dtype in (("a", net, "float64"), ("b", shifted, "float64"), ("c", net, "float32")):
        emit.write_all(matlab.render(n, "same", dtype=dtype), str(tmp_path / d), force=True)
    a, b, c = (r["predict"].reshape(-1) for r in matlab.run_many(
        [(str(tmp_path / d), "same", X) for d in "abc"]))
    want = est.predict(X)
    np.testing.assert_allclose(a, want, rtol=1e-9)
    np.testing.assert_allclose(b, want + 1000.0, rtol=1e-9)
    assert c.dtype == np.float32 and not np.array_equal(c, a)


def test_a_folder_octave_cannot_add_is_refused_by_name(tmp_path):
    """addpath splits its argument at ':', so such a folder would run another one's files."""
    need_octave()
    _, net, X = case("reg_classic")
    d = tmp_path / "a:b"
    emit.write_all(matlab.render(net, "same"), str(d), force=True)
    with pytest.raises(RuntimeFailed, match="contains ':'"):
        matlab.run_many([(str(d), "same", X)])


# --- a struct with one field per feature (#12) ------------------------------------------

def _named_regressor(columns):
    pd = pytest.importorskip("pandas")
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(60, 20, size=(120, len(columns))), columns=columns)
    est = MLPRegressor(hidden_layer_sizes=(6,), max_iter=200, random_state=0).fit(
        df, df.iloc[:, 0] / 10 + rng.normal(size=120))
    return est, df


STRUCT_SCRIPT = """args = argv(); addpath(args{1}); d = load(args{2});
y = m(d.S); msg = '';
try
  m(rmfield(d.S, d.drop));
catch err
  msg = err.message;
end
save('-v6', args{3}, 'y', 'msg');
"""


def test_struct_input_is_matched_by_field_name(tmp_path):
    need_octave()
    from scipy.io import loadmat, savemat
    from mlpexport.extract import extract
    est, df = _named_regressor(["speed", "load", "temp"])
    emit.write_all(matlab.render(extract(est), "m"), str(tmp_path), force=True)
    rows = df.iloc[:7]
    shuffled = {c: rows[c].to_numpy().reshape(-1, 1) for c in ["temp", "speed", "load"]}
    savemat(tmp_path / "in.mat", {"S": shuffled, "drop": "temp"})
    proc = matlab.run_octave_script(STRUCT_SCRIPT, str(tmp_path),
                                    args=(tmp_path, tmp_path / "in.mat", tmp_path / "out.mat"))
    assert proc.returncode == 0, proc.stderr
    out = loadmat(tmp_path / "out.mat")
    assert_matches({"predict": out["y"][:, 0]}, {"predict": est.predict(rows)}, 1e-12, "struct")
    assert "missing: {temp}, unexpected: {}" in str(out["msg"][0])


def test_struct_input_refused_when_names_are_not_identifiers(tmp_path):
    need_octave()
    from scipy.io import loadmat, savemat
    from mlpexport.extract import extract
    est, df = _named_regressor(["a b", "c"])
    files = matlab.render(extract(est), "m")
    assert "a b" not in files["m.m"].decode()  # names are data, never text of the .m
    emit.write_all(files, str(tmp_path), force=True)
    savemat(tmp_path / "in.mat", {"S": {"c": np.ones((2, 1))}, "drop": "c"})
    proc = matlab.run_octave_script(STRUCT_SCRIPT.replace("y = m(d.S); ", "y = 0; "), str(tmp_path),
                                    args=(tmp_path, tmp_path / "in.mat", tmp_path / "out.mat"))
    assert proc.returncode == 0, proc.stderr
    assert "not all MATLAB identifiers" in str(loadmat(tmp_path / "out.mat")["msg"][0])


def test_struct_field_of_numbers_given_as_char_is_refused(tmp_path):
    """Octave reads S.speed = '12' as the character codes [49 50]: refused, as MATLAB
    refuses a string where a number goes, with the field named."""
    need_octave()
    from scipy.io import loadmat
    from mlpexport.extract import extract
    est, df = _named_regressor(["speed", "load"])
    emit.write_all(matlab.render(extract(est), "m"), str(tmp_path), force=True)
    code = ("args = argv(); addpath(args{1});\n"
            "S.speed = '12'; S.load = [1; 2];\n"
            "try\n  m(S);\n  msg = 'NO ERROR'; id = '';\n"
            "catch err\n  msg = err.message; id = err.identifier;\nend\n"
            "save('-v6', args{2}, 'msg', 'id');\n")
    proc = matlab.run_octave_script(code, str(tmp_path), (tmp_path, tmp_path / "out.mat"))
    out = loadmat(tmp_path / "out.mat")
    assert str(out["id"][0]) == "mlpexport:notNumeric", proc.stdout + proc.stderr
    assert "field speed must hold real numbers, not char" in str(out["msg"][0])
