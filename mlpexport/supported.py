"""What mlpexport exports: the one list of supported scikit-learn classes.

Everything that names supported estimators derives from `SUPPORTED` below: the safe
loader's allowlist of estimator classes (load.py), the refusal messages (load.py,
extract.py), `train --model`'s choices (train.py, cli.py) and the README's "Supported
models" table (tests/test_supported.py checks that the README shows `readme_table()`).

Plain strings only (no scikit-learn import): the command line's help and the loader read
it before anything heavy is imported. Supporting a new class is one entry here plus its
rule in extract.py.
"""
from __future__ import annotations

from dataclasses import dataclass

# Roles: what a class is to a model. "part" is an object a supported class holds (an
# optimizer, a loss, a label binarizer): trusted by the loader, never listed to users.
MODEL, STEP, TARGET, PART = "model", "step", "target transform", "part"


@dataclass(frozen=True)
class Entry:
    name: str          # the class as users write it
    module: str        # where today's scikit-learn defines it (the name pickles record)
    role: str          # MODEL, STEP, TARGET or PART
    family: str = ""   # the README table's row
    detail: str = ""   # shown after the name in the README table
    train: str = ""    # `mlpexport train --model` name, if train can fit it

    @property
    def shown(self) -> str:
        return f"`{self.name}`" + (f" ({self.detail})" if self.detail else "")


_MLP = "sklearn.neural_network._multilayer_perceptron"
_LOGISTIC = "sklearn.linear_model._logistic"
_SCALERS = "sklearn.preprocessing._data"
_LINEAR = "linear models and GLMs"
_CD = "sklearn.linear_model._coordinate_descent"
_GLM = "sklearn.linear_model._glm.glm"

