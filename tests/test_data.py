"""Data files given to --data: a .npy header that lies about its size, arrays that are not
plain 2-D numbers, and CSV files as the csv module and numpy's own text parser read them."""
import time

import numpy as np
import pytest

from mlpexport.cli import main
from mlpexport.data import read_data
from mlpexport.errors import InputError


def npy_with_header(path, shape, payload: bytes, fortran=False, dtype="<f8"):
    """A .npy file whose header says `shape` but whose body is `payload` (a lying file)."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": dtype, "fortran_order": fortran, "shape": shape})
        f.write(payload)
    return str(path)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A 12-input regressor saved as .skops, for the CLI tests."""
    import skops.io as sio
    from zoo import get
    est, _ = get("reg_classic")
    path = tmp_path_factory.mktemp("model") / "reg.skops"
    sio.dump(est, path)
    return str(path)


def assert_cli_refuses(model_file, data, capsys, *words):
    assert main(["check", model_file, "--to", "numpy", "--data", data]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mlpexport: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    for w in words:
        assert w in err, err


@pytest.mark.parametrize("stream", [False, True])
def test_truncated_npy_is_refused_before_reading(tmp_path, stream):
    path = npy_with_header(tmp_path / "trunc.npy", (100_000, 12), np.arange(25.0).tobytes())
    with pytest.raises(InputError, match=r"100000 × 12.*9600000 bytes.*200"):
        read_data(path, 12, stream=stream)


def test_truncated_npy_through_check_is_exit_2(tmp_path, model_file, capsys):
    path = npy_with_header(tmp_path / "trunc.npy", (100_000, 12), np.arange(25.0).tobytes())
    assert_cli_refuses(model_file, path, capsys, "trunc.npy", "bytes")


@pytest.mark.parametrize("stream", [False, True])
def test_header_claiming_10_to_12_rows_is_refused_at_once(tmp_path, stream):
    path = npy_with_header(tmp_path / "huge.npy", (10 ** 12, 12), np.zeros(24).tobytes())
    start = time.perf_counter()
    with pytest.raises(InputError, match="bytes"):
        read_data(path, 12, stream=stream)
    assert time.perf_counter() - start < 2


def test_trailing_bytes_after_the_array_are_refused(tmp_path):
    path = npy_with_header(tmp_path / "long.npy", (2, 12), np.zeros(30).tobytes())
    with pytest.raises(InputError, match="bytes"):
        read_data(path, 12, stream=True)


def test_an_honest_npy_file_still_reads(tmp_path):
    X = np.arange(36.0).reshape(3, 12)
    np.save(tmp_path / "ok.npy", X)
    np.testing.assert_array_equal(read_data(str(tmp_path / "ok.npy"), 12), X)
    np.testing.assert_array_equal(read_data(str(tmp_path / "ok.npy"), 12, stream=True)[0:3], X)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("make,words", [
    (lambda p: np.save(p, np.asfortranarray(np.ones((4, 12)))), ("Fortran", "C order")),
    (lambda p: npy_with_header(p, (2, 12), b"", dtype="|O"), ("object",)),
    (lambda p: np.save(p, np.ones(12)), ("1-D", "2-D")),
    (lambda p: np.save(p, np.ones((2, 3, 2))), ("3-D", "2-D")),
    (lambda p: np.save(p, np.ones((5, 0))), ("no columns",)),
    (lambda p: np.save(p, np.ones((0, 12))), ("no rows",)),
    (lambda p: np.save(p, np.ones((2, 12), dtype=complex)), ("complex", "numeric")),
    (lambda p: open(p, "wb").write(b"\x93NUMPY\x01\x00garbage"), ("not a readable",)),
])
def test_npy_arrays_that_are_not_plain_rows_are_refused(tmp_path, make, words, stream):
    path = tmp_path / "bad.npy"
    make(path)
    with pytest.raises(InputError) as info:
        read_data(str(path), 12, stream=stream)
    message = str(info.value)
    assert "\n" not in message
    for w in words:
        assert w in message


def test_fortran_and_zero_columns_through_check_are_exit_2(tmp_path, model_file, capsys):
    np.save(tmp_path / "f.npy", np.asfortranarray(np.ones((4, 12))))
    assert_cli_refuses(model_file, str(tmp_path / "f.npy"), capsys, "Fortran")
    np.save(tmp_path / "z.npy", np.ones((5, 0)))
    assert_cli_refuses(model_file, str(tmp_path / "z.npy"), capsys, "no columns")


# --- CSV -------------------------------------------------------------------------------

def write(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_csv_quoted_header_and_fields(tmp_path):
    X = read_data(write(tmp_path, '"a","b, the second"\n1,"2.5"\n3,4\n'), 2)
    np.testing.assert_array_equal(X, [[1, 2.5], [3, 4]])


def test_csv_header_row_is_optional(tmp_path):
    np.testing.assert_array_equal(read_data(write(tmp_path, "1,2\n3,4\n"), 2), [[1, 2], [3, 4]])
    np.testing.assert_array_equal(read_data(write(tmp_path, "x,y\n1,2\n\n3,4\n"), 2), [[1, 2], [3, 4]])


@pytest.mark.parametrize("cell", ["1_000", "0x10", "1d3", "1 2"])
def test_csv_numbers_are_what_numpy_parses(tmp_path, cell):
    path = write(tmp_path, f"a,b\n1,2\n3,{cell}\n")
    with pytest.raises(InputError, match=r"line 3.* is not a number"):
        read_data(path, 2)


def test_csv_empty_cell_is_a_missing_value(tmp_path):
    # as pandas reads it: NaN, refused by name where no imputer fills the column
    path = write(tmp_path, "a,b\n1,2\n3,\n")
    with pytest.raises(InputError, match="column 'b'.*NaN"):
        read_data(path, 2)
    X = read_data(path, 2, nan_ok=np.array([False, True]))
    assert X[0, 1] == 2 and np.isnan(X[1, 1])


def test_csv_row_of_empty_cells_is_a_row_of_missing_values(tmp_path):
    """",," is a row (every value missing, as pandas reads it); only blank lines are skipped."""
    path = write(tmp_path, "a,b\n1,2\n,\n\n   \n3,4\n")
    X = read_data(path, 2, nan_ok=np.array([True, True]))
    assert X.shape == (3, 2) and np.isnan(X[1]).all()
    with pytest.raises(InputError, match="column 'a'.*NaN"):
        read_data(path, 2)


def test_csv_text_columns_keep_their_strings(tmp_path):
    path = write(tmp_path, "id,city,age\n7,paris,31\n8,,\n9,\"rome, old\",40\n")
    X = read_data(path, 2, feature_names=["age", "city"], nan_ok=np.array([True, True]),
                  strings=[1])
    assert X.dtype == object
    assert X[0].tolist() == [31.0, "paris"] and X[2].tolist() == [40.0, "rome, old"]
    assert np.isnan(X[1, 0]) and X[1, 1] is None


@pytest.mark.parametrize("cell", ["nan", "inf", "-Infinity"])
def test_csv_nan_and_infinity_are_refused_naming_the_column(tmp_path, cell):
    path = write(tmp_path, f"a,b\n1,2\n3,{cell}\n")
    with pytest.raises(InputError, match="column 'b'.*NaN or infinite"):
        read_data(path, 2)


def test_npy_nan_is_refused_naming_the_column(tmp_path):
    X = np.ones((4, 12))
    X[2, 6] = np.nan
    np.save(tmp_path / "nan.npy", X)
    with pytest.raises(InputError, match="column 7 contains NaN"):
        read_data(str(tmp_path / "nan.npy"), 12)


def test_csv_ragged_rows_name_the_line(tmp_path):
    with pytest.raises(InputError, match="line 3 has 3 fields"):
        read_data(write(tmp_path, "a,b\n1,2\n3,4,5\n"), 2)


def test_csv_bad_cell_in_a_long_file_is_located(tmp_path):
    rows = [f"{i},{i + 1}" for i in range(5000)]
    rows[4321] = "7,1_0"
    with pytest.raises(InputError, match=r"line 4322: '1_0' is not a number"):
        read_data(write(tmp_path, "\n".join(rows)), 2)


def test_csv_that_is_not_text_is_an_input_error(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"\xff\xfe\x00\x01\x02")
    with pytest.raises(InputError):
        read_data(str(path), 2)


def test_csv_problems_through_check_are_exit_2(tmp_path, model_file, capsys):
    header = ",".join(f'"f{i}"' for i in range(12))
    good = ",".join(["0.5"] * 12)
    assert main(["check", model_file, "--to", "numpy", "--data",
                 write(tmp_path, f"{header}\n{good}\n{good}\n")]) == 0
    capsys.readouterr()
    bad = ",".join(["1_000"] + ["0.5"] * 11)
    assert_cli_refuses(model_file, write(tmp_path, f"{header}\n{good}\n{bad}\n", "b.csv"),
                       capsys, "'1_000' is not a number")


def test_csv_columns_are_matched_to_the_models_feature_names(tmp_path):
    """A shuffled header with id and target columns: the features are picked by name, in
    the model's order, and the others are named in a note."""
    from mlpexport.data import DataNote
    path = tmp_path / "rows.csv"
    path.write_text('id,"b",target,a\nx1,2.5,yes,1\nx2,-1,no,3e2\n')
    with pytest.warns(DataNote, match="'id', 'target'"):
        X = read_data(str(path), 2, feature_names=["a", "b"])
    np.testing.assert_array_equal(X, [[1.0, 2.5], [300.0, -1.0]])


@pytest.mark.parametrize("text,message", [
    ("a,c\n1,2\n", "no column 'b'"),
    ("a,b,b\n1,2,3\n", "more than one column named 'b'"),
])
def test_csv_missing_or_ambiguous_features_are_named(tmp_path, text, message):
    path = tmp_path / "rows.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=message):
        read_data(str(path), 2, feature_names=["a", "b"])


def test_csv_without_header_is_taken_in_order_even_with_names(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,2\n3,4\n")
    np.testing.assert_array_equal(read_data(str(path), 2, feature_names=["a", "b"]), [[1, 2], [3, 4]])


def test_parquet_columns_are_picked_by_feature_name(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    from mlpexport.data import read_data
    table = pa.table({"id": [1, 2, 3], "b": [4.0, 5.0, 6.0], "a": [7.0, 8.0, 9.0]})
    pq.write_table(table, tmp_path / "x.parquet")
    X = read_data(str(tmp_path / "x.parquet"), 2, feature_names=["a", "b"])
    assert np.array_equal(X, [[7.0, 4.0], [8.0, 5.0], [9.0, 6.0]])
    with pytest.raises(InputError, match="no column 'c'"):
        read_data(str(tmp_path / "x.parquet"), 2, feature_names=["a", "c"])
    pq.write_table(pa.table({"a": ["x", "y"]}), tmp_path / "s.parquet")
    with pytest.raises(InputError, match="column 'a' is not numeric"):
        read_data(str(tmp_path / "s.parquet"), 1)
    # dates are not numbers, though pyarrow would give their nanosecond counts as such
    pq.write_table(pa.table({"a": np.array(["2026-01-01", "2026-01-02"], "M8[ns]")}), tmp_path / "t.parquet")
    with pytest.raises(InputError, match="column 'a' holds timestamp"):
        read_data(str(tmp_path / "t.parquet"), 1)
