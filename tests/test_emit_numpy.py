"""numpy target: parity with scikit-learn on every model of the table, standalone import,
input validation."""
import gc
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ALL, assert_matches, case, clear_rows, reference
from mlpexport import emit
from mlpexport.emit import numpy as npx


def export(net, tmp_path, name="m", dtype="float64"):
    emit.write_all(npx.render(net, name, dtype=dtype), str(tmp_path), force=True)
    return npx.load_module(str(tmp_path), name)


@pytest.mark.parametrize("name", ALL)
def test_float64_parity(name, tmp_path):
    est, net, X = case(name)
    mod = export(net, tmp_path)
    want = reference(est, net, X)
    got = {"predict": mod.predict(X)}
    if hasattr(mod, "predict_proba"):
        got["predict_proba"] = mod.predict_proba(X)
    if hasattr(mod, "decision_function"):
        got["decision_function"] = mod.decision_function(X)
    assert_matches(got, want, 1e-12, name)
    # same shape and dtype kind as predict: (n,) / (n, k), labels from classes_
    assert got["predict"].shape == want["predict"].shape
    assert got["predict"].dtype.kind == np.asarray(want["predict"]).dtype.kind
    if net.is_classifier:
        assert list(mod.classes_) == list(est.classes_)
    assert mod.n_features_in_ == est.n_features_in_


@pytest.mark.parametrize("name", ALL)
def test_float32_parity(name, tmp_path):
    est, net, X = case(name)
    mod = export(net, tmp_path, dtype="float32")
    got = {"predict": mod.predict(X)}
    if hasattr(mod, "predict_proba"):
        got["predict_proba"] = mod.predict_proba(X).astype(np.float64)
    if hasattr(mod, "decision_function"):
        got["decision_function"] = mod.decision_function(X).astype(np.float64)
    want = reference(est, net, X)
    keep = clear_rows(want, 1e-4)
    got = {k: v[keep] for k, v in got.items()}
    want = {k: v[keep] for k, v in want.items()}
    assert_matches(got, want, 1e-4, name)


def test_module_runs_without_sklearn_or_mlpexport(tmp_path):
    est, net, X = case("clf_multi_str")
    export(net, tmp_path, name="standalone")
    np.save(tmp_path / "X.npy", X)
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("sklearn", "mlpexport", "scipy", "onnx"):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
sys.path = [p for p in sys.path if "mlpexport" not in p and p not in ("", ".")]
sys.path.insert(0, {str(tmp_path)!r})
import numpy as np
import standalone
X = np.load({str(tmp_path / 'X.npy')!r})
np.save({str(tmp_path / 'proba.npy')!r}, standalone.predict_proba(X))
np.save({str(tmp_path / 'label.npy')!r}, standalone.predict(X).astype(str))
import json; print(json.dumps(sorted(m.split(".")[0] for m in sys.modules)))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd="/")
    assert proc.returncode == 0, proc.stderr
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {"sklearn", "mlpexport", "scipy"}
    want = reference(est, net, X)
    assert (np.load(tmp_path / "label.npy") == want["predict"].astype(str)).all()
    np.testing.assert_allclose(np.load(tmp_path / "proba.npy"), want["predict_proba"], rtol=1e-12)


BAD_INPUTS = [
    (np.zeros(12), "2-D"),
    (np.zeros((2, 3, 12)), "2-D"),
    (np.zeros((3, 5)), "5 features"),
    (np.zeros((0, 12)), "0 sample"),
    (np.array([[np.nan] * 12]), "NaN"),
    (np.array([[np.inf] * 12]), "infinity"),
    (np.array([["a"] * 12]), "real numbers"),
    (np.zeros((2, 12), dtype=complex), "Complex"),
]


