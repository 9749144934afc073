"""Every row of the contract's model table, fitted quickly and deterministically.

ZOO[name]() -> (estimator, X_train). The parity tests of every target run on all of
them; sizes are small so the whole zoo fits in a couple of seconds.
"""
from __future__ import annotations

import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, SGDClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, RobustScaler, StandardScaler


def _data(n=120, f=6, seed=0, offset=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    X = offset + scale * rng.normal(size=(n, f))
    return X, rng


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", DataConversionWarning)
        warnings.simplefilter("ignore", FutureWarning)
        return est.fit(X, y), X


def _mlp_reg(**kw):
    kw.setdefault("hidden_layer_sizes", (8,))
    kw.setdefault("max_iter", 60)
    kw.setdefault("random_state", 0)
    return MLPRegressor(**kw)


def _mlp_clf(**kw):
    kw.setdefault("hidden_layer_sizes", (8,))
    kw.setdefault("max_iter", 60)
    kw.setdefault("random_state", 0)
    return MLPClassifier(**kw)


def _y3(X):
    return np.digitize(X[:, 0] + 0.5 * X[:, 1], [-0.4, 0.4])


def reg_classic():  # the 12-(11,10)-1 regressor behind a StandardScaler
    X, rng = _data(200, 12, offset=5.0, scale=3.0)
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] / 10
    return _fit(make_pipeline(StandardScaler(), _mlp_reg(hidden_layer_sizes=(11, 10), max_iter=200)), X, y)


def reg_multi_tanh():
    X, _ = _data()
    Y = np.stack([X[:, 0], X[:, 1] ** 2, np.tanh(X[:, 2])], axis=1)
    return _fit(_mlp_reg(activation="tanh", hidden_layer_sizes=(7, 5)), X, Y)


def reg_poisson():
    X, rng = _data()
    y = rng.poisson(np.exp(0.5 * X[:, 0]))
    return _fit(make_pipeline(MinMaxScaler(), _mlp_reg(loss="poisson", activation="logistic")), X, y)


def reg_identity_robust():
    X, _ = _data(offset=100.0, scale=10.0)
    return _fit(make_pipeline(RobustScaler(), _mlp_reg(activation="identity")), X, X[:, 0] - X[:, 3])


def reg_float32():
    X, _ = _data()
    X = X.astype(np.float32)
    est, _ = _fit(_mlp_reg(), X, (X[:, 0] * 2).astype(np.float32))
    return est, X.astype(np.float64)


def reg_with_mean_false():
    X, _ = _data(offset=3.0)
    return _fit(make_pipeline(StandardScaler(with_mean=False), _mlp_reg()), X, X.sum(axis=1))


def reg_with_std_false_zero_var():
    X, _ = _data()
    X[:, 2] = 4.0  # zero-variance column: scale_ is 1 there
    return _fit(make_pipeline(StandardScaler(with_std=False), StandardScaler(), _mlp_reg()), X, X[:, 0])


def reg_minmax_clip_chain():
    X, _ = _data()
    est = make_pipeline(MinMaxScaler(feature_range=(-1, 2), clip=True), "passthrough",
                        MaxAbsScaler(clip=True), _mlp_reg(activation="relu"))
    return _fit(est, X, X[:, 0] + X[:, 1])


def reg_robust_flags():
    X, _ = _data()
    est = make_pipeline(RobustScaler(with_centering=False), RobustScaler(with_scaling=False),
                        _mlp_reg())
    return _fit(est, X, X[:, 1])


def ttr_standard():
    X, _ = _data()
    est = TransformedTargetRegressor(make_pipeline(StandardScaler(), _mlp_reg()),
                                     transformer=StandardScaler())
    return _fit(est, X, 1000 + 50 * X[:, 0])


def ttr_minmax_multi():
    X, _ = _data()
    est = TransformedTargetRegressor(_mlp_reg(), transformer=MinMaxScaler())
    return _fit(est, X, np.stack([X[:, 0], 10 * X[:, 1]], axis=1))


def ttr_2d_single():  # y of shape (n, 1): predict keeps (n, 1)
    X, _ = _data()
    est = TransformedTargetRegressor(_mlp_reg(), transformer=RobustScaler())
    return _fit(est, X, X[:, :1] * 3)


def ttr_maxabs():
    X, _ = _data()
    est = TransformedTargetRegressor(_mlp_reg(), transformer=MaxAbsScaler())
    return _fit(est, X, X[:, 0] * 7)


def clf_binary_int():
    X, _ = _data()
    return _fit(make_pipeline(StandardScaler(), _mlp_clf()), X, (X[:, 0] > 0).astype(int) * 5 + 2)


def clf_binary_str():
    X, _ = _data()
    return _fit(_mlp_clf(activation="tanh"), X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no"))


def clf_binary_bool():
    X, _ = _data()
    return _fit(_mlp_clf(activation="logistic"), X, X[:, 2] > 0)


def clf_multi_str():
    X, _ = _data()
    y = np.array(["setosa", "versicolor", "virginica"], dtype=object)[_y3(X)]
    return _fit(make_pipeline(StandardScaler(), _mlp_clf(hidden_layer_sizes=(6, 4))), X, y)


def clf_multi_float():
    X, _ = _data()
    return _fit(_mlp_clf(activation="identity"), X, np.array([1.0, 2.0, 3.0])[_y3(X)])


def clf_multilabel():
    X, _ = _data()
    Y = np.stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0], axis=1).astype(int)
    return _fit(_mlp_clf(), X, Y)


def lr_binary():
    X, _ = _data()
    return _fit(make_pipeline(StandardScaler(), LogisticRegression()), X, np.where(X[:, 0] > 0, "pos", "neg"))


def lr_multinomial():
    X, _ = _data()
    return _fit(make_pipeline(MaxAbsScaler(), LogisticRegression(C=10.0)), X, _y3(X))


def lr_cv():
    X, _ = _data()
    return _fit(LogisticRegressionCV(Cs=3, cv=3), X, _y3(X))


def lr_liblinear_binary():
    X, _ = _data()
    return _fit(LogisticRegression(solver="liblinear"), X, (X[:, 1] > 0).astype(int))


def lr_legacy_ovr():
    """A one-vs-rest model as scikit-learn < 1.8 wrote it (multi_class='ovr')."""
    X, _ = _data()
    est, X = _fit(LogisticRegression(), X, _y3(X))
    est.multi_class = "ovr"
    return est, X


def sgd_binary():
    X, _ = _data()
    return _fit(make_pipeline(StandardScaler(), SGDClassifier(loss="log_loss", random_state=0)),
                X, (X[:, 0] > 0).astype(int))


def sgd_multiclass():
    X, _ = _data()
    return _fit(SGDClassifier(loss="log_loss", random_state=0), X, np.array(["a", "b", "c"])[_y3(X)])


ZOO = {f.__name__: f for f in [
    reg_classic, reg_multi_tanh, reg_poisson, reg_identity_robust, reg_float32,
    reg_with_mean_false, reg_with_std_false_zero_var, reg_minmax_clip_chain, reg_robust_flags,
    ttr_standard, ttr_minmax_multi, ttr_2d_single, ttr_maxabs,
    clf_binary_int, clf_binary_str, clf_binary_bool, clf_multi_str, clf_multi_float,
    clf_multilabel, lr_binary, lr_multinomial, lr_cv, lr_liblinear_binary, lr_legacy_ovr,
    sgd_binary, sgd_multiclass,
]}

_cache: dict = {}


def get(name):
    """Fitted once per test session."""
    if name not in _cache:
        _cache[name] = ZOO[name]()
    return _cache[name]
