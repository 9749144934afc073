"""Committed NAME.py files are untrusted code: run through the isolated runner, nothing
they do (exit, signals, stdout, cwd, monkeypatching numpy, hanging, odd results) turns
into outputs; a normal export gives exactly what it gives in-process."""
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import case
from mlpexport import emit
from mlpexport.emit import numpy as npx
from mlpexport.emit import sandbox
from mlpexport.errors import RuntimeFailed


def export(tmp_path, name="reg_classic"):
    est, net, X = case(name)
    emit.write_all(npx.render(net, "m"), str(tmp_path), force=True)
    return est, X


def replace_module(tmp_path, prefix="", suffix=""):
    """Keep the valid m.npz; m.py becomes the real module with code before/after it."""
    path = tmp_path / "m.py"
    real = path.read_text()
    path.write_text(textwrap.dedent(prefix) + "\n" + real + "\n" + textwrap.dedent(suffix))


# One model per kind of output (a child costs ~0.3 s, mostly importing numpy): one and
# several outputs, exp head, target transform, bool/float/str labels, multilabel,
# one-vs-rest.
KINDS = ["reg_classic", "reg_poisson", "ttr_minmax_multi", "clf_binary_bool", "clf_multi_float",
         "clf_multi_str", "clf_multilabel", "lr_legacy_ovr"]


@pytest.mark.parametrize("name", KINDS)
def test_isolated_runner_equals_in_process_bit_for_bit(name, tmp_path):
    _, X = export(tmp_path, name)
    in_process = npx.runner(str(tmp_path), "m")
    with npx.runner(str(tmp_path), "m", isolated=True) as run:
        for rows in (X, X[:1]):  # and a second call through the same child
            got, want = run(rows), in_process(rows)
            assert set(got) == set(want)
            for key, w in want.items():
                assert got[key].dtype == w.dtype and got[key].shape == w.shape, key
                assert np.array_equal(got[key], w), key


HOSTILE_IMPORT = {
    "SystemExit(0)": ("raise SystemExit(0)", "exited with code 0"),
    "os._exit(0)": ("import os; os._exit(0)", "exited with code 0"),
    "SIGKILL itself": ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                       "was killed by signal SIGKILL"),
    "crash": ("import ctypes; ctypes.string_at(0)", "was killed by signal SIGSEGV"),
    "error": ("raise ImportError('no such thing')", "exited with code 1.*no such thing"),
}


@pytest.mark.parametrize("case_name", HOSTILE_IMPORT)
def test_hostile_import_is_a_runtime_failure(case_name, tmp_path):
    export(tmp_path)
    code, message = HOSTILE_IMPORT[case_name]
    replace_module(tmp_path, prefix=code)
    with pytest.raises(RuntimeFailed, match=f"m.py {message}"):
        npx.runner(str(tmp_path), "m", isolated=True)


HOSTILE_PREDICT = {
    "SystemExit(0)": ("raise SystemExit(0)", "exited with code 0"),
    "os._exit(0)": ("import os; os._exit(0)", "exited with code 0"),
    "SIGKILL itself": ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)",
                       "was killed by signal SIGKILL"),
    "ValueError": ("raise ValueError('bad rows')", "failed on 498 rows: ValueError: bad rows"),
    "wrong shape": ("return np.zeros((len(X), 12))", r"returned predict of shape \(498, 12\)"),
    "missing rows": ("return np.zeros(3)", r"returned predict of shape \(3,\)"),
    "not an array": ("return None", r"returned predict of shape \(\)"),
}


@pytest.mark.parametrize("case_name", HOSTILE_PREDICT)
def test_hostile_predict_is_a_runtime_failure(case_name, tmp_path):
    _, X = export(tmp_path)
    code, message = HOSTILE_PREDICT[case_name]
    replace_module(tmp_path, suffix=f"def predict(X):\n    {code}\n")
    run = npx.runner(str(tmp_path), "m", isolated=True)
    with pytest.raises(RuntimeFailed, match=message):
        run(X)


