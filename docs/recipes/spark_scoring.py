"""Score a Spark DataFrame with an mlpexport numpy module, through `mapInPandas`.

An export is two stateless files (NAME.py + NAME.npz) that need only numpy, so scaling out
needs no mlpexport code at all: Spark ships both files to every executor (`addFile` puts
them in one folder there, where the module looks for its .npz), and each Python worker
imports the module once and runs its `predict` on every Arrow batch it is given.

    from pyspark.sql import SparkSession
    from spark_scoring import score

    spark = SparkSession.builder.getOrCreate()
    df = spark.read.parquet("data/houses/")
    score(df, "exports/price.py", columns=FEATURES).write.parquet("data/houses_scored/")

`columns` are the model's input columns in the order the model was trained on (the export
takes a plain 2-D array, it does not match names). The prediction column(s) (`prediction`,
or `prediction_0..k` for several outputs; labels of their own type for a classifier) are
added next to the DataFrame's own columns, so ids and keys stay with their rows.

Run this file for a demo in local mode: it trains a small model, exports it, scores a
DataFrame and compares with scikit-learn's own predict.
"""
import importlib.util
import os

import numpy as np

_MODULES = {}  # per Python worker (Spark reuses them): path -> imported export module
_SPARK_TYPES = {"f": "double", "i": "long", "u": "long", "b": "boolean", "U": "string",
                "O": "string"}


def load_export(path):
    """Import an exported numpy module (NAME.py, next to NAME.npz) from its file path, once
    per process: a worker scores many batches with the same module."""
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
    """Names and Spark types of what `predict` returns (the schema is declared before any
    batch is scored), read by scoring one row of zeros on the driver."""
    y = np.asarray(module.predict(np.zeros((1, module.n_features_in_), module.DTYPE)))
    kind = _SPARK_TYPES[y.dtype.kind]
    if y.ndim == 1:
        return {prefix: kind}
    return {f"{prefix}_{i}": kind for i in range(y.shape[1])}


def score(df, export_path, columns, prefix="prediction"):
    """A lazy Spark DataFrame: `df`'s columns plus the export's prediction column(s)."""
    from pyspark import SparkFiles
    from pyspark.sql.types import StructType

    npz = export_path[:-3] + ".npz"
    df.sparkSession.sparkContext.addFile(export_path)  # both files land in one folder on
    df.sparkSession.sparkContext.addFile(npz)          # every executor, where the module looks
    out = _output_columns(load_export(export_path), prefix)
    schema = StructType(list(df.schema.fields))  # a copy: StructType.add changes it in place
    for column, kind in out.items():
        schema.add(column, kind)
    file, columns = os.path.basename(export_path), list(columns)

    def batches(frames):
        module = load_export(SparkFiles.get(file))  # on the executor, once per worker
        for frame in frames:
            if len(frame) == 0:  # the export refuses zero rows, as scikit-learn does
                continue
            y = module.predict(frame[columns].to_numpy(dtype=np.dtype(module.DTYPE)))
            y = np.asarray(y).reshape(len(frame), -1)
            yield frame.assign(**{c: y[:, i] for i, c in enumerate(out)})

    return df.mapInPandas(batches, schema=schema)


def _demo(workdir):
    import pandas as pd
    from pyspark.sql import SparkSession
    from sklearn.neural_network import MLPRegressor

    import mlpexport

    rng = np.random.default_rng(0)
    features = [f"x{i}" for i in range(5)]
    X = rng.normal(size=(2_000, 5))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2]
    est = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=300, random_state=0).fit(X, y)
    assert mlpexport.convert(est, os.path.join(workdir, "exports"), to="numpy", name="model").passed

    spark = (SparkSession.builder.master("local[2]").appName("mlpexport-demo")
             .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    frame = pd.DataFrame(X, columns=features).assign(id=np.arange(len(X)))
    df = spark.createDataFrame(frame).repartition(4)
    scored = score(df, os.path.join(workdir, "exports", "model.py"), features).toPandas()
    spark.stop()
    scored = scored.sort_values("id")
    want = est.predict(scored[features].to_numpy())
    rel = np.max(np.abs(scored["prediction"].to_numpy() - want) / np.maximum(np.abs(want), 1e-300))
    print(f"{len(scored)} rows in 4 partitions scored; max relative difference from "
          f"scikit-learn's predict: {rel:.1e}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _demo(tmp)
