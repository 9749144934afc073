"""check: the comparison rules, fresh exports, committed exports (--against)."""
import dataclasses
import json
import os
import sys

import numpy as np
import pytest

from conftest import case
from mlpexport import emit
from mlpexport.check import (Report, Tolerance, _finite, check, check_against, check_fresh, compare,
                             errors, merge)
from mlpexport.errors import RuntimeFailed, UsageError


def test_errors_relative_to_value_or_column_median():
    want = np.array([1000.0, 1e-9, 2000.0, 0.0])
    got = want + np.array([1e-9, 1e-9, 0.0, 0.0])
    abs_err, rel_err = errors(got, want)
    np.testing.assert_allclose(abs_err, [1e-9, 1e-9, 0, 0], rtol=1e-4)  # 1000 + 1e-9 rounds
    # the tiny value is measured against the column's typical magnitude, not itself
    assert rel_err[1] < 1e-11 and rel_err[0] == pytest.approx(1e-12, rel=1e-4)


def test_equal_infinities_and_nans_agree():
    abs_err, _ = errors(np.array([np.inf, np.nan, -np.inf]), np.array([np.inf, np.nan, -np.inf]))
    assert (abs_err == 0).all()
    abs_err, _ = errors(np.array([np.inf, 1.0]), np.array([1.0, np.nan]))
    assert np.isinf(abs_err).all()


def test_labels_must_be_identical_except_at_ties():
    proba = np.array([[0.5, 0.5], [0.1, 0.9]])
    row = compare("x", "predict", np.array(["a", "b"]), np.array(["b", "b"]), 1e-9, 0, proba)
    assert row.passed and row.ties == 1
    row = compare("x", "predict", np.array(["b", "a"]), np.array(["b", "b"]), 1e-9, 0, proba)
    assert not row.passed and row.labels_agree == 0.5


def test_numbers_beyond_tolerance_fail():
    assert not compare("x", "predict", np.array([1.0, 2.0 + 1e-6]), np.array([1.0, 2.0]), 1e-9, 0).passed
    assert compare("x", "predict", np.array([1.0, 2.0 + 1e-6]), np.array([1.0, 2.0]), 1e-9, 1e-5).passed


def test_fresh_check_of_all_targets_passes():
    est, net, X = case("clf_multi_str")
    report = check(est, net, X, ["numpy", "onnx"])
    assert report.passed and {r.target for r in report.rows} == {"numpy", "onnx"}
    assert "all exports agree" in report.table()
    assert report.to_json()["passed"] is True


@pytest.fixture
def committed(tmp_path):
    est, net, X = case("reg_classic")
    files = emit.render_all(net, "model", ["numpy", "onnx", "matlab"], "float64")
    emit.write_all(files, str(tmp_path), force=True)
    return est, net, X, tmp_path


def test_against_fresh_export_passes(committed):
    est, net, X, d = committed
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert report.passed, report.table()


def test_against_export_of_another_model_is_named_stale(committed):
    _, _, _, d = committed
    est, net, X = case("reg_multi_tanh")
    report = check(est, net, X[:, :6], ["numpy", "onnx", "matlab"], against=str(d), name="model")
    assert not report.passed
    notes = [r.note for r in report.rows]
    assert any("stale: model.py/.npz" in n for n in notes) and any("stale: model.onnx" in n for n in notes)


def test_against_edited_weights_fail(committed):
    est, net, X, d = committed
    with np.load(d / "model.npz") as w:
        arrays = dict(w)
    arrays["b2"] = arrays["b2"] + 0.25
    np.savez(d / "model.npz", **arrays)
    report = check(est, net, X, ["numpy"], against=str(d), name="model")
    assert not report.passed
    assert any("edited after export" in r.note for r in report.rows)
    assert any(r.output == "predict" and not r.passed for r in report.rows)


def test_against_edited_onnx_fails(committed):
    import onnx
    from onnx import numpy_helper
    est, net, X, d = committed
    model = onnx.load(d / "model.onnx")
    for t in model.graph.initializer:
        if t.name == "W1":
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * 1.01, "W1"))
    onnx.save(model, d / "model.onnx")
    report = check(est, net, X, ["onnx"], against=str(d), name="model")
    assert not report.passed and "edited" in report.rows[0].note


