"""Speed of every runtime, measured in one run and one process, with its parity error.

    .venv/bin/pip install -e '.[bench]'     # skl2onnx, the alternative we compare with
    .venv/bin/python benchmarks/bench.py [--check-rows 10000000] [--quick] [--runs 3] [--no-octave]

For StandardScaler + MLPRegressor models 12-(11,10)-1, 64-(256,256)-10 and
784-(512,512)-10 (trained briefly on random data) and 1 / 1,000 / 100,000 rows it prints
seconds per call (median of repeats) for: scikit-learn predict, skl2onnx's graph in
onnxruntime (float64 and float32), our ONNX graph in onnxruntime (float64, float32), our
numpy module's predict(X), its Model object (one row), and the Octave .m export (timed
inside Octave, start-up excluded) when octave-cli is installed. Ratios are ours / skl2onnx
at the same dtype. Every runtime's parity error against scikit-learn is printed too, so
speed never hides a wrong answer. Each model is timed --runs times (a fresh export and
session each run; within a run the runtimes take turns, one call each per round for a
batch, a loop of 50 calls each for one row, as in a real-time loop); the
table shows the median of the runs, and the ratios line the median of the per-run ratios
with their range, so a busy machine shows as a wide range rather than a wrong number.
Then start-up times and the peak memory of `mlpexport check` streaming a memory-mapped
.npy of --check-rows x 12 rows.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

from mlpexport import emit
from mlpexport.check import errors
from mlpexport.emit import matlab, numpy as npx
from mlpexport.extract import extract

MODELS = [(12, (11, 10), 1), (64, (256, 256), 10), (784, (512, 512), 10)]
ROWS = (1, 1000, 100_000)


def timeit(fn, budget=0.3, max_reps=2000):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget and len(times) < max_reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def interleaved(fns, budget, max_reps, calls=1):
    """Median seconds per call of each fn, timed in turns (each round: `calls` calls of
    each fn in a loop of its own), so that a load that comes and goes on a shared machine
    weighs on all of them alike; a loop of calls keeps one row's runtime as warm as in a
    real-time loop."""
    for fn in fns.values():
        fn()  # warm-up
    times = {k: [] for k in fns}
    first = times[next(iter(fns))]
    start = time.perf_counter()
    while len(first) < 3 or (time.perf_counter() - start < budget and len(first) < max_reps):
        for k, fn in fns.items():
            t = time.perf_counter()
            for _ in range(calls):
                fn()
            times[k].append((time.perf_counter() - t) / calls)
    return {k: float(np.median(v)) for k, v in times.items()}


def fit(n_features, hidden, n_out):
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, n_features)) * 3 + 1
    Y = np.tanh(X[:, :n_out] + X[:, -n_out:] ** 2 / 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=hidden, max_iter=5,
                                                            random_state=0)).fit(X, Y if n_out > 1 else Y[:, 0])


def ort_session(model_bytes):
    """onnxruntime's session with its thread pool not spinning: by default its idle threads
    spin after each run and take the core the next runtime timed in turns needs (measured:
    numpy's 1,000-row 64-(256,256)-10 batch 13.8 ms after onnxruntime calls, 3.0 ms without
    spinning; onnxruntime itself 7.0 and 4.4 ms)."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def octave_times(directory, name, batches, reps=5):
    """Median seconds per call of NAME(X) inside Octave, for each X in batches."""
    from scipy.io import loadmat, savemat
    script, outs = [f"addpath('{directory}');"], []
    for i, X in enumerate(batches):
        inp = os.path.join(directory, f"bench{i}.mat")
        savemat(inp, {"X": X}, format="5")
        out = os.path.join(directory, f"bench{i}_out.mat")
        outs.append(out)
        script.append(f"d = load('{inp}'); y = {name}(d.X); t = zeros(1, {reps});\n"
                      f"for r = 1:{reps}\n  tic; y = {name}(d.X); t(r) = toc;\nend\n"
                      f"t = median(t); save('-v6', '{out}', 't', 'y');")
    matlab.run_octave_script("\n".join(script), directory)
    return [(float(loadmat(o)["t"][0, 0]), loadmat(o)["y"]) for o in outs]


def rel(got, want):
    got = np.asarray(got, dtype=np.float64).reshape(np.shape(want))
    return float(errors(got, want)[1].max())


