"""The student's kit, end to end, in JupyterLab in a real browser (Playwright driving Debian's Chromium).
# instructor-only

On a fresh release of this repository, as a student would:

1. open notebook 01 and run all: it stops with the NotImplementedError naming ``Linear.forward``;
2. write ``Linear.forward`` and ``Linear.backward`` into ``mlp_core/layers.py`` *without restarting the
   kernel* (the notebook's own derivation by hand, ``gradients_by_hand``, filled in from the start), run all
   again: every check passes;
3. in notebook 00, drag the digit browser's page slider: the figure changes;
4. with every function written, run each notebook: no error output, no broken image.

The server and the browser are stopped at the end, and the test checks that no kernel is left running.
Screenshots of the student's view go to ``$MLP_SCREENSHOTS_DIR`` if set, else to a ``screenshots``
folder in pytest's temporary directory; the test prints the folder and the file names
(``01_before.png``, ``01_after.png``, ``00_slider_before.png``, ``00_slider_after.png``, ``08.png``).

Needs Chromium at /usr/bin/chromium (``apt-get install chromium``) and the Python package
``playwright`` (the ``browser`` extra); CI installs both. Skipped, saying why, where either is
missing, and never in CI (``CI=true``, as ``.ci/run`` sets), where a missing one is an error.
Notebooks run in their quick mode (``MLP_NOTEBOOK_QUICK=1``), as under nbval.
"""
# instructor-only

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from mlp_instructor.notebooks import read_notebook, write_notebook
from mlp_core import progress
from mlp_instructor.release.build import module_notebooks
from mlp_instructor.release.command import release
from mlp_instructor.release.markers import fill_in_solutions, find_regions

from ._mistakes import fill_notebook_regions
from ._mnist import require_mnist

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
NOTEBOOKS = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))
RUN_TIMEOUT = 300  # seconds for one "Run All Cells" (quick mode; the slowest notebook takes about a minute)


def _skip_outside_ci(missing: str) -> None:
    """.ci/run installs both: in CI a missing browser or driver is a failure, elsewhere a reason to skip."""
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must run the browser test, but {missing}")
    pytest.skip(f"the browser test needs {missing}", allow_module_level=True)


