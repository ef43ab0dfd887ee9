# instructor-only: the student release has no committed results, so its quick start trains for an hour
"""The README's quick start, proven on a fresh clone (select with ``pytest -m quickstart``).

Clones this repository into a temporary folder, serves MNIST from a local HTTP
server on 127.0.0.1 as the ONLY mirror (``MNIST_MIRRORS="URL only"``, no
``MNIST_DIR``), and runs the two commands of the README's "Quick start" block,
read from README.md so that the test follows the README:

1. the first command exactly as written (venv, install, ``reproduce``);
2. the second command (the test command) with its interpreter and options as
   written but its paths narrowed to the tests and a notebook that load MNIST:
   the whole suite takes many minutes (it is what CI runs anyway), and
   end-to-end training alone takes 95 s.
   Its session's one download fetches MNIST from the local mirror into the
   clone's data/.

Zero failures, and the four files must have come from the mirror, verified.
"""

import gzip
import http.server
import os
import re
import shutil
import subprocess
import threading
from functools import partial
from pathlib import Path

import pytest

from mlp_core.data import DATASETS
from tests._mnist import REPO, require_mnist

pytestmark = pytest.mark.quickstart

#: What the second command runs instead of "tests notebooks" (see the module docstring).
NARROWED_PATHS = "tests/test_data.py notebooks/01_linear_layer.ipynb"


def readme_quick_start() -> list[str]:
    """The commands of the first ```bash block under "## Quick start" in README.md."""
    section = (REPO / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


class _Mirror:
    """The four MNIST .gz files over HTTP on 127.0.0.1, recording each request path."""

    def __init__(self, root: Path):
        requests = self.requests = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/mnist/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirror(tmp_path):
    source = require_mnist()
    served = tmp_path / "served" / "mnist"
    served.mkdir(parents=True)
    for stem in DATASETS["mnist"].files.values():
        gz = source / (stem + ".gz")
        if gz.is_file():
            shutil.copy(gz, served / gz.name)
        else:
            (served / gz.name).write_bytes(gzip.compress((source / stem).read_bytes()))
    m = _Mirror(served.parent)
    yield m
    m.close()


def test_readme_quick_start_on_a_fresh_clone(tmp_path, mirror):
    if not (REPO / ".git").exists():
        pytest.skip("not a git repository: nothing to clone")
    first, second = readme_quick_start()
    assert second.endswith(" tests notebooks"), f"the README's test command changed: {second!r}"
    kit = tmp_path / "kit"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(kit)], check=True, timeout=120)
    assert not (kit / "data" / "mnist").exists()
    env = {k: v for k, v in os.environ.items() if k not in ("MNIST_DIR", "VIRTUAL_ENV", "PYTHONPATH")}
    env["MNIST_MIRRORS"] = f"{mirror.url} only"

    one = subprocess.run(["bash", "-c", first], cwd=kit, env=env, capture_output=True, text=True, timeout=900)
    assert one.returncode == 0, f"{first}\n{one.stdout[-3000:]}\n{one.stderr[-3000:]}"
    assert "runs" in one.stdout and (kit / "results" / "report").is_dir()

    narrowed = second.removesuffix("tests notebooks") + NARROWED_PATHS
    two = subprocess.run(["bash", "-c", narrowed], cwd=kit, env=env, capture_output=True, text=True, timeout=900)
    summary = two.stdout.strip().splitlines()[-1]
    assert two.returncode == 0 and " failed" not in summary, f"{narrowed}\n{two.stdout[-5000:]}\n{two.stderr[-2000:]}"
    assert f"real MNIST: {kit / 'data' / 'mnist'}" in two.stdout  # downloaded into the clone, not skipped
    assert sorted(mirror.requests) == sorted(f"/mnist/{s}.gz" for s in DATASETS["mnist"].files.values())
    assert re.search(r"\d+ passed", summary), summary
    print(f"quick start: {first}\n  -> ok\n{narrowed}\n  -> {summary}")
