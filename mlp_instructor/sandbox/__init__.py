"""The sandbox a submission's code runs in: what it can see, how much it may use, how it ends.

The judge never runs a student's code in its own process. Each submission
gets a worker (the folder ``mlp_instructor/worker/``) in a Bubblewrap sandbox:

* :mod:`.bwrap`: the ``bwrap`` command: namespaces, the read-only binds
  (``/usr``, the Python installation, numpy alone, the worker, the
  submission's copy), a small writable ``/tmp`` and ``/dev/shm`` (the rest
  read-only), an unprivileged user of its own, the process limit set inside;
  and the plain command of ``--no-sandbox``;
* :mod:`.seccomp`: the filter it runs under (no namespaces, mounts, ptrace,
  keyrings or sessions);
* :mod:`.limits`: memory, processes, CPU time (and a fair share of the CPU)
  and disk for the whole submission: a cgroup where the judge may write one,
  a watchdog and rlimits otherwise; what a run enforces, in one line;
* :mod:`.process`: the running worker: its launch (cgroup and rlimits
  first, then ``bwrap``), the request/reply channel with its limits in CPU
  time and size, its watchdog, and killing it with everything it started;
* :mod:`.uid`: blocks of sandbox uids per run (under a lock), and the
  sandbox without namespaces that Gradescope's containers may need.

Whatever the code inside does to its own interpreter, at worst its outputs
are wrong: the checks, the rubric, the solution and the gradebook are never
visible to it, and no process outlives its sandbox.
"""
