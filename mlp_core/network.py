"""Networks: the Sequential container and the builder for the reference's MLPs."""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .activations import ACTIVATIONS, get_activation
from .dropout import Dropout, check_dropout_probability
from .layers import DEFAULT_DTYPE, Linear, Module, Parameter, check_linear_arguments

#: Hidden-layer sizes of the two models of the reference (the report this kit reproduces).
ARCHITECTURES: dict[str, list[int]] = {
    "mlp1": [256],  # Linear 784->256, act, Linear 256->10
    "mlp2": [512, 256],  # Linear 784->512, act, Linear 512->256, act, Linear 256->10
}

#: What ``build_mlp`` takes as ``output_activation`` besides None: 'none' (the
#: logits go straight to the loss, as None), 'same' (the hidden activation) or
#: the name of any activation.
OUTPUT_ACTIVATIONS: tuple[str, ...] = ("none", "same", *ACTIVATIONS)


class Sequential(Module):
    """Layers applied in order, and backpropagation through them.

    With layers f_1, ..., f_L and h_0 = x, forward computes h_l = f_l(h_{l-1})
    for l = 1..L and returns h_L; backward receives G_L = dE/dh_L, returns
    G_0 = dE/dx and fills every layer's parameter gradients on the way.

    Derivation:
        the chain rule, one layer at a time: each layer's backward maps
        G_l = dE/dh_l to G_{l-1} = dE/dh_{l-1}, for l = L..1 (the layers in
        reverse order, each given what the one after it returned).

    Shapes: x (N, D_0), h_l (N, D_l), G_l the shape of h_l. Each layer keeps
    in its own cache what its backward needs, so ``backward`` must follow the
    ``forward`` of the same batch.
    """

    def __init__(self, *layers: Module):
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D_0) -> h_L: (N, D_L), each layer applied to the previous one's output."""
        # BEGIN SOLUTION
        for layer in self.layers:
            x = layer.forward(x)
        return x
        # END SOLUTION

    def backward(self, grad_output: np.ndarray) -> np.ndarray | None:
        """grad_output = dE/dh_L: (N, D_L) -> dE/dx: (N, D_0), or None.

        Fills the parameter gradients of every layer. The result is what the
        first layer's backward returns: None when it skips the input gradient
        (``compute_input_grad=False``).
        """
        # BEGIN SOLUTION
        grad = grad_output
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return grad
        # END SOLUTION

    def train(self, mode: bool = True) -> "Sequential":
        """Training mode (``mode=True``) or evaluation mode (False) for the network and every layer in it."""
        self.training = bool(mode)
        for layer in self.layers:
            layer.train(mode)
        return self

    def named_parameters(self) -> dict[str, Parameter]:
        """Parameters named ``"<layer index>.<name>"``, e.g. ``"0.W"``, ``"2.b"``."""
        return {
            f"{i}.{name}": p
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters().items()
        }

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameter values, by name."""
        return {name: p.data.copy() for name, p in self.named_parameters().items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        params = self.named_parameters()
        if set(state) != set(params):
            raise ValueError(
                f"state names {sorted(state)} do not match the network's {sorted(params)}"
            )
        for name, value in state.items():
            if value.shape != params[name].shape:
                raise ValueError(
                    f"{name}: saved shape {value.shape} != network shape {params[name].shape}"
                )
            params[name].data = value.astype(params[name].data.dtype, copy=True)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __repr__(self) -> str:
        inner = ",\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"


def hidden_sizes_for(architecture: str | int | Sequence[int]) -> list[int]:
    """Hidden sizes from a name ('mlp1', 'mlp2'), a depth (1, 2) or a list of sizes."""
    if isinstance(architecture, str):
        key = architecture.lower()
        if key not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {architecture!r}; choose one of: "
                f"{', '.join(ARCHITECTURES)}, or give a list of hidden sizes"
            )
        return list(ARCHITECTURES[key])
    if isinstance(architecture, (int, np.integer)):
        if f"mlp{architecture}" not in ARCHITECTURES:
            raise ValueError(
                f"depth {architecture} has no architecture of the reference; choose 1 or 2, "
                f"or give a list of hidden sizes"
            )
        return list(ARCHITECTURES[f"mlp{architecture}"])
    sizes = [int(s) for s in architecture]
    if any(s <= 0 for s in sizes):
        raise ValueError(f"hidden sizes must be positive, got {sizes}")
    return sizes


def output_activation_for(output_activation: str | None, activation: str) -> str | None:
    """The activation after the output layer: None for none, else an activation name.

    ``output_activation``: None or one of :data:`OUTPUT_ACTIVATIONS`;
    ``activation``: the hidden activation ('same' means it).
    """
    if output_activation is None or output_activation == "none":
        return None
    if output_activation == "same":
        return activation
    if isinstance(output_activation, str) and output_activation.lower() in ACTIVATIONS:
        return output_activation
    raise ValueError(
        f"unknown output activation {output_activation!r}; choose none, same, "
        f"or one of: {', '.join(ACTIVATIONS)}"
    )


def check_mlp_arguments(
    architecture: str | int | Iterable[int],
    activation: str,
    output_activation: str | None = None,
    *,
    input_size: int = 784,
    num_classes: int = 10,
    init_std: float = 0.01,
    dropout: float = 0.0,
) -> list[int]:
    """Raise ValueError naming the bad argument of :func:`build_mlp`; else the layer sizes.

    The checks ``build_mlp`` and its layers make as they build, asked without
    allocating a weight (the lab's config does, before it loads any data):
    returns [input_size, *hidden sizes, num_classes].
    """
    sizes = [input_size, *hidden_sizes_for(architecture), num_classes]
    get_activation(activation)  # its error lists the valid names
    output_activation_for(output_activation, activation)
    check_dropout_probability(dropout)
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        check_linear_arguments(n_in, n_out, init_std)
    return sizes


def build_mlp(
    architecture: str | int | Iterable[int] = "mlp1",
    activation: str = "relu",
    *,
    input_size: int = 784,
    num_classes: int = 10,
    output_activation: str | None = None,
    init_std: float = 0.01,
    dropout: float = 0.0,
    seed: int | np.random.Generator | None = 0,
    dtype=DEFAULT_DTYPE,
) -> Sequential:
    """Build an MLP: [Linear, activation] per hidden layer, then Linear to the classes.

    Args:
        architecture: 'mlp1' (784-256-10), 'mlp2' (784-512-256-10), a depth
            (1 or 2), or a list of hidden sizes ([] gives softmax regression).
        activation: hidden activation, one of ``ACTIVATIONS``.
        output_activation: None (default: the logits go straight to the
            loss), or one of ``OUTPUT_ACTIVATIONS``: 'none', 'same' for the
            hidden activation, or any activation name. The reference's table
            draws an activation after the output layer.
        init_std: weights ~ N(0, init_std^2), biases 0.
        dropout: p > 0 puts a ``Dropout(p)`` after every hidden activation
            (none after the output layer); 0 (the default, the reference's)
            adds no layer.
        seed: seed or Generator for the weights, and then for the dropout
            masks; same seed, same network. The weights are drawn first, so
            they do not depend on ``dropout``.

    The first Linear does not compute the gradient of its input (the data).
    Each argument is checked once, by what it is given to: the names here,
    the sizes and ``init_std`` by each ``Linear``.
    """
    sizes = [input_size, *hidden_sizes_for(architecture), num_classes]
    get_activation(activation)  # its error lists the valid names, even for a network without hidden layers
    output_name = output_activation_for(output_activation, activation)
    check_dropout_probability(dropout)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    layers: list[Module] = []
    hidden: list[int] = []  # where each hidden activation ends
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(
            Linear(n_in, n_out, init_std=init_std, rng=rng, dtype=dtype, compute_input_grad=i > 0)
        )
        is_output = i == len(sizes) - 2
        if not is_output:
            layers.append(get_activation(activation))
            hidden.append(len(layers))
        elif output_name is not None:
            layers.append(get_activation(output_name))
    if dropout:  # after every weight is drawn: one generator, seeded from the same one, for every mask
        masks = np.random.default_rng(rng.integers(2**63))
        for end in reversed(hidden):
            layers.insert(end, Dropout(dropout, rng=masks))
    return Sequential(*layers)


__all__ = [
    "ARCHITECTURES", "ACTIVATIONS", "OUTPUT_ACTIVATIONS", "Sequential", "build_mlp",
    "check_mlp_arguments", "hidden_sizes_for", "output_activation_for",
]
