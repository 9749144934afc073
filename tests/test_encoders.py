"""Category encoders and text columns (issue 14): what each export takes and refuses.
Parity of the zoo's encoder models in every target runs through conftest.ALL; here are
the inputs: DataFrames, dicts and object arrays in numpy, one input per feature in ONNX,
structs of cellstr in Octave, CSV files with text and empty cells in check, and the
errors scikit-learn raises for an unseen category."""
import os
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from conftest import assert_matches, case, need_octave, network, reference
from mlpexport import emit
from mlpexport.emit import c as c_target
from mlpexport.emit import matlab
from mlpexport.emit import numpy as npx
from mlpexport.emit import onnx as onnx_target
from mlpexport.errors import ExportError, UnsupportedModelError

NAMES = ["age", "fare", "embarked", "sex", "pclass"]


def mixed():
    est, net, X = case("mixed_types")
    return est, net, X


def strict_model():
    """Text categories with handle_unknown='error' (scikit-learn raises for an unseen one)."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"color": rng.choice(["red", "green", "blue"], 60), "x": rng.normal(size=60)})
    y = (df.color == "red").astype(int)
    ct = ColumnTransformer([("c", OneHotEncoder(), ["color"])], remainder=StandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make_pipeline(ct, LogisticRegression()).fit(df, y)
    return est, network(est), df


def test_text_columns_are_found_with_their_known_strings():
    _, net, _ = mixed()
    words = {c.column: c.words for c in net.vocab}
    assert set(words) == {2, 3}  # embarked, sex; pclass is numeric categories
    assert set(words[2]) == {"C", "Q", "S", "missing"} and set(words[3]) == {"female", "male", "missing"}
    assert dict(net.categories)[4] == (1.0, 2.0, 3.0)
    assert list(np.flatnonzero(net.nan_columns())) == [0, 1, 2, 3, 4]  # every one is imputed


def test_numpy_module_takes_a_dataframe_a_dict_and_an_object_array(tmp_path):
    est, net, X = mixed()
    emit.write_all(npx.render(net, "m"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    want = reference(est, net, X)
    df = pd.DataFrame(X, columns=NAMES).astype({"age": float, "fare": float, "pclass": float})
    for given in (X, df, {n: df[n].tolist() for n in reversed(NAMES)}):
        got = {"predict": mod.predict(given), "predict_proba": mod.predict_proba(given)}
        assert_matches(got, {k: want[k] for k in got}, 1e-12)
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        mod.predict(df[list(reversed(NAMES))])


def test_unseen_category_where_sklearn_raises_is_the_same_error(tmp_path):
    est, net, df = strict_model()
    emit.write_all(npx.render(net, "m"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    bad = df.head(3).copy()
    bad.loc[1, "color"] = "purple"
    with pytest.raises(ValueError, match="unknown categor"):
        est.predict(bad)
    with pytest.raises(ValueError, match=r"Found unknown categories \['purple'\] in column 'color'"):
        mod.predict(bad)
    assert_matches({"predict_proba": mod.predict_proba(df)}, {"predict_proba": est.predict_proba(df)}, 1e-12)


def test_model_codes_every_row_of_a_text_model_as_predict_does(tmp_path):
    """Model of a model with text columns: every row is coded by _validate, as in predict.
    A row of floats is never read as codes (a number in a text column is an unseen
    category, or scikit-learn's error where it raises one), and a missing number beside a
    known string in a strict text column is taken (it was refused: the coded row was
    checked again as if its codes were text)."""
    est, net, X = case("text_array_no_names")  # text column 0 strict, column 2 imputed
    assert [c.column for c in net.vocab if c.error] == [0] and net.nan_columns()[2]
    emit.write_all(npx.render(net, "m"), str(tmp_path / "strict"), force=True)
    mod = npx.load_module(str(tmp_path / "strict"), "m")
    m = mod.Model()
    rows = np.asarray(X[:6], dtype=object).copy()
    rows[:, 2] = np.nan
    got = np.vstack([m.predict_proba(r).copy() for r in rows])
    one = np.vstack([reference(est, net, r[None, :])["predict_proba"] for r in rows])
    assert_matches({"predict_proba": got}, {"predict_proba": one}, 1e-12)
    numbers = np.array([0.0, 0.5, 0.5])  # 0.0 is no category of text column 0: an error there
    for call in (lambda: m.predict(numbers), lambda: mod.predict(numbers[None, :])):
        with pytest.raises(ValueError, match=r"Found unknown categories \[0\.0\] in column 0"):
            call()

    est, net, X = case("onehot_strings_unknown")  # text column 1, unseen categories ignored
    emit.write_all(npx.render(net, "m"), str(tmp_path / "ignore"), force=True)
    mod = npx.load_module(str(tmp_path / "ignore"), "m")
    m = mod.Model()
    unseen = np.asarray(X[:1], dtype=object).copy()
    unseen[0, 1] = "atlantis"
    want = reference(est, net, unseen)["predict_proba"]
    for code in (0.0, 1.0, 2.0):  # positions of known strings: still no string, so unseen
        row = np.array([unseen[0, 0], code, unseen[0, 2]], dtype=float)
        assert_matches({"predict_proba": m.predict_proba(row)[None, :]}, {"predict_proba": want}, 1e-12)
        assert_matches({"predict_proba": mod.predict_proba(row[None, :])}, {"predict_proba": want}, 1e-12)


def test_data_for_a_text_model_is_checked_as_numbers_categories_and_rows(tmp_path):
    """check/convert/inspect --data and the API on a model with text columns: a Parquet
    file's numbers are checked as a CSV's, an unseen category where the encoder refuses it
    is a DataError (scikit-learn raises for that row), and no rows is no rows."""
    import mlpexport
    from mlpexport.errors import DataError
    est, _, df = strict_model()
    bad = df.head(4).copy()
    bad.loc[2, "color"] = "purple"
    with pytest.raises(DataError, match=r"unknown categories \['purple'\].*refuses categories"):
        mlpexport.check(est, data=bad, to="numpy")
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"bad.csv: Found unknown categories \['purple'\]"):
        mlpexport.check(est, data=str(tmp_path / "bad.csv"), to="numpy")
    with pytest.raises(DataError, match="no rows"):
        mlpexport.convert(est, tmp_path / "out", to="numpy", data=df.iloc[:0])
    assert not (tmp_path / "out").exists()
    pytest.importorskip("pyarrow")
    inf = df.head(4).copy()
    inf.loc[1, "x"] = np.inf
    inf.to_parquet(tmp_path / "inf.parquet")
    for call in (mlpexport.check, mlpexport.inspect):
        with pytest.raises(DataError, match="inf.parquet: column 'x' contains NaN or infinite"):
            call(est, data=str(tmp_path / "inf.parquet"))
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"color": ["red", "blue"], "x": ["1.5", "old"]}), tmp_path / "word.parquet")
    with pytest.raises(DataError, match="could not convert string to float: 'old'"):
        mlpexport.check(est, data=str(tmp_path / "word.parquet"), to="numpy")


def test_a_csv_of_text_columns_only_is_read(tmp_path):
    """Every feature text: no number cells to parse (it was an internal StopIteration)."""
    import mlpexport
    X = pd.DataFrame({"color": ["red", "green", "blue", "red"] * 10, "size": ["S", "M", "L", "M"] * 10})
    est = make_pipeline(OneHotEncoder(handle_unknown="ignore"), LogisticRegression()).fit(X, X.color == "red")
    X.to_csv(tmp_path / "rows.csv", index=False)
    report = mlpexport.check(est, data=str(tmp_path / "rows.csv"), to="numpy")
    assert report.passed and report.source == "40 rows from rows.csv"


def test_onnx_has_one_input_per_feature_in_the_default_domain(tmp_path):
    import onnx
    est, net, X = mixed()
    model = onnx_target.build(net, "m")
    assert [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input] == [
        ("age", onnx.TensorProto.DOUBLE), ("fare", onnx.TensorProto.DOUBLE),
        ("embarked", onnx.TensorProto.STRING), ("sex", onnx.TensorProto.STRING),
        ("pclass", onnx.TensorProto.DOUBLE)]
    assert {o.domain for o in model.opset_import} == {""}
    assert {n.domain for n in model.graph.node} == {""}
    emit.write_all({"m.onnx": model.SerializeToString()}, str(tmp_path), force=True)
    for runtime in ("onnxruntime", "reference"):
        got = onnx_target.runner(str(tmp_path), "m", runtime)(X)
        assert_matches(got, reference(est, net, X), 1e-9, runtime)


def test_onnx_cannot_raise_so_an_unseen_category_gives_nan(tmp_path):
    est, net, df = strict_model()
    emit.write_all(onnx_target.render(net, "m"), str(tmp_path), force=True)
    rows = df.head(3).to_numpy(dtype=object)
    rows[1, 0] = "purple"
    proba = onnx_target.runner(str(tmp_path), "m")(rows)["predict_proba"]
    assert np.isnan(proba[1]).all() and np.isfinite(proba[[0, 2]]).all()


@pytest.mark.parametrize("branch", ["imputer", "nan_category"])
def test_onnx_refused_category_stays_nan_through_an_imputer_or_a_nan_category(branch, tmp_path):
    """An unseen string where the encoder raises is coded NaN in ONNX; an imputer after it,
    or NaN among the encoder's categories, took that NaN for a missing value and gave a
    finite, wrong row. The row now enters the first layer as NaN: its outputs are NaN."""
    from sklearn.impute import SimpleImputer
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"city": rng.choice(["a", "b", "c"], 120).astype(object), "x": rng.normal(size=120)})
    df.loc[::5, "city"] = np.nan
    y = (df.x + (df.city == "a") > 0.5).astype(int)
    encode = (make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder())
              if branch == "imputer" else OneHotEncoder())
    est = make_pipeline(ColumnTransformer([("c", encode, ["city"])], remainder="passthrough"),
                        LogisticRegression()).fit(df, y)
    net = network(est)
    emit.write_all(onnx_target.render(net, "m"), str(tmp_path), force=True)
    rows = np.array([["zz", 0.1], [np.nan, 0.1], ["b", -0.3]], dtype=object)
    with pytest.raises(ValueError, match="unknown categor"):
        est.predict_proba(pd.DataFrame(rows[:1], columns=["city", "x"]))
    for runtime in ("onnxruntime", "reference"):
        proba = onnx_target.runner(str(tmp_path), "m", runtime)(rows)["predict_proba"]
        assert np.isnan(proba[0]).all(), runtime
        want = est.predict_proba(pd.DataFrame(rows[1:], columns=["city", "x"]))
        assert_matches({"predict_proba": proba[1:]}, {"predict_proba": want}, 1e-9, runtime)


def test_ordinal_infrequent_code_counts_the_categories_that_are_not_missing(tmp_path):
    """OrdinalEncoder with infrequent categories and NaN among its categories: scikit-learn
    codes the infrequent group as the number of frequent categories that are not missing
    (the export counted NaN too: one more)."""
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import OrdinalEncoder
    s = np.array(["a"] * 40 + ["b"] * 30 + ["c"] * 3 + [np.nan] * 20, dtype=object)
    est = make_pipeline(OrdinalEncoder(min_frequency=10, encoded_missing_value=-1), LinearRegression())
    est.fit(pd.DataFrame({"s": s}), np.arange(len(s), dtype=float))
    rows = pd.DataFrame({"s": ["a", "b", "c", np.nan]})
    assert est[0].transform(rows).ravel().tolist()[:3] == [0, 1, 2]  # c: the infrequent group
    net = network(est)
    emit.write_all({**npx.render(net, "m"), **onnx_target.render(net, "m")}, str(tmp_path), force=True)
    want = {"predict": est.predict(rows)}
    assert_matches({"predict": npx.load_module(str(tmp_path), "m").predict(rows)}, want, 1e-12)
    got = onnx_target.runner(str(tmp_path), "m")(rows.to_numpy(dtype=object))["predict"].ravel()
    assert_matches({"predict": got}, want, 1e-9)


def test_c_refuses_text_columns_naming_them():
    _, net, _ = mixed()
    with pytest.raises(ExportError, match=r"numbers only.*\(embarked, sex\)"):
        c_target.render(net, "m")


def test_octave_takes_a_struct_of_cellstr_and_names_an_unseen_category(tmp_path):
    need_octave()
    est, net, X = mixed()
    emit.write_all(matlab.render(net, "m"), str(tmp_path / "a"), force=True)
    s_est, s_net, df = strict_model()
    emit.write_all(matlab.render(s_net, "s"), str(tmp_path / "b"), force=True)
    bad = df.head(3).to_numpy(dtype=object)
    bad[2, 0] = "purple"
    got = matlab.run_many([(str(tmp_path / "a"), "m", X)])[0]
    assert_matches(got, reference(est, net, X), 1e-9)
    from mlpexport.errors import RuntimeFailed
    with pytest.raises(RuntimeFailed, match="unknown category 'purple' in color"):
        matlab.run_many([(str(tmp_path / "b"), "s", bad)])


def test_check_data_reads_text_and_empty_cells_from_a_csv(tmp_path):
    import skops.io as sio
    est, net, X = mixed()
    df = pd.DataFrame(X, columns=NAMES)
    df.insert(0, "id", range(len(df)))  # ignored, and said so
    df["survived"] = 0
    path = tmp_path / "rows.csv"
    df.sample(frac=1, axis=1, random_state=0).to_csv(path, index=False)  # shuffled header
    assert ",," in path.read_text()  # empty cells: missing numbers and missing text
    model = tmp_path / "m.skops"
    sio.dump(est, model)
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "mlpexport"), "check", str(model), "--data", str(path),
                           "--to", "numpy,onnx"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(X)} rows from rows.csv" in proc.stdout and "'id'" in proc.stderr


def test_refused_what_every_export_cannot_say():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"c": rng.choice(["", "a"], 30)})
    est = make_pipeline(OneHotEncoder(), LogisticRegression()).fit(df, rng.integers(0, 2, 30))
    with pytest.raises(UnsupportedModelError, match="empty string among its categories"):
        network(est)
    df = pd.DataFrame({"c": rng.choice(["a", "b"], 30)})
    est = make_pipeline(OneHotEncoder(handle_unknown="warn"), LogisticRegression()).fit(
        df, rng.integers(0, 2, 30)) if "warn" in OneHotEncoder._parameter_constraints["handle_unknown"][0].options else None
    if est is not None:
        with pytest.raises(UnsupportedModelError, match="handle_unknown='warn'"):
            network(est)


def test_readme_mixed_types_example_runs_from_csv_to_matlab(tmp_path):
    """docs/mixed_types: fit on the CSV, convert with --data, predict a DataFrame in numpy
    and a struct in Octave (passengers_demo.m); every number is scikit-learn's."""
    import shutil
    import skops.io as sio
    src = os.path.join(os.path.dirname(__file__), "..", "docs", "mixed_types")
    for f in ("passengers.csv", "train.py", "passengers_demo.m"):
        shutil.copy(os.path.join(src, f), tmp_path / f)
    subprocess.run([sys.executable, "train.py"], cwd=tmp_path, check=True, capture_output=True)
    exe = os.path.join(os.path.dirname(sys.executable), "mlpexport")
    proc = subprocess.run([exe, "convert", "passengers.skops", "-o", "out", "--data", "passengers.csv"],
                          cwd=tmp_path, capture_output=True, text=True)  # as the README runs it
    assert proc.returncode == 0, proc.stderr
    assert "300 rows from passengers.csv" in proc.stdout and "'survived'" in proc.stderr
    est = sio.load(tmp_path / "passengers.skops", trusted=sio.get_untrusted_types(
        file=str(tmp_path / "passengers.skops")))
    two = pd.DataFrame({"age": [22, np.nan], "fare": [7.25, 71.28], "embarked": ["S", np.nan],
                        "sex": ["male", "female"], "pclass": [3, 1]})  # the rows of the demo
    mod = npx.load_module(str(tmp_path / "out"), "passengers")
    np.testing.assert_array_equal(mod.predict(two), est.predict(two))
    np.testing.assert_allclose(mod.predict_proba(two), est.predict_proba(two), rtol=1e-12)
    need_octave()
    shutil.copy(tmp_path / "passengers_demo.m", tmp_path / "out")
    out = subprocess.run([matlab.octave(), *matlab.OCTAVE_FLAGS, "passengers_demo.m"],
                         cwd=tmp_path / "out", capture_output=True, text=True).stdout.split()
    assert [int(v) for v in out[::2]] == est.predict(two).tolist()
    np.testing.assert_allclose([float(v) for v in out[1::2]], est.predict_proba(two)[:, 1], atol=1e-6)


def _text_model(column):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import Ridge
    df = pd.DataFrame({column: ["a", "b", "a", "c", "b"], "x": [1.0, 2, 3, 4, 5]})
    est = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), [column]),
                                                (StandardScaler(), ["x"])), Ridge())
    return est.fit(df, [1.0, 2, 3, 4, 5]), df


