"""emit/__init__: names, plain header text, all-or-nothing writes, output directories."""
import os
import subprocess
import sys
import threading

import pytest

from mlpexport import emit
from mlpexport.errors import OutputExistsError, UsageError


@pytest.mark.parametrize("name,why", [
    ("x\n", "not a valid identifier"),        # $ in a regex matched before a final newline
    ("class", "Python keyword"),
    ("match", "Python keyword"),              # soft keyword
    ("numpy", "Python module"),
    ("os", "Python module"),
    ("json", "Python module"),
    ("end", "MATLAB keyword"),
    ("function", "MATLAB keyword"),
    ("bsxfun", "MATLAB function"),
    ("Sum", "MATLAB function"),               # case-insensitive file systems
    ("stdio", "standard C header"),           # stdio.h would shadow <stdio.h> under -I.
    ("Math", "standard C header"),
    ("unistd", "standard C header"),
])
def test_names_that_would_break_an_export_are_refused(name, why):
    with pytest.raises(UsageError, match=why):
        emit.check_name(name)


def test_a_name_reserved_only_by_matlab_is_fine_for_other_targets():
    assert emit.check_name("end", ["numpy", "onnx"]) == "end"
    with pytest.raises(UsageError, match="MATLAB keyword"):
        emit.check_name("end", ["matlab"])


def test_a_c_header_name_is_refused_for_c_and_made_safe_by_default():
    assert emit.check_name("stdio", ["numpy", "onnx", "matlab"]) == "stdio"
    with pytest.raises(UsageError, match="stdio.h"):
        emit.check_name("stdio", ["c"])
    assert emit.default_name("models/stdio.skops", ["c"]) == "stdio_model"
    from mlpexport.emit import c
    # every standard C header a C11 toolchain ships (a name missing here could be written)
    for header in ("assert", "ctype", "errno", "float", "limits", "math", "stddef", "stdint",
                   "stdio", "stdlib", "string", "time"):
        assert header in c.RESERVED


@pytest.mark.parametrize("path,name", [
    ("numpy.pkl", "numpy_model"),
    ("end.skops", "end_model"),
    ("2 my-model.v1.pkl", "model_2_my_model_v1"),
    ("car.pkl", "car"),
])
def test_default_names_are_never_reserved(path, name):
    assert emit.default_name(path) == name
    assert emit.check_name(emit.default_name(path)) == name


@pytest.mark.parametrize("text", [
    '1.0"""\nimport os; os.system("touch x")\n"""',
    "1.0\nsystem('touch x');\n%",
    "a\\N{x}'b\r\u2028c{d}",
])
def test_plain_text_has_no_quote_backslash_brace_or_line_break(text):
    out = emit.plain(text)
    assert not set(out) & set("\"'\\{}\n\r%`$") and out.isascii() and out.isprintable()
    assert len(emit.plain("x" * 1000)) <= 120


def test_dangling_symlink_is_not_replaced_without_force(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "a.py")
    with pytest.raises(OutputExistsError):
        emit.write_all({"a.py": b"1"}, str(tmp_path), force=False)
    assert os.path.islink(tmp_path / "a.py") and not os.path.exists(tmp_path / "nowhere")


def test_a_directory_at_an_output_name_is_refused_even_with_force(tmp_path):
    (tmp_path / "a.npz").mkdir()
    with pytest.raises(UsageError, match="is a directory"):
        emit.write_all({"a.py": b"1", "a.npz": b"2"}, str(tmp_path), force=True)
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


def test_concurrent_writers_of_one_name_never_both_succeed(tmp_path):
    """Two exports of different models with the same name into one folder: one wins,
    the other is refused, and the folder holds one complete set."""
    for round_ in range(20):
        d = tmp_path / str(round_)
        d.mkdir()
        results = {}

        def write(tag):
            try:
                emit.write_all({"m.py": tag * 1000, "m.npz": tag * 1000}, str(d), force=False)
                results[tag] = "ok"
            except OutputExistsError:
                results[tag] = "refused"
        threads = [threading.Thread(target=write, args=(t,)) for t in (b"A", b"B")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results.values()) == ["ok", "refused"]
        winner = next(t for t, r in results.items() if r == "ok")
        assert (d / "m.py").read_bytes() == (d / "m.npz").read_bytes() == winner * 1000
        assert sorted(os.listdir(d)) == ["m.npz", "m.py"]


def test_temp_files_of_a_killed_writer_are_removed_by_the_next(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".m.py.{dead}.abc123.tmp"
    stale.write_bytes(b"half")
    alive = tmp_path / f".m.py.{os.getpid()}.def456.tmp"  # a writer still running
    alive.write_bytes(b"busy")
    other = tmp_path / f".notes.txt.{dead}.x.tmp"  # not one of our names
    other.write_bytes(b"")
    emit.write_all({"m.py": b"1"}, str(tmp_path), force=False)
    assert not stale.exists() and alive.exists() and other.exists()


def _file(p, *below):
    (p / "f").write_text("x")
    return str(p.joinpath("f", *below))


@pytest.mark.parametrize("make,message", [
    (lambda p: "", "is empty"),
    (lambda p: _file(p), "is not a directory"),
    (lambda p: _file(p, "sub"), "which is not a directory"),
    (lambda p: "/dev/null", "is not a directory"),
    (lambda p: "/proc/mlpexport-test/x", "cannot write there"),
])
def test_unusable_output_directories_are_one_usage_error(tmp_path, make, message):
    with pytest.raises(UsageError, match=message):
        emit.check_outdir(make(tmp_path))


def test_check_outdir_creates_missing_parents_and_remove_created_undoes_it(tmp_path):
    created = emit.check_outdir(str(tmp_path / "a" / "b"))
    assert created == [str(tmp_path / "a"), str(tmp_path / "a" / "b")]
    emit.remove_created(created)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("text", ["", " ", ",", "numpy,,java"])
def test_empty_or_unknown_targets_are_refused(text):
    with pytest.raises(UsageError):
        emit.parse_targets(text)


def test_a_file_that_already_holds_the_same_bytes_is_not_a_clash(tmp_path):
    """Two MATLAB exports with --matlab-verify into one folder share mlpexport_verify.m."""
    (tmp_path / "shared.m").write_bytes(b"same")
    emit.write_all({"a.m": b"1", "shared.m": b"same"}, str(tmp_path), force=False)
    (tmp_path / "shared.m").write_bytes(b"edited")
    with pytest.raises(OutputExistsError, match="shared.m"):
        emit.write_all({"b.m": b"1", "shared.m": b"same"}, str(tmp_path), force=False)
    assert not (tmp_path / "b.m").exists()


def test_a_misspelt_option_is_refused_not_ignored():
    """render(**options) used to swallow any name: --matlab-inline misspelt in code gave
    a .mat export without a word."""
    from conftest import case
    _, net, _ = case("reg_classic")
    with pytest.raises(UsageError, match="matlab_inlin"):
        emit.render_all(net, "m", ["numpy", "onnx", "matlab"], "float64", matlab_inlin=True)
    from mlpexport.emit import onnx
    with pytest.raises(UsageError, match="onnx_no_labels"):
        onnx.render(net, "m", onnx_no_labels=True)
    assert "matlab_inline" in emit.known_options() and "onnx_no_label" in emit.known_options()
