"""Safe loading: every supported family loads from .skops/.pkl/.joblib; crafted files
that would run code are refused without running any of it."""
import io
import os
import pickle
import struct

import joblib
import numpy as np
import pytest
import skops.io as sio

from conftest import ALL, get, network
from mlpexport import load as load_mod
from mlpexport.errors import ModelFileError, UnsafeModelError
from mlpexport.load import load


class Payload:
    """Unpickling this creates a marker file (a stand-in for arbitrary code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("suffix", [".skops", ".pkl", ".joblib"])
def test_every_supported_model_loads(name, suffix, tmp_path):
    est, _ = get(name)
    path = tmp_path / f"m{suffix}"
    if suffix == ".skops":
        sio.dump(est, path)
    elif suffix == ".pkl":
        path.write_bytes(pickle.dumps(est, protocol=pickle.HIGHEST_PROTOCOL))
    else:
        joblib.dump(est, path, compress=3 if len(name) % 2 else 0)
    loaded = load(path)
    assert network(loaded.estimator).fingerprint == network(est).fingerprint
    assert loaded.saved_version is None and loaded.note is None


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_old_pickle_protocols_load(protocol, tmp_path):
    est, _ = get("clf_multi_str")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est, protocol=protocol))
    assert network(load(tmp_path / "m.pkl").estimator).fingerprint == network(est).fingerprint


def test_payload_is_live_under_plain_pickle(tmp_path):
    """The crafted files below really would run code: plain pickle creates the marker."""
    marker = tmp_path / "marker"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


def _crafted(kind, marker, tmp_path):
    est, _ = get("reg_classic")
    if kind == "top-level":
        path = tmp_path / "m.pkl"
        path.write_bytes(pickle.dumps(Payload(marker)))
    elif kind == "nested in an estimator":
        import copy
        evil = copy.deepcopy(est)
        evil.steps[-1][1].notes = {"a": [Payload(marker)]}
        path = tmp_path / "m.pkl"
        path.write_bytes(pickle.dumps(evil))
    elif kind == "joblib":
        path = tmp_path / "m.joblib"
        joblib.dump({"model": est, "x": Payload(marker)}, path)
    elif kind == "joblib object array":
        import copy
        evil = copy.deepcopy(est)
        evil.steps[-1][1].classes_ = np.array([Payload(marker), 1], dtype=object)
        path = tmp_path / "m.joblib"
        joblib.dump(evil, path)
    elif kind == "dotted name":
        # joblib.numpy_pickle imports os: a prefix rule on allowed modules, or
        # protocol 4's dotted-name lookup, would reach os.system through it.
        name = b"os.system"
        module = b"joblib.numpy_pickle"
        cmd = f"touch {marker}".encode()
        data = (b"\x80\x04" + b"\x8c" + bytes([len(module)]) + module + b"\x8c" + bytes([len(name)])
                + name + b"\x93" + b"\x8c" + bytes([len(cmd)]) + cmd + b"\x85R.")
        path = tmp_path / "m.pkl"
        path.write_bytes(data)
    else:
        raise ValueError(kind)
    return path


KINDS = ["top-level", "nested in an estimator", "joblib", "joblib object array", "dotted name"]


@pytest.mark.parametrize("kind", KINDS)
def test_crafted_files_are_refused_without_running(kind, tmp_path):
    marker = tmp_path / "marker"
    path = _crafted(kind, marker, tmp_path)
    with pytest.raises(UnsafeModelError) as info:
        load(path)
    assert not marker.exists()
    assert "system" in str(info.value) or "posix" in str(info.value)


def test_dotted_payload_is_live_under_plain_pickle(tmp_path):
    marker = tmp_path / "marker"
    path = _crafted("dotted name", marker, tmp_path)
    pickle.loads(path.read_bytes())
    assert marker.exists()


def test_trust_pickle_is_the_explicit_opt_out(tmp_path):
    marker = tmp_path / "marker"
    path = _crafted("joblib", marker, tmp_path)
    load(path, trust_pickle=True)
    assert marker.exists()


@pytest.mark.parametrize("module,name", [("numpy", "load"), ("builtins", "eval"),
                                         ("sklearn.utils", "_testing"), ("numpy.lib.npyio", "load")])
def test_functions_inside_numpy_and_sklearn_are_not_allowed(module, name):
    with pytest.raises(UnsafeModelError, match="allowlist"):
        load_mod.allowed_global(module, name)


def test_array_that_asks_for_gigabytes_is_refused(tmp_path):
    """numpy._core.multiarray._reconstruct(ndarray, (10**6, 10**6), 'f8'): 8 TB."""
    buf = io.BytesIO()
    buf.write(b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n")
    buf.write(b"J" + struct.pack("<i", 1000000) + b"J" + struct.pack("<i", 1000000) + b"\x86")
    buf.write(b"X\x02\x00\x00\x00f8\x87R.")
    (tmp_path / "bomb.pkl").write_bytes(buf.getvalue())
    with pytest.raises(UnsafeModelError, match="bytes"):
        load(tmp_path / "bomb.pkl")


def test_file_size_cap(tmp_path, monkeypatch):
    est, _ = get("reg_classic")
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est))
    monkeypatch.setattr(load_mod, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ModelFileError, match="MiB"):
        load(tmp_path / "m.pkl")


def test_skops_refuses_types_outside_the_list(tmp_path):
    import collections
    est, _ = get("clf_binary_int")
    import copy
    evil = copy.deepcopy(est)
    evil.steps[-1][1].extra = collections.Counter("abc")
    sio.dump(evil, tmp_path / "m.skops")
    with pytest.raises(UnsafeModelError, match="Counter"):
        load(tmp_path / "m.skops")


def test_older_sklearn_version_is_reported(tmp_path):
    import sklearn
    est, _ = get("reg_classic")
    data = pickle.dumps(est)
    current = sklearn.__version__.encode()
    old = b"1.3.2"[: len(current)].ljust(len(current), b"0")
    assert current in data
    (tmp_path / "m.pkl").write_bytes(data.replace(current, old))
    assert load(tmp_path / "m.pkl").saved_version == old.decode()


@pytest.mark.parametrize("content,suffix,message", [
    (b"not a pickle at all", ".pkl", "not a readable"),
    (b"\x80\x04\x95", ".pkl", "not a readable"),
    (b"PK\x03\x04junk", ".skops", "not a readable"),
    (b"", ".h5", "unknown model file type"),
])
def test_unreadable_files(content, suffix, message, tmp_path):
    path = tmp_path / f"m{suffix}"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load(tmp_path / "nope.pkl")


# ------------------------------------------------------------------ resource bombs
#
# Each bomb is small on disk and asks for gigabytes. The builders stream deflate blocks
# of zeros without compressing gigabytes: after a full flush a block of zeros is
# self-contained, so one compressed block repeated n times inflates to n blocks.

import gzip as _gzip
import subprocess
import sys
import zipfile
import zlib

_CHUNK = 2**24  # 16 MiB of zeros per repeated block


def _zero_block(fill=b"\0"):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(fill * _CHUNK) + c.flush(zlib.Z_FULL_FLUSH)


def _deflate(parts, fill=b"\0"):
    """Raw deflate of parts: bytes, or an int n meaning n * 16 MiB of `fill` bytes."""
    c, block, out = zlib.compressobj(9, zlib.DEFLATED, -15), None, []
    for part in parts:
        if isinstance(part, int):
            out.append(c.flush(zlib.Z_FULL_FLUSH))
            block = block or _zero_block(fill)
            out.append(block * part)
        else:
            out.append(c.compress(part))
    out.append(c.flush())
    return b"".join(out)


def ndarray_bomb(path):
    """numpy.ndarray((10**9,), dtype('O')): the class itself called as a constructor."""
    data = (b"\x80\x02cnumpy\nndarray\nJ\x00\xca\x9a;\x85cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R"
            b"\x86R.")
    path.write_bytes(data)
    return path


def setstate_bomb(path):
    """_reconstruct(ndarray, (0,), 'b') then BUILD with (10**8,) object items and an
    empty item list: numpy's __setstate__ allocates it and reads past the list."""
    state = (b"(K\x01J\x00\xe1\xf5\x05\x85cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R\x89]t")
    data = (b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85C\x01b\x87R"
            + state + b"b.")
    path.write_bytes(data)
    return path


