"""`mlpexport train`: every data set trains, converts and passes check; bad input is refused
without writing a model file."""
import io
import os

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
    for suffix in (".pkl", ".joblib", ".sav"):
        path = tmp_path / f"q{suffix}"
        assert main(["train", "quadratic", "--hidden", "3", "--max-iter", "5", "--target-scaler",
                     "standard", "-o", str(path), "--quiet"]) == 0
        assert main(["convert", str(path), "-o", str(tmp_path / "out"), "--to", "numpy", "--force"]) == 0, suffix
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
    (["DATA", "--target", "y"], "x,y\n1,2\noops,3\n", "column 'x' is not numeric"),
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


# --- choosing the task, CSV targets, options that do not apply (issue 11 §7, §10) ----------

def write_csv(tmp_path, header, rows, name="d.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header] + [",".join(map(str, r)) for r in rows]) + "\n")
    return str(path)


def train_csv(path, *extra, out=None):
    out = out or os.path.join(os.path.dirname(path), "m.skops")
    return main(["train", path, "--target", "y", "--hidden", "3", "--max-iter", "5", "-o", out,
                 "--quiet", *extra]), out


def test_task_follows_sklearn_type_of_target_and_is_printed(tmp_path, capsys):
    from sklearn.utils.multiclass import type_of_target
    rng = np.random.default_rng(1)
    x = rng.normal(size=(80, 2))
    cases = {  # the target, and what scikit-learn's own type_of_target calls it
        "continuous": np.round(x[:, 0] * 3 + 0.25, 2) + 0.001,
        "multiclass": np.arange(80) % 40,       # integers, many distinct values
        "binary": (x[:, 0] > 0).astype(int),
    }
    for want, y in cases.items():
        assert type_of_target(y) == want
        path = write_csv(tmp_path, "a,b,y", [(r[0], r[1], v) for r, v in zip(x, y)], f"{want}.csv")
        code, _ = train_csv(path, out=str(tmp_path / f"{want}.skops"))
        out = capsys.readouterr().out
        assert code == 0
        if want == "continuous":
            assert "MLPRegressor" in out and "continuous" in out and "regression" in out
        else:
            assert "MLPClassifier" in out and want in out and "classification" in out
            assert "--model mlp-regressor" in out  # how to override the choice


def test_an_explicit_model_overrides_the_choice_for_integer_targets(tmp_path, capsys):
    x = np.arange(60.0)
    path = write_csv(tmp_path, "a,y", [(v, int(v) % 30) for v in x])
    code, _ = train_csv(path, "--model", "mlp-regressor")
    assert code == 0 and "MLPRegressor" in capsys.readouterr().out


def test_string_labels_train_a_classifier_that_checks(tmp_path, capsys):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 2))
    labels = np.where(x[:, 0] > 0, "cat", "dog, or wolf")
    path = tmp_path / "d.csv"
    path.write_text('"a","b","y"\n' + "".join(f'{r[0]},{r[1]},"{v}"\n' for r, v in zip(x, labels)))
    code, out = train_csv(str(path))
    assert code == 0 and "MLPClassifier" in capsys.readouterr().out
    import skops.io as sio
    est = sio.load(out, trusted=sio.get_untrusted_types(file=out))
    assert sorted(est.classes_) == ["cat", "dog, or wolf"]
    assert main(["check", out, "--to", "numpy"]) == 0


def test_train_csv_uses_the_shared_reader(tmp_path, capsys):
    path = write_csv(tmp_path, '"a","y"', [(1, 2), (3, 4), (5, 6), ("1_000", 7)])
    code, out = train_csv(path)
    err = capsys.readouterr().err
    assert code == 2 and "'1_000'" in err and "column 'a'" in err and not os.path.exists(out)


@pytest.mark.parametrize("args,csv,message", [
    (["iris", "--target", "y"], None, "--target applies to CSV"),
    (["iris", "--target-scaler", "standard"], None, "--target-scaler applies to regressors"),
    (["sine", "--seed", "-1"], None, "--seed"),
    (["sine", "--seed", str(2 ** 32)], None, "--seed"),
    (["sine", "--test-size", "0"], None, "--test-size"),
    (["sine", "--test-size", "1"], None, "--test-size"),
    (["sine", "--test-size", "-0.5"], None, "--test-size"),
    (["sine", "--test-size", "nan"], None, "--test-size"),
    (["DATA", "--target", "y"], "x,y\n1,2\nnan,3\n", "column 'x' contains NaN"),
    (["DATA", "--target", "y"], "x,y\n1,2\n2,inf\n", "column 'y' contains NaN"),
    (["DATA", "--target", "y", "--model", "mlp-regressor"], "x,y\n1,a\n2,b\n", "numeric target"),
    (["DATA", "--target", "y"], "x,y\n1,a\n2,a\n3,a\n", "only one class"),
    (["DATA", "--target", "x,y"], "x,y,z\n1,a,1\n2,b,2\n", "numeric"),
    (["DATA", "--target", "y"], "x,x,y\n1,2,3\n", "column 'x' appears twice"),
    (["DATA", "--target", "y"], "x,y\n1,2.5\n", "1 rows cannot be split"),
    (["DATA", "--target", "y", "--test-size", "0.5"], "x,y\n1,a\n2,b\n", "holds only one class"),
])
def test_options_and_targets_that_do_not_apply_exit_2(args, csv, message, tmp_path, capsys):
    if csv is not None:
        (tmp_path / "d.csv").write_text(csv)
        args = [str(tmp_path / "d.csv") if a == "DATA" else a for a in args]
    out = tmp_path / "m.skops"
    assert main(["train", *args, "--max-iter", "2", "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "internal error" not in err, err
    assert not out.exists()


def test_train_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, default in [("--max-iter", "200"), ("--seed", "0"), ("--activation", "relu"),
                            ("--scaler", "standard"), ("--test-size", "0.25"),
                            ("--target-scaler", "none")]:
        after = text.split(option, 2)[-1]  # the option's own help entry, after the usage line
        assert f"default: {default})" in after.split("--", 1)[0] or \
            f"(default: {default})" in after[:300], (option, after[:200])


def test_a_csv_trained_model_keeps_its_column_names(tmp_path, capsys, monkeypatch):
    """train on a CSV fits on a DataFrame: the saved model has feature_names_in_ (#12)."""
    pytest.importorskip("pandas")
    from mlpexport.load import load
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 2))
    rows = "\n".join(f"{a},{b},{a - b}" for a, b in X)
    (tmp_path / "d.csv").write_text("speed,load,price\n" + rows + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "d.csv", "--target", "price", "--hidden", "3", "--max-iter", "20",
                 "--quiet"]) == 0
    est = load(tmp_path / "d.skops").estimator
    assert list(est.feature_names_in_) == ["speed", "load"]
    assert "pandas is not installed" not in capsys.readouterr().out


def test_without_pandas_training_says_the_names_are_lost(tmp_path, capsys, monkeypatch):
    from mlpexport import train
    monkeypatch.setattr(train, "_pandas", lambda: None)  # as on a machine without pandas
    (tmp_path / "d.csv").write_text("a,b,y\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(40)) + "\n")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "d.csv", "--target", "y", "--model", "linear"]) == 0
    assert "pandas is not installed" in capsys.readouterr().out
