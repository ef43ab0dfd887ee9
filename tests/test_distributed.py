"""``reproduce --scheduler``: the grid on a Dask cluster gives the same run files as the local pool.

A ``LocalCluster`` of two worker processes with one thread each, started with
one BLAS thread as the pool's workers are, trains a tiny grid on the real
MNIST ($MNIST_DIR, see tests/_mnist.py); the run files must equal the local
pool's bit for bit in everything but when, where and how fast they ran
(``mlp_lab.records.TIMING_FIELDS``). Needs dask.distributed (the ``distributed`` extra):
skipped, saying so, without it, except under CI, where it is an error.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
import time

import pytest

from mlp_lab.cli import main
from mlp_lab.experiments import cluster, make_grid, run_grid, run_path
from mlp_lab.records import read_run, training_outcome
from mlp_lab.threads import blas_threads_in_environment
from tests._mnist import in_ci, require_mnist

try:
    from distributed import LocalCluster
except ImportError:
    if in_ci():
        raise RuntimeError("CI must run the Dask tests, but dask.distributed is not installed "
                           "(.ci/run installs the distributed extra)") from None
    pytest.skip("the Dask tests need dask.distributed: pip install -c constraints.txt -e '.[distributed]'",
                allow_module_level=True)

#: The run's configurations: four tiny runs of both depths (the grid's order puts MLP2 first).
ONLY = ["mlp1-l2", "mlp2-hinge-gelu"]
TINY = dict(train_subset=300, test_subset=200, max_epochs=2)
#: The CLI's spelling of the same grid.
TINY_ARGS = ["--grid", "report", "--only", ONLY[0], "--only", ONLY[1],
             "--train-subset", "300", "--test-subset", "200", "--epochs", "2", "--no-progress", "--no-report"]

def without_timing(path) -> dict:
    """The run JSON at ``path`` as :func:`~mlp_lab.records.training_outcome` gives it, ``versions`` kept.

    On one machine the two trainings ran on the same software, one BLAS thread each: that is compared too.
    """
    record = read_run(path)
    return {**training_outcome(record), "versions": record.versions}


def tiny_tasks():
    return make_grid("report", 1, only=ONLY, **TINY)


def quiet(line: str) -> None:
    """run_grid's log, not printed."""


#: run_grid's arguments as the CLI gives them (``--grid report --no-progress``), the log not printed.
AS_REPORT = dict(grid="report", progress=False, log=quiet)


@pytest.fixture(scope="module")
def mnist():
    return require_mnist()


@pytest.fixture(scope="module")
def scheduler():
    """The address of a cluster of two single-threaded worker processes, each with one BLAS thread."""
    with blas_threads_in_environment(1):  # inherited by the worker processes, before numpy loads there
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(scope="module")
def pool_runs(mnist, tmp_path_factory):
    """The tiny grid trained by the local pool of two workers: its results folder."""
    out = tmp_path_factory.mktemp("pool")
    outcome = run_grid(tiny_tasks(), out, workers=2, data_dir=mnist, **AS_REPORT)
    assert len(outcome.trained) == 4 and not outcome.failed
    return out


def test_the_cluster_writes_the_pools_run_files_bit_for_bit(mnist, scheduler, pool_runs, tmp_path, capsys):
    out = tmp_path / "dask"
    assert main(["reproduce", *TINY_ARGS, "--scheduler", scheduler, "--data-dir", str(mnist), "--out", str(out)]) == 0
    assert "trained 4 runs (0 diverged or failed)" in capsys.readouterr().out
    names = sorted(p.name for p in (out / "runs").glob("*.json"))
    assert names == sorted(p.name for p in (pool_runs / "runs").glob("*.json")) and len(names) == 4
    for name in names:
        ours, pools = without_timing(out / "runs" / name), without_timing(pool_runs / "runs" / name)
        assert ours["status"] == "ok" and ours["epochs_run"] == 2
        assert ours == pools, name  # floats compared exactly; versions too (one BLAS thread in both)
    invocation = json.loads((out / "grid.json").read_text())["invocations"][-1]
    assert invocation["scheduler"] == scheduler and invocation["status"] == "complete"
    assert invocation["workers"] == 2 and invocation["worker_threads"] == 2 and invocation["trained"] == 4


