"""The mixed-types pipeline (docs/mixed_types: imputers, scaler, one-hot on text, logistic
regression), ours against skl2onnx, at 1 and 100,000 rows, measured in one run.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/bench_pipelines.py [--rows 100000]

Prints seconds per call (median of repeats) for scikit-learn's predict_proba, our numpy
module, our ONNX graph in onnxruntime (float64, one input per feature), and skl2onnx's
graph in onnxruntime (float32, the precision it converts in); ratios are ours / skl2onnx,
and each runtime's worst error against scikit-learn is printed beside its time. skl2onnx
cannot convert the string imputer with NaN as its missing value, so its graph is made
from the same pipeline with missing text filled in beforehand (the only way it converts);
that is said in the output.
"""
import argparse
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))


def timeit(fn, budget=0.5, max_reps=500):
    fn()
    times, start = [], time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < max_reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _text_imputer_on_empty_strings(est):
    """The same pipeline refitted where missing text is "" (what skl2onnx converts)."""
    from sklearn.base import clone
    from zoo_encoders import passengers
    twin = clone(est)  # fitted on zoo.mixed_types's rows, with "" where text is missing
    twin.set_params(columntransformer__cat__simpleimputer__missing_values="")
    df, y = passengers(200, missing_text="")
    return twin.fit(df, y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import onnxruntime as ort
    from zoo import ZOO
    from zoo_encoders import passengers
    from mlpexport import emit
    from mlpexport.emit import numpy as npx, onnx as ox
    from mlpexport.extract import extract

    est, _ = ZOO["mixed_types"]()
    net = extract(est)
    tmp = tempfile.mkdtemp()
    emit.write_all({**npx.render(net, "m"), **ox.render(net, "m")}, tmp, force=True)
    mod = npx.load_module(tmp, "m")
    ours = ort.InferenceSession(os.path.join(tmp, "m.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in ours.get_inputs()]

    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    types = [(n, StringTensorType([None, 1]) if n in ("embarked", "sex") else
              FloatTensorType([None, 1])) for n in names]
    try:
        convert_sklearn(est, initial_types=types)
        why = "skl2onnx converted the pipeline as it is"
    except Exception as exc:  # the string imputer with NaN as its missing value
        why = (f"skl2onnx refuses the pipeline ({type(exc).__name__}: "
               f"{str(exc).splitlines()[0][:100]}); its graph is of the same pipeline refitted "
               f"with missing_values='' in the text imputer")
    twin = _text_imputer_on_empty_strings(est)
    theirs = ort.InferenceSession(convert_sklearn(twin, initial_types=types).SerializeToString(),
                                  providers=["CPUExecutionProvider"])

    print(f"mixed-types pipeline ({net.meta['source']}), seconds per call, median")
    print(f"{'rows':>7} {'sklearn':>10} {'numpy':>10} {'onnx f64':>10} {'skl2onnx f32':>13} "
          f"{'numpy/skl2onnx':>15} {'onnx/skl2onnx':>14}   worst abs error vs sklearn")
    for n in (1, args.rows):
        df = passengers(n, seed=1)[0]
        want = est.predict_proba(df)
        feed64 = ox.feed(names, [n in ("embarked", "sex") for n in names], df.to_numpy(dtype=object),
                         np.float64)
        t_sk = timeit(lambda: est.predict_proba(df))
        t_np = timeit(lambda: mod.predict_proba(df))
        t_ox = timeit(lambda: ours.run(["probabilities"], feed64))
        err = {"numpy": np.abs(mod.predict_proba(df) - want).max(),
               "onnx": np.abs(ours.run(["probabilities"], feed64)[0] - want).max()}
        if theirs is not None:
            feed32 = {k: (v if v.dtype == object else v.astype(np.float32)) for k, v in feed64.items()}
            out = [o.name for o in theirs.get_outputs()][1]
            t_th = timeit(lambda: theirs.run([out], feed32))
            got = theirs.run([out], feed32)[0]
            got = np.array([[d[0], d[1]] for d in got]) if isinstance(got, list) else got
            err["skl2onnx"] = np.abs(got - want).max()  # its twin has the same fitted numbers
            ratio_np, ratio_ox = t_np / t_th, t_ox / t_th
        print(f"{n:>7} {t_sk:>10.2e} {t_np:>10.2e} {t_ox:>10.2e} {t_th:>13.2e} {ratio_np:>15.2f} "
              f"{ratio_ox:>14.2f}   " + ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
    print(why + ".")


if __name__ == "__main__":
    main()
