"""mlp_core: a multilayer perceptron written by hand in numpy, for learning.

Data flows one way:

    data -> batches -> network (layers, activations) -> loss -> backward
         -> optimizer -> metrics -> history -> results -> figures and tables

Modules, one concept each: ``layers`` (Parameter, Module, Linear),
``activations``, ``losses``, ``dropout``, ``network`` (Sequential, build_mlp), ``optim``
(SGD), ``training`` (train_epoch, evaluate, train, EarlyStopping, History), ``metrics``
(confusion_matrix), ``layer_stats`` (activation statistics, update ratios), ``gradcheck``, ``data``.
"""

from .activations import ACTIVATIONS, GELU, Identity, ReLU, Sigmoid, Tanh, get_activation
from .dropout import Dropout
from .layers import Linear, Module, Parameter
from .layer_stats import activation_statistics, update_ratios
from .losses import LOSSES, HingeLoss, L2Loss, Loss, SoftmaxCrossEntropyLoss, get_loss, one_hot, softmax
from .metrics import confusion_matrix
from .network import ARCHITECTURES, Sequential, build_mlp
from .optim import SGD
from .training import EarlyStopping, History, TrainingDiverged, evaluate, train, train_epoch

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "ARCHITECTURES", "LOSSES", "GELU", "SGD", "Dropout", "EarlyStopping", "HingeLoss",
    "History", "Identity", "L2Loss", "Linear", "Loss", "Module", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "SoftmaxCrossEntropyLoss", "Tanh",
    "TrainingDiverged", "activation_statistics", "build_mlp", "confusion_matrix", "evaluate", "get_activation",
    "get_loss", "one_hot", "softmax", "train", "train_epoch", "update_ratios",
]
