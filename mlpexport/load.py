"""Model file -> fitted estimator, without running code from the file.

- `.skops`: skops, trusting only the types on ALLOWED (the optimizer objects that
  MLPs trained with adam/sgd carry must be trusted explicitly); skops trusts every
  scikit-learn estimator by default, so the schema's scikit-learn types are held to
  ALLOWED as well. Before skops reads anything, the zip's directory, every `.npy`
  header and the zips inside it (sparse matrices) are checked against the size
  limits (a deflated zip member can expand a thousandfold).
- `.pkl` / `.pickle` / `.sav` / `.joblib`: one unpickler (joblib's, which also reads
  plain pickles) whose `find_class` allows an exact list of (module, name) pairs, plus
  an exact table of the paths older scikit-learn/numpy/Python versions wrote for the
  same classes (LEGACY). Names with dots are refused (protocol 4 would resolve them
  attribute by attribute), and joblib's nested object-array pickles go through the
  same `find_class` and the same checks.
- Every array is checked against the limits from its declared shape and dtype BEFORE
  it is allocated (the array constructors are wrapped, and numpy's `__setstate__` is
  inspected before it runs), and the decompressed stream is capped, so a small file
  cannot ask for gigabytes.

Knows nothing of networks.
"""
from __future__ import annotations

import functools
import importlib
import json
import os
import pickle
import warnings
from dataclasses import dataclass

import numpy as np

from . import supported
from .errors import ExportError, ModelFileError, UnsafeModelError

MAX_FILE_BYTES = 512 * 2**20  # the model file on disk
MAX_ARRAY_BYTES = 512 * 2**20  # one array
MAX_TOTAL_BYTES = 512 * 2**20  # all arrays of one file together; also the decompressed stream
# A .skops schema.json: skops writes each text category as a small JSON object (~500
# bytes), so 128 MiB holds about 250,000 of them; a 48 MiB schema (10**5 categories)
# loads in 320 MiB peak memory, parsing takes about 4x the schema's size.
MAX_SCHEMA_BYTES = 128 * 2**20
MAX_ZIP_MEMBERS = 10_000
# Opcodes one pickle may run. Most push one object for one byte of stream (NONE, a
# memo GET), 8+ bytes of memory each, so the stream cap alone would let a small gzip
# ask for gigabytes of references. The fixtures need at most ~4,000 (a 1000-class MLP
# too); arrays are one opcode each, a text category about two (10**5 of them: 200,000).
MAX_PICKLE_OPS = 1_000_000
PICKLE_SUFFIXES = (".pkl", ".pickle", ".sav", ".joblib")
MODEL_SUFFIXES = (".skops", *PICKLE_SUFFIXES)

ESTIMATORS = supported.classes()  # every supported class and the parts they hold
# A sparsified LogisticRegression (`.sparsify()`) keeps coef_ as this exact class;
# extract validates its index arrays before using them.
SPARSE = {("scipy.sparse._csr", "csr_matrix")}
ABSTRACT_NUMPY_TYPES = ("generic", "number", "integer", "signedinteger", "unsignedinteger",
                        "inexact", "floating", "complexfloating", "flexible", "character")
NUMPY = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    # an encoder's `dtype` parameter holds one of these classes (np.float64 by default);
    # calling one only makes a number
    *(("numpy", t) for t in ("float64", "float32", "int64", "int32", "uint8", "bool_")),
    # make_column_selector(dtype_include=np.number) keeps the type as a parameter: numpy's
    # abstract scalar types cannot even be called ("cannot create 'numpy.number' instances")
    *(("numpy", t) for t in ABSTRACT_NUMPY_TYPES),
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
# A fitted ColumnTransformer keeps its output column ranges (output_indices_) as slices:
# slice(start, stop, step) only stores its three arguments.
PLAIN = {("builtins", "slice")}
ALLOWED = ESTIMATORS | SPARSE | NUMPY | PLAIN

