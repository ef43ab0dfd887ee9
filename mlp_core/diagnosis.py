"""What a wrong result looks like, in words: the diagnosis a FAIL carries.

Two kinds, used by the notebooks' checks (:mod:`mlp_core.checks`) and by the
student's ``pytest`` (``tests/conftest.py``):

* :func:`compare`, for a value that differs from the expected one: got and
  expected at the worst entry, where it is (its index and the inputs there),
  and the pattern when one fits: a constant factor (N, K, 1/2, -1, ...), a
  transpose, an exact offset (the bias, the margin), wrong only where a mask
  holds (x = 0, the true class), or a named variant (the exact GELU);
* :func:`explain_crash`, for an exception raised inside a function the
  student writes: which function, which layer of the network (``layer 2
  Linear(5, 3)``), the shapes of its arrays and the likely cause (an empty
  cache, layers visited in the wrong order, a returned None).

A diagnosis says what the numbers are, never how to write the code.
"""

from __future__ import annotations

import traceback
from fractions import Fraction
from pathlib import Path

import numpy as np

from . import progress

# --------------------------------------------------------------------------- #
# Values
# --------------------------------------------------------------------------- #


def number(value) -> str:
    """A number as a diagnosis prints it: 6 significant digits."""
    return f"{float(value):.6g}"


def _index(index: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]" if index else ""


def _at(arrays: dict, index: tuple, shape: tuple) -> str:
    """', where x = 0.5, label = 2': the named inputs at ``index`` (each broadcast to ``shape``)."""
    parts = []
    for name, value in (arrays or {}).items():
        try:
            parts.append(f"{name} = {number(np.broadcast_to(np.asarray(value), shape)[index])}")
        except (ValueError, TypeError, IndexError):
            continue
    return ", where " + ", ".join(parts) if parts else ""


def describe_factor(c: float, sizes: dict[str, int] | None = None, label: str = "the expected",
                    single: bool = False) -> str:
    """'every entry is 1/3 of the expected (1/K, K = 3)': a constant factor in words."""
    named = []
    for name, n in (sizes or {}).items():
        for value, text in ((n, f"{name}"), (1 / n, f"1/{name}"), (-n, f"-{name}"), (-1 / n, f"-1/{name}")):
            if np.isclose(c, value, rtol=1e-4, atol=0):
                named.append(f"{text}, {name} = {n}")
    if np.isclose(abs(c), 2, rtol=1e-6, atol=0):
        named.append("or a factor 1/2 missing")
    elif np.isclose(abs(c), 0.5, rtol=1e-6, atol=0):
        named.append("or a factor 1/2 too many")
    if np.isclose(c, -1, rtol=1e-6, atol=0):
        return f"{'it has' if single else 'every entry has'} the opposite sign of {label} (a factor -1)"
    fraction = Fraction(float(c)).limit_denominator(12)
    simple = 1 in (abs(fraction.numerator), fraction.denominator) and np.isclose(float(fraction), c, rtol=1e-6, atol=0)
    shown = str(fraction) if simple else number(c)
    how = f"{shown} times {label}" if abs(c) >= 1 else f"{shown} of {label}"
    return f"{'it' if single else 'every entry'} is {how}" + (f" ({'; '.join(named)})" if named else "")


