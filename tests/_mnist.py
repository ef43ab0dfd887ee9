"""Where the tests find the real MNIST: $MNIST_DIR, else ../shared/mnist beside the repo."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mnist_dir() -> Path:
    return Path(os.environ.get("MNIST_DIR") or REPO.parent / "shared" / "mnist")


def require_mnist() -> Path:
    folder = mnist_dir()
    if not (folder / "t10k-labels-idx1-ubyte.gz").exists() and not (folder / "t10k-labels-idx1-ubyte").exists():
        pytest.skip(f"real MNIST not found in {folder}; set MNIST_DIR to a folder with the four IDX files")
    return folder
