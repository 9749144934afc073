"""The ONNX export in the runtimes people deploy on (#24): OpenVINO, tract, OpenCV dnn,
onnxruntime-node, onnxruntime-web (its wasm backend under Node.js). Zoo-wide parity per runtime and dtype (one session per model, judged by
check's own rules), and the rows `check` reports. A runtime that is not installed skips
with its reason, unless CI requires it (MLPEXPORT_REQUIRE_OPENVINO=1, ..._TRACT,
..._OPENCV, ..._NODE, ..._WEB). onnxruntime-node and -web are found through
MLPEXPORT_NODE_MODULES (the node_modules folder holding them), NODE_PATH or
./.node/node_modules."""
import json
import os

import numpy as np
import pytest

from conftest import ALL, AVAILABLE, case, clear_rows, reference
from mlpexport import emit
from mlpexport.check import DEFAULT_RTOL, _limit, compare_outputs
from mlpexport.emit import onnx as onnx_target
from mlpexport.emit import onnx_runtimes as rt

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if not os.environ.get("MLPEXPORT_NODE_MODULES") and os.path.isdir(os.path.join(ROOT, ".node", "node_modules")):
    os.environ["MLPEXPORT_NODE_MODULES"] = os.path.join(ROOT, ".node", "node_modules")

def need(runtime):
    why = rt.available(runtime)
    if why:
        if os.environ.get(rt.REQUIRE_ENV[runtime]) == "1":
            pytest.fail(f"{why} but {rt.REQUIRE_ENV[runtime]}=1")
        pytest.skip(why)


def write(net, directory, dtype):
    os.makedirs(directory, exist_ok=True)
    emit.write_all(onnx_target.render(net, "m", dtype=dtype), str(directory), force=True)
    return str(directory)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("runtime", list(rt.LABELS))
@pytest.mark.parametrize("name", ALL)
def test_zoo_in_each_runtime(name, runtime, dtype, tmp_path):
    """Every fixture model in every runtime: it passes by check's rules at the tolerance
    of the arithmetic the runtime computes in, or the runtime says why it cannot run it
    (text inputs; OpenCV's float64), never silently wrong. One session per model, on the
    training rows and the drawn extremes (a session costs more than its rows)."""
    need(runtime)
    est, net, X = case(name)
    try:
        run = rt.runner(write(net, tmp_path, dtype), "m", runtime)
    except rt.NotRun as exc:
        assert (net.vocab and runtime not in rt.PACKAGES) or (runtime == "opencv" and dtype == "float64"), exc
        return
    judged = run.judged
    assert judged == ("float32" if runtime == "openvino" else dtype)
    want = reference(est, net, X)
    if judged == "float32":  # as the float32 parity tests: rows float32 cannot tell (near-ties,
        keep = clear_rows(want, DEFAULT_RTOL[judged])  # one-vs-rest rows whose every sigmoid
        X, want = X[keep], {k: np.asarray(v)[keep] for k, v in want.items()}  # underflows)
    rows = compare_outputs(runtime, run(X), want, DEFAULT_RTOL[judged], 0.0,
                           left_out=run.left_out, limit=_limit(judged))
    assert rows and all(r.passed for r in rows), [(r.output, r.failure()) for r in rows]
    if runtime in ("tract", "opencv") and net.is_classifier and net.classes is not None \
            and np.asarray(net.classes).dtype.kind in "OU":
        assert "predict" in run.left_out  # a string label: not run there, said by check


def test_check_reports_a_row_set_per_runtime_in_text_json_and_junit(tmp_path):
    import xml.etree.ElementTree as ET

    import mlpexport
    from mlpexport.check import junit_xml
    for runtime in rt.LABELS:  # "all" names every runtime: each must be installed
        need(runtime)
    est, net, X = case("clf_multi_str")
    report = mlpexport.check(est, to="onnx", dtype="float32", onnx_runtimes="all")
    targets = {r.target for r in report.rows}
    assert targets == {"onnx", *rt.LABELS.values()}
    for runtime, label in rt.LABELS.items():
        mine = [r for r in report.rows if r.target == label]
        assert {r.output for r in mine} == {"predict", "predict_proba"}
    text = report.table()
    assert all(label in text for label in rt.LABELS.values())
    data = json.loads(json.dumps(report.to_json()))
    assert {r["target"] for r in data["rows"]} == targets
    root = ET.fromstring(junit_xml([report]))
    assert {c.get("classname") for c in root.iter("testcase")} == {f"model.{t}" for t in targets}


