"""The fingerprint and the digest cover every string an export stores (feature names,
class labels, vocabularies), not only its weights: a committed export whose names were
swapped is stale, though its weights are the same (issue 29, item 3)."""
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import mlpexport
from conftest import network, need_octave


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"size": rng.normal(10, 3, n), "weight": rng.normal(-50, 20, n),
                         "city": rng.choice(["oslo", "rome", "lima"], n)})


def _labels(df):
    return np.where(df["size"] + 0.1 * df["weight"] > 5, "big", "small")


@pytest.fixture(scope="module")
def text_model():
    df = _frame()
    ct = ColumnTransformer([("num", StandardScaler(), ["size", "weight"]),
                            ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])])
    return make_pipeline(ct, LogisticRegression()).fit(df, _labels(df)), df


@pytest.fixture(scope="module")
def numeric_model():
    df = _frame()[["size", "weight"]]
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(df, _labels(df)), df


def _export(est, tmp_path, to):
    out = tmp_path / "out"
    report = mlpexport.convert(est, out, to=to, name="m")
    assert report.passed
    return out


def _stale(est, out, to, df):
    report = mlpexport.check(est, against=out, name="m", to=to, data=df)
    notes = [r.note for r in report.rows if r.note]
    return (not report.passed) and any(n.startswith("stale") and "edited" in n for n in notes), notes


def test_the_fingerprint_changes_with_the_feature_names(numeric_model):
    est, df = numeric_model
    swapped = make_pipeline(StandardScaler(), LogisticRegression())
    swapped.fit(df.rename(columns={"size": "weight", "weight": "size"}), _labels(df))
    # the same numbers, the names in the other order: another model for a caller by name
    assert np.array_equal(swapped[-1].coef_, est[-1].coef_)
    assert network(swapped).fingerprint != network(est).fingerprint


def test_swapped_names_in_a_committed_numpy_module_are_stale(text_model, tmp_path):
    est, df = text_model
    out = _export(est, tmp_path, "numpy")
    assert mlpexport.check(est, against=out, name="m", to="numpy", data=df).passed
    py = out / "m.py"
    text = py.read_text()
    swapped = text.replace("['size', 'weight', 'city']", "['weight', 'size', 'city']")
    assert swapped != text
    py.write_text(swapped)
    stale, notes = _stale(est, out, "numpy", df)
    assert stale, notes


def test_an_edited_vocabulary_or_label_in_the_npz_is_stale(text_model, tmp_path):
    est, df = text_model
    out = _export(est, tmp_path, "numpy")
    with np.load(out / "m.npz") as w:
        stored = dict(w)
    for key in [k for k in stored if k.startswith("vocab_")] + ["classes"]:
        edited = dict(stored)
        edited[key] = edited[key][::-1].copy()
        np.savez(out / "m.npz", **edited)
        stale, notes = _stale(est, out, "numpy", df)
        assert stale, (key, notes)


def test_swapped_input_names_or_metadata_names_in_onnx_are_stale(text_model, tmp_path):
    import onnx
    est, df = text_model
    out = _export(est, tmp_path, "onnx")
    original = onnx.load(out / "m.onnx")
    # the graph's inputs, one per feature, fed by name: swap the first two
    model = onnx.load(out / "m.onnx")
    a, b = model.graph.input[0].name, model.graph.input[1].name
    for node in model.graph.node:
        node.input[:] = [{a: b, b: a}.get(i, i) for i in node.input]
    model.graph.input[0].name, model.graph.input[1].name = b, a
    onnx.save(model, out / "m.onnx")
    stale, notes = _stale(est, out, "onnx", df)
    assert stale, notes
    # the names recorded in the metadata
    model = onnx.load(out / "m.onnx")
    model.CopyFrom(original)
    for p in model.metadata_props:
        if p.key == "feature_names":
            p.value = json.dumps(["weight", "size", "city"])
    onnx.save(model, out / "m.onnx")
    stale, notes = _stale(est, out, "onnx", df)
    assert stale, notes


def test_swapped_names_in_the_mat_are_stale(text_model, tmp_path):
    need_octave()
    from scipy.io import loadmat, savemat
    est, df = text_model
    out = _export(est, tmp_path, "matlab")
    mat = {k: v for k, v in loadmat(out / "m.mat").items() if not k.startswith("__")}
    mat["feature_names"] = mat["feature_names"][[1, 0, 2]]
    savemat(out / "m.mat", mat, format="5", oned_as="row")
    stale, notes = _stale(est, out, "matlab", df)
    assert stale, notes


def test_swapped_labels_in_the_c_source_are_stale(numeric_model, tmp_path):
    if shutil.which("cc") is None:
        pytest.skip("no C compiler")
    est, df = numeric_model
    out = _export(est, tmp_path, "c")
    c = out / "m.c"
    text = c.read_text()
    swapped, n = re.subn(r'= \{"big", "small"\};', '= {"small", "big"};', text)
    assert n == 1
    c.write_text(swapped)
    stale, notes = _stale(est, out, "c", df)
    assert stale, notes


def test_unchanged_exports_stay_intact(text_model, numeric_model, tmp_path):
    est, df = text_model
    targets = ["numpy", "onnx"] + (["matlab"] if shutil.which("octave-cli") else [])
    out = _export(est, tmp_path, ",".join(targets))
    assert mlpexport.check(est, against=out, name="m", to=",".join(targets), data=df).passed
    if shutil.which("cc"):
        est, df = numeric_model
        out = _export(est, tmp_path / "c", "c")
        assert mlpexport.check(est, against=out, name="m", to="c", data=df).passed


def test_a_text_model_without_feature_names_stays_intact(tmp_path):
    """Its MATLAB struct fields are x0, x1, ... (stored in the .mat), its ONNX inputs too."""
    from conftest import get
    est, _ = get("text_array_no_names")
    targets = "numpy,onnx" + (",matlab" if shutil.which("octave-cli") else "")
    assert mlpexport.convert(est, tmp_path, to=targets, name="m").passed
    report = mlpexport.check(est, against=tmp_path, name="m", to=targets)
    assert report.passed, [r.note for r in report.rows]


@pytest.mark.parametrize("zoo_name", ["clf_multilabel", "clf_multi_str", "clf_binary_bool",
                                      "text_array_no_names", "mixed_types", "reg_classic"])
def test_every_target_reads_back_the_digest_it_wrote(zoo_name, tmp_path):
    """What each stamp reads back (weights, names, labels, vocabularies) hashes to the
    digest its files record, for every target that takes the model, with and without
    ONNX's label output (a multilabel or label-free graph stores no classes)."""
    from conftest import get
    from mlpexport import emit
    from mlpexport.errors import ExportError
    est, _ = get(zoo_name)
    net = network(est)
    for t, options in [("numpy", {}), ("onnx", {}), ("onnx", {"onnx_no_label": True}),
                       ("matlab", {}), ("c", {})]:
        try:
            files = emit.render_all(net, "m", [t], "float64", **options)
        except ExportError:
            continue  # a target that refuses the model (C and text columns)
        out = tmp_path / f"{t}{len(options)}"
        emit.write_all(files, str(out), force=True)
        st = emit.target(t).stamp(str(out), "m")
        assert (st.fingerprint, st.intact, st.same_export) == (net.fingerprint, True, True), (t, options)