@pytest.mark.parametrize("X,message", BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_input_raises_clear_value_error(X, message, tmp_path):
    _, net, _ = case("reg_classic")
    mod = export(net, tmp_path)
    with pytest.raises(ValueError, match=message):
        mod.predict(X)


def test_float32_export_refuses_values_that_overflow_float32(tmp_path):
    _, net, _ = case("reg_classic")
    mod = export(net, tmp_path, dtype="float32")
    with pytest.raises(ValueError, match="infinity"):
        mod.predict(np.full((1, 12), 1e300))


def test_accepts_lists_ints_and_bools_like_sklearn(tmp_path):
    est, net, _ = case("reg_classic")
    mod = export(net, tmp_path)
    rows = [[1] * 12, [0] * 12]
    np.testing.assert_array_equal(mod.predict(rows), est.predict(np.array(rows, dtype=float)))
    np.testing.assert_array_equal(mod.predict(np.ones((1, 12), bool)), est.predict(np.ones((1, 12))))


def test_does_not_modify_input(tmp_path):
    _, net, X = case("reg_minmax_clip_chain")
    mod = export(net, tmp_path)
    before = X.copy()
    mod.predict(X)
    np.testing.assert_array_equal(X, before)


def test_generated_module_reads_as_the_forward_pass(tmp_path):
    _, net, _ = case("reg_classic")
    text = npx.render(net, "m")["m.py"].decode()
    for line in ("np.subtract(X, x_center, out=Z0)", "np.divide(Z0, x_scale, out=Z0)",
                 "Z0.dot(W1, out=Z1)", "np.add(Z1, b1, out=Z1)", "np.maximum(Z1, zero1, out=Z1)",
                 "Z2.dot(W3, out=Z3)", "np.copyto(Y, Z)", "return out[:, 0]"):
        assert line in text
    assert "sklearn" not in text.replace("scikit-learn", "")
    assert net.fingerprint in text


def test_npz_holds_named_weights_and_metadata(tmp_path):
    _, net, _ = case("clf_multi_str")
    export(net, tmp_path)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as w:
        assert {"x_center", "x_scale", "W1", "b1", "W3", "b3", "classes"} <= set(w.files)
        meta = json.loads(str(w["mlpexport_meta"]))
    assert meta["fingerprint"] == net.fingerprint
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert os.path.getsize(tmp_path / "m.npz") < 20000


# ---------------------------------------------------------------- fast paths (Model, blocks)

@pytest.mark.parametrize("name", ALL)
def test_model_object_equals_sklearn_row_by_row(name, tmp_path):
    """Against scikit-learn on the same single rows (see test_properties.py)."""
    est, net, X = case(name)
    mod = export(net, tmp_path)
    rows = list(range(0, len(X), 7))
    single = [reference(est, net, X[i:i + 1]) for i in rows]
    if net.vocab:
        # scikit-learn reads a one-row column of text that holds only None as numbers, so
        # there None is an unknown category, where in any batch with text it is missing:
        # the rows' reference is scikit-learn on the whole batch.
        whole = reference(est, net, X)
        single = [{k: v[i:i + 1] for k, v in whole.items()} for i in rows]
    want = {k: np.zeros((len(X),) + np.shape(v)[1:], dtype=np.asarray(v).dtype)
            for k, v in single[0].items()}
    for i, out in zip(rows, single):
        for k, v in out.items():
            want[k][i] = v[0]
    m = mod.Model()
    if net.has_scores:  # decision_function: scikit-learn's shape, (n,) for two classes
        got = np.array([np.array(m.decision_function(X[i]), copy=True) for i in rows])
        assert_matches({"decision_function": got.reshape(want["decision_function"][rows].shape)},
                       {"decision_function": want["decision_function"][rows]}, 1e-12, name)
    if net.is_classifier and net.has_proba:
        got = np.vstack([m.predict_proba(X[i]).copy() for i in rows])
        assert_matches({"predict_proba": got}, {"predict_proba": want["predict_proba"][rows]},
                       1e-12, name)
    if net.is_classifier:
        for k, i in enumerate(rows[:20]):  # labels: exactly scikit-learn's predict on the row
            sk = np.asarray(single[k]["predict"])
            for x in (X[i], X[i:i + 1]):  # one sample as a vector and as a 1 x F matrix
                label = m.predict(x)
                assert label.shape == sk.shape, name
                assert label.dtype.kind == sk.dtype.kind, name
                assert label.tolist() == sk.tolist(), name
    else:
        got = np.array([np.array(m.predict(X[i]), copy=True) for i in rows])
        assert_matches({"predict": got.reshape(want["predict"][rows].shape)},
                       {"predict": want["predict"][rows]}, 1e-12, name)


def test_model_with_fixed_batch_and_its_errors(tmp_path):
    est, net, X = case("reg_classic")
    mod = export(net, tmp_path)
    m = mod.Model(rows=5)
    np.testing.assert_allclose(m.predict(X[:5]), est.predict(X[:5]), rtol=1e-12)
    for bad in (X[:4], X[0], X[:5, :3], np.zeros((5, 12, 1))):
        with pytest.raises(ValueError, match="row"):
            m.predict(bad)
    x = X[:5].copy()
    x[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        m.predict(x)


def test_model_makes_no_lasting_allocations_per_call(tmp_path):
    import tracemalloc
    # impute_indicator_clf's first row has a NaN its imputer fills: Model's NaN path too
    for name in ("reg_classic", "ttr_standard", "clf_multi_str", "sgd_multiclass", "impute_indicator_clf"):
        _, net, X = case(name)
        mod = export(net, tmp_path / name)
        m = mod.Model()
        call = m.predict_proba if net.is_classifier else m.predict
        x = np.ascontiguousarray(X[0])
        for _ in range(50):  # warm-up
            call(x)
        gc.collect()
        kept, transient = [], []
        tracemalloc.start()
        try:
            for _ in range(3):  # three windows: a one-off (a cache entry, a collected cycle
                call(x)         # of an earlier test) shows in one, a per-call leak in all
                before, _ = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                for _ in range(2000):
                    result = call(x)
                after, peak = tracemalloc.get_traced_memory()
                kept.append(after - before)
                transient.append(peak - before)
        finally:
            tracemalloc.stop()
        assert result is call(x)  # the Model's own buffer, every time
        # nothing survives a call (2000 calls leave < 100 bytes), and what numpy's ufunc
        # machinery allocates transiently inside a call is small and does not accumulate
        assert min(kept) < 100, (name, kept)
        assert min(transient) < 4096, (name, transient)


def test_model_takes_a_float_row_as_it_is_and_still_refuses_nan_and_inf(tmp_path):
    """One DTYPE row is read in place (no copy): it must still be checked, and left as it was."""
    est, net, X = case("reg_classic")
    mod = export(net, tmp_path)
    m = mod.Model()
    for bad, message in ((np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "infinity")):
        x = X[3].copy()
        x[5] = bad
        with pytest.raises(ValueError, match=message):
            m.predict(x)
    x = X[3].copy()
    np.testing.assert_allclose(m.predict(x), est.predict(X[3:4]), rtol=1e-12)
    np.testing.assert_array_equal(x, X[3])


@pytest.mark.parametrize("rows", [3, "BLOCK + 2"])
def test_model_of_n_rows_within_and_beyond_a_block(rows, tmp_path):
    """Model(rows=n) takes the vectors repeated on n rows when n <= BLOCK, else the vectors."""
    est, net, _ = case("clf_multi_str")
    mod = export(net, tmp_path)
    n = mod.BLOCK + 2 if rows == "BLOCK + 2" else rows
    X = np.random.default_rng(7).normal(size=(n, 6))
    np.testing.assert_allclose(mod.Model(rows=n).predict_proba(X), est.predict_proba(X), rtol=1e-12)


def test_models_in_threads_give_identical_results(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    est, net, X = case("clf_multi_str")
    mod = export(net, tmp_path)
    want = est.predict_proba(X)

    def work(offset):
        m = mod.Model()
        return [m.predict_proba(X[(i + offset) % len(X)]).copy() for i in range(3 * len(X))]

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(work, range(4)))
    for offset, rows in enumerate(results):
        for i, p in enumerate(rows):
            np.testing.assert_allclose(p, want[(i + offset) % len(X)], rtol=1e-12)


def test_predict_across_block_boundaries(tmp_path):
    est, net, _ = case("clf_multi_str")
    mod = export(net, tmp_path)
    X = np.random.default_rng(5).normal(size=(2 * mod.BLOCK + 7, 6))
    np.testing.assert_array_equal(mod.predict(X), est.predict(X))
    np.testing.assert_allclose(mod.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    est, net, _ = case("reg_multi_tanh")
    mod = export(net, tmp_path / "r")
    X = np.random.default_rng(6).normal(size=(mod.BLOCK + 1, 6))
    np.testing.assert_allclose(mod.predict(X), est.predict(X), rtol=1e-12)


def test_wide_models_take_smaller_blocks_and_cross_them_exactly(tmp_path):
    """A block's widest buffer stays within BLOCK_BYTES (a core's L2 cache): 4,096 rows of
    6 inputs, 256 rows of 600; float32 rows are half the bytes, so twice the rows."""
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from mlpexport.extract import extract
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 600))
    est = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(40,), max_iter=5, random_state=0))
    with pytest.warns(Warning):
        est.fit(X, X[:, 0] - X[:, 1])
    net = extract(est)
    wide = export(net, tmp_path / "wide")
    assert wide.BLOCK == 256 and 256 * 600 * 8 <= npx.BLOCK_BYTES < 512 * 600 * 8
    assert export(net, tmp_path / "wide32", dtype="float32").BLOCK == 512
    assert export(case("clf_multi_str")[1], tmp_path / "narrow").BLOCK == 4096
    X = rng.normal(size=(2 * wide.BLOCK + 7, 600))
    np.testing.assert_allclose(wide.predict(X), est.predict(X), rtol=1e-12)


