"""Time one training epoch of mlp_core, against its own matrix products and against PyTorch.

    python benchmarks/epoch_time.py                      # all four configs, 1 and 2 threads, 3 timed epochs each
    python benchmarks/epoch_time.py --configs mlp2-gelu --repeats 5
    python benchmarks/epoch_time.py --threads 1          # single-threaded BLAS (numpy and torch) only
    python benchmarks/epoch_time.py --quick              # smoke run: a fraction of an epoch

One epoch is the real training loop, ``mlp_core.training.train`` with one
epoch and no test set: shuffle 60,000 samples of 784 float32 features, then
600 batches of 100: forward, softmax cross-entropy, per-batch loss and
accuracy recorded, backward, SGD step, at the reference's settings
(``mlp_lab.reference.SETTINGS``: batches, learning rate, momentum, the
weights' initial N(0, std^2); biases start at 0).

The data are real MNIST when ``MNIST_DIR`` is set (and ``--random`` is not
given), random values of the same shape and range otherwise; timing does not
depend on which (every operation is dense), and the output says which it was.

Each thread count runs in its own fresh process, started with the BLAS
thread limits set before numpy loads (``mlp_lab.threads``). In it, per
configuration:

* the matrix products of the epoch alone (``benchmarks/products.py``): the
  floor under any numpy epoch;
* mlp_core's epochs and, when PyTorch is installed, the same model trained
  the way a PyTorch user would write it (``nn.Sequential`` of ``nn.Linear``
  and ``nn.ReLU``/``nn.GELU(approximate='tanh')``, ``F.cross_entropy``,
  ``torch.optim.SGD``, per-batch ``loss.item()`` and accuracy) on the CPU
  with the same number of threads. The two alternate epoch by epoch, so a
  change in the machine's load hits both alike: on a shared machine the
  absolute times are noisy, the ratios of the same run are what count.

Each epoch time is the median of ``--repeats`` epochs after a warm-up of
``--warmup-batches`` batches (allocations, BLAS threads, caches).

Columns of the table (one row per configuration and thread count):

    config            architecture (mlp1: 784-256-10, mlp2: 784-512-256-10) and activation
    threads           BLAS threads (numpy) and intra-op threads (torch)
    mlp_core s/epoch  median seconds per training epoch of mlp_core
    GEMM s/epoch      the matrix products of that epoch alone (fastest of 10 runs)
    epoch/GEMM        mlp_core s/epoch over GEMM s/epoch: 1.0 would be all products, nothing else
    torch s/epoch     the same model's epoch in PyTorch ("not installed" without torch)
    mlp_core/torch    ratio of the two; <= 1 means mlp_core is at least as fast
    GELU/ReLU         mlp_core's GELU epoch over its ReLU epoch of the same architecture
    GFLOP/s           the epoch's matrix-multiply work over mlp_core s/epoch
    % peak            GFLOP/s against the measured peak (a large square float32 matmul, same threads)

GEMM FLOPs per epoch, for N samples and each Linear(in, out): 2 N in out for
the forward product x W, 2 N in out for dW = x^T G, and 2 N in out for
dx = G W^T, except in the first layer, whose input is the data: mlp_core (and
PyTorch, since the data do not require a gradient) skip that product.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)  # run from a checkout without installing the package

# Each thread count runs in its own fresh process, whose limits are set before numpy loads there
# (mlp_lab.threads); this process only parses, starts them and prints.
from benchmarks.products import BATCH_SIZE, INPUT_SIZE, NUM_CLASSES  # noqa: E402
from mlp_lab.argtypes import OneLineParser, positive_int  # noqa: E402
from mlp_lab.experiments.provenance import load_average, machine_info  # noqa: E402
from mlp_lab.reference import SETTINGS  # noqa: E402
from mlp_lab.threads import blas_threads_in_environment  # noqa: E402

CONFIGS = ("mlp1-relu", "mlp1-gelu", "mlp2-relu", "mlp2-gelu")
THREAD_COUNTS = (1, 2)
LR, MOMENTUM, INIT_STD = (SETTINGS[name] for name in ("lr", "momentum", "init_std"))
FULL_SAMPLES, QUICK_SAMPLES = 60_000, 2_000
PEAK_SIZE, QUICK_PEAK_SIZE = 2048, 512
HEADER = (
    "| config | threads | mlp_core s/epoch | GEMM s/epoch | epoch/GEMM | torch s/epoch | mlp_core/torch "
    "| GELU/ReLU | GFLOP/s | % peak |"
)


class UsageError(Exception):
    """A bad command-line value: reported as one line, exit status 2."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    def thread_counts(text: str) -> list[int]:
        return list(dict.fromkeys(positive_int(part.strip()) for part in text.split(",")))

    def config_list(text: str) -> list[str]:
        names = [name.strip().lower() for name in text.split(",") if name.strip()]
        unknown = [name for name in names if name not in CONFIGS]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown config {', '.join(unknown) or repr(text)}; choose from {', '.join(CONFIGS)} "
                "(comma-separated)"
            )
        return names

    parser = OneLineParser(
        prog="epoch_time.py",
        description="Seconds per training epoch of mlp_core (and PyTorch), and the fraction "
        "of the float32 GEMM peak they reach.",
    )
    parser.add_argument("--configs", type=config_list, default=list(CONFIGS),
                        help=f"comma-separated subset of {', '.join(CONFIGS)} (default: all)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="timed epochs per config and framework; the median is reported (default 3)")
    parser.add_argument("--warmup-batches", type=positive_int, default=100,
                        help="untimed batches before the timed epochs (default 100)")
    parser.add_argument("--threads", type=thread_counts, default=list(THREAD_COUNTS),
                        help="BLAS / torch thread counts, comma-separated, each measured in its own "
                        "process (default: 1,2)")
    parser.add_argument("--random", action="store_true",
                        help="use random data even when MNIST_DIR is set")
    parser.add_argument("--no-torch", action="store_true", help="do not time the PyTorch model")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_SAMPLES} samples, 1 repeat, a {QUICK_PEAK_SIZE}^2 peak matmul")
    return parser.parse_args(argv)


