"""Committed fixtures: every recipe has its model and golden vectors; the installed
scikit-learn still gives the golden outputs (version drift), and every export
reproduces them."""
import os
import warnings

import numpy as np
import pytest

from conftest import ROOT, assert_matches, need_octave
from mlpexport import emit
from mlpexport.emit import matlab
from mlpexport.data import rows_from_records
from mlpexport.extract import extract
from mlpexport.load import load

import make  # fixtures/make.py

RECIPES = make.recipes()
NAMES = [r["name"] for r in RECIPES]


def available(recipe):
    why = make.unavailable(recipe)
    if why:
        pytest.skip(why)


def golden(recipe):
    available(recipe)
    with np.load(make.golden_path(recipe), allow_pickle=False) as g:
        return rows_from_records(g["X"]), {k: g[k] for k in g.files if k != "X"}


def loaded(recipe):
    available(recipe)
    est = load(make.model_path(recipe)).estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est, extract(est)


def test_every_recipe_has_model_and_golden_and_nothing_else():
    models = sorted(os.listdir(os.path.join(ROOT, "fixtures", "models")))
    goldens = sorted(os.listdir(os.path.join(ROOT, "fixtures", "golden")))
    assert models == sorted(r["name"] + r.get("format", ".skops") for r in RECIPES)
    assert goldens == sorted(f"{n}.npz" for n in NAMES)


def test_the_recipes_cover_every_zoo_model():
    from zoo import ZOO
    assert {r["zoo"] for r in RECIPES if "zoo" in r} == set(ZOO)


@pytest.mark.parametrize("recipe", RECIPES, ids=NAMES)
def test_installed_sklearn_still_gives_the_golden_outputs(recipe):
    est, net = loaded(recipe)
    X, want = golden(recipe)
    from mlpexport.check import sklearn_outputs
    assert_matches(sklearn_outputs(est, X, net), want, 1e-9, recipe["name"])


@pytest.mark.parametrize("recipe", RECIPES, ids=NAMES)
def test_numpy_and_onnx_exports_reproduce_golden(recipe, tmp_path):
    from mlpexport.emit import numpy as npx
    from mlpexport.emit import onnx as onnx_target
    _, net = loaded(recipe)
    X, want = golden(recipe)
    emit.write_all(emit.render_all(net, "m", ["numpy", "onnx"], "float64"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    got = {"predict": mod.predict(X)}
    if net.has_proba:
        got["predict_proba"] = mod.predict_proba(X)
    if net.has_scores:
        got["decision_function"] = mod.decision_function(X)
    assert_matches(got, want, 1e-9, recipe["name"])
    assert_matches(onnx_target.run(str(tmp_path), "m", X), want, 1e-9, recipe["name"])


def test_matlab_exports_reproduce_golden_in_octave(tmp_path):
    need_octave()
    jobs, wants = [], []
    made = [r for r in RECIPES if not make.unavailable(r)]  # the others skip above, with why
    for recipe in made:
        _, net = loaded(recipe)
        X, want = golden(recipe)
        d = tmp_path / recipe["name"]
        emit.write_all(matlab.render(net, recipe["name"]), str(d), force=True)
        jobs.append((str(d), recipe["name"], X))
        wants.append(want)
    for recipe, got, want in zip(made, matlab.run_many(jobs), wants):
        assert_matches(got, want, 1e-9, recipe["name"])


LEGACY_DIR = os.path.join(ROOT, "fixtures", "legacy")
LEGACY = sorted(f for f in os.listdir(LEGACY_DIR) if f.endswith((".pkl", ".joblib")))


@pytest.mark.parametrize("filename", LEGACY)
def test_models_written_by_scikit_learn_1_5_reproduce_what_1_5_computed(filename, tmp_path):
    """fixtures/make_legacy.py ran under scikit-learn 1.5.2 and stored its outputs."""
    from mlpexport.emit import numpy as npx
    from mlpexport.emit import onnx as onnx_target
    loaded = load(os.path.join(LEGACY_DIR, filename))
    with np.load(os.path.join(LEGACY_DIR, filename.rsplit(".", 1)[0] + ".npz")) as g:
        X, want = g["X"], {k: g[k] for k in ("predict", "predict_proba") if k in g.files}
        written_by = str(g["sklearn_version"])
    assert loaded.saved_version == written_by == "1.5.2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = extract(loaded.estimator, saved_version=loaded.saved_version)
    emit.write_all(emit.render_all(net, "m", ["numpy", "onnx"], "float64"), str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    got = {"predict": mod.predict(X)}
    if "predict_proba" in want:
        got["predict_proba"] = mod.predict_proba(X)
    assert_matches(got, want, 1e-12, filename)
    assert_matches(onnx_target.run(str(tmp_path), "m", X), want, 1e-12, filename)


def test_todays_sklearn_computes_other_probabilities_for_a_legacy_ovr_model():
    """Why mlpexport reproduces the writing version: scikit-learn >= 1.8 applies softmax
    to a model 1.5 trained and used as one-vs-rest."""
    import sklearn
    from sklearn.utils.fixes import parse_version
    if parse_version(sklearn.__version__) < parse_version("1.8"):
        pytest.skip(f"scikit-learn {sklearn.__version__} computes one-vs-rest as 1.5 did; "
                    f"the softmax is 1.8's")
    est = load(os.path.join(LEGACY_DIR, "lr_ovr.pkl")).estimator
    with np.load(os.path.join(LEGACY_DIR, "lr_ovr.npz")) as g:
        X, then = g["X"], g["predict_proba"]
    now = est.predict_proba(X)
    assert np.abs(now - then).max() > 1e-3
    np.testing.assert_array_equal(est.predict(X).astype(str), np.load(os.path.join(LEGACY_DIR, "lr_ovr.npz"))["predict"])