def test_chunked_check_gives_the_same_report_as_unchunked():
    est, net, X = case("clf_multi_str")
    whole = check(est, net, X, ["numpy", "onnx"])
    chunked = check(est, net, X, ["numpy", "onnx"], chunk=7)
    assert whole.to_json() == chunked.to_json()
    est, net, X = case("ttr_minmax_multi")
    assert check(est, net, X, ["numpy"]).to_json() == check(est, net, X, ["numpy"], chunk=13).to_json()


def test_check_streams_a_npy_file_row_range_by_row_range(tmp_path):
    from mlpexport.data import NpyRows, read_data
    est, net, X = case("reg_classic")
    data = np.vstack([X] * 3)
    np.save(tmp_path / "rows.npy", data)
    rows = read_data(str(tmp_path / "rows.npy"), 12, stream=True)
    assert isinstance(rows, NpyRows) and len(rows) == len(data)
    np.testing.assert_array_equal(rows[5:17], data[5:17])
    np.testing.assert_array_equal(rows[len(data) - 3:len(data) + 10], data[-3:])
    report = check(est, net, rows, ["numpy", "onnx"], chunk=100)
    assert report.passed and report.n_rows == len(data)
    assert report.to_json() == check(est, net, data, ["numpy", "onnx"]).to_json()


def test_streamed_nan_is_an_input_error(tmp_path):
    from mlpexport.data import read_data
    from mlpexport.errors import InputError
    est, net, X = case("reg_classic")
    X = X.copy()
    X[-1, 3] = np.inf
    np.save(tmp_path / "rows.npy", X)
    with pytest.raises(InputError, match=rf"\(row {len(X) - 1}, column 4\)"):  # not the chunk's range
        check(est, net, read_data(str(tmp_path / "rows.npy"), 12, stream=True), ["numpy"], chunk=50)
    X[-3, 7] = np.nan  # an earlier row of the same chunk, another column: its own column is named
    np.save(tmp_path / "rows.npy", X)
    with pytest.raises(InputError, match=rf"\(row {len(X) - 3}, column 8\)"):
        check(est, net, read_data(str(tmp_path / "rows.npy"), 12, stream=True), ["numpy"], chunk=50)


def test_non_finite_data_is_an_input_error(tmp_path):
    from mlpexport.errors import InputError
    est, net, X = case("reg_classic")
    X = X.copy()
    X[5, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        check(est, net, X, ["numpy"])


# --- what was proven and what was not (#11 §2) ---------------------------------------

def _hide_octave(monkeypatch):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))


def test_runtime_that_did_not_run_is_skip_never_pass(monkeypatch):
    _hide_octave(monkeypatch)
    est, net, X = case("clf_multi_str")
    report = check(est, net, X, ["numpy", "onnx", "matlab"])
    matlab = [r for r in report.rows if r.target == "matlab"]
    assert [r.status for r in matlab] == ["SKIP"] and not matlab[0].passed
    assert {r.status for r in report.rows if r.target != "matlab"} == {"PASS"}
    assert report.passed  # nothing failed: the exit code stays 0
    assert report.agree == ["numpy", "onnx"] and report.skipped[0][0] == "matlab"
    summary = report.summary()
    assert summary.startswith("numpy, onnx agree with scikit-learn; matlab not run: octave-cli was not found")
    assert "all exports agree" not in report.table() and "SKIP" in report.table()
    assert "matlab written but not run: octave-cli" in report.table(unrun="written but not run")
    js = report.to_json()
    assert js["passed"] is True and js["agree"] == ["numpy", "onnx"]
    assert [s["target"] for s in js["skipped"]] == ["matlab"]
    assert {(r["target"], r["status"], r["passed"]) for r in js["rows"] if r["target"] == "matlab"} == {
        ("matlab", "SKIP", False)}