_OLD_PATHS = "scikit-learn < 0.22 module paths"
# scikit-learn 0.22 made its modules private (sklearn.linear_model.ridge became _ridge):
# the old path of a supported class is today's without the underscore, except for these
# modules (None: private from the start or newer than 0.22, so no other path ever held it).
_OLD_MODULES = {
    "sklearn.preprocessing._function_transformer": None,
    "sklearn.compose._column_transformer": None,
    "sklearn.compose._target": None,
    "sklearn.preprocessing._encoders": None,
    "sklearn.linear_model._quantile": None,  # scikit-learn 1.0
    "sklearn.impute._base": "sklearn.impute",  # one module in 0.20-0.21
    "sklearn.feature_selection._mutual_info": "sklearn.feature_selection.mutual_info_",
    "sklearn.preprocessing._polynomial": "sklearn.preprocessing.data",  # _polynomial: 1.0
}


def _old_module(module: str) -> str | None:
    """Where scikit-learn < 0.22 kept what today's `module` holds, or None."""
    if module in _OLD_MODULES:
        return _OLD_MODULES[module]
    top, package, *rest = module.split(".") + [""]
    if top == "sklearn" and len(rest) == 2 and not package.startswith("_") and rest[0][:1] == "_":
        return f"sklearn.{package}.{rest[0][1:]}"
    return None


# Old (module, name) -> (the allowed pair it is today, which era wrote it). Exact pairs
# only: an old module path never opens anything but the one class it held. The
# pre-0.22 paths are derived from the registry of supported classes, so a class added
# there is readable from an old pickle too.
LEGACY = {
    **{(_old_module(m), n): ((m, n), _OLD_PATHS) for m, n in sorted(ESTIMATORS) if _old_module(m)},
    ("sklearn.preprocessing._data", "PolynomialFeatures"):
        (("sklearn.preprocessing._polynomial", "PolynomialFeatures"), "scikit-learn 0.22-0.24"),
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"):
        (("joblib.numpy_pickle", "NumpyArrayWrapper"),
         "sklearn.externals.joblib of scikit-learn < 0.23"),
    ("numpy.random", "__RandomState_ctor"):
        (("numpy.random._pickle", "__randomstate_ctor"), "numpy < 1.17"),
    ("_loss", "CyHalfBinomialLoss"):
        (("sklearn._loss._loss", "CyHalfBinomialLoss"),
         "the bare '_loss' module name some scikit-learn 1.6-1.8 builds record"),
    ("scipy.sparse.csr", "csr_matrix"): (("scipy.sparse._csr", "csr_matrix"), "scipy < 1.8"),
}
SUPPORTED = supported.summary()
_SUPPORTED_NAMES = {n for _, n in ESTIMATORS}
_MODELS = supported.classes(supported.MODEL)
# Where the objects a model holds live (losses, links): an unknown class there is a part
# of the model the user wrote (another scikit-learn's loss), so refusals name the model.
_PART_MODULES = {m for m, _ in supported.classes(supported.PART)} | {"_loss"}


def _part_refusal(model, module, name, refused):
    return UnsafeModelError(
        f"this {model} holds an object mlpexport does not know ({name} from {module}, e.g. "
        f"a loss or link of another scikit-learn version), so the model file was {refused}. "
        f"mlpexport exports {SUPPORTED}.")


# ------------------------------------------------------------------ size limits

def _array_bytes(shape, dtype) -> int:
    dims = shape if isinstance(shape, (tuple, list)) else (shape,)
    try:
        n = 1
        for d in dims:
            d = int(d) if isinstance(d, (int, np.integer)) and not isinstance(d, bool) else None
            if d is None or d < 0:
                raise ValueError("dimensions must be non-negative integers")
            n *= d
        # At least a byte per element: a zero-size dtype (S0, V0) takes no memory here
        # but its 10**12 elements would, the moment anything converts them.
        return n * max(np.dtype(dtype).itemsize, 1)
    except (TypeError, ValueError) as exc:
        raise UnsafeModelError(f"the model file asks for an array of shape {shape!r}: {exc}.") from None


