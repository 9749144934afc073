"""Single-row latency of the C export, measured against the alternatives in one run.

    .venv/bin/python benchmarks/bench_c.py

For the three models of bench.py (StandardScaler + MLPRegressor 12-(11,10)-1,
64-(256,256)-10, 784-(512,512)-10) it prints nanoseconds per row of: the C export
called in a C loop (compiled -O2, timed by clock_gettime inside the program), the same
library called once per row through ctypes, the numpy module's `Model` (allocation-free
one-row path) and skl2onnx's float64 graph in onnxruntime; the model's multiply-adds per
row; the C loop's nanoseconds per multiply-add; and ratios against onnxruntime. Every
runtime's parity error against scikit-learn's predict is printed next to its time.
"""
import ctypes
import os
import subprocess
import tempfile
import time

import numpy as np

from bench import MODELS, fit, ort_session, rel, timeit
from mlpexport import emit
from mlpexport.emit import c as c_target, numpy as npx
from mlpexport.extract import extract

LOOP = r"""#define _POSIX_C_SOURCE 199309L  /* clock_gettime under -std=c99 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "m.h"
int main(void)
{
    static double x[m_N_FEATURES], y[m_N_OUTPUTS];
    long reps = %(reps)d, r;
    size_t j;
    double sink = 0, best = 1e30;
    int trial;
    for (j = 0; j < m_N_FEATURES; ++j) x[j] = 0.25 * (double)(j %% 7) - 0.5;
    for (trial = 0; trial < 5; ++trial) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (r = 0; r < reps; ++r) {
            x[0] = (double)(r & 7);  /* a new row each time: nothing is hoisted */
            m_predict(x, 1, y);
            sink += y[0];
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        {
            double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / reps;
            if (ns < best) best = ns;
        }
    }
    printf("%%.3f %%g\n", best, sink);
    return 0;
}
"""


def bench(n_features, hidden, n_out):
    from skl2onnx import to_onnx
    est = fit(n_features, hidden, n_out)
    net = extract(est)
    d = tempfile.mkdtemp(prefix="mlpexport-bench-c-")
    emit.write_all(emit.render_all(net, "m", ["numpy", "c"], "float64"), d, force=True)
    macs = sum(W.size for W in (layer.W for layer in net.layers))
    reps = max(2000, int(2e8 // max(macs, 1)))
    with open(os.path.join(d, "loop.c"), "w") as f:
        f.write(LOOP % {"reps": reps})
    exe = os.path.join(d, "loop")
    subprocess.run([*c_target.compiler(), "-std=c99", "-O2", "-o", exe, os.path.join(d, "loop.c"),
                    os.path.join(d, "m.c"), "-I", d, "-lm"], check=True)
    c_loop_ns = float(subprocess.run([exe], capture_output=True, text=True, check=True).stdout.split()[0])

    rng = np.random.default_rng(1)
    x = rng.normal(size=(1, n_features)) * 3 + 1
    want = est.predict(x)
    lib = ctypes.CDLL(c_target.build(d, "m", d))
    dptr = ctypes.POINTER(ctypes.c_double)
    f = lib.m_predict
    f.argtypes, f.restype = [dptr, ctypes.c_size_t, dptr], ctypes.c_int
    xc = np.ascontiguousarray(x)
    y = np.empty((1, net.n_outputs))
    xp, yp = xc.ctypes.data_as(dptr), y.ctypes.data_as(dptr)

    def ctypes_call():
        f(xp, 1, yp)
    ctypes_call()
    c_err = rel(y if n_out > 1 else y[:, 0], want)
    model = npx.load_module(d, "m").Model()
    model_err = rel(np.reshape(model.predict(x[0]), np.shape(want)), want)
    session = ort_session(to_onnx(est, x.astype(np.float64)).SerializeToString())
    feed = {session.get_inputs()[0].name: x}
    ort_err = rel(session.run(None, feed)[0].reshape(np.shape(want)), want)
    t_ctypes = timeit(ctypes_call) * 1e9
    t_model = timeit(lambda: model.predict(x[0])) * 1e9
    t_ort = timeit(lambda: session.run(None, feed)) * 1e9
    label = f"{n_features}-{hidden}-{n_out}".replace(" ", "")
    print(f"{label:<18} {macs:>9,} MACs  C loop {c_loop_ns:>10,.0f} ns ({c_loop_ns / macs:.2f} ns/MAC, "
          f"{c_loop_ns / t_ort:.3f}x ORT)  ctypes {t_ctypes:>9,.0f} ns ({t_ctypes / t_ort:.3f}x ORT, "
          f"err {c_err:.1e})  numpy Model {t_model:>9,.0f} ns ({t_model / t_ort:.2f}x ORT, "
          f"err {model_err:.1e})  skl2onnx+ORT f64 {t_ort:>9,.0f} ns (err {ort_err:.1e})")


def main():
    t = time.perf_counter()
    print("single-row latency, median; ratios against skl2onnx float64 in onnxruntime")
    for n_features, hidden, n_out in MODELS:
        bench(n_features, hidden, n_out)
    print(f"({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
