"""The linear family (issue 15): what the zoo's parity tests do not show by themselves:
ties in the decision function, the outputs each target offers, refusals and the loader's
trust in the objects these models hold, and `train --model` for the linear baselines."""
import copy
import os
import pickle
import warnings

import numpy as np
import onnxruntime as ort
import pytest
from sklearn import linear_model as lm
from sklearn.svm import LinearSVC

from conftest import case, need_octave, network, reference
from mlpexport import emit
from mlpexport.cli import main
from mlpexport.emit import matlab
from mlpexport.emit import numpy as npx
from mlpexport.emit import onnx as onnx_target
from mlpexport.errors import UnsupportedModelError
from mlpexport.extract import extract
from mlpexport.load import load
from mlpexport.network import BinaryScores, Scores, evaluate


def _tied(kind):
    """A fitted linear classifier whose scores tie exactly on every row of X below:
    binary z == 0 (scikit-learn: the first class), multiclass equal top scores (the first)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    if kind == "binary":
        est = lm.RidgeClassifier().fit(X, np.where(X[:, 0] > 0, "b", "a"))
        est.coef_[:] = 0.0
        est.intercept_ = np.zeros_like(est.intercept_)
    else:
        est = LinearSVC().fit(X, np.digitize(X[:, 0], [-0.5, 0.5]) * 10)
        est.coef_[:] = [1.0, 2.0, 0.0]  # every class the same score: argmax is the first
        est.intercept_[:] = 0.5
        est.coef_[2] = [1.0, 2.0, -1.0]  # class 2 ties with the others where x3 == 0
    X[:10, 2] = 0.0
    return est, X


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_ties_in_the_decision_function_resolve_as_sklearn(kind, tmp_path):
    est, X = _tied(kind)
    net = network(est)
    want = est.predict(X)
    assert (evaluate(net, X)["predict"] == want).all()
    emit.write_all(emit.render_all(net, "m", ["numpy", "onnx"], "float64"), str(tmp_path), force=True)
    assert (npx.run(str(tmp_path), "m", X)["predict"] == want).all()
    for runtime in ("onnxruntime", "reference"):
        got = onnx_target.run(str(tmp_path), "m", X, runtime=runtime)["predict"]
        assert (got.astype(want.dtype) == want).all(), runtime


def test_ties_resolve_as_sklearn_in_octave(tmp_path):
    need_octave()
    jobs, wants = [], []
    for kind in ("binary", "multiclass"):
        est, X = _tied(kind)
        d = tmp_path / kind
        emit.write_all(matlab.render(network(est), "m"), str(d), force=True)
        jobs.append((str(d), "m", X))
        wants.append(est.predict(X))
    for got, want in zip(matlab.run_many(jobs), wants):
        assert [str(v) for v in np.ravel(got["predict"])] == [str(v) for v in want]


def test_binary_scores_have_sklearns_shape_in_every_target(tmp_path):
    est, net, X = case("lin_linear_svc_binary")
    assert isinstance(net.program().scores, BinaryScores)
    assert isinstance(case("lin_linear_svc_multi")[1].program().scores, Scores)
    emit.write_all(emit.render_all(net, "m", ["numpy", "onnx", "matlab"], "float64"),
                   str(tmp_path), force=True)
    mod = npx.load_module(str(tmp_path), "m")
    assert mod.decision_function(X).shape == est.decision_function(X).shape == (len(X),)
    assert not hasattr(mod, "predict_proba")
    m = mod.Model()
    assert np.shape(m.decision_function(X[0])) == ()
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["label", "scores"]
    assert sess.run(["scores"], {"X": X})[0].shape == (len(X),)
    text = (tmp_path / "m.m").read_text()
    assert text.startswith("function [label, scores] = m(X)")


def test_classifiers_with_probabilities_add_scores_after_them(tmp_path):
    for name, signature in (("lr_binary", "[label, proba, scores]"),
                            ("sgd_modified_huber", "[label, proba, scores]"),
                            ("clf_binary_int", "[label, proba]")):  # an MLP: no scores
        _, net, _ = case(name)
        d = tmp_path / name
        emit.write_all(emit.render_all(net, "m", ["onnx", "matlab"], "float64"), str(d), force=True)
        sess = ort.InferenceSession(str(d / "m.onnx"), providers=["CPUExecutionProvider"])
        outputs = [o.name for o in sess.get_outputs()]
        assert outputs == ["label", "probabilities"] + (["scores"] if net.has_scores else [])
        assert (d / "m.m").read_text().startswith(f"function {signature} = m(X)")


def test_modified_huber_probabilities_follow_sklearns_formula():
    est, net, X = case("sgd_modified_huber_bare")
    d = est.decision_function(X)
    P = (np.clip(d, -1, 1) + 1) / 2
    s = P.sum(axis=1)
    assert (s == 0).any() or (np.abs(d) > 1).any()  # clipping is exercised
    P[s == 0] = 1
    s[s == 0] = P.shape[1]
    np.testing.assert_allclose(evaluate(net, X)["predict_proba"], P / s[:, None], rtol=1e-15)
    np.testing.assert_array_equal(evaluate(net, X)["predict_proba"], est.predict_proba(X))


def test_glm_links_follow_the_fitted_model():
    assert network(case("glm_tweedie_auto_identity")[0]).head.kind == "identity"
    assert network(case("glm_tweedie_auto_log")[0]).head.kind == "exp"
    assert network(case("glm_tweedie_log_link")[0]).head.kind == "exp"
    assert network(case("glm_gamma")[0]).head.kind == "exp"


def test_predict_shape_follows_coef():
    assert network(case("lin_linear")[0]).flat
    assert not network(case("lin_linear_2d_single")[0]).flat  # y (n, 1): predict (n, 1)
    est, net, X = case("lin_linear_2d_single")
    assert evaluate(net, X)["predict"].shape == est.predict(X).shape == (len(X), 1)


def test_refusals_name_the_estimator_as_written():
    est = copy.deepcopy(case("sgd_hinge")[0])
    est.loss = "future_loss"
    with pytest.raises(UnsupportedModelError, match=r"^SGDClassifier\(loss='future_loss'\) is not supported"):
        extract(est)
    est = copy.deepcopy(case("lin_linear_svc_multi")[0])
    est.coef_ = est.coef_[:2]
    with pytest.raises(UnsupportedModelError, match="LinearSVC has 2 score columns but 3 intercepts"):
        extract(est)
    est.intercept_ = est.intercept_[:2]
    with pytest.raises(UnsupportedModelError, match="LinearSVC has 2 score columns for 3 classes"):
        extract(est)


@pytest.mark.parametrize("name", ["sgd_hinge", "sgd_modified_huber", "sgd_squared_error",
                                  "sgd_huber", "glm_tweedie_auto_log", "glm_gamma",
                                  "glm_tweedie_auto_identity", "lin_perceptron"])
@pytest.mark.parametrize("suffix", [".pkl", ".skops"])
def test_the_safe_loader_trusts_what_linear_models_hold(name, suffix, tmp_path):
    from mlpexport.train import model_bytes
    est = case(name)[0]
    path = tmp_path / f"m{suffix}"
    path.write_bytes(model_bytes(est, str(path)))
    loaded = load(str(path)).estimator
    X = case(name)[2]
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


@pytest.mark.parametrize("model,dataset", [("linear", "diabetes"), ("ridge", "linnerud"),
                                           ("poisson", "diabetes"), ("linear-svc", "iris")])
def test_train_fits_the_linear_baselines(model, dataset, tmp_path, capsys):
    path = tmp_path / "m.skops"
    assert main(["train", dataset, "--model", model, "-o", str(path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert ("accuracy" if model == "linear-svc" else "R^2") in out
    assert main(["check", str(path), "--to", "numpy,onnx"]) == 0


def test_train_refuses_what_a_linear_baseline_cannot_fit(tmp_path, capsys):
    path = tmp_path / "m.skops"
    assert main(["train", "diabetes", "--model", "linear-svc", "-o", str(path), "--quiet"]) == 2
    assert "needs class labels" in capsys.readouterr().err
    assert main(["train", "linnerud", "--model", "poisson", "-o", str(path), "--quiet"]) == 2
    assert "one target column" in capsys.readouterr().err
    assert not path.exists()


@pytest.mark.parametrize("suffix", [".pkl", ".skops"])
def test_an_unknown_part_is_refused_naming_the_model(suffix, tmp_path, monkeypatch):
    """A loss object of another scikit-learn (a class mlpexport does not trust) inside an
    SGDClassifier: the refusal names the SGDClassifier, not only the internal class."""
    import sklearn.linear_model._sgd_fast as sgd_fast
    from mlpexport.errors import UnsafeModelError
    from mlpexport.train import model_bytes

    class FutureLoss:
        pass
    FutureLoss.__module__, FutureLoss.__qualname__ = sgd_fast.__name__, "FutureLoss"
    monkeypatch.setattr(sgd_fast, "FutureLoss", FutureLoss, raising=False)
    est = copy.deepcopy(case("sgd_hinge")[0])
    est.loss_function_ = FutureLoss()
    path = tmp_path / f"m{suffix}"
    path.write_bytes(model_bytes(est, str(path)))
    with pytest.raises(UnsafeModelError, match=r"^this SGDClassifier holds an object mlpexport "
                                               r"does not know \(FutureLoss from"):
        load(str(path))