def bench_model(n_features, hidden, n_out, rows, has_octave, runs=1):
    """(rows, median times, worst errors, per-run times) over `runs` runs."""
    results = [_bench_model(n_features, hidden, n_out, rows, has_octave and i == 0) for i in range(runs)]
    lines = []
    for j, n in enumerate(rows):
        per_run = [r[j][1] for r in results]
        times = {k: float(np.median([t[k] for t in per_run if k in t])) for k in per_run[0]}
        errs = {k: max(r[j][2].get(k, 0.0) for r in results) for k in results[0][j][2]}
        lines.append((n, times, errs, per_run))
    return lines


def _bench_model(n_features, hidden, n_out, rows, has_octave):
    from skl2onnx import to_onnx
    est = fit(n_features, hidden, n_out)
    net = extract(est)
    rng = np.random.default_rng(1)
    d = tempfile.mkdtemp(prefix="mlpexport-bench-")
    emit.write_all(emit.render_all(net, "m", ["numpy", "onnx", "matlab"], "float64"), d, force=True)
    ours64 = ort_session(open(os.path.join(d, "m.onnx"), "rb").read())
    ours32 = ort_session(emit.target("onnx").render(net, "m", dtype="float32")["m.onnx"])
    sample = rng.normal(size=(1, n_features))
    skl64 = ort_session(to_onnx(est, sample.astype(np.float64)).SerializeToString())
    skl32 = ort_session(to_onnx(est, sample.astype(np.float32)).SerializeToString())
    mod = npx.load_module(d, "m")
    model = mod.Model()
    batches = {n: rng.normal(size=(n, n_features)) * 3 + 1 for n in rows}
    octave = {}
    if has_octave:
        wanted = [n for n in rows if n >= 1000]
        octave = dict(zip(wanted, octave_times(d, "m", [batches[n] for n in wanted])))
    lines = []
    for n in rows:
        X = batches[n]
        X32 = X.astype(np.float32)
        want = est.predict(X)
        runs = {
            "sklearn": (lambda: est.predict(X), want),
            "skl2onnx f64": (lambda: skl64.run(None, {"X": X}), skl64.run(None, {"X": X})[0]),
            "skl2onnx f32": (lambda: skl32.run(None, {"X": X32}), skl32.run(None, {"X": X32})[0]),
            "ours onnx f64": (lambda: ours64.run(None, {"X": X}), ours64.run(None, {"X": X})[0]),
            "ours onnx f32": (lambda: ours32.run(None, {"X": X32}), ours32.run(None, {"X": X32})[0]),
            "ours numpy": (lambda: mod.predict(X), mod.predict(X)),
        }
        if n == 1:
            runs["ours Model"] = (lambda: model.predict(X[0]), np.array(model.predict(X[0]), copy=True))
        fns = {k: fn for k, (fn, _) in runs.items()}
        if n == 1:  # one row: each runtime in loops of 50 calls, as a real-time loop calls it
            times = interleaved(fns, budget=2.0, max_reps=400, calls=50)
        else:
            times = interleaved(fns, budget=1.2 if n < 100_000 else 6.0, max_reps=2000 if n < 100_000 else 7)
        errs = {k: rel(out, want) for k, (_, out) in runs.items()}
        if n in octave:
            times["ours octave"], y = octave[n]
            errs["ours octave"] = rel(y, want)
        lines.append((n, times, errs))
    return lines


def startup():
    exe = os.path.join(os.path.dirname(sys.executable), "mlpexport")
    base = timeit(lambda: subprocess.run([sys.executable, "-c", "pass"]), budget=1.0, max_reps=20)
    numpy_import = timeit(lambda: subprocess.run([sys.executable, "-c", "import numpy"]), budget=1.0, max_reps=20)
    help_time = timeit(lambda: subprocess.run([exe, "--help"], capture_output=True), budget=1.0, max_reps=20)
    est = fit(12, (11, 10), 1)
    d = tempfile.mkdtemp()
    emit.write_all(npx.render(extract(est), "m"), d, force=True)
    mod_time = timeit(lambda: subprocess.run([sys.executable, "-c", "import m"], cwd=d), budget=1.0, max_reps=20)
    return base, numpy_import, help_time, mod_time


