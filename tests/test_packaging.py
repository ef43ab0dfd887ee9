"""pyproject.toml and environment.yml list the same packages at the same versions."""

import re
import tomllib

from tests._mnist import REPO


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # bench (torch) is for the benchmark only and stays out of the conda environment
    specs = project["dependencies"] + extras["notebooks"] + extras["test"]
    pins = {}
    for spec in specs:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==([\w.]+)", spec).groups()
        pins[name.lower()] = version
    return pins


def environment_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "environment.yml").read_text().splitlines():
        match = re.fullmatch(r"\s*-\s*([A-Za-z0-9_.-]+)=([\w.]+)\s*", line)
        if match and match.group(1) != "python":
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_dependency_is_pinned_exactly():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        assert "==" in spec, f"{spec} is not pinned"


def test_environment_yml_matches_pyproject():
    assert environment_pins() == pyproject_pins()


def test_runtime_dependencies_are_only_numpy_matplotlib_tqdm():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert sorted(s.split("==")[0] for s in project["dependencies"]) == ["matplotlib", "numpy", "tqdm"]