def compare(
    actual,
    expected,
    *,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    inputs: dict | None = None,
    sizes: dict[str, int] | None = None,
    offsets: dict | None = None,
    masks: dict | None = None,
    variants: dict | None = None,
    label: str = "expected",
) -> str | None:
    """None when ``actual`` matches ``expected`` (numpy.allclose), else what is wrong, one fact per line.

    Args:
        inputs: arrays named as the student knows them (``{"x": x}``), each
            broadcastable to the expected shape: shown at the worst entry, and
            ``x = 0``, ``x < 0``, ``x > 0`` are tried as masks.
        sizes: the sizes a factor may be (``{"N": 2, "K": 3}``).
        offsets: exact differences worth naming (``{"the bias b": b}``).
        masks: boolean arrays worth naming, by a phrase that follows "wrong only"
            (``{"at the true class": onehot}``).
        variants: results of a known other formula (``{"the exact GELU": ...}``).
        label: what the expected value is called ("numerically" for a gradient check).
    """
    if actual is None:
        return "got None: the function returned nothing (is its result returned?)"
    try:
        a = np.asarray(actual, dtype=np.float64)
    except (TypeError, ValueError):
        return f"got {type(actual).__name__} {actual!r:.60}, expected numbers of shape {np.shape(expected)}"
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return _shape_mismatch(a, e, atol, rtol, label)
    if np.allclose(a, e, atol=atol, rtol=rtol):
        return None
    lines = []
    bad = ~np.isfinite(a) & np.isfinite(e)
    wrong = ~np.isclose(a, e, atol=atol, rtol=rtol)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        excess = np.where(np.isfinite(a), np.abs(a - e), np.inf) / np.maximum(atol + rtol * np.abs(e), 1e-300)
    excess = np.where(wrong, excess, -1.0)
    index = np.unravel_index(int(np.argmax(excess)), a.shape) if a.shape else ()
    where = f" at {_index(index)}" if a.ndim else ""
    lines.append(f"got {number(a[index])}, {label} {number(e[index])}{where}{_at(inputs, index, e.shape)}")
    if a.size > 1:
        lines.append(f"{int(wrong.sum())} of {a.size} entries differ")
    if bad.any():
        lines.append(f"{int(bad.sum())} entries are nan or inf: an overflow, or 0/0")
        return "\n".join(lines)
    pattern = _pattern(a, e, wrong, atol, rtol, inputs, sizes, offsets, masks, variants, _the(label))
    if pattern:
        lines.append(pattern)
    return "\n".join(lines)


def _the(label: str) -> str:
    return "the expected" if label == "expected" else f"the value found {label}"


def _shape_mismatch(a: np.ndarray, e: np.ndarray, atol: float, rtol: float, label: str) -> str:
    text = f"shape {a.shape}, {label} {e.shape}"
    if a.ndim == 2 and a.shape == e.shape[::-1]:
        text += ": the shape of the transpose"
        if np.allclose(a.T, e, atol=atol, rtol=rtol):
            text += f", and the values are exactly the transpose of {_the(label)}"
    elif a.size == e.size and np.allclose(a.reshape(e.shape), e, atol=atol, rtol=rtol):
        text += ": the right numbers in the wrong shape"
    elif e.ndim >= 1 and a.shape == e.shape[1:]:
        text += ": axis 0 (the batch) is missing"
    elif a.ndim >= 1 and e.shape == a.shape[1:]:
        text += ": one axis too many at the front"
    return text


def _pattern(a, e, wrong, atol, rtol, inputs, sizes, offsets, masks, variants, the) -> str:
    close = lambda x, y: np.allclose(x, y, atol=atol, rtol=max(rtol, 1e-6))  # noqa: E731
    for name, value in (variants or {}).items():
        if np.shape(value) == a.shape and close(a, value):
            return f"these are the values of {name}"
    scale = float(np.sum(e * e))
    if scale > 0:
        c = float(np.sum(a * e)) / scale
        if abs(c - 1) > 1e-6 and close(a, c * e):
            described = describe_factor(c, sizes, the, single=a.size == 1)
            if a.size > 1 or "(" in described or np.isclose(abs(c), 1) or _simple(c):
                return described
    if a.ndim == 2 and a.shape[0] == a.shape[1] and close(a, e.T):
        return f"the values are the transpose of {the}"
    for name, value in (offsets or {}).items():
        try:
            shifted = np.broadcast_to(np.asarray(value, dtype=np.float64), a.shape)
        except ValueError:
            continue
        if np.any(shifted) and close(a - e, shifted):
            return f"{_each(a)} {the} plus {name} ({_shown(value)})"
        if np.any(shifted) and close(e - a, shifted):
            return f"{_each(a)} {the} minus {name} ({_shown(value)})"
    named = dict(masks or {})
    for name, value in (inputs or {}).items():
        try:
            x = np.broadcast_to(np.asarray(value, dtype=np.float64), a.shape)
        except (ValueError, TypeError):
            continue
        named.update({f"where {name} = 0": x == 0, f"where {name} < 0": x < 0, f"where {name} > 0": x > 0})
    for name, mask in named.items():
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape)
        if mask.any() and np.array_equal(wrong, mask):
            return f"wrong exactly {name}, right everywhere else"
    for name, mask in named.items():
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), a.shape)
        if wrong.any() and not (wrong & ~mask).any() and mask.sum() < a.size:
            return f"wrong only {name} ({int(wrong.sum())} of those {int(mask.sum())} entries)"
    if a.size > 1 and close(a[wrong], -e[wrong]):
        return f"where it differs, it has the opposite sign of {the}"
    return ""


