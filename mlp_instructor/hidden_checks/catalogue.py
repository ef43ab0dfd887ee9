"""Every hidden check: what is computed, on which inputs, and which outputs are compared.

Each check is named ``<rubric item>.<what>``: ``rubric.toml`` gives the
points per item and must cover every check exactly once. The descriptions
are what the student reads in the feedback, so they say what was computed
(the formula, the options) but never with which numbers. The tuples below
name the outputs each kind of check compares, with the wording of the
feedback when one of them is wrong.
"""

from __future__ import annotations

from .end_to_end import EPOCHS, THRESHOLD, end_to_end_request, end_to_end_verdict
from .properties import backward_same_mask, training_forward
from .requests import (ACTIVATION_STATISTICS, activation_request, activation_statistics_request,
                       confusion_matrix_request, dropout_request, early_stopping_request, evaluate_request,
                       linear_request, loss_request, network_request, sequential_request, sgd_request,
                       softmax_request, train_epoch_request)
from .verdicts import Check, Compare

_Y = (Compare("y", "the output"),)
_DX = (Compare("dx", "the returned gradient dE/dx"),)
_LIN_BACK = (Compare("W_grad", "W.grad (x^T G, summed over the batch)"), Compare("b_grad", "b.grad (G summed over the batch)"),
             Compare("dx", "the returned dE/dx (G W^T)"))
_VALUE = (Compare("value", "the loss value"),)
_SGD = (Compare("p0", "the weights after the steps"), Compare("p1", "the biases after the steps"))
_STOP = (Compare("decisions", "the stop decisions", exact=True), Compare("best", "best"),
         Compare("best_epoch", "best_epoch", exact=True))


def _network_compare(sizes) -> tuple[Compare, ...]:
    out = [Compare("value", "the loss value")]
    for i in range(len(sizes) - 1):
        out += [Compare(f"{2 * i}.W_grad", f"the gradient of layer {2 * i}'s W", rtol=1e-5),
                Compare(f"{2 * i}.b_grad", f"the gradient of layer {2 * i}'s b", rtol=1e-5)]
    return tuple(out)


def _sequential_compare(sizes) -> tuple[Compare, ...]:
    out = [Compare("y", "the output of forward"), Compare("dx", "the gradient backward returns (dE/dx)")]
    for i in range(len(sizes) - 1):
        out += [Compare(f"{2 * i}.W_grad", f"the gradient of layer {2 * i}'s W"),
                Compare(f"{2 * i}.b_grad", f"the gradient of layer {2 * i}'s b")]
    return tuple(out)


def _epoch_compare(sizes) -> tuple[Compare, ...]:
    out = [Compare("train_loss", "the mean of the batch losses", rtol=1e-6),
           Compare("train_acc", "the mean of the batch accuracies (before each update)", rtol=1e-6)]
    for i in range(len(sizes) - 1):
        out += [Compare(f"{2 * i}.W", f"layer {2 * i}'s W after the epoch", rtol=1e-6),
                Compare(f"{2 * i}.b", f"layer {2 * i}'s b after the epoch", rtol=1e-6)]
    return tuple(out)


_EVALUATE = (Compare("loss", "the loss over the split"), Compare("accuracy", "the accuracy over the split"))
_COUNTS = (Compare("counts", "the counts (rows: true classes, columns: predictions)", exact=True),
           Compare("integer", "whether the counts are integers", exact=True))


def _statistics_compare(indices) -> tuple[Compare, ...]:
    out = [Compare("layers", "the layer indices reported (the activation layers)", exact=True)]
    for i in indices:
        out += [Compare(f"{i}.{name}", f"layer {i}'s {name!r}", rtol=1e-6) for name in ACTIVATION_STATISTICS]
    return tuple(out)


