"""mlp_lab: the course lab built on the engine (``mlp_core``).

Students run it and read it; they do not write it. Data flows one way:

    reference (the report this kit reproduces: its table and settings)
        -> config (TrainConfig) -> experiments (grids, the parallel resumable runner)
        -> records (RunRecord: runs/*.json) -> report (tables, figures, conclusions)

``analysis`` holds the measurements behind notebooks 05-11, ``threads`` the
BLAS thread variables (it imports no numpy, so a script can set them before
numpy loads), and ``argtypes`` + ``cli`` the command line
(``python -m mlp_core ...``).
"""
