"""The grading worker: runs inside the sandbox, imports a submission's mlp_core and computes.

It knows operations, never checks: a request names an operation (``layer``,
``loss``, ``sgd``, ``early_stopping``, ``network``, ``sequential``, ``evaluate``,
``train_epoch``, ``train_mlp1``, ``dropout``, ``confusion_matrix``, ``activation_statistics``) and
carries its inputs; the reply carries the outputs. It holds no expected
value, no tolerance and no verdict, so nothing in it is secret: the trusted
judge (:mod:`mlp_instructor.hidden_checks`) makes every verdict outside the sandbox,
by running the same operations on the instructor's solution
(:data:`OPERATIONS` is shared) and comparing.

Run as ``python -I -S worker.py SUBMISSION_DIR NUMPY_SITE_DIR`` (``-S``: no
site-packages, so no ``.pth`` file or installed copy of the course can supply
``mlp_core``; numpy comes from NUMPY_SITE_DIR alone).

Protocol on stdin/stdout (the worker moves stdout to stderr first, so a
student's ``print`` cannot interleave with replies). Each message is

    MAGIC (4 bytes) | header length (4 bytes, big-endian) | header (JSON)
                    | arrays length (8 bytes, big-endian) | arrays (.npz, no pickles)

Requests use ``b"MLPQ"`` and ``{"id": n, "op": name, "params": {...}}``; replies use
``b"MLPA"`` and ``{"id": n, "ok": bool, "error": str, "where": str, "warnings": [...]}``
(the judge refuses a reply whose id is not its request's).
Before any of that the worker sends :data:`STARTED` (4 bytes, alone), just
before it imports the submission; the first reply, sent unasked, says
whether ``mlp_core`` imported.
"""

from __future__ import annotations

# numpy is imported inside the functions: in the sandbox it becomes importable only
# once main() has put its folder on sys.path (the worker runs with -S, without site-packages).

import importlib
import importlib.machinery
import io
import json
import os
import struct
import sys
import traceback
import warnings

REQUEST, REPLY = b"MLPQ", b"MLPA"
#: Sent alone, once the worker runs with numpy, just before it imports the submission: the judge tells a
#: sandbox that never started (the grading machine's failure) from a submission that ended its worker.
STARTED = b"MLPS"
MAX_HEADER = 1 << 20
#: What the sandbox root looks like from inside (the judge binds the copy here).
SUBMISSION_MOUNT = "/submission"
MAX_TEXT = 400


# ----------------------------------------------------------------------------
# Messages
# ----------------------------------------------------------------------------


def encode(magic: bytes, header: dict, arrays: dict) -> bytes:
    """One message: header JSON and arrays as an uncompressed .npz."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    head = json.dumps(header).encode()
    blob = buffer.getvalue()
    return magic + struct.pack(">I", len(head)) + head + struct.pack(">Q", len(blob)) + blob


def _read_exact(stream, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = stream.read(n - got)  # a raw pipe returns what one read() gives
        if not chunk:
            raise EOFError("the judge closed the channel")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(stream, magic: bytes) -> tuple[dict, dict]:
    """(header, arrays) of the next message on a blocking binary stream."""
    import numpy as np

    if _read_exact(stream, 4) != magic:
        raise ValueError("bad message start")
    (n,) = struct.unpack(">I", _read_exact(stream, 4))
    if n > MAX_HEADER:
        raise ValueError("header too long")
    header = json.loads(_read_exact(stream, n))
    (m,) = struct.unpack(">Q", _read_exact(stream, 8))
    with np.load(io.BytesIO(_read_exact(stream, m)), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return header, arrays


# ----------------------------------------------------------------------------
# Operations: what the student's code is asked to compute (shared with the judge)
# ----------------------------------------------------------------------------


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


OPERATIONS = {
    "layer": op_layer,
    "loss": op_loss,
    "softmax": op_softmax,
    "sgd": op_sgd,
    "early_stopping": op_early_stopping,
    "network": op_network,
    "sequential": op_sequential,
    "evaluate": op_evaluate,
    "train_epoch": op_train_epoch,
    "train_mlp1": op_train_mlp1,
    "dropout": op_dropout,
    "confusion_matrix": op_confusion_matrix,
    "activation_statistics": op_activation_statistics,
}


#: The first warning message of an operation in which a floating-point overflow happened (reported by numpy's
#: error callback, not as a warning: see :func:`keep_overflow_reported`).
OVERFLOW = "FloatingPointError: overflow"
#: numpy's own errstate, kept by :func:`keep_overflow_reported` (None until the sandbox calls it).
_numpy_errstate = None


def run_operation(mlp, op: str, params: dict, arrays: dict) -> tuple[dict, list[str]]:
    """(outputs, warning messages) of one operation: :data:`OVERFLOW` first if anything overflowed, then
    numpy's warnings (invalid values, division by zero)."""
    import numpy as np

    overflowed = []
    # Underflow to 0 is harmless (exp(-1000) in a stable softmax); overflow and NaN are not.
    report = (_numpy_errstate or np.errstate)(over="call", call=lambda kind, flag: overflowed.append(kind),
                                              invalid="warn", divide="warn", under="ignore")
    with warnings.catch_warnings(record=True) as caught, report:
        warnings.simplefilter("always")
        outputs = OPERATIONS[op](mlp, params, arrays)
    texts = [OVERFLOW] * bool(overflowed) + [f"{w.category.__name__}: {w.message}" for w in caught]
    return outputs, texts[:5]


