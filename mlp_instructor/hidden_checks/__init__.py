"""The hidden checks and their verdicts: trusted code, never shown to a submission.

A check is a name (``item.what``: the rubric gives points per item, see
``rubric.toml``), a description, an operation of the sandboxed worker
(:data:`mlp_instructor.worker.OPERATIONS`) and a builder of its inputs from a
seeded random generator. The judge sends the operation and the inputs to the
sandbox, gets the outputs back, runs the *same* operation on the instructor's
solution (this repository's ``mlp_core``) in its own process, and compares:
expected values, tolerances and this package never enter the sandbox.

The inputs are drawn per submission (the seed mixes the submission's content
hash), so the public tests' numbers, or another student's outputs, are of no
use. Every builder makes outputs that are clearly non-zero (gradients
included), and :func:`.verdicts.self_test` checks at start-up that the
reference passes every check, that a reply of zeros fails every check, and
that the reference's analytic gradients match numerical ones.

Failure messages say what is wrong (shape, NaN, wrong values and by how
much, an overflow, an exception and where) without quoting the
inputs or the expected values.

* :mod:`.requests`: the builders of each check's inputs;
* :mod:`.verdicts`: what a check is (:class:`~.verdicts.Check`), the
  reference's outputs, the verdicts and the self-test of the checks;
* :mod:`.properties`: verdicts by property, for a function with more than one
  right answer (Dropout's random mask), from the check's own inputs;
* :mod:`.end_to_end`: the one check on real data: MLP1 trained by the
  student's code on a fixed MNIST subset, at the reference's settings;
* :mod:`.catalogue`: every check of ``mlp_core``, in the order the feedback lists them;
* :mod:`.exercises`: the notebook exercises' checks (a function of a notebook cell,
  its source taken out of the notebook, the solution's from the instructor's).

Adding a check: a builder returning ``(params, arrays)`` for an existing
operation (:mod:`.requests`), a :class:`~.verdicts.Check` in
:func:`.catalogue.build_checks`, and a rubric item (or a pattern of an
existing one) covering its name. A new kind of computation needs an
operation in ``worker/operations.py`` too (as ``sequential``, ``evaluate`` and
``train_epoch`` have).
"""
