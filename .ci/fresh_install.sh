#!/usr/bin/env bash
# The README's commands on a fresh install: VENV holds `pip install mlpexport` (the runtime
# dependencies only, no extras), as a new user's environment does. Run by .ci/run and by
# tests/test_fresh_install.py. Every command that needs no extra must work (README command
# 1, the docs/mixed_types example, models fitted on DataFrames, text columns, --data CSV,
# inspect, check --against, train, the Python API); one that needs an extra must stop with
# one plain line naming what to install (exit 2), never an internal error.
#   usage: .ci/fresh_install.sh VENV
set -euo pipefail
venv=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$venv/bin"
work=$(mktemp -d)
log=$(mktemp)
trap 'rm -rf "$work" "$log"' EXIT
unset MLPEXPORT_DEBUG

fail() { echo "fresh install: FAILED: $*" >&2; exit 1; }
# run EXPECTED_RC PATTERN CMD...: the command exits EXPECTED_RC and its output has PATTERN
# (a fixed string) and no internal error or traceback.
run() {
    local want=$1 pattern=$2 rc=0
    shift 2
    echo "+ $*"
    "$@" >"$log" 2>&1 || rc=$?
    sed 's/^/    /' "$log"
    [ "$rc" = "$want" ] || fail "exit $rc (wanted $want): $*"
    [ -z "$pattern" ] || grep -qF -- "$pattern" "$log" || fail "no '$pattern' in the output of: $*"
    if grep -qE 'internal error|Traceback' "$log"; then fail "internal error: $*"; fi
}
agree="agree with scikit-learn"  # "all exports agree", or with "matlab not run" where Octave is hidden

# Nothing beyond the runtime dependencies: the extras' and the test suite's packages are absent.
"$bin/python" - <<'EOF' || fail "the venv holds packages the runtime dependencies do not bring"
import importlib.util, sys
extra = [m for m in ("pytest", "matplotlib", "tqdm", "skl2onnx", "pyarrow", "dask", "pyspark")
         if importlib.util.find_spec(m)]
sys.exit(f"installed but not a runtime dependency: {extra}" if extra else 0)
EOF

cd "$work"
mkdir -p fixtures/models fixtures/data docs
for model in classic enc_mixed_types identity_two_units pipe_ct_dataframe; do
    cp "$root/fixtures/models/$model.skops" fixtures/models/
done
cp "$root/fixtures/data/identity.csv" fixtures/data/
cp -r "$root/docs/mixed_types" docs/
rm -f docs/mixed_types/passengers.skops
rm -rf docs/mixed_types/out

# README command 1
run 0 "$agree" "$bin/mlpexport" convert fixtures/models/classic.skops -o out
[ -s out/classic.py ] && [ -s out/classic.onnx ] && [ -s out/classic.c ] || fail "command 1 wrote no exports"

# The mixed-types example (docs/mixed_types, README "Pipelines with text columns")
(cd docs/mixed_types && run 0 "" "$bin/python" train.py \
 && run 0 "300 rows from passengers.csv" "$bin/mlpexport" convert passengers.skops --data passengers.csv -o out \
 && grep -qF "$agree" "$log" && [ -s out/passengers.onnx ]) || fail "the mixed-types example"

# A committed model with text columns, fitted on a DataFrame (issue 23's internal error)
run 0 "$agree" "$bin/mlpexport" convert fixtures/models/enc_mixed_types.skops --to numpy,onnx -o out_enc
# Numeric columns selected by name (ColumnTransformer on a DataFrame): check, convert, --against, JUnit
run 0 "$agree" "$bin/mlpexport" check fixtures/models/pipe_ct_dataframe.skops --to numpy,onnx
run 0 "$agree" "$bin/mlpexport" convert fixtures/models/pipe_ct_dataframe.skops --to numpy,onnx -o exports
run 0 "$agree" "$bin/mlpexport" check fixtures/models/pipe_ct_dataframe.skops --against exports \
    --junit reports/parity.xml
[ -s reports/parity.xml ] || fail "no JUnit report"

# inspect, with --data CSV and --json
run 0 "X" "$bin/mlpexport" inspect fixtures/models/identity_two_units.skops --data fixtures/data/identity.csv
run 0 '"rows_source"' "$bin/mlpexport" inspect fixtures/models/identity_two_units.skops --json

# train on a CSV with named columns, then convert with a CSV whose header is matched by name
"$bin/python" - <<'EOF'
import numpy as np
rng = np.random.default_rng(0)
X = rng.uniform([40, 1, 10], [120, 9, 35], size=(300, 3))  # speed, load, temp
price = 0.02 * X[:, 0] - 0.3 * X[:, 1] + 0.05 * X[:, 2] + rng.normal(0, 0.1, 300)
np.savetxt("car.csv", np.c_[X, price], delimiter=",", header="speed,load,temp,price", comments="")
new = np.c_[np.arange(300), X[:, 2], X[:, 1], X[:, 0]]
np.savetxt("new_cars.csv", new, delimiter=",", header="id,temp,load,speed", comments="")
EOF
run 0 "car.skops" "$bin/mlpexport" train car.csv --target price --hidden 16 --max-iter 500
run 0 "300 rows from new_cars.csv" "$bin/mlpexport" convert car.skops --data new_cars.csv --to numpy,onnx -o out_car
grep -qF "columns 'id' are not features" "$log" || fail "new_cars.csv's id column was not named"
run 0 "['speed', 'load', 'temp']" "$bin/python" -c \
    "import sys; sys.path.insert(0, 'out_car'); import car; print(list(car.feature_names_in_)); print(car.predict({'temp': [20, 25], 'speed': [60, 70], 'load': [5, 4]}))"
run 0 "sine" "$bin/mlpexport" train sine --hidden 8 --max-iter 200 --seed 0 -o sine.skops

# The Python API and mlpexport.testing, on the model fitted on a DataFrame
run 0 "ok" "$bin/python" -c "
import mlpexport
from mlpexport.testing import assert_parity
report = mlpexport.check('fixtures/models/pipe_ct_dataframe.skops', against='exports')
assert report.passed, report
assert mlpexport.convert('fixtures/models/enc_mixed_types.skops', 'api_out', to='numpy').passed
assert_parity('fixtures/models/pipe_ct_dataframe.skops', 'exports')
print('ok')"

# Commands that need an extra: one plain line naming it, exit 2, nothing written
run 2 "pip install" "$bin/mlpexport" inspect fixtures/models/identity_two_units.skops --plot units.png
[ ! -e units.png ] || fail "--plot wrote a file without matplotlib"
printf 'not parquet' > rows.parquet
run 2 "pyarrow" "$bin/mlpexport" check fixtures/models/classic.skops --data rows.parquet --to numpy
echo "fresh install: every README command that needs no extra works"
