"""The Python API: mlpexport.convert / check / inspect on estimator objects and files."""
import copy
import importlib.util
import json
import os
import pickle
import pydoc
import subprocess
import sys
import warnings

import numpy as np
import pytest

import mlpexport
from conftest import get, need_octave
from mlpexport import (DataError, UnsafeModelError, UnsupportedModelError, UsageError)
from mlpexport.cli import main


def _module(path):
    spec = importlib.util.spec_from_file_location(os.path.basename(path)[:-3], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_convert_an_estimator_object_writes_exports_that_predict_as_sklearn(tmp_path):
    est, X = get("clf_multi_str")
    report = mlpexport.convert(est, tmp_path / "out", to="numpy,onnx", name="flowers")
    assert report.passed and report.name == "flowers"
    assert sorted(map(os.path.basename, report.files)) == ["flowers.npz", "flowers.onnx", "flowers.py"]
    assert {(r.export, r.output, r.status) for r in report.rows} == {
        (t, o, "PASS") for t in ("numpy", "onnx") for o in ("predict", "predict_proba")}
    assert report.source.endswith("drawn rows (pass --data for your own)") and report.model == "Pipeline(StandardScaler, MLPClassifier)"
    assert report.estimator == report.model  # an object: no file to name it by
    labels = [r.labels for r in report.rows if r.output == "predict"]
    assert labels == [1.0, 1.0] and all(r.max_rel <= 1e-9 for r in report.rows)
    json.dumps(report.to_json(), allow_nan=False)  # strict JSON
    mod = _module(str(tmp_path / "out" / "flowers.py"))
    assert (mod.predict(X) == est.predict(X)).all()  # the written file, against scikit-learn
    np.testing.assert_allclose(mod.predict_proba(X), est.predict_proba(X), rtol=1e-12, atol=1e-15)


def test_convert_and_check_a_model_file(tmp_path):
    path = tmp_path / "my-model.pkl"
    path.write_bytes(pickle.dumps(get("reg_classic")[0]))
    report = mlpexport.convert(str(path), tmp_path / "out", to="numpy")
    assert report.passed and report.name == "my_model" and report.model == str(path)
    assert report.estimator == "Pipeline(StandardScaler, MLPRegressor)"
    assert any("named my_model" in n for n in report.notes)
    assert sorted(os.listdir(tmp_path / "out")) == ["my_model.npz", "my_model.py"]
    again = mlpexport.check(path, against=tmp_path / "out", to="numpy")  # a PathLike works too
    assert again.passed and [r.status for r in again.rows] == ["PASS"]
    # the estimator object is the same model: the exports are not stale for it
    assert mlpexport.check(get("reg_classic")[0], against=tmp_path / "out", name="my_model").passed


FAMILIES = ["reg_classic", "reg_poisson", "ttr_minmax_multi", "clf_binary_bool", "clf_multilabel",
            "lr_multinomial", "lr_legacy_ovr", "sgd_multiclass"]


@pytest.mark.parametrize("zoo", FAMILIES)
def test_check_every_model_family_as_object_and_as_file(zoo, tmp_path):
    est = get(zoo)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy model's note
        report = mlpexport.check(est, to="numpy")
        path = tmp_path / f"{zoo}.pkl"
        path.write_bytes(pickle.dumps(est))
        from_file = mlpexport.check(str(path), to="numpy")
    for rep in (report, from_file):
        assert rep.passed and rep.rows and all(r.status == "PASS" for r in rep.rows), rep.table()
    assert report.fingerprint == from_file.fingerprint


def test_check_reports_a_stale_export_without_raising(tmp_path):
    mlpexport.convert(get("reg_classic")[0], tmp_path, to="numpy", name="m")
    report = mlpexport.check(get("reg_multi_tanh")[0], against=tmp_path, name="m")
    assert not report.passed
    assert [(r.export, r.status) for r in report.rows] == [("numpy", "FAIL")]
    assert "stale" in report.rows[0].failure()


def test_data_as_array_duck_typed_frame_or_file(tmp_path):
    est, X = get("reg_classic")
    assert mlpexport.check(est, data=X, to="numpy").source == f"{len(X)} given rows"
    assert mlpexport.check(est, data=X.tolist(), to="numpy").passed

    class Frame:  # what the API uses of a DataFrame, without needing pandas
        def __init__(self, a, columns):
            self.a, self.columns = a, columns

        def __getitem__(self, names):
            return Frame(self.a[:, [self.columns.index(n) for n in names]], list(names))

        def to_numpy(self):
            return self.a

    named = copy.deepcopy(est)
    names = [f"f{i}" for i in range(X.shape[1])]
    named.steps[0][1].feature_names_in_ = np.array(names, dtype=object)  # as a DataFrame fit sets it
    shuffled = Frame(np.c_[X[:, ::-1], X[:, :1]], names[::-1] + ["id"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # scikit-learn: X has no feature names; ours: id ignored
        assert mlpexport.check(named, data=shuffled, to="numpy").passed
        # matched by name: the same rows as X itself (reversed columns would change activity)
        assert mlpexport.inspect(named, data=shuffled) == mlpexport.inspect(named, data=X)
        with pytest.raises(DataError, match="no column 'f0'"):
            mlpexport.check(named, data=Frame(X[:, 1:], names[1:]), to="numpy")
    assert any("'id'" in str(w.message) and "ignored" in str(w.message) for w in caught)
    np.save(tmp_path / "rows.npy", X[:40])
    assert mlpexport.check(est, data=str(tmp_path / "rows.npy"), to="numpy").source == "40 rows from rows.npy"


@pytest.mark.parametrize("data,message", [
    (np.zeros(12), "1-D array"),
    (np.zeros((3, 5)), "5 columns but the model expects 12"),
    (np.zeros((0, 12)), "no rows"),
    (np.full((2, 12), np.nan), "column 1 of the data contains NaN"),
    (np.array([["a"] * 12]), "not numbers"),
    (np.ones((2, 12)) * 1j, "complex"),
    (np.zeros((3, 12), "M8[s]"), "datetime64.*not numbers"),  # not seconds since 1970
])
def test_bad_data_is_a_data_error(data, message):
    with pytest.raises(DataError, match=message):
        mlpexport.check(get("reg_classic")[0], data=data, to="numpy")


def test_typed_errors(tmp_path):
    est = get("reg_classic")[0]
    with pytest.raises(UsageError, match="unknown target option matlab_inlne"):
        mlpexport.convert(est, tmp_path / "o", matlab_inlne=True)
    with pytest.raises(UsageError, match="unknown target 'java'"):
        mlpexport.check(est, to="numpy,java")
    with pytest.raises(UsageError, match="not a valid identifier"):
        mlpexport.check(est, name="2bad")
    with pytest.raises(UsageError, match="fitted scikit-learn estimator or the path"):
        mlpexport.check(42)
    from sklearn.neural_network import MLPRegressor
    with pytest.raises(UsageError, match="the class MLPRegressor; pass a fitted instance"):
        mlpexport.check(MLPRegressor)
    with pytest.raises(UnsupportedModelError, match="not fitted"):
        mlpexport.check(MLPRegressor())
    with pytest.raises(mlpexport.ModelFileError, match="no such model file"):
        mlpexport.check(tmp_path / "missing.skops")
    with pytest.raises(UsageError, match="no such directory"):
        mlpexport.check(est, against=tmp_path / "nowhere")
    with pytest.raises(UsageError, match="float64 or float32"):
        mlpexport.convert(est, tmp_path / "o", dtype="float16")
    from sklearn.dummy import DummyRegressor
    with pytest.raises(UnsupportedModelError, match="DummyRegressor"):
        mlpexport.check(DummyRegressor().fit(np.eye(3), [1, 2, 3]))
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(os.getcwd))
    with pytest.raises(UnsafeModelError):
        mlpexport.convert(tmp_path / "evil.pkl", tmp_path / "new" / "o")
    assert not (tmp_path / "o").exists() and not (tmp_path / "new").exists()
    assert all(issubclass(e, mlpexport.MlpexportError)
               for e in (UsageError, UnsafeModelError, UnsupportedModelError, DataError))


def test_existing_files_are_kept_without_force(tmp_path):
    est = get("reg_classic")[0]
    mlpexport.convert(est, tmp_path, to="numpy")
    (tmp_path / "model.py").write_text("# mine")
    with pytest.raises(mlpexport.OutputExistsError, match="--force"):
        mlpexport.convert(est, tmp_path, to="numpy")
    assert (tmp_path / "model.py").read_text() == "# mine"
    assert mlpexport.convert(est, tmp_path, to="numpy", force=True).passed
    assert (tmp_path / "model.py").read_text() != "# mine"


def test_a_convert_that_disagrees_writes_nothing_and_says_so(tmp_path, monkeypatch):
    check_module = sys.modules["mlpexport.check"]
    real = check_module.sklearn_outputs

    def shifted(est, X, net):  # scikit-learn "says" something else: every export now disagrees
        return {k: v + 1e-3 for k, v in real(est, X, net).items()}

    monkeypatch.setattr(check_module, "sklearn_outputs", shifted)
    report = mlpexport.convert(get("reg_classic")[0], tmp_path / "new", to="numpy")
    assert not report.passed and report.files == [] and not (tmp_path / "new").exists()
    assert "DISAGREEMENT" in str(report)


def test_convert_checks_given_rows_as_well_and_prunes_only_on_request(tmp_path):
    est, X = get("reg_classic")
    report = mlpexport.convert(est, tmp_path / "a", to="numpy", data=X)
    drawn = mlpexport.check(est, to="numpy").n_rows
    assert report.passed and report.source == f"{drawn} drawn rows and {len(X)} given rows"
    assert report.n_rows == drawn + len(X)
    pruned = mlpexport.convert(est, tmp_path / "b", to="numpy", data=X, prune_dead=True)
    assert pruned.source == f"{len(X)} given rows" and any("--prune-dead removed" in n for n in pruned.notes)
    with pytest.raises(UsageError, match="needs --data"):
        mlpexport.convert(est, tmp_path / "c", prune_dead=True)


def test_target_options_reach_the_export(tmp_path):
    need_octave()  # naming matlab makes its runtime required, as on the command line
    report = mlpexport.convert(get("reg_classic")[0], tmp_path, to="matlab", matlab_inline=True)
    assert sorted(map(os.path.basename, report.files)) == ["model.m"]  # inline: no .mat


def test_inspect_is_the_inspect_json_content(tmp_path, capsys):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps(get("reg_classic")[0]))
    rep = mlpexport.inspect(str(path))
    assert main(["inspect", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(rep))
    est, X = get("reg_classic")
    on_data = mlpexport.inspect(est, data=X)
    assert on_data["rows"] == len(X) and on_data["total_params"] == rep["total_params"]


def test_package_attributes_stay_the_api_functions_after_submodule_imports():
    script = ("import mlpexport, sys\n"
              "from mlpexport.check import Report\n"
              "from mlpexport.inspection import report, text\n"
              "import mlpexport.inspection, mlpexport.check\n"
              "assert callable(report) and Report.__name__ == 'Report'\n"
              "assert sys.modules['mlpexport.inspection'].report is report\n"
              "import inspect; assert inspect.__file__ != mlpexport.inspection.__file__\n"
              "print(mlpexport.check.__module__, mlpexport.inspect.__module__)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["mlpexport.api", "mlpexport.api"]


def test_import_is_light_and_help_reads_well():
    script = ("import sys, mlpexport, mlpexport.testing\n"
              "print(sorted(m for m in ('numpy', 'sklearn', 'onnx', 'scipy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.stdout.strip() == "[]", proc.stderr
    text = pydoc.render_doc(mlpexport, renderer=pydoc.plaintext)
    for word in ("convert(model, outdir", "check(model", "inspect(model", "assert_parity", "DataError"):
        assert word in text
    assert "export(net" not in text  # the function the old docstring promised never existed
    for f in (mlpexport.convert, mlpexport.check, mlpexport.inspect):
        assert ">>> " in f.__doc__


def test_requiring_octave_does_not_require_matlab_files_in_against(tmp_path, monkeypatch):
    """MLPEXPORT_REQUIRE_OCTAVE=1 (CI) makes a missing Octave an error; it does not make
    a folder of numpy-only exports fail `check --against` with the default --to all.
    Naming --to matlab does."""
    est = get("reg_classic")[0]
    assert mlpexport.convert(est, tmp_path, to="numpy", name="m").passed
    monkeypatch.setenv("MLPEXPORT_REQUIRE_OCTAVE", "1")
    report = mlpexport.check(est, against=tmp_path, name="m")
    assert report.passed and [r.export for r in report.rows] == ["numpy"]
    report = mlpexport.check(est, against=tmp_path, name="m", to="numpy,matlab")
    assert not report.passed and "no m.m/.mat" in str(report)


@pytest.mark.parametrize("call,message", [
    (lambda est, d: mlpexport.check(est, to=["numpy"]), "to must be a string"),
    (lambda est, d: mlpexport.convert(est, d, to=["numpy", "onnx"]), "to must be a string"),
    (lambda est, d: mlpexport.check(est, to=3), "to must be a string"),
    (lambda est, d: mlpexport.check(est, rtol="x"), "rtol must be a number"),
    (lambda est, d: mlpexport.check(est, atol=[0]), "atol must be a number"),
    (lambda est, d: mlpexport.check(est, rtol=True), "rtol must be a number"),
    (lambda est, d: mlpexport.check(est, name=123), "name must be a string"),
    (lambda est, d: mlpexport.convert(est, d, name=123), "name must be a string"),
    (lambda est, d: mlpexport.convert(est, None), "outdir must be a directory path"),
    (lambda est, d: mlpexport.convert(est, 7), "outdir must be a directory path"),
    (lambda est, d: mlpexport.check(est, against=7), "against must be a directory path"),
])
def test_arguments_of_the_wrong_type_are_usage_errors(call, message, tmp_path):
    # they raised AttributeError / TypeError from deep inside
    with pytest.raises(UsageError, match=message):
        call(get("reg_classic")[0], tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_check_without_against_does_not_name_exports_it_never_writes(tmp_path, capsys):
    # "note: the exports are named ..." is about files in DIR; a fresh check writes none
    model = tmp_path / "2 my-model.pkl"
    model.write_bytes(pickle.dumps(get("reg_classic")[0]))
    assert main(["check", str(model), "--to", "numpy", "--trust-pickle"]) == 0
    assert "exports are named" not in capsys.readouterr().err
    assert main(["convert", str(model), "--to", "numpy", "--trust-pickle", "-o", str(tmp_path / "o")]) == 0
    assert "exports are named model_2_my_model" in capsys.readouterr().err
    assert main(["check", str(model), "--to", "numpy", "--trust-pickle", "--against", str(tmp_path / "o")]) == 0
    assert "exports are named model_2_my_model" in capsys.readouterr().err


def test_help_names_every_model_suffix_and_every_target(capsys):
    from mlpexport.load import MODEL_SUFFIXES
    from mlpexport.targets import TARGETS
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert all(s in text for s in MODEL_SUFFIXES), text
    with pytest.raises(SystemExit):
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert "C source" in top and "numpy / ONNX / MATLAB / C files" in top
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    line = next(x for x in readme.splitlines() if x.startswith("- `TARGETS`"))
    assert all(f"`{t}`" in line for t in TARGETS), line


@pytest.mark.parametrize("fmt", ["pkl", "skops"])
@pytest.mark.parametrize("kind", ["number", "integer", "floating", "inexact", "generic"])
def test_a_column_selector_by_an_abstract_numpy_type_loads(kind, fmt, tmp_path):
    # make_column_selector(dtype_include=np.number) was refused: numpy.number not allowlisted
    import pandas as pd
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    with pytest.raises(TypeError, match="cannot create"):
        getattr(np, kind)()  # what makes them safe to allow: calling one creates nothing
    df = pd.DataFrame({"a": [1.0, 2, 3, 4], "b": [3, 1, 2, 5]})
    est = make_pipeline(make_column_transformer(
        (StandardScaler(), make_column_selector(dtype_include=getattr(np, kind)))), Ridge())
    est.fit(df, [1.0, 2, 3, 4])
    path = tmp_path / f"m.{fmt}"
    if fmt == "pkl":
        path.write_bytes(pickle.dumps(est))
    else:
        import skops.io as sio
        sio.dump(est, path)
    report = mlpexport.check(path, data=df, to="numpy")
    assert report.passed
