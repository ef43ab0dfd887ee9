"""MNIST and Fashion-MNIST: finding, verifying, downloading and loading the four IDX files.

    from mlp_core.data import load_mnist
    train, test = load_mnist()          # images (N, 784) float32, labels (N,) int64

The package is cut by concern:

- :mod:`~mlp_core.data.registry`  what is known about each data set (file names,
  SHA-256s, sizes, built-in mirrors), :class:`DataError`, :class:`Dataset`, the
  pixel :data:`SCALINGS` ("course": (x - 128) / 255, "unit": x / 255);
- :mod:`~mlp_core.data.idx`       the IDX file format: :func:`read_idx`;
- :mod:`~mlp_core.data.files`     finding the four files in a folder and verifying
  each against the SHA-256 of its decompressed content;
- :mod:`~mlp_core.data.download`  fetching missing files from the user's mirrors
  (``MNIST_MIRRORS``, ``--mirror``) and the built-in ones, verified before use;
- :mod:`~mlp_core.data.loading`   the order in which the sources are tried (folder
  argument, ``MNIST_DIR``, system folder, cache ``data/``, download) and
  :func:`load_dataset`, :func:`load_mnist`, :func:`locate_dataset`,
  :func:`describe_dataset`;
- :mod:`~mlp_core.data.splits`    :func:`train_validation_split`, :func:`subset`.
"""

from __future__ import annotations

from .download import MIRRORS_ONLY, mirror_urls, use_mirrors
from .idx import read_idx
from .loading import describe_dataset, load_dataset, load_mnist, locate_dataset
from .registry import (
    DATASETS, DEFAULT_CACHE_DIR, DOWNLOAD_TIMEOUT, FILE_ROLES, SCALINGS, DataError, Dataset,
    DatasetInfo,
)
from .splits import subset, train_validation_split

__all__ = [
    "DATASETS",
    "DEFAULT_CACHE_DIR",
    "DOWNLOAD_TIMEOUT",
    "DataError",
    "Dataset",
    "DatasetInfo",
    "FILE_ROLES",
    "MIRRORS_ONLY",
    "SCALINGS",
    "describe_dataset",
    "load_dataset",
    "load_mnist",
    "locate_dataset",
    "mirror_urls",
    "read_idx",
    "subset",
    "train_validation_split",
    "use_mirrors",
]
