"""The autograder: grade a class's submissions of the kit from the command line.

    python -m mlp_core grade SUBMISSIONS_DIR --out GRADEBOOK_DIR [--force] [--jobs N] [--no-sandbox]
                             [--roster ROSTER.csv [--missing zero] [--assignment NAME] [--lms-feedback]]

SUBMISSIONS_DIR holds one folder or ``.zip`` per student, each a filled-in
copy of the released kit (the student's id is the folder or zip name).

How one submission is graded: the judge outside, the code inside
-----------------------------------------------------------------------
1. The submission is read as data (:mod:`.submissions`): its
   ``mlp_core/**/*.py`` and ``notebooks/*.ipynb`` regular files are copied
   into a private folder; no symbolic link is followed, skipped entries are
   listed in the feedback, and a kit whose ``mlp_core`` is a link is refused.
2. A sandbox (:mod:`mlp_instructor.sandbox`: Bubblewrap, own PID, network,
   IPC and mount namespaces, unprivileged, limits on memory, processes, CPU,
   disk and wall time for the whole submission) runs the fixed worker
   (:mod:`mlp_instructor.worker`) on that copy. It only computes: for each
   hidden check (:mod:`mlp_instructor.hidden_checks`) the judge
   (:mod:`.judge`) sends an operation and its inputs, and gets the outputs back.
3. The judge runs the same operation on the instructor's solution and makes
   the verdict itself. Expected values, the checks, the rubric and the
   solution never enter the sandbox: whatever the submission does to its own
   interpreter, at worst its outputs are wrong and it loses those points.
   A check that times out, crashes or gets a malformed reply fails with the
   reason; a new sandbox is started for the checks left.
4. The rubric (:mod:`.rubric`, ``mlp_instructor/rubric.toml``) turns the
   checks passed into points per item.

Before any of that, :mod:`.preflight` grades the instructor's solution and
the empty release with the same grader: unless they get full marks and 0,
nothing is graded and nothing written; a sandbox that never started its
worker is the grading machine's error, at the preflight or mid-class (the
run stops; no zero is written).

Outputs in GRADEBOOK_DIR, written as each submission is graded (atomically):
``gradebook.csv`` (:mod:`.gradebook`: one row per student, one column per
rubric item, the total, a status and the feedback file),
``feedback/<name>.md`` and ``.html`` (:mod:`.pages`: every check, passed or
failed with the reason; ``<name>`` is a safe, unique form of the student id),
``answers/<notebook>-Q<k>.md`` and ``.html`` (the question, the model answer,
every student's answer) and ``.grading-state.json`` (:mod:`.results`: what
was graded, by content hash: a rerun, also after Ctrl-C, grades only new or
changed submissions; ``--force`` regrades all; a change of the rubric, the
checks, the grader or the limits regrades everything). With ``--roster``
(:mod:`.roster`), ``lms/`` holds the grades for Canvas's and Moodle's
gradebook imports (:mod:`.lms`). The written answers' points, which the
instructor fills into ``written_scores.csv`` (:mod:`.manual`), and the late
penalty (:mod:`.late`) are added to each result's total on every run,
without regrading. :mod:`.command` runs a class through all of
it, in parallel, and is the command line. Gradescope grades one submission
per container with the same judge: :mod:`mlp_instructor.gradescope`.
"""


class GradingError(ValueError):
    """The class cannot be graded (bad rubric, no data, no sandbox); the message says why."""
