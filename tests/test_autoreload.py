"""An edit to mlp_core takes effect on the next run of a cell, in the same kernel.

Every notebook's setup cell turns on IPython's autoreload. This test starts one
real kernel on a copy of mlp_core, runs notebook 01's own parameter and setup
cells (so it tests exactly what the notebooks do, with their
``from mlp_core import Linear``), and then rewrites ``Linear.forward`` on disk
three times, running a cell after each edit. The first edit comes right after
the setup cell, before any other cell has run: that is the order in which
``%autoreload 2`` of IPython 9 picks up the first edit and silently ignores every
later one (it patches the reloaded module's class, not the one the notebook
imported), which is why the notebooks use mode 3.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "01_linear_layer.ipynb"


def with_body(source: str, qualname: str, body: str) -> str:
    """``source`` with the body of function ``qualname`` (after its docstring) replaced by ``body``."""
    tree = ast.parse(source)
    node = tree
    for part in qualname.split("."):
        node = next(n for n in node.body
                    if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part)
    statements = node.body
    if isinstance(statements[0], ast.Expr) and isinstance(getattr(statements[0], "value", None), ast.Constant):
        statements = statements[1:]  # keep the docstring
    lines = source.splitlines(keepends=True)
    first, last = statements[0].lineno, statements[-1].end_lineno
    indent = " " * statements[0].col_offset
    new = textwrap.indent(textwrap.dedent(body).strip("\n") + "\n", indent)
    return "".join(lines[: first - 1]) + new + "".join(lines[last:])


def setup_cells() -> list[str]:
    """The parameter cell and the setup cell of notebook 01, as the student runs them."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = ["".join(c["source"]) for c in cells  # the Colab cell does nothing outside Colab
            if c["cell_type"] == "code" and "colab" not in c.get("metadata", {}).get("tags", [])]
    assert "%autoreload" in code[1], "notebook 01's setup cell no longer turns on autoreload"
    return code[:2]


class Kernel:
    """One IPython kernel; ``run(code)`` returns its printed output, or 'ename: evalue' of an error."""

    def __init__(self, env: dict, cwd: Path):
        from jupyter_client.manager import start_new_kernel  # a Jupyter dependency, only this test needs it

        self.manager, self.client = start_new_kernel(kernel_name="python3", env=env, cwd=str(cwd))

    def run(self, code: str, timeout: float = 120) -> str:
        msg_id = self.client.execute(code)
        out = []
        while True:
            msg = self.client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out).strip()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kit(tmp_path) -> Path:
    """A copy of mlp_core in which Linear.forward raises, as in a fresh student kit."""
    shutil.copytree(REPO / "mlp_core", tmp_path / "mlp_core", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "notebooks").mkdir()
    layers = tmp_path / "mlp_core" / "layers.py"
    layers.write_text(with_body(layers.read_text(), "Linear.forward",
                                'raise NotImplementedError("Linear.forward: write this")'))
    return tmp_path


def test_each_edit_takes_effect_on_the_next_run_without_a_restart(kit):
    layers = kit / "mlp_core" / "layers.py"
    started = layers.read_text()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env.update(PYTHONPATH=str(kit), MLP_NOTEBOOK_QUICK="1", MPLBACKEND="Agg")
    kernel = Kernel(env, kit / "notebooks")
    try:
        parameters, setup = setup_cells()
        assert kernel.run(parameters) == ""
        # The setup cell, and (in the same run) one layer built before any edit from the class it imported.
        assert kernel.run(setup + "\nearly = Linear(2, 3)\nearly.W.data[:] = 1\nearly.b.data[:] = 5\n"
                          "import mlp_core\nprint(mlp_core.__file__)") == str(kit / "mlp_core" / "__init__.py")
        use = ("layer = Linear(2, 3)\nlayer.W.data[:] = 1\nlayer.b.data[:] = 5\nx = np.ones((1, 2), dtype=np.float32)\n"
               "print(layer.forward(x)[0, 0], early.forward(x)[0, 0])")
        # Not the answer (the release must not contain it): bodies whose results tell them apart.
        edits = [  # (new body of Linear.forward, what `use` prints)
            ("return np.dot(x, self.W.data) + self.b.data", "7.0 7.0"),
            ("return np.dot(x, self.W.data)", "2.0 2.0"),  # a later edit: the bias forgotten
            ("return 10 * (np.dot(x, self.W.data) + self.b.data)", "70.0 70.0"),  # and another
        ]
        for number, (body, expected) in enumerate(edits, 1):
            time.sleep(0.05)  # distinct modification times even on coarse file systems' clocks
            layers.write_text(with_body(started, "Linear.forward", body))
            assert kernel.run(use) == expected, f"edit {number} of Linear.forward did not take effect"
        # Back to the placeholder: the student sees the NotImplementedError again, not a stale answer.
        layers.write_text(started)
        assert kernel.run(use) == "NotImplementedError: Linear.forward: write this"
    finally:
        kernel.close()


def test_with_body_replaces_only_the_body():
    source = 'class A:\n    def f(self, x):\n        """Doc."""\n        a = 1\n        return a\n\n    def g(self):\n        return 2\n'
    new = with_body(source, "A.f", "return x * 3")
    assert new == 'class A:\n    def f(self, x):\n        """Doc."""\n        return x * 3\n\n    def g(self):\n        return 2\n'