def joblib_bomb(path, n_arrays=6, n_chunks=24, crc=False):
    """A gzip .joblib holding n_arrays float64 arrays of n_chunks * 16 MiB of zeros each
    (default 6 x 403 MB). crc=False writes a wrong gzip trailer: the loader must refuse
    before it ever gets there (building the right one means hashing gigabytes)."""
    from joblib.numpy_pickle import NumpyArrayWrapper
    n_items = n_chunks * _CHUNK // 8
    body = pickle.dumps(NumpyArrayWrapper(np.ndarray, (n_items,), "C", np.dtype("f8"),
                                          numpy_array_alignment_bytes=None), protocol=2)
    parts = [b"\x80\x02](" ]
    for _ in range(n_arrays):
        parts += [body[2:-1], n_chunks]
    parts.append(b"e.")
    raw = _deflate(parts)
    total = sum(len(p) if isinstance(p, bytes) else p * _CHUNK for p in parts)
    check = 0
    if crc:
        for p in parts:
            for _ in range(p if isinstance(p, int) else 1):
                check = zlib.crc32(bytes(_CHUNK) if isinstance(p, int) else p, check)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    path.write_bytes(header + raw + struct.pack("<II", check, total % 2**32))
    return path


def ops_bomb(path, n_chunks=24):
    """A gzip .joblib whose pickle is MARK, n_chunks * 16 Mi NONE opcodes, LIST: one
    byte of stream per 8-byte reference (default 400 M of them, 3.2 GB as a list)."""
    raw = _deflate([b"\x80\x02(", n_chunks, b"l."], fill=b"N")
    total = 5 + n_chunks * _CHUNK
    path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + raw + struct.pack("<II", 0, total % 2**32))
    return path