def _too_big(what, size, limit, scope, subject="the model file"):
    raise UnsafeModelError(
        f"{subject} asks for {what} ({size} bytes), more than the {limit // 2**20} MiB "
        f"mlpexport allows {scope}; refused before allocating it.")


class _Budget:
    """What one model file (or one file of an export: `subject`, `whole`) may still
    allocate: per array, and in total."""

    def __init__(self, subject="the model file", whole="a model"):
        self.left = MAX_TOTAL_BYTES
        self.subject, self.whole = subject, whole

    def take(self, size: int, what: str):
        if size > MAX_ARRAY_BYTES:
            _too_big(what, size, MAX_ARRAY_BYTES, "for one array", self.subject)
        if size > self.left:
            _too_big(what, size, MAX_TOTAL_BYTES, f"for all arrays of {self.whole} together "
                     f"(only {self.left} bytes were left)", self.subject)
        self.left -= size

    def array(self, shape, dtype):
        size = _array_bytes(shape, dtype)  # also checks that shape is integers
        dims = shape if isinstance(shape, (tuple, list)) else (shape,)
        self.take(size, f"an array of shape {tuple(int(d) for d in dims)}")


class _CappedReader:
    """A read-only file view that refuses to hand out more than `limit` bytes in total.

    Decompressing joblib's gzip/zlib/lzma streams happens inside read(): capping what
    is read caps what is decompressed, and a declared length (BINBYTES8, a frame) that
    exceeds what is left is refused before anything of that size is allocated."""

    def __init__(self, f, limit):
        self._f, self._left = f, limit

    def _take(self, n):
        if n > self._left:
            _too_big("a decompressed stream longer than that", MAX_TOTAL_BYTES - self._left + n,
                     MAX_TOTAL_BYTES, "for a model file")
        self._left -= n

    def read(self, n=-1):
        if n is not None and n > self._left:  # a declared length no file may have
            self._take(n)
        if n is None or n < 0:
            n = self._left + 1  # one byte more tells a stream that is too long
        data = self._f.read(n)
        self._take(len(data))
        return data

    def readline(self, n=-1):
        if n is None or n < 0 or n > self._left:
            n = self._left + 1
        data = self._f.readline(n)
        self._take(len(data))
        return data


# ------------------------------------------------------- checked constructors

class _NdarrayType:
    """Stands in for `numpy.ndarray` in untrusted files: calling the class allocates
    whatever shape the file names, so a call is checked first. `_reconstruct` and
    joblib's array wrapper take it as the plain ndarray type it names."""

    def __init__(self, ctx):
        self._ctx = ctx

    def __call__(self, shape, dtype=float, buffer=None, offset=0, strides=None, order=None):
        if buffer is None:
            self._ctx.budget.array(shape, dtype)
        return np.ndarray(shape, dtype, buffer, offset, strides, order)


def _plain_type(subtype):
    return np.ndarray if isinstance(subtype, _NdarrayType) else subtype


def _reconstruct(ctx, subtype, shape, dtype):
    if _plain_type(subtype) is not np.ndarray:
        raise UnsafeModelError(f"the model file asks for an array of type {subtype!r}; refused.")
    ctx.budget.array(shape, dtype)
    return np.ndarray.__new__(np.ndarray, shape, dtype)


def _frombuffer(ctx, buf, dtype, shape, order):
    ctx.budget.array(shape, dtype)
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order=order)


def _check_array_state(ctx, state):
    """numpy's ndarray.__setstate__ allocates the shape it is given, and with an object
    dtype and a short item list it reads past the list (a segfault, numpy 2.4): check
    shape, dtype and data against each other and the budget before it runs."""
    if not isinstance(state, tuple) or len(state) not in (4, 5):
        raise UnsafeModelError("the model file holds an array with a malformed state; refused.")
    shape, dtype, _fortran, data = state[-4:]
    if not isinstance(dtype, np.dtype):
        raise UnsafeModelError("the model file holds an array whose dtype is not a dtype; refused.")
    size = _array_bytes(shape, dtype)
    ctx.budget.take(size, f"an array of shape {shape!r}")
    count = size // max(dtype.itemsize, 1)
    if dtype.hasobject:
        ok = isinstance(data, list) and len(data) == count  # one item per element
    else:
        ok = isinstance(data, (bytes, bytearray, str)) and len(data) == count * dtype.itemsize
    if not ok:
        raise UnsafeModelError(
            f"the model file holds an array of shape {shape!r} whose data does not have that "
            f"size; refused.")


