"""Example: keep committed exports honest in your own pytest suite.

Copy this file into your project's tests/ folder and set MODELS and EXPORTS to where your
repository keeps them. Every model file in MODELS is checked against the exports named
after it in EXPORTS (models/price.skops -> exports/price.py/.npz/.onnx/.m/.mat, whichever
you committed). A test fails when an export disagrees with the model, or was made from an
older version of it (stale), was edited, is incomplete, or is mixed from two exports:

    AssertionError: exports of price in exports do not match models/price.skops (on 286 drawn rows):
      numpy: stale: price.py/.npz was made from a different model
      onnx: stale: price.onnx was made from a different model
    Re-export with `mlpexport convert MODEL -o DIR --force` if the model changed on purpose.

The MATLAB export is run with GNU Octave when `octave-cli` is installed; without it that
export is not run (and not failed). Test rows are drawn from what each model knows of its
inputs, extreme values included; pass data=... (an array, a DataFrame or a .npy/.csv
path) to check on your own rows as well.

The same check on the command line, e.g. in CI:

    mlpexport check models/*.skops --against exports/ --junit parity.xml
"""
import glob
import os

import pytest

from mlpexport.testing import assert_parity

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.environ.get("PARITY_MODELS", os.path.join(HERE, "..", "models"))
EXPORTS = os.environ.get("PARITY_EXPORTS", os.path.join(HERE, "..", "exports"))

MODEL_FILES = sorted(glob.glob(os.path.join(MODELS, "*.skops")))


@pytest.mark.parametrize("model", MODEL_FILES, ids=os.path.basename)
def test_committed_exports_match_the_model(model):
    assert_parity(model, EXPORTS)


def test_there_are_models_to_check():
    # an empty glob would make the parity test above vanish silently
    assert MODEL_FILES, f"no .skops files in {MODELS}"
