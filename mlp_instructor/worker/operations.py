"""The operations the judge asks of a submission's ``mlp_core``: shared by the sandbox and the judge.

An operation is ``op(mlp, params, arrays) -> outputs``: it builds what
``params`` describe (a layer, a loss, a network, an optimizer) from the
module ``mlp`` (the submission's ``mlp_core`` in the sandbox, the
instructor's in the judge), runs it on ``arrays`` and returns arrays. It holds
no expected value, no tolerance and no verdict. The package's ``OPERATIONS``
names them all, the notebook exercises' (:mod:`.exercises`) included.
Standard library and numpy only.
"""

from __future__ import annotations

# numpy is imported inside the functions: in the sandbox it becomes importable only
# once the worker has put its folder on sys.path (the worker runs with -S, without site-packages).


def _as_array(value, what: str):
    """``value`` as a float64 array, or a TypeError naming what came back instead."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return np.array(value, dtype=np.float64)
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        return np.array(float(value))
    raise TypeError(f"{what} returned {type(value).__name__}, expected a numpy array or a number")


def _make_layer(mlp, spec: dict, arrays: dict, prefix: str):
    """A layer of the submission from a spec: Linear (weights from ``arrays``) or an activation."""
    import numpy as np

    kind = spec["kind"]
    if kind == "Linear":
        dtype = np.dtype(spec.get("dtype", "float64"))
        W, b = arrays[f"{prefix}W"], arrays[f"{prefix}b"]
        layer = mlp.Linear(W.shape[0], W.shape[1], rng=np.random.default_rng(0), dtype=dtype,
                           compute_input_grad=spec.get("compute_input_grad", True))
        layer.W.data = W.astype(dtype)
        layer.b.data = b.astype(dtype)
        layer.W.grad = np.zeros_like(layer.W.data)
        layer.b.grad = np.zeros_like(layer.b.data)
        return layer
    if kind in ("Sigmoid", "ReLU", "GELU", "Tanh", "Identity"):
        return getattr(mlp, kind)()
    raise ValueError(f"unknown layer kind {kind!r}")


def _make_loss(mlp, spec: dict):
    kind = spec["kind"]
    if kind == "HingeLoss" and "margin" in spec:
        return mlp.HingeLoss(margin=spec["margin"])
    if kind in ("L2Loss", "SoftmaxCrossEntropyLoss", "HingeLoss"):
        return getattr(mlp, kind)()
    raise ValueError(f"unknown loss {kind!r}")


def op_layer(mlp, params: dict, arrays: dict) -> dict:
    """forward(x) -> y; with ``G``: backward(G) -> dx, and W.grad, b.grad for a Linear."""
    import numpy as np

    spec = params["layer"]
    layer = _make_layer(mlp, spec, arrays, "")
    x = arrays["x"].astype(np.dtype(spec.get("dtype", "float64")))
    name = spec["kind"]
    out = {"y": _as_array(layer.forward(x.copy()), f"{name}.forward")}
    if "G" in arrays:
        dx = layer.backward(arrays["G"].astype(x.dtype))
        out["dx_is_none"] = np.array(dx is None)
        if dx is not None:
            out["dx"] = _as_array(dx, f"{name}.backward")
        if spec["kind"] == "Linear":
            out["W_grad"] = _as_array(layer.W.grad, f"{name}.backward: W.grad")
            out["b_grad"] = _as_array(layer.b.grad, f"{name}.backward: b.grad")
    return out


def op_loss(mlp, params: dict, arrays: dict) -> dict:
    """loss.forward(x, labels) -> value; with ``backward``: loss.backward() -> dx."""
    loss = _make_loss(mlp, params["loss"])
    name = params["loss"]["kind"]
    out = {"value": _as_array(loss.forward(arrays["x"].copy(), arrays["labels"]), f"{name}.forward")}
    if params.get("backward"):
        out["dx"] = _as_array(loss.backward(), f"{name}.backward")
    return out


def op_softmax(mlp, params: dict, arrays: dict) -> dict:
    """softmax(x) -> y."""
    return {"y": _as_array(mlp.softmax(arrays["x"].copy()), "softmax")}


def op_sgd(mlp, params: dict, arrays: dict) -> dict:
    """``steps`` SGD steps on parameters ``p<i>`` with fixed gradients ``g<i>`` -> final ``p<i>``."""
    count = params["count"]
    ps = [mlp.Parameter(arrays[f"p{i}"].copy()) for i in range(count)]
    optimizer = mlp.SGD(ps, **params["options"])
    for _ in range(params["steps"]):
        for i, p in enumerate(ps):
            p.grad[...] = arrays[f"g{i}"]
        optimizer.step()
    return {f"p{i}": _as_array(p.data, "SGD.step (the parameter)") for i, p in enumerate(ps)}


def op_early_stopping(mlp, params: dict, arrays: dict) -> dict:
    """EarlyStopping(**options).step(v) for each value -> decisions, then best and best_epoch."""
    import numpy as np

    stopper = mlp.EarlyStopping(**params["options"])
    decisions = [bool(stopper.step(float(v))) for v in arrays["values"]]
    best = stopper.best
    return {"decisions": np.array(decisions), "best": _as_array(np.nan if best is None else best, "EarlyStopping.best"),
            "best_epoch": _as_array(stopper.best_epoch, "EarlyStopping.best_epoch")}


def op_network(mlp, params: dict, arrays: dict) -> dict:
    """Sequential(layers) -> loss -> backward: the loss value and every parameter's gradient."""
    layers = [_make_layer(mlp, spec, arrays, f"{i}.") for i, spec in enumerate(params["layers"])]
    model = mlp.Sequential(*layers)
    loss = _make_loss(mlp, params["loss"])
    value = loss.forward(model.forward(arrays["x"].copy()), arrays["labels"])
    model.backward(loss.backward())
    out = {"value": _as_array(value, "the loss of the network")}
    for i, layer in enumerate(layers):
        if params["layers"][i]["kind"] == "Linear":
            out[f"{i}.W_grad"] = _as_array(layer.W.grad, f"layer {i} W.grad")
            out[f"{i}.b_grad"] = _as_array(layer.b.grad, f"layer {i} b.grad")
    return out


