"""The ``notebook`` operation: one function a student wrote in a notebook, run on the judge's inputs.

The judge sends the function's source (the definitions of the notebook cell
that holds it and the imports they need, extracted with ``ast`` outside the
sandbox: :mod:`mlp_instructor.grading.notebook_code`) in ``params``:

* ``source``, ``filename`` (``notebooks/<name>.ipynb``, what a traceback
  names) and ``function``: executed in a fresh namespace, then called;
* ``args``: one spec per argument: ``{"array": key}`` (a copy of an input
  array), ``{"value": json}``, ``{"network": {"layers": [...]}}`` (a
  ``Sequential`` of the submission's ``mlp_core``, weights from the arrays,
  as :mod:`.operations` builds it), ``{"loss": spec}``, ``{"config": fields}``
  (a :class:`RunConfig`), ``{"token": name}`` (an object only identity can
  tell apart);
* ``provide``: names the namespace gets from here instead of the notebook's
  imports (``recorded_run``: :func:`_recorded_run`, a stand-in for the lab's
  training run, which the sandbox does not have).

The returned value comes back flattened (:func:`flatten`) into arrays: a dict
as its entries sorted by key (each key as the code points of its ``repr``), a
tuple or a ragged list item by item, numbers and numeric lists as arrays. The
judge runs the same operation on the instructor's source and compares.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from .operations import _as_array, _make_loss, _network_from_arrays

#: Limits of a flattened reply (the judge's channel limits the bytes).
MAX_ENTRIES, MAX_DEPTH, MAX_KEY = 120, 6, 200


@dataclass(frozen=True)
class RunConfig:
    """What a ``{"config": ...}`` argument is: a frozen stand-in for the lab's ``TrainConfig`` (``replace`` works)."""

    margin: float = 5.0
    seed: int = 0
    activation: str = "relu"
    output_activation: str | None = None
    max_epochs: int = 3


class Token:
    """An argument the function must pass on unchanged (``splits``, ``measure``): only its identity counts."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.name} is not meant to be called by the exercise itself: pass it on")

    def __repr__(self) -> str:
        return f"<{self.name}>"


def _recorded_run(tokens: dict, calls: list):
    """A stand-in for ``mlp_lab.analysis.recorded_run(config, splits, measure) -> (model, history, measurements)``.

    ``history`` tells the judge which config it trained and whether ``splits``
    and ``measure`` were passed on; ``measurements`` which call this was.
    """
    import numpy as np

    def recorded_run(config, splits, measure):
        if not isinstance(config, RunConfig):
            raise TypeError(f"recorded_run got a config of type {type(config).__name__}, not the kind of `base` "
                            "(make it with replace(base, margin=margin))")
        calls.append(config)
        history = np.array([config.margin, config.seed + 1.0, float(config.max_epochs),
                            float(splits is tokens.get("splits")), float(measure is tokens.get("measure"))])
        return object(), history, np.array([float(len(calls)), 2.0 * config.margin + 1.0])

    return recorded_run


def _argument(mlp, spec: dict, arrays: dict, tokens: dict):
    kind, value = next(iter(spec.items()))
    if kind == "array":
        return arrays[value].copy()
    if kind == "value":
        return value
    if kind in ("network", "loss") and mlp is None:
        raise RuntimeError("mlp_core did not import, and this exercise runs on a network of your mlp_core")
    if kind == "network":
        return _network_from_arrays(mlp, value, arrays)[0]
    if kind == "loss":
        return _make_loss(mlp, value)
    if kind == "config":
        return RunConfig(**value)
    if kind == "token":
        return tokens.setdefault(value, Token(value))
    raise ValueError(f"unknown argument kind {kind!r}")


def _key_text(key) -> str:
    """A dict key as text: numpy scalars as Python numbers, tuples element by element."""
    def plain(value):
        if isinstance(value, tuple):
            return tuple(plain(v) for v in value)
        return value.item() if hasattr(value, "item") and hasattr(value, "dtype") else value

    text = repr(plain(key))
    if len(text) > MAX_KEY:
        raise ValueError(f"a key of the returned dict is {len(text)} characters long")
    return text


def flatten(value, path: str, out: dict, depth: int = 0) -> dict:
    """``value`` as arrays in ``out`` under names starting with ``path`` (see the module's docstring)."""
    import numpy as np

    if depth > MAX_DEPTH or len(out) > MAX_ENTRIES:
        raise ValueError(f"the returned value is nested more than {MAX_DEPTH} deep or has over {MAX_ENTRIES} parts")
    if isinstance(value, dict):
        entries = sorted((_key_text(k), v) for k, v in value.items()) if len(value) <= MAX_ENTRIES else None
        if entries is None:
            raise ValueError(f"the returned dict has {len(value)} entries")
        out[f"{path}#entries"] = np.array(len(entries))
        for i, (text, item) in enumerate(entries):
            out[f"{path}[{i}]#key"] = np.array([ord(c) for c in text], dtype=np.int64)
            flatten(item, f"{path}[{i}]", out, depth + 1)
        return out
    if isinstance(value, (tuple, list)):
        numeric = all(isinstance(v, (int, float)) or (hasattr(v, "dtype") and getattr(v, "ndim", 1) == 0)
                      for v in value)
        if isinstance(value, list) or numeric:
            try:
                out[path] = np.asarray(value, dtype=np.float64)
                return out
            except (TypeError, ValueError):
                pass  # ragged, or not numbers: item by item
        if len(value) > MAX_ENTRIES:
            raise ValueError(f"the returned sequence has {len(value)} items")
        out[f"{path}#items"] = np.array(len(value))
        for i, item in enumerate(value):
            flatten(item, f"{path}.{i}", out, depth + 1)
        return out
    out[path] = _as_array(value, "the function")
    return out


def op_notebook(mlp, params: dict, arrays: dict) -> dict:
    """exec(source) in a fresh namespace, then ``function(*args)``: its returned value, flattened."""
    tokens: dict = {}
    namespace = {"__name__": "notebook_exercise", "__builtins__": builtins}
    calls: list = []
    provided = {"recorded_run": lambda: _recorded_run(tokens, calls)}
    for name in params.get("provide", []):
        namespace[name] = provided[name]()
    exec(compile(params["source"], params["filename"], "exec"), namespace)  # noqa: S102 - the sandbox's purpose
    function = namespace.get(params["function"])
    if not callable(function):
        raise NameError(f"{params['function']} is not defined by its cell's definitions")
    args = [_argument(mlp, spec, arrays, tokens) for spec in params.get("args", [])]
    return flatten(function(*args), "result", {})