def _each(a: np.ndarray) -> str:
    return "it is" if a.size == 1 else "every entry is"


def _simple(c: float) -> bool:
    """A factor worth naming on a single number: 2, 1/2, 3, 1/3, ..."""
    for n in range(2, 11):
        if np.isclose(abs(c), n, rtol=1e-6) or np.isclose(abs(c), 1 / n, rtol=1e-6):
            return True
    return False


def _shown(value) -> str:
    value = np.asarray(value)
    if value.size == 1:
        return number(value.reshape(-1)[0])
    return "[" + ", ".join(number(v) for v in value.reshape(-1)[:4]) + (", ..." if value.size > 4 else "") + "]"


# --------------------------------------------------------------------------- #
# Crashes
# --------------------------------------------------------------------------- #


def _students_functions() -> dict[tuple[str, str], str]:
    """(resolved file, qualified name) -> name of every function the student writes."""
    return {(str(e.path.resolve()), e.function): e.function for e in progress.exercises()}


def _describe(value) -> str | None:
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return str(value.shape)
    if isinstance(value, (tuple, list)) and value and len(value) <= 4:
        inner = [_describe(v) for v in value]
        if all(i is not None for i in inner):
            return "(" + ", ".join(inner) + ")"
    return None


def _shapes(frame) -> list[str]:
    """'grad_output (4, 3)', 'self.cache (4, 6)', 'W (6, 5)': the arrays a crashed function held."""
    code, local = frame.f_code, frame.f_locals
    names = list(code.co_varnames[: code.co_argcount]) + [n for n in local if n not in code.co_varnames[: code.co_argcount]]
    shown = [f"{n} {_describe(local[n])}" for n in names if n != "self" and n in local and _describe(local[n])]
    owner = local.get("self")
    if owner is not None and hasattr(owner, "cache"):
        shown.append(f"self.cache {_describe(owner.cache) or type(owner.cache).__name__}")
    if owner is not None and hasattr(owner, "named_parameters") and not hasattr(owner, "layers"):
        shown += [f"{n} {p.data.shape}" for n, p in owner.named_parameters().items()]
    return shown


def _output_shape(layer) -> tuple | None:
    """The shape the layer's last forward returned, from what it cached (None if unknown)."""
    cache = layer.cache[0] if isinstance(layer.cache, tuple) and layer.cache else layer.cache
    if not isinstance(cache, np.ndarray):
        return None
    if hasattr(layer, "out_features") and cache.ndim == 2:
        return (cache.shape[0], layer.out_features)
    return cache.shape


def _empty(cache) -> bool:
    return cache is None or (isinstance(cache, tuple) and any(c is None for c in cache))


