"""DataFrames as scikit-learn reads them (issue 29, item 13): pandas' nullable columns
with pd.NA where an imputer fills them, and column names of mixed types (scikit-learn's
TypeError). Compared with scikit-learn's own behaviour on the installed pandas."""
import importlib.util
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mlpexport


@pytest.fixture(scope="module")
def imputed():
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    return make_pipeline(SimpleImputer(), StandardScaler(), Ridge()).fit(df, df.a - 2 * df.b)


def _module(est, tmp_path):
    assert mlpexport.convert(est, tmp_path, to="numpy", name="m").passed
    spec = importlib.util.spec_from_file_location("m_frames", os.path.join(tmp_path, "m.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _nullable():
    return pd.DataFrame({"a": pd.array([1.5, None, -0.5, 2.0], dtype="Float64"),
                         "b": pd.array([1, 2, None, 0], dtype="Int64")})


def test_nullable_columns_with_na_predict_as_scikit_learn(imputed, tmp_path):
    mod = _module(imputed, tmp_path)
    df = _nullable()
    want = imputed.predict(df)  # scikit-learn reads pd.NA as a missing value and imputes it
    np.testing.assert_allclose(mod.predict(df), want, rtol=1e-12)
    assert mlpexport.check(imputed, data=df, to="numpy").passed


def test_mixed_type_column_names_raise_typeerror_as_scikit_learn(imputed, tmp_path):
    mod = _module(imputed, tmp_path)
    df = pd.DataFrame({"a": [1.0, 2.0], 0: [3.0, 4.0]})
    with pytest.raises(TypeError, match="Feature names are only supported") as sk:
        imputed.predict(df)
    with pytest.raises(TypeError) as ours:
        mod.predict(df)
    assert str(ours.value) == str(sk.value)
    with pytest.raises(mlpexport.DataError, match="TypeError"):
        mlpexport.check(imputed, data=df, to="numpy")
    # names that are all non-strings: scikit-learn warns and takes the columns in order
    df.columns = [0, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(mod.predict(df), imputed.predict(df), rtol=1e-12)
