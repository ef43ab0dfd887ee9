"""Argument checks shared by the engine's constructors (and the lab's config)."""

from __future__ import annotations

import numpy as np


def is_whole_number(value, minimum: int) -> bool:
    """True for an int (or numpy integer, not a bool) >= ``minimum``."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
