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
from mlpexport.extract import extract
from mlpexport.load import load

import make  # fixtures/make.py

RECIPES = make.recipes()
NAMES = [r["name"] for r in RECIPES]


def golden(recipe):
    with np.load(make.golden_path(recipe), allow_pickle=False) as g:
        return g["X"], {k: g[k] for k in g.files if k != "X"}


def loaded(recipe):
    est = load(make.model_path(recipe)).estimator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est, extract(est)


def test_every_recipe_has_model_and_golden_and_nothing_else():
    models = sorted(os.listdir(os.path.join(ROOT, "fixtures", "models")))
    goldens = sorted(os.listdir(os.path.join(ROOT, "fixtures", "golden")))
    assert models == sorted(os.path.basename(make.model_path(r)) for r in RECIPES)
    assert goldens == sorted(f"{n}.npz" for n in NAMES)


def test_the_recipes_cover_every_zoo_model():
    from zoo import ZOO
    assert {r["zoo"] for r in RECIPES if "zoo" in r} == set(ZOO)


@pytest.mark.parametrize("recipe", RECIPES, ids=NAMES)
def test_installed_sklearn_still_gives_the_golden_outputs(recipe):
    est, net = loaded(recipe)
    X, want = golden(recipe)
    from mlpexport.extract import sklearn_outputs
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
    if net.is_classifier:
        got["predict_proba"] = mod.predict_proba(X)
    assert_matches(got, want, 1e-9, recipe["name"])
    assert_matches(onnx_target.run(str(tmp_path), "m", X), want, 1e-9, recipe["name"])


def test_matlab_exports_reproduce_golden_in_octave(tmp_path):
    need_octave()
    jobs, wants = [], []
    for recipe in RECIPES:
        _, net = loaded(recipe)
        X, want = golden(recipe)
        d = tmp_path / recipe["name"]
        emit.write_all(matlab.render(net, recipe["name"]), str(d), force=True)
        jobs.append((str(d), recipe["name"], X))
        wants.append(want)
    for recipe, got, want in zip(RECIPES, matlab.run_many(jobs), wants):
        assert_matches(got, want, 1e-9, recipe["name"])
