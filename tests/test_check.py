"""check: the comparison rules, fresh exports, committed exports (--against)."""
import numpy as np
import pytest

from conftest import case
from mlpexport import emit
from mlpexport.check import check, compare, errors


def test_errors_relative_to_value_or_column_median():
    want = np.array([1000.0, 1e-9, 2000.0, 0.0])
    got = want + np.array([1e-9, 1e-9, 0.0, 0.0])
    abs_err, rel_err = errors(got, want)
    np.testing.assert_allclose(abs_err, [1e-9, 1e-9, 0, 0], rtol=1e-4)  # 1000 + 1e-9 rounds
    # the tiny value is measured against the column's typical magnitude, not itself
    assert rel_err[1] < 1e-11 and rel_err[0] == pytest.approx(1e-12, rel=1e-4)


def test_equal_infinities_and_nans_agree():
    abs_err, _ = errors(np.array([np.inf, np.nan, -np.inf]), np.array([np.inf, np.nan, -np.inf]))
    assert (abs_err == 0).all()
    abs_err, _ = errors(np.array([np.inf, 1.0]), np.array([1.0, np.nan]))
    assert np.isinf(abs_err).all()


def test_labels_must_be_identical_except_at_ties():
    proba = np.array([[0.5, 0.5], [0.1, 0.9]])
    row = compare("x", "predict", np.array(["a", "b"]), np.array(["b", "b"]), 1e-9, 0, proba)
    assert row.passed and row.ties == 1
    row = compare("x", "predict", np.array(["b", "a"]), np.array(["b", "b"]), 1e-9, 0, proba)
    assert not row.passed and row.labels_agree == 0.5


def test_numbers_beyond_tolerance_fail():
    assert not compare("x", "predict", np.array([1.0, 2.0 + 1e-6]), np.array([1.0, 2.0]), 1e-9, 0).passed
    assert compare("x", "predict", np.array([1.0, 2.0 + 1e-6]), np.array([1.0, 2.0]), 1e-9, 1e-5).passed


def test_fresh_check_of_all_targets_passes():
    est, net, X = case("clf_multi_str")
    report = check(est, net, X, ["numpy", "onnx"])
    assert report.passed and {r.target for r in report.rows} == {"numpy", "onnx"}
    assert "all exports agree" in report.table()
    assert report.to_json()["passed"] is True


@pytest.fixture
def committed(tmp_path):
    est, net, X = case("reg_classic")
    files = emit.render_all(net, "model", ["numpy", "onnx", "matlab"], "float64")
    emit.write_all(files, str(tmp_path), force=True)
    return est, net, X, tmp_path


def test_against_fresh_export_passes(committed):
    est, net, X, d = committed
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert report.passed, report.table()


def test_against_export_of_another_model_is_named_stale(committed):
    _, _, _, d = committed
    est, net, X = case("reg_multi_tanh")
    report = check(est, net, X[:, :6], ["numpy", "onnx", "matlab"], against=str(d), name="model")
    assert not report.passed
    notes = [r.note for r in report.rows]
    assert any("stale: model.py/.npz" in n for n in notes) and any("stale: model.onnx" in n for n in notes)


def test_against_edited_weights_fail(committed):
    est, net, X, d = committed
    with np.load(d / "model.npz") as w:
        arrays = dict(w)
    arrays["b2"] = arrays["b2"] + 0.25
    np.savez(d / "model.npz", **arrays)
    report = check(est, net, X, ["numpy"], against=str(d), name="model")
    assert not report.passed
    assert any("edited after export" in r.note for r in report.rows)
    assert any(r.output == "predict" and not r.passed for r in report.rows)


def test_against_edited_onnx_fails(committed):
    import onnx
    from onnx import numpy_helper
    est, net, X, d = committed
    model = onnx.load(d / "model.onnx")
    for t in model.graph.initializer:
        if t.name == "W1":
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * 1.01, "W1"))
    onnx.save(model, d / "model.onnx")
    report = check(est, net, X, ["onnx"], against=str(d), name="model")
    assert not report.passed and "edited" in report.rows[0].note


def test_chunked_check_gives_the_same_report_as_unchunked():
    est, net, X = case("clf_multi_str")
    whole = check(est, net, X, ["numpy", "onnx"])
    chunked = check(est, net, X, ["numpy", "onnx"], chunk=7)
    assert whole.to_json() == chunked.to_json()
    est, net, X = case("ttr_minmax_multi")
    assert check(est, net, X, ["numpy"]).to_json() == check(est, net, X, ["numpy"], chunk=13).to_json()


def test_check_streams_a_npy_file_row_range_by_row_range(tmp_path):
    from mlpexport.data import NpyRows, read_data
    est, net, X = case("reg_classic")
    data = np.vstack([X] * 3)
    np.save(tmp_path / "rows.npy", data)
    rows = read_data(str(tmp_path / "rows.npy"), 12, stream=True)
    assert isinstance(rows, NpyRows) and len(rows) == len(data)
    np.testing.assert_array_equal(rows[5:17], data[5:17])
    np.testing.assert_array_equal(rows[len(data) - 3:len(data) + 10], data[-3:])
    report = check(est, net, rows, ["numpy", "onnx"], chunk=100)
    assert report.passed and report.n_rows == len(data)
    assert report.to_json() == check(est, net, data, ["numpy", "onnx"]).to_json()


def test_streamed_nan_is_an_input_error(tmp_path):
    from mlpexport.data import read_data
    from mlpexport.errors import InputError
    est, net, X = case("reg_classic")
    X = X.copy()
    X[-1, 3] = np.inf
    np.save(tmp_path / "rows.npy", X)
    with pytest.raises(InputError, match="rows"):
        check(est, net, read_data(str(tmp_path / "rows.npy"), 12, stream=True), ["numpy"], chunk=50)


def test_non_finite_data_is_an_input_error(tmp_path):
    from mlpexport.errors import InputError
    est, net, X = case("reg_classic")
    X = X.copy()
    X[5, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        check(est, net, X, ["numpy"])