def _guarded_build(unpickler):
    """BUILD: before numpy's __setstate__ sees an array's state, check it."""
    inst = unpickler.stack[-2] if len(unpickler.stack) > 1 else None
    if isinstance(inst, np.ndarray):
        _check_array_state(unpickler.ctx, unpickler.stack[-1])


class _LegacyObject:
    """Stands in for `object` (`__builtin__.object` in Python 2 files): it is only
    meaningful as the base argument of copy_reg._reconstructor, never called."""

    def __new__(cls, *args, **kwargs):
        raise UnsafeModelError("the model file calls object(); nothing from the file was run.")


def _reconstructor(ctx, cls, base, state):
    """copy_reg._reconstructor for protocol 0/1 pickles, for allowed classes only:
    `_reconstructor(cls, object, None)` is `object.__new__(cls)`; any other base would
    call that base's constructor, so it is refused."""
    if not (isinstance(cls, type) and cls in _allowed_classes() and base is _LegacyObject
            and state is None):
        raise UnsafeModelError(
            f"the model file calls copy_reg._reconstructor({getattr(cls, '__name__', cls)!r}, "
            f"{getattr(base, '__name__', base)!r}, ...), which mlpexport only allows for its "
            f"model types on the object base; nothing from the file was run.")
    ctx.notes.add("pickle protocol 0/1")
    return object.__new__(cls)


_CLASSES = None


def _allowed_classes():
    """The classes of ESTIMATORS and SPARSE that this scikit-learn/scipy has."""
    global _CLASSES
    if _CLASSES is None:
        found = {_checked_wrapper()}
        for module, name in ESTIMATORS | SPARSE:
            try:
                found.add(getattr(importlib.import_module(module), name))
            except (ImportError, AttributeError):
                pass
        _CLASSES = {c for c in found if isinstance(c, type)}
    return _CLASSES


_WRAPPER = None


def _checked_wrapper():
    global _WRAPPER
    if _WRAPPER is not None:
        return _WRAPPER
    from joblib.numpy_pickle import NumpyArrayWrapper

    class CheckedArrayWrapper(NumpyArrayWrapper):
        """joblib's array placeholder; its shape and dtype are checked before reading."""

        def read(self, unpickler, ensure_native_byte_order):
            dtype = self.dtype
            if not isinstance(dtype, np.dtype) or self.order not in ("C", "F"):
                raise UnsafeModelError("the model file holds a malformed joblib array; refused.")
            if not dtype.hasobject:  # object arrays are a nested pickle, checked as it loads
                unpickler.ctx.budget.array(self.shape, dtype)
            self.subclass = _plain_type(self.subclass)
            return super().read(unpickler, ensure_native_byte_order)

        def read_array(self, unpickler, ensure_native_byte_order):
            if not self.dtype.hasobject:
                return super().read_array(unpickler, ensure_native_byte_order)
            # joblib reads these with a plain pickle Unpickler; ours checks BUILD too.
            inner = _InnerUnpickler(unpickler.file_handle, unpickler.ctx)
            array = inner.load()
            if not isinstance(array, np.ndarray):
                raise UnsafeModelError("the model file holds a malformed joblib array; refused.")
            return array

    _WRAPPER = CheckedArrayWrapper
    return _WRAPPER