# ---------------------------------------------------------------- export id and stamp

def test_every_file_of_an_export_carries_one_export_id(tmp_path):
    _, net, _ = case("clf_multi_str")
    mod = export(net, tmp_path)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as w:
        meta = json.loads(str(w["mlpexport_meta"]))
    assert mod.EXPORT_ID == meta["export_id"] and mod.FINGERPRINT == net.fingerprint
    st = npx.stamp(str(tmp_path), "m")
    assert (st.fingerprint, st.intact, st.dtype, st.same_export) == (net.fingerprint, True, "float64", True)


def test_stamp_tells_a_py_and_npz_of_two_exports_apart(tmp_path):
    """Same model, float64 .py with a float32 .npz (as a kill between renames or a hand
    copy leaves them): the fingerprints agree, the export ids do not."""
    _, net, _ = case("reg_classic")
    f64 = npx.render(net, "m", dtype="float64")
    f32 = npx.render(net, "m", dtype="float32")
    emit.write_all({"m.py": f64["m.py"], "m.npz": f32["m.npz"]}, str(tmp_path), force=True)
    st = npx.stamp(str(tmp_path), "m")
    assert st.fingerprint == net.fingerprint and st.intact
    assert st.dtype == "float32"
    assert st.same_export is False
    emit.write_all(f32, str(tmp_path), force=True)
    assert npx.stamp(str(tmp_path), "m").same_export is True