def load_data(n_samples: int, force_random: bool):
    """(images (n, 784) float32, labels (n,) int64, description of the source)."""
    import numpy as np

    folder = os.environ.get("MNIST_DIR")
    if folder and not force_random:
        from mlp_core.data import DataError, load_dataset

        try:
            train, _ = load_dataset("mnist", folder, download=False)
        except DataError as error:
            raise UsageError(f"MNIST_DIR={folder}: {error}") from None
        return train.images[:n_samples], train.labels[:n_samples], f"MNIST from {folder}"
    rng = np.random.default_rng(0)
    # The range of the course's scaling, (x - 128) / 255.
    images = rng.uniform(-0.5, 0.5, size=(n_samples, INPUT_SIZE)).astype(np.float32)
    labels = rng.integers(0, NUM_CLASSES, size=n_samples)
    return images, labels, "random (MNIST_DIR not set)" if not force_random else "random (--random)"


def blas_info() -> tuple[int, str]:
    """(threads numpy's BLAS uses, a one-line description)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threads = int(os.environ.get("OPENBLAS_NUM_THREADS") or len(os.sched_getaffinity(0)))
        return threads, f"threadpoolctl not installed; assuming {threads} BLAS threads"
    import numpy  # noqa: F401 - loads numpy's BLAS so that threadpoolctl sees it

    pools = [p for p in threadpool_info() if p["user_api"] == "blas" and "numpy" in p["filepath"]]
    pools = pools or [p for p in threadpool_info() if p["user_api"] == "blas"]
    if not pools:
        threads = len(os.sched_getaffinity(0))
        return threads, f"threadpoolctl found no BLAS library; assuming {threads} threads"
    pool = pools[0]
    detail = ", ".join(f"{k}={pool.get(k)}" for k in ("internal_api", "version", "architecture",
                                                       "threading_layer", "num_threads"))
    return pool["num_threads"], f"{detail} ({os.path.basename(pool['filepath'])})"


def measure_peak(size: int, repeats: int) -> list[float]:
    """Seconds of ``repeats`` size x size float32 matmuls (after one untimed)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    np.matmul(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    return times


class MlpCoreRunner:
    """One mlp_core model, trained one epoch at a time by ``mlp_core.training.train``."""

    def __init__(self, arch: str, activation: str, images, labels):
        from mlp_core.losses import SoftmaxCrossEntropyLoss
        from mlp_core.network import build_mlp
        from mlp_core.optim import SGD

        self.model = build_mlp(arch, activation, init_std=INIT_STD, seed=0)
        self.loss_fn = SoftmaxCrossEntropyLoss()
        self.optimizer = SGD(self.model.parameters(), lr=LR, momentum=MOMENTUM)
        self.images, self.labels = images, labels
        self.seed = 0

    def epoch(self, n_batches: int | None = None) -> float:
        """Train one epoch (or its first ``n_batches``); return the loop's seconds."""
        from mlp_core.training import train

        n = len(self.labels) if n_batches is None else min(len(self.labels), n_batches * BATCH_SIZE)
        self.seed += 1
        history = train(
            self.model, self.loss_fn, self.optimizer, (self.images[:n], self.labels[:n]),
            batch_size=BATCH_SIZE, max_epochs=1, patience=None, progress=False, seed=self.seed,
        )
        return history["train_seconds"][0]


def machine_description() -> str:
    info = machine_info()
    return f"{info.get('cpu', platform.machine())}, {info['cpus']} logical CPUs, {info['system']}"


def load() -> str:
    """The load average now, as the report cites it."""
    average = load_average()
    return "unknown" if average is None else " ".join(f"{x:.2f}" for x in average) + " (1, 5, 15 min)"


def fmt(value: float | None, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def measure(threads: int, args: argparse.Namespace) -> dict:
    """Every configuration at one thread count, in this process (whose BLAS has ``threads`` threads).

    Returns the epoch times, the products' time per configuration, the
    measured peak and what was run; prints a line per configuration.
    """
    import numpy as np

    from benchmarks.products import epoch_product_seconds
    from benchmarks.torch_epoch import TorchRunner, load_torch
    from mlp_core.network import hidden_sizes_for

    n_samples = QUICK_SAMPLES if args.quick else FULL_SAMPLES
    repeats = 1 if args.quick else args.repeats
    warmup = min(args.warmup_batches, 5) if args.quick else args.warmup_batches
    peak_size = QUICK_PEAK_SIZE if args.quick else PEAK_SIZE
    images, labels, source = load_data(n_samples, args.random)
    blas_threads, blas = blas_info()
    torch = None if args.no_torch else load_torch(threads)
    print(f"## {threads} thread(s): numpy {np.__version__}, BLAS {blas}; torch "
          f"{torch.__version__ + f', {torch.get_num_threads()} threads' if torch else 'not run'}; "
          f"data: {source}", flush=True)

    peak_times = measure_peak(peak_size, 3 if args.quick else 5)
    times: dict[str, dict[str, list[float]]] = {}
    products: dict[str, float] = {}
    for config in args.configs:
        arch, activation = config.split("-")
        hidden = hidden_sizes_for(arch)
        if arch not in products:
            products[arch] = epoch_product_seconds(hidden, n_samples, repeats=1 if args.quick else 10)
        runners = {"mlp_core": MlpCoreRunner(arch, activation, images, labels)}
        if torch is not None:
            runners["torch"] = TorchRunner(arch, activation, images, labels)
        for runner in runners.values():
            runner.epoch(warmup)
        times[config] = {name: [] for name in runners}
        for _ in range(repeats):
            for name, runner in runners.items():
                times[config][name].append(runner.epoch())
        detail = "; ".join(f"{name} " + " ".join(f"{t:.3f}" for t in ts) for name, ts in times[config].items())
        print(f"{config}, {threads} thread(s): {detail} s; products alone {products[arch]:.3f} s", flush=True)
    peak_times += measure_peak(peak_size, 3 if args.quick else 5)
    return {
        "threads": threads, "blas_threads": blas_threads, "n_samples": n_samples,
        "torch": torch.__version__ if torch else None,
        "peak_gflops": 2 * peak_size**3 / statistics.median(peak_times) / 1e9,
        "peak_detail": f"{peak_size}x{peak_size} float32 matmul, median of {len(peak_times)}: "
                       f"{statistics.median(peak_times) * 1e3:.1f} ms",
        "medians": {c: {name: statistics.median(ts) for name, ts in t.items()} for c, t in times.items()},
        "products": products,
    }


def measure_with_threads(threads: int, args: argparse.Namespace) -> dict:
    """:func:`measure` in a fresh process whose BLAS thread limits are set before numpy loads."""
    with blas_threads_in_environment(threads):
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(measure, (threads, args))


def table_row(config: str, run: dict, missing_torch: str) -> list[str]:
    """The cells of one row of the table, for one configuration at one thread count."""
    from benchmarks.products import gemm_flops
    from mlp_core.network import hidden_sizes_for

    arch, activation = config.split("-")
    median = run["medians"]
    ours = median[config]["mlp_core"]
    theirs = median[config].get("torch")
    relu = median.get(f"{arch}-relu", {}).get("mlp_core")
    gelu_over_relu = ours / relu if activation == "gelu" and relu else None
    gflop = gemm_flops(hidden_sizes_for(arch), run["n_samples"]) / 1e9
    return [
        config,
        str(run["threads"]),
        f"{ours:.3f}",
        f"{run['products'][arch]:.3f}",
        f"{ours / run['products'][arch]:.2f}",
        fmt(theirs, ".3f", missing_torch),
        fmt(ours / theirs if theirs else None, ".2f"),
        fmt(gelu_over_relu, ".2f"),
        f"{gflop / ours:.1f}",
        f"{100 * gflop / ours / run['peak_gflops']:.0f}",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_samples = QUICK_SAMPLES if args.quick else FULL_SAMPLES
    repeats = 1 if args.quick else args.repeats
    warmup = min(args.warmup_batches, 5) if args.quick else args.warmup_batches
    missing_torch = "not run (--no-torch)" if args.no_torch else "not installed"

    print(f"# Epoch time, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
          + (" (--quick: a fraction of an epoch, not a measurement)" if args.quick else ""))
    print(f"machine: {machine_description()}")
    print(f"load average at start: {load()}")
    print(f"python {platform.python_version()}; {n_samples} samples x {INPUT_SIZE} float32, "
          f"batches of {BATCH_SIZE}; threads {', '.join(map(str, args.threads))}, each in its own process")
    print(f"timing: median of {repeats} epoch(s) after {warmup} warm-up batches; "
          "mlp_core and torch epochs alternate")
    print(flush=True)
    try:
        runs = [measure_with_threads(threads, args) for threads in args.threads]
    except UsageError as error:
        print(f"epoch_time.py: error: {error}", file=sys.stderr)
        return 2

    print()
    print(HEADER)
    print("|" + "---|" * HEADER.count(" | ") + "---|")
    for run in runs:
        for config in args.configs:
            print("| " + " | ".join(table_row(config, run, missing_torch)) + " |")
    print()
    for run in runs:
        print(f"measured peak, {run['threads']} thread(s): {run['peak_gflops']:.1f} GFLOP/s ({run['peak_detail']})")
    for run in runs:
        median = run["medians"]
        for arch in dict.fromkeys(config.split("-")[0] for config in args.configs):
            relu, gelu = (median.get(f"{arch}-{a}", {}).get("torch") for a in ("relu", "gelu"))
            if relu and gelu:
                print(f"torch GELU/ReLU, {arch}, {run['threads']} thread(s): {gelu / relu:.2f}")
    print("GEMM: x W and x^T G for every Linear and G W^T for all but the first (the data need no "
          "gradient), timed alone (benchmarks/products.py).")
    print(f"load average at end: {load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
