"""The student release: markers, stripping, notebooks, what is copied, and the self-checks."""
# instructor-only

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest

from mlp_core import progress
from mlp_instructor.release import ReleaseError
from mlp_instructor.release.build import KIT_URL_PLACEHOLDER, build_release, module_notebooks, release_notebook
from mlp_instructor.release.command import release
from mlp_instructor.release.markers import (fill_in_solutions, find_regions, marker_comments, strip_derivations,
                                           strip_solutions)
from mlp_instructor.release.selfcheck import CITED_DATA, WITHHELD, check_release

from ._mnist import notebook_needs_mnist, require_mnist

REPO = Path(__file__).resolve().parents[1]
MODULES = sorted((REPO / "mlp_core").glob("*.py"))

SOURCE = '''\
class SGD:
    def step(self):
        """Update every parameter."""
        for p, v in zip(self.params, self.velocities):
            decay = 0.0
            # BEGIN SOLUTION
            v *= self.momentum
            p.data -= self.lr * v
            # END SOLUTION


def helper(x):
    # BEGIN SOLUTION
    return x + 1
    # END SOLUTION
'''


def run_python(code: str, path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(path)}
    return subprocess.run([sys.executable, "-c", code], cwd=path, env=env, capture_output=True, text=True, timeout=120)


# ----------------------------------------------------------------------------
# Markers and regions
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("source, problem", [
    ("def f():\n    # BEGIN SOLUTION\n    # BEGIN SOLUTION\n    x = 1\n    # END SOLUTION\n", "inside the region"),
    ("def f():\n    x = 1\n    # END SOLUTION\n", "without a .# BEGIN SOLUTION. before it"),
    ("def f():\n    # BEGIN SOLUTION\n    x = 1\n", "never closed"),
    ("def f():\n    # BEGIN SOLUTION\n    x = 1\n  # END SOLUTION\n", "indented differently"),
    ("def f():\n    # BEGIN SOLUTION\n    # END SOLUTION\n", "empty solution region"),
    ("def f():\n    # begin solution\n    x = 1\n    # END SOLUTION\n", "malformed"),
    ("def f():\n    x = 1  # BEGIN SOLUTION\n    # END SOLUTION\n", "malformed"),
])
def test_bad_markers_are_refused_with_the_line(source, problem):
    with pytest.raises(ReleaseError, match=problem):
        find_regions(source, "bad.py")


def test_markers_mentioned_in_strings_are_not_markers():
    assert find_regions('def f():\n    """Write # BEGIN SOLUTION here."""\n    return "# END SOLUTION"\n') == []


def test_regions_know_their_function_even_inside_a_loop():
    regions = find_regions(SOURCE)
    assert [(r.begin, r.end, r.indent, r.function) for r in regions] == [
        (6, 9, " " * 12, "SGD.step"), (13, 15, "    ", "helper"),
    ]