def test_export_id_covers_render_options(tmp_path):
    _, net, _ = case("reg_classic")
    a = npx.render(net, "m")["m.py"].decode()
    b = npx.render(net, "m", matlab_inline=True)["m.py"].decode()
    assert a.splitlines() != b.splitlines()  # the EXPORT_ID line differs
    assert npx.render(net, "m")["m.py"].decode() == a  # and it is reproducible


def test_stamp_of_files_that_are_not_an_export_is_a_plain_error(tmp_path):
    from mlpexport.errors import ExportError
    (tmp_path / "m.py").write_bytes(b"\xff\xfe not utf-8")
    np.savez(tmp_path / "m.npz", W1=np.zeros(3))
    with pytest.raises(ExportError, match="not a readable mlpexport export"):
        npx.stamp(str(tmp_path), "m")


# ---------------------------------------------------------------- model text never becomes code

def _payloads(marker):
    return [f'1.0"""\nimport os; os.system("touch {marker}")\n"""',
            f"x'];import os;os.system('touch {marker}');['",
            f'x""";__import__("os").system("touch {marker}");"""',
            f"x\\\nimport os; os.system('touch {marker}')  # \\N{{BULLET}} {{0}} %s"]


def _shape_of(code):
    """The module's syntax tree with every constant blanked out."""
    import ast
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):
            node.value = None
    return ast.dump(tree)


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_model_text_reaches_the_module_only_as_data(tmp_path, monkeypatch):
    """Payloads as the saved scikit-learn version, the model file name, feature names and
    class labels: rendering, importing and running the module never runs them, and the
    module hands the exact strings back."""
    import warnings
    from sklearn.neural_network import MLPClassifier
    from mlpexport.extract import extract
    marker = tmp_path / "MARKER"
    monkeypatch.chdir(tmp_path)
    payloads = _payloads(marker) + _payloads("MARKER")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, len(payloads)))
    labels = np.array(payloads[:3], dtype=object)[np.argmax(X[:, :3], axis=1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=50, random_state=0).fit(X, labels)
    est.feature_names_in_ = np.array([f"f{i}" for i in range(len(payloads))], dtype=object)
    harmless = extract(est, saved_version="1.5", model_file="m.pkl")
    est.feature_names_in_ = np.array(payloads, dtype=object)  # as a DataFrame would set it
    for version, model_file in [(payloads[0], "m.pkl"), ("1.5", payloads[2]), (payloads[3], payloads[1])]:
        net = extract(est, saved_version=version, model_file=model_file)
        files = npx.render(net, "m")
        emit.write_all(files, str(tmp_path / "out"), force=True)
        mod = npx.load_module(str(tmp_path / "out"), "m")
        assert mod.feature_names_in_.tolist() == payloads
        assert mod.classes_.tolist() == est.classes_.tolist()
        assert mod.predict(X).tolist() == est.predict(X).tolist()
        assert mod.Model().predict(X[0]).tolist() == est.predict(X[:1]).tolist()
        # the module's code is that of a model with harmless text: only constants differ
        assert _shape_of(files["m.py"]) == _shape_of(npx.render(harmless, "m")["m.py"])
        with np.load(tmp_path / "out" / "m.npz", allow_pickle=False) as w:
            meta = json.loads(str(w["mlpexport_meta"]))
        assert (meta["sklearn_version"], meta["model_file"]) == (version, model_file)  # kept exactly, as data
        assert not marker.exists()


# --- named columns: a DataFrame or a dict, checked as scikit-learn checks them (#12) ---

@pytest.fixture(scope="module")
def named_model():
    pd = pytest.importorskip("pandas")
    from sklearn.neural_network import MLPRegressor
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(60, 20, size=(200, 3)), columns=["speed", "load", "temp"])
    y = df["speed"] / 10 - df["load"] / 20 + rng.normal(size=200)
    est = MLPRegressor(hidden_layer_sizes=(8,), max_iter=300, random_state=0).fit(df, y)
    return est, df


