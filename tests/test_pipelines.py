"""Real pipelines (issue 14): NaN accepted exactly where an imputer fills it, refused
elsewhere naming the column; refusals of what the lowering does not cover. Parity of the
zoo's pipelines in every target runs through conftest.ALL."""
import pickle

import numpy as np
import pytest

from conftest import case, get, network, reference, assert_matches
from mlpexport import emit
from mlpexport.emit import matlab
from mlpexport.emit import numpy as npx
from mlpexport.errors import UnsafeModelError, UnsupportedModelError


def test_nan_columns_are_the_imputed_and_unread_ones():
    _, net, _ = case("ct_dataframe")  # a, b, e imputed; c, d poly, f passthrough; g dropped
    assert list(np.flatnonzero(net.nan_columns())) == [0, 1, 4, 6]
    _, plain, _ = case("reg_classic")
    assert not plain.nan_columns().any()
    assert "NaN is accepted in input columns 0, 1, 4, 6" in " ".join(emit.header(net, "m", "float64"))


def test_numpy_module_takes_nan_where_imputed_and_names_other_columns(tmp_path):
    est, net, X = case("ct_dataframe")
    emit.write_all(npx.render(net, "m"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    rows = np.ones((3, 7))
    rows[0, [0, 1, 4, 6]] = np.nan
    assert_matches({"predict": mod.predict(rows)}, reference(est, net, rows), 1e-12)
    rows[1, 5] = np.nan  # f is passed through to the network
    with pytest.raises(ValueError, match="NaN in column 'f'"):
        mod.predict(rows)
    with pytest.raises(ValueError, match="NaN in column 'f'"):
        mod.Model().predict(rows[1])
    rows[1, 5] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        mod.predict(rows)


def test_model_takes_a_row_with_nan_where_imputed_as_it_is_and_refuses_the_rest(tmp_path):
    """Model's one-row path: NaN only where an imputer fills it is taken without _validate
    (the row itself, unchanged); NaN elsewhere, or infinity even in an imputed column, is
    refused as predict refuses it."""
    est, net, _ = case("ct_dataframe")  # NaN accepted in columns 0, 1, 4, 6
    emit.write_all(npx.render(net, "m"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    m = mod.Model()
    rows = np.random.default_rng(3).normal(size=(6, 7))
    rows[0, [0, 1, 4, 6]] = np.nan
    rows[1, 4] = np.nan
    rows[2, 6] = np.nan
    given = rows.copy()
    got = np.array([np.array(m.predict(r), copy=True) for r in rows])
    np.testing.assert_array_equal(rows, given)  # the caller's rows are only read
    one = np.array([reference(est, net, r[None, :])["predict"][0] for r in rows])
    assert_matches({"predict": got.reshape(one.shape)}, {"predict": one}, 1e-12)
    for j, bad, message in [(5, np.nan, "NaN in column 'f'"), (2, np.nan, "NaN in column 'c'"),
                            (0, np.inf, "infinity"), (5, -np.inf, "infinity")]:
        row = rows[0].copy()  # NaN in every imputed column, and one value it cannot take
        row[j] = bad
        with pytest.raises(ValueError, match=message):
            m.predict(row)
        with pytest.raises(ValueError, match=message):
            mod.predict(row[None, :])
    assert np.isfinite(m.predict(np.ones(7))).all()  # a refused row leaves the Model working


def test_octave_refuses_nan_in_a_column_no_imputer_fills(tmp_path):
    from test_emit_matlab import octave_eval
    est, net, _ = case("ct_dataframe")
    emit.write_all(matlab.render(net, "m"), str(tmp_path), force=True)
    code = ("addpath(args{1});\nX = ones(2, 7); X(1, [1 2 5 7]) = NaN;\ny = m(X);\n"
            "printf('%.17g\\n', y);\nX(2, 6) = NaN;\n"
            "try\n  m(X);\n  disp('NO ERROR');\ncatch err\n  disp(err.identifier);\n"
            "  disp(err.message);\nend\n")
    out = octave_eval(code, tmp_path, tmp_path).stdout.strip().splitlines()
    rows = np.ones((2, 7))
    rows[0, [0, 1, 4, 6]] = np.nan
    got = np.array([float(v) for v in out[:2]])
    assert_matches({"predict": got}, reference(est, net, rows), 1e-12)
    assert out[2] == "mlpexport:nanColumn"
    assert "column 6" in out[3]


def test_api_check_accepts_nan_in_imputed_columns_only(tmp_path):
    from mlpexport import api
    from mlpexport.errors import DataError
    est, net, X = case("ct_dataframe")
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(est))
    rows = X[:20].copy()
    assert np.isnan(rows[:, 0]).any()
    report = api.check(str(path), data=rows, to="numpy")
    assert report.passed
    rows[3, 5] = np.nan  # f is passed through to the network
    with pytest.raises(DataError, match="'f'"):
        api.check(str(path), data=rows, to="numpy")


def _refused(est, X, y, match):
    est.fit(X, y)
    with pytest.raises(UnsupportedModelError, match=match):
        network(est)


def test_refusals_name_what_is_not_supported():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X[:, 0] > 0
    _refused(make_pipeline(SimpleImputer(missing_values=-1.0), LogisticRegression()), X, y,
             "missing_values=-1.0")
    ct = ColumnTransformer([("s", MinMaxScaler(clip=True), [0])], remainder="passthrough")
    _refused(make_pipeline(ct, LogisticRegression()), X, y, "clipping scaler")
    ct = ColumnTransformer([("s", MinMaxScaler(), ["a"])])
    est = make_pipeline(ct, LogisticRegression()).fit(__import__("pandas").DataFrame(X, columns=list("abc")), y)
    est[0].transformers_[0] = ("s", est[0].transformers_[0][1], ["zz"])  # an edited file
    with pytest.raises(UnsupportedModelError, match="'zz' is not among"):
        network(est)


def test_scoring_functions_load_but_other_functions_do_not(tmp_path):
    from mlpexport.load import allowed_global
    assert allowed_global("sklearn.feature_selection._univariate_selection", "f_classif")
    for module, name in [("os", "system"), ("builtins", "eval"), ("numpy", "load")]:
        with pytest.raises(UnsafeModelError):
            allowed_global(module, name)


@pytest.mark.parametrize("func", ["system", "eval"])
@pytest.mark.parametrize("suffix", [".pkl", ".skops"])
def test_a_function_transformer_holding_another_function_is_refused(func, suffix, tmp_path):
    """Only numpy's six ufuncs are trusted: os.system or eval as func never load."""
    import builtins
    import os
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.preprocessing import FunctionTransformer
    from mlpexport.load import load
    fn = os.system if func == "system" else builtins.eval
    X = np.ones((4, 2))
    est = TransformedTargetRegressor(MLPRegressor(max_iter=5), func=np.log1p, inverse_func=np.expm1)
    est.fit(X, np.arange(4.0))
    est.transformer_ = FunctionTransformer(func=fn, inverse_func=np.expm1)  # an edited file
    path = tmp_path / f"m{suffix}"
    if suffix == ".pkl":
        path.write_bytes(pickle.dumps(est))
    else:
        import skops.io as sio
        sio.dump(est, str(path))
    with pytest.raises(UnsafeModelError, match=func):
        load(str(path))


def test_other_ufuncs_are_refused_at_extraction():
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer
    X = np.abs(np.random.default_rng(0).normal(size=(30, 2)))
    est = make_pipeline(FunctionTransformer(np.sin), MLPRegressor(max_iter=5)).fit(X, X[:, 0])
    with pytest.raises(UnsupportedModelError, match="'sin' is not supported"):
        network(est)


def _fitted_func_pipeline(steps, positive=True):
    import warnings

    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 5, (120, 3)) if positive else rng.standard_normal((120, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(*steps, Ridge()).fit(X, X.sum(axis=1)), X


def _func_steps():
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    F = FunctionTransformer
    return {
        "log first": [F(np.log), StandardScaler()],
        "sqrt first": [F(np.sqrt), StandardScaler()],
        "log1p first": [F(np.log1p), StandardScaler()],
        "log1p then log": [F(np.log1p), F(np.log)],
        "exp after a scaler": [StandardScaler(), F(np.exp)],
        "branches": [make_column_transformer((F(np.log), [0]), (F(np.sqrt), [1]),
                                             remainder="passthrough")],
    }


@pytest.mark.parametrize("what", list(_func_steps()))
def test_drawn_rows_respect_each_function_transformers_domain(what, tmp_path):
    # drawn N(0, 1) rows gave np.log negatives and the extreme rows overflowed np.exp:
    # scikit-learn's predict raised and convert ended in an internal error
    import mlpexport
    from mlpexport.data import draw_rows
    est, X = _fitted_func_pipeline(_func_steps()[what])
    net = network(est)
    rows = draw_rows(net)
    assert len(rows) >= 250  # reflected into the domain, not thrown away
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        want = est.predict(rows)  # scikit-learn takes every drawn row
    assert np.isfinite(want).all()
    report = mlpexport.convert(est, str(tmp_path), to="numpy,onnx", name="m")
    assert report.passed and report.files
    report = mlpexport.convert(est, str(tmp_path / "d"), to="numpy", name="m", data=X)
    assert report.passed


def test_rows_outside_a_function_transformers_domain_are_a_data_error(tmp_path, capsys):
    import mlpexport
    from mlpexport.cli import main
    from mlpexport.errors import DataError
    est, X = _fitted_func_pipeline(_func_steps()["log first"])
    bad = X.copy()
    bad[7, 1] = -2.0
    with pytest.raises(ValueError):
        est.predict(bad)  # scikit-learn refuses the row (log of -2 is NaN)
    for call in (lambda: mlpexport.check(est, data=bad, to="numpy"),
                 lambda: mlpexport.convert(est, str(tmp_path), to="numpy", data=bad)):
        with pytest.raises(DataError, match=r"row 7 .*domain.*np\.log"):
            call()
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "bad.npy", bad)
    np.save(tmp_path / "good.npy", X)
    model = str(tmp_path / "m.pkl")
    assert main(["check", model, "--trust-pickle", "--to", "numpy", "--data", str(tmp_path / "bad.npy")]) == 2
    assert "row 7 (0-based) is outside the domain" in capsys.readouterr().err
    assert main(["convert", model, "--trust-pickle", "--to", "numpy,onnx", "-o", str(tmp_path / "o"),
                 "--data", str(tmp_path / "good.npy")]) == 0, capsys.readouterr().err


def test_a_non_finite_prediction_of_scikit_learn_itself_is_compared():
    # TransformedTargetRegressor(inverse_func=np.exp) overflows to inf on a far row:
    # scikit-learn predicts inf, and an export that gives inf there agrees
    import mlpexport
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.linear_model import Ridge
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 5, (100, 3))
    est = TransformedTargetRegressor(Ridge(), func=np.log, inverse_func=np.exp).fit(X, 10 * X.sum(axis=1))
    rows = np.array([[1e5, 1e5, 1e5], [1.0, 2.0, 3.0]])
    with np.errstate(over="ignore"):
        assert np.isinf(est.predict(rows)[0])
    report = mlpexport.check(est, data=rows, to="numpy,onnx")
    assert report.passed and {r.status for r in report.rows} == {"PASS"}


def test_a_scaler_in_front_of_width_changing_steps_says_where_the_inputs_live():
    # the drawn-rows note said "no scaler" for Pipeline(StandardScaler, PolynomialFeatures, ...)
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    from mlpexport.api import drawn_source
    from mlpexport.data import draw_rows
    rng = np.random.default_rng(0)
    X = 100 + 10 * rng.standard_normal((200, 2))
    est = make_pipeline(StandardScaler(), PolynomialFeatures(2), Ridge()).fit(X, X[:, 0])
    net = network(est)
    assert "no scaler" not in drawn_source(net, 5)
    typical = draw_rows(net)[:256]
    assert np.allclose(typical.mean(axis=0), est[0].mean_, rtol=0.05)


@pytest.mark.parametrize("kw", [dict(degree=3), dict(degree=2, interaction_only=True),
                                dict(degree=(2, 4), include_bias=False), dict(degree=(3, 3)),
                                dict(degree=1)])
def test_polynomial_terms_are_scikit_learns_products_bit_for_bit(kw):
    # products of columns in scikit-learn's order of multiplication (a lower term times
    # its lowest column), so the reference gives the very bits of PolynomialFeatures
    from sklearn.preprocessing import PolynomialFeatures

    from mlpexport.network import FORWARD, Poly
    rng = np.random.default_rng(1)
    X = 3 * rng.standard_normal((200, 6))
    pf = PolynomialFeatures(**kw).fit(X)
    step = Poly("p", pf.powers_)
    (op,) = step.ops()
    got = FORWARD[type(op)](op, step.named(), X)
    np.testing.assert_array_equal(got, pf.transform(X))
    X[0, 2] = np.nan  # a NaN reaches only the terms that read its column (x ** 0 is 1)
    got = FORWARD[type(op)](op, step.named(), X)
    reads = pf.powers_[:, 2] > 0
    assert np.isnan(got[0, reads]).all() and np.isfinite(got[0, ~reads]).all()


def test_polynomial_terms_take_memory_in_the_terms_not_terms_times_inputs(tmp_path):
    # PolynomialFeatures(3) on 20 inputs: 1,771 terms. The (rows, terms, inputs) power
    # tensor took 256 x 1771 x 20 x 8 = 73 MB per block of the numpy module (2.4 GB at 50
    # inputs) and as much in ONNX; products of columns need the terms' width only
    import tracemalloc

    import onnx
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    from mlpexport.emit import onnx as ox
    from mlpexport.network import evaluate
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 20))
    est = make_pipeline(StandardScaler(), PolynomialFeatures(3), Ridge()).fit(X, X[:, 0] * X[:, 1] * X[:, 2])
    net = network(est)
    emit.write_all(npx.render(net, "p3"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "p3")
    rows = rng.standard_normal((2000, 20))
    tracemalloc.start()
    got = mod.predict(rows)
    module_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    ref = evaluate(net, rows[:256])["predict"]
    reference_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    want = est.predict(rows)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(ref, want[:256], rtol=1e-12)
    assert module_peak < 20e6 and reference_peak < 20e6, (module_peak, reference_peak)
    graph = onnx.load_from_string(ox.render(net, "p3")["p3.onnx"]).graph
    assert "Pow" not in {n.op_type for n in graph.node}