def skops_bomb(path, n_chunks=96, est=None):
    """A .skops whose first .npy member is replaced by a deflated array of
    n_chunks * 16 MiB zeros (default 1.6 GB); the zip's CRC for it is left wrong."""
    if est is None:
        est, _ = get("reg_classic")
    good = path.with_suffix(".good.skops")
    sio.dump(est, good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        target = next(n for n in src.namelist() if n.endswith(".npy"))
        for info in src.infolist():
            if info.filename != target:
                dst.writestr(info.filename, src.read(info))
        _zero_npy_member(dst, target, n_chunks)
    good.unlink()
    return path


def _zero_npy_member(dst, name, n_chunks):
    """Append to an open ZipFile a deflated .npy of n_chunks * 16 MiB zeros (CRC left 0)."""
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f8", "fortran_order": False,
                                               "shape": (n_chunks * _CHUNK // 8,)})
    raw = _deflate([hdr.getvalue(), n_chunks])
    info = zipfile.ZipInfo(name)
    info.file_size = len(hdr.getvalue()) + n_chunks * _CHUNK
    # zipfile cannot take pre-deflated data: write the local header and data by hand.
    info.compress_type = zipfile.ZIP_DEFLATED
    info.compress_size = len(raw)
    info.CRC = 0
    info.header_offset = dst.fp.tell()
    dst.fp.write(info.FileHeader(zip64=False))
    dst.fp.write(raw)
    dst.start_dir = dst.fp.tell()
    dst.filelist.append(info)
    dst.NameToInfo[info.filename] = info


def test_sparse_matrix_zip_inside_a_skops_is_checked_too(tmp_path):
    """A sparse coef_ is a .npz (a zip) inside the .skops zip: its own members are held
    to the same limits, or a small outer member could inflate twice."""
    from sklearn.linear_model import LogisticRegression
    X = np.random.default_rng(0).normal(size=(40, 3))
    sio.dump(LogisticRegression().fit(X, X[:, 0] > 0).sparsify(), tmp_path / "good.skops")
    with zipfile.ZipFile(tmp_path / "good.skops") as src, \
            zipfile.ZipFile(tmp_path / "m.skops", "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".npz"):
                inner = io.BytesIO()
                with zipfile.ZipFile(io.BytesIO(data)) as old, zipfile.ZipFile(inner, "w") as new:
                    for member in old.infolist():
                        if member.filename == "data.npy":
                            _zero_npy_member(new, "data.npy", 48)  # 805 MB
                        else:
                            new.writestr(member, old.read(member))
                data = inner.getvalue()
            dst.writestr(info.filename, data)
    assert (tmp_path / "m.skops").stat().st_size < 2**20
    with pytest.raises(UnsafeModelError, match="for one array"):
        load(tmp_path / "m.skops")


_MEASURE = """
import resource, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[2])
from mlpexport.load import load
try:
    load(sys.argv[1])
    result = "loaded"
except Exception as exc:
    result = type(exc).__name__ + ": " + str(exc)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
print(result)
"""


def peak_load(path, package_root=None):
    """(peak RSS in MiB, outcome) of load(path) in a fresh interpreter."""
    root = package_root or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(path), root],
                          capture_output=True, text=True, timeout=120)
    lines = proc.stdout.splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        return -1, f"crashed: returncode {proc.returncode} {proc.stderr[-300:]}"
    return int(lines[0]), lines[1]


BASELINE_MIB = None


def _baseline():
    """Peak RSS of importing the loader and loading a small model: the floor."""
    global BASELINE_MIB
    if BASELINE_MIB is None:
        BASELINE_MIB = peak_load(os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                              "models", "iris.pkl"))[0]
    return BASELINE_MIB


