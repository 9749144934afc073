"""Model file -> fitted estimator, without running code from the file.

- `.skops`: skops, trusting only the types on ALLOWED (the optimizer objects that
  MLPs trained with adam/sgd carry must be trusted explicitly).
- `.pkl` / `.pickle` / `.joblib`: one unpickler (joblib's, which also reads plain
  pickles) whose `find_class` allows an exact list of (module, name) pairs. Names
  with dots are refused (protocol 4 would resolve them attribute by attribute), and
  joblib's nested object-array pickles go through the same `find_class`.
- Array constructors are wrapped so a tiny file cannot ask for gigabytes.

Knows nothing of networks.
"""
from __future__ import annotations

import importlib
import os
import pickle
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ModelFileError, UnsafeModelError

MAX_FILE_BYTES = 512 * 2**20
MAX_ARRAY_BYTES = 512 * 2**20
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
MODEL_SUFFIXES = (".skops", *PICKLE_SUFFIXES)

ESTIMATORS = {
    ("sklearn.neural_network._multilayer_perceptron", "MLPRegressor"),
    ("sklearn.neural_network._multilayer_perceptron", "MLPClassifier"),
    ("sklearn.neural_network._stochastic_optimizers", "AdamOptimizer"),
    ("sklearn.neural_network._stochastic_optimizers", "SGDOptimizer"),
    ("sklearn.linear_model._logistic", "LogisticRegression"),
    ("sklearn.linear_model._logistic", "LogisticRegressionCV"),
    ("sklearn.linear_model._stochastic_gradient", "SGDClassifier"),
    ("sklearn.linear_model._sgd_fast", "Log"),  # SGDClassifier's loss, scikit-learn < 1.4
    ("sklearn._loss._loss", "CyHalfBinomialLoss"),  # SGDClassifier's loss, newer
    ("sklearn.preprocessing._data", "StandardScaler"),
    ("sklearn.preprocessing._data", "MinMaxScaler"),
    ("sklearn.preprocessing._data", "MaxAbsScaler"),
    ("sklearn.preprocessing._data", "RobustScaler"),
    ("sklearn.preprocessing._label", "LabelBinarizer"),
    ("sklearn.pipeline", "Pipeline"),
    ("sklearn.compose._target", "TransformedTargetRegressor"),
}
NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.random._pickle", "__randomstate_ctor"),
    ("numpy.random._pickle", "__bit_generator_ctor"),
    ("numpy.random.mtrand", "RandomState"),
    ("numpy.random._mt19937", "MT19937"),
    ("numpy.random.bit_generator", "SeedSequence"),
    ("numpy.random.bit_generator", "__pyx_unpickle_SeedSequence"),
    ("_codecs", "encode"),  # protocol 2 writes bytes as _codecs.encode(str, 'latin1')
    ("joblib.numpy_pickle", "NumpyArrayWrapper"),
}
ALLOWED = ESTIMATORS | NUMPY
SUPPORTED = ("MLPRegressor, MLPClassifier, LogisticRegression, LogisticRegressionCV and "
             "SGDClassifier(loss='log_loss'), optionally behind StandardScaler, MinMaxScaler, "
             "MaxAbsScaler, RobustScaler or 'passthrough' steps in a Pipeline or inside a "
             "TransformedTargetRegressor")


def _array_bytes(shape, dtype) -> int:
    dims = shape if isinstance(shape, (tuple, list)) else (shape,)
    try:
        n = 1
        for d in dims:
            n *= int(d)
        return n * np.dtype(dtype).itemsize
    except (TypeError, ValueError) as exc:
        raise UnsafeModelError(f"the model file asks for an array of shape {shape!r}: {exc}.") from None


def _check_size(shape, dtype):
    size = _array_bytes(shape, dtype)
    if size < 0 or size > MAX_ARRAY_BYTES:
        raise UnsafeModelError(
            f"the model file asks for an array of shape {tuple(shape)} ({size} bytes), more "
            f"than the {MAX_ARRAY_BYTES // 2**20} MiB mlpexport allows; refused.")


def _reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise UnsafeModelError(f"the model file asks for an array of type {subtype!r}; refused.")
    _check_size(shape, dtype)
    return np.ndarray.__new__(subtype, shape, dtype)


