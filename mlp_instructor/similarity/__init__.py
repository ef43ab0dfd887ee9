"""Similarity of a class's code: ``python -m mlp_core similarity SUBMISSIONS_DIR --out DIR``.

Copied code is flagged as MOSS and Gradescope flag it: every pair of
submissions is compared by fingerprints of what the students wrote, with the
release's starter code left out, and the pairs above a threshold are shown
side by side with the shared code marked.

* :mod:`.extract`: the student-written code of a submission, read as the
  grader reads it (folders or zips, no link followed, size caps): each
  exercise function of ``mlp_core`` and of the notebooks, as the release
  names them;
* :mod:`.fingerprints`: tokens with names, comments and formatting
  normalised away, k-grams, winnowing;
* :mod:`.compare`: every pair, starter and common code left out, scored;
* :mod:`.page`: ``similarity.html`` and ``similarity.csv``;
* :mod:`.command`: the run and its command line.

Written here rather than on ``copydetect`` (MIT, last released 0.5.0 in
March 2024): its report loads Bootstrap from a CDN (this page must open
offline), it compares whole files (here: one function against the same
function), and its Pygments-based filter leaves Python's own tokenizer
unused; the winnowing itself is a few dozen lines.
"""


class SimilarityError(ValueError):
    """The class cannot be compared (no submissions, a bad option); the message says why."""
