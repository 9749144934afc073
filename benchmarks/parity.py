"""Worst parity error of every export against scikit-learn, per zoo model and target.

    .venv/bin/python benchmarks/parity.py [NAME_PREFIX ...]   (e.g. lin_ glm_ sgd_)

Rows: the model's training rows plus drawn rows (typical, zeros, 1000-spread extremes).
Relative error as `mlpexport check` measures it. MATLAB runs in octave-cli and C is
compiled with cc when they are present.
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
from mlpexport.emit import c as c_target, matlab, numpy as npx, onnx as onnx_target  # noqa: E402
from mlpexport.errors import RuntimeMissing  # noqa: E402
from mlpexport.extract import extract
from mlpexport.check import sklearn_outputs  # noqa: E402
from zoo import ZOO  # noqa: E402


def worst(got, want):
    rel = 0.0
    labels_ok = True
    for key, ref in want.items():
        out = np.asarray(got[key]).reshape(np.shape(ref))
        if key == "predict" and ("predict_proba" in want or "decision_function" in want):
            labels_ok &= bool((out.astype(str) == np.asarray(ref).astype(str)).all()
                              if np.asarray(ref).dtype.kind not in "biuf"
                              else (out.astype(float) == np.asarray(ref, float)).all())
            continue
        rel = max(rel, float(errors(out, ref)[1].max()))
    return rel, labels_ok


def kept(want, dtype):
    """float32: rows that are not near-ties of the deciding values and whose values
    float32 can hold (as tests/conftest.py's clear_rows)."""
    n = len(want["predict"])
    if dtype == "float64":
        return np.ones(n, bool)
    deciding = want.get("predict_proba", want.get("decision_function"))
    if deciding is None:
        y = np.abs(np.asarray(want["predict"], dtype=np.float64)).reshape(n, -1)
        return (y <= np.finfo(np.float32).max).all(axis=1)
    d = np.asarray(deciding, dtype=np.float64)
    scale = 1.0 if "predict_proba" in want else (np.median(np.abs(d)) or 1.0)
    if d.ndim == 1:
        return np.abs(d) > 1e-4 * scale
    if np.ndim(want["predict"]) == 2:
        return (np.abs(d - 0.5) > 1e-4).all(axis=1)
    top = np.sort(d, axis=1)
    return top[:, -1] - top[:, -2] > 1e-4 * scale


def main():
    prefixes = tuple(sys.argv[1:])
    targets = ("numpy", "onnxrt", "onnx-ref", "octave", "c")
    print(f"{'model':<30} {'dtype':<8} " + " ".join(f"{t:>10}" for t in targets) + "  labels")
    for dtype in ("float64", "float32"):
        overall = {}
        for name, make in ZOO.items():
            if prefixes and not name.startswith(prefixes):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                est, X = make()
                net = extract(est)
            X = np.vstack([X, draw_rows(net)])
            want = sklearn_outputs(est, X, net)
            with tempfile.TemporaryDirectory() as d:
                targets_here = [t for t in emit.TARGETS if not (net.vocab and t == "c")]  # text: no C
                emit.write_all(emit.render_all(net, name, targets_here, dtype), d, force=True)
                mod = npx.load_module(d, name)
                runs = {"numpy": {"predict": mod.predict(X), **(
                    {"predict_proba": mod.predict_proba(X)} if net.has_proba else {}), **(
                    {"decision_function": mod.decision_function(X)} if net.has_scores else {})},
                    "onnxrt": onnx_target.run(d, name, X),
                    "onnx-ref": onnx_target.run(d, name, X, runtime="reference")}
                for target, run in (("octave", matlab.run), ("c", c_target.run)):
                    if target == "c" and "c" not in targets_here:
                        continue
                    try:
                        runs[target] = run(d, name, X)
                    except RuntimeMissing:
                        pass
            cells, all_labels = [], True
            for target in targets:
                if target not in runs:
                    cells.append(f"{'-':>10}")
                    continue
                keep = kept(want, dtype)
                rel, ok = worst({k: np.asarray(v).reshape(len(X), -1)[keep] for k, v in runs[target].items()},
                                {k: np.asarray(v).reshape(len(X), -1)[keep] for k, v in want.items()})
                all_labels &= ok
                overall[target] = max(overall.get(target, 0.0), rel)
                cells.append(f"{rel:10.2e}")
            print(f"{name:<30} {dtype:<8} {' '.join(cells)}  {'identical' if all_labels else 'DIFFER'}")
        print(f"{'worst':<30} {dtype:<8} " + " ".join(f"{overall.get(t, float('nan')):10.2e}"
                                                      for t in targets))


if __name__ == "__main__":
    main()