if not CHROMIUM.exists():
    _skip_outside_ci(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    _skip_outside_ci("playwright, which is not installed (pip install -e '.[browser]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill_in(kit: Path, modules: tuple[str, ...] | None = None) -> None:
    """Write the instructor's answers into the kit, once, in place: the mlp_core modules named (default
    all), and the exercises inside the notebooks that teach them (the derivations by hand of 01-03; with
    every module, also 08-11's own)."""
    for path in sorted((REPO / "mlp_core").glob("*.py")):
        original = path.read_text()
        if find_regions(original) and (modules is None or path.stem in modules):
            target = kit / "mlp_core" / path.name
            if "write this (see" in target.read_text():  # not filled in yet
                target.write_text(fill_in_solutions(target.read_text(), original, path.name))
    fill_notebook_regions(kit, modules)


class Lab:
    """A JupyterLab server on the kit (own port, token, settings and runtime folders) and a Chromium page on it."""

    def __init__(self, kit: Path, home: Path, screenshots: Path):
        self.kit, self.screenshots = kit, screenshots
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.runtime = home / "runtime"
        settings = home / "settings" / "@jupyterlab"
        for extension, name, values in (
            ("apputils-extension", "notification", {"fetchNews": "false", "checkForUpdates": False}),  # no toasts
            # Lay out every cell (not only those in view), so that scrolling to an output is exact.
            ("notebook-extension", "tracker", {"windowingMode": "none"}),
        ):
            (settings / extension).mkdir(parents=True)
            (settings / extension / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
        env.update(PYTHONPATH=str(kit),  # the kernels import the kit's mlp_core, not the instructor's
                   MLP_NOTEBOOK_QUICK="1", JUPYTER_RUNTIME_DIR=str(self.runtime), MNIST_DIR=str(require_mnist()))
        self.log = open(home / "server.log", "w")
        self.server = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
             f"--ServerApp.root_dir={kit}", f"--IdentityProvider.token={self.token}",
             f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
             "--allow-root",  # CI runs as root
             "--LabApp.news_url=None", "--LabApp.extension_manager=readonly"],  # no network calls
            cwd=kit, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        self._wait_for_server()
        self.playwright = sync_playwright().start()
        self.browser = self.playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        self.context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = None

    def api(self, method: str, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _wait_for_server(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.server.returncode}; see {self.log.name}")
            try:
                self.api("GET", "/api/status")
                return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"jupyter lab did not answer within 120 s; see {self.log.name}")

    # -- notebooks ------------------------------------------------------------------------------

    def open(self, name: str) -> None:
        """Open notebooks/NAME in a new page (the previous page closed, its kernel shut down)."""
        if self.page is not None:
            self.page.close()
        for kernel in self.api("GET", "/api/kernels"):
            self.api("DELETE", f"/api/kernels/{kernel['id']}")
        self.page = self.context.new_page()
        self.page.goto(f"http://127.0.0.1:{self.port}/lab/tree/notebooks/{name}?reset&token={self.token}")
        deadline = time.monotonic() + 120
        while not self._kernel_ready():
            assert time.monotonic() < deadline, f"no kernel became ready for {name} within 120 s"
            time.sleep(0.25)
        self.page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)

    def _kernel_ready(self) -> bool:
        try:
            kernels = self.api("GET", "/api/kernels")
        except urllib.error.HTTPError:  # the server answers 500 while a kernel is half started
            return False
        return any(k["execution_state"] == "idle" and k["connections"] for k in kernels)

    def prompts(self) -> list[str]:
        # textContent, not innerText: JupyterLab does not lay out cells scrolled out of view.
        return self.page.locator(".jp-Notebook .jp-InputArea-prompt").all_text_contents()

    def run_all(self) -> None:
        """Run > Run All Cells, and wait until the kernel is idle with no cell queued or running."""
        before = max([int(n) for p in self.prompts() for n in re.findall(r"\[(\d+)\]", p)] + [0])
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        deadline, seen_busy = time.monotonic() + RUN_TIMEOUT, False
        while time.monotonic() < deadline:
            status = self.page.get_attribute(".jp-Notebook-ExecutionIndicator", "data-status")
            prompts = self.prompts()
            seen_busy = seen_busy or status == "busy" or any("*" in p for p in prompts)
            counts = [int(n) for p in prompts for n in re.findall(r"\[(\d+)\]", p)]
            if seen_busy and status == "idle" and not any("*" in p for p in prompts) and max(counts + [0]) > before:
                return
            time.sleep(0.25)
        raise AssertionError(f"Run All Cells did not finish within {RUN_TIMEOUT} s")

    def wait_until_idle(self, settle: float = 1.0) -> None:
        """Wait until the kernel has been idle for ``settle`` seconds."""
        deadline, idle_since = time.monotonic() + RUN_TIMEOUT, None
        while time.monotonic() < deadline:
            if self.page.get_attribute(".jp-Notebook-ExecutionIndicator", "data-status") == "idle":
                idle_since = idle_since or time.monotonic()
                if time.monotonic() - idle_since >= settle:
                    return
            else:
                idle_since = None
            time.sleep(0.1)
        raise AssertionError(f"the kernel was not idle within {RUN_TIMEOUT} s")

    def outputs_text(self) -> str:
        return "\n".join(self.page.locator(".jp-Notebook .jp-OutputArea-output").all_text_contents())

    def saved_notebook(self, name: str) -> nbformat.NotebookNode:
        """Save the open notebook (File > Save) and read it back from disk, outputs included."""
        path = self.kit / "notebooks" / name
        before = path.stat().st_mtime_ns
        self.page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + 30
        while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert path.stat().st_mtime_ns != before, f"{name} was not saved"
        return nbformat.read(path, as_version=4)

    def broken_images(self) -> tuple[int, int]:
        """(images in the notebook, images that did not load)."""
        return self.page.evaluate(
            "() => { const imgs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea img')];"
            " return [imgs.length, imgs.filter(i => !(i.complete && i.naturalWidth > 0)).length]; }")

    def screenshot(self, name: str, scroll_to=None) -> Path:
        if scroll_to is not None:
            scroll_to.scroll_into_view_if_needed()
        path = self.screenshots / name
        self.page.screenshot(path=str(path))
        return path

    # -- teardown -------------------------------------------------------------------------------

    def kernel_processes(self) -> list[int]:
        """Process ids whose command line names this server's runtime folder (its kernels)."""
        found = []
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                try:
                    cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if str(self.runtime) in cmdline:
                    found.append(int(proc.name))
        return found

    def close(self) -> None:
        try:
            self.context.close()
            self.browser.close()
            self.playwright.stop()
        finally:
            try:
                self.api("POST", "/api/shutdown")  # shuts its kernels down too
                self.server.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.server.send_signal(signal.SIGTERM)
                self.server.wait(timeout=30)
            self.log.close()


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "kit"
    release(out)
    return out


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = Path(os.environ["MLP_SCREENSHOTS_DIR"]) if os.environ.get("MLP_SCREENSHOTS_DIR") \
        else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def lab(kit, screenshots, tmp_path_factory):
    lab = Lab(kit, tmp_path_factory.mktemp("lab"), screenshots)
    try:
        yield lab
    finally:
        lab.close()
    assert lab.server.returncode is not None, "the Jupyter server is still running"
    left = lab.kernel_processes()
    assert not left, f"kernel processes still running after the server stopped: {left}"
    print(f"\nbrowser screenshots in {screenshots}: {', '.join(sorted(p.name for p in screenshots.glob('*.png')))}")


def test_01_stops_at_linear_forward_then_passes_after_an_edit_without_restarting(lab, kit):
    fill_notebook_regions(kit, ("layers",))  # the derivation by hand, in the notebook (after the forward's checks)
    lab.open("01_linear_layer.ipynb")
    lab.run_all()
    error = lab.page.locator(".jp-OutputArea-output", has_text="NotImplementedError").first
    error.wait_for()
    assert "Linear.forward: write this (see notebooks/01_linear_layer.ipynb)" in error.text_content()
    lab.screenshot("01_before.png", scroll_to=error)
    kernels = [k["id"] for k in lab.api("GET", "/api/kernels")]

    fill_in(kit, ("layers",))  # the student writes Linear into mlp_core/layers.py; the kernel keeps running
    lab.run_all()
    assert [k["id"] for k in lab.api("GET", "/api/kernels")] == kernels, "the kernel was restarted"
    text = lab.outputs_text()
    assert "NotImplementedError" not in text
    for line in ("PASS Linear.forward on the hand-computed example", "PASS gradients_by_hand: dE/dW",
                 "PASS Linear.backward: dE/dW = X^T G", "PASS the gradient check catches the averaged gradient of c"):
        assert line in text
    assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in lab.prompts() if p.strip()), "a cell did not run"
    lab.screenshot("01_after.png", scroll_to=lab.page.locator(".jp-OutputArea-output",
                                                             has_text="PASS Linear.backward: dE/dW").first)


