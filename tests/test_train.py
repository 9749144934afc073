"""`mlpexport train`: every data set trains, converts and passes check; bad input is refused
without writing a model file."""
import io

import numpy as np
import pytest

from mlpexport.cli import main
from mlpexport.train import DATASETS, Progress, load_dataset


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_builtin_dataset_trains_converts_and_checks(dataset, tmp_path, capsys):
    model = tmp_path / f"{dataset}.skops"
    args = ["train", dataset, "--hidden", "4", "--max-iter", "5", "-o", str(model), "--quiet"]
    if dataset in ("iris", "wine"):
        args += ["--model", "logistic"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "held-out" in out and ("R^2" in out or "accuracy" in out)
    assert "did NOT converge" in out or "converged" in out
    assert main(["check", str(model), "--to", "numpy,onnx"]) == 0


def test_formats_by_extension_and_target_scaler(tmp_path, capsys):
    for suffix in (".pkl", ".joblib"):
        path = tmp_path / f"q{suffix}"
        assert main(["train", "quadratic", "--hidden", "3", "--max-iter", "5", "--target-scaler",
                     "standard", "-o", str(path), "--quiet"]) == 0
        assert main(["convert", str(path), "-o", str(tmp_path / "out"), "--to", "numpy", "--force"]) == 0
    assert "TransformedTargetRegressor" in capsys.readouterr().out


def test_csv_dataset(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    rows = ["a,b,c,label"] + [f"{r[0]},{r[1]},{r[2]},{int(r[0] > 0)}" for r in X]
    (tmp_path / "d.csv").write_text("\n".join(rows))
    assert main(["train", str(tmp_path / "d.csv"), "--target", "label", "--hidden", "4",
                 "--max-iter", "20", "-o", str(tmp_path / "d.skops"), "--quiet"]) == 0
    assert "MLPClassifier" in capsys.readouterr().out
    assert main(["check", str(tmp_path / "d.skops"), "--to", "numpy"]) == 0


@pytest.mark.parametrize("args,csv,message", [
    (["nope"], None, "unknown data set 'nope'"),
    (["sine", "--hidden", "3,x"], None, "must be layer widths"),
    (["sine", "--hidden", "0"], None, "between 1 and"),
    (["sine", "--max-iter", "0"], None, "at least 1"),
    (["sine", "--model", "logistic"], None, "needs class labels"),
    (["DATA", "--target", "y"], "x,y\n1,2\n3,oops\n", "column 'y' is not numeric"),
    (["DATA", "--target", "z"], "x,y\n1,2\n3,4\n", "no column 'z'"),
    (["DATA"], "x,y\n1,2\n", "needs --target"),
])
def test_bad_train_input_exits_2_and_writes_no_model(args, csv, message, tmp_path, capsys):
    if csv is not None:
        (tmp_path / "d.csv").write_text(csv)
        args = [str(tmp_path / "d.csv") if a == "DATA" else a for a in args]
    out = tmp_path / "m.skops"
    assert main(["train", *args, "-o", str(out), "--quiet"]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_existing_model_file_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "m.skops"
    out.write_text("mine")
    assert main(["train", "sine", "--max-iter", "2", "-o", str(out), "--quiet"]) == 2
    assert out.read_text() == "mine"


def test_datasets_are_reproducible_and_as_specified():
    a, b = load_dataset("sine", seed=3), load_dataset("sine", seed=3)
    np.testing.assert_array_equal(a.X, b.X)
    assert a.X.shape == (150, 1) and a.X.min() >= 0 and a.X.max() <= 10
    np.testing.assert_allclose(a.y, np.sin(a.X[:, 0]))
    q = load_dataset("quadratic")
    assert q.X[0, 0] == 1 and q.X[-1, 0] == 1000 and q.y[-1] == 1000 ** 2 + 1000
    assert load_dataset("relu").X.shape == (1000, 1) and load_dataset("identity").X.shape == (2000, 1)
    assert load_dataset("linnerud").y.shape == (20, 3)


def test_progress_display_rewrites_sklearn_lines():
    out = io.StringIO()
    p = Progress(out, 200)
    p.write("Iteration 1, loss = 0.50000\nIteration 2, loss = 0.25")
    p.write("000\n")
    assert "\repoch 2/200  loss 0.25" in out.getvalue() and "Iteration" not in out.getvalue()


def test_progress_is_silent_when_not_a_terminal():
    from mlpexport.train import progress_for
    assert progress_for(io.StringIO()) is None