def _network_from_arrays(mlp, params: dict, arrays: dict):
    """The submission's Sequential of ``params["layers"]``, its weights from ``arrays`` ("<index>.W")."""
    layers = [_make_layer(mlp, spec, arrays, f"{i}.") for i, spec in enumerate(params["layers"])]
    return mlp.Sequential(*layers), layers


def op_sequential(mlp, params: dict, arrays: dict) -> dict:
    """Sequential.forward(x) -> y; Sequential.backward(G) -> dx, and every Linear's W.grad and b.grad."""
    model, layers = _network_from_arrays(mlp, params, arrays)
    out = {"y": _as_array(model.forward(arrays["x"].copy()), "Sequential.forward")}
    dx = model.backward(arrays["G"].copy())
    out["dx"] = _as_array(dx, "Sequential.backward")
    for i, layer in enumerate(layers):
        if params["layers"][i]["kind"] == "Linear":
            out[f"{i}.W_grad"] = _as_array(layer.W.grad, f"layer {i} W.grad")
            out[f"{i}.b_grad"] = _as_array(layer.b.grad, f"layer {i} b.grad")
    return out


def op_evaluate(mlp, params: dict, arrays: dict) -> dict:
    """evaluate(model, loss, images, labels, batch_size) -> loss and accuracy."""
    model, _ = _network_from_arrays(mlp, params, arrays)
    result = mlp.evaluate(model, _make_loss(mlp, params["loss"]), arrays["x"].copy(), arrays["labels"],
                          params["batch_size"])
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"evaluate returned {type(result).__name__}, expected a tuple (loss, accuracy)")
    return {"loss": _as_array(result[0], "evaluate (the loss)"), "accuracy": _as_array(result[1], "evaluate (the accuracy)")}


def op_train_epoch(mlp, params: dict, arrays: dict) -> dict:
    """train_epoch(model, loss, SGD, images, labels, batch_size, rng) -> train_loss, train_acc, the weights after it."""
    import numpy as np

    model, layers = _network_from_arrays(mlp, params, arrays)
    optimizer = mlp.SGD(model.parameters(), **params["sgd"])
    result = mlp.train_epoch(model, _make_loss(mlp, params["loss"]), optimizer, arrays["x"].copy(), arrays["labels"],
                             params["batch_size"], np.random.default_rng(params["order_seed"]))
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"train_epoch returned {type(result).__name__}, expected a tuple (train_loss, train_acc)")
    out = {"train_loss": _as_array(result[0], "train_epoch (the loss)"),
           "train_acc": _as_array(result[1], "train_epoch (the accuracy)")}
    for i, layer in enumerate(layers):
        if params["layers"][i]["kind"] == "Linear":
            out[f"{i}.W"] = _as_array(layer.W.data, f"layer {i} W after the epoch")
            out[f"{i}.b"] = _as_array(layer.b.data, f"layer {i} b after the epoch")
    return out