def build_checks(mnist_subset: dict | None) -> list[Check]:
    """Every hidden check, in the order the feedback lists them.

    The end-to-end check needs the MNIST subset (:func:`.end_to_end.load_subset`);
    None leaves it out.
    """
    checks = [
        Check("linear.forward", "Linear.forward of a batch (y = x W + b)", "layer",
              linear_request(6, 4, 7, backward=False), _Y),
        Check("linear.forward_float32", "Linear.forward in float32 (keep the dtype)", "layer",
              linear_request(5, 3, 4, dtype="float32", backward=False), (Compare("y", "the output", rtol=1e-4, atol=1e-5),)),
        Check("linear.backward", "Linear.backward of a batch: W.grad, b.grad, dE/dx", "layer",
              linear_request(5, 3, 9), _LIN_BACK),
        Check("linear.backward_first_layer", "Linear.backward with compute_input_grad=False (returns None, fills W.grad)",
              "layer", linear_request(4, 2, 3, input_grad=False),
              (Compare("dx_is_none", "whether it returned None", exact=True), Compare("W_grad", "W.grad"))),
        Check("sigmoid.forward", "Sigmoid.forward", "layer", activation_request("Sigmoid", (4, 5), backward=False), _Y),
        Check("sigmoid.backward", "Sigmoid.backward (dE/dy * y (1 - y))", "layer",
              activation_request("Sigmoid", (3, 6), backward=True), _DX),
        Check("sigmoid.large_inputs", "Sigmoid forward and backward on inputs up to +-1000 (right values, and no "
              "overflow: the grader sees one even with numpy's warnings switched off)", "layer",
              activation_request("Sigmoid", (4, 8), backward=True, large=True), _Y + _DX, no_overflow=True),
        Check("relu.forward", "ReLU.forward", "layer", activation_request("ReLU", (4, 5), backward=False, gap=0.1), _Y),
        Check("relu.backward", "ReLU.backward (the gradient passes where x > 0 only)", "layer",
              activation_request("ReLU", (3, 6), backward=True, gap=0.1), _DX),
        Check("gelu.forward", "GELU.forward (tanh approximation)", "layer",
              activation_request("GELU", (4, 5), backward=False), _Y),
        Check("gelu.backward", "GELU.backward", "layer", activation_request("GELU", (3, 6), backward=True), _DX),
        Check("l2.forward", "L2Loss.forward (1/(2N) sum ||x - t||^2)", "loss",
              loss_request("L2Loss", 5, 4, backward=False), _VALUE),
        Check("l2.backward", "L2Loss.backward ((x - t) / N)", "loss", loss_request("L2Loss", 6, 3, backward=True),
              _VALUE + _DX),
        Check("softmax.values", "softmax of a batch of scores (rows of probabilities)", "softmax",
              softmax_request(5, 4, scale=3.0), _Y),
        Check("softmax.large_scores", "softmax of scores of size up to ~1000 (finite, right values: no NaN)",
              "softmax", softmax_request(4, 6, scale=600.0), _Y),
        Check("cross_entropy.forward", "SoftmaxCrossEntropyLoss.forward (mean over the batch)", "loss",
              loss_request("SoftmaxCrossEntropyLoss", 5, 4, backward=False, scale=2.0), _VALUE),
        Check("cross_entropy.backward", "SoftmaxCrossEntropyLoss.backward ((softmax(x) - t) / N)", "loss",
              loss_request("SoftmaxCrossEntropyLoss", 6, 5, backward=True, scale=2.0), _VALUE + _DX),
        Check("cross_entropy.large_logits", "SoftmaxCrossEntropyLoss on logits of size up to ~1000 "
              "(subtract the max first: finite, right values, also where the label's probability underflows to 0)",
              "loss", loss_request("SoftmaxCrossEntropyLoss", 4, 5, backward=True, scale=600.0), _VALUE + _DX),
        Check("hinge.forward", "HingeLoss.forward with the default margin 5", "loss",
              loss_request("HingeLoss", 5, 4, backward=False, scale=3.0), _VALUE),
        Check("hinge.forward_other_margin", "HingeLoss(margin=2).forward (use self.margin)", "loss",
              loss_request("HingeLoss", 5, 4, backward=False, scale=3.0, margin=2.0), _VALUE),
        Check("hinge.backward", "HingeLoss(margin=1.5).backward", "loss",
              loss_request("HingeLoss", 6, 4, backward=True, scale=2.0, margin=1.5), _VALUE + _DX),
        Check("sgd.plain", "SGD.step without momentum, 1 step (p <- p - lr grad)", "sgd", sgd_request(1, lr=0.1), _SGD),
        Check("sgd.momentum", "SGD.step with momentum 0.9, 3 steps (v <- momentum v + grad; p <- p - lr v)", "sgd",
              sgd_request(3, lr=0.1, momentum=0.9), _SGD),
        Check("sgd.weight_decay", "SGD.step with weight_decay 0.5 and decay_biases=False, 2 steps", "sgd",
              sgd_request(2, lr=0.1, weight_decay=0.5, decay_biases=False), _SGD),
        Check("sgd.momentum_and_weight_decay", "SGD.step with momentum 0.8 and weight_decay 0.1, 4 steps", "sgd",
              sgd_request(4, lr=0.05, momentum=0.8, weight_decay=0.1), _SGD),
        Check("early_stopping.max", "EarlyStopping(mode='max').step on a scripted sequence of accuracies",
              "early_stopping", early_stopping_request("max"), _STOP),
        Check("early_stopping.min_delta", "EarlyStopping(mode='min', min_delta=0.05).step on a scripted sequence of losses",
              "early_stopping", early_stopping_request("min"), _STOP),
        Check("network_gradcheck.relu_cross_entropy", "whole-network gradient: Linear-ReLU-Linear-ReLU-Linear, cross-entropy",
              "network", network_request("ReLU", "SoftmaxCrossEntropyLoss", [5, 7, 6, 4]), _network_compare([5, 7, 6, 4])),
        Check("network_gradcheck.sigmoid_l2", "whole-network gradient: Linear-Sigmoid-Linear, L2 loss",
              "network", network_request("Sigmoid", "L2Loss", [4, 6, 3]), _network_compare([4, 6, 3])),
        Check("network_gradcheck.gelu_hinge", "whole-network gradient: Linear-GELU-Linear, hinge loss (margin 1)",
              "network", network_request("GELU", "HingeLoss", [5, 6, 4], margin=1.0), _network_compare([5, 6, 4])),
        Check("sequential.forward_backward", "Sequential of Linear-ReLU-Linear-ReLU-Linear: forward, then backward "
              "(the output, the returned dE/dx and every layer's gradients)", "sequential",
              sequential_request("ReLU", [5, 7, 6, 4], 8), _sequential_compare([5, 7, 6, 4])),
        Check("sequential.sigmoid", "Sequential of Linear-Sigmoid-Linear: forward, then backward", "sequential",
              sequential_request("Sigmoid", [4, 6, 3], 5), _sequential_compare([4, 6, 3])),
        Check("training.evaluate", "evaluate: loss and accuracy over 23 samples in batches of 10 "
              "(the last batch, of 3, counts by its size)", "evaluate",
              evaluate_request("ReLU", "SoftmaxCrossEntropyLoss", [5, 8, 4], 23, 10), _EVALUATE),
        Check("training.evaluate_l2", "evaluate with the L2 loss, one batch larger than the split", "evaluate",
              evaluate_request("Sigmoid", "L2Loss", [4, 6, 3], 17, 1000), _EVALUATE),
        Check("training.train_epoch", "train_epoch: one epoch of 47 samples in batches of 10, SGD with momentum 0.9 "
              "(the mean batch loss and accuracy, and the weights after the epoch)", "train_epoch",
              train_epoch_request("ReLU", "SoftmaxCrossEntropyLoss", [5, 8, 4], 47, 10, lr=0.1, momentum=0.9),
              _epoch_compare([5, 8, 4])),
        Check("training.train_epoch_hinge", "train_epoch with the hinge loss (margin 5), plain SGD, batches of 16",
              "train_epoch", train_epoch_request("GELU", "HingeLoss", [4, 6, 3], 40, 16, lr=0.05),
              _epoch_compare([4, 6, 3])),
        Check("dropout.training_forward", "Dropout(p=0.3).forward in training mode, twice, and a second layer with "
              "the same seed (every entry 0 or x / (1 - p), about a share p dropped, each entry on its own, a new mask "
              "per pass, drawn from self.rng)", "dropout", dropout_request(0.3), verdict=training_forward),
        Check("dropout.backward", "Dropout(p=0.6).backward in training mode (G / (1 - p) where forward kept the "
              "entry, 0 where it dropped it)", "dropout", dropout_request(0.6), verdict=backward_same_mask),
        Check("dropout.evaluation_mode", "Dropout(p=0.5) after eval(): forward and backward change nothing",
              "dropout", dropout_request(0.5, shape=(8, 12)),
              (Compare("y_eval", "the output in evaluation mode"),
               Compare("dx_eval", "the returned gradient in evaluation mode"))),
        Check("confusion_matrix.counts", "confusion_matrix of 60 samples of 5 classes (pairs repeat)",
              "confusion_matrix", confusion_matrix_request(60, 5), _COUNTS),
        Check("confusion_matrix.absent_classes", "confusion_matrix with num_classes=8 for labels of 4 classes",
              "confusion_matrix", confusion_matrix_request(30, 4, num_classes=8), _COUNTS),
        Check("activation_statistics.relu", "activation_statistics of Linear-ReLU-Linear-ReLU-Linear with dead units "
              "(threshold 0)", "activation_statistics",
              activation_statistics_request("ReLU", [6, 9, 7, 4], 12, threshold=0.0), _statistics_compare([1, 3])),
        Check("activation_statistics.sigmoid_saturated", "activation_statistics of Linear-Sigmoid-Linear with "
              "saturated units (threshold 1e-3)", "activation_statistics",
              activation_statistics_request("Sigmoid", [5, 8, 3], 10, threshold=1e-3), _statistics_compare([1])),
        Check("activation_statistics.gelu", "activation_statistics of Linear-GELU-Linear (threshold 0.01; GELU's "
              "slope is negative below about -0.75)", "activation_statistics",
              activation_statistics_request("GELU", [5, 8, 3], 10, threshold=0.01), _statistics_compare([1])),
    ]
    if mnist_subset is not None:
        checks.append(Check(
            "end_to_end.mlp1_mnist",
            f"end to end: MLP1 (ReLU, cross-entropy) trained {EPOCHS} epochs on a fixed MNIST subset "
            f"must reach {100 * THRESHOLD:.0f}% test accuracy",
            "train_mlp1", end_to_end_request(mnist_subset), verdict=end_to_end_verdict, secret_keys=("test_y",),
        ))
    return checks
