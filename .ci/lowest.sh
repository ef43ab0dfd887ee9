#!/usr/bin/env bash
# The engine's tests against the LOWEST numpy, matplotlib and tqdm that pyproject.toml admits
# (their ">=" bounds), in a second virtual environment: a range is a promise kept.
# Usage (from anywhere): bash .ci/lowest.sh     Env: LOWEST_VENV (default $TMPDIR/mlp-lowest-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${LOWEST_VENV:-${TMPDIR:-/tmp}/mlp-lowest-venv}"

# "numpy>=1.23.2" -> "numpy==1.23.2", for the three runtime dependencies
mapfile -t lowest < <(python3 - <<'PY'
import re, tomllib
for spec in tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]:
    name, low = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([\w.]+)", spec.replace(" ", "")).groups()
    print(f"{name}=={low}")
PY
)
# the test tools at their pinned versions: pytest, and setuptools for test_report's wheel build
test_pins=($(grep -E '^(pytest|setuptools)==' constraints.txt))
echo "lowest versions: ${lowest[*]} (with ${test_pins[*]})"

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --only-binary :all: "${lowest[@]}" "${test_pins[@]}"
"$venv/bin/pip" install --quiet --no-deps -e .
"$venv/bin/python" -c "import numpy, matplotlib, tqdm; print('running with numpy', numpy.__version__, 'matplotlib', matplotlib.__version__, 'tqdm', tqdm.__version__)"

# The engine (mlp_core) and the lab code that uses numpy and matplotlib (tables, figures, analyses).
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/test_layers.py tests/test_activations.py tests/test_losses.py tests/test_network.py \
  tests/test_optim.py tests/test_training.py tests/test_gradcheck.py tests/test_data.py \
  tests/test_end_to_end.py tests/test_report.py tests/test_analysis.py
