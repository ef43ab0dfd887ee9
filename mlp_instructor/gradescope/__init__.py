"""Grading on Gradescope: the autograder zip, and what its ``run_autograder`` does.

    python -m mlp_core gradescope autograder.zip [--rubric R] [--data-dir MNIST] [--visibility V]

writes the zip Gradescope's programming assignments take (their
specification: ``docs/specs.md`` of github.com/gradescope/autograder_samples,
published at gradescope-autograders.readthedocs.io/en/latest/specs/):
``setup.sh`` and ``run_autograder`` at its root, the instructor's kit (with
the solution: keep the zip private), the rubric and MNIST.

* :mod:`.autograder`: builds the zip (:func:`~.autograder.build_autograder`)
  and is the ``gradescope`` command line;
* :mod:`.run`: what ``run_autograder`` runs for each submission, as root,
  in the container: the judge (:class:`~mlp_instructor.grading.judge.Grader`)
  grades ``/autograder/submission`` with the student's code in a sandbox
  (Bubblewrap where the container allows it, else a user of its own,
  :mod:`mlp_instructor.sandbox.uid`), after ``grade``'s preflight
  (:mod:`mlp_instructor.grading.preflight`) passed there; where none does,
  a ``results.json`` without a score says the autograder is broken;
* :mod:`.results_json`: the result as Gradescope's ``results.json``, one
  test per rubric item with the feedback page's reasons.
"""
