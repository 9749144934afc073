"""The ready-to-copy recipes in docs/recipes/ and .pre-commit-hooks.yaml, run for real:
the GitHub Actions workflow's check step in a repository layout, the pre-commit hook through
pre-commit itself, and the Dask recipe on a local cluster against scikit-learn's predict
(the Spark recipe: tests/test_spark_recipe.py); the README's copies of the recipes' code."""
import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import mlpexport
from conftest import fixture_model
from zoo import get

yaml = pytest.importorskip("yaml", reason="PyYAML not installed (pre-commit brings it)")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(ROOT, "fixtures", "models")
WORKFLOW = os.path.join(ROOT, "docs", "recipes", "github-actions.yml")
HOOKS = os.path.join(ROOT, ".pre-commit-hooks.yaml")
BIN = os.path.dirname(sys.executable)  # where pip put the `mlpexport` script of this venv


def _repo_layout(root):
    """What a user's repository holds: models/*.skops and their numpy + ONNX exports."""
    os.makedirs(root / "models")
    for name in ("one_feature", "logistic_binary"):
        shutil.copy(fixture_model(name), root / "models")  # this scikit-learn's own
        report = mlpexport.convert(str(root / "models" / f"{name}.skops"), str(root / "exports"),
                                   to="numpy,onnx")
        assert report.passed
    return root


def _make_stale(root):
    """exports/one_feature.* re-made from another model: committed, but no longer the model's."""
    assert mlpexport.convert(fixture_model("binary_int"), str(root / "exports"),
                             to="numpy,onnx", name="one_feature", force=True).passed


def _workflow():
    with open(WORKFLOW) as f:
        return yaml.safe_load(f)


def _steps():
    jobs = _workflow()["jobs"]
    assert len(jobs) == 1
    return next(iter(jobs.values()))["steps"]


def _check_step():
    (step,) = [s for s in _steps() if "mlpexport check" in s.get("run", "")]
    return step


def test_the_workflow_installs_octave_and_mlpexport_checks_and_uploads_the_report():
    wf = _workflow()
    assert set(wf[True]) == {"push", "pull_request"}  # YAML 1.1 reads the key `on` as True
    steps = _steps()
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python", "actions/upload-artifact"]
    runs = [s.get("run", "") for s in steps]
    assert any("apt-get install" in r and "octave" in r.split() for r in runs)
    assert any(re.search(r"pip install mlpexport\b", r) for r in runs)
    check = _check_step()["run"]
    assert re.search(r"--against \S+", check) and "--junit" in check
    junit = re.search(r"--junit (\S+)", check).group(1)
    # The checks run before the upload, and the report is uploaded when the check fails too.
    upload = steps[-1]
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["path"] == junit and upload["if"] == "always()"
    assert steps.index(_check_step()) < len(steps) - 1


def _run_step(step, cwd):
    """Run a `run:` block as GitHub runs it on ubuntu (bash -e), with this venv's scripts first
    on PATH as `pip install mlpexport` would have put them."""
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ["PATH"])
    return subprocess.run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_workflow_check_step_writes_a_junit_report_and_fails_on_a_stale_export(tmp_path):
    root = _repo_layout(tmp_path)
    step = _check_step()
    junit = root / re.search(r"--junit (\S+)", step["run"]).group(1)

    proc = _run_step(step, root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert len(suites) == 2  # one per model in models/*.skops
    assert all(s.get("failures") == "0" and int(s.get("tests")) >= 2 for s in suites)

    _make_stale(root)
    shutil.rmtree(junit.parent)  # every CI run starts from a fresh checkout
    proc = _run_step(step, root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    failures = [f for f in ET.parse(junit).getroot().iter("failure")]
    assert failures and {f.get("type") for f in failures} == {"stale"}


def _hook():
    with open(HOOKS) as f:
        (hook,) = yaml.safe_load(f)
    return hook


def test_the_hook_runs_on_model_files_and_exports_only():
    hook = _hook()
    assert hook["id"] == "mlpexport-check" and hook["language"] == "python"
    assert hook["entry"].split() == ["mlpexport", "check"] and hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in ("models/a.skops", "m.pkl", "x/m.joblib", "m.sav", "exports/a.py", "exports/a.npz",
                 "exports/a.onnx", "exports/a.m", "exports/a.mat", "exports/a.c", "exports/a.h"):
        assert files.search(path), path
    # every model suffix the loader reads and every file a target writes (a commit that
    # changes only the C export re-runs the check)
    from mlpexport.load import MODEL_SUFFIXES
    from mlpexport.targets import TARGETS
    written = [s for t in TARGETS.values() for s in importlib.import_module(t).FILES]
    for suffix in (*MODEL_SUFFIXES, *written):
        assert files.search(f"some/dir/name{suffix}"), suffix
    for path in ("README.md", "data/test.csv", "exports/a.onnx.bak", "a.skops.txt", "Makefile"):
        assert not files.search(path), path


def _git(*args, cwd):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


def test_the_pre_commit_hook_passes_on_agreeing_exports_and_fails_on_a_stale_one(tmp_path):
    """Through pre-commit itself: it clones this repository at HEAD, builds the hook's
    environment (pip installs mlpexport from that commit, ~25 s) and runs the hook with the
    args a user sets. (`pre-commit try-repo` cannot pass args, and the hook needs the models.)"""
    if importlib.util.find_spec("pre_commit") is None:
        pytest.skip("pre-commit not installed (it is in the test extra): hook not run")
    if shutil.which("git") is None or not os.path.exists(os.path.join(ROOT, ".git")):
        pytest.skip("not a git checkout: pre-commit needs this repository's HEAD to clone")
    head = _git("rev-parse", "HEAD", cwd=ROOT)
    # pre-commit installs the hook from HEAD, not from the working tree.
    assert _git("ls-tree", "--name-only", head, ".pre-commit-hooks.yaml", cwd=ROOT), \
        "commit .pre-commit-hooks.yaml first: pre-commit reads it from HEAD"
    repo = tmp_path / "repo"
    _repo_layout(repo)
    models = ["models/one_feature.skops", "models/logistic_binary.skops"]
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [{
        "repo": ROOT, "rev": head,
        "hooks": [{"id": "mlpexport-check", "args": [*models, "--against", "exports/"]}]}]}))
    _git("init", "-q", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", "models and exports", cwd=repo)

    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    env.pop("VIRTUAL_ENV", None)

    def run():
        return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"],
                              cwd=repo, env=env, capture_output=True, text=True, timeout=600)

    try:
        proc = run()
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Passed" in proc.stdout

        _make_stale(repo)
        _git("add", "-A", cwd=repo)
        proc = run()
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "Failed" in proc.stdout and "stale" in proc.stdout
    finally:  # the hook's environment is ~400 MB: not left behind in pytest's kept tmp dirs
        shutil.rmtree(env["PRE_COMMIT_HOME"], ignore_errors=True)


