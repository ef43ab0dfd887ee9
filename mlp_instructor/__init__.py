"""mlp_instructor: the instructor's tools, never part of a student release.

``release`` writes the student kit from this repository (answers removed);
``grading`` grades a class's submissions against the hidden checks and the
rubric. ``commands`` plugs ``release`` and ``grade`` into ``python -m mlp_core``.
"""