def test_nothing_run_proves_nothing(monkeypatch):
    _hide_octave(monkeypatch)
    est, net, X = case("reg_classic")
    report = check(est, net, X, ["matlab"])
    assert report.passed and report.agree == []
    assert report.summary().startswith("nothing was proven; matlab not run")


# --- labels compared exactly in their own type (#10 §5) -------------------------------

BIG = np.array([2**53, 2**53 + 1], dtype=np.int64)
CLEAR = np.array([[0.9, 0.1], [0.1, 0.9]])  # no ties: nothing excuses a wrong label


def test_int64_labels_beyond_2_53_are_compared_as_integers():
    assert compare("x", "predict", BIG.copy(), BIG, 1e-9, 0, CLEAR).passed
    swapped = compare("x", "predict", BIG[::-1].copy(), BIG, 1e-9, 0, CLEAR)
    assert not swapped.passed and swapped.differ == 2
    # a float64 export cannot hold 2**53 + 1: it comes back as 2**53, which is wrong
    row = compare("x", "predict", BIG.astype(np.float64), BIG, 1e-9, 0, CLEAR)
    assert row.status == "FAIL" and row.differ == 1 and "cannot hold" in row.note
    # ... even where scikit-learn's probabilities tie: the type lost the label
    row = compare("x", "predict", BIG.astype(np.float64), BIG, 1e-9, 0, np.full((2, 2), 0.5))
    assert row.status == "FAIL" and "cannot hold" in row.note
    # unsigned against signed, and an exact integral float, are compared by value
    assert compare("x", "predict", BIG.astype(np.uint64), BIG, 1e-9, 0, CLEAR).passed
    small = np.array([3, 7])
    assert compare("x", "predict", small.astype(np.float64), small, 1e-9, 0, CLEAR).passed
    assert not compare("x", "predict", np.array([3.0, 7.5]), small, 1e-9, 0, CLEAR).passed


def test_labels_of_another_kind_fail_with_a_note():
    want = np.array(["1", "2"], dtype=object)
    row = compare("x", "predict", np.array([1, 2]), want, 1e-9, 0, np.full((2, 2), 0.5))
    assert row.status == "FAIL" and "come back as numbers, scikit-learn gives strings" in row.note
    row = compare("x", "predict", np.array(["1", "2"]), np.array([1, 2]), 1e-9, 0, CLEAR)
    assert row.status == "FAIL" and "scikit-learn gives numbers" in row.note
    bools = np.array([True, False])
    assert compare("x", "predict", bools.copy(), bools, 1e-9, 0, CLEAR).passed
    assert compare("x", "predict", np.array([1, 0], np.uint8), bools, 1e-9, 0, CLEAR).passed  # MATLAB logical
    assert not compare("x", "predict", np.array([2, 0]), bools, 1e-9, 0, CLEAR).passed


def test_type_note_survives_chunk_merge():
    a = compare("x", "predict", BIG.astype(np.float64), BIG, 1e-9, 0, np.full((2, 2), 0.5))
    b = compare("x", "predict", BIG.copy(), BIG, 1e-9, 0, CLEAR)
    assert merge(b, a).status == "FAIL" and "cannot hold" in merge(b, a).note


# --- a crashing runtime is a runtime error, not a disagreement (#10 §4) ---------------

def test_committed_export_that_raises_is_a_runtime_error(committed):
    est, net, X, d = committed
    text = (d / "model.py").read_text()
    (d / "model.py").write_text(text + "\n\ndef predict(X):\n    raise RuntimeError('boom')\n")
    with pytest.raises(RuntimeFailed, match=r"model(?s:.*)RuntimeError: boom"):
        check(est, net, X, ["numpy"], against=str(d), name="model")


def test_committed_export_that_exits_is_a_runtime_error_not_a_pass(committed):
    est, net, X, d = committed
    (d / "model.py").write_text((d / "model.py").read_text() + "\nraise SystemExit(0)\n")
    with pytest.raises(RuntimeFailed, match="model"):
        check(est, net, X, ["numpy"], against=str(d), name="model")