def test_an_interrupted_cluster_grid_keeps_its_finished_runs_and_resumes(mnist, scheduler, pool_runs, tmp_path):
    tasks = tiny_tasks()

    def interrupt(record):
        raise KeyboardInterrupt("stopped after the first run")

    with pytest.raises(KeyboardInterrupt):
        run_grid(tasks, tmp_path, scheduler=scheduler, data_dir=mnist, on_run_done=interrupt, **AS_REPORT)
    written = list((tmp_path / "runs").glob("*.json"))
    assert len(written) == 1
    first = written[0]
    before = (first.stat().st_mtime_ns, first.read_bytes())

    outcome = run_grid(tasks, tmp_path, scheduler=scheduler, data_dir=mnist, **AS_REPORT)
    assert outcome.skipped == [first.stem]
    assert sorted(outcome.trained) == sorted(t.run_id for t in tasks if t.run_id != first.stem)
    assert (first.stat().st_mtime_ns, first.read_bytes()) == before
    for task in tasks:
        assert without_timing(run_path(tmp_path, task)) == without_timing(run_path(pool_runs, task))
    statuses = [inv["status"] for inv in json.loads((tmp_path / "grid.json").read_text())["invocations"]]
    assert statuses == ["interrupted", "complete"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_an_unreachable_scheduler_is_a_one_line_error_and_touches_nothing(pool_runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cluster, "SCHEDULER_TIMEOUT", 2.0)
    task = tiny_tasks()[0]
    kept = run_path(tmp_path, task)
    kept.parent.mkdir()
    shutil.copy(run_path(pool_runs, task), kept)
    before = sorted((p.name, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    address = f"tcp://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    assert main(["reproduce", *TINY_ARGS, "--scheduler", address, "--out", str(tmp_path)]) == 1
    assert time.monotonic() - started < 10
    err = capsys.readouterr().err
    assert f"error: no Dask scheduler answered at '{address}' within 2 s" in err and err.count("\n") == 1
    assert sorted((p.name, p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()) == before


@pytest.mark.parametrize("address, why", [
    ("nonsense", "missing port number"),
    ("http://127.0.0.1:8786", "unknown address scheme 'http'"),
])
def test_a_malformed_scheduler_address_is_a_one_line_error_at_once(address, why, tmp_path, capsys):
    started = time.monotonic()
    assert main(["reproduce", *TINY_ARGS, "--scheduler", address, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"error: {address!r} is not the address of a Dask scheduler ({why}" in err and err.count("\n") == 1
    assert time.monotonic() - started < 5 and not (tmp_path / "out").exists()


def test_without_dask_distributed_the_error_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` raises ImportError
    with pytest.raises(cluster.ExtraNotInstalled, match=r'pip install -c constraints.txt -e "\.\[distributed\]"'):
        run_grid(tiny_tasks(), tmp_path, scheduler="tcp://127.0.0.1:8786", progress=False, log=quiet)
    assert main(["reproduce", *TINY_ARGS, "--scheduler", "tcp://127.0.0.1:8786", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "--scheduler needs dask.distributed, which is not installed" in err and err.count("\n") == 1
    assert not tmp_path.joinpath("grid.json").exists()


def test_scheduler_and_workers_exclude_each_other(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --scheduler: not allowed with argument --workers" in err and err.count("\n") == 1
    with pytest.raises(ValueError, match="give workers or a Dask scheduler, not both"):
        run_grid(tiny_tasks(), tmp_path, workers=2, scheduler="tcp://127.0.0.1:8786", progress=False)


class FakeClient:
    """What cluster_warnings asks of a distributed.Client: run a function on every worker."""

    def __init__(self, variables_by_worker: dict):
        self.variables_by_worker = variables_by_worker

    def run(self, function):
        assert function is cluster.worker_blas_threads
        return self.variables_by_worker


def test_the_cluster_warnings_name_workers_whose_blas_may_use_several_threads():
    one = {name: "1" for name in cluster.DASK_WORKER_BLAS_VARS}
    assert cluster.cluster_warnings(FakeClient({"tcp://a:1": one, "tcp://b:1": one})) == []
    many = {**one, "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": None}
    [line] = cluster.cluster_warnings(FakeClient({"tcp://a:1": one, "tcp://b:1": many}))
    assert line.startswith("Dask worker tcp://b:1 may use several BLAS threads (OMP_NUM_THREADS=4, "
                           "OPENBLAS_NUM_THREADS=None)") and "--nthreads 1" in line
    [line] = cluster.cluster_warnings(FakeClient({}))
    assert "has no workers yet" in line


def test_the_cluster_workers_run_with_one_blas_thread(scheduler):
    # What the bit-for-bit test relies on, read from the workers themselves (and no warning).
    from distributed import Client

    with Client(scheduler, set_as_default=False) as client:
        assert cluster.cluster_warnings(client) == []
        assert all(env["OPENBLAS_NUM_THREADS"] == "1" for env in client.run(cluster.worker_blas_threads).values())
