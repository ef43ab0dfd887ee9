"""mlp_core: a multilayer perceptron written by hand in numpy, for learning.

Data flows one way:

    data -> batches -> network (layers, activations) -> loss -> backward
         -> optimizer -> metrics -> history -> results -> figures and tables

Modules, one concept each: ``layers`` (Parameter, Module, Linear),
``activations``, ``losses``, ``network`` (Sequential, build_mlp), ``optim``
(SGD), ``training`` (train_epoch, evaluate, train, EarlyStopping, History), ``gradcheck``, ``data``.
"""

from .activations import ACTIVATIONS, GELU, Identity, ReLU, Sigmoid, Tanh, get_activation
from .layers import Linear, Module, Parameter
from .losses import LOSSES, HingeLoss, L2Loss, Loss, SoftmaxCrossEntropyLoss, get_loss, one_hot, softmax
from .network import ARCHITECTURES, Sequential, build_mlp
from .optim import SGD
from .training import EarlyStopping, History, TrainingDiverged, evaluate, train, train_epoch

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "ARCHITECTURES", "LOSSES", "GELU", "SGD", "EarlyStopping", "HingeLoss",
    "History", "Identity", "L2Loss", "Linear", "Loss", "Module", "Parameter", "ReLU",
    "Sequential", "Sigmoid", "SoftmaxCrossEntropyLoss", "Tanh",
    "TrainingDiverged", "build_mlp", "evaluate", "get_activation", "get_loss", "one_hot",
    "softmax", "train", "train_epoch",
]
