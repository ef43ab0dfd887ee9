"""The run record: what one trained run of a grid leaves behind, as a type and as JSON.

The experiment runner (:mod:`mlp_lab.experiments`) writes one record per run
to ``<results>/runs/<config-id>-seed<k>.json``; the report step
(:mod:`mlp_lab.report`) and the L2 loss study read them back. :class:`RunRecord`
is that file's layout, named once: its fields are the JSON's keys, in the
JSON's order, so ``RunRecord.from_json(text).to_json() == text`` for every
record written (``tests/test_records.py`` checks it on every committed run).

Two layouts, told apart by the ``schema`` key (:data:`RUN_SCHEMAS`): schema 1
is every run trained without a measure; schema 2 is the same plus
``measurements``, what a measure took at initialisation and after every epoch
(the runner's ``measure``). A run without measurements is still written as
schema 1, byte for byte as before, so the committed grids stay readable and
comparable; a reader that knows only schema 1 refuses a schema-2 file with a
message rather than misreading it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Iterable

from mlp_core.atomic import atomic_write_text
from mlp_core.training import History

from .config import TrainConfig
from .reference import ACTIVATION_ORDER, LOSS_ORDER

#: The run-JSON layouts this version reads and writes; a reader refuses any other.
RUN_SCHEMAS: dict[int, str] = {
    1: "config, seed, status, history, best and final metrics, timings, versions",
    2: "schema 1 and measurements (one per epoch, the first at initialisation)",
}
#: The layout of a record without measurements (every grid run of the report).
RUN_SCHEMA = 1
#: ok: trained to the end; diverged: the loss became NaN or infinite (the
#: epochs before are kept); failed: any other error (its traceback is kept).
RUN_STATUSES = ("ok", "diverged", "failed")


@dataclass
class RunRecord:
    """One run of a grid: its config and seed, what happened, its history and summary.

    Accuracies are fractions, as in the history. ``best`` and ``final`` hold
    every metric of the history at ``best_epoch`` (the one early stopping
    selected; None unless the run is ok) and at ``stop_epoch`` (the last
    epoch trained); ``seconds_per_epoch`` is the mean of the epochs'
    ``train_seconds`` and ``train_seconds`` their sum; ``wall_seconds`` the
    whole run with data loading and evaluation. ``versions`` records Python,
    numpy, mlp_core, the platform and the BLAS threads of the process.
    ``measurements``: None, or what a measure took at initialisation
    (``measurements[0]``) and after each epoch e (``measurements[e]``), also
    for the epochs before a run diverged or failed (schema 2).

    Fields can be read by name too (``record["status"]``), as in the JSON.
    """

    schema: int
    run_id: str
    config_id: str
    grid: str | None
    seed: int
    status: str
    error: str | None
    config: TrainConfig
    history: History | None
    best_epoch: int | None
    stop_epoch: int | None
    epochs_run: int
    stopped_early: bool
    best: dict[str, float] | None
    final: dict[str, float] | None
    seconds_per_epoch: float | None
    train_seconds: float
    wall_seconds: float | None
    started_at: str | None
    finished_at: str | None
    versions: dict[str, Any] | None
    host: str | None
    measurements: list | None = None

    @classmethod
    def from_history(
        cls,
        *,
        run_id: str,
        config_id: str,
        grid: str | None,
        config: TrainConfig,
        status: str,
        error: str | None,
        history: History | None,
        wall_seconds: float | None,
        started_at: str | None,
        finished_at: str | None,
        versions: dict[str, Any] | None,
        host: str | None,
        measurements: list | None = None,
    ) -> "RunRecord":
        """The record of a run that ended with ``status`` after the epochs in ``history``.

        ``history`` None: no epoch is known (the worker process died).
        Without early stopping a run has no monitored best: its best epoch is
        then its last one.
        """
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {status!r}")
        metrics = history.metrics if history is not None else {}
        epochs = len(metrics.get("epoch", []))
        best_epoch = (history.best_epoch or epochs or None) if status == "ok" and history is not None else None
        seconds = metrics.get("train_seconds", [])
        return cls(
            schema=RUN_SCHEMA if measurements is None else 2, run_id=run_id, config_id=config_id, grid=grid, seed=config.seed,
            status=status, error=error, config=config, history=history,
            best_epoch=best_epoch, stop_epoch=epochs or None, epochs_run=epochs,
            stopped_early=history.stopped_early if history is not None else False,
            best=_at_epoch(metrics, best_epoch), final=_at_epoch(metrics, epochs or None),
            seconds_per_epoch=sum(seconds) / len(seconds) if seconds else None,
            train_seconds=sum(seconds, 0.0), wall_seconds=wall_seconds,
            started_at=started_at, finished_at=finished_at, versions=versions, host=host,
            measurements=measurements,
        )

    # -- the parts of its configuration the report step's tables are grouped by --

    @property
    def depth(self) -> int:
        """Hidden layers: 1 for 'mlp1', 2 for 'mlp2', the number of sizes otherwise."""
        arch = self.config.architecture
        return int(arch[3:]) if isinstance(arch, str) and arch.startswith("mlp") else len(arch)

    @property
    def loss(self) -> str:
        return self.config.loss

    @property
    def activation(self) -> str:
        return self.config.activation

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def metric_curve(self, metric: str) -> list[float]:
        """``metric`` per epoch (empty if it was not recorded or no epoch finished)."""
        return self.history.metrics.get(metric, []) if self.history is not None else []

    def sort_key(self) -> tuple:
        """The reference's table order (depth, loss, activation), then the seed."""
        return (
            self.depth,
            LOSS_ORDER.index(self.loss) if self.loss in LOSS_ORDER else len(LOSS_ORDER),
            ACTIVATION_ORDER.index(self.activation) if self.activation in ACTIVATION_ORDER else len(ACTIVATION_ORDER),
            self.config_id,
            self.seed,
        )

    def __getitem__(self, name: str) -> Any:
        if name not in _FIELDS:
            raise KeyError(name)
        return getattr(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name) if name in _FIELDS else default

    # -- JSON --

    def to_dict(self) -> dict[str, Any]:
        """The JSON's dict: config and history as their own ``to_dict``; no ``measurements`` in schema 1."""
        d = asdict(self)
        d["config"] = self.config.to_dict()  # its own layout (a later field at its original value left out)
        if self.measurements is None:
            del d["measurements"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRecord":
        """Raise ValueError naming what is wrong if ``d`` is not a run record of one of :data:`RUN_SCHEMAS`."""
        if not isinstance(d, dict):
            raise ValueError(f"a run record is a JSON object, got {type(d).__name__}")
        schema = d.get("schema")
        keys = _FIELDS if schema == 2 else _FIELDS[:-1]  # schema 1: no measurements
        missing = [name for name in keys if name not in d]
        unknown = sorted(set(d) - set(keys))
        if missing or unknown:
            raise ValueError(
                f"not a run record: missing keys {missing}, unknown keys {unknown} "
                f"(a run record of schema {schema if schema in RUN_SCHEMAS else 1} has {', '.join(keys)})"
            )
        if schema not in RUN_SCHEMAS:
            raise ValueError(
                f"run record of schema {schema!r}; this version reads schemas "
                f"{', '.join(map(str, RUN_SCHEMAS))} only: train the grid again into another folder"
            )
        if schema == 2 and not isinstance(d["measurements"], list):
            raise ValueError(f"a run record of schema 2 holds a list of measurements, got {d['measurements']!r}")
        if d["status"] not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {', '.join(RUN_STATUSES)}, got {d['status']!r}")
        values = dict(d)
        values["config"] = TrainConfig.from_dict(d["config"])
        values["history"] = None if d["history"] is None else History.from_dict(d["history"])
        return cls(**values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> "RunRecord":
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> None:
        """Write as JSON atomically (a crash never leaves half a file)."""
        atomic_write_text(path, self.to_json())


_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunRecord))


