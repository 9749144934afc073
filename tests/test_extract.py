"""extract: every family's structure and quirks; refusals name what is wrong."""
import copy
import warnings

import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.decomposition import PCA
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import RidgeClassifier, SGDClassifier
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from conftest import get, network
from mlpexport.errors import UnsupportedModelError
from mlpexport.extract import LegacyModelWarning, extract
from mlpexport.network import Affine, Clip, Div, Gemm, Relu, Sub

X = np.random.default_rng(0).normal(size=(50, 3))
y = X[:, 0]


def test_classic_regressor_structure():
    net = network(get("reg_classic")[0])
    assert net.n_features == 12 and net.n_outputs == 1 and net.flat
    assert [layer.activation for layer in net.layers] == ["relu", "relu", "identity"]
    prog = net.program()
    assert [type(op) for op in (*prog.inputs, *prog.layers)] == [Sub, Div, Gemm, Relu, Gemm, Relu, Gemm]
    assert net.head.kind == "identity" and not net.is_classifier


def test_poisson_has_exp_head():
    assert network(get("reg_poisson")[0]).head.kind == "exp"


def test_with_mean_false_ignores_mean():
    est = get("reg_with_mean_false")[0]
    assert est.steps[0][1].mean_ is not None  # sklearn still sets it ...
    (step,) = network(est).inputs
    assert step.center is None and step.scale is not None  # ... and transform ignores it


def test_with_std_false_and_zero_variance():
    est = get("reg_with_std_false_zero_var")[0]
    first, second = network(est).inputs
    assert first.scale is None and first.center is not None
    assert second.scale[2] == 1.0  # zero-variance column: scale_ is 1


def test_minmax_and_maxabs_clip_become_clip_steps():
    steps = network(get("reg_minmax_clip_chain")[0]).inputs
    assert [type(s).__name__ for s in steps] == ["Affine", "Clip", "Affine", "Clip"]
    assert (steps[1].low, steps[1].high) == (-1.0, 2.0) and (steps[3].low, steps[3].high) == (-1.0, 1.0)


def test_classifier_heads_and_decisions():
    cases = {"clf_binary_int": ("logistic", "proba"), "clf_multi_str": ("softmax", "proba"),
             "clf_multilabel": ("multilabel", "proba"), "lr_binary": ("logistic", "logit"),
             "lr_multinomial": ("softmax", "logit"), "sgd_multiclass": ("ovr", "logit")}
    for name, (kind, decide) in cases.items():
        head = network(get(name)[0]).head
        assert (head.kind, head.decide) == (kind, decide), name


def test_legacy_ovr_warns_and_reproduces_old_probabilities():
    with pytest.warns(LegacyModelWarning, match="one-vs-rest"):
        net = extract(get("lr_legacy_ovr")[0])
    assert net.head.kind == "ovr"


def test_legacy_binary_multinomial():
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils.extmath import softmax
    from mlpexport.network import evaluate
    est = LogisticRegression().fit(X, y > 0)
    est.multi_class = "multinomial"
    with pytest.warns(LegacyModelWarning):
        net = extract(est)
    d = est.decision_function(X)
    np.testing.assert_allclose(evaluate(net, X)["predict_proba"], softmax(np.c_[-d, d]), rtol=1e-13)
    np.testing.assert_array_equal(evaluate(net, X)["predict"], est.predict(X))


def test_target_transform_and_2d_single_output():
    net = network(get("ttr_standard")[0])
    assert net.flat and [p[0] for p in net.target[0].parts()] == ["mul", "add"]
    assert not network(get("ttr_2d_single")[0]).flat




def _sgd_with_loss(loss):
    """An SGDClassifier whose loss mlpexport does not know (a newer scikit-learn's)."""
    est = SGDClassifier(loss="hinge").fit(X, y > 0)
    est.loss = loss
    return est


