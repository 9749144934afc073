"""Text from a model file never becomes code: end to end, through the command line.

One hostile model carries a payload in every string it has — the scikit-learn version
it claims, its file name, its feature names and its class labels — and is exported from
a directory, and with a TMPDIR, whose names are payloads too. Each payload would create
a marker file if any target (Python, MATLAB/Octave) ever ran it: during convert, check,
check --against, or when the user later imports or runs the export.
"""
import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pytest
import sklearn.base
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import need_octave, octave_available


def payloads(tag):
    """Strings that run `touch $MARKS/<tag>` if pasted into Python or MATLAB source."""
    sh = f'touch "$MARKS"{tag}'  # no slash: payloads also name files and folders
    return [
        f'1.0"""\n__import__("os").system(\'{sh}\')\n"""',    # Python docstring break-out
        f"1.0\nsystem('{sh}');\n%",                             # MATLAB comment break-out
        f"a');system('{sh}');%",                                 # MATLAB string break-out
        f"x\";__import__('os').system('{sh}');\"",              # Python string break-out
    ]


def hostile_model():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 4))
    labels = np.array(payloads("label")[1:])  # three classes, each a payload
    y = labels[np.digitize(X[:, 0], [-0.4, 0.4])]
    est = make_pipeline(StandardScaler(), MLPClassifier((5,), max_iter=30, random_state=0))
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    est[0].feature_names_in_ = np.array(payloads("feature"), dtype=object)
    return est, X


def save(est, path):
    real = sklearn.base.__version__
    sklearn.base.__version__ = payloads("version")[0] + payloads("version")[1]
    try:
        if path.suffix == ".skops":
            import skops.io as sio
            path.write_bytes(sio.dumps(est))
        else:
            path.write_bytes(pickle.dumps(est))
    finally:
        sklearn.base.__version__ = real


@pytest.mark.parametrize("suffix", [".pkl", ".skops"])
def test_no_payload_runs_anywhere(tmp_path, suffix):
    targets = "all" if octave_available() else "numpy,onnx"
    marks = tmp_path / "marks"
    marks.mkdir()
    evil_dir = tmp_path / "a');system('touch \"$MARKS\"dir');%"
    evil_tmp = tmp_path / "t');system('touch \"$MARKS\"tmpdir');%"
    evil_dir.mkdir()
    evil_tmp.mkdir()
    model = evil_dir / ('x""";__import__("os").system(\'touch "$MARKS"file\');"""' + suffix)
    est, X = hostile_model()
    save(est, model)
    env = dict(os.environ, MARKS=f"{marks}/", TMPDIR=str(evil_tmp))
    out = evil_dir / "out"

    def cli(*args):
        proc = subprocess.run([sys.executable, "-m", "mlpexport.cli", *map(str, args)],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert os.listdir(marks) == [], f"{args[0]} ran a payload: {os.listdir(marks)}"
        return proc

    proc = cli("convert", model, "-o", out, "--to", targets, "--name", "m")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert cli("check", model, "--to", targets).returncode == 0
    proc = cli("check", model, "--against", out, "--name", "m", "--to", targets)
    assert proc.returncode == 0, proc.stdout

    # the user imports the export later, and the exact strings are there as data
    script = ("import sys, numpy as np; sys.path.insert(0, sys.argv[1]); import m; "
              "print(repr(list(m.feature_names_in_))); print(repr(list(m.classes_))); "
              "m.predict(np.zeros((2, 4)))")
    proc = subprocess.run([sys.executable, "-c", script, str(out)], capture_output=True,
                          text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [repr(payloads("feature")), repr(list(est.classes_))]
    assert os.listdir(marks) == []
    if targets == "all":
        octave = shutil.which("octave-cli")
        run = subprocess.run([octave, "--no-gui", "--norc", "--quiet", "--eval",
                              "[l, p] = m(zeros(2, 4)); disp(size(p))"],
                             capture_output=True, text=True, env=env, cwd=out)
        assert run.returncode == 0, run.stderr
        assert os.listdir(marks) == []


def test_octave_runs_in_ci():
    """The MATLAB half of the test above must not silently skip in CI."""
    need_octave()
