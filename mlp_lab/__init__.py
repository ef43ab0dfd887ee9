"""mlp_lab: the course lab built on the engine (``mlp_core``).

Students run it and read it; they do not write it. Data flows one way:

    config (TrainConfig) -> experiments (grids, the parallel resumable runner)
        -> run records (runs/*.json) -> report (tables, figures, conclusions)

``analysis`` holds the measurements behind notebooks 07-09 and ``cli`` the
command line (``python -m mlp_core ...``).
"""