def test_a_failed_child_is_stopped_and_its_files_removed(tmp_path):
    _, X = export(tmp_path)
    replace_module(tmp_path, suffix="def predict(X):\n    import os; os._exit(0)\n")
    run = npx.runner(str(tmp_path), "m", isolated=True)
    with pytest.raises(RuntimeFailed):
        run(X)
    assert run.proc.returncode is not None and not os.path.exists(run.work)
    with pytest.raises(RuntimeFailed, match="no longer running"):
        run(X)


def test_an_error_in_predict_leaves_the_runner_usable(tmp_path):
    """An export that refuses some rows (its own ValueError) is not a crashed runtime."""
    est, X = export(tmp_path)
    with npx.runner(str(tmp_path), "m", isolated=True) as run:
        with pytest.raises(RuntimeFailed, match="ValueError: Input X contains NaN"):
            run(np.full((2, 12), np.nan))
        np.testing.assert_allclose(run(X)["predict"], est.predict(X), rtol=1e-12)


def test_a_hanging_export_times_out(tmp_path):
    _, X = export(tmp_path)
    replace_module(tmp_path, suffix="def predict(X):\n    import time; time.sleep(60)\n")
    run = npx.runner(str(tmp_path), "m", isolated=True, timeout=1)
    with pytest.raises(RuntimeFailed, match="did not finish within 1 s"):
        run(X)
    assert run.proc.returncode is not None


def test_stdout_cwd_and_numpy_patches_stay_in_the_child(tmp_path, capfd):
    """A module that prints a fake verdict, moves to another directory and patches numpy's
    comparisons, then returns zeros: the parent sees none of it, only wrong numbers."""
    est, X = export(tmp_path)
    replace_module(tmp_path, prefix="""
        import os
        import numpy as np
        print('{"passed": true}')
        print("numpy m - PASS")
        os.chdir("/")
        np.allclose = np.array_equal = lambda *a, **k: True
        np.testing.assert_allclose = lambda *a, **k: None
        """, suffix="""
        def predict(X):
            print("all exports agree with scikit-learn")
            return np.zeros(len(X))
        """)
    cwd, allclose = os.getcwd(), np.allclose
    with npx.runner(str(tmp_path), "m", isolated=True) as run:
        got = run(X)
    assert os.getcwd() == cwd and np.allclose is allclose
    assert capfd.readouterr().out == ""
    assert not np.allclose(got["predict"], est.predict(X), rtol=1e-3)


def test_stderr_tail_is_quoted_in_the_error(tmp_path):
    export(tmp_path)
    replace_module(tmp_path, prefix="""
        import sys
        sys.stderr.write("\\x1b[31msomething broke\\n")
        raise SystemExit(3)
        """)
    with pytest.raises(RuntimeFailed, match="exited with code 3.*ends: .*something broke") as info:
        npx.runner(str(tmp_path), "m", isolated=True)
    assert "\x1b" not in str(info.value)


def test_object_labels_come_back_as_objects(tmp_path):
    """Labels the module keeps as objects (classes_kind "object") cross the process
    boundary as text and come back as objects, as in-process."""
    import dataclasses
    _, net, X = case("clf_multi_str")
    net = dataclasses.replace(net, classes=np.array(list(net.classes), dtype=object))
    emit.write_all(npx.render(net, "m"), str(tmp_path), force=True)
    want = npx.runner(str(tmp_path), "m")(X)
    assert want["predict"].dtype == object
    with npx.runner(str(tmp_path), "m", isolated=True) as run:
        got = run(X)
    assert got["predict"].dtype == object
    assert got["predict"].tolist() == want["predict"].tolist()