def test_float64_in_openvino_is_judged_at_float32_and_says_so():
    need("openvino")
    import mlpexport
    est, net, X = case("reg_classic")
    report = mlpexport.check(est, to="onnx", onnx_runtimes="openvino")
    row = next(r for r in report.rows if r.target == "onnx[openvino]")
    assert row.passed and row.rtol == DEFAULT_RTOL["float32"]
    assert "OpenVINO computes float64 graphs in float32" in row.note
    assert next(r for r in report.rows if r.target == "onnx").rtol == DEFAULT_RTOL["float64"]


def test_opencv_float64_is_known_wrong_and_said(tmp_path):
    need("opencv")
    import mlpexport
    est, net, X = case("reg_classic")
    report = mlpexport.check(est, to="onnx", onnx_runtimes="opencv")
    row = next(r for r in report.rows if r.target == "onnx[opencv]")
    assert row.status == "SKIP" and "OpenCV computes float64 graphs wrong" in row.note
    # and it is wrong indeed: the graph run there anyway disagrees
    import cv2
    d = write(net, tmp_path, "float64")
    cvnet = cv2.dnn.readNetFromONNX(os.path.join(d, "m.onnx"))
    cvnet.setInput(X, "X")
    got = cvnet.forward("variable")
    assert not np.allclose(got.ravel(), est.predict(X), rtol=1e-4)


def test_absent_runtime_is_a_skip_unless_required(monkeypatch):
    import mlpexport
    from mlpexport.errors import ExportError
    monkeypatch.delenv("MLPEXPORT_ONNX_RUNTIMES")  # check's own default: every runtime
    for env in rt.REQUIRE_ENV.values():  # as on a machine whose CI requires none (CI sets them)
        monkeypatch.delenv(env, raising=False)
    monkeypatch.setattr(rt, "available", lambda runtime: f"{runtime} is not installed (test)")
    est, net, X = case("reg_classic")
    report = mlpexport.check(est, to="onnx")
    assert report.passed
    assert [(r.target, r.status) for r in report.rows if r.target != "onnx"] == [
        (label, "SKIP") for label in rt.LABELS.values()]
    with pytest.raises(ExportError, match="tract is not installed"):
        mlpexport.check(est, to="onnx", onnx_runtimes="tract")
    monkeypatch.setenv("MLPEXPORT_REQUIRE_OPENVINO", "1")
    with pytest.raises(ExportError, match="MLPEXPORT_REQUIRE_OPENVINO"):
        mlpexport.check(est, to="onnx")
    monkeypatch.delenv("MLPEXPORT_REQUIRE_OPENVINO")
    only = mlpexport.check(est, to="onnx", onnx_runtimes="onnxruntime")
    assert {r.target for r in only.rows} == {"onnx"}
    monkeypatch.setenv("MLPEXPORT_ONNX_RUNTIMES", "onnxruntime")  # the default, for CI configs
    assert {r.target for r in mlpexport.check(est, to="onnx").rows} == {"onnx"}


def test_a_runtime_that_cannot_load_the_graph_is_a_fail_row(monkeypatch):
    import mlpexport
    monkeypatch.setattr(rt, "available", lambda runtime: None)

    def broken(prep):
        raise RuntimeError("no kernel for Foo")
    monkeypatch.setattr(rt, "_tract", broken)
    est, net, X = case("reg_classic")
    report = mlpexport.check(est, to="onnx", onnx_runtimes="tract")
    row = next(r for r in report.rows if r.target == "onnx[tract]")
    assert not report.passed and row.status == "FAIL" and "no kernel for Foo" in row.note


def test_convert_runs_only_onnxruntime_unless_asked(tmp_path):
    import mlpexport
    est, net, X = case("reg_classic")
    report = mlpexport.convert(est, tmp_path / "a", to="onnx")
    assert {r.target for r in report.rows} == {"onnx"}
    for runtime in rt.LABELS:  # "all" names every runtime: each must be installed
        need(runtime)
    report = mlpexport.convert(est, tmp_path / "b", to="onnx", dtype="float32", onnx_runtimes="all")
    assert {r.target for r in report.rows} == {"onnx", *rt.LABELS.values()}


