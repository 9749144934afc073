"""NAME.onnx in the ONNX runtimes people deploy on, for `check` (one row set each).

onnxruntime (Python) is the ONNX target's own runner (emit/onnx.py) and always runs;
these are the others, each run with the settings the README tells users:

    openvino  `openvino` pip, CPU, INFERENCE_PRECISION_HINT=f32 (its default on CPUs with
              AVX512_BF16 is bf16: labels flip). It computes float64 graphs in float32.
    tract     the `tract` pip package (Sonos' tract through its Python API).
    opencv    `opencv-python-headless`, cv2.dnn.readNetFromONNX. OpenCV 5 computes
              float64 graphs wrong: it drops the activation it fuses after MatMul + Add
              and refuses a double Softmax, so a float64 graph is not run there (SKIP).
    node      onnxruntime-node through `node`: the npm package's folder in
              MLPEXPORT_NODE_MODULES (or NODE_PATH), else ./.node/node_modules.
    web       onnxruntime-web's wasm backend (executionProviders ['wasm'], one thread, its
              .wasm files from the package's dist folder) under `node`, found as for node;
              the same script (onnx_node.js, told the package). It takes string tensors
              and computes float64 graphs in float64, as onnxruntime does (measured on the
              zoo by tests/test_onnx_runtimes.py).

Neither OpenVINO, tract nor OpenCV takes string tensors through these APIs: a graph with
text inputs is not run there (SKIP), and a string `label` output is cut from the copy
they run (the row's note says so; the other outputs are judged). Runtimes that compute
float32 only are judged at float32's tolerance and say so.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import RuntimeFailed, RuntimeMissing

LABELS = {"openvino": "onnx[openvino]", "tract": "onnx[tract]", "opencv": "onnx[opencv]",
          "node": "onnx[node]", "web": "onnx[web]"}
RUNTIMES = ("onnxruntime",) + tuple(LABELS)
REQUIRE_ENV = {r: f"MLPEXPORT_REQUIRE_{r.upper()}" for r in LABELS}  # "1": missing is an error
INSTALL = {"openvino": "pip install openvino", "tract": "pip install tract",
           "opencv": "pip install opencv-python-headless",
           "node": "node and npm install onnxruntime-node, folder in MLPEXPORT_NODE_MODULES",
           "web": "node and npm install onnxruntime-web, folder in MLPEXPORT_NODE_MODULES"}
PACKAGES = {"node": "onnxruntime-node", "web": "onnxruntime-web"}  # npm, run by onnx_node.js


class NotRun(Exception):
    """The runtime is there but cannot run this graph (text inputs, a known wrong dtype)."""


@dataclass
class Prepared:
    path: str  # the graph the runtime runs (a copy without string outputs, or NAME.onnx)
    inputs: list  # (name, onnx element type)
    outputs: list  # output names, in graph order
    left_out: tuple  # scikit-learn's names of outputs not run here
    dtype: str  # the graph's arithmetic
    meta: dict  # its metadata_props


def parse(text: str | None) -> tuple[str, ...] | None:
    """'openvino,tract' or 'all' or 'onnxruntime' -> the extra runtimes chosen (None:
    the default, every one that is installed). Unknown names are a usage error."""
    from ..errors import UsageError
    if text is None:
        return None
    names = [t.strip() for t in str(text).split(",") if t.strip()]
    if names == ["all"]:
        return tuple(LABELS)
    unknown = [n for n in names if n not in RUNTIMES]
    if unknown or not names:
        raise UsageError(f"unknown ONNX runtime {', '.join(unknown) or repr(text)}; choose from "
                         f"{', '.join(RUNTIMES)} or all.")
    return tuple(n for n in dict.fromkeys(names) if n != "onnxruntime")


def required(chosen) -> set:
    """Runtimes whose absence is an error: named with --onnx-runtimes, or required by
    their MLPEXPORT_REQUIRE_... variable (CI)."""
    out = {r for r, env in REQUIRE_ENV.items() if os.environ.get(env) == "1"}
    return out | set(chosen or ())


def _node_modules(package="onnxruntime-node"):
    for path in (os.environ.get("MLPEXPORT_NODE_MODULES"), *os.environ.get("NODE_PATH", "").split(os.pathsep),
                 os.path.join(os.getcwd(), ".node", "node_modules")):
        if path and os.path.isdir(os.path.join(path, package)):
            return path
    return None


def available(runtime) -> str | None:
    """None when the runtime can be used, else why not (for a SKIP row)."""
    if runtime in PACKAGES:
        package = PACKAGES[runtime]
        if shutil.which("node") is None:
            return "node is not installed"
        if _node_modules(package) is None:
            return (f"{package} was not found (npm install {package}; its "
                    "node_modules folder in MLPEXPORT_NODE_MODULES)")
        return None
    module = {"openvino": "openvino", "tract": "tract", "opencv": "cv2"}[runtime]
    import importlib.util
    if importlib.util.find_spec(module) is None:
        return f"{runtime} is not installed ({INSTALL[runtime]})"
    return None


def left_out_of(directory, name) -> tuple:
    """What NAME.onnx itself was written without (--onnx-no-label)."""
    from .onnx import left_out
    return left_out(os.path.join(directory, f"{name}.onnx"))


def _prepare(path, runtime, tmp) -> Prepared:
    import onnx
    from onnx import TensorProto
    model = onnx.load(path)
    inputs = [(i.name, i.type.tensor_type.elem_type) for i in model.graph.input]
    dtype = "float32" if any(t == TensorProto.FLOAT for _, t in inputs) else "float64"
    from .onnx import OUTPUTS, left_out
    gone = list(left_out(path))
    if runtime in ("openvino", "tract", "opencv"):
        if any(t == TensorProto.STRING for _, t in inputs):
            raise NotRun(f"{runtime} takes no string tensors, and this graph reads text "
                         "columns (--onnx-text codes writes one it runs)")
        if runtime == "opencv" and dtype == "float64":
            raise NotRun("OpenCV computes float64 graphs wrong (it drops the activation it "
                         "fuses after MatMul + Add, and refuses a double Softmax); use "
                         "--dtype float32 for OpenCV")
        strings = [o.name for o in model.graph.output
                   if o.type.tensor_type.elem_type == TensorProto.STRING]
        if strings and runtime != "openvino":  # OpenVINO returns a string label
            _cut_outputs(model, strings)
            gone += [OUTPUTS[n] for n in strings]
            path = os.path.join(tmp, "graph.onnx")
            onnx.save(model, path)
    return Prepared(path, inputs, [o.name for o in model.graph.output], tuple(gone), dtype,
                    {p.key: p.value for p in model.metadata_props})


def _cut_outputs(model, names):
    """The graph without these outputs, and without the nodes and initializers only they
    used (OpenCV refuses a STRING initializer even when nothing reads it)."""
    keep = [o for o in model.graph.output if o.name not in names]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    needed = {o.name for o in keep}
    nodes = []
    for node in reversed(list(model.graph.node)):
        if any(o in needed for o in node.output):
            nodes.append(node)
            needed.update(node.input)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    inits = [t for t in model.graph.initializer if t.name in needed]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)


def runner(directory, name, runtime):
    """X -> outputs by scikit-learn's names, from NAME.onnx in `runtime`; the function
    carries left_out (outputs not run there), note and judged ("float32" when the
    runtime computes a float64 graph in float32). RuntimeMissing when it is absent,
    NotRun when it cannot run this graph."""
    why = available(runtime)
    if why:
        raise RuntimeMissing(why)
    from .onnx import OUTPUTS, _input_columns, feed, given_codes
    codes = given_codes(os.path.join(directory, f"{name}.onnx"))
    tmp = tempfile.mkdtemp(prefix="mlpexport-onnx-")
    try:
        prep = _prepare(os.path.join(directory, f"{name}.onnx"), runtime, tmp)
        infer = {"openvino": _openvino, "tract": _tract, "opencv": _opencv,
                 "node": _node, "web": _web}[runtime](prep)
    except NotRun:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeFailed(f"NAME.onnx did not load in {runtime}: "
                            f"{str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__}") from None
    from onnx import TensorProto
    np_dtype = np.float32 if prep.dtype == "float32" else np.float64
    names = [n for n, _ in prep.inputs]
    strings = [t == TensorProto.STRING for _, t in prep.inputs]
    at = _input_columns(names, prep.meta)  # the X column of each input (unread ones have none)

    def run_rows(X):
        outs = infer(feed(names, strings, X, np_dtype, at, codes))
        return {OUTPUTS[n]: np.asarray(v) for n, v in zip(prep.outputs, outs)}
    run_rows.left_out = prep.left_out
    judged = "float32" if runtime == "openvino" else prep.dtype
    notes = []
    if judged != prep.dtype:
        notes.append("OpenVINO computes float64 graphs in float32: judged at float32's rtol")
    run_rows.note, run_rows.judged = "; ".join(notes), judged
    weakref.finalize(run_rows, shutil.rmtree, tmp, True)  # the cut copy, once done
    return run_rows


def _openvino(prep):
    import openvino as ov
    compiled = ov.Core().compile_model(prep.path, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    # by any of its names: OpenVINO may name an Identity output after its input
    ports = [next(o for o in compiled.outputs if n in o.get_names()) for n in prep.outputs]

    def infer(feeds):
        result = compiled(feeds)
        return [result[o] for o in ports]
    return infer


def _tract(prep):
    import tract
    model = tract.onnx().load(prep.path).into_model().into_runnable()

    def infer(feeds):
        return [t.to_numpy() for t in model.run([feeds[n] for n, _ in prep.inputs])]
    return infer


def _opencv(prep):
    import cv2
    net = cv2.dnn.readNetFromONNX(prep.path)

    def infer(feeds):
        for n, v in feeds.items():
            net.setInput(v, n)
        return net.forward(prep.outputs)
    return infer


NODE_TYPES = {"float64": np.float64, "float32": np.float32, "int64": np.int64, "bool": np.bool_}


def _web(prep):
    return _node(prep, "onnxruntime-web")


def _node(prep, package="onnxruntime-node"):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "onnx_node.js")
    env = dict(os.environ, NODE_PATH=_node_modules(package))

    def encode(name, v):
        v = np.asarray(v)
        if v.dtype == object:
            return {"name": name, "type": "string", "shape": list(v.shape),
                    "data": [str(s) for s in v.ravel()]}
        kind = {np.dtype(np.float64): "float64", np.dtype(np.float32): "float32",
                np.dtype(np.int64): "int64"}[v.dtype]
        return {"name": name, "type": kind, "shape": list(v.shape),
                "data": base64.b64encode(np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<")).tobytes()).decode()}

    def infer(feeds):
        request = {"model": prep.path, "inputs": [encode(n, v) for n, v in feeds.items()]}
        done = subprocess.run(["node", script, package], input=json.dumps(request).encode(),
                              capture_output=True, env=env, timeout=600)
        if done.returncode:
            raise RuntimeFailed(f"{package}: {done.stderr.decode(errors='replace').strip()[:300]}")
        outs = {}
        for t in json.loads(done.stdout)["outputs"]:
            if t["type"] == "string":
                a = np.array(t["data"], dtype=object)
            else:
                a = np.frombuffer(base64.b64decode(t["data"]), dtype=np.dtype(NODE_TYPES[t["type"]]).newbyteorder("<"))
            outs[t["name"]] = a.reshape(t["shape"])
        return [outs[n] for n in prep.outputs]
    return infer