def test_edited_export_that_crashes_stays_a_named_fail(committed):
    est, net, X, d = committed
    with np.load(d / "model.npz") as w:
        arrays = dict(w)
    arrays["W1"] = arrays["W1"][:, :3]  # the edit breaks the forward pass
    np.savez(d / "model.npz", **arrays)
    report = check(est, net, X, ["numpy"], against=str(d), name="model")  # no raise
    notes = [r.note for r in report.rows if r.status == "FAIL"]
    assert not report.passed and len(notes) == 2 and "edited" in notes[0]
    assert "model" in notes[1] and "edited" not in notes[1]  # the crash, named


def test_crashing_octave_is_a_runtime_error(tmp_path, monkeypatch):
    fake = tmp_path / "bin" / "octave-cli"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\nkill -SEGV $$\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    est, net, X = case("reg_classic")
    with pytest.raises(RuntimeFailed, match=r"model\.m|matlab export model"):
        check(est, net, X[:20], ["matlab"], required=("matlab",))


# --- committed float32 exports, mixed sets (#11 §6, §9) -------------------------------

def _stamp_with(monkeypatch, target, **fields):
    """The target's real stamp, with the given Stamp fields as the emit side reports them."""
    mod = emit.target(target)
    real = mod.stamp
    monkeypatch.setattr(mod, "stamp", lambda d, n: dataclasses.replace(real(d, n), **fields))


@pytest.fixture
def committed32(tmp_path):
    est, net, X = case("reg_classic")
    emit.write_all(emit.render_all(net, "model", ["numpy", "onnx"], "float32"), str(tmp_path), force=True)
    return est, net, X, tmp_path


def test_against_float32_exports_uses_their_dtype_tolerance(committed32, monkeypatch):
    est, net, X, d = committed32
    for t in ("numpy", "onnx"):
        _stamp_with(monkeypatch, t, dtype="float32")
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert report.passed, report.table()
    assert {r.rtol for r in report.rows} == {1e-4} and report.to_json()["rows"][0]["rtol"] == 1e-4
    assert max(r.max_rel for r in report.rows) > 1e-9  # float32 rounding: 1e-9 would fail it
    # the user's --rtol wins over the recorded dtype
    report = check(est, net, X, ["numpy"], against=str(d), name="model", rtol=1e-9)
    assert not report.passed and {r.rtol for r in report.rows} == {1e-9}


def test_against_judges_each_export_by_its_own_dtype(committed32, monkeypatch):
    est, net, X, d = committed32
    emit.write_all(emit.render_all(net, "model", ["onnx"], "float64"), str(d), force=True)
    _stamp_with(monkeypatch, "numpy", dtype="float32")
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert report.passed, report.table()
    assert {r.target: r.rtol for r in report.rows} == {"numpy": 1e-4, "onnx": 1e-9}
    assert "rtol per export dtype" in report.table()


def test_against_refuses_a_set_mixed_from_two_exports(committed, monkeypatch):
    est, net, X, d = committed
    _stamp_with(monkeypatch, "numpy", same_export=False)
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert not report.passed
    bad = [r for r in report.rows if r.status == "FAIL"]
    assert [(r.target, r.note) for r in bad] == [("numpy", "model.py and model.npz come from different exports")]


# --- strict JSON (#10 §7) --------------------------------------------------------------