def test_cli_onnx_runtimes_flag(tmp_path, capsys):
    from mlpexport.cli import main
    model = os.path.join(ROOT, "fixtures", "models", "classic.skops")
    assert main(["check", model, "--to", "onnx", "--onnx-runtimes", "vulkan"]) == 2
    assert "unknown ONNX runtime vulkan" in capsys.readouterr().err
    code = main(["check", model, "--to", "onnx", "--onnx-runtimes", "onnxruntime", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and {r["target"] for r in out["rows"]} == {"onnx"}


def test_readme_runtime_table_counts_are_the_zoos():
    """The README's runtime table gives the zoo's counts, which the tests above prove cell by
    cell: every model, the ones without text (OpenVINO, tract, OpenCV take no strings), and
    the string labels tract and OpenCV cannot return."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    nets = [case(n)[1] for n in ALL]
    numbers = [n for n in nets if not n.vocab]
    strings = [n for n in numbers if n.is_classifier and n.classes is not None
               and np.asarray(n.classes).dtype.kind in "OU"]
    assert (f"on the {len(ALL)} fixture\nmodels ({len(numbers)} without text columns, "
            f"{len(strings)} of those with string labels)") in readme
    table = readme[readme.index("| runtime (tested version)"):]
    table = table[:table.index("\n\n")]
    assert table.count(f"{len(ALL)}/{len(ALL)}") == 8
    assert table.count(f"{len(numbers)}/{len(numbers)}") == 5  # OpenCV float64: not run
    assert f"the {len(strings)} string labels" in table
    assert table.count(f"the {len(TEXT)} text models pass with `--onnx-text codes`") == 2
    for runtime in ("OpenVINO", "tract", "OpenCV", "onnxruntime-node", "onnxruntime-web"):
        assert runtime in table


TEXT = [n for n in AVAILABLE if case(n)[1].vocab]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("runtime", list(rt.LABELS))
@pytest.mark.parametrize("name", TEXT)
def test_text_models_with_codes_in_each_runtime(name, runtime, dtype, tmp_path):
    """--onnx-text codes: the text models run where strings cannot (OpenVINO, tract, OpenCV
    float32), fed the codes of NAME.codes.json, and agree with scikit-learn."""
    need(runtime)
    est, net, X = case(name)
    os.makedirs(tmp_path, exist_ok=True)
    emit.write_all(onnx_target.render(net, "m", dtype=dtype, onnx_text="codes"), str(tmp_path), force=True)
    try:
        run = rt.runner(str(tmp_path), "m", runtime)
    except rt.NotRun as exc:
        assert runtime == "opencv" and dtype == "float64", exc
        return
    rows = compare_outputs(runtime, run(X), reference(est, net, X), DEFAULT_RTOL[run.judged], 0.0,
                           left_out=run.left_out, limit=_limit(run.judged))
    assert rows and all(r.passed for r in rows), [(r.output, r.failure()) for r in rows]


def test_web_is_its_own_runtime_found_apart_from_node(tmp_path, monkeypatch):
    """onnxruntime-web is looked for by itself: a node_modules folder with only
    onnxruntime-node runs onnx[node] and gives onnx[web] a SKIP row naming the package
    (a failure under MLPEXPORT_REQUIRE_WEB=1); both float64 rows are judged at float64's
    rtol (the wasm backend computes float64, measured on the zoo above)."""
    need("node")
    need("web")
    import mlpexport
    from mlpexport.errors import ExportError
    est, net, X = case("reg_classic")
    report = mlpexport.check(est, to="onnx", onnx_runtimes="node,web")
    rows = {r.target: r for r in report.rows}
    assert report.passed and rows["onnx[web]"].rtol == rows["onnx[node]"].rtol == DEFAULT_RTOL["float64"]
    only_node = tmp_path / "node_modules"
    only_node.mkdir()
    (only_node / "onnxruntime-node").symlink_to(os.path.join(rt._node_modules("onnxruntime-node"), "onnxruntime-node"))
    for dep in os.listdir(rt._node_modules("onnxruntime-node")):  # its dependencies, not -web
        if dep != "onnxruntime-web" and not (only_node / dep).exists():
            (only_node / dep).symlink_to(os.path.join(rt._node_modules("onnxruntime-node"), dep))
    monkeypatch.setenv("MLPEXPORT_NODE_MODULES", str(only_node))
    monkeypatch.delenv("NODE_PATH", raising=False)
    monkeypatch.delenv("MLPEXPORT_REQUIRE_WEB", raising=False)
    monkeypatch.delenv("MLPEXPORT_ONNX_RUNTIMES", raising=False)  # check's default: all
    monkeypatch.chdir(tmp_path)
    assert "onnxruntime-web was not found" in rt.available("web") and rt.available("node") is None
    report = mlpexport.check(est, to="onnx", onnx_runtimes=None)
    rows = {r.target: r for r in report.rows}
    assert rows["onnx[node]"].passed and rows["onnx[web]"].status == "SKIP"
    assert "onnxruntime-web was not found" in rows["onnx[web]"].note
    monkeypatch.setenv("MLPEXPORT_REQUIRE_WEB", "1")
    with pytest.raises(ExportError, match="MLPEXPORT_REQUIRE_WEB"):
        mlpexport.check(est, to="onnx")
