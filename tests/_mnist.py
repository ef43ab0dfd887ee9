"""Where the tests find the real MNIST: $MNIST_DIR, else ../shared/mnist beside the repo,
else the loader's download cache data/mnist (filled by e.g. `python -m mlp_core data`)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mnist_dir() -> Path:
    if os.environ.get("MNIST_DIR"):
        return Path(os.environ["MNIST_DIR"])
    shared = REPO.parent / "shared" / "mnist"
    return shared if shared.is_dir() else REPO / "data" / "mnist"


def require_mnist() -> Path:
    folder = mnist_dir()
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists() and not (folder / "t10k-labels-idx1-ubyte").exists():
        pytest.skip(
            f"real MNIST not found in {folder}; set MNIST_DIR to a folder with the four IDX files, "
            "or run `python -m mlp_core data` once to download them into data/"
        )
    return folder