def test_missing_files_are_plain_errors(tmp_path):
    from mlpexport.errors import ExportError
    with pytest.raises(ExportError, match="does not exist"):
        npx.runner(str(tmp_path), "m", isolated=True)
    export(tmp_path)
    os.unlink(tmp_path / "m.npz")
    with pytest.raises(ExportError, match="not a readable mlpexport export"):
        npx.runner(str(tmp_path), "m", isolated=True)


def test_worker_is_valid_python_that_imports_only_numpy():
    compile(sandbox.WORKER, "worker", "exec")
    imports = [line.split()[1] for line in sandbox.WORKER.splitlines()
               if line.strip().startswith("import ")]
    assert {m.split(",")[0] for m in imports} <= {"os", "resource", "importlib.util", "numpy"}


def test_processes_the_export_starts_are_stopped_too(tmp_path):
    """A module that leaves a grandchild holding the reply pipe and exits 0: a failure
    (after the timeout), and the grandchild is killed with its process group."""
    import time
    _, X = export(tmp_path)
    pid_file = tmp_path / "grandchild.pid"
    replace_module(tmp_path, prefix=f"""
        import os, time
        if os.fork() == 0:
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            time.sleep(60)
        else:
            time.sleep(0.2)
            os._exit(0)
        """)
    with pytest.raises(RuntimeFailed, match="exited with code 0"):
        npx.runner(str(tmp_path), "m", isolated=True, timeout=1.5)
    pid = int(pid_file.read_text())
    for _ in range(100):  # killed at once; init reaps it soon after
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            break
        if state == "Z":
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"grandchild {pid} still running")


# ------------------------------------------------------------------ committed C exports
# A committed NAME.c is untrusted code too: it is compiled and loaded in a child process
# (emit/c_worker.py) with the same protocol, so its constructors, crashes, exits, hangs
# and writes never end, hang or fool the checking process.

from mlpexport.emit import c as c_target  # noqa: E402

CC_MISSING = None
try:
    c_target.compiler()
except Exception as exc:  # noqa: BLE001
    CC_MISSING = str(exc)
need_cc = pytest.mark.skipif(CC_MISSING is not None and os.environ.get("MLPEXPORT_REQUIRE_CC") != "1",
                             reason="no C compiler (cc) installed")

C_LOAD = {  # code a constructor runs when the library is loaded
    "_exit(0)": ("_exit(0);", "exited with code 0 without returning results while its library was loaded"),
    "segfault": ("int *volatile p = (int *)16; *p = 1;", "was killed by signal SIGSEGV while its library"),
    "abort": ("abort();", "was killed by signal SIGABRT while its library"),
    "infinite loop": ("for (;;) {}", "did not finish within 1 s .stopped. while its library"),
    "garbage on every pipe": ('int fd; for (fd = 0; fd < 64; ++fd) (void)!write(fd, "garbage\\n", 8);',
                              "answered 'garbage' instead of its results"),
}
C_CALL = {  # m_predict's body
    "_exit(0)": ("_exit(0);", "exited with code 0 without returning results on 498 rows"),
    "segfault": ("int *volatile p = (int *)16; *p = 1; return 0;", "was killed by signal SIGSEGV on 498 rows"),
    "abort": ("abort();", "was killed by signal SIGABRT on 498 rows"),
    "infinite loop": ("for (;;) {}", "did not finish within 1 s .stopped. on 498 rows"),
    "garbage on every pipe": ('int fd; for (fd = 0; fd < 64; ++fd) (void)!write(fd, "done 1\\n", 7); _exit(0);',
                              "exited with code 0|returned no readable result file"),
}
C_PRELUDE = "#include <stdlib.h>\n#include <unistd.h>\n"


def c_export(tmp_path, name="reg_classic"):
    est, net, X = case(name)
    emit.write_all(c_target.render(net, "m"), str(tmp_path), force=True)
    return est, net, X