_REPLACED = {
    ("numpy._core.multiarray", "_reconstruct"): lambda ctx: lambda *a: _reconstruct(ctx, *a),
    ("numpy.core.multiarray", "_reconstruct"): lambda ctx: lambda *a: _reconstruct(ctx, *a),
    ("numpy._core.numeric", "_frombuffer"): lambda ctx: lambda *a: _frombuffer(ctx, *a),
    ("numpy.core.numeric", "_frombuffer"): lambda ctx: lambda *a: _frombuffer(ctx, *a),
    ("numpy", "ndarray"): _NdarrayType,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): lambda ctx: _checked_wrapper(),
    # Protocol 0/1 pickles (and Python 2's names for the same).
    ("copyreg", "_reconstructor"): lambda ctx: lambda *a: _reconstructor(ctx, *a),
    ("copy_reg", "_reconstructor"): lambda ctx: lambda *a: _reconstructor(ctx, *a),
    ("builtins", "object"): lambda ctx: _LegacyObject,
    ("__builtin__", "object"): lambda ctx: _LegacyObject,
}


class _Context:
    """State of one load: the allocation budget and which legacy paths were used."""

    def __init__(self):
        self.budget = _Budget()
        self.notes = set()
        self.ops_left = MAX_PICKLE_OPS


def _counted(dispatch):
    """The same opcode table, each opcode charged against the load's MAX_PICKLE_OPS."""
    def counting(op):
        def run(self):
            self.ctx.ops_left -= 1
            if self.ctx.ops_left < 0:
                raise UnsafeModelError(
                    f"the model file runs more than {MAX_PICKLE_OPS} pickle operations, far "
                    f"more than any model needs; refused before it could use more memory.")
            return op(self)
        return run
    return {key: counting(op) for key, op in dispatch.items()}


def allowed_global(module: str, name: str, ctx: _Context | None = None):
    """find_class for untrusted files: the exact pairs on the list, nothing else."""
    ctx = ctx or _Context()
    if "." in name:
        raise UnsafeModelError(
            f"the model file refers to {module}.{name} through a dotted name, which "
            f"mlpexport never loads; nothing from the file was run.")
    if (module, name) in LEGACY:
        (module, name), era = LEGACY[(module, name)]
        ctx.notes.add(era)
    if (module, name) in _REPLACED:
        return _REPLACED[(module, name)](ctx)
    if (module, name) not in ALLOWED and name in _SUPPORTED_NAMES:
        # A supported class under a module path no known version used: not "unsupported".
        raise UnsafeModelError(
            f"the model file refers to {name} in module {module}, a path no scikit-learn "
            f"version mlpexport knows of used, so it was refused without running any of it.")
    if (module, name) in _MODELS:
        ctx.model = name  # the outermost model: a pickle names a class before what it holds
    if (module, name) not in ALLOWED and module in _PART_MODULES and getattr(ctx, "model", None):
        raise _part_refusal(ctx.model, module, name, "refused without running any of it")
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


def _py2_string(load_op):
    """Python 3 never writes Python 2's str opcodes: seeing one dates the file."""
    def load(self):
        self.ctx.notes.add("Python 2 strings")
        load_op(self)
    return load


def _guarded(base):
    """`base` (a pickle.Unpickler) that resolves globals only through the allowlist,
    checks every BUILD, notes Python 2 strings and counts operations."""
    class Guarded(base):
        dispatch = base.dispatch.copy()

        def find_class(self, module, name):
            return allowed_global(module, name, self.ctx)

        def load_build(self):
            _guarded_build(self)
            base.load_build(self)

        dispatch[pickle.BUILD[0]] = load_build
        for _op in (pickle.STRING, pickle.BINSTRING, pickle.SHORT_BINSTRING):
            dispatch[_op[0]] = _py2_string(dispatch[_op[0]])
        dispatch = _counted(dispatch)

    return Guarded


@functools.cache
def _unpicklers():
    from joblib.numpy_pickle import NumpyUnpickler, Unpickler

    class SafeUnpickler(_guarded(NumpyUnpickler)):
        def __init__(self, filename, fobj, ctx):
            super().__init__(filename, fobj, ensure_native_byte_order=True)
            self.ctx = ctx
            # Python 2 wrote numpy's array data as str; latin1 maps it back to bytes
            # one to one (numpy's own advice). Python 3 files never use these opcodes.
            self.encoding = "latin1"

    class InnerUnpickler(_guarded(Unpickler)):
        """joblib's nested pickle of an object array, with the same checks."""

        def __init__(self, fobj, ctx):
            super().__init__(fobj)
            self.ctx = ctx
            self.encoding = "latin1"

    return SafeUnpickler, InnerUnpickler


