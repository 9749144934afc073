"""Score a partitioned parquet dataset with an mlpexport numpy module, on Dask.

An export is two stateless files (NAME.py + NAME.npz) that need only numpy, so scaling out
needs no mlpexport code at all: Dask reads the partitions, and every worker imports the
module once and runs its `predict` on each pandas partition it is given.

    from dask.distributed import Client, LocalCluster
    from dask_scoring import score_parquet

    with LocalCluster(n_workers=4) as cluster, Client(cluster):
        scored = score_parquet("exports/price.py", "data/houses/", columns=FEATURES)
        scored.to_parquet("data/houses_scored/")

The export's files must be readable by every worker at the same path (a shared disk, or
the same path in every worker's image); on a cluster without one, ship them first with
`client.upload_file` (the .npz too) or bake them into the worker image.

`columns` are the model's input columns in the order the model was trained on (the export
takes a plain 2-D array, it does not match names). The predictions come back as new
column(s) next to the partition's own columns, so ids and keys stay with their rows.

Run this file for a demo on a local cluster: it trains a small model, exports it, writes a
parquet dataset of 4 partitions, scores it and compares with scikit-learn's own predict.
"""
import importlib.util
import os

import numpy as np

_MODULES = {}  # per worker process: path -> imported export module


def load_export(path):
    """Import an exported numpy module (NAME.py, next to NAME.npz) from its file path, once
    per process: a worker scores many partitions with the same module."""
    path = os.path.abspath(path)
    module = _MODULES.get(path)
    if module is None:
        name = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(f"mlpexport_export_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _MODULES[path] = module
    return module


def _output_columns(module, prefix):
    """Names and dtypes of what `predict` returns (Dask needs them before any partition is
    scored), read by scoring one row of zeros: labels for a classifier, numbers otherwise,
    one column per output."""
    y = np.asarray(module.predict(np.zeros((1, module.n_features_in_), module.DTYPE)))
    n_out = 1 if y.ndim == 1 else y.shape[1]
    if n_out == 1:
        return {prefix: y.dtype}
    return {f"{prefix}_{i}": y.dtype for i in range(n_out)}


def score_partition(df, export_path, columns, prefix="prediction"):
    """One pandas partition in, the same partition with the prediction column(s) added out."""
    import pandas as pd

    module = load_export(export_path)
    out = _output_columns(module, prefix)
    if len(df) == 0:  # the export refuses zero rows, as scikit-learn does
        return df.assign(**{c: pd.Series([], dtype=t) for c, t in out.items()})
    y = module.predict(df[list(columns)].to_numpy(dtype=np.dtype(module.DTYPE)))
    y = y.reshape(len(df), -1)
    if y.dtype == object:  # string labels: keep them as Python objects, as sklearn does
        y = y.astype(object)
    return df.assign(**{c: y[:, i] for i, c in enumerate(out)})


def score_parquet(export_path, parquet_path, columns, prefix="prediction"):
    """A lazy dask DataFrame: the dataset's columns plus the export's prediction(s).

    Nothing runs until you compute it (`.compute()`, `.to_parquet(...)`); it runs on the
    current `distributed.Client` if there is one.
    """
    import dask.dataframe as dd
    import pandas as pd

    module = load_export(export_path)  # here too: the meta below is read from it
    ddf = dd.read_parquet(parquet_path)
    meta = ddf._meta.assign(**{c: pd.Series([], dtype=t)
                               for c, t in _output_columns(module, prefix).items()})
    return ddf.map_partitions(score_partition, os.path.abspath(export_path), list(columns),
                              prefix, meta=meta)


def _demo(workdir):
    import pandas as pd
    from distributed import Client, LocalCluster
    from sklearn.neural_network import MLPRegressor

    import mlpexport

    rng = np.random.default_rng(0)
    features = [f"x{i}" for i in range(5)]
    X = rng.normal(size=(2_000, 5))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    est = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=300, random_state=0).fit(X, y)
    assert mlpexport.convert(est, os.path.join(workdir, "exports"), to="numpy", name="model").passed

    data = os.path.join(workdir, "data")
    os.makedirs(data)
    frame = pd.DataFrame(X, columns=features).assign(id=np.arange(len(X)))
    for i, rows in enumerate(np.array_split(np.arange(len(frame)), 4)):
        frame.iloc[rows].to_parquet(os.path.join(data, f"part-{i}.parquet"), index=False)

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster):
        scored = score_parquet(os.path.join(workdir, "exports", "model.py"), data,
                               features).compute()
    scored = scored.sort_values("id")
    want = est.predict(scored[features].to_numpy())
    rel = np.max(np.abs(scored["prediction"].to_numpy() - want) / np.maximum(np.abs(want), 1e-300))
    print(f"{len(scored)} rows in 4 partitions scored; max relative difference from "
          f"scikit-learn's predict: {rel:.1e}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _demo(tmp)