def keep_overflow_reported(np) -> None:
    """Make numpy's ``errstate``, ``seterr`` and ``seterrcall`` leave overflow reported to the worker.

    Called in the sandbox before the submission is imported: its code may still
    switch off numpy's other warnings, and have an overflow raise
    FloatingPointError (``over='raise'``), but not hide one (a Sigmoid's
    exp(-x) on large inputs) with ``np.errstate(over='ignore')`` or
    ``np.seterr(all='ignore')``: :func:`run_operation` sees every overflow
    that does not raise.
    """
    global _numpy_errstate
    _numpy_errstate, seterr = np.errstate, np.seterr

    def without_overflow(kwargs: dict) -> dict:
        """The settings asked for, "all" spelled out, without "call" (the worker's callback) and with "over"
        only if "raise" (an overflow then stops the code that caused it: nothing is computed past it)."""
        every = kwargs.get("all")
        asked = {k: every for k in ("divide", "over", "under", "invalid")} if every is not None else {}
        asked |= {k: v for k, v in kwargs.items() if k in ("divide", "over", "under", "invalid") and v is not None}
        return {k: v for k, v in asked.items() if k != "over" or v == "raise"}

    class errstate(_numpy_errstate):
        def __init__(self, **kwargs):
            super().__init__(**without_overflow(kwargs))

    np.errstate = errstate
    np.seterr = lambda all=None, divide=None, over=None, under=None, invalid=None: seterr(
        **without_overflow({"all": all, "divide": divide, "over": over, "under": under, "invalid": invalid}))
    np.seterrcall = lambda func: np.geterrcall()


# ----------------------------------------------------------------------------
# Inside the sandbox
# ----------------------------------------------------------------------------


def _where(tb, root: str) -> str:
    """The deepest traceback line inside the submission, as 'mlp_core/x.py:12 in f'."""
    found = ""
    for frame in traceback.extract_tb(tb):
        if frame.filename.startswith(root + os.sep):
            found = f"{frame.filename[len(root) + 1:]}:{frame.lineno} in {frame.name}"
    return found


def _describe(exc: BaseException, root: str) -> str:
    text = f"{type(exc).__name__}: {exc}".replace(root + os.sep, "")
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


class _SubmissionOnlyFinder:
    """Finds ``mlp_core`` and its modules in the submission and nowhere else."""

    root = SUBMISSION_MOUNT

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname != "mlp_core" and not fullname.startswith("mlp_core."):
            return None
        search = [cls.root] if fullname == "mlp_core" else path
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        origin = os.path.realpath(spec.origin) if spec is not None and spec.origin else ""
        if not origin.startswith(cls.root + os.sep):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return spec


def main(argv: list[str]) -> int:
    root, numpy_site = argv[1], argv[2]
    replies = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # the student's prints go to stderr, never into a reply
    requests = os.fdopen(os.dup(0), "rb", buffering=0)
    os.close(0)
    sys.path[:0] = [root, numpy_site]
    _SubmissionOnlyFinder.root = root
    sys.meta_path.insert(0, _SubmissionOnlyFinder)
    import numpy  # fail here (not inside the student's import) if numpy is missing

    keep_overflow_reported(numpy)

    replies.write(STARTED)  # nothing of the submission has run before this
    try:
        mlp = importlib.import_module("mlp_core")
        hello = {"id": 0, "ok": True}
    except BaseException as exc:  # noqa: BLE001 - a submission may raise anything at import
        mlp, hello = None, {"id": 0, "ok": False, "error": _describe(exc, root),
                            "where": _where(exc.__traceback__, root)}
    replies.write(encode(REPLY, hello, {}))
    while mlp is not None:
        try:
            header, arrays = read_message(requests, REQUEST)
        except EOFError:
            return 0
        answer = {"id": header.get("id")}
        try:
            outputs, caught = run_operation(mlp, header["op"], header.get("params", {}), arrays)
            reply = encode(REPLY, answer | {"ok": True, "warnings": caught}, outputs)
        except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
            reply = encode(REPLY, answer | {"ok": False, "error": _describe(exc, root),
                                            "where": _where(exc.__traceback__, root)}, {})
        replies.write(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
