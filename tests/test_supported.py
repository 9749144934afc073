"""The registry of supported classes is the one place they are listed."""
import pathlib

import pytest

from mlpexport import load, supported
from mlpexport.errors import UnsupportedModelError
from mlpexport.extract import extract

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_table_is_the_registry():
    assert supported.readme_table() in README.read_text(), (
        "README's 'Supported models' table differs from mlpexport.supported.readme_table(); "
        "paste its output into the README")


def test_every_entry_resolves_to_the_class_it_names():
    import importlib
    for e in supported.SUPPORTED:
        if e.role == supported.PART:
            continue  # parts may exist only in the older versions that wrote them (Log)
        cls = getattr(importlib.import_module(e.module), e.name)
        assert cls.__name__ == e.name


def test_loader_allows_exactly_the_registry():
    assert supported.classes() <= load.ALLOWED
    assert ({(m, n) for m, n in load.ALLOWED if m.startswith("sklearn")} - load.CYTHON_UNPICKLE
            == {(m, n) for m, n in supported.classes() if m.startswith("sklearn")})
    # and Cython's pickle helpers of exactly the registry's Cython losses (scikit-learn 1.3's)
    assert load.CYTHON_UNPICKLE == {(m, f"__pyx_unpickle_{n}") for m, n in supported.classes()
                                    if m == "sklearn._loss._loss"}


def test_refusal_lists_the_registry_models():
    from sklearn.tree import DecisionTreeRegressor
    est = DecisionTreeRegressor().fit([[0.0], [1.0]], [0.0, 1.0])
    with pytest.raises(UnsupportedModelError) as e:
        extract(est)
    for name in supported.names(supported.MODEL):
        assert name in str(e.value)


def test_train_choices_come_from_the_registry(capsys):
    from mlpexport.cli import main
    assert main(["train", "sine", "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    for choice in supported.train_models():
        assert repr(choice) in err
