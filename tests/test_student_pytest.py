"""The student's pytest in a kit finished up to notebook 04: no failure, and it says what is left.
# instructor-only

A release with the answers of notebooks 01-04 filled in and notebook 05 not
started: every test that needs 05's functions is skipped "not written yet"
(in-process, in worker processes, through the CLI), nothing fails, and the
summary, before anything else, lists per notebook what is written and right
and what is left to write.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlp_core import progress
from mlp_instructor.release.command import release

from ._mistakes import completed_kit
from ._mnist import require_mnist


@pytest.fixture
def mnist_env(monkeypatch):
    if "MNIST_DIR" not in os.environ:
        monkeypatch.setenv("MNIST_DIR", str(require_mnist()))


def test_a_kit_done_up_to_notebook_04_has_no_failure_and_says_what_is_left(tmp_path, mnist_env):
    release(tmp_path / "release")
    kit = completed_kit(tmp_path / "release", tmp_path / "kit",
                        modules=("layers", "activations", "losses", "network", "optim"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLP_NOTEBOOK_QUICK")}
    env["PYTHONPATH"] = str(kit)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=kit, env=env,
                          capture_output=True, text=True, timeout=1200)
    out = proc.stdout
    last = out.strip().splitlines()[-1]
    assert proc.returncode == 0 and "failed" not in last and "skipped" in last, out[-4000:]

    summary = out[out.index("notebook by notebook"):]
    assert summary.index("notebook by notebook") < summary.index("short test summary")  # the summary comes first
    for notebook in list(dict.fromkeys(e.notebook for e in progress.exercises()))[:4]:
        for exercise in progress.exercises(notebook):
            assert re.search(rf"  {re.escape(exercise.function)}: written, correct \(the \d+ tests? that run it pass\)",
                             summary), exercise.function
    assert ("05_training_and_early_stopping: 0 of 3 written; to write: evaluate, train_epoch, EarlyStopping.step"
            in summary)
    for function in ("evaluate", "train_epoch", "EarlyStopping.step"):
        assert re.search(rf"  {re.escape(function)}: not written yet \(\d+ tests? skipped\)", summary), function
    reasons = re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", out, flags=re.M)
    written_yet = [r for r in reasons if r.startswith("not written yet")]
    later = [nb for nb in dict.fromkeys(e.notebook for e in progress.exercises())][4:]  # 05 and after
    assert written_yet and all(any(Path(nb).stem in r for nb in later) for r in written_yet), reasons
    assert any("05_training_and_early_stopping" in r for r in written_yet), reasons


def test_a_kit_released_with_its_url_passes_its_own_pytest_once_filled_in(tmp_path, mnist_env):
    """The README's release command, --kit-url included: the finished kit's own pytest has no failure."""
    url = "https://github.com/example-course/mlp-kit"
    release(tmp_path / "release", kit_url=url)
    kit = completed_kit(tmp_path / "release", tmp_path / "kit")
    first_cell = (kit / "notebooks" / "01_linear_layer.ipynb").read_text()
    assert f'KIT_URL = \\"{url}\\"' in first_cell and "OWNER/REPO" not in (kit / "README.md").read_text()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLP_NOTEBOOK_QUICK")}
    env["PYTHONPATH"] = str(kit)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA"], cwd=kit, env=env,
                          capture_output=True, text=True, timeout=1800)
    last = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0 and "failed" not in last and "error" not in last, proc.stdout[-4000:]
    assert "PASSED tests/test_packaging.py::test_the_colab_cell_clones_the_published_kit_or_says_what_to_do" in proc.stdout
