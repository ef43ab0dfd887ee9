"""The confusion matrix: counts by hand, its sums, repeated pairs, and bad input."""

import numpy as np
import pytest

from mlp_core import build_mlp, confusion_matrix
from mlp_core.metrics import most_confused
from mlp_core.training import accuracy


def test_known_counts():
    labels = np.array([0, 1, 2, 2, 1, 0, 2])
    predictions = np.array([0, 2, 2, 2, 1, 1, 0])
    expected = [[1, 1, 0],   # class 0: once right, once taken for 1
                [0, 1, 1],   # class 1: once right, once taken for 2
                [1, 0, 2]]   # class 2: twice right, once taken for 0
    matrix = confusion_matrix(labels, predictions, num_classes=3)
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.int64 and matrix.shape == (3, 3)


def test_rows_are_the_true_classes_and_columns_the_predictions():
    matrix = confusion_matrix([3], [1], num_classes=4)
    assert matrix[3, 1] == 1 and matrix.sum() == 1


def test_a_pair_that_occurs_many_times_is_counted_every_time():
    labels = np.array([1, 1, 1, 1, 4, 4])
    predictions = np.array([1, 1, 1, 7, 4, 4])
    matrix = confusion_matrix(labels, predictions)
    assert matrix.shape == (10, 10)
    assert (matrix[1, 1], matrix[1, 7], matrix[4, 4]) == (3, 1, 2)


def test_sums_trace_and_accuracy_on_a_network_s_predictions():
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((500, 20)).astype(np.float32), rng.integers(0, 10, 500)
    outputs = build_mlp([16], "relu", input_size=20, init_std=0.5, seed=0).forward(x)
    matrix = confusion_matrix(labels, outputs.argmax(axis=1))
    np.testing.assert_array_equal(matrix.sum(axis=1), np.bincount(labels, minlength=10))
    np.testing.assert_array_equal(matrix.sum(axis=0), np.bincount(outputs.argmax(axis=1), minlength=10))
    assert matrix.sum() == 500
    assert np.trace(matrix) / 500 == pytest.approx(accuracy(outputs, labels))
    assert np.count_nonzero(matrix - np.diag(np.diag(matrix))) > 0


def test_classes_that_never_occur_have_rows_and_columns_of_zeros():
    matrix = confusion_matrix([0, 0], [0, 0], num_classes=5)
    assert matrix.shape == (5, 5) and matrix[0, 0] == 2 and matrix.sum() == 2


@pytest.mark.parametrize("labels, predictions, num_classes, message", [
    (np.zeros((4, 10)), [0, 1, 2, 3], 10, r"labels must be a 1-D array.*argmax\(axis=1\)"),
    ([0, 1, 2], [0, 1], 10, "the same length"),
    ([], [], 10, "the same length N >= 1"),
    ([0.0, 1.0], [0, 1], 10, "whole numbers"),
    ([True, False], [0, 1], 10, "whole numbers"),
    ([0, 10], [0, 1], 10, r"class numbers in \[0, 10\), got values from 0 to 10"),
    ([0, 1], [-1, 1], 10, r"predictions must be class numbers in \[0, 10\)"),
    ([0, 1], [0, 1], 0, "num_classes must be a whole number >= 1"),
    ([0, 1], [0, 1], 2.5, "num_classes must be a whole number >= 1"),
])
def test_bad_input_says_what_is_wrong(labels, predictions, num_classes, message):
    with pytest.raises(ValueError, match=message):
        confusion_matrix(labels, predictions, num_classes)


def test_most_confused_lists_the_largest_mistakes_first():
    matrix = np.array([[50, 3, 0], [7, 40, 3], [1, 0, 45]])
    assert most_confused(matrix, 3) == [(1, 0, 7), (0, 1, 3), (1, 2, 3)]
    with pytest.raises(ValueError, match="square"):
        most_confused(np.zeros((2, 3)))