def _at_epoch(metrics: dict[str, list], epoch: int | None) -> dict[str, float] | None:
    """Every metric at ``epoch`` (1-based), or None for no epoch."""
    if not metrics.get("epoch") or epoch is None:
        return None
    return {name: values[epoch - 1] for name, values in metrics.items()}


def read_run(path: str | Path) -> RunRecord | None:
    """The run record at ``path``, or None if it is missing or cut off (it will be trained again).

    A file that holds a record this version cannot read raises ValueError
    rather than being trained again over it: no finished run is ever lost.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("status") not in RUN_STATUSES:
        return None
    try:
        return RunRecord.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}; write this grid to another --out folder") from None


def load_results(results_dir: str | Path) -> list[RunRecord]:
    """Every run record in ``results_dir/runs/*.json``, in the reference's order, then by seed.

    Raises ValueError naming the file if one is not a run record, or if the
    folder holds no run JSON.
    """
    runs = Path(results_dir) / "runs"
    records = []
    for path in sorted(runs.glob("*.json")):
        if path.name.startswith("."):
            continue  # a temporary file of an atomic write in progress
        try:
            data = json.loads(path.read_text())
        except ValueError as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); delete it and run the grid again") from None
        if not isinstance(data, dict) or "config_id" not in data or "status" not in data:
            raise ValueError(f"{path} is not a run record (no config_id/status); it does not belong in {runs}")
        try:
            records.append(RunRecord.from_dict(data))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from None
    if not records:
        raise ValueError(
            f"no run JSON in {runs}; train a grid first: python -m mlp_core reproduce --out {results_dir}"
        )
    return sort_records(records)


def sort_records(records: Iterable[RunRecord]) -> list[RunRecord]:
    """In the reference's table order (depth, loss, activation), then by seed."""
    return sorted(records, key=RunRecord.sort_key)


#: What may differ between two trainings of the same run: when, where and how fast it ran, and
#: on what software (run-level keys), and the per-epoch timings (in the history, best and final).
TIMING_FIELDS: tuple[str, ...] = (
    "wall_seconds", "started_at", "finished_at", "host", "versions", "seconds_per_epoch", "train_seconds",
)
TIMING_METRICS: tuple[str, ...] = ("train_seconds", "eval_seconds")


def training_outcome(record: RunRecord) -> dict[str, Any]:
    """The record as a dict without :data:`TIMING_FIELDS` and :data:`TIMING_METRICS`.

    Training is deterministic given the config and seed, so two trainings of
    the same run on the same numpy and BLAS give equal outcomes, every float
    bit for bit.
    """
    outcome = record.to_dict()
    for key in TIMING_FIELDS:
        outcome.pop(key)
    for metrics in (outcome["best"], outcome["final"], (outcome["history"] or {}).get("metrics")):
        for key in TIMING_METRICS:
            (metrics or {}).pop(key, None)
    return outcome


def first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Where two JSON-like values first differ (``"history.metrics.test_loss[12]: 0.31 != 0.32"``), or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{where}{key}: only in {'the second' if key not in a else 'the first'}"
            found = first_difference(a[key], b[key], f"{where}{key}.")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where.rstrip('.')}: {len(a)} values != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{where.rstrip('.')}[{i}].")
            if found:
                return found
        return None
    same = type(a) is type(b) and (a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b)))
    return None if same else f"{where.rstrip('.')}: {a!r} != {b!r}"


def compare_results(first: str | Path, second: str | Path) -> tuple[list[str], dict[str, str], list[str]]:
    """Compare the runs two results folders have in common, outside timings.

    Returns (the run ids equal in :func:`training_outcome`, {run id: its first
    difference} for the others, the run ids in only one folder).
    """
    runs = [{r.run_id: r for r in load_results(folder)} for folder in (first, second)]
    equal, different = [], {}
    for run_id in sorted(set(runs[0]) & set(runs[1])):
        found = first_difference(training_outcome(runs[0][run_id]), training_outcome(runs[1][run_id]))
        if found:
            different[run_id] = found
        else:
            equal.append(run_id)
    return equal, different, sorted(set(runs[0]) ^ set(runs[1]))