SUPPORTED = (
    Entry("MLPRegressor", _MLP, MODEL, "multilayer perceptrons",
          'single/multi-output; `loss="squared_error"` and `"poisson"`', train="mlp-regressor"),
    Entry("MLPClassifier", _MLP, MODEL, "multilayer perceptrons",
          "binary, multiclass, multilabel; numeric, bool or string labels",
          train="mlp-classifier"),
    Entry("LogisticRegression", _LOGISTIC, MODEL, "logistic models",
          "binary, multinomial, and the one-vs-rest models older scikit-learn wrote",
          train="logistic"),
    Entry("LogisticRegressionCV", _LOGISTIC, MODEL, "logistic models"),
    Entry("SGDClassifier", "sklearn.linear_model._stochastic_gradient", MODEL,
          "logistic models", 'every `loss`; `predict_proba` for `"log_loss"` and `"modified_huber"`'),
    Entry("StandardScaler", _SCALERS, STEP, "preprocessing", "all `with_mean`/`with_std`"),
    Entry("MinMaxScaler", _SCALERS, STEP, "preprocessing", "incl. `clip=True`"),
    Entry("MaxAbsScaler", _SCALERS, STEP, "preprocessing", "incl. `clip`"),
    Entry("RobustScaler", _SCALERS, STEP, "preprocessing"),
    Entry("SimpleImputer", "sklearn.impute._base", STEP, "preprocessing",
          "mean, median, most_frequent, constant (numbers or text); `missing_values` NaN (or "
          "None for text); `add_indicator`, `keep_empty_features`"),
    Entry("OneHotEncoder", "sklearn.preprocessing._encoders", STEP, "preprocessing",
          "numbers or text; `handle_unknown` error/ignore/infrequent_if_exist; `drop` "
          "first/if_binary/explicit; `min_frequency`, `max_categories`"),
    Entry("OrdinalEncoder", "sklearn.preprocessing._encoders", STEP, "preprocessing",
          "numbers or text; `handle_unknown` error/use_encoded_value, `unknown_value`, "
          "`encoded_missing_value`"),
    Entry("PolynomialFeatures", "sklearn.preprocessing._polynomial", STEP, "preprocessing",
          "`degree`, `interaction_only`, `include_bias`"),
    Entry("SelectKBest", "sklearn.feature_selection._univariate_selection", STEP, "feature selectors"),
    Entry("SelectPercentile", "sklearn.feature_selection._univariate_selection", STEP,
          "feature selectors"),
    Entry("VarianceThreshold", "sklearn.feature_selection._variance_threshold", STEP,
          "feature selectors"),
    Entry("SelectFromModel", "sklearn.feature_selection._from_model", STEP, "feature selectors",
          "around a supported model"),
    Entry("FunctionTransformer", "sklearn.preprocessing._function_transformer", STEP,
          "preprocessing", "`func` numpy's `log1p`, `expm1`, `log`, `exp`, `sqrt` or `square`"),
    Entry("ColumnTransformer", "sklearn.compose._column_transformer", STEP, "preprocessing",
          'columns by name, index, slice or mask; branches of the steps above, '
          'a Pipeline of them, `"passthrough"`, `"drop"`; `remainder` drop/passthrough; `transformer_weights`'),
    Entry("Pipeline", "sklearn.pipeline", STEP, "preprocessing",
          'of the steps above and `"passthrough"`, before the model'),
    Entry("TransformedTargetRegressor", "sklearn.compose._target", TARGET, "target transforms",
          "whose `transformer` is one of the scalers above, or `func`/`inverse_func` numpy's "
          "`log1p`/`expm1`, `log`/`exp`, `sqrt`/`square`"),
    Entry("AdamOptimizer", "sklearn.neural_network._stochastic_optimizers", PART),
    Entry("SGDOptimizer", "sklearn.neural_network._stochastic_optimizers", PART),
    Entry("Log", "sklearn.linear_model._sgd_fast", PART),  # SGDClassifier's loss, sklearn < 1.4
    Entry("CyHalfBinomialLoss", "sklearn._loss._loss", PART),  # SGDClassifier's loss, newer
    Entry("LabelBinarizer", "sklearn.preprocessing._label", PART),  # MLPClassifier's
    # linear models and GLMs: predict is X @ coef_ + intercept_ (GLMs: its inverse link);
    # classifiers decide on that score, as scikit-learn's decision_function
    Entry("LinearRegression", "sklearn.linear_model._base", MODEL, _LINEAR, "single/multi-output",
          train="linear"),
    Entry("Ridge", "sklearn.linear_model._ridge", MODEL, _LINEAR, train="ridge"),
    Entry("RidgeCV", "sklearn.linear_model._ridge", MODEL, _LINEAR),
    Entry("Lasso", _CD, MODEL, _LINEAR),
    Entry("LassoCV", _CD, MODEL, _LINEAR),
    Entry("ElasticNet", _CD, MODEL, _LINEAR),
    Entry("ElasticNetCV", _CD, MODEL, _LINEAR),
    Entry("MultiTaskLasso", _CD, MODEL, _LINEAR),
    Entry("MultiTaskLassoCV", _CD, MODEL, _LINEAR),
    Entry("MultiTaskElasticNet", _CD, MODEL, _LINEAR),
    Entry("MultiTaskElasticNetCV", _CD, MODEL, _LINEAR),
    Entry("Lars", "sklearn.linear_model._least_angle", MODEL, _LINEAR),
    Entry("LassoLars", "sklearn.linear_model._least_angle", MODEL, _LINEAR),
    Entry("BayesianRidge", "sklearn.linear_model._bayes", MODEL, _LINEAR, "no `return_std`"),
    Entry("ARDRegression", "sklearn.linear_model._bayes", MODEL, _LINEAR, "no `return_std`"),
    Entry("HuberRegressor", "sklearn.linear_model._huber", MODEL, _LINEAR),
    Entry("QuantileRegressor", "sklearn.linear_model._quantile", MODEL, _LINEAR),
    Entry("SGDRegressor", "sklearn.linear_model._stochastic_gradient", MODEL, _LINEAR, "every `loss`"),
    Entry("LinearSVR", "sklearn.svm._classes", MODEL, _LINEAR),
    Entry("PoissonRegressor", _GLM, MODEL, _LINEAR, train="poisson"),
    Entry("GammaRegressor", _GLM, MODEL, _LINEAR),
    Entry("TweedieRegressor", _GLM, MODEL, _LINEAR, 'every `power`; `link="auto"`, `"identity"`, `"log"`'),
    Entry("RidgeClassifier", "sklearn.linear_model._ridge", MODEL, _LINEAR,
          "binary, multiclass; `decision_function`, no `predict_proba`"),
    Entry("RidgeClassifierCV", "sklearn.linear_model._ridge", MODEL, _LINEAR),
    Entry("LinearSVC", "sklearn.svm._classes", MODEL, _LINEAR, "incl. `crammer_singer`",
          train="linear-svc"),
    Entry("Perceptron", "sklearn.linear_model._perceptron", MODEL, _LINEAR),
    Entry("PassiveAggressiveClassifier", "sklearn.linear_model._passive_aggressive", MODEL, _LINEAR),
    # what these hold: SGD's loss objects (_sgd_fast in every version, _loss's Cython losses
    # in newer ones), the GLMs' loss and link objects
    *(Entry(n, "sklearn.linear_model._sgd_fast", PART) for n in (
        "Hinge", "ModifiedHuber", "SquaredHinge", "EpsilonInsensitive",
        "SquaredEpsilonInsensitive", "SquaredLoss", "Huber")),
    *(Entry(n, "sklearn._loss._loss", PART) for n in (
        "CyHalfSquaredError", "CyHuberLoss", "CyHalfPoissonLoss", "CyHalfGammaLoss",
        "CyHalfTweedieLoss", "CyHalfTweedieLossIdentity")),
    *(Entry(n, "sklearn._loss.loss", PART) for n in (
        "HalfPoissonLoss", "HalfGammaLoss", "HalfTweedieLoss", "HalfTweedieLossIdentity")),
    *(Entry(n, "sklearn._loss.link", PART) for n in ("Interval", "LogLink", "IdentityLink")),
    Entry("MissingIndicator", "sklearn.impute._base", PART),
    # a ColumnTransformer built with make_column_selector keeps it among its parameters;
    # the fitted transformers_ hold the columns it chose, which extract reads
    Entry("make_column_selector", "sklearn.compose._column_transformer", PART),  # SimpleImputer(add_indicator=True)'s
    # numpy's ufuncs a FunctionTransformer (or a TransformedTargetRegressor's func and
    # inverse_func) may hold: trusted by exact name, nothing else from numpy.
    *(Entry(fn, "numpy", PART) for fn in ("log1p", "expm1", "log", "exp", "sqrt", "square")),
    # The scoring functions a univariate selector keeps (score_func): plain functions.
    Entry("f_classif", "sklearn.feature_selection._univariate_selection", PART),
    Entry("f_regression", "sklearn.feature_selection._univariate_selection", PART),
    Entry("chi2", "sklearn.feature_selection._univariate_selection", PART),
    Entry("mutual_info_classif", "sklearn.feature_selection._mutual_info", PART),
    Entry("mutual_info_regression", "sklearn.feature_selection._mutual_info", PART),
)