def test_a_feature_name_of_32_to_63_characters_reaches_matlab_whole(tmp_path):
    # .mat field names stopped at 31 characters (scipy's default): an internal error; MATLAB
    # names go to 63 (namelengthmax), and a 64th character is a clear refusal
    import mlpexport
    from scipy.io import loadmat
    name = "customer_segment_name_of_the_account_holder_" + "x" * 19  # 63 characters
    est, df = _text_model(name)
    net = network(est)
    files = matlab.render(net, "m", golden=(df.to_numpy(dtype=object), {"predict": est.predict(df)}))
    (tmp_path / "m.mat").write_bytes(files["m.mat"])
    stored = loadmat(tmp_path / "m.mat")
    assert name in stored["test_X"].dtype.names  # the real name, not cut at 31
    assert [str(n[0]) for n in stored["feature_names"].ravel()] == [name, "x"]
    need_octave()
    report = mlpexport.convert(est, str(tmp_path / "o"), to="numpy,onnx,matlab", data=df)
    assert report.passed
    with pytest.raises(ExportError, match="MATLAB identifiers"):
        matlab.render(network(_text_model(name + "y")[0]), "m")


def test_a_feature_named_empty_is_refused_by_onnx_and_exported_by_numpy(tmp_path):
    # an empty ONNX input name was an internal ValidationError
    import mlpexport
    est, df = _text_model("")
    with pytest.raises(ExportError, match="cannot name an ONNX input"):
        onnx_target.render(network(est), "m")
    with pytest.raises(ExportError, match="cannot name an ONNX input"):
        mlpexport.convert(est, str(tmp_path), to="onnx")
    assert mlpexport.convert(est, str(tmp_path), to="numpy", data=df).passed


def test_a_model_file_name_that_is_not_utf8_is_stored_as_escapes(tmp_path):
    # os.fsdecode gives surrogates for such bytes: ONNX metadata and MATLAB text raised
    # UnicodeEncodeError (an internal error)
    import pickle

    import onnx

    import mlpexport
    est, df = _text_model("who")
    path = os.path.join(os.fsencode(tmp_path), b"caf\xe9.pkl")
    with open(path, "wb") as f:
        pickle.dump(est, f)
    import shutil
    targets = "numpy,onnx" + (",matlab" if shutil.which("octave-cli") else "")
    report = mlpexport.convert(path, str(tmp_path / "o"), to=targets, trust_pickle=True, data=df)
    assert report.passed and report.name == "caf_"
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "o" / "caf_.onnx")).metadata_props}
    assert "caf\\xe9.pkl" in meta.values() or any("caf\\\\xe9.pkl" in v for v in meta.values())
    assert mlpexport.check(path, against=str(tmp_path / "o"), to=targets, trust_pickle=True).passed