def test_00_the_page_slider_changes_the_figure(lab):
    lab.open("00_setup_and_data.ipynb")
    lab.run_all()
    browser = lab.page.locator(".widget-interact").first
    browser.scroll_into_view_if_needed()
    figure = browser.locator("img").first
    figure.wait_for()
    before = figure.get_attribute("src")
    lab.screenshot("00_slider_before.png")
    handle = browser.locator(".noUi-handle").first
    box = handle.bounding_box()
    lab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    lab.page.mouse.down()
    lab.page.mouse.move(box["x"] + 160, box["y"] + box["height"] / 2, steps=10)
    lab.page.mouse.up()
    lab.page.wait_for_function(
        "([el, src]) => { const img = el.querySelector('img'); return img && img.getAttribute('src') !== src; }",
        arg=[browser.element_handle(), before], timeout=30_000)
    value = int(browser.locator(".widget-readout").first.text_content())
    assert value > 1, f"the slider did not move (page {value})"
    lab.wait_until_idle()  # the figure of the last page the slider passed is drawn
    lab.screenshot("00_slider_after.png")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_notebook_of_a_completed_kit_runs_without_errors(lab, kit, name):
    fill_in(kit)
    lab.open(name)
    lab.run_all()
    nb = lab.saved_notebook(name)
    errors = [f"cell {i}: {o.get('ename')}: {o.get('evalue')}" for i, c in enumerate(nb.cells)
              if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, errors
    unexecuted = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.execution_count is None]
    assert not unexecuted, f"cells not executed: {unexecuted}"
    images, broken = lab.broken_images()
    assert broken == 0, f"{broken} of {images} images did not load"
    assert images > 0, "no figure was drawn"
    if name.startswith("08"):
        assert "54 runs of 18 configurations; grid report" in lab.outputs_text()
        lab.screenshot("08.png", scroll_to=lab.page.locator(
            ".jp-OutputArea-output", has_text="18 of 18 configurations with results are within 0.5").first)
