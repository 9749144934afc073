"""None and NaN in a text column are two values to scikit-learn (issue 29, item 4): the
oracle feeds scikit-learn the caller's own object, and the exports tell None from NaN
per estimator as scikit-learn does. Every expectation is scikit-learn's own behaviour
with the installed pandas and scikit-learn."""
import importlib.util
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

import mlpexport
from conftest import network
from mlpexport.check import sklearn_outputs

WEIGHT = {"oslo": 1.0, "rome": 3.0, None: 7.0}


def _frame(missing=None, n=90, seed=0):
    """Numbers and a text column (object dtype) with `missing` (None or NaN) as holes."""
    rng = np.random.default_rng(seed)
    city = rng.choice(["oslo", "rome", "gap"], n).astype(object)
    city[city == "gap"] = missing
    return pd.DataFrame({"x": rng.normal(size=n), "city": pd.Series(city, dtype=object)})


def _y(df):
    return 2 * df["x"] + [WEIGHT.get(c if isinstance(c, str) else None) for c in df["city"]]


def _fit(encoder, missing=None):
    df = _frame(missing)
    ct = ColumnTransformer([("n", StandardScaler(), ["x"]), ("c", encoder, ["city"])])
    return make_pipeline(ct, Ridge()).fit(df, _y(df))


def _module(est, tmp_path, to="numpy,onnx"):
    report = mlpexport.convert(est, tmp_path, to=to, name="m")
    assert report.passed, report
    spec = importlib.util.spec_from_file_location("m_missing", os.path.join(tmp_path, "m.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows(value):
    return pd.DataFrame({"x": [0.5, -1.0, 2.0], "city": pd.Series(["oslo", value, "rome"], dtype=object)})


def _sklearn(est, df):
    """scikit-learn's predict on df, or the ValueError it raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return est.predict(df)
    except ValueError as exc:
        return exc


def _same_as_sklearn(est, mod, df):
    want = _sklearn(est, df)
    if isinstance(want, ValueError):
        with pytest.raises(ValueError):
            mod.predict(df)
        return "raises"
    np.testing.assert_allclose(mod.predict(df), want, rtol=1e-12)
    return "predicts"


def test_the_oracle_feeds_scikit_learn_none_unchanged():
    est = _fit(OneHotEncoder(handle_unknown="ignore"))
    net = network(est)
    df = _rows(None)
    got = sklearn_outputs(est, df.to_numpy(dtype=object), net)["predict"]
    np.testing.assert_array_equal(got, est.predict(df))  # None is its own category, not NaN


def test_check_with_a_dataframe_holding_none_compares_what_scikit_learn_predicts(tmp_path):
    est = _fit(OneHotEncoder(handle_unknown="ignore"))
    mod = _module(est, tmp_path)
    df = pd.concat([_frame(None, seed=5), _rows(np.nan)], ignore_index=True)
    assert mlpexport.check(est, data=df, to="numpy").passed
    np.testing.assert_allclose(mod.predict(df), est.predict(df), rtol=1e-12)


@pytest.mark.parametrize("missing", [None, np.nan], ids=["fit-None", "fit-NaN"])
@pytest.mark.parametrize("handle", ["error", "ignore"])
def test_onehot_tells_none_from_nan_as_scikit_learn(tmp_path, missing, handle):
    est = _fit(OneHotEncoder(handle_unknown=handle), missing)
    mod = _module(est, tmp_path)
    seen = {v: _same_as_sklearn(est, mod, _rows(v)) for v in (None, np.nan)}
    # the fitted kind is a category; the other is unknown: an error or a row of zeros
    assert seen[missing] == "predicts"
    assert seen[np.nan if missing is None else None] == ("raises" if handle == "error" else "predicts")
    assert mlpexport.check(est, data=_rows(missing), to="numpy,onnx").passed


@pytest.mark.parametrize("missing", [None, np.nan], ids=["fit-None", "fit-NaN"])
def test_ordinal_codes_none_as_a_category_and_nan_as_encoded_missing_value(tmp_path, missing):
    est = _fit(OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                              encoded_missing_value=-2), missing)
    mod = _module(est, tmp_path)
    for v in (None, np.nan):
        assert _same_as_sklearn(est, mod, _rows(v)) == "predicts"
    assert mlpexport.check(est, data=_rows(missing), to="numpy,onnx").passed


def test_plain_ordinal_encoder_with_none_predicts_as_scikit_learn(tmp_path):
    est = _fit(OrdinalEncoder(), None)  # None is category 2, not encoded_missing_value (NaN)
    mod = _module(est, tmp_path)
    assert _same_as_sklearn(est, mod, _rows(None)) == "predicts"
    assert _same_as_sklearn(est, mod, _rows(np.nan)) == "raises"


def test_imputer_with_missing_values_none(tmp_path):
    imputer = SimpleImputer(missing_values=None, strategy="most_frequent")
    est = _fit(make_pipeline(imputer, OneHotEncoder(handle_unknown="ignore")), None)
    mod = _module(est, tmp_path)
    assert _same_as_sklearn(est, mod, _rows(None)) == "predicts"
    assert _same_as_sklearn(est, mod, _rows(np.nan)) == "raises"  # "Input contains NaN"
    assert mlpexport.check(est, data=_rows(None), to="numpy,onnx").passed
    with pytest.raises(mlpexport.DataError):
        mlpexport.check(est, data=_rows(np.nan), to="numpy")
