"""Worst parity error of every export against scikit-learn, per zoo model and target.

    .venv/bin/python benchmarks/parity.py

Rows: the model's training rows plus drawn rows (typical, zeros, 1000-spread extremes).
Relative error as `mlpexport check` measures it. MATLAB runs in octave-cli when present.
"""
import os
import sys
import tempfile
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))

from mlpexport import emit  # noqa: E402
from mlpexport.check import errors  # noqa: E402
from mlpexport.data import draw_rows  # noqa: E402
from mlpexport.emit import matlab, numpy as npx, onnx as onnx_target  # noqa: E402
from mlpexport.errors import RuntimeMissing  # noqa: E402
from mlpexport.extract import extract
from mlpexport.check import sklearn_outputs  # noqa: E402
from zoo import ZOO  # noqa: E402


def worst(got, want):
    rel = 0.0
    labels_ok = True
    for key, ref in want.items():
        out = np.asarray(got[key]).reshape(np.shape(ref))
        if key == "predict" and "predict_proba" in want:
            labels_ok &= bool((out.astype(str) == np.asarray(ref).astype(str)).all()
                              if np.asarray(ref).dtype.kind not in "biuf"
                              else (out.astype(float) == np.asarray(ref, float)).all())
            continue
        rel = max(rel, float(errors(out, ref)[1].max()))
    return rel, labels_ok


def main():
    print(f"{'model':<30} {'dtype':<8} {'numpy':>10} {'onnxrt':>10} {'onnx-ref':>10} {'octave':>10}  labels")
    for dtype in ("float64", "float32"):
        overall = {}
        for name, make in ZOO.items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est, X = make()
                net = extract(est)
            X = np.vstack([X, draw_rows(net)])
            want = sklearn_outputs(est, X, net)
            with tempfile.TemporaryDirectory() as d:
                emit.write_all(emit.render_all(net, name, list(emit.TARGETS), dtype), d, force=True)
                mod = npx.load_module(d, name)
                runs = {"numpy": {"predict": mod.predict(X), **(
                    {"predict_proba": mod.predict_proba(X)} if net.is_classifier else {})},
                    "onnxrt": onnx_target.run(d, name, X),
                    "onnx-ref": onnx_target.run(d, name, X, runtime="reference")}
                try:
                    runs["octave"] = matlab.run(d, name, X)
                except RuntimeMissing:
                    pass
            cells, all_labels = [], True
            for target in ("numpy", "onnxrt", "onnx-ref", "octave"):
                if target not in runs:
                    cells.append(f"{'-':>10}")
                    continue
                rel, ok = worst(runs[target], want)
                all_labels &= ok
                overall[target] = max(overall.get(target, 0.0), rel)
                cells.append(f"{rel:10.2e}")
            print(f"{name:<30} {dtype:<8} {' '.join(cells)}  {'identical' if all_labels else 'DIFFER'}")
        print(f"{'worst':<30} {dtype:<8} " + " ".join(f"{overall.get(t, float('nan')):10.2e}"
                                                      for t in ("numpy", "onnxrt", "onnx-ref", "octave")))


if __name__ == "__main__":
    main()
