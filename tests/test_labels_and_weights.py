"""Issue 29, item 14: a NUL character in a string label is refused by name (exit 2) by the
targets that cannot hold it, and kept by those that can; ColumnTransformer's
transformer_weights multiply each branch's output, as in scikit-learn."""
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

import mlpexport
from mlpexport.check import labels_equal
from mlpexport.cli import main


def _nul_model(label):
    X = np.random.default_rng(0).normal(size=(80, 2))
    y = np.array([label if v > 0 else "other" for v in X[:, 0]], dtype=object)
    return LogisticRegression().fit(X, y)


def test_labels_are_compared_exactly_even_with_a_trailing_nul():
    want = np.array(["a\0", "b"], dtype=object)
    equal, _ = labels_equal(np.array(["a", "b"]), want)  # what a str array makes of "a\0"
    assert equal.tolist() == [False, True]


@pytest.mark.parametrize("label", ["a\0b", "ab\0"])
def test_nul_in_a_label_is_refused_by_name_for_c_and_matlab(label, tmp_path, capsys):
    est = _nul_model(label)
    assert est.classes_[0] == label  # scikit-learn keeps it
    for target in ("c", "matlab"):
        with pytest.raises(mlpexport.errors.ExportError, match="NUL"):
            mlpexport.convert(est, tmp_path / target, to=target)
    import pickle
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(est))
    assert main(["convert", str(path), "--to", "matlab", "-o", str(tmp_path / "cli")]) == 2
    assert "NUL" in capsys.readouterr().err


def test_a_nul_inside_a_label_is_kept_by_numpy_and_onnx(tmp_path):
    est = _nul_model("a\0b")
    report = mlpexport.convert(est, tmp_path, to="numpy,onnx", name="m")
    assert report.passed, report
    assert mlpexport.check(est, against=tmp_path, name="m", to="numpy,onnx").passed


def test_a_trailing_nul_is_kept_by_onnx_and_refused_by_numpy(tmp_path):
    est = _nul_model("ab\0")
    assert mlpexport.convert(est, tmp_path, to="onnx", name="m").passed
    assert mlpexport.check(est, against=tmp_path, name="m", to="onnx").passed
    with pytest.raises(mlpexport.errors.ExportError, match="NUL"):
        mlpexport.convert(est, tmp_path / "np", to="numpy")


def _weighted(estimator, y_of):
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"a": rng.normal(3, 2, 120), "b": rng.normal(size=120),
                       "c": rng.normal(size=120), "city": rng.choice(["oslo", "rome", "lima"], 120)})
    ct = ColumnTransformer([("num", StandardScaler(), ["a"]), ("mm", MinMaxScaler(), ["b"]),
                            ("cat", OneHotEncoder(), ["city"])], remainder="passthrough",
                           transformer_weights={"num": 2.5, "cat": 0.3, "remainder": -1.7})
    return make_pipeline(ct, estimator).fit(df, y_of(df)), df


def test_transformer_weights_multiply_each_branch_as_scikit_learn(tmp_path):
    est, df = _weighted(Ridge(), lambda d: d.a + 3 * d.b - d.c + (d.city == "rome"))
    targets = ["numpy", "onnx"] + (["matlab"] if shutil.which("octave-cli") else [])
    report = mlpexport.convert(est, tmp_path, to=",".join(targets), name="m", data=df)
    assert report.passed, report
    assert {r.export for r in report.rows} == set(targets)
    want = est.predict(df)
    est[0].transformer_weights = None  # the weights are applied at transform time
    assert not np.allclose(est.predict(df), want)  # and they change the predictions


def test_transformer_weights_with_a_classifier(tmp_path):
    est, df = _weighted(LogisticRegression(), lambda d: np.where(d.a - 3 + d.c > 0, "hi", "lo"))
    assert mlpexport.convert(est, tmp_path, to="numpy,onnx", name="m", data=df).passed
