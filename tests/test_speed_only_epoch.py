"""benchmarks/speed_only_epoch.py: the speed-only rewrite computes what mlp_core does, bit for bit.

The script repeats the solution's arithmetic, so the student's kit leaves it out, and this file with it.
"""
# instructor-only

import subprocess
import sys

from tests._mnist import REPO
from tests.test_benchmark import table_rows

SPEED_ONLY = REPO / "benchmarks" / "speed_only_epoch.py"


def test_speed_only_rewrite_computes_what_mlp_core_does_bit_for_bit():
    result = subprocess.run([sys.executable, str(SPEED_ONLY), "--quick"],
                            capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    rows = table_rows(result.stdout)
    assert set(rows) == {"mlp1-relu", "mlp1-gelu", "mlp2-relu", "mlp2-gelu"}
    assert all(cells[4] == "yes, bit for bit" and float(cells[3]) > 0 for cells in rows.values())


def test_speed_only_check_catches_a_rewrite_that_differs():
    """A rewrite whose SGD step rounds one weight differently must be reported, and exit 1."""
    code = f"""
import runpy, sys
script = runpy.run_path({str(SPEED_ONLY)!r}, run_name="not_main")
step = script["SpeedOnlyMLP"].sgd_step
def off_by_one_ulp(self):
    step(self)
    self.W[0][0, 0] = script["np"].nextafter(self.W[0][0, 0], 1, dtype=self.W[0].dtype)
script["SpeedOnlyMLP"].sgd_step = off_by_one_ulp
sys.exit(script["main"](["--quick"]))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "| NO |" in result.stdout and "no longer computes what mlp_core does" in result.stderr
