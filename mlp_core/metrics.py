"""What a classifier gets wrong, class by class: the confusion matrix (notebook 07).

Accuracy is one number; the confusion matrix says which digits are taken for
which. Its rows are the true classes and its columns the predicted ones, as in
scikit-learn's ``confusion_matrix``.
"""

from __future__ import annotations

import numpy as np

from .arguments import is_whole_number


def check_class_labels(labels, predictions, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``labels`` and ``predictions`` as int64 arrays, or a ValueError saying what is wrong with them.

    Both must be 1-D arrays of the same length N >= 1 holding whole numbers in
    [0, num_classes); ``num_classes`` a whole number >= 1.
    """
    if not is_whole_number(num_classes, 1):
        raise ValueError(f"num_classes must be a whole number >= 1, got {num_classes!r}")
    arrays = []
    for name, values in (("labels", labels), ("predictions", predictions)):
        values = np.asarray(values)
        if values.ndim != 1:
            hint = " (the network's outputs? take outputs.argmax(axis=1))" if values.ndim == 2 else ""
            raise ValueError(f"{name} must be a 1-D array of class numbers, got shape {values.shape}{hint}")
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} must hold whole numbers (an integer array), got dtype {values.dtype}")
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} must be class numbers in [0, {num_classes}), "
                             f"got values from {values.min()} to {values.max()}")
        arrays.append(values.astype(np.int64))
    if arrays[0].shape != arrays[1].shape or not arrays[0].size:
        raise ValueError(f"labels and predictions must have the same length N >= 1, "
                         f"got {arrays[0].size} and {arrays[1].size}")
    return arrays[0], arrays[1]


def confusion_matrix(labels, predictions, num_classes: int = 10) -> np.ndarray:
    """Counts of (true class, predicted class) pairs.

    labels, predictions: (N,) class numbers in [0, num_classes) (checked first:
    a ValueError says what is wrong). Returns C: (num_classes, num_classes),
    int64, with C[i, j] the number of samples of true class i predicted as
    class j. So row i sums to the number of samples of class i, column j to the
    number predicted as j, the whole matrix to N, and its diagonal holds the
    correct predictions (trace / N is the accuracy).
    """
    labels, predictions = check_class_labels(labels, predictions, num_classes)
    # BEGIN SOLUTION
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (labels, predictions), 1)
    return counts
    # END SOLUTION


def most_confused(matrix: np.ndarray, count: int = 5) -> list[tuple[int, int, int]]:
    """The ``count`` largest off-diagonal entries of a confusion matrix, largest first.

    matrix: (K, K) counts, rows true classes. Returns (true class, predicted
    class, number of samples) triples; ties in the order of the classes.
    """
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"a confusion matrix is square, got shape {matrix.shape}")
    off = [(int(matrix[i, j]), i, j) for i in range(len(matrix)) for j in range(len(matrix)) if i != j]
    off.sort(key=lambda entry: -entry[0])
    return [(i, j, n) for n, i, j in off[:count]]


__all__ = ["check_class_labels", "confusion_matrix", "most_confused"]
