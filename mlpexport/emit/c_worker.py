"""The child process that runs a compiled C export (see sandbox.py and c.runner).

Run as a script, `python -I c_worker.py LIB RECORD WORK REPLY_FD`: it loads the shared
library LIB (its constructors, if any, run here and not in mlpexport), then answers the
sandbox protocol: for each `SEQ` line on stdin it reads WORK/in-SEQ.npy, calls the
library and writes WORK/out-SEQ.npz, then says `done SEQ` (or `error SEQ message`) on
the reply pipe. The parent accepts nothing else, and validates what it accepts.

Imports only the standard library and numpy (never mlpexport, never scikit-learn), so
that it starts fast; c.py imports `real_type`, `outputs` and `classes` from here, so the
ctypes calls exist once.
"""
import ctypes
import json
import os
import sys

import numpy as np


def real_type(record):
    """(ctypes type, numpy dtype) of the library's real numbers (NAME_real: float in a
    float32 export, double in a float64 one): the pointers X and the real outputs are
    passed as. The one place the C types are chosen."""
    if record.get("dtype") == "float32":
        return ctypes.c_float, np.float32
    return ctypes.c_double, np.float64


def outputs(record) -> tuple:
    """The outputs a run returns, in order (what the parent expects back)."""
    if record["classes"] is None:
        return ("predict",)
    found = record["outputs"]
    return ("predict",) + tuple(o for o in ("predict_proba", "decision_function") if o in found)


def classes(lib, name, record) -> np.ndarray:
    """NAME_CLASSES as the compiled library holds it, in scikit-learn's label kind."""
    values = record["classes"]
    n = len(values)
    symbol = f"{name}_CLASSES"
    if record["classes_kind"] != "number":
        raw = (ctypes.c_char_p * n).in_dll(lib, symbol)
        return np.array([v.decode("utf-8") for v in raw], dtype=object)
    if all(isinstance(v, bool) for v in values):
        return np.array(list((ctypes.c_longlong * n).in_dll(lib, symbol)), dtype=bool)
    if all(isinstance(v, int) for v in values):
        return np.array(list((ctypes.c_longlong * n).in_dll(lib, symbol)), dtype=np.int64)
    return np.array(list((ctypes.c_double * n).in_dll(lib, symbol)), dtype=np.float64)


def rows_runner(lib, name, record):
    """X -> {"predict": ..., ...} through the library's functions."""
    n_features, k = record["n_features"], record["n_outputs"]
    classifier = record["classes"] is not None
    real, real_dtype = real_type(record)
    rptr, iptr = ctypes.POINTER(real), ctypes.POINTER(ctypes.c_int32)
    wanted = outputs(record)

    def call(fname, X, out, ptr):
        f = getattr(lib, f"{name}_{fname}")
        f.argtypes, f.restype = [rptr, ctypes.c_size_t, ptr], ctypes.c_int
        status = f(X.ctypes.data_as(rptr), X.shape[0], out.ctypes.data_as(ptr))
        if status != 0:
            raise ValueError(f"{name}_{fname} returned {status}: an input is NaN or infinite.")
        return out

    labels = classes(lib, name, record) if classifier else None

    def run_rows(X):
        X = np.ascontiguousarray(X, dtype=real_dtype)
        n = X.shape[0]
        if X.ndim != 2 or X.shape[1] != n_features:
            raise ValueError(f"X must have {n_features} columns, not shape {X.shape}.")
        if not classifier:
            y = call("predict", X, np.empty((n, k), real_dtype), rptr)
            return {"predict": y[:, 0] if record["flat"] and k == 1 else y}
        out = {}
        if "predict_proba" in wanted:
            width = 2 if record["head"] in ("logistic", "huber-binary") else k
            out["predict_proba"] = call("predict_proba", X, np.empty((n, width), real_dtype), rptr)
        multilabel = record["head"] == "multilabel"
        index = call("predict_index", X, np.empty((n, k if multilabel else 1), np.int32), iptr)
        out["predict"] = index if multilabel else labels[index[:, 0]]
        if "decision_function" in wanted:
            two = len(record["classes"]) == 2
            scores = call("decision_function", X, np.empty((n, 1 if two else k), real_dtype), rptr)
            out["decision_function"] = scores[:, 0] if two else scores
        return out
    return run_rows


def serve(run_rows, work, reply):
    """The sandbox protocol (sandbox.py): one `SEQ` line in, out-SEQ.npz and a reply out."""
    for line in sys.stdin:
        seq = line.strip()
        try:
            X = np.load(os.path.join(work, "in-" + seq + ".npy"), allow_pickle=False)
            out = {k: np.asarray(v) for k, v in run_rows(X).items()}
            for k, v in out.items():
                if v.dtype.kind == "O":  # text labels: stored as text
                    out[k] = v.astype(str)
            tmp = os.path.join(work, "out-" + seq + ".tmp.npz")
            np.savez(tmp, **out)  # numbers and text only: nothing here is pickled (numpy < 2.2
            # has no allow_pickle here and would store it as an array)
            os.replace(tmp, os.path.join(work, "out-" + seq + ".npz"))
            reply.write("done " + seq + "\n")
        except Exception as exc:
            message = (type(exc).__name__ + ": " + str(exc)).replace("\n", " ")
            reply.write("error " + seq + " " + message[:500] + "\n")


def main():
    lib_path, record_path, work, reply_fd = sys.argv[1:5]
    reply = os.fdopen(int(reply_fd), "w", buffering=1)
    os.dup2(2, 1)  # the library's printf lands in the log, never on a channel the parent reads
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file
    except Exception:
        pass
    with open(record_path, encoding="utf-8") as f:
        record = json.load(f)
    lib = ctypes.CDLL(lib_path)  # the library's constructors run now, in this process
    run_rows = rows_runner(lib, record["name"], record)
    reply.write("ready\n")
    serve(run_rows, work, reply)


if __name__ == "__main__":
    main()