def hostile_c(tmp_path, load=None, predict=None):
    """m.c with a constructor running `load`, or with m_predict's body replaced by
    `predict`; its weights, fingerprint and export id untouched (check runs it)."""
    path = tmp_path / "m.c"
    code = path.read_text()
    if load is not None:
        code = C_PRELUDE + code + f"\n__attribute__((constructor)) static void evil(void) {{ {load} }}\n"
    if predict is not None:
        code = (C_PRELUDE + "#define m_predict m_predict_real\n" + code + "\n#undef m_predict\n"
                "int m_predict(const double *X, size_t n_rows, double *y);\n"
                "int m_predict(const double *X, size_t n_rows, double *y) "
                f"{{ (void)X; (void)n_rows; (void)y; {predict} }}\n")
    path.write_text(code)


@need_cc
@pytest.mark.parametrize("what", C_LOAD)
def test_hostile_c_library_load_is_a_runtime_failure(what, tmp_path):
    c_export(tmp_path)
    code, message = C_LOAD[what]
    hostile_c(tmp_path, load=code)
    with pytest.raises(RuntimeFailed, match=f"m.c {message}"):
        c_target.runner(str(tmp_path), "m", timeout=1)


@need_cc
@pytest.mark.parametrize("what", C_CALL)
def test_hostile_c_call_is_a_runtime_failure(what, tmp_path):
    _, _, X = c_export(tmp_path)
    code, message = C_CALL[what]
    hostile_c(tmp_path, predict=code)
    run = c_target.runner(str(tmp_path), "m", timeout=1)
    with pytest.raises(RuntimeFailed, match=message):
        run(X)
    assert run.proc.returncode is not None and not os.path.exists(run.work)


@need_cc
def test_c_prints_stay_in_the_child_and_wrong_numbers_stay_wrong(tmp_path, capfd):
    est, _, X = c_export(tmp_path)
    hostile_c(tmp_path, predict='size_t i; printf("{\\"passed\\": true}\\n"); fflush(stdout); '
                                'for (i = 0; i < n_rows; ++i) y[i] = 0; return 0;')
    (tmp_path / "m.c").write_text("#include <stdio.h>\n" + (tmp_path / "m.c").read_text())
    with c_target.runner(str(tmp_path), "m") as run:
        got = run(X)
    assert capfd.readouterr().out == ""
    assert not np.allclose(got["predict"], est.predict(X), rtol=1e-3)


@need_cc
def test_a_compiler_that_hangs_is_stopped(tmp_path):
    """A committed m.c that #includes a FIFO: the compiler waits for it forever."""
    c_export(tmp_path)
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "m.c").write_text(f'#include "{tmp_path / "pipe"}"\n' + (tmp_path / "m.c").read_text())
    with pytest.raises(RuntimeFailed, match="C compiler did not finish m.c within 1 s"):
        c_target.runner(str(tmp_path), "m", timeout=1)


@need_cc
def test_the_time_limit_comes_from_the_environment(tmp_path, monkeypatch):
    c_export(tmp_path)
    hostile_c(tmp_path, load="for (;;) {}")
    monkeypatch.setenv("MLPEXPORT_TIMEOUT", "0.5")
    with pytest.raises(RuntimeFailed, match="did not finish within 0.5 s"):
        c_target.runner(str(tmp_path), "m")
    from mlpexport.errors import UsageError
    for bad in ("soon", "0", "-1", "inf", "nan"):
        monkeypatch.setenv("MLPEXPORT_TIMEOUT", bad)
        with pytest.raises(UsageError, match="MLPEXPORT_TIMEOUT"):
            sandbox.time_limit()


def classic_model(tmp_path):
    model = tmp_path / "classic.skops"
    model.write_bytes((Path(__file__).parent.parent / "fixtures" / "models" / "classic.skops").read_bytes())
    return model