def _dask_recipe():
    spec = importlib.util.spec_from_file_location(
        "dask_scoring", os.path.join(ROOT, "docs", "recipes", "dask_scoring.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# dask's own parquet reader calls a pandas API that pandas 3.1 deprecates: not ours to fix.
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.reset_index")
def test_the_dask_recipe_scores_a_partitioned_parquet_dataset_as_sklearn_predicts(tmp_path):
    pytest.importorskip("dask.dataframe", reason="dask[dataframe] not installed (test extra)")
    distributed = pytest.importorskip("distributed", reason="distributed not installed")
    pytest.importorskip("pyarrow", reason="pyarrow not installed (parquet)")
    import pandas as pd

    recipe = _dask_recipe()
    cases = {}
    for zoo in ("reg_classic", "reg_multi_tanh", "clf_multi_str"):
        est, X = get(zoo)
        rows = np.vstack([X, X[:50] * 1.5 + 0.3])  # training rows and rows the model never saw
        features = [f"f{i}" for i in range(X.shape[1])]
        data = tmp_path / zoo
        data.mkdir()
        frame = pd.DataFrame(rows, columns=features).assign(id=np.arange(len(rows)))
        for i, part in enumerate(np.array_split(np.arange(len(rows)), 3)):
            frame.iloc[part].to_parquet(data / f"part-{i}.parquet", index=False)
        assert mlpexport.convert(est, str(tmp_path / "exports"), to="numpy", name=zoo).passed
        cases[zoo] = est, features, data

    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        for zoo, (est, features, data) in cases.items():
            lazy = recipe.score_parquet(str(tmp_path / "exports" / f"{zoo}.py"), str(data),
                                        features)
            assert lazy.npartitions == 3
            scored = lazy.compute().sort_values("id")
            X = scored[features].to_numpy()
            assert len(scored) == len(X) and scored["id"].tolist() == list(range(len(X)))
            want = est.predict(X)
            if zoo.startswith("clf"):
                assert scored["prediction"].tolist() == want.tolist()
                continue
            want = want.reshape(len(X), -1)
            cols = ["prediction"] if want.shape[1] == 1 else \
                [f"prediction_{i}" for i in range(want.shape[1])]
            got = scored[cols].to_numpy()
            assert got.dtype == np.float64
            scale = np.maximum(np.abs(want), np.median(np.abs(want), axis=0))
            assert np.max(np.abs(got - want) / scale) <= 1e-12


def _usage(path):
    """The indented usage example in a recipe's docstring, dedented."""
    doc = ast.get_docstring(ast.parse(open(path).read()), clean=False)
    lines, started = [], False
    for line in doc.splitlines():
        if line.startswith("    "):
            started = True
            lines.append(line[4:])
        elif started and not line.strip():
            lines.append("")
        elif started:
            break
    return "\n".join(lines).strip("\n")


def _readme_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return re.findall(r"^```python\n(.*?)^```$", f.read(), re.S | re.M)


def test_the_readme_shows_the_recipes_as_their_files_hold_them():
    """The README's Dask and Spark code is the recipe files' own code (run by the tests):
    the usage examples are the files' docstrings, and the Spark recipe is shown whole,
    everything between its docstring and its demo."""
    blocks = [b.strip("\n") for b in _readme_blocks()]
    for name in ("dask_scoring.py", "spark_scoring.py"):
        usage = _usage(os.path.join(ROOT, "docs", "recipes", name))
        assert usage in blocks, f"README lacks {name}'s usage example as its docstring has it"
    with open(os.path.join(ROOT, "docs", "recipes", "spark_scoring.py"), encoding="utf-8") as f:
        source = f.read()
    tree = ast.parse(source)
    lines = source.splitlines()
    demo = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_demo")
    code = "\n".join(lines[tree.body[0].end_lineno:demo.lineno - 1]).strip("\n")
    assert code in blocks, "README's Spark recipe differs from docs/recipes/spark_scoring.py"
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert "not run** by the test suite" not in readme


def test_the_readme_install_table_names_every_extra_with_what_it_brings():
    """The Install section's table of extras is pyproject.toml's optional-dependencies: every
    extra is a row, and each row names every package its extra brings."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme[readme.index("## Install"):readme.index("## Why")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+) \|", section, re.M)}
    assert set(rows) == set(extras)
    for extra, requirements in extras.items():
        for requirement in requirements:
            package = re.split(r"[<>=\[; ]", requirement, maxsplit=1)[0]
            assert package in rows[extra], f"{extra}: {package} not in the README's row"
