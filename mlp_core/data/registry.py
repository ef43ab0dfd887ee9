"""What the loader knows about each data set: files, checksums, sources; the error type; scalings.

Every other module of :mod:`mlp_core.data` reads these names; none defines its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np


class DataError(Exception):
    """A data file is missing, corrupt or could not be fetched.

    The message says what was wrong and what to do.
    """


class Dataset(NamedTuple):
    """One split of an image-classification data set.

    images: float32 array of shape (N, 784), each row a 28x28 image flattened
            row by row and scaled by one of :data:`SCALINGS`.
    labels: int64 array of shape (N,), class indices in 0..9.
    """

    images: np.ndarray
    labels: np.ndarray


#: The four files' roles, in the order they are listed everywhere.
FILE_ROLES = ("train_images", "train_labels", "test_images", "test_labels")

_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_MNIST_SIZES = {
    "train-images-idx3-ubyte": 47040016,
    "train-labels-idx1-ubyte": 60008,
    "t10k-images-idx3-ubyte": 7840016,
    "t10k-labels-idx1-ubyte": 10008,
}


@dataclass(frozen=True)
class DatasetInfo:
    """Everything needed to find, fetch and verify one data set.

    files:       role (see FILE_ROLES) -> file name without ``.gz``.
    sha256:      file name without ``.gz`` -> SHA-256 (hex) of the
                 decompressed content.
    sizes:       file name without ``.gz`` -> size in bytes when decompressed.
    env_var:     environment variable that may name a folder holding the files.
    mirrors:     built-in base URLs tried in turn; a file is fetched as
                 ``mirror + name + ".gz"``. The user's own mirrors (see
                 :attr:`mirrors_env_var`) come first.
    system_dirs: folders a system package installs the files into; used after
                 the environment variable, if they hold all four files.
    classes:     the 10 class names, index = label.
    """

    name: str
    title: str
    files: dict[str, str]
    sha256: dict[str, str]
    sizes: dict[str, int]
    env_var: str
    mirrors: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    classes: tuple[str, ...] = tuple(str(d) for d in range(10))
    system_hint: str = ""

    @property
    def mirrors_env_var(self) -> str:
        """The environment variable naming the user's mirrors: MNIST_DIR -> MNIST_MIRRORS."""
        return self.env_var.removesuffix("_DIR") + "_MIRRORS"


#: Registered data sets by name.
DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo(
        name="mnist",
        title="MNIST handwritten digits",
        files=dict(_MNIST_FILES),
        sha256={
            "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        sizes=dict(_MNIST_SIZES),
        env_var="MNIST_DIR",
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
    ),
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        title="Fashion-MNIST (Zalando clothing images)",
        files=dict(_MNIST_FILES),
        # Computed from Debian's dataset-fashion-mnist 0.0~git20200523.55506a9-1;
        # the decompressed MD5s there equal the ones published with the data set.
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        sizes=dict(_MNIST_SIZES),
        env_var="FASHION_MNIST_DIR",
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
        ),
        system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
        classes=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
        system_hint="apt-get install -y dataset-fashion-mnist",
    ),
}

#: Default parent of the per-data-set cache folders: ``<repo>/data`` (this file is
#: ``<repo>/mlp_core/data/registry.py``).
DEFAULT_CACHE_DIR = Path(__file__).resolve().parents[2] / "data"

#: Seconds a mirror may stay silent (to connect, or between two reads) before it is given up.
DOWNLOAD_TIMEOUT = 30.0


def dataset_info(name: str) -> DatasetInfo:
    """The registry entry of ``name`` ("mnist", "fashion-mnist"; case and _/- do not matter)."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASETS:
        raise ValueError(
            f"unknown data set {name!r}; choose one of: {', '.join(sorted(DATASETS))}"
        )
    return DATASETS[key]


# --------------------------------------------------------------------------- #
# Pixel scalings
# --------------------------------------------------------------------------- #


def _scale_course(x: np.ndarray) -> np.ndarray:
    """uint8 (...) -> float32 (...), (x - 128) / 255, range [-128/255, 127/255]."""
    y = x.astype(np.float32)
    y -= 128.0
    y /= 255.0
    return y


def _scale_unit(x: np.ndarray) -> np.ndarray:
    """uint8 (...) -> float32 (...), x / 255, range [0, 1]."""
    y = x.astype(np.float32)
    y /= 255.0
    return y


#: Pixel scalings: name -> function mapping a uint8 array to float32 (same shape).
SCALINGS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "course": _scale_course,
    "unit": _scale_unit,
}


def scaling_function(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """``SCALINGS[name]``, or ValueError listing the choices."""
    if name not in SCALINGS:
        raise ValueError(
            f"unknown scaling {name!r}; choose one of: {', '.join(sorted(SCALINGS))}"
        )
    return SCALINGS[name]
