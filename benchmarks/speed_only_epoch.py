"""What would rewriting mlp_core for speed alone buy? The same epoch with every numpy trick, timed against it.

    python benchmarks/speed_only_epoch.py              # the four configs, one BLAS thread, 5 epochs each
    python benchmarks/speed_only_epoch.py --quick      # smoke run (tests/test_benchmark.py)

mlp_core is written to be read: each layer allocates its outputs, the loss
and the SGD update use numpy's plain operators. :class:`SpeedOnlyMLP` trains
the same network with the same arithmetic written for speed alone, as far as
numpy allows: every array preallocated once and written with ``out=``, the
batch gathered with ``np.take`` into a fixed buffer, the activation masks
and the SGD temporaries reused, and nothing the epoch does not need (no
argument checks, no per-layer objects). It is what "preallocated buffers and
out= everywhere" would give the engine at the price of its readability.

The two must compute the same thing: after the timed epochs the script
checks that both networks' weights are equal bit for bit, and says so. The
epochs alternate (engine, speed-only, engine, ...), so the machine's load
hits both alike; the ratio of the medians is the answer. The data are random
values of MNIST's shape (every operation is dense).
"""

# The student's kit leaves this file out (mlp_instructor/release.py): it repeats the arithmetic of
# the solution's layers, loss and SGD line for line, which is what the students write themselves.
# instructor-only

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from mlp_lab.threads import blas_thread_env  # noqa: E402 - imports no numpy

os.environ.update(blas_thread_env(1))  # before numpy loads: one BLAS thread, as the grid's workers

import numpy as np  # noqa: E402

from mlp_core.activations import GELU_A, GELU_C  # noqa: E402
from mlp_core.losses import SoftmaxCrossEntropyLoss  # noqa: E402
from mlp_core.network import build_mlp  # noqa: E402
from mlp_core.optim import SGD  # noqa: E402
from mlp_core.training import train_epoch  # noqa: E402
from mlp_lab.reference import SETTINGS  # noqa: E402

CONFIGS = ("mlp1-relu", "mlp1-gelu", "mlp2-relu", "mlp2-gelu")
BATCH, LR, MOMENTUM = (SETTINGS[name] for name in ("batch_size", "lr", "momentum"))  # the reference's