def run_cli(*args, cwd, env=None, launcher=None):
    """The command line as a program (`launcher`: a script standing in for the venv's
    bin/mlpexport, so that its folder is sys.path[0]; default `python -m mlpexport.cli`)."""
    import subprocess
    import sys
    argv = [sys.executable, str(launcher)] if launcher else [sys.executable, "-m", "mlpexport.cli"]
    return subprocess.run([*argv, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600)


@need_cc
def test_check_against_a_c_export_that_exits_0_is_exit_2_with_its_reports(tmp_path):
    """The issue's case: a constructor calling _exit(0) made `check --against` exit 0 with
    no output and no JUnit file, and assert_parity's process exit 0."""
    import json
    import subprocess
    import sys
    import xml.etree.ElementTree as ET
    model = classic_model(tmp_path)
    out = tmp_path / "exports"
    proc = run_cli("convert", model, "-o", out, "--to", "numpy,c", "--name", "m", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    hostile_c(out, load="_exit(0);")
    junit = tmp_path / "reports" / "parity.xml"
    proc = run_cli("check", model, "--against", out, "--name", "m", "--to", "numpy,c",
                   "--junit", junit, "--json", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("mlpexport: error: m.c exited with code 0 without returning results")
    report = json.loads(proc.stdout)
    assert report["passed"] is False and report["error_target"] == "c"
    assert report["error"].startswith("m.c exited with code 0")
    suite = ET.parse(junit).getroot()
    assert suite.get("errors") == "1"
    error = suite.find("testsuite/testcase[@classname='m.c']/error")
    assert error is not None and error.get("type") == "runtime"
    assert "exited with code 0" in error.get("message")
    # the same export through the API: the exception, never an exit of the process
    script = ("import sys; from mlpexport.testing import assert_parity\n"
              "try:\n    assert_parity(sys.argv[1], sys.argv[2], name='m', to='numpy,c')\n"
              "except Exception as exc:\n    print(type(exc).__name__ + ': ' + str(exc)); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(model), str(out)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert proc.returncode == 3 and proc.stdout.startswith("RuntimeFailed: m.c exited with code 0")


# ------------------------------------------------------- the child cannot reach its parent

PLANT = """
import os
for folder in {folders!r}:
    for module in ("onnxruntime", "tqdm", "xml", "scipy", "json", "zipfile"):
        with open(os.path.join(folder, module + ".py"), "w") as f:
            f.write("open({marker!r}, 'w').write(__name__)\\nimport os\\nos._exit(0)\\n")
"""


@pytest.mark.parametrize("how", ["launcher", "python -m"])
def test_a_module_planted_on_the_parents_path_is_never_imported(how, tmp_path):
    """A committed m.py writes onnxruntime.py (and more) into the folder of the program
    (the venv's bin/ for the console script) and into the current directory; each would
    end check with exit 0 and no output if the parent imported it."""
    model = classic_model(tmp_path)
    out, work, bin_dir = tmp_path / "exports", tmp_path / "work", tmp_path / "bin"
    work.mkdir()
    bin_dir.mkdir()
    launcher = bin_dir / "mlpexport"
    launcher.write_text("import sys\nfrom mlpexport.cli import main\nsys.exit(main())\n")
    proc = run_cli("convert", model, "-o", out, "--to", "numpy,onnx", "--name", "m", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    marker = tmp_path / "planted-code-ran"
    replace_module(out, prefix=PLANT.format(folders=[str(bin_dir), str(work)], marker=str(marker)))
    junit = tmp_path / "parity.xml"
    proc = run_cli("check", model, "--against", out, "--name", "m", "--to", "numpy,onnx",
                   "--junit", junit, cwd=work, launcher=launcher if how == "launcher" else None)
    assert (bin_dir / "onnxruntime.py").exists() and (work / "onnxruntime.py").exists()  # planted
    assert not marker.exists(), f"the parent imported the planted {marker.read_text()}"
    assert proc.returncode == 0, proc.stderr  # the module itself is the genuine export
    assert "numpy    predict" in proc.stdout and "onnx     predict" in proc.stdout
    assert junit.exists()


def test_the_api_imports_what_it_needs_before_an_export_runs(tmp_path):
    """Called from Python (pytest, assert_parity) with a writable folder first on sys.path:
    the modules check still needs after a child ran are imported before it runs, and one
    that is not installed stays absent instead of being found planted."""
    import subprocess
    import sys
    model = classic_model(tmp_path)
    out, plant = tmp_path / "exports", tmp_path / "plant"
    plant.mkdir()
    proc = run_cli("convert", model, "-o", out, "--to", "numpy", "--name", "m", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    marker = tmp_path / "planted-code-ran"
    payload = f"open({str(marker)!r}, 'w').write(__name__)"
    replace_module(out, prefix=PLANT.format(folders=[str(plant)], marker=str(marker))
                   + f"open(os.path.join({str(plant)!r}, 'not_installed_runtime.py'), 'w')"
                     f".write({payload!r})\n")
    script = (
        "import sys; sys.path.insert(0, sys.argv[3])\n"
        "from mlpexport.emit import sandbox\n"
        "sandbox.PARENT_MODULES = getattr(sandbox, 'PARENT_MODULES', ()) + ('not_installed_runtime',)\n"
        "import mlpexport\n"
        "from mlpexport.check import junit_xml\n"
        "report = mlpexport.check(sys.argv[1], against=sys.argv[2], name='m', to='numpy')\n"
        "junit_xml([report])\n"
        "try:\n    import not_installed_runtime\nexcept ImportError:\n    pass\n"
        "import json, zipfile, xml.etree.ElementTree, tqdm\n"
        "print(report.passed)\n")
    proc = subprocess.run([sys.executable, "-c", script, str(model), str(out), str(plant)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert (plant / "xml.py").exists(), proc.stdout + proc.stderr
    assert not marker.exists(), f"the parent imported the planted {marker.read_text()}"
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr


# ---------------------------------------------- the child's folder is not a trap either
# The child owns its working directory (the parent's temp dir): it can put a FIFO where
# the parent writes rows, reads results or reads the log. Each would block the parent
# forever in open(); the alarm turns such a hang into a test failure.

@pytest.fixture
def no_hang():
    import signal as sig

    def hung(*_):
        raise TimeoutError("the parent blocked")
    old = sig.signal(sig.SIGALRM, hung)
    sig.alarm(30)
    yield
    sig.alarm(0)
    sig.signal(sig.SIGALRM, old)


FOLDER_TRAPS = {
    "a FIFO where the rows go": (
        "import os\nos.mkfifo('in-1.npy')\n", "", "folder was tampered with"),
    "a FIFO as the result": (
        "", """
        def predict(X):
            import os, sys, time
            os.mkfifo('out-1.npz')
            os.write(int(sys.argv[3]), b'done 1\\n')
            time.sleep(60)
        """, "returned a result that is not a plain file"),
    "a FIFO as the log": (
        "import os\nos.unlink('stderr.log'); os.mkfifo('stderr.log')\nraise SystemExit(3)\n", "",
        "exited with code 3"),
    "a link as the result": (
        "", """
        def predict(X):
            import os, sys, time
            os.symlink('/dev/zero', 'out-1.npz')
            os.write(int(sys.argv[3]), b'done 1\\n')
            time.sleep(60)
        """, "returned no readable result file"),
}


@pytest.mark.parametrize("trap", FOLDER_TRAPS)
def test_traps_in_the_childs_folder_never_block_the_parent(trap, tmp_path, no_hang):
    _, X = export(tmp_path)
    prefix, suffix, message = FOLDER_TRAPS[trap]
    replace_module(tmp_path, prefix=prefix, suffix=suffix)
    with pytest.raises(RuntimeFailed, match=message):
        with npx.runner(str(tmp_path), "m", isolated=True, timeout=20) as run:
            run(X)