def test_strip_raises_at_the_region_indentation_and_keeps_signature_and_docstring(tmp_path):
    stripped, regions = strip_solutions(SOURCE, "optim.py", "notebooks/04_network.ipynb")
    tree = ast.parse(stripped)  # still valid Python
    step = tree.body[0].body[0]
    assert ast.get_docstring(step) == "Update every parameter."
    assert "            raise NotImplementedError(\"SGD.step: write this (see notebooks/04_network.ipynb)\")" in stripped
    assert "self.lr" not in stripped and "x + 1" not in stripped
    path = tmp_path / "optim.py"  # the student's progress report sees both functions as still to write
    path.write_text(stripped)
    assert not progress.is_written(path, "SGD.step") and not progress.is_written(path, "helper")
    namespace = {}
    exec(compile(stripped, "optim.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match=r"^helper: write this \(see notebooks/04_network.ipynb\)$"):
        namespace["helper"](1)


def test_filling_in_gives_back_the_original_without_markers():
    stripped, _ = strip_solutions(SOURCE, "optim.py", "nb")
    filled = fill_in_solutions(stripped, SOURCE, "optim.py")
    assert filled == SOURCE.replace("            # BEGIN SOLUTION\n", "").replace("            # END SOLUTION\n", "") \
        .replace("    # BEGIN SOLUTION\n", "").replace("    # END SOLUTION\n", "")
    faulty = fill_in_solutions(stripped, SOURCE, "optim.py", replacements={"helper": "return x - 1"})
    assert "    return x - 1\n" in faulty and "x + 1" not in faulty
    with pytest.raises(ReleaseError, match="no solution region"):
        fill_in_solutions(stripped, SOURCE, "optim.py", replacements={"nowhere": "pass"})


def test_the_students_list_of_exercises_is_exactly_the_solution_regions():
    """mlp_core.progress.EXERCISES (what the student's pytest and notebook 08 report) names every region, in order."""
    from mlp_core.progress import EXERCISES

    regions = [f"{path.stem}.{r.function}" for path in MODULES for r in find_regions(path.read_text())]
    listed = [name for names in EXERCISES.values() for name in names]
    assert sorted(listed) == sorted(regions)
    for notebook, names in EXERCISES.items():
        assert (REPO / notebook).is_file(), notebook
        for name in names:
            assert Path(notebook).name.startswith(module_notebooks(EXERCISES)[name.split(".")[0]] + "_"), name


def test_the_kits_exercises_must_name_exactly_its_solution_regions(tmp_path):
    """The release checks the kit's own mlp_core/progress.py: the list its students' progress report reads."""
    kit = make_kit(tmp_path / "kit")
    progress_file = kit / "mlp_core" / "progress.py"
    text = progress_file.read_text()
    assert text.count('"layers.Linear.forward", "layers.Linear.backward"') == 1
    progress_file.write_text(text.replace('"layers.Linear.forward", "layers.Linear.backward"',
                                          '"layers.Linear.forward",'))
    with pytest.raises(ReleaseError, match=r"EXERCISES does not list \['layers.Linear.backward'\]"):
        release(tmp_path / "out", source_dir=kit)
    progress_file.write_text(text.replace('"layers.Linear.forward", "layers.Linear.backward"',
                                          '"layers.Linear.forward", "layers.Linear.backward", "layers.Linear.gone"'))
    with pytest.raises(ReleaseError, match=r"lists \['layers.Linear.gone'\], which have no solution region"):
        release(tmp_path / "out", source_dir=kit)
    assert not (tmp_path / "out").exists()


def test_a_cited_file_left_out_of_the_release_is_caught(tmp_path):
    kit = make_kit(tmp_path / "kit")
    nb = nbformat.read(kit / "notebooks" / "01_linear_layer.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("See `results/report/summary.md` and `mlp_lab/reference/...`."))
    nbformat.write(nb, kit / "notebooks" / "01_linear_layer.ipynb")
    release(tmp_path / "out", source_dir=kit)  # both cited paths the kit has are released
    # A data file (never copied) that a notebook cites: the student's copy would lack it.
    (kit / "results" / "report" / "weights.npz").write_bytes(b"not for students")
    nb.cells.append(nbformat.v4.new_markdown_cell("Load `results/report/weights.npz`."))
    nbformat.write(nb, kit / "notebooks" / "01_linear_layer.ipynb")
    with pytest.raises(ReleaseError, match="01_linear_layer.ipynb cites results/report/weights.npz, which the kit has"):
        release(tmp_path / "out2", source_dir=kit)


# ----------------------------------------------------------------------------
# Notebooks
# ----------------------------------------------------------------------------


def test_release_notebook_clears_outputs_and_replaces_solution_cells():
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"state": "secret"}
    # release_notebook works on plain dicts (sources as strings), as read_notebook returns them.
    code = nbformat.v4.new_code_cell("print(1)", execution_count=3,
                                     outputs=[nbformat.v4.new_output("stream", text="1\n")])
    code.metadata["execution"] = {"iopub.status.idle": "2026"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("**1.** Why?"),
        nbformat.v4.new_markdown_cell("Because of the answer.", metadata={"tags": ["solution"]}),
        code,
        nbformat.v4.new_code_cell("x = 42  # the answer", metadata={"tags": ["solution", "keep"]}),
    ]
    nb = nbformat.from_dict(release_notebook(nb, "09_demo", "notebooks/09_demo.ipynb"))
    assert "widgets" not in nb.metadata
    assert nb.cells[0].source == "**1.** Why?"
    assert nb.cells[1].source == "YOUR ANSWER HERE" and nb.cells[1].cell_type == "markdown"
    assert nb.cells[1].metadata == {"tags": ["answer"], "mlp_course": {"question": "09_demo/Q1"}}
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None and "execution" not in nb.cells[2].metadata
    assert nb.cells[3].cell_type == "code" and "42" not in nb.cells[3].source
    assert nb.cells[3].metadata["tags"] == ["keep", "answer"]
    assert nb.cells[3].metadata["mlp_course"] == {"question": "09_demo/Q2"}
    nbformat.validate(nb)


# ----------------------------------------------------------------------------
# A release of a small synthetic kit (fast, and free to break on purpose)
# ----------------------------------------------------------------------------


def make_kit(root: Path, planted: str = "") -> Path:
    """A minimal kit: the real mlp_core and mlp_lab, one notebook, one public and one instructor-only test."""
    for package in ("mlp_core", "mlp_lab"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    if planted:
        path = root / "mlp_core" / "layers.py"
        text = path.read_text()
        assert text.count("        # END SOLUTION\n") >= 1
        path.write_text(text.replace("        # END SOLUTION\n", f"        # {planted}\n        # END SOLUTION\n", 1))
    (root / "notebooks").mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import numpy as np\nfrom mlp_core import Linear\nprint('setup ok')"),
        nbformat.v4.new_code_cell("layer = Linear(3, 2)\nlayer.forward(np.ones((1, 3), dtype=np.float32))"),
        nbformat.v4.new_markdown_cell("**1.** Why sum over the batch?"),
        nbformat.v4.new_markdown_cell("Because the loss already divides by N.", metadata={"tags": ["solution"]}),
    ]
    nbformat.write(nb, root / "notebooks" / "01_linear_layer.ipynb")
    (root / "tests").mkdir()
    (root / "tests" / "test_public.py").write_text("def test_public():\n    assert True\n")
    (root / "tests" / "test_secret.py").write_text("# instructor-only\ndef test_secret():\n    assert True\n")
    (root / "benchmarks").mkdir()
    (root / "benchmarks" / "timing.py").write_text("print('time your own code')\n")
    (root / "benchmarks" / "rewrite.py").write_text("# it repeats the solution\n# instructor-only\nprint('x')\n")
    (root / "benchmarks" / "README.md").write_text(
        "timing.py: for all.\n<!-- BEGIN INSTRUCTOR -->\nrewrite.py: the instructor's.\n<!-- END INSTRUCTOR -->\n"
    )
    (root / "mlp_instructor").mkdir()
    (root / "mlp_instructor" / "secret.txt").write_text("answers")
    (root / "results" / "report" / "runs").mkdir(parents=True)
    (root / "results" / "report" / "runs" / "mlp1-l2-relu-seed0.json").write_text("{}")
    (root / "results" / "report" / "summary.md").write_text("The report's conclusions, checked.\n")
    (root / "README.md").write_text(
        "# Kit\n\nFor students.\n\n<!-- BEGIN INSTRUCTOR -->\n## For instructors\nsecret\n<!-- END INSTRUCTOR -->\nEnd.\n"
    )
    shutil.copy2(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_a_planted_solution_line_never_reaches_the_release(tmp_path):
    planted = "PLANTED-7f3a9c1e-unique-solution-line"
    kit = make_kit(tmp_path / "kit", planted)
    release(tmp_path / "out", source_dir=kit)
    for path in (tmp_path / "out").rglob("*"):
        if path.is_file():
            assert planted not in path.read_text(errors="replace"), path
    # The self-check catches a leak the stripping cannot see: the same line in a public test.
    (kit / "tests" / "test_public.py").write_text(f"# {planted}\ndef test_public():\n    assert True\n")
    with pytest.raises(ReleaseError, match=f"leaks a solution line: tests/test_public.py:1 contains '# {planted}'"):
        release(tmp_path / "out2", source_dir=kit)
    assert not (tmp_path / "out2").exists()


def test_release_copies_the_whitelist_only(tmp_path):
    kit = make_kit(tmp_path / "kit")
    report = release(tmp_path / "out", source_dir=kit)
    out = tmp_path / "out"
    assert not (out / "mlp_instructor").exists()
    assert (out / "results" / "report" / "summary.md").read_text() == "The report's conclusions, checked.\n"
    assert (out / "results" / "report" / "runs" / "mlp1-l2-relu-seed0.json").exists()
    assert (out / "tests" / "test_public.py").exists() and not (out / "tests" / "test_secret.py").exists()
    assert (out / "benchmarks" / "timing.py").exists() and not (out / "benchmarks" / "rewrite.py").exists()
    assert report.left_out == ["tests/test_secret.py (instructor-only)", "benchmarks/rewrite.py (instructor-only)"]
    assert (out / "benchmarks" / "README.md").read_text() == "timing.py: for all.\n"
    readme = (out / "README.md").read_text()
    assert "For students." in readme and "End." in readme and "secret" not in readme and "instructors" not in readme
    assert sum(len(r) for r in report.regions.values()) == sum(len(find_regions(p.read_text())) for p in MODULES)
    assert report.answer_cells == {"notebooks/01_linear_layer.ipynb": 1}


def execute_until_error(path: Path, kit: Path, monkeypatch):
    """Run a released notebook in a fresh kernel that imports the released mlp_core.

    Returns (the notebook with outputs, the CellExecutionError or None).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("PYTHONPATH", str(kit))
    monkeypatch.setenv("MLP_NOTEBOOK_QUICK", "1")
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return nb, error
    return nb, None


def test_kit_url_fills_in_the_colab_cell_and_the_binder_link(tmp_path):
    kit = make_kit(tmp_path / "kit")
    nb = nbformat.read(kit / "notebooks" / "01_linear_layer.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(
        f'KIT_URL = "{KIT_URL_PLACEHOLDER}"', metadata={"tags": ["colab"]}))
    nbformat.write(nb, kit / "notebooks" / "01_linear_layer.ipynb")
    (kit / "README.md").write_text(f"Binder: https://mybinder.org/v2/gh/OWNER/REPO/HEAD\nColab: {KIT_URL_PLACEHOLDER}\n")
    release(tmp_path / "out", source_dir=kit, kit_url="https://github.com/course/mlp-kit.git")
    released = nbformat.read(tmp_path / "out" / "notebooks" / "01_linear_layer.ipynb", as_version=4)
    assert released.cells[0].source == 'KIT_URL = "https://github.com/course/mlp-kit.git"'
    assert (tmp_path / "out" / "README.md").read_text() == (
        "Binder: https://mybinder.org/v2/gh/course/mlp-kit/HEAD\nColab: https://github.com/course/mlp-kit.git\n")
    release(tmp_path / "plain", source_dir=kit)  # without --kit-url the placeholder stays
    assert KIT_URL_PLACEHOLDER in (tmp_path / "plain" / "README.md").read_text()


@pytest.mark.parametrize("url", ['https://x.org/kit"; import os; os.system("rm -rf ~") #', "not a url",
                                 "https://x.org/a kit"])
def test_a_kit_url_that_is_not_a_plain_url_is_refused(tmp_path, url):
    kit = make_kit(tmp_path / "kit")
    with pytest.raises(ReleaseError, match="is not a plain URL"):
        release(tmp_path / "out", source_dir=kit, kit_url=url)
    assert not (tmp_path / "out").exists()


def test_refuses_a_non_empty_folder_unless_forced(tmp_path):
    kit = make_kit(tmp_path / "kit")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(ReleaseError, match="is not empty; give a new folder, or --force"):
        release(out, source_dir=kit)
    assert (out / "old.txt").read_text() == "keep me"
    release(out, source_dir=kit, force=True)
    assert not (out / "old.txt").exists() and (out / "mlp_core" / "layers.py").exists()
    with pytest.raises(ReleaseError, match="inside mlp_core/"):
        release(kit / "mlp_core" / "student", source_dir=kit)
    with pytest.raises(ReleaseError, match="holds the kit itself"):
        release(kit, source_dir=kit, force=True)


@pytest.mark.parametrize("damage, problem", [
    (lambda text: text.replace("        raise NotImplementedError(", "raise NotImplementedError(", 1), "does not parse"),
    (lambda text: text.replace('"""', '"""Changed. ', 1), "does not give the original"),
    (lambda text: text + "# BEGIN SOLUTION\n", "still has a solution marker"),
], ids=["a placeholder that breaks the file", "a change outside the regions", "a marker left behind"])
def test_the_self_check_catches_a_broken_strip(tmp_path, damage, problem):
    """What a bug in the stripping would write is refused: a placeholder that breaks the file, a change outside
    the regions, a marker left behind."""
    kit = make_kit(tmp_path / "kit")
    staging = tmp_path / "staging"
    staging.mkdir()
    _, originals = build_release(kit, staging)
    check_release(staging, kit, originals, import_check=False)  # as built: sound
    layers = staging / "mlp_core" / "layers.py"
    layers.write_text(damage(layers.read_text()))
    with pytest.raises(ReleaseError, match=problem):
        check_release(staging, kit, originals, import_check=False)


def test_a_failed_self_check_leaves_nothing_behind(tmp_path):
    kit = make_kit(tmp_path / "kit")
    (kit / "mlp_core" / "broken.py").write_text("import mlp_core.no_such_module\n")
    with pytest.raises(ReleaseError, match="does not import: ModuleNotFoundError"):
        release(tmp_path / "out", source_dir=kit)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kit"]  # no output, no staging folder


# ----------------------------------------------------------------------------
# The release of this repository
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("student") / "kit"
    proc = subprocess.run([sys.executable, "-m", "mlp_core", "release", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "solution regions" in proc.stdout
    return out


def test_the_repository_release_has_no_answers_and_no_instructor_files(kit):
    assert not any((kit / name).exists() for name in WITHHELD)
    assert not (kit / "tests" / "test_release.py").exists() and not (kit / "tests" / "test_grading.py").exists()
    for path in kit.rglob("*.py"):
        assert marker_comments(path.read_text()) == [], path
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        source = nbformat.read(path, as_version=4)
        released = nbformat.read(kit / "notebooks" / path.name, as_version=4)
        solutions = sum("solution" in c.metadata.get("tags", []) for c in source.cells)
        answers = [c for c in released.cells if "answer" in c.metadata.get("tags", [])]
        assert len(answers) == solutions
        assert all(c.source == "YOUR ANSWER HERE" for c in answers if c.cell_type == "markdown")
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in released.cells if c.cell_type == "code")


#: A derivative written as a formula: "dE/dx = ...", "sigma'(x) = ...", "gelu'(x) = ...".
DERIVATIVE = re.compile(r"(dE/d\w+|\b\w+'\(\w*\))\s*=")


def exercise_docstrings(kit_dir: Path) -> dict[str, str]:
    """The docstrings a student reads beside each function to write: the function's and its class's."""
    found = {}
    for exercise in progress.exercises():
        tree = ast.parse((kit_dir / "mlp_core" / f"{exercise.module}.py").read_text())
        node, docs = tree, []
        for part in exercise.function.split("."):
            node = next(n for n in node.body if isinstance(n, (ast.ClassDef, ast.FunctionDef)) and n.name == part)
            docs.append(ast.get_docstring(node) or "")
        found[exercise.function] = "\n".join(docs)
    return found


def test_strip_derivations_keeps_the_contract_and_drops_the_derivative():
    source = (
        'class L2:\n    """E = 1/(2N) sum ||x - t||^2.\n\n    Derivation:\n        dE/dx = (x - t) / N.\n'
        '\n        the 1/N: E is a mean.\n    backward() returns dE/dx, shape (N, K).\n    """\n'
    )
    assert strip_derivations(source) == (
        'class L2:\n    """E = 1/(2N) sum ||x - t||^2.\n\n    backward() returns dE/dx, shape (N, K).\n    """\n'
    )


def test_the_released_docstrings_state_contracts_not_derivatives(kit):
    """Issue 19: the student derives each backward pass; the instructor's copy keeps the math."""
    instructor = exercise_docstrings(REPO)
    backward = [name for name in instructor if name.endswith("backward")]
    assert backward and all("Derivation:" in instructor[name] for name in backward), [
        name for name in backward if "Derivation:" not in instructor[name]]
    for name, doc in exercise_docstrings(kit).items():
        assert "Derivation:" not in doc and not DERIVATIVE.search(doc), (name, doc)


def test_the_release_carries_the_committed_results_and_every_cited_file(kit):
    """Notebook 08 shows the 54 committed runs; every results/ or reference file a notebook cites is there."""
    runs = sorted(p.name for p in (REPO / "results" / "report" / "runs").glob("*.json"))
    assert len(runs) == 54
    assert sorted(p.name for p in (kit / "results" / "report" / "runs").glob("*.json")) == runs
    for rel in ("results/report/summary.md", "results/report/results.md", "results/output_activation_check.md",
                "results/report/figures/mlp2_test_acc.png"):
        assert (kit / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    cited = set()
    for path in (REPO / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            cited.update(CITED_DATA.findall(cell.source))
    assert "results/output_activation_check.md" in cited
    for rel in sorted(cited):
        assert (kit / rel).exists() or not (REPO / rel).exists(), f"a notebook cites {rel}, not released"


def _instructor_only_lines() -> set[str]:
    """Distinctive lines of the instructor's tools that appear nowhere else in the repository."""
    elsewhere = set()
    for path in REPO.rglob("*"):
        if (path.is_file() and path.suffix in (".py", ".md", ".toml", ".ipynb")
                and not path.is_relative_to(REPO / "mlp_instructor")
                and not any(part in (".git", ".venv", "results") for part in path.relative_to(REPO).parts)):
            elsewhere.update(line.strip() for line in path.read_text(errors="replace").splitlines())
    lines = set()
    for path in (REPO / "mlp_instructor").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".md", ".toml"):
            lines.update(
                line.strip() for line in path.read_text().splitlines()
                if len(line.strip()) >= 30 and line.strip() not in elsewhere
            )
    return lines


def test_no_file_or_line_of_the_instructors_tools_is_released(kit):
    released = [p for p in kit.rglob("*") if p.is_file()]
    assert not [p for p in released if "mlp_instructor" in p.relative_to(kit).parts]
    instructor_files = {hashlib.sha256(p.read_bytes()).hexdigest(): p.relative_to(REPO).as_posix()
                        for p in (REPO / "mlp_instructor").rglob("*") if p.is_file() and p.stat().st_size > 200}
    assert {"mlp_instructor/worker/operations.py", "mlp_instructor/rubric.toml"} <= set(instructor_files.values())
    copies = [p for p in released if hashlib.sha256(p.read_bytes()).hexdigest() in instructor_files]
    assert not copies, f"released copies of the instructor's files: {copies[:3]}"
    secret = _instructor_only_lines()
    assert len(secret) > 500, "the instructor's tools should have many lines of their own"
    for path in released:
        text = path.read_text(errors="replace")
        leaked = [line for line in (l.strip() for l in text.splitlines()) if line in secret]
        assert not leaked, f"{path.relative_to(kit)} holds lines of mlp_instructor: {leaked[:3]}"
    # and the student's command line has no instructor commands. `-S` skips the .pth files that
    # make this repository's editable install importable; numpy and friends come from PYTHONPATH.
    import numpy
    site_packages = str(Path(numpy.__file__).parents[1])
    proc = subprocess.run([sys.executable, "-S", "-m", "mlp_core", "--help"], cwd=kit, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": f"{kit}{os.pathsep}{site_packages}"},
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "reproduce" in proc.stdout and "grade" not in proc.stdout and "release" not in proc.stdout


def commands_offered(help_text: str) -> set[str]:
    """The subcommands a `--help` lists (argparse's `{data,train,...}`)."""
    return set(re.search(r"\{([\w,-]+)\}", help_text)[1].split(","))


def test_the_released_package_imports_and_points_to_the_notebooks(kit):
    proc = run_python(
        "import numpy as np, mlp_core\n"
        "print(mlp_core.__file__)\n"
        "try:\n"
        "    mlp_core.Linear(2, 3).forward(np.ones((1, 2), dtype=np.float32))\n"
        "except NotImplementedError as exc:\n"
        "    print(exc)\n",
        kit,
    )
    assert proc.returncode == 0, proc.stderr
    where, message = proc.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(kit.resolve())
    assert message.startswith("Linear.forward: write this (see notebooks/01_")


def test_the_released_kit_installs_and_its_command_line_has_no_instructor_commands(kit, tmp_path):
    """A student's kit installed with pip: the stripped mlp_core, and an `mlp` script and `python -m mlp_core`
    that are the lab's command line without `release` or `grade` (its pyproject.toml registers no mlp.commands)."""
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--quiet", "--target", str(site), str(kit)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "NotImplementedError" in (site / "mlp_core" / "layers.py").read_text()
    # The kit's dependencies, without this repository's own install (whose entry points name the instructor's
    # commands): every entry of this environment's site-packages but that one. `-S`: no .pth file runs.
    import numpy
    deps = tmp_path / "deps"
    deps.mkdir()
    for entry in Path(numpy.__file__).resolve().parents[1].iterdir():
        if not entry.name.startswith(("mlp_core-", "mlp_core.", "__editable__", "mlp_")) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env |= {"PYTHONPATH": f"{site}{os.pathsep}{deps}", "MPLBACKEND": "Agg"}
    outputs = []
    for command in ([str(site / "bin" / "mlp")], ["-m", "mlp_core"]):
        proc = subprocess.run([sys.executable, "-S", *command, "--help"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr[-2000:]
        offered = commands_offered(proc.stdout)
        assert {"data", "train", "reproduce", "report", "compare"} <= offered, offered
        assert not offered & {"release", "grade", "gradescope", "similarity"}, offered
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    where = subprocess.run([sys.executable, "-S", "-c", "import mlp_lab.cli; print(mlp_lab.cli.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr


TEACHING_NOTEBOOKS = sorted(
    p.name for prefix in sorted(set(module_notebooks(progress.EXERCISES).values()))
    for p in (REPO / "notebooks").glob(f"{prefix}_*.ipynb")
)


@pytest.mark.parametrize("name", TEACHING_NOTEBOOKS)
def test_each_released_notebook_stops_at_an_unimplemented_function(kit, name, monkeypatch):
    """A student opening a notebook of the repository's release gets a clear NotImplementedError, not a crash."""
    if "MNIST_DIR" not in os.environ and notebook_needs_mnist(REPO / "notebooks" / name):
        monkeypatch.setenv("MNIST_DIR", str(require_mnist()))
    _, error = execute_until_error(kit / "notebooks" / name, kit, monkeypatch)
    assert error is not None, f"{name} teaches code the student writes, yet runs to the end without it"
    assert error.ename == "NotImplementedError", f"{name} crashed with {error.ename}: {error.evalue}"
    assert re.fullmatch(r"(?:[A-Za-z0-9]+\.)?[a-z_]+: write this \(see notebooks/0[1-7]_\w+\.ipynb\)", error.evalue), error.evalue


# ----------------------------------------------------------------------------
# Notebook 08 in the student's kit: the committed runs by default, retraining on request
# ----------------------------------------------------------------------------


def completed_copy(kit: Path, dest: Path, *, only: tuple[str, ...] | None = None,
                   replacements: dict[str, str] | None = None) -> Path:
    """A copy of the released ``kit`` with the answers filled back in (of the modules in ``only``; default all).

    ``replacements``: function -> code written instead of the answer (a student's bug).
    """
    shutil.copytree(kit, dest)
    for path in sorted((REPO / "mlp_core").glob("*.py")):
        original = path.read_text()
        if find_regions(original) and (only is None or path.stem in only):
            released = dest / "mlp_core" / path.name
            mine = {f: c for f, c in (replacements or {}).items()
                    if f in {r.function for r in find_regions(original)}}
            released.write_text(fill_in_solutions(released.read_text(), original, path.name, replacements=mine))
    return dest


def with_parameters(path: Path, **values) -> None:
    """Append assignments to the notebook's ``parameters`` cell, as papermill would."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += "\n" + "\n".join(f"{name} = {value!r}" for name, value in values.items())
    nbformat.write(nb, path)


def outputs_text(nb) -> str:
    return "\n".join(
        "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/markdown", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )


@pytest.fixture
def mnist_env(monkeypatch):
    if "MNIST_DIR" not in os.environ:
        monkeypatch.setenv("MNIST_DIR", str(require_mnist()))


#: Where a released notebook 08 stops: its own exercise (a solution region in a notebook cell), after the tables.
NOTEBOOK_08_EXERCISE = "gap_below_next_worst: write this (see notebooks/08_full_comparison.ipynb)"


def stopped_at_the_06_exercise(error) -> bool:
    """True if the run ended at notebook 08's own exercise, the one thing a released 08 leaves to write."""
    return error is not None and error.ename == "NotImplementedError" and error.evalue == NOTEBOOK_08_EXERCISE


def test_notebook_06_shows_the_committed_runs_before_any_code_is_written(kit, mnist_env, monkeypatch):
    nb, error = execute_until_error(kit / "notebooks" / "08_full_comparison.ipynb", kit, monkeypatch)
    assert stopped_at_the_06_exercise(error), f"{error.ename}: {error.evalue}" if error else "ran past the exercise"
    text = outputs_text(nb)
    engine = sum(len(progress.exercises(nb)) for nb in ("01", "02", "03", "04", "05"))
    assert f"your mlp_core: 0 of {engine} functions of notebooks 01-05 written" in text
    assert "54 runs of 18 configurations; grid report; seeds [0, 1, 2]" in text
    assert "18 of 18 configurations with results are within 0.5 percentage points" in text


def test_notebook_06_retrain_names_every_function_still_to_write(kit, mnist_env, monkeypatch, tmp_path):
    student = completed_copy(kit, tmp_path / "kit", only=("layers", "activations", "optim"))
    notebook = student / "notebooks" / "08_full_comparison.ipynb"
    with_parameters(notebook, RETRAIN=True)
    _, error = execute_until_error(notebook, student, monkeypatch)
    assert error is not None and error.ename == "NotWrittenYet"
    assert error.evalue == (
        "RETRAIN = True trains with your code, and needs 12 functions you have not written yet:\n"
        "  notebooks/03_losses.ipynb: L2Loss.forward, L2Loss.backward, softmax, SoftmaxCrossEntropyLoss.forward, "
        "SoftmaxCrossEntropyLoss.backward, HingeLoss.forward, HingeLoss.backward (mlp_core/losses.py)\n"
        "  notebooks/04_network_and_optimizer.ipynb: Sequential.forward, Sequential.backward (mlp_core/network.py)\n"
        "  notebooks/05_training_and_early_stopping.ipynb: evaluate, train_epoch, EarlyStopping.step "
        "(mlp_core/training.py)"
    )
    assert not (student / "runs").exists()  # nothing trained, nothing written


def test_notebook_06_retrains_into_the_kit_and_leaves_nothing_in_tmp(kit, mnist_env, monkeypatch, tmp_path):
    student = completed_copy(kit, tmp_path / "kit")
    notebook = student / "notebooks" / "08_full_comparison.ipynb"
    with_parameters(notebook, RETRAIN=True)
    temp_before = set(Path(tempfile.gettempdir()).iterdir())
    nb, error = execute_until_error(notebook, student, monkeypatch)
    assert stopped_at_the_06_exercise(error), f"{error.ename}: {error.evalue}" if error else "ran past the exercise"
    assert len(list((student / "runs" / "08_quick_grid" / "runs").glob("*.json"))) == 18
    text = outputs_text(nb)
    assert "Using the runs in `runs/08_quick_grid`" in text
    assert "18 runs of 18 configurations; grid quick; seeds [0]; {'ok': 18, 'diverged': 0, 'failed': 0}" in text
    new_in_tmp = {p.name for p in set(Path(tempfile.gettempdir()).iterdir()) - temp_before}
    assert not {n for n in new_in_tmp if n.startswith("mlp")}, new_in_tmp


def test_a_completed_release_passes_its_own_tests(kit, mnist_env, tmp_path):
    """The student's `pytest` in their kit: with every function written, no test fails."""
    student = completed_copy(kit, tmp_path / "kit")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLP_NOTEBOOK_QUICK")}
    env["PYTHONPATH"] = str(student)  # the kit's mlp_core, not this repository's
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=student, env=env,
                          capture_output=True, text=True, timeout=1200)
    summary = proc.stdout.strip().splitlines()[-1]
    assert proc.returncode == 0 and " passed" in summary and "failed" not in summary, proc.stdout[-3000:]
    assert "05_training_and_early_stopping: 3 of 3 written; all written" in proc.stdout


def test_the_students_pytest_names_what_is_left_per_notebook(kit, mnist_env, tmp_path):
    student = completed_copy(kit, tmp_path / "kit", only=("layers",))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLP_NOTEBOOK_QUICK")}
    env["PYTHONPATH"] = str(student)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/test_progress.py"], cwd=student, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]  # what is not written yet is skipped, not failed
    assert "01_linear_layer: 2 of 2 written; all written" in proc.stdout
    assert "04_network_and_optimizer: 0 of 3 written; to write: Sequential.forward, Sequential.backward, SGD.step" in proc.stdout
    assert re.search(r"^SKIPPED .*not written yet: .*03_losses", proc.stdout, re.M)
    left = len(progress.EXERCISES) - 1  # every notebook but 01 has a function left
    assert re.search(rf"^\d+ passed, {left} skipped", proc.stdout, re.M), proc.stdout[-2000:]


def test_notebook_06_retrain_with_a_bug_says_why_every_run_failed(kit, mnist_env, monkeypatch, tmp_path):
    student = completed_copy(kit, tmp_path / "kit",
                             replacements={"EarlyStopping.step": 'raise RuntimeError("my bug in step")'})
    notebook = student / "notebooks" / "08_full_comparison.ipynb"
    with_parameters(notebook, RETRAIN=True)
    nb, error = execute_until_error(notebook, student, monkeypatch)
    assert error is not None and error.ename == "RuntimeError"
    assert error.evalue.startswith("none of the 18 runs in runs/08_quick_grid finished (the reasons are above)")
    assert ("python -m mlp_core reproduce --grid quick --seeds 1 --out runs/08_quick_grid --train-subset 500 "
            "--test-subset 500 --epochs 2 --retry-failed") in error.evalue
    text = outputs_text(nb)
    assert "{'ok': 0, 'diverged': 0, 'failed': 18}" in text
    assert "  mlp1-l2-sigmoid-seed0: failed: RuntimeError: my bug in step" in text


def notebook_parameters(name: str, monkeypatch) -> dict:
    """The values the ``parameters`` cell of notebook ``name`` sets at full size (MLP_NOTEBOOK_QUICK unset)."""
    nb = nbformat.read(REPO / "notebooks" / name, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    monkeypatch.delenv("MLP_NOTEBOOK_QUICK", raising=False)
    values: dict = {}
    exec(cell.source, values)
    return values


OWN_LOOP = """
import sys
import numpy as np
import mlp_core
from mlp_core import SGD, build_mlp, evaluate, get_loss, train_epoch
from mlp_core.data import load_mnist, subset

own_train, own_epochs, own_lr = {own_train!r}, {own_epochs!r}, {own_lr!r}
train, test = load_mnist()
images = train if own_train is None else subset(train, own_train, seed=0)
model = build_mlp("mlp1", "relu", seed=0)
loss_fn = get_loss("cross_entropy")
optimizer = SGD(model.parameters(), lr=own_lr, momentum=0.9)
order = np.random.default_rng(0)
for epoch in range(1, own_epochs + 1):
    train_epoch(model, loss_fn, optimizer, images.images, images.labels, 100, order, epoch=epoch)
print(mlp_core.__file__)
print(len(images.labels), evaluate(model, loss_fn, test.images, test.labels)[1])
"""


def test_the_students_own_loop_reaches_97_percent_at_notebook_05s_full_size(kit, mnist_env, monkeypatch, tmp_path):
    """Notebook 05, section 3: the released kit with the answers filled in (its own Sequential, train_epoch and
    evaluate, nothing of this repository) trains MLP1 (ReLU, cross-entropy) to >= 97 % test accuracy."""
    settings = notebook_parameters("05_training_and_early_stopping.ipynb", monkeypatch)
    student = completed_copy(kit, tmp_path / "kit")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLP_NOTEBOOK_QUICK")}
    env |= {"PYTHONPATH": str(student), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    code = OWN_LOOP.format(own_train=settings["OWN_TRAIN"], own_epochs=settings["OWN_EPOCHS"], own_lr=settings["OWN_LR"])
    proc = subprocess.run([sys.executable, "-c", code], cwd=student, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    where, result = proc.stdout.strip().splitlines()[-2:]
    assert Path(where).resolve().is_relative_to(student.resolve()), where  # the kit's code, not this repository's
    images, accuracy = result.split()
    assert int(images) == (settings["OWN_TRAIN"] or 60000), images
    assert float(accuracy) >= 0.97, f"the student's own loop reached {100 * float(accuracy):.2f}%"


# ----------------------------------------------------------------------------
# The student's README
# ----------------------------------------------------------------------------

#: Where the README may point into the kit; a path there must be in the release. data/mnist is the
#: download cache, made at run time.
KIT_ROOTS = ("mlp_instructor", ".ci/", "mlp_core/", "mlp_lab/", "notebooks/", "tests/", "benchmarks/", "results/",
             "binder/", "data/")


def test_the_student_readme_describes_only_what_the_release_holds(kit):
    readme = (kit / "README.md").read_text()
    assert "BEGIN INSTRUCTOR" not in readme and "For instructors" not in readme
    cited = {span.rstrip(".,:;)") for span in re.findall(r"`([^`\s]+)`", readme)}
    cited = {c for c in cited if c.startswith(KIT_ROOTS) and not re.search(r"[*{<]", c) and c.split("/")[:2] != ["data", "mnist"]}
    assert {"mlp_core/progress.py", "notebooks/", "results/report/summary.md"} <= cited  # the check reads them
    assert [c for c in cited if not (kit / c).exists()] == []
    assert "mlp_instructor" not in readme and ".ci/" not in readme


def test_the_student_readme_says_what_to_hand_in_and_the_grader_takes_it(kit, tmp_path):
    """The README's own commands zip a kit into what the grader reads: its mlp_core and its answers."""
    from mlp_instructor.grading.submissions import discover_submissions, find_kits, take_kit, unpack_zip
    from mlp_instructor.notebooks import collect_answers

    section = (kit / "README.md").read_text().split("## Handing in your work", 1)[1].split("\n## ", 1)[0]
    commands = re.search(r"```bash\n(.*?)```", section, re.S)[1].splitlines()
    student = shutil.copytree(kit, tmp_path / "my-kit", ignore=shutil.ignore_patterns("results"))
    answered = student / "notebooks" / "03_losses.ipynb"
    answered.write_text(answered.read_text().replace('"YOUR ANSWER HERE"', '"It overflows: $e^{1000}$."', 1))
    for command in commands:
        argv = command.split("#")[0].split("|")[0].split()
        assert argv[:3] == ["python", "-m", "zipfile"], command
        proc = subprocess.run([sys.executable, *argv[1:]], cwd=student, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
    zipped = next(student.glob("*.zip"))
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    shutil.move(zipped, submissions / zipped.name)
    found = discover_submissions(submissions)
    assert list(found) == [zipped.stem] and not found[zipped.stem].problem
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    assert unpack_zip(submissions / zipped.name, unpacked) == []
    assert find_kits(unpacked) == [unpacked]
    report = take_kit(unpacked, tmp_path / "copy")
    assert report.skipped == []
    assert {p.name for p in (tmp_path / "copy" / "mlp_core").glob("*.py")} == {p.name for p in (kit / "mlp_core").glob("*.py")}
    answers, notes = collect_answers(tmp_path / "copy" / "notebooks")
    assert notes == [] and answers["03_losses/Q1"] == "It overflows: $e^{1000}$."
