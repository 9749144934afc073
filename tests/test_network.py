"""The Network's own numpy evaluation is the reference semantics: it equals scikit-learn."""
import numpy as np
import pytest

from conftest import ALL, assert_matches, case, reference
from mlpexport.network import digest, evaluate, hidden


@pytest.mark.parametrize("name", ALL)
def test_reference_semantics_equal_sklearn(name):
    est, net, X = case(name)
    assert_matches(evaluate(net, X), reference(est, net, X), 1e-12, name)


def test_fingerprint_changes_with_any_weight():
    _, net, _ = case("reg_classic")
    before = net.fingerprint
    net.layers[1].W[0, 0] = np.nextafter(net.layers[1].W[0, 0], np.inf)
    try:
        assert net.fingerprint != before
    finally:
        net.layers[1].W[0, 0] = np.nextafter(net.layers[1].W[0, 0], -np.inf)
    assert net.fingerprint == before


def test_digest_depends_on_dtype_names_and_values():
    a = {"W1": np.ones((2, 2))}
    assert digest(a) != digest({"W1": np.ones((2, 2), np.float32)})
    assert digest(a) != digest({"W2": np.ones((2, 2))})
    assert digest(a) == digest({"W1": np.ones((2, 2))})


def test_hidden_activations_match_sklearn_layers():
    est, net, X = case("reg_multi_tanh")
    acts = hidden(net, X)
    assert [a.shape[1] for a in acts] == [7, 5]
    z = np.tanh(X @ est.coefs_[0] + est.intercepts_[0])
    np.testing.assert_array_equal(acts[0], z)