def _strict(text):
    def refuse(constant):
        raise ValueError(f"not JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_json_of_a_failing_report_is_strict_json():
    rows = [compare("x", "predict", np.array([np.inf, 1.0]), np.array([1.0, 2.0]), 1e-9, 0),
            compare("x", "predict_proba", np.array([np.nan]), np.array([-np.inf]), 1e-9, 0)]
    report = Report(rows=rows, n_rows=2, rtol=1e-9)
    data = _strict(json.dumps(report.to_json()))
    assert data["rows"][0]["max_abs"] == "inf" and data["rows"][0]["status"] == "FAIL"
    assert data["rows"][1]["max_abs"] == "inf" and data["passed"] is False
    assert _finite([float("-inf"), float("nan"), 1.5]) == ["-inf", "nan", 1.5]


# --- two modes, one comparison (#13 §4) ------------------------------------------------

def test_fresh_and_against_are_separate_entry_points_with_one_tolerance(committed):
    est, net, X, d = committed
    tol = Tolerance(atol=1e-12)
    fresh = check_fresh(est, net, X, ["numpy"], tol=tol)
    against = check_against(est, net, X, str(d), ["numpy"], tol=tol)
    assert fresh.passed and against.passed
    assert fresh.to_json()["rows"] == against.to_json()["rows"]  # same files, same comparison
    assert check(est, net, X, ["numpy"], atol=1e-12).to_json() == fresh.to_json()
    for bad in ({"rtol": -1.0}, {"atol": float("nan")}):
        with pytest.raises(UsageError):
            Tolerance(**bad)


def test_against_real_float32_exports_pass_at_their_own_tolerance(committed32):
    est, net, X, d = committed32
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert report.passed, report.table()
    assert {r.rtol for r in report.rows} == {1e-4}


def test_against_real_mixed_set_is_refused(committed, tmp_path_factory):
    est, net, X, d = committed
    other = tmp_path_factory.mktemp("f32")
    emit.write_all(emit.render_all(net, "model", ["numpy"], "float32"), str(other), force=True)
    (d / "model.py").write_bytes((other / "model.py").read_bytes())  # .npz stays float64's
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    assert [(r.target, r.note) for r in report.rows if r.status == "FAIL"] == [
        ("numpy", "model.py and model.npz come from different exports")]


def test_unreadable_committed_export_is_a_named_fail(committed):
    est, net, X, d = committed
    (d / "model.npz").write_bytes((d / "model.npz").read_bytes()[:100])
    report = check(est, net, X, ["numpy", "onnx"], against=str(d), name="model")
    bad = [r for r in report.rows if r.status == "FAIL"]
    assert [r.target for r in bad] == ["numpy"] and "cannot be read" in bad[0].note
    assert {r.status for r in report.rows if r.target == "onnx"} == {"PASS"}


def test_junit_xml_counts_and_control_characters_survive_parsing():
    import xml.etree.ElementTree as ET

    from mlpexport.check import Row, junit_xml
    rows = [Row("numpy", "predict", n=3, max_abs=0.5, max_rel=0.1, status="FAIL", rtol=1e-9),
            Row("onnx", "-", status="FAIL", note="x.onnx cannot be read (\x00\x1b bytes)"),
            Row("matlab", "-", status="SKIP", note="skipped: octave-cli was not found"),
            Row("numpy", "predict_proba", n=3)]
    root = ET.fromstring(junit_xml([Report(rows=rows, n_rows=3, model="m.skops", name="m")]))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "2", "1")
    first = suite.find("testcase[@name='predict']/failure")
    assert first.get("message") == "max rel error 0.1 > rtol 1e-09 (max abs error 0.5, atol 0)"
    assert suite.find("testcase[@classname='m.onnx']/failure").get("message") == "x.onnx cannot be read (?? bytes)"
    assert suite.find("testcase[@classname='m.matlab']/skipped").get("message") == "octave-cli was not found"