@pytest.mark.parametrize("build,expect", [
    (ndarray_bomb, "UnsafeModelError"),
    (setstate_bomb, "UnsafeModelError"),
    # 6 x 272 MiB: each under the per-array limit, together over the total (the issue's
    # 6 x 400 MB behaves the same; smaller arrays keep the test fast).
    (lambda p: joblib_bomb(p.with_suffix(".joblib"), n_chunks=17), "UnsafeModelError"),
    (lambda p: skops_bomb(p.with_suffix(".skops")), "UnsafeModelError"),
    (lambda p: ops_bomb(p.with_suffix(".joblib")), "UnsafeModelError"),
], ids=["ndarray-constructor", "setstate-object", "joblib-6x272MiB", "skops-1.6GB-npy", "400M-references"])
def test_bombs_are_refused_before_allocating(build, expect, tmp_path):
    path = build(tmp_path / "bomb.pkl")
    assert path.stat().st_size < 4 * 2**20
    peak, outcome = peak_load(path)
    assert peak > 0, outcome
    assert outcome.startswith(expect), outcome
    assert "refused" in outcome
    # The joblib bomb may hold its first array (272 MiB, under the per-array limit)
    # before the second one breaks the total; nothing else may allocate much.
    allowed = 320 if "joblib" in str(path) else 100
    assert peak - _baseline() < allowed, (peak, _baseline(), outcome)


def test_declared_lengths_beyond_the_stream_cap_are_refused_before_reading(tmp_path):
    """BINBYTES8 declaring 1 TiB: refused from the declared length, not a MemoryError."""
    (tmp_path / "m.pkl").write_bytes(b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"x.")
    with pytest.raises(UnsafeModelError, match="decompressed stream"):
        load(tmp_path / "m.pkl")


def test_one_joblib_array_over_the_limit_is_refused_from_its_shape(tmp_path):
    path = joblib_bomb(tmp_path / "m.joblib", n_arrays=1, n_chunks=40)  # 640 MiB, no data read
    with pytest.raises(UnsafeModelError, match="for one array"):
        load(path)


def test_npy_header_larger_than_its_member_is_refused(tmp_path):
    """A .npy whose header claims more than the member holds would make numpy allocate
    the claimed size before finding out."""
    est, _ = get("reg_classic")
    sio.dump(est, tmp_path / "good.skops")
    with zipfile.ZipFile(tmp_path / "good.skops") as src, \
            zipfile.ZipFile(tmp_path / "m.skops", "w", zipfile.ZIP_DEFLATED) as dst:
        target = next(n for n in src.namelist() if n.endswith(".npy"))
        for info in src.infolist():
            data = src.read(info)
            if info.filename == target:
                hdr = io.BytesIO()
                np.lib.format.write_array_header_1_0(
                    hdr, {"descr": "<f8", "fortran_order": False, "shape": (50_000_000,)})
                data = hdr.getvalue() + bytes(64)
            dst.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match="declares an array of 400000000 bytes"):
        load(tmp_path / "m.skops")


# ------------------------------------------------- files written by older versions

LEGACY = os.path.join(os.path.dirname(__file__), "..", "fixtures", "legacy", "hand")
OLD_FILES = {  # file: (the _sklearn_version it carries, what the note must name)
    "old_mlp_classifier_sklearn0.21.joblib": ("0.21.3", ["scikit-learn < 0.22", "numpy < 1.17",
                                                         "sklearn.externals.joblib"]),
    "old_mlp_regressor_python2.pkl": ("0.20.4", ["Python 2", "scikit-learn < 0.22"]),
    "old_lr_protocol0.sav": ("0.21.3", ["protocol 0/1", "scikit-learn < 0.22"]),
    "old_lr_sparse_scipy1.7.pkl": ("0.21.3", ["scipy < 1.8"]),
    "old_sgd_bare_loss_module.pkl": ("1.6.1", ["'_loss'"]),
    "lr_sparse.pkl": ("1.9.1", []),  # written by today's maker: a note only on other releases
    "lr_sparse.skops": ("1.9.1", []),
}