def _InnerUnpickler(fobj, ctx):
    return _unpicklers()[1](fobj, ctx)


# ------------------------------------------------------------------------ load

@dataclass
class Loaded:
    estimator: object
    path: str
    saved_version: str | None  # scikit-learn version that wrote it, when it differs
    note: str | None = None  # which older versions' paths the file used, when it did


def load(path, *, trust_pickle: bool = False) -> Loaded:
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelFileError(
            f"{path}: unknown model file type {suffix or '(none)'!r}; use .skops, .pkl, "
            f".pickle, .sav or .joblib.")
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: no such model file.")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ModelFileError(
            f"{path} is {size // 2**20} MiB, more than the {MAX_FILE_BYTES // 2**20} MiB "
            f"mlpexport reads for a model.")
    ctx = _Context()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if suffix == ".skops":
            est = _load_skops(path, trust_pickle, ctx)
        else:
            est = _load_pickle(path, trust_pickle, ctx)
    saved = None
    for w in caught:
        saved = getattr(w.message, "original_sklearn_version", None) or saved
        if saved:
            break
    for w in caught:  # anything else the estimator said while loading is passed on
        if getattr(w.message, "original_sklearn_version", None) is None:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    note = None
    if ctx.notes:
        note = (f"{path} uses names of older versions ({'; '.join(sorted(ctx.notes))}); "
                f"mlpexport read it through its exact table of renamed classes.")
    return Loaded(est, path, saved, note)


# ----------------------------------------------------------------------- skops

def _check_npy_header(f, info, budget, where):
    from numpy.lib import format as npy
    try:
        version = npy.read_magic(f)
        read = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _fortran, dtype = read(f)
    except Exception as exc:
        raise ModelFileError(f"{where}: {info.filename} is not a readable .npy ({_brief(exc)}).") from None
    size = _array_bytes(shape, dtype)
    if size > MAX_ARRAY_BYTES:
        _too_big(f"an array of shape {shape}", size, MAX_ARRAY_BYTES, "for one array", budget.subject)
    if not dtype.hasobject and size > info.file_size:
        raise ModelFileError(
            f"{where}: {info.filename} declares an array of {size} bytes but holds "
            f"{info.file_size}; the file is corrupt.")


def _check_zip(zf, budget, where, depth=0):
    """Declared sizes of every member (zipfile never expands a member past its declared
    size) and the header of every .npy, before skops reads any of them."""
    members = zf.infolist()
    if len(members) > MAX_ZIP_MEMBERS:
        raise UnsafeModelError(f"{where} has {len(members)} members, more than the "
                               f"{MAX_ZIP_MEMBERS} mlpexport reads; refused.")
    for info in members:
        budget.take(info.file_size, f"a zip member {info.filename!r}")
        lower = info.filename.lower()
        if lower.endswith(".json") and info.file_size > MAX_SCHEMA_BYTES:
            _too_big(f"a {info.filename} of that size", info.file_size, MAX_SCHEMA_BYTES,
                     "for a .skops schema", budget.subject)
        if lower.endswith(".npy"):
            with zf.open(info) as f:
                _check_npy_header(f, info, budget, where)
        elif lower.endswith(".npz"):  # a sparse matrix: a zip inside the zip
            import zipfile
            if depth:
                raise UnsafeModelError(f"{where} nests zip files more than once; refused.")
            with zf.open(info) as f, zipfile.ZipFile(f) as inner:
                _check_zip(inner, budget, f"{where}/{info.filename}", depth + 1)


def _zip_directory_is_small(path):
    """The member count from the end record, before zipfile builds one object per member."""
    import zipfile
    with open(path, "rb") as f:
        end = zipfile._EndRecData(f)
    if end is None:
        raise ModelFileError(f"{path} is not a readable .skops file (not a zip file).")
    if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ZIP_MEMBERS:
        raise UnsafeModelError(f"{path} has {end[zipfile._ECD_ENTRIES_TOTAL]} members, more "
                               f"than the {MAX_ZIP_MEMBERS} mlpexport reads; refused.")


