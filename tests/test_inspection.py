"""inspect: dead units reported exactly, formulas that reproduce predict, pruning, plots."""
import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

import make  # fixtures/make.py (conftest puts fixtures/ on the path)
from conftest import assert_matches, case, fixture_model, need_octave, network, reference
from mlpexport import emit
from mlpexport.cli import main
from mlpexport.emit import matlab
from mlpexport.inspection import formula, report, text, unit_activity


def positive_input_model(first_weights, first_bias):
    """A 1-input, 4-unit ReLU regressor on x in (0, 1) with chosen first-layer weights."""
    X = np.linspace(0.01, 0.99, 200)[:, None]
    est = MLPRegressor(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, X[:, 0])
    est.coefs_[0] = np.array([first_weights], dtype=float)
    est.intercepts_[0] = np.array(first_bias, dtype=float)
    return est, X


def test_dead_units_are_reported_exactly():
    # units 0 and 1: negative weight, non-positive bias -> never active on x > 0
    est, X = positive_input_model([-1.0, -2.0, 3.0, 4.0], [-0.5, 0.0, 0.1, -0.2])
    (layer,) = unit_activity(network(est), X)
    assert layer.dead == [0, 1]
    assert layer.active_share[2] == 1.0 and 0 < layer.active_share[3] < 1
    rep = report(network(est), X)
    assert any("every input column has one sign" in w for w in rep["warnings"])


def test_a_healthy_network_reports_no_dead_units():
    est, X = positive_input_model([1.0, 2.0, -3.0, 4.0], [0.5, -1.0, 2.0, -3.0])
    (layer,) = unit_activity(network(est), X)
    assert layer.dead == []


def test_whole_dead_layer_means_constant_output():
    est, X = positive_input_model([-1.0, -2.0, -3.0, -4.0], [-0.1, -0.2, -0.3, -0.4])
    rep = report(network(est), X)
    assert rep["layers"][0]["dead"] == [0, 1, 2, 3]
    assert any("every unit is dead" in w for w in rep["warnings"])
    assert any("output is constant" in w for w in rep["warnings"])
    assert "layer 1: 4 of 4 units never active" in text(rep)


def test_identity_fixture_failure_is_visible():
    import make
    recipe = next(r for r in make.recipes() if r["name"] == "identity_two_units")
    from mlpexport.load import load
    net = network(load(make.model_path(recipe)).estimator)
    X = np.linspace(0.001, 0.999, 500)[:, None]
    rep = report(net, X)
    assert rep["layers"][0]["dead"] == [0, 1]


FORMULA_CASES = ["reg_classic", "reg_poisson", "reg_minmax_clip_chain", "ttr_standard",
                 "clf_binary_int", "clf_multi_str", "clf_multilabel", "lr_binary",
                 "lr_multinomial", "sgd_multiclass", "reg_multi_tanh", "sgd_hinge",
                 "sgd_modified_huber", "sgd_modified_huber_binary", "lin_linear_svc_binary",
                 "glm_tweedie_auto_log", "poly_mlp", "poly_linear"]


@pytest.mark.parametrize("name", FORMULA_CASES)
def test_numpy_formula_reproduces_predict(name):
    est, net, X = case(name)
    namespace = {**net.arrays(), "classes": net.classes, "np": np, "X": X}
    with np.errstate(over="ignore"):
        exec("\n".join(formula(net, "numpy")), namespace)
    want = reference(est, net, X)
    got = {"predict": namespace["label"] if net.is_classifier else namespace["y"]}
    if net.has_proba:
        got["predict_proba"] = namespace["proba"]
    if net.has_scores:
        got["decision_function"] = namespace["scores"]
    assert_matches(got, want, 1e-12, name)