def test_rows_carry_the_api_names():
    row = compare("onnx", "predict", np.array(["a", "b"]), np.array(["a", "b"]), 1e-9, 0,
                  np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert (row.export, row.output, row.labels, row.status, row.failure()) == ("onnx", "predict", 1.0, "PASS", "")


def test_progress_bar_only_on_a_terminal(monkeypatch, capsys):
    """Several chunks: a tqdm bar on stderr when it is a terminal, nothing when piped."""
    pytest.importorskip("tqdm")
    est, net, X = case("reg_classic")
    X = np.vstack([X] * 4)
    check(est, net, X, ["numpy"], chunk=100)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    report = check(est, net, X, ["numpy"], chunk=100)
    assert report.passed and "rows" in capsys.readouterr().err


# ------------------------------------------- committed archives keep the loader's limits
# A committed .npz or .mat of a few MB can hold a deflated member of GBs; check reads
# them before anything runs (stamps, the sandbox's metadata), so the limits of
# mlpexport/load.py hold there too. Each bomb is measured in a fresh interpreter.

BOMB_BYTES = 640 * 2**20  # over load.MAX_TOTAL_BYTES (512 MiB), ~2.9 MB deflated


def npz_bomb(path):
    """path (a real .npz) gains a member bomb.npy: float64 zeros of BOMB_BYTES, deflated."""
    import io
    import zipfile
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (BOMB_BYTES // 8,)})
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        with z.open("bomb.npy", "w", force_zip64=True) as f:
            f.write(header.getvalue())
            chunk = bytes(1 << 24)
            for _ in range(BOMB_BYTES // len(chunk)):
                f.write(chunk)


def mat_bomb(path):
    """path (a real .mat) gains a compressed variable `bomb`: BOMB_BYTES of float64 zeros."""
    import struct
    import zlib
    name = b"bomb"
    n = BOMB_BYTES // 8
    body = (struct.pack("<II", 6, 8) + struct.pack("<II", 6, 0)  # array flags: double
            + struct.pack("<II", 5, 8) + struct.pack("<ii", n, 1)  # dims n x 1
            + struct.pack("<II", 1, len(name)) + name + bytes(-len(name) % 8)
            + struct.pack("<II", 9, BOMB_BYTES))  # the real part follows: zeros
    z = zlib.compressobj(1)
    parts = [z.compress(struct.pack("<II", 14, len(body) + BOMB_BYTES) + body)]
    chunk = bytes(1 << 24)
    for _ in range(BOMB_BYTES // len(chunk)):
        parts.append(z.compress(chunk))
    parts.append(z.flush())
    data = b"".join(parts)
    with open(path, "ab") as f:
        f.write(struct.pack("<II", 15, len(data)) + data)


_PEAK = """
import json, resource, sys
sys.path.insert(0, sys.argv[3])
from conftest import case
from mlpexport.check import check
est, net, X = case("reg_classic")
report = check(est, net, X[:50], [sys.argv[2]], against=sys.argv[1], name="m")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
print(json.dumps([[r.status, r.note] for r in report.rows]))
"""


@pytest.mark.parametrize("target", ["numpy", "matlab"])
def test_a_committed_archive_bomb_is_refused_within_the_limits(target, tmp_path):
    import subprocess
    est, net, X = case("reg_classic")
    mod = emit.target(target)
    emit.write_all(mod.render(net, "m"), str(tmp_path), force=True)
    archive = tmp_path / ("m.npz" if target == "numpy" else "m.mat")
    (npz_bomb if target == "numpy" else mat_bomb)(archive)
    assert archive.stat().st_size < 8 * 2**20  # a few MB on disk
    tests = os.path.dirname(os.path.abspath(__file__))

    def peak(directory, which):
        proc = subprocess.run([sys.executable, "-c", _PEAK, str(directory), which, tests],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        lines = proc.stdout.splitlines()
        return int(lines[-2]), json.loads(lines[-1])

    floor_dir = tmp_path / "plain"
    emit.write_all(emit.target("numpy").render(net, "m"), str(floor_dir), force=True)
    floor, _ = peak(floor_dir, "numpy")  # the same check on an ordinary export
    mib, rows = peak(tmp_path, target)
    assert mib < floor + 100, f"peak {mib} MiB, an ordinary check {floor} MiB"
    assert [status for status, _ in rows] == ["FAIL"], rows
    assert "512 MiB" in rows[0][1] and "refused" in rows[0][1], rows


def test_octave_results_beyond_the_limits_are_a_runtime_failure(tmp_path):
    from mlpexport.emit import matlab
    mat = tmp_path / "out1.mat"
    from scipy.io import savemat
    savemat(mat, {"a": np.zeros(3)})
    mat_bomb(mat)
    with pytest.raises(RuntimeFailed, match="results Octave wrote for m.m were refused: out1.mat "
                                            "asks for .* 512 MiB"):
        matlab._within_limits("m", str(mat))
