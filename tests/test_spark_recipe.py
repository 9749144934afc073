"""docs/recipes/spark_scoring.py, the README's Spark recipe, run for real: pyspark in local
mode (one session for this module, local[1]) scores a partitioned parquet dataset through
`mapInPandas` with numpy exports, compared with scikit-learn's own predict.

Needs pyspark (test extra) and a Java runtime (Debian: openjdk-17-jre-headless); without
either the test skips with its reason, unless MLPEXPORT_REQUIRE_SPARK=1 (CI) makes that a
failure."""
import importlib.util
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import mlpexport
from zoo import get

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = os.path.join(ROOT, "docs", "recipes", "spark_scoring.py")
REQUIRE = os.environ.get("MLPEXPORT_REQUIRE_SPARK") == "1"

# pyspark warns about every pandas it does not know yet (pandas 3), and calls an API pandas 3
# deprecates: not ours to fix.
pytestmark = [pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated")]


def _missing():
    """Why Spark cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark not installed (test extra: pip install -e '.[test]')"
    if importlib.util.find_spec("pyarrow") is None:
        return "pyarrow not installed (mapInPandas needs it)"
    java = shutil.which("java", path=os.path.join(os.environ["JAVA_HOME"], "bin")) \
        if os.environ.get("JAVA_HOME") else shutil.which("java")
    if java is None:
        return "no Java runtime for Spark (apt-get install openjdk-17-jre-headless)"
    proc = subprocess.run([java, "-version"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"java -version failed: {(proc.stderr or proc.stdout).strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def spark():
    why = _missing()
    if why:
        if REQUIRE:
            pytest.fail(f"{why}, but MLPEXPORT_REQUIRE_SPARK=1")
        pytest.skip(why)
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable  # the workers run this venv's Python
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[1]").appName("mlpexport-tests")
               .config("spark.sql.shuffle.partitions", "1")
               .config("spark.default.parallelism", "1")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _recipe():
    spec = importlib.util.spec_from_file_location("spark_scoring", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_spark_recipe_scores_a_partitioned_parquet_dataset_as_sklearn_predicts(spark, tmp_path):
    import pandas as pd

    recipe = _recipe()
    for zoo in ("reg_classic", "reg_multi_tanh", "clf_multi_str"):
        est, X = get(zoo)
        rows = np.vstack([X, X[:50] * 1.5 + 0.3])  # training rows and rows the model never saw
        features = [f"f{i}" for i in range(X.shape[1])]
        data = tmp_path / zoo
        data.mkdir()
        frame = pd.DataFrame(rows, columns=features).assign(id=np.arange(len(rows)))
        for i, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
            frame.iloc[part].to_parquet(data / f"part-{i}.parquet", index=False)
        frame.iloc[:0].to_parquet(data / "part-3.parquet", index=False)  # an empty partition
        assert mlpexport.convert(est, str(tmp_path / "exports"), to="numpy", name=zoo).passed

        df = spark.read.parquet(str(data))
        before = df.schema.simpleString()
        scored = recipe.score(df, str(tmp_path / "exports" / f"{zoo}.py"), features)
        assert df.schema.simpleString() == before  # the input's schema is left as it was
        scored = scored.toPandas().sort_values("id")
        Xs = scored[features].to_numpy()
        assert scored["id"].tolist() == list(range(len(rows)))
        assert np.array_equal(Xs, rows)
        want = est.predict(Xs)
        if zoo.startswith("clf"):
            assert dict(spark.read.parquet(str(data)).dtypes)["f0"] == "double"
            assert scored["prediction"].tolist() == want.tolist()
            assert all(isinstance(v, str) for v in scored["prediction"])
            continue
        want = want.reshape(len(Xs), -1)
        cols = ["prediction"] if want.shape[1] == 1 else \
            [f"prediction_{i}" for i in range(want.shape[1])]
        assert [c for c in scored.columns if c.startswith("prediction")] == cols
        got = scored[cols].to_numpy()
        assert got.dtype == np.float64
        scale = np.maximum(np.abs(want), np.median(np.abs(want), axis=0))
        assert np.max(np.abs(got - want) / scale) <= 1e-12