@pytest.mark.parametrize("name", sorted(OLD_FILES))
def test_files_of_older_versions_load_and_predict_as_their_source(name):
    """Built by fixtures/make_old_pickles.py; NAME.npz holds the source model's own
    scikit-learn outputs, computed before it was written in the old form."""
    from mlpexport.network import evaluate
    version, eras = OLD_FILES[name]
    loaded = load(os.path.join(LEGACY, name))
    import sklearn
    assert loaded.saved_version == (None if version == sklearn.__version__ else version)
    for era in eras:
        assert era in loaded.note
    if not eras:
        assert loaded.note is None
    ref = np.load(os.path.join(LEGACY, os.path.splitext(name)[0] + ".npz"))
    est = loaded.estimator
    np.testing.assert_array_equal(est.predict(ref["X"]), ref["predict"])
    out = evaluate(network(est), ref["X"])
    np.testing.assert_array_equal(out["predict"], ref["predict"]) if ref["predict"].dtype.kind in "OUSb" \
        else np.testing.assert_allclose(out["predict"], ref["predict"], rtol=1e-12, atol=1e-12)
    if "predict_proba" in ref:
        np.testing.assert_allclose(est.predict_proba(ref["X"]), ref["predict_proba"], rtol=1e-13)
        np.testing.assert_allclose(out["predict_proba"], ref["predict_proba"], rtol=1e-11, atol=1e-14)


def _p0(*ops: bytes) -> bytes:
    return b"".join(ops)


RECONSTRUCTOR_GADGETS = {
    # os._wrap_close is reachable from os; the class itself is not on the list.
    "os._wrap_close": b"ccopy_reg\n_reconstructor\n(cos\n_wrap_close\nc__builtin__\nobject\nNtR.",
    # an allowed class on a base other than object would run that base's constructor
    "dict base": b"ccopy_reg\n_reconstructor\n(csklearn.neural_network._multilayer_perceptron\n"
                 b"MLPClassifier\nc__builtin__\ndict\nNtR.",
    "allowed class as base": b"ccopyreg\n_reconstructor\n(csklearn.pipeline\nPipeline\n"
                             b"csklearn.neural_network._multilayer_perceptron\nMLPClassifier\nNtR.",
    "state argument": b"ccopy_reg\n_reconstructor\n(csklearn.pipeline\nPipeline\nc__builtin__\n"
                      b"object\nS'x'\ntR.",
    "non-model class": b"ccopy_reg\n_reconstructor\n(cnumpy\ndtype\nc__builtin__\nobject\nNtR.",
    "object called": b"c__builtin__\nobject\n)R.",
    "alias module, other name": b"csklearn.neural_network.multilayer_perceptron\nnp\n.",
    "alias module, dotted name": b"csklearn.linear_model.logistic\nLogisticRegression.__init__\n.",
    "loss alias, other name": b"c_loss\nos\n.",
    "old joblib module, other name": b"csklearn.externals.joblib.numpy_pickle\nos\n.",
    "old numpy.random, other name": b"cnumpy.random\nseed\n.",
    "old scipy path, other name": b"cscipy.sparse.csr\nload_npz\n.",
    "scipy.sparse module": b"cscipy.sparse\nload_npz\n.",
    "old sklearn module, unknown class": b"csklearn.preprocessing.data\nFunctionTransformer\n.",
}


@pytest.mark.parametrize("kind", sorted(RECONSTRUCTOR_GADGETS))
def test_new_aliases_and_reconstructor_open_nothing_else(kind, tmp_path):
    (tmp_path / "m.pkl").write_bytes(RECONSTRUCTOR_GADGETS[kind])
    with pytest.raises(UnsafeModelError) as info:
        load(tmp_path / "m.pkl")
    assert not str(info.value).startswith(("MLP", "LogisticRegression")), str(info.value)


