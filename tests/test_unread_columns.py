"""A DataFrame column that no step reads (a ColumnTransformer's remainder="drop": the
titanic name and ticket) may hold anything, text included, as scikit-learn ignores it
(issue 29, item 8): the numpy module, the ONNX graph (such a column is no input), the
MATLAB struct and check --data take it."""
import importlib.util
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpexport
from conftest import need_octave, network


def _passengers(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"name": [f"Passenger, Mr. {i}" for i in range(n)],
                         "age": rng.normal(30, 8, n),
                         "ticket": rng.choice(["A/5 21171", "PC 17599", "113803"], n),
                         "fare": rng.exponential(20, n), "sex": rng.choice(["male", "female"], n)})


def _model(text):
    df = _passengers()
    branches = [("num", StandardScaler(), ["age", "fare"])]
    if text:
        branches.append(("cat", OneHotEncoder(handle_unknown="ignore"), ["sex"]))
    ct = ColumnTransformer(branches, remainder="drop")
    return make_pipeline(ct, LogisticRegression()).fit(df, (df.sex == "female") | (df.fare > 25)), df


def _module(est, tmp_path, to):
    report = mlpexport.convert(est, tmp_path, to=to, name="m", data=_passengers(seed=1))
    assert report.passed, report
    spec = importlib.util.spec_from_file_location("m_unread", os.path.join(tmp_path, "m.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("text", [False, True], ids=["numbers", "text"])
def test_the_unread_columns_are_found(text):
    est, _ = _model(text)
    assert network(est).unread_columns().tolist() == [True, False, True, False, not text]


@pytest.mark.parametrize("text", [False, True], ids=["numbers", "text"])
def test_numpy_module_takes_text_in_unread_columns(text, tmp_path):
    est, _ = _model(text)
    mod = _module(est, tmp_path, "numpy")
    df = _passengers(seed=2)
    np.testing.assert_array_equal(mod.predict(df), est.predict(df))
    np.testing.assert_allclose(mod.predict_proba(df), est.predict_proba(df), rtol=1e-12)
    rows = {c: df[c].tolist() for c in df.columns}
    np.testing.assert_allclose(mod.predict_proba(rows), est.predict_proba(df), rtol=1e-12)
    with pytest.raises(ValueError, match="real numbers"):  # a column a step reads takes numbers
        mod.predict(df.assign(age="old"))


@pytest.mark.parametrize("text", [False, True], ids=["numbers", "text"])
def test_check_data_takes_text_in_unread_columns(text, tmp_path):
    est, _ = _model(text)
    df = _passengers(seed=3)
    assert mlpexport.check(est, data=df, to="numpy,onnx").passed
    path = tmp_path / "passengers.csv"
    df.to_csv(path, index=False)
    assert mlpexport.check(est, data=path, to="numpy,onnx").passed


def test_onnx_graph_has_no_input_for_an_unread_column(tmp_path):
    import onnxruntime as ort
    est, _ = _model(True)
    _module(est, tmp_path, "numpy,onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["age", "fare", "sex"]
    df = _passengers(seed=4)
    feeds = {i.name: (df[[i.name]].to_numpy(dtype=object) if i.type == "tensor(string)"
                      else df[[i.name]].to_numpy(dtype=np.float64)) for i in sess.get_inputs()}
    proba = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))["probabilities"]
    np.testing.assert_allclose(proba, est.predict_proba(df), rtol=1e-9)


def test_matlab_struct_takes_text_in_unread_fields(tmp_path):
    need_octave()
    from mlpexport.emit import matlab
    est, _ = _model(True)
    _module(est, tmp_path, "numpy,matlab")
    df = _passengers(seed=5)
    got = matlab.run(str(tmp_path), "m", df.to_numpy(dtype=object))  # name, ticket: cellstr
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(got["predict_proba"], est.predict_proba(df), rtol=1e-9)
