"""mlp_lab: the course lab built on the engine (``mlp_core``).

Students run it and read it; they do not write it. Data flows one way:

    reference (the report this kit reproduces: its table, its settings, the tolerance)
        -> config (TrainConfig, whose defaults are the reference's settings; losses: the lab's own)
        -> experiments (grids; the one runner of many runs, local, in memory or on Dask)
        -> records (RunRecord: runs/*.json) -> report (tables, figures, conclusions)

``analysis`` holds the measurements behind notebooks 05-11 (its sweeps are
the runner's), ``l2_loss_check`` the study of which L2 loss the reference
printed (a grid, a measure, and its verdicts written as Markdown),
``threads`` the BLAS thread variables (it imports no numpy, so a script can
set them before numpy loads), and ``argtypes`` + ``cli`` the command line
(``python -m mlp_core ...``).
"""