def _sklearn_error(est, X):
    with pytest.raises(ValueError) as e:
        est.predict(X)
    return str(e.value)


def test_dataframe_and_dict_inputs_match_sklearn(named_model, tmp_path):
    from mlpexport.extract import extract
    est, df = named_model
    mod = export(extract(est), tmp_path)
    assert list(mod.feature_names_in_) == list(est.feature_names_in_)
    want = est.predict(df)
    assert_matches({"predict": mod.predict(df)}, {"predict": want}, 1e-12, "DataFrame")
    shuffled = {name: df[name].to_numpy() for name in ["temp", "speed", "load"]}
    assert_matches({"predict": mod.predict(shuffled)}, {"predict": want}, 1e-12, "dict")


@pytest.mark.parametrize("change", ["reordered", "missing", "unexpected", "renamed"])
def test_wrong_columns_raise_sklearns_error(named_model, tmp_path, change):
    from mlpexport.extract import extract
    est, df = named_model
    mod = export(extract(est), tmp_path)
    bad = {"reordered": df[["load", "speed", "temp"]],
           "missing": df[["speed", "load"]],
           "unexpected": df.assign(id=1.0),
           "renamed": df.rename(columns={"temp": "Temp"})}[change]
    with pytest.raises(ValueError) as e:
        mod.predict(bad)
    assert str(e.value) == _sklearn_error(est, bad)


def test_dict_with_a_missing_or_extra_key_names_it(named_model, tmp_path):
    from mlpexport.extract import extract
    est, df = named_model
    mod = export(extract(est), tmp_path)
    cols = {name: df[name].to_numpy() for name in df.columns}
    with pytest.raises(ValueError, match="yet now missing:\n- temp"):
        mod.predict({k: v for k, v in cols.items() if k != "temp"})
    with pytest.raises(ValueError, match="unseen at fit time:\n- id"):
        mod.predict(dict(cols, id=np.zeros(len(df))))


def test_a_dict_needs_a_model_fitted_with_names(tmp_path):
    _, net, X = case("reg_classic")
    mod = export(net, tmp_path)
    with pytest.raises(ValueError, match="fitted without feature names"):
        mod.predict({"a": X[:, 0]})
