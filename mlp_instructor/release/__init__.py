"""The student release: a copy of the kit with every answer taken out.

    python -m mlp_core release OUT_DIR [--force] [--kit-url URL]

This repository is the instructor's copy: the code a student writes lives in
``mlp_core`` between solution markers, and the written answers in notebook
cells tagged ``solution``. The release copies a whitelist of the kit to
OUT_DIR without them, checks its own output, and only then moves it into place.

* :mod:`.markers`: the solution regions: found, replaced by the engine's
  placeholder (``mlp_core.progress``), filled back in;
* :mod:`.build`: what is copied and how each file is changed (modules
  stripped, notebooks cleared and their solution cells turned into answer
  cells with :mod:`mlp_instructor.notebooks`, instructor parts of READMEs and
  pyproject.toml cut, instructor-only files left out, the kit's URL filled in);
* :mod:`.selfcheck`: the checks of the output (no answer left or leaked,
  every file parses, the answers fill back in, the package imports, every
  cited file is there);
* :mod:`.command`: :func:`~.command.release` (a staging folder, then the move)
  and its command line.
"""


class ReleaseError(ValueError):
    """The release cannot be made; the message says what is wrong and where."""