def op_train_mlp1(mlp, params: dict, arrays: dict) -> dict:
    """Train MLP1 (784-hidden-10, ReLU, cross-entropy, SGD) on (train_x, train_y); predict test_x.

    The loop over epochs is the grader's; each epoch is the submission's
    ``train_epoch``, with its own layers, loss and optimizer. The test labels
    are not sent: the judge scores the predictions.
    """
    import numpy as np

    train_x, train_y, test_x = arrays["train_x"], arrays["train_y"], arrays["test_x"]
    rng = np.random.default_rng(params["init_seed"])
    hidden = params["hidden"]
    model = mlp.Sequential(mlp.Linear(train_x.shape[1], hidden, init_std=params["init_std"], rng=rng), mlp.ReLU(),
                           mlp.Linear(hidden, params["classes"], init_std=params["init_std"], rng=rng))
    loss_fn = mlp.SoftmaxCrossEntropyLoss()
    optimizer = mlp.SGD(model.parameters(), lr=params["lr"], momentum=params["momentum"])
    order = np.random.default_rng(params["order_seed"])
    for epoch in range(1, params["epochs"] + 1):
        mlp.train_epoch(model, loss_fn, optimizer, train_x, train_y, params["batch_size"], order, epoch=epoch)
    scores = _as_array(model.forward(test_x), "Sequential.forward")
    if scores.shape != (len(test_x), params["classes"]):
        raise ValueError(f"the network's output has shape {scores.shape}, expected ({len(test_x)}, {params['classes']})")
    return {"predictions": np.argmax(scores, axis=1)}


def op_dropout(mlp, params: dict, arrays: dict) -> dict:
    """Dropout(p, rng=seed) in training mode: forward(x), backward(G), forward(x) again, a twin layer's (same
    seed) forward(x); then in evaluation mode: forward(x), backward(G)."""
    import numpy as np

    x, G = arrays["x"], arrays["G"]
    layer, twin = (mlp.Dropout(params["p"], rng=np.random.default_rng(params["seed"])) for _ in range(2))
    out = {"y": _as_array(layer.forward(x.copy()), "Dropout.forward"),
           "dx": _as_array(layer.backward(G.copy()), "Dropout.backward")}
    out["y_again"] = _as_array(layer.forward(x.copy()), "Dropout.forward (a second pass)")
    out["y_twin"] = _as_array(twin.forward(x.copy()), "Dropout.forward (a layer with the same seed)")
    layer.eval()
    out["y_eval"] = _as_array(layer.forward(x.copy()), "Dropout.forward in evaluation mode")
    out["dx_eval"] = _as_array(layer.backward(G.copy()), "Dropout.backward in evaluation mode")
    return out


def op_confusion_matrix(mlp, params: dict, arrays: dict) -> dict:
    """confusion_matrix(labels, predictions, num_classes) -> the counts, and whether they are integers."""
    import numpy as np

    counts = mlp.confusion_matrix(arrays["labels"].copy(), arrays["predictions"].copy(), params["num_classes"])
    integer = isinstance(counts, np.ndarray) and np.issubdtype(counts.dtype, np.integer)
    return {"counts": _as_array(counts, "confusion_matrix"), "integer": np.array(integer)}


def op_activation_statistics(mlp, params: dict, arrays: dict) -> dict:
    """activation_statistics(network, x, threshold) -> the layer indices, and "<index>.<statistic>" of each."""
    import numpy as np

    model, _ = _network_from_arrays(mlp, params, arrays)
    stats = mlp.activation_statistics(model, arrays["x"].copy(), threshold=params["threshold"])
    if not isinstance(stats, dict):
        raise TypeError(f"activation_statistics returned {type(stats).__name__}, expected a dict by layer index")
    out = {"layers": np.array(sorted(stats), dtype=np.int64)}
    for index, values in stats.items():
        for name in params["statistics"]:
            out[f"{index}.{name}"] = _as_array(values[name], f"activation_statistics: layer {index}'s {name!r}")
    return out
