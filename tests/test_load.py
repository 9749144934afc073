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
    assert loaded.saved_version is None


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
