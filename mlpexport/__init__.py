"""mlpexport: run a trained scikit-learn MLP or logistic model anywhere, with the same answers.

    load(path) -> Loaded          safe loading of .skops / .pkl / .joblib
    extract(estimator) -> Network the framework-free model description
    export(net, outdir, name, targets=...)   numpy / onnx / matlab files
    check(estimator, net, X, ...) -> Report  every export against scikit-learn's predict
"""
__version__ = "0.1.0"