def test_matlab_formula_reproduces_predict_in_octave(tmp_path):
    need_octave()
    from scipy.io import loadmat, savemat
    script, cases = [], []
    for name in FORMULA_CASES:
        est, net, X = case(name)
        d = tmp_path / name
        emit.write_all(matlab.render(net, name), str(d), force=True)
        savemat(d / "X.mat", {"X": X}, format="5")
        out = d / "out.mat"
        body = "\n".join(formula(net, "matlab"))
        saved = ["label"] if net.is_classifier else ["y"]
        saved += (["proba"] if net.has_proba else []) + (["scores"] if net.has_scores else [])
        script.append(f"clear; load('{d / (name + '.mat')}'); load('{d / 'X.mat'}');\n{body}\n"
                      f"save('-v6', '{out}', " + ", ".join(f"'{v}'" for v in saved) + ");")
        cases.append((name, est, net, X, out))
    proc = matlab.run_octave_script("\n".join(script), str(tmp_path))
    for name, est, net, X, out in cases:
        assert out.exists(), proc.stderr
        m = loadmat(out)
        want = reference(est, net, X)
        if net.is_classifier:
            got = {"predict": matlab._labels(m["label"])}
            got.update({k: m[v] for k, v in (("predict_proba", "proba"),
                                             ("decision_function", "scores")) if v in m})
        else:
            got = {"predict": m["y"]}
        assert_matches(got, want, 1e-9, name)


def test_inspect_cli_text_and_json_agree(tmp_path, capsys):
    est, X = positive_input_model([-1.0, -2.0, 3.0, 4.0], [-0.5, 0.0, 0.1, -0.2])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "x.npy", X)
    assert main(["inspect", str(tmp_path / "m.pkl"), "--data", str(tmp_path / "x.npy")]) == 0
    out = capsys.readouterr().out
    assert "layer 1: 2 of 4 units never active" in out
    assert "Z = np.maximum(Z, 0)" in out and "Z = max(Z, 0);" in out
    assert main(["inspect", str(tmp_path / "m.pkl"), "--data", str(tmp_path / "x.npy"), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["layers"] == [{**rep["layers"][0], "units": 4, "dead": [0, 1]}]
    assert rep["total_params"] == 1 * 4 + 4 + 4 * 1 + 1


def test_prune_dead_keeps_parity_on_the_data_and_drops_exactly_their_parameters(tmp_path, capsys):
    est, X = positive_input_model([-1.0, -2.0, 3.0, 4.0], [-0.5, 0.0, 0.1, -0.2])
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est))
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "out"
    assert main(["convert", str(tmp_path / "m.pkl"), "--prune-dead", "--data", str(tmp_path / "x.npy"),
                 "-o", str(out), "--to", "numpy,onnx"]) == 0
    captured = capsys.readouterr()
    assert "removed 2 units" in captured.err and "(6 of 13 parameters)" in captured.err  # 2 x (1 in + 1 bias + 1 out)
    assert "may wake" in captured.err
    with np.load(out / "m.npz") as w:
        assert w["W1"].shape == (1, 2) and w["W2"].shape == (2, 1)
    from mlpexport.emit import numpy as npx
    np.testing.assert_allclose(npx.load_module(str(out), "m").predict(X), est.predict(X), rtol=1e-12)


def test_prune_dead_without_data_is_refused(tmp_path, capsys):
    est, _ = case("reg_classic")[:2]
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(est))
    assert main(["convert", str(tmp_path / "m.pkl"), "--prune-dead", "-o", str(tmp_path / "o")]) == 2
    assert "--prune-dead needs --data" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _png_ok(path, size):
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.shape[:2] == (size[1], size[0])
    assert img[..., :3].std() > 0.01  # not blank


@pytest.mark.parametrize("model", ["sine_scaled", "classic"])
def test_units_plot(model, tmp_path):
    import make
    recipe = next(r for r in make.recipes() if r["name"] == model)
    png = tmp_path / "units.png"
    assert main(["inspect", make.model_path(recipe), "--plot", str(png), "--plot-size", "640x480"]) == 0
    _png_ok(png, (640, 480))


@pytest.mark.parametrize("name", ["multiclass_str", "lin_linear_svc_multi"])  # string labels
def test_parity_plot(name, tmp_path):
    import make
    recipe = next(r for r in make.recipes() if r["name"] == name)
    png = tmp_path / "parity.png"
    assert main(["check", make.model_path(recipe), "--to", "numpy,onnx", "--plot", str(png)]) == 0
    _png_ok(png, (900, 600))