def classes(*roles: str) -> set[tuple[str, str]]:
    """(module, name) of every supported class (of the given roles): the loader's allowlist."""
    return {(e.module, e.name) for e in SUPPORTED if not roles or e.role in roles}


def names(*roles: str) -> list[str]:
    """Class names users write, in the registry's order (of the given roles)."""
    return [e.name for e in SUPPORTED if e.role in (roles or (MODEL, STEP, TARGET))]


def summary() -> str:
    """One sentence for refusal messages: the models, then the steps around them."""
    models = names(MODEL)
    steps = [n for n in names(STEP) if n != "Pipeline"]
    return (f"{', '.join(models[:-1])} and {models[-1]}, optionally behind "
            f"{', '.join(steps)} or 'passthrough' steps in a Pipeline or inside a "
            f"{' or '.join(names(TARGET))}")


def train_models() -> tuple[str, ...]:
    """`mlpexport train --model` choices."""
    return tuple(e.train for e in SUPPORTED if e.train)


def readme_table() -> str:
    """The README's "Supported models" table, one row per family in registry order."""
    rows: dict[str, list[str]] = {}
    for e in SUPPORTED:
        if e.role != PART:
            rows.setdefault(e.family, []).append(e.shown)
    lines = ["| family | estimators |", "|---|---|"]
    lines += [f"| {family} | {', '.join(shown)} |" for family, shown in rows.items()]
    return "\n".join(lines)