def _frombuffer(buf, dtype, shape, order):
    _check_size(shape, dtype)
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _checked_wrapper():
    from joblib.numpy_pickle import NumpyArrayWrapper

    class CheckedArrayWrapper(NumpyArrayWrapper):
        def read(self, unpickler, ensure_native_byte_order):
            _check_size(self.shape, self.dtype)
            return super().read(unpickler, ensure_native_byte_order)

    return CheckedArrayWrapper


_REPLACED = {
    ("numpy._core.multiarray", "_reconstruct"): lambda: _reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): lambda: _reconstruct,
    ("numpy._core.numeric", "_frombuffer"): lambda: _frombuffer,
    ("numpy.core.numeric", "_frombuffer"): lambda: _frombuffer,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _checked_wrapper,
}


def allowed_global(module: str, name: str):
    """find_class for untrusted files: the exact pairs on the list, nothing else."""
    if "." in name:
        raise UnsafeModelError(
            f"the model file refers to {module}.{name} through a dotted name, which "
            f"mlpexport never loads; nothing from the file was run.")
    if (module, name) in _REPLACED:
        return _REPLACED[(module, name)]()
    if (module, name) not in ALLOWED and module.split(".")[0] == "sklearn" and name[:1].isupper():
        raise UnsafeModelError(
            f"{name} ({module}) is not supported, so the model file was refused without "
            f"running any of it. mlpexport exports {SUPPORTED}.")
    if (module, name) not in ALLOWED:
        raise UnsafeModelError(
            f"the model file needs {module}.{name}, which is not on mlpexport's allowlist "
            f"of model types, so it was refused without running any of it. If you wrote "
            f"this file yourself, --trust-pickle loads it anyway.")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise ModelFileError(
            f"the model file needs {module}.{name}, which this scikit-learn/numpy does not "
            f"have; it was written by an incompatible version.") from None


@dataclass
class Loaded:
    estimator: object
    path: str
    saved_version: str | None  # scikit-learn version that wrote it, when it differs


def load(path, *, trust_pickle: bool = False) -> Loaded:
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(
            f"{path}: unknown model file type {suffix or '(none)'!r}; use .skops, .pkl, "
            f".pickle or .joblib.")
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file.")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path} is {size // 2**20} MiB, more than the {MAX_FILE_BYTES // 2**20} MiB "
            f"mlpexport reads for a model.")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if suffix == ".skops":
            est = _load_skops(path, trust_pickle)
        else:
            est = _load_pickle(path, trust_pickle)
    saved = None
    for w in caught:
        saved = getattr(w.message, "original_sklearn_version", None) or saved
        if saved:
            break
    for w in caught:  # anything else the estimator said while loading is passed on
        if getattr(w.message, "original_sklearn_version", None) is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return Loaded(est, path, saved)


def _load_skops(path, trust):
    import skops.io as sio

    trusted_names = {f"{m}.{n}" for m, n in ALLOWED}
    try:
        untrusted = sio.get_untrusted_types(file=path)
        refused = [t for t in untrusted if t not in trusted_names]
        if refused and not trust:
            raise UnsafeModelError(
                f"{path} needs {', '.join(refused)}, which is not on mlpexport's allowlist "
                f"of model types, so it was refused without loading it. If you wrote this "
                f"file yourself, --trust-pickle loads it anyway.")
        return sio.load(path, trusted=untrusted)
    except UnsafeModelError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable .skops file ({_brief(exc)}).") from None


def _load_pickle(path, trust):
    import joblib
    from joblib.numpy_pickle import NumpyUnpickler, _validate_fileobject_and_memmap

    class SafeUnpickler(NumpyUnpickler):
        def find_class(self, module, name):
            return allowed_global(module, name)

    try:
        if trust:
            return joblib.load(path)
        with open(path, "rb") as f:
            with _validate_fileobject_and_memmap(f, path, None) as (fobj, _):
                if isinstance(fobj, str):
                    raise ModelFileError(f"{path} was written by joblib < 0.10, which is not supported.")
                return SafeUnpickler(path, fobj, ensure_native_byte_order=True).load()
    except (UnsafeModelError, ModelFileError):
        raise
    except MemoryError:
        raise UnsafeModelError(f"{path} asks for more memory than is available; refused.") from None
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable model file ({_brief(exc)}).") from None


def _brief(exc) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__