def test_supported_class_under_an_unknown_path_is_not_called_unsupported():
    with pytest.raises(UnsafeModelError) as info:
        load_mod.allowed_global("sklearn.neural_network.mlp", "MLPClassifier")
    assert "not supported" not in str(info.value) and "MLPClassifier" in str(info.value)


def test_legacy_reconstructor_builds_only_allowed_classes_on_object():
    from sklearn.neural_network import MLPClassifier
    ctx = load_mod._Context()
    recon = load_mod.allowed_global("copy_reg", "_reconstructor", ctx)
    base = load_mod.allowed_global("__builtin__", "object", ctx)
    assert type(recon(MLPClassifier, base, None)) is MLPClassifier
    import os as os_module
    for cls, b in [(os_module._wrap_close, base), (MLPClassifier, dict), (MLPClassifier, object)]:
        with pytest.raises(UnsafeModelError):
            recon(cls, b, None)


def test_sav_is_read_by_the_same_safe_loader(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "m.sav").write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(UnsafeModelError):
        load(tmp_path / "m.sav")
    assert not marker.exists()


def test_skops_with_an_unsupported_estimator_names_the_estimator(tmp_path):
    """Not its internal parts (sklearn.tree._tree.Tree), and no --trust-pickle: trusting
    the file's types would only load a model mlpexport still cannot export."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    X = np.random.default_rng(0).normal(size=(30, 3))
    for est in (RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0),
                make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=2, random_state=0))):
        est.fit(X, X[:, 0] > 0)
        sio.dump(est, tmp_path / "m.skops")
        with pytest.raises(UnsafeModelError) as info:
            load(tmp_path / "m.skops")
        msg = str(info.value)
        assert "RandomForestClassifier" in msg and "not supported" in msg
        assert "Tree" not in msg.split("mlpexport exports")[0] and "--trust-pickle" not in msg


def test_skops_with_a_foreign_type_suggests_trusting_the_file(tmp_path):
    import collections
    import copy
    evil = copy.deepcopy(get("clf_binary_int")[0])
    evil.steps[-1][1].extra = collections.Counter("abc")
    sio.dump(evil, tmp_path / "m.skops")
    with pytest.raises(UnsafeModelError, match="collections.Counter.*--trust-pickle"):
        load(tmp_path / "m.skops")
    assert load(tmp_path / "m.skops", trust_pickle=True).estimator.steps[-1][1].extra["a"] == 1


@pytest.mark.parametrize("dtype", [b"S0", b"V0"])
def test_zero_size_elements_count_against_the_limit(dtype, tmp_path):
    """numpy.ndarray((10**10,), 'S0') takes no memory until something converts it."""
    data = (b"\x80\x02cnumpy\nndarray\n\x8a\x05\x00\xe4\x0bT\x02\x85cnumpy\ndtype\nX\x02\x00\x00\x00"
            + dtype + b"\x85R\x86R.")
    (tmp_path / "m.pkl").write_bytes(data)
    with pytest.raises(UnsafeModelError, match="10000000000"):
        load(tmp_path / "m.pkl")


@pytest.mark.parametrize("kind", ["Ridge", "Lasso", "LinearSVC", "pipeline"])
def test_a_linear_model_pickled_by_scikit_learn_0_19_loads(kind, tmp_path):
    # sklearn.linear_model.ridge was refused: only the MLP, logistic and scaler aliases existed
    from sklearn.linear_model import Lasso, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler
    from sklearn.svm import LinearSVC
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    if kind == "pipeline":
        est = make_pipeline(StandardScaler(), PolynomialFeatures(2), Ridge()).fit(X, X[:, 0] ** 2)
        moves = [("sklearn.preprocessing.data", "sklearn.preprocessing._data"),
                 ("sklearn.preprocessing.data", "sklearn.preprocessing._polynomial"),
                 ("sklearn.linear_model.ridge", "sklearn.linear_model._ridge")]
    elif kind == "LinearSVC":
        est = LinearSVC().fit(X, X[:, 0] > 0)
        moves = [("sklearn.svm.classes", "sklearn.svm._classes")]
    else:
        est = {"Ridge": Ridge(), "Lasso": Lasso(alpha=0.01)}[kind].fit(X, X @ [1.0, 2.0, 3.0])
        moves = [("sklearn.linear_model.ridge", "sklearn.linear_model._ridge")] if kind == "Ridge" \
            else [("sklearn.linear_model.coordinate_descent", "sklearn.linear_model._coordinate_descent")]
    data = pickle.dumps(est, protocol=2)  # protocol 2: GLOBAL names are lines of text
    for old, new in moves:
        assert f"c{new}\n".encode() in data
        data = data.replace(f"c{new}\n".encode(), f"c{old}\n".encode(), 1)
    (tmp_path / "old.pkl").write_bytes(data)
    loaded = load(tmp_path / "old.pkl")
    assert "scikit-learn < 0.22" in loaded.note
    np.testing.assert_array_equal(loaded.estimator.predict(X), est.predict(X))


def test_every_supported_class_has_its_pre_0_22_path():
    # derived from the registry: a class whose module scikit-learn 0.22 made private
    # (sklearn.PKG._MOD) is readable from sklearn.PKG.MOD, and opens only that class
    from mlpexport import supported
    for module, name in supported.classes():
        parts = module.split(".")
        if not (parts[0] == "sklearn" and len(parts) == 3 and parts[2].startswith("_")
                and not parts[1].startswith("_")):
            continue
        if load_mod._OLD_MODULES.get(module, "") is None:
            continue  # private from the start, or newer than 0.22
        old = load_mod._OLD_MODULES.get(module) or f"sklearn.{parts[1]}.{parts[2][1:]}"
        assert load_mod.LEGACY[(old, name)][0] == (module, name), (old, name)
        try:
            today = load_mod.allowed_global(module, name)
        except ModelFileError:
            continue  # a class of older scikit-learn only (sgd_fast.Log)
        assert load_mod.allowed_global(old, name) is today
    with pytest.raises(UnsafeModelError):  # an old path never opens another class
        load_mod.allowed_global("sklearn.linear_model.ridge", "RidgeDistant")


def test_the_readme_states_every_loader_limit_with_its_value():
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md")).read()
    safety = readme[readme.index("## Safety"):]
    table = {row.split("|")[1].strip(): row.split("|")[2].strip()
             for row in safety[safety.index("| what | limit |"):].split("\n\n")[0].splitlines()[2:]}

    def mib(n):
        return f"{n // 2**20} MiB"
    assert table["the model file on disk"] == mib(load_mod.MAX_FILE_BYTES)
    assert table["one array"] == mib(load_mod.MAX_ARRAY_BYTES)
    assert table[next(k for k in table if k.startswith("all arrays"))] == mib(load_mod.MAX_TOTAL_BYTES)
    assert table["pickle operations of one file"] == f"{load_mod.MAX_PICKLE_OPS:,}"
    assert table["a `.skops` file's `schema.json`"] == mib(load_mod.MAX_SCHEMA_BYTES)
    assert table["members of a `.skops` zip"] == f"{load_mod.MAX_ZIP_MEMBERS:,}"


def _many_categories(n):
    import pandas as pd
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder
    words = np.array([f"customer_{i:07d}" for i in range(n)], dtype=object)
    df = pd.DataFrame({"who": words, "x": np.arange(n, dtype=float)})
    est = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), ["who"]),
                                                remainder="passthrough"), Ridge())
    return est.fit(df, np.arange(n) % 7), df


def test_a_skops_file_with_many_text_categories_loads(tmp_path):
    # 40,000 categories: a 19 MiB schema.json, over the old undocumented 16 MiB limit
    import zipfile
    est, df = _many_categories(40_000)
    sio.dump(est, tmp_path / "big.skops")
    with zipfile.ZipFile(tmp_path / "big.skops") as z:
        assert z.getinfo("schema.json").file_size > 16 * 2**20
    loaded = load(tmp_path / "big.skops").estimator
    rows = df.iloc[::997]
    np.testing.assert_array_equal(loaded.predict(rows), est.predict(rows))
    (tmp_path / "big.pkl").write_bytes(pickle.dumps(est))  # and as a pickle, as before
    np.testing.assert_array_equal(load(tmp_path / "big.pkl").estimator.predict(rows), est.predict(rows))


def test_a_schema_over_the_limit_is_refused_naming_it(tmp_path, monkeypatch):
    est, _ = _many_categories(200)
    sio.dump(est, tmp_path / "m.skops")
    monkeypatch.setattr(load_mod, "MAX_SCHEMA_BYTES", 2**20 // 8)
    with pytest.raises(UnsafeModelError, match=r"schema\.json .*for a \.skops schema; refused"):
        load(tmp_path / "m.skops")
