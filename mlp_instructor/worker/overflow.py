"""Overflow the submission cannot hide: numpy's error callback, kept on whatever its code asks of numpy.

A Sigmoid written as ``1 / (1 + np.exp(-x))`` returns the right values on
large inputs (``1 / (1 + inf)`` is 0) but overflows on the way; the
stability check fails it for the overflow itself. Numpy warns of it only if
the code lets it: ``np.errstate(over='ignore')`` or ``np.seterr(all='ignore')``
would silence a warning, so the worker listens through numpy's error callback
and, in the sandbox, keeps the submission from switching that off
(:func:`keep_overflow_reported`). Standard library only; numpy is passed in.
"""

from __future__ import annotations

#: The first warning message of an operation in which a floating-point overflow happened (reported by numpy's
#: error callback, not as a warning: see :func:`keep_overflow_reported`).
OVERFLOW = "FloatingPointError: overflow"
#: numpy's own errstate, kept by :func:`keep_overflow_reported` (None until the sandbox calls it).
_numpy_errstate = None


def reporting(np, overflowed: list):
    """The errstate an operation runs in: overflow appended to ``overflowed`` (numpy's callback), invalid
    values and division by zero as warnings, underflow ignored (exp(-1000) in a stable softmax is harmless)."""
    return (_numpy_errstate or np.errstate)(over="call", call=lambda kind, flag: overflowed.append(kind),
                                            invalid="warn", divide="warn", under="ignore")


def keep_overflow_reported(np) -> None:
    """Make numpy's ``errstate``, ``seterr`` and ``seterrcall`` leave overflow reported to the worker.

    Called in the sandbox before the submission is imported: its code may still
    switch off numpy's other warnings, and have an overflow raise
    FloatingPointError (``over='raise'``), but not hide one (a Sigmoid's
    exp(-x) on large inputs) with ``np.errstate(over='ignore')`` or
    ``np.seterr(all='ignore')``: the worker sees every overflow that does not raise.
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