class SpeedOnlyMLP:
    """The network of ``build_mlp(arch, activation)`` (ReLU or GELU), trained with preallocated buffers.

    Takes its weights from (a copy of) an mlp_core network, so both start equal.
    Every operation is the one mlp_core's layers, loss and SGD perform, in the
    same order and precision, so the results are the same bit for bit.
    """

    def __init__(self, model, activation: str):
        linears = model.layers[::2]
        self.gelu = activation == "gelu"
        self.W = [layer.W.data.copy() for layer in linears]
        self.b = [layer.b.data.copy() for layer in linears]
        self.dW = [np.empty_like(w) for w in self.W]
        self.db = [np.empty_like(b) for b in self.b]
        self.velocities = [np.zeros_like(p) for p in [*self.W, *self.b]]
        self.step_tmp = [np.empty_like(p) for p in [*self.W, *self.b]]
        sizes = [w.shape[0] for w in self.W] + [self.W[-1].shape[1]]
        self.x = np.empty((BATCH, sizes[0]), np.float32)

        def buffers(n):
            return [np.empty((BATCH, s), np.float32) for s in sizes[1:n]]

        self.z, self.h, self.t, self.d, self.g, self.tmp = (buffers(-1) for _ in range(6))  # per hidden layer
        self.mask = [np.empty((BATCH, s), bool) for s in sizes[1:-1]]
        self.out = np.empty((BATCH, sizes[-1]), np.float32)
        self.g_out = np.empty_like(self.out)
        self.row_max = np.empty((BATCH, 1), np.float32)
        self.row_sum = np.empty((BATCH, 1), np.float32)
        self.rows = np.arange(BATCH)
        self.steps = 0

    def train_epoch(self, images: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
        losses, accuracies = [], []
        order = rng.permutation(images.shape[0])
        for start in range(0, images.shape[0], BATCH):
            idx = order[start : start + BATCH]
            x = np.take(images, idx, axis=0, out=self.x)
            y = labels[idx]
            loss, correct = self.forward_loss(x, y)
            losses.append(loss)
            accuracies.append(correct / BATCH)
            self.backward(x)
            self.sgd_step()
        return float(np.mean(losses)), float(np.mean(accuracies))

    def forward_loss(self, x, y) -> tuple[float, int]:
        h = x
        for i, (w, b) in enumerate(zip(self.W, self.b)):
            z = self.out if i == len(self.W) - 1 else self.z[i]
            np.matmul(h, w, out=z)
            z += b
            if z is self.out:
                break
            h = self.activate(i, z)
        out, m, s = self.out, self.row_max, self.row_sum
        correct = int(np.count_nonzero(out.argmax(axis=1) == y))
        np.max(out, axis=1, keepdims=True, out=m)
        shifted = self.g_out
        np.subtract(out, m, out=shifted)
        np.exp(shifted, out=out)  # out is the logits no more: exp(shifted)
        np.sum(out, axis=1, keepdims=True, out=s)
        picked = shifted[self.rows, y] - np.log(s[:, 0])
        loss = float(-picked.mean())
        np.divide(out, s, out=self.g_out)  # softmax
        self.g_out[self.rows, y] -= 1
        self.g_out /= BATCH
        return loss, correct

    def activate(self, i: int, z: np.ndarray) -> np.ndarray:
        h = self.h[i]
        if not self.gelu:
            return np.maximum(z, 0, out=h)
        t = self.t[i]
        np.multiply(z, z, out=t)
        t *= GELU_A
        t += 1
        t *= z
        t *= GELU_C
        np.tanh(t, out=t)
        np.add(t, 1, out=h)
        h *= z
        h *= 0.5
        return h

    def activation_backward(self, i: int, g: np.ndarray) -> np.ndarray:
        if not self.gelu:
            np.greater(self.h[i], 0, out=self.mask[i])
            return np.multiply(g, self.mask[i], out=g)
        x, t, d, tmp = self.z[i], self.t[i], self.d[i], self.tmp[i]
        np.multiply(x, x, out=d)
        d *= 3 * GELU_A
        d += 1
        d *= np.multiply(x, 0.5 * GELU_C, out=tmp)
        np.multiply(t, t, out=tmp)
        d *= np.subtract(1, tmp, out=tmp)
        d += np.multiply(t, 0.5, out=tmp)
        d += 0.5
        d *= g
        return d

    def backward(self, x):
        g = self.g_out
        for i in reversed(range(len(self.W))):
            h_in = x if i == 0 else self.h[i - 1]
            np.matmul(h_in.T, g, out=self.dW[i])
            np.sum(g, axis=0, out=self.db[i])
            if i:
                g = self.activation_backward(i - 1, np.matmul(g, self.W[i].T, out=self.g[i - 1]))

    def sgd_step(self):
        for p, grad, v, tmp in zip([*self.W, *self.b], [*self.dW, *self.db], self.velocities, self.step_tmp):
            v *= MOMENTUM
            v += grad
            p -= np.multiply(v, LR, out=tmp)
        self.steps += 1
        if self.steps % SGD.FLUSH_EVERY == 0:
            SGD.flush_subnormal_velocities(self)  # the engine's own flush, over self.velocities


def compare(config: str, n_samples: int, epochs: int) -> dict:
    """Alternate ``epochs`` engine and speed-only epochs (after one of each); medians and whether they agree."""
    arch, activation = config.split("-")
    rng = np.random.default_rng(1)
    images = rng.uniform(-0.5, 0.5, (n_samples, 784)).astype(np.float32)
    labels = rng.integers(0, 10, n_samples)
    model = build_mlp(arch, activation, seed=0)
    fast = SpeedOnlyMLP(model, activation)
    optimizer = SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = SoftmaxCrossEntropyLoss()
    engine_rng, fast_rng = np.random.default_rng(0), np.random.default_rng(0)
    engine_times, fast_times, metrics = [], [], []
    for epoch in range(epochs + 1):
        start = time.perf_counter()
        engine_metrics = train_epoch(model, loss_fn, optimizer, images, labels, BATCH, engine_rng)
        middle = time.perf_counter()
        fast_metrics = fast.train_epoch(images, labels, fast_rng)
        end = time.perf_counter()
        metrics.append(engine_metrics == fast_metrics)
        if epoch:
            engine_times.append(middle - start)
            fast_times.append(end - middle)
    same_weights = all(np.array_equal(layer.W.data, w) and np.array_equal(layer.b.data, b)
                       for layer, w, b in zip(model.layers[::2], fast.W, fast.b))
    return {"engine": statistics.median(engine_times), "fast": statistics.median(fast_times),
            "same": same_weights and all(metrics)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs of each per config (median)")
    parser.add_argument("--quick", action="store_true", help="smoke run on 2,000 images: measures nothing")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    n_samples, epochs = (2_000, 1) if args.quick else (60_000, args.epochs)
    print(f"# mlp_core against a speed-only numpy rewrite: {n_samples} samples, one BLAS thread, median of "
          f"{epochs} alternating epochs; load average at start {os.getloadavg()[0]:.2f}")
    print("\n| config | mlp_core s/epoch | speed-only s/epoch | speed-only/mlp_core | same weights and metrics |")
    print("|---|---:|---:|---:|---|")
    all_same = True
    for config in CONFIGS:
        r = compare(config, n_samples, epochs)
        all_same &= r["same"]
        print(f"| {config} | {r['engine']:.3f} | {r['fast']:.3f} | {r['fast'] / r['engine']:.2f} | "
              f"{'yes, bit for bit' if r['same'] else 'NO'} |", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    if not all_same:
        print("speed_only_epoch.py: the rewrite no longer computes what mlp_core does; fix it before "
              "reading its times", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
