"""Initialisation scales from the variance of a Linear layer (derived in notebook 01, section 4).

For ``z = x W`` with W of shape (fan_in, fan_out), its entries independent,
mean 0 and variance s^2, and independent of the input x:

    forward:   Var(z_j)  = fan_in  s^2 E[x_i^2]     (a sum of fan_in terms)
    backward:  Var(g_i)  = fan_out s^2 E[G_j^2]     for g = G W^T, G = dE/dz

so the scale of the signal is kept going forward when fan_in s^2 = 1, and
going backward when fan_out s^2 = 1. Three rules follow, one definition each,
used by every notebook (01 derives them; 09 uses Glorot's on MLP2):

* LeCun (1998):           s = sqrt(1 / fan_in)              the forward condition;
* Glorot and Bengio (2010): s = sqrt(2 / (fan_in + fan_out))  the compromise between the two;
* He et al. (2015):       s = sqrt(2 / fan_in)              the forward condition for ReLU, which
  zeroes half of a symmetric input, so E[relu(z)^2] = Var(z) / 2 and the factor 2 makes up for it.

The course (and the reference) used s = 0.01 for every layer, below all three.
"""

from __future__ import annotations

import math

from .arguments import is_whole_number


def _fans(**fans: int) -> None:
    for name, value in fans.items():
        if not is_whole_number(value, 1):
            raise ValueError(f"{name} must be a whole number >= 1 (the size of a layer), got {value!r}")


def lecun_std(fan_in: int) -> float:
    """LeCun's standard deviation sqrt(1 / fan_in): keeps the forward variance (fan_in s^2 = 1)."""
    _fans(fan_in=fan_in)
    return math.sqrt(1.0 / fan_in)


def glorot_std(fan_in: int, fan_out: int) -> float:
    """Glorot and Bengio's standard deviation sqrt(2 / (fan_in + fan_out)).

    The compromise between keeping the forward variance (fan_in s^2 = 1) and
    the backward one (fan_out s^2 = 1): the harmonic mean of the two variances.
    """
    _fans(fan_in=fan_in, fan_out=fan_out)
    return math.sqrt(2.0 / (fan_in + fan_out))


def he_std(fan_in: int) -> float:
    """He's standard deviation sqrt(2 / fan_in): the forward condition for a layer that feeds a ReLU."""
    _fans(fan_in=fan_in)
    return math.sqrt(2.0 / fan_in)


#: The three rules by name, each a function of (fan_in, fan_out).
INIT_RULES = {
    "lecun": lambda fan_in, fan_out: lecun_std(fan_in),
    "glorot": glorot_std,
    "he": lambda fan_in, fan_out: he_std(fan_in),
}


def init_std(rule: str, fan_in: int, fan_out: int) -> float:
    """The standard deviation of rule ``rule`` ('lecun', 'glorot' or 'he') for a (fan_in, fan_out) layer."""
    if rule not in INIT_RULES:
        raise ValueError(f"unknown initialisation rule {rule!r}; choose one of: {', '.join(INIT_RULES)}")
    return INIT_RULES[rule](fan_in, fan_out)


__all__ = ["INIT_RULES", "glorot_std", "he_std", "init_std", "lecun_std"]
