"""Committed NAME.py files are untrusted code: run through the isolated runner, nothing
they do (exit, signals, stdout, cwd, monkeypatching numpy, hanging, odd results) turns
into outputs; a normal export gives exactly what it gives in-process."""
import os
import textwrap

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
