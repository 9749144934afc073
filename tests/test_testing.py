"""mlpexport.testing.assert_parity, and the example test file in docs/ run for real."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import skops.io

import mlpexport
from conftest import ROOT, get
from mlpexport.testing import assert_parity


@pytest.fixture
def repo(tmp_path):
    """A project with two models and their committed numpy + ONNX exports."""
    (tmp_path / "models").mkdir()
    for zoo, stem in (("reg_classic", "price"), ("clf_multi_str", "species")):
        path = tmp_path / "models" / f"{stem}.skops"
        skops.io.dump(get(zoo)[0], path)
        assert mlpexport.convert(str(path), tmp_path / "exports", to="numpy,onnx").passed
    return tmp_path


def test_passes_on_matching_exports_and_returns_the_report(repo):
    report = assert_parity(str(repo / "models" / "price.skops"), repo / "exports")
    assert report.passed and {r.export for r in report.rows} == {"numpy", "onnx"}
    est, X = get("clf_multi_str")
    assert assert_parity(est, repo / "exports", name="species", data=X).source == f"{len(X)} given rows"


def test_fails_naming_each_stale_export(repo):
    # species' exports replaced by exports of another model under the same name
    mlpexport.convert(get("clf_binary_str")[0], repo / "exports", to="numpy", name="species", force=True)
    with pytest.raises(AssertionError) as info:
        assert_parity(str(repo / "models" / "species.skops"), repo / "exports")
    message = str(info.value)
    assert "exports of species" in message and "species.skops" in message
    assert "numpy: stale: species." in message and "made from a different model" in message
    # the ONNX file is still the right one: not listed as failing
    assert "onnx:" not in message and "--force" in message


def test_fails_on_a_disagreement_and_when_there_is_nothing_to_check(repo):
    path = repo / "exports" / "price.npz"
    with np.load(path) as z:
        arrays = dict(z)
    key = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.ndim == 2)
    arrays[key] = arrays[key] * 1.01  # edited weights
    np.savez(path, **arrays)
    with pytest.raises(AssertionError, match="numpy.*edited"):
        assert_parity(str(repo / "models" / "price.skops"), repo / "exports", to="numpy")
    (repo / "empty").mkdir()
    with pytest.raises(AssertionError, match="no exports named price"):
        assert_parity(str(repo / "models" / "price.skops"), repo / "empty")


def test_a_broken_setup_is_a_typed_error_not_an_assertion(repo):
    with pytest.raises(mlpexport.DataError):
        assert_parity(str(repo / "models" / "price.skops"), repo / "exports", data=np.zeros((2, 3)))
    with pytest.raises(mlpexport.UsageError, match="no such directory"):
        assert_parity(str(repo / "models" / "price.skops"), repo / "nowhere")


def test_the_documented_example_file_passes_and_fails_as_it_says(repo):
    shutil.copy(os.path.join(ROOT, "docs", "test_parity_example.py"), repo / "test_parity_example.py")
    mlpexport.convert(get("reg_multi_tanh")[0], repo / "exports", to="numpy", name="price", force=True)
    env = dict(os.environ, PARITY_MODELS=str(repo / "models"), PARITY_EXPORTS=str(repo / "exports"))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(repo / "test_parity_example.py")],
                          capture_output=True, text=True, env=env, cwd=repo)
    assert "1 failed, 2 passed" in proc.stdout, proc.stdout + proc.stderr
    assert "price.skops" in proc.stdout and "numpy: stale: price." in proc.stdout