@pytest.mark.parametrize("est,message", [
    (DummyRegressor().fit(X, y), "DummyRegressor is not supported"),
    (make_pipeline(PCA(2), MLPRegressor(max_iter=5)).fit(X, y), "step 'pca' \\(PCA\\)"),
    (MLPRegressor(), "not fitted"),
    (_sgd_with_loss("new_loss"), "SGDClassifier\\(loss='new_loss'\\) is not supported"),
    (RidgeClassifier().fit(X, np.c_[y > 0, y > 1]), "RidgeClassifier fitted on multilabel"),
    (TransformedTargetRegressor(MLPRegressor(max_iter=5), func=np.sinh, inverse_func=np.arcsinh,
                                check_inverse=False).fit(X, y), "inverse_func 'arcsinh' is not supported"),
    ({"not": "a model"}, "dict is not supported"),
])
def test_refusals_name_what_is_wrong(est, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(UnsupportedModelError, match=message):
            extract(est)


def test_unknown_activation_and_inconsistent_shapes_are_refused():
    est = copy.deepcopy(get("reg_multi_tanh")[0])
    est.activation = "softplus"
    with pytest.raises(UnsupportedModelError, match="'softplus'.*identity, logistic, tanh, relu"):
        extract(est)
    est = copy.deepcopy(get("reg_multi_tanh")[0])
    est.coefs_[1] = est.coefs_[1][:-1]
    with pytest.raises(UnsupportedModelError, match="layer 2 has inconsistent shapes"):
        extract(est)
    est = copy.deepcopy(get("reg_classic")[0])
    est.steps[0][1].mean_ = est.steps[0][1].mean_[:5]
    with pytest.raises(UnsupportedModelError, match="x_center has shape"):
        extract(est)


def test_refusal_lists_what_is_supported():
    with pytest.raises(UnsupportedModelError) as info:
        extract(make_pipeline(StandardScaler(), DummyRegressor()).fit(X, y))
    for name in ("MLPRegressor", "MLPClassifier", "LogisticRegression", "SGDClassifier"):
        assert name in str(info.value)


def test_structures_are_plain_numpy():
    net = network(get("reg_minmax_clip_chain")[0])
    for step in net.inputs:
        assert isinstance(step, (Affine, Clip))
    assert all(v.dtype == np.float64 for v in net.arrays().values())


def test_feature_names_are_kept():
    est = MLPRegressor(hidden_layer_sizes=(3,), max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    est.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
    assert network(est).meta["feature_names"] == ["a", "b", "c"]


# ------------------------------------------------------------- edited model files

def _edited(name, edit):
    est = copy.deepcopy(get(name)[0])
    edit(est)
    return est


@pytest.mark.parametrize("name,edit,message", [
    ("reg_multi_tanh", lambda e: e.coefs_.__setitem__(0, e.coefs_[0] + 1j),
     r"MLPRegressor.coefs_\[0\] holds complex"),
    ("reg_multi_tanh", lambda e: e.intercepts_[1].__setitem__(0, np.nan),
     r"MLPRegressor.intercepts_\[1\] holds NaN"),
    ("lr_binary", lambda e: setattr(e[-1], "coef_", e[-1].coef_ * (1 + 0j)),
     "LogisticRegression.coef_ holds complex"),
    ("lr_binary", lambda e: setattr(e[-1], "intercept_", e[-1].intercept_ + np.inf),
     "LogisticRegression.intercept_ holds NaN or infinite"),
    ("reg_classic", lambda e: e.steps[0][1].scale_.__setitem__(1, 0.0), "StandardScaler.scale_ holds zeros"),
    ("reg_classic", lambda e: e.steps[0][1].scale_.__setitem__(1, np.nan), "StandardScaler.scale_ holds NaN"),
    ("reg_classic", lambda e: e.steps[0][1].mean_.__setitem__(0, np.inf), "StandardScaler.mean_ holds NaN"),
    ("ttr_standard", lambda e: e.transformer_.scale_.__setitem__(0, 0.0), "StandardScaler.scale_ holds zeros"),
], ids=["complex-W", "nan-b", "complex-coef", "inf-intercept", "zero-scale", "nan-scale", "inf-mean",
        "zero-target-scale"])
def test_edited_parameters_are_refused_naming_estimator_and_attribute(name, edit, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = _edited(name, edit)
        with pytest.raises(UnsupportedModelError, match=message):
            extract(est)


def test_deeply_nested_pipeline_is_refused_in_one_sentence():
    est = get("reg_multi_tanh")[0]
    from sklearn.pipeline import Pipeline
    for _ in range(3000):
        est = Pipeline([("inner", est)])
    with pytest.raises(UnsupportedModelError, match="more than 100 deep"):
        extract(est)


@pytest.mark.parametrize("steps", ["abc", [], [("a",)], [1, 2], [(1, StandardScaler())], None])
def test_malformed_pipeline_steps_are_refused(steps):
    est = copy.deepcopy(get("reg_classic")[0])
    est.steps = steps
    with pytest.raises(UnsupportedModelError, match=r"not a list of \(name, estimator\) pairs"):
        extract(est)


def test_sparse_coef_is_validated_before_it_is_expanded():
    from sklearn.linear_model import LogisticRegression
    from mlpexport.network import evaluate
    est = LogisticRegression().fit(X, y > 0).sparsify()
    np.testing.assert_allclose(evaluate(extract(est), X)["predict_proba"], est.predict_proba(X), rtol=1e-12)
    est.coef_.indices[0] = 10**6  # outside the matrix: scipy's toarray would write out of bounds
    with pytest.raises(UnsupportedModelError, match="malformed sparse matrix"):
        extract(est)