def _schema_types(schema) -> list:
    """Every type the schema names, in the order a reader meets them, outermost first:
    for a RandomForestClassifier that is the forest before its trees' `Tree` objects."""
    found, todo = [], [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                kind = f"{node['__module__']}.{node['__class__']}"
                if kind not in found:
                    found.append(kind)
            todo.extend(reversed(list(node.values())))
        elif isinstance(node, list):
            todo.extend(reversed(node))
    return found


def _skops_refusal(path, zf, untrusted, trusted_names):
    """None, or the error for the first type mlpexport does not take. skops trusts every
    scikit-learn estimator by default, so scikit-learn types are held to ALLOWED here."""
    schema = json.loads(zf.read("schema.json"))
    names = _schema_types(schema)
    refused = [t for t in names if t not in trusted_names
               and (t in untrusted or t.split(".")[0] == "sklearn")]
    refused += [t for t in untrusted if t not in trusted_names and t not in refused]
    if not refused:
        return None
    sklearn_types = [t for t in refused if t.split(".")[0] == "sklearn"]
    models = [t for t in names if tuple(t.rsplit(".", 1)) in _MODELS]
    part = next((t for t in sklearn_types if t.rsplit(".", 1)[0] in _PART_MODULES), None)
    if models and part:
        module, _, name = part.rpartition(".")
        return _part_refusal(models[0].rpartition(".")[2], module, name,
                             "refused without loading it")
    if sklearn_types:
        # An estimator mlpexport cannot export: trusting its types would not help.
        module, _, name = sklearn_types[0].rpartition(".")
        return UnsafeModelError(
            f"{path} holds a {name} ({module}), which is not supported, so it was refused "
            f"without loading it. mlpexport exports {SUPPORTED}.")
    return UnsafeModelError(
        f"{path} needs {', '.join(refused)}, which is not on mlpexport's allowlist of model "
        f"types, so it was refused without loading it. If you wrote this file yourself, "
        f"--trust-pickle loads it anyway, trusting every type it names.")


def _load_skops(path, trust, ctx):
    import zipfile

    # builtins.object: make_column_selector(dtype_include=object) keeps the type itself as a
    # parameter; skops hands the type back (a TypeNode), it never calls it
    trusted_names = {f"{m}.{n}" for m, n in ALLOWED} | {"builtins.object"}
    try:
        _zip_directory_is_small(path)
        with zipfile.ZipFile(path) as zf:
            _check_zip(zf, ctx.budget, path)
            import skops.io as sio  # only now: skops reads members as soon as it is asked

            untrusted = sio.get_untrusted_types(file=path)
            if not trust:
                refusal = _skops_refusal(path, zf, set(untrusted), trusted_names)
                if refusal:
                    raise refusal
        return sio.load(path, trusted=untrusted)
    except (UnsafeModelError, ModelFileError):
        raise
    except RecursionError:
        raise UnsafeModelError(f"{path} nests its objects too deeply to be a model; refused.") from None
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable .skops file ({_brief(exc)}).") from None


# ---------------------------------------------------------------------- pickle

def _load_pickle(path, trust, ctx):
    import joblib
    from joblib.numpy_pickle import _validate_fileobject_and_memmap

    SafeUnpickler, _ = _unpicklers()
    try:
        if trust:
            return joblib.load(path)
        with open(path, "rb") as f:
            with _validate_fileobject_and_memmap(f, path, None) as (fobj, _):
                if isinstance(fobj, str):
                    raise ModelFileError(f"{path} was written by joblib < 0.10, which is not supported.")
                return SafeUnpickler(path, _CappedReader(fobj, MAX_TOTAL_BYTES), ctx).load()
    except (UnsafeModelError, ModelFileError):
        raise
    except MemoryError:
        raise UnsafeModelError(f"{path} asks for more memory than is available; refused.") from None
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable model file ({_brief(exc)}).") from None


def _brief(exc) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


# ----------------------------------------------------- files of a committed export
# `check --against DIR` reads files someone committed: the same limits hold for them
# before numpy, scipy or onnx reads one (a few MB of zip or .mat can inflate to GBs).

MAX_EXPORT_FILE_BYTES = 2 * 2**30  # one file of an export on disk (text forms are ~3x the weights)


def check_export_file(path):
    """ExportError unless the file is at most MAX_EXPORT_FILE_BYTES on disk."""
    try:
        size = os.path.getsize(path)
    except OSError:
        return  # missing: the reader says so
    if size > MAX_EXPORT_FILE_BYTES:
        raise ExportError(f"{os.path.basename(path)} is {size // 2**20} MiB, more than the "
                          f"{MAX_EXPORT_FILE_BYTES // 2**20} MiB mlpexport reads for one file "
                          f"of an export; refused.")


def check_export_npz(path):
    """A committed .npz (or any zip of .npy files) within the model-file limits before
    numpy reads it: member count, each member's declared size, every .npy header, and
    512 MiB of arrays in all (MAX_ARRAY_BYTES, MAX_TOTAL_BYTES). ExportError naming the
    limit; a file that is not a zip is left to numpy's own error."""
    import zipfile
    check_export_file(path)
    subject = os.path.basename(path)
    try:
        with open(path, "rb") as f:
            end = zipfile._EndRecData(f)
        if end is None:
            return
        if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ZIP_MEMBERS:
            raise UnsafeModelError(f"{subject} has {end[zipfile._ECD_ENTRIES_TOTAL]} members, "
                                   f"more than the {MAX_ZIP_MEMBERS} mlpexport reads; refused.")
        with zipfile.ZipFile(path) as zf:
            _check_zip(zf, _Budget(subject, "an export file"), subject)
    except OSError:
        return  # unreadable: the reader says so
    except (UnsafeModelError, ModelFileError) as exc:
        raise ExportError(str(exc)) from None
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ExportError(f"{subject} is not a readable .npz ({_brief(exc)}).") from None


MAT_COMPRESSED = 15  # miCOMPRESSED: a zlib stream holding one variable


def check_export_mat(path):
    """A .mat (version 5) whose compressed variables together inflate to at most
    MAX_TOTAL_BYTES, measured by inflating them in pieces (nothing is kept) before scipy
    reads the file. ExportError naming the limit. Version 4 files store nothing
    compressed; version 7.3 (HDF5) ones scipy refuses itself."""
    import struct
    import zlib
    check_export_file(path)
    subject = os.path.basename(path)
    total = 0
    try:
        with open(path, "rb") as f:
            head = f.read(128)
            if len(head) < 128 or head[126:128] not in (b"IM", b"MI"):
                return
            order = "<" if head[126:128] == b"IM" else ">"
            while True:
                tag = f.read(8)
                if len(tag) < 8:
                    return
                mdtype, nbytes = struct.unpack(order + "II", tag)
                if mdtype >> 16:  # a small element: its data is in the tag
                    continue
                if mdtype != MAT_COMPRESSED:
                    f.seek(nbytes + (-nbytes % 8), os.SEEK_CUR)
                    continue
                inflate, left = zlib.decompressobj(), nbytes
                while left > 0:
                    data = f.read(min(left, 1 << 20))
                    if not data:
                        break
                    left -= len(data)
                    while data:
                        total += len(inflate.decompress(data, 1 << 20))
                        if total > MAX_TOTAL_BYTES:
                            _too_big("compressed variables of at least that size", total,
                                     MAX_TOTAL_BYTES, "inflated from one export file",
                                     subject)
                        data = inflate.unconsumed_tail
                total += len(inflate.flush())
    except OSError:
        return
    except zlib.error as exc:
        raise ExportError(f"{subject} is not a readable .mat (a compressed variable: {exc}).") from None
    except UnsafeModelError as exc:
        raise ExportError(str(exc)) from None