def check_memory(n_rows):
    """Peak RSS of `mlpexport check --data big.npy` (memory-mapped, streamed in chunks)."""
    from mlpexport.train import model_bytes
    d = tempfile.mkdtemp()
    est = fit(12, (11, 10), 1)
    with open(os.path.join(d, "m.skops"), "wb") as f:
        f.write(model_bytes(est, "m.skops"))
    big = np.lib.format.open_memmap(os.path.join(d, "big.npy"), mode="w+", dtype=np.float64, shape=(n_rows, 12))
    rng = np.random.default_rng(2)
    for i in range(0, n_rows, 1_000_000):
        big[i:i + 1_000_000] = rng.normal(size=(min(1_000_000, n_rows - i), 12))
    big.flush()
    del big
    script = ("import sys; from mlpexport.cli import main; "
              f"code = main(['check', {os.path.join(d, 'm.skops')!r}, '--data', "
              f"{os.path.join(d, 'big.npy')!r}, '--to', 'numpy,onnx']); "
              # VmHWM: this process's own peak (ru_maxrss would start from the parent's RSS)
              "print('PEAK', open('/proc/self/status').read().split('VmHWM:')[1].split()[0]); "
              "sys.exit(code)")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    peak_kb = int(proc.stdout.split("PEAK")[-1])
    os.unlink(os.path.join(d, "big.npy"))
    return proc.returncode, elapsed, peak_kb / 1024, proc.stdout.split("PEAK")[0].strip().splitlines()[-1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check-rows", type=int, default=10_000_000)
    p.add_argument("--quick", action="store_true", help="smallest model and 1/1000 rows only")
    p.add_argument("--no-speed", action="store_true", help="only start-up and check memory")
    p.add_argument("--runs", type=int, default=3, help="timing runs per model (median shown)")
    p.add_argument("--no-octave", action="store_true", help="skip Octave even when installed")
    args = p.parse_args()
    has_octave = matlab.shutil.which("octave-cli") is not None and not args.no_octave
    models = MODELS[:1] if args.quick else MODELS
    rows = ROWS[:2] if args.quick else ROWS
    names = ["sklearn", "skl2onnx f64", "skl2onnx f32", "ours onnx f64", "ours onnx f32",
             "ours numpy", "ours Model", "ours octave"]
    print(f"seconds per call (median of {args.runs} runs, each the median of its repeats); "
          "parity = max relative error vs scikit-learn's predict")
    for f, h, o in ([] if args.no_speed else models):
        print(f"\nmodel {f}-{h}-{o} (StandardScaler + MLPRegressor)")
        print(f"{'rows':>7} " + " ".join(f"{n:>13}" for n in names))
        for n, times, errs, per_run in bench_model(f, h, o, rows, has_octave, args.runs):
            print(f"{n:>7} " + " ".join(f"{times[k]:13.3e}" if k in times else f"{'-':>13}" for k in names))
            print(f"{'parity':>7} " + " ".join(f"{errs[k]:13.1e}" if k in errs else f"{'-':>13}" for k in names))

            def r(a, b):  # median of the per-run ratios [lowest-highest]
                each = sorted(t[a] / t[b] for t in per_run)
                spread = f" [{each[0]:.2f}-{each[-1]:.2f}]" if len(each) > 1 else ""
                return f"{np.median(each):.2f}{spread}"
            extra = f", Model/skl2onnx-f64 {r('ours Model', 'skl2onnx f64')}" if "ours Model" in times else ""
            print(f"{'ratio':>7} numpy/skl2onnx-f64 {r('ours numpy', 'skl2onnx f64')}, "
                  f"our onnx/skl2onnx f64 {r('ours onnx f64', 'skl2onnx f64')}, "
                  f"f32 {r('ours onnx f32', 'skl2onnx f32')}{extra}, "
                  f"sklearn/numpy {r('sklearn', 'ours numpy')}")
    base, np_import, help_time, mod_time = startup()
    print(f"\nstart-up: python {base * 1e3:.0f} ms, python + import numpy {np_import * 1e3:.0f} ms, "
          f"`mlpexport --help` {help_time * 1e3:.0f} ms, generated module import {mod_time * 1e3:.0f} ms")
    if args.check_rows:
        code, elapsed, peak, verdict = check_memory(args.check_rows)
        print(f"check --data of {args.check_rows:,} x 12 rows (numpy, onnx): exit {code}, "
              f"{elapsed:.0f} s, peak memory {peak:.0f} MiB ({verdict})")


if __name__ == "__main__":
    main()