def explain_crash(error: BaseException, *, function: str = "", model=None) -> tuple[str, str]:
    """(the function to blame, the diagnosis) of an exception raised while checking ``function``.

    The innermost frame of a function the student writes names the function
    and the layer; an enclosing ``Sequential`` (or ``model``) gives the
    layer's index. The likely cause is said only when the evidence shows it.
    """
    mine = _students_functions()
    frames = [f for f, _ in traceback.walk_tb(error.__traceback__)]
    students = [f for f in frames if (str(Path(f.f_code.co_filename).resolve()), f.f_code.co_qualname) in mine]
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    head = f"{type(error).__name__}: {message}" if message else type(error).__name__
    if not students:
        text = f"{function or 'the code'} raised {head}"
        if isinstance(error, (TypeError, AttributeError)) and "NoneType" in message:
            text += (f"\nlikely cause: a None where an array was expected: does {function or 'the function'} "
                     f"return its result?")
        return function or "your code", text
    frame = students[-1]
    name = frame.f_code.co_qualname
    owner = frame.f_locals.get("self")
    networks = [f.f_locals["self"] for f in students if hasattr(f.f_locals.get("self"), "layers")]
    network = networks[0] if networks else model
    where, index = "", None
    if owner is not None and network is not None and owner is not network:
        index = next((i for i, layer in enumerate(getattr(network, "layers", [])) if layer is owner), None)
        where = f" in layer {index} {owner!r}" if index is not None else f" in {owner!r}"
    elif owner is not None and not hasattr(owner, "layers"):
        where = f" in {owner!r}"
    lines = [f"crashed{where}: {head}"]
    shapes = _shapes(frame)
    if shapes:
        lines.append("shapes: " + ", ".join(shapes))
    blamed, cause = name, ""
    klass = type(owner).__name__ if owner is not None else ""
    layer = owner is not None and not hasattr(owner, "layers")
    if name.endswith(".backward") and layer and _empty(getattr(owner, "cache", 0)):
        blamed = f"{klass}.forward"
        cause = (f"an empty cache: {klass}.backward reads self.cache, which is None: {klass}.forward must keep "
                 f"in self.cache what backward needs (or backward ran before any forward)")
    elif name.endswith(".backward") and layer:
        args = frame.f_code.co_varnames[1: frame.f_code.co_argcount]
        given = frame.f_locals.get(args[0]) if args else None
        expected = _output_shape(owner)
        label = f"layer {index} {owner!r}" if index is not None else repr(owner)
        if args and given is None:
            cause = (f"{label} was given None as its gradient: a backward before it in the chain returned None "
                     f"(each backward must return the gradient of its input), or the gradient passed on is not "
                     f"what that backward returned")
            blamed = "Sequential.backward" if networks else name
        elif isinstance(given, np.ndarray) and expected is not None and given.shape != expected:
            cause = f"{label} was given a gradient of shape {given.shape}, but its output had shape {expected}"
            if networks:
                blamed = "Sequential.backward"
                cause += (": the layers are visited in the wrong order (the backward pass goes from the last "
                          "layer to the first, each layer given what the one after it returned)")
    elif name.endswith(".forward") and layer and index and networks:
        args = frame.f_code.co_varnames[1: frame.f_code.co_argcount]
        given = frame.f_locals.get(args[0]) if args else None
        outer = next(f for f in students if f.f_locals.get("self") is network)
        first = outer.f_code.co_varnames[1] if outer.f_code.co_argcount > 1 else None
        if given is not None and first and given is outer.f_locals.get(first):
            blamed = "Sequential.forward"
            cause = (f"layer {index} {owner!r} was given the network's input itself, not what layer {index - 1} "
                     f"{network.layers[index - 1]!r} returned (each layer's output is the next layer's input)")
    if not cause and isinstance(error, ValueError) and ("matmul" in message or "broadcast" in message):
        cause = "the shapes of the arrays do not fit together (compare them with the shapes in the docstring)"
    if not cause and isinstance(error, (TypeError, AttributeError)) and "NoneType" in message:
        nones = [n for n, v in frame.f_locals.items() if v is None and n != "self"]
        cause = ("a None where an array was expected" + (f": {', '.join(nones)} is None" if nones else "")
                 + " (a function that returns nothing returns None)")
    if cause:
        lines.append(f"likely cause: {cause}")
    if blamed != name:
        lines[0] = f"{name} {lines[0]}"
    return blamed, "\n".join(lines)