def test_plot_options_are_validated(tmp_path, capsys):
    import make
    path = make.model_path(make.recipes()[0])
    assert main(["inspect", path, "--plot", str(tmp_path / "u.jpg")]) == 2
    assert main(["inspect", path, "--plot", str(tmp_path / "u.png"), "--plot-size", "big"]) == 2
    assert "WIDTHxHEIGHT" in capsys.readouterr().err



def test_formulas_keep_the_one_vs_rest_underflow_guard():
    """Rows where every class's sigmoid underflows to 0: scikit-learn gives uniform
    probabilities; a formula dividing by the row sum gave NaN (it lacked the guard)."""
    import copy
    est, _, X = case("sgd_multiclass")
    est = copy.deepcopy(est)
    est.intercept_ = np.full_like(est.intercept_, -1e4)
    net = network(est)
    want = reference(est, net, X)
    if np.isnan(want["predict_proba"]).any():
        import sklearn
        pytest.skip(f"scikit-learn {sklearn.__version__} has no such guard: it divides 0 by 0 "
                    f"(NaN) there; the exports keep the newer guard")
    assert (want["predict_proba"] == 1 / len(net.classes)).any()  # the case is exercised
    namespace = {**net.arrays(), "classes": net.classes, "np": np, "X": X}
    with np.errstate(over="ignore", invalid="ignore"):
        exec("\n".join(formula(net, "numpy")), namespace)
    assert_matches({"predict": namespace["label"], "predict_proba": namespace["proba"],
                    "decision_function": namespace["scores"]},
                   want, 1e-12, "ovr formula")
    assert "s(zero) = size(P, 2);" in formula(net, "matlab")


def test_formulas_and_report_name_the_columns_and_the_rows(tmp_path):
    """#12: the feature names beside X in both formulas, and where the rows came from."""
    pd = pytest.importorskip("pandas")
    import mlpexport
    from sklearn.linear_model import LinearRegression
    df = pd.DataFrame({"speed": [1.0, 2.0, 3.0, 4.0], "load": [0.0, 1.0, 0.0, 2.0]})
    est = LinearRegression().fit(df, [1.0, 2.0, 3.0, 5.0])
    rep = mlpexport.inspect(est)
    assert rep["formula_numpy"][0] == "Z = X  # X columns: speed, load"
    assert rep["formula_matlab"][0] == "Z = X;  % X columns: speed, load"
    assert rep["rows_source"] == ("1000 drawn rows, N(0, 1): no scaler says where your inputs "
                                  "live (pass --data for your own)")
    assert mlpexport.inspect(est, data=df)["rows_source"] == "4 given rows"


FIXTURE_MODELS = sorted(r["name"] for r in make.recipes())


@pytest.mark.parametrize("fixture", FIXTURE_MODELS)
def test_inspect_runs_on_every_fixture_model(fixture, capsys):
    # every stored model, text and --json: no model can crash inspect (a FunctionTransformer
    # among the inputs did: 'Func' object has no attribute 'parts'); the model as the
    # installed scikit-learn has it (the committed file, or its remake under another one)
    path = str(fixture_model(fixture))
    assert main(["inspect", path]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "forward pass, numpy" in out and "total parameters:" in out
    assert main(["inspect", path, "--json"]) == 0, capsys.readouterr().err
    rep = json.loads(capsys.readouterr().out)
    assert rep["preprocessing"] == [s[len("  preprocessing: "):] for s in out.splitlines()
                                    if s.startswith("  preprocessing: ")]


def test_inspect_names_function_transformer_steps():
    from mlpexport.load import load
    rep = report(network(load(Path(__file__).parent.parent / "fixtures" / "models" / "pipe_ttr_log1p.skops").estimator),
                 np.ones((3, 6)))
    assert "log1p on columns 0..0" in rep["preprocessing"]
