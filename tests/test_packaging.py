"""Honest versions: pyproject.toml's ranges, the one file of exact pins (constraints.txt), and
the environments that install with it (CI, conda's environment.yml, Binder's binder/)."""

import json
import os
import re
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from tests._mnist import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def requirements() -> list[Requirement]:
    """Every dependency of the kit, its extras included."""
    specs = PROJECT["dependencies"] + sum(PROJECT["optional-dependencies"].values(), [])
    return [Requirement(s) for s in specs]


def constraints() -> dict[str, str]:
    """constraints.txt as {normalised name: version}; every line there must be an exact pin."""
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][\w.]*)", line)
        assert match, f"constraints.txt: {line!r} is not an exact pin NAME==VERSION"
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        assert name not in pins, f"constraints.txt pins {name} twice"
        pins[name] = match.group(2)
    return pins


def test_every_dependency_is_a_range_pinned_exactly_in_constraints():
    pins = constraints()
    for req in requirements():
        assert "==" not in str(req.specifier), f"pyproject.toml: {req} pins exactly; pins go in constraints.txt"
        assert req.specifier, f"pyproject.toml: {req} has no lower bound"
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} is a dependency but constraints.txt does not pin it"
        assert Version(pins[name]) in req.specifier, f"constraints.txt pins {name}=={pins[name]}, outside {req}"


def test_requires_python_admits_the_python_the_environments_use():
    requires = SpecifierSet(PROJECT["requires-python"])
    conda = re.search(r"^\s*-\s*python=(\S+)\s*$", (REPO / "environment.yml").read_text(), re.M).group(1)
    binder = (REPO / "binder" / "runtime.txt").read_text().strip()
    assert binder == f"python-{conda}", "binder/runtime.txt and environment.yml name different Pythons"
    assert Version(conda + ".0") in requires
    assert "3.11" in (REPO / "constraints.txt").read_text().split("\n\n")[0]


def test_environment_yml_installs_with_the_constraints_and_pins_nothing_itself():
    lines = [l.split("#")[0].strip() for l in (REPO / "environment.yml").read_text().splitlines()]
    assert "- -c constraints.txt" in lines and "- -e .[notebooks,test]" in lines
    conda_pins = [l for l in lines if re.fullmatch(r"-\s*[A-Za-z0-9_.-]+=\S+", l) and not l.startswith("- python=")]
    assert conda_pins == [], f"environment.yml pins {conda_pins}; pins belong in constraints.txt"


def test_binder_files_are_valid_and_use_the_constraints():
    binder = REPO / "binder"
    reqs = [l.split("#")[0].strip() for l in (binder / "requirements.txt").read_text().splitlines()]
    reqs = [l for l in reqs if l]
    assert reqs[0] == "-c ../constraints.txt" and (binder / "../constraints.txt").resolve() == REPO / "constraints.txt"
    extras = re.fullmatch(r"-e \.\[([\w,]+)\]", reqs[1]).group(1).split(",")
    assert set(extras) <= set(PROJECT["optional-dependencies"]) and len(reqs) == 2
    post = binder / "postBuild"
    assert os.access(post, os.X_OK) and post.read_text().startswith("#!/bin/bash\n")
    assert subprocess.run(["bash", "-n", str(post)], capture_output=True).returncode == 0
    assert "python -m mlp_core data" in post.read_text()


def test_ci_and_the_quick_start_install_with_the_constraints():
    ci = REPO / ".ci" / "run"  # the instructor's CI; the student release has none
    assert not ci.exists() or "-c constraints.txt" in ci.read_text()
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "pip install -c constraints.txt -e" in quick_start


def test_runtime_dependencies_are_only_numpy_matplotlib_tqdm():
    assert sorted(Requirement(s).name for s in PROJECT["dependencies"]) == ["matplotlib", "numpy", "tqdm"]


def colab_cells() -> dict[str, str]:
    """The first code cell of every notebook, by file name."""
    cells = {}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        code = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        cells[path.name] = "".join(code[0]["source"])
    return cells


def test_every_notebook_opens_in_colab_with_the_same_first_cell():
    cells = colab_cells()
    assert len(cells) == 12
    first = next(iter(cells.values()))
    assert first.startswith("# Google Colab only")
    assert all(cell == first for cell in cells.values()), [n for n, c in cells.items() if c != first]
    assert '"-m", "mlp_core", "data"' in first and '"git", "clone"' in first


def test_the_colab_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    before = list(sys.path)
    exec(next(iter(colab_cells().values())), {})
    assert Path.cwd() == tmp_path and sys.path == before


def test_the_colab_cell_clones_the_published_kit_or_says_what_to_do(monkeypatch):
    """In Colab, a kit released with --kit-url clones and installs that address; one released without it
    stops before running anything, and says why (this test holds in both: the instructor's copy and a release)."""
    cell = next(iter(colab_cells().values()))
    kit_url = re.search(r'^KIT_URL = "([^"]*)"', cell, flags=re.M).group(1)
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    ran, moved = [], []
    monkeypatch.setattr(subprocess, "run", lambda args, **kwargs: ran.append(list(args)))
    monkeypatch.setattr(os.path, "isdir", lambda path: False)
    monkeypatch.setattr(os, "chdir", moved.append)
    if "OWNER/REPO" in kit_url:
        with pytest.raises(RuntimeError, match="ask your instructor for the kit's link"):
            exec(cell, {})
        assert ran == [] and moved == []
    else:
        exec(cell, {})
        assert ran[0] == ["git", "clone", "--quiet", "--depth=1", kit_url, "/content/kit"]
        assert ran[1][1:] == ["-m", "pip", "install", "--quiet", "-e", "/content/kit"]
        assert ran[2][1:] == ["-m", "mlp_core", "data"] and len(ran) == 3
        assert moved == ["/content/kit/notebooks"] and sys.path[0] == "/content/kit"
