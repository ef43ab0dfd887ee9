"""Random, reproducible cuts of a loaded data set: a validation split and a subset."""

from __future__ import annotations

import numpy as np

from .registry import Dataset


def train_validation_split(
    train: Dataset, val_size: int = 10000, seed: int | np.random.SeedSequence = 0
) -> tuple[Dataset, Dataset]:
    """Split ``train`` (N samples) into disjoint (train', validation) sets.

    validation: ``val_size`` samples drawn at random with
    ``np.random.default_rng(seed)`` (seed: an int or a SeedSequence); train':
    the other N - val_size. Both keep
    the original order of their samples. images (k, 784), labels (k,).
    ValueError unless 0 < val_size < N.
    """
    n = len(train.labels)
    if isinstance(val_size, bool) or not isinstance(val_size, (int, np.integer)) or not 0 < val_size < n:
        raise ValueError(
            f"val_size must be an integer with 0 < val_size < {n} (the number of training "
            f"samples), got {val_size!r}"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    val_idx = np.sort(perm[:val_size])
    tr_idx = np.sort(perm[val_size:])
    return (
        Dataset(train.images[tr_idx], train.labels[tr_idx]),
        Dataset(train.images[val_idx], train.labels[val_idx]),
    )


def subset(ds: Dataset, n: int, seed: int | np.random.SeedSequence = 0) -> Dataset:
    """``n`` samples of ``ds`` drawn without replacement with ``default_rng(seed)``
    (seed: an int or a SeedSequence).

    images (n, 784), labels (n,), in their original order. If ``n`` is at
    least len(ds.labels), ``ds`` itself is returned unchanged. ValueError if
    n < 1.
    """
    total = len(ds.labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if n >= total:
        return ds
    idx = np.sort(np.random.default_rng(seed).choice(total, size=n, replace=False))
    return Dataset(ds.images[idx], ds.labels[idx])
