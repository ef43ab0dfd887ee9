"""A catalogue of typical mistakes, as small edits of the solution, and the kit that runs them.
# instructor-only

Each :class:`Mistake` is one or two textual edits of one solution region of
``mlp_core`` (an old fragment replaced by a new one, each found exactly once),
the kind of slip a student makes: a transpose, a mean where a sum is right,
a forgotten cache, the layers visited in the wrong order. ``tests/test_mistakes.py``
writes each into a completed student kit and runs its notebook's checks in a
fresh kernel and the student's ``pytest``: every one must end in a FAIL that
names the function and carries a diagnosis, never in a crash and never in a
PASS. :data:`RIGHT_VARIANTS` are the opposite: other ways to write a right
answer, which every check must pass.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from mlp_core import progress
from mlp_instructor.notebooks import read_notebook, write_notebook
from mlp_instructor.release.markers import fill_in_solutions, find_regions, strip_solutions

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mistake:
    """An edit of the solution of ``function``: each (old, new) replaces a fragment found exactly once.

    ``others``: edits of other functions of the same module, as (function, edits) pairs (a mistake
    that spans forward and backward);
    ``blame``: the function the FAIL must name (default ``function``);
    ``words``: what the notebook's FAIL must also say (its diagnosis);
    ``tests``: the student's test files that must fail (default: the module's own).
    """

    name: str
    function: str
    edits: tuple[tuple[str, str], ...]
    words: tuple[str, ...] = ()
    blame: str = ""
    tests: tuple[str, ...] = ()
    others: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @property
    def exercise(self) -> progress.Exercise:
        return next(e for e in progress.exercises() if e.function == self.function)

    @property
    def notebook(self) -> str:
        return self.exercise.notebook

    @property
    def named(self) -> str:
        return self.blame or self.function

    @property
    def test_files(self) -> tuple[str, ...]:
        return self.tests or (f"tests/test_{self.exercise.module}.py",)

    def bodies(self) -> dict[str, str]:
        """function -> its solution region with the edits made (dedented, as fill_in_solutions takes it)."""
        source = (REPO / "mlp_core" / f"{self.exercise.module}.py").read_text()
        bodies = {}
        for function, edits in ((self.function, self.edits), *self.others):
            region = next(r for r in find_regions(source) if r.function == function)
            body = textwrap.dedent("\n".join(region.body(source.splitlines())))
            for old, new in edits:
                assert body.count(old) == 1, f"{self.name}: {old!r} occurs {body.count(old)} times in {function}"
                body = body.replace(old, new)
            bodies[function] = body
        return bodies


def M(name, function, *edits, words=(), blame="", tests=(), others=()):  # noqa: N802 - reads as a table
    return Mistake(name, function, tuple(edits), tuple(words), blame, tuple(tests),
                   tuple((f, tuple(e)) for f, e in others))


#: Typical mistakes, in the course's order. The first 23 are those of issue 24's walk through notebooks 01-04.
MISTAKES: tuple[Mistake, ...] = (
    # 01: Linear
    M("linear-forward-W-times-x", "Linear.forward", ("x @ self.W.data", "self.W.data @ x"),
      words=("crashed", "shapes")),
    M("linear-forward-no-cache", "Linear.forward", ("self.cache = x\n", ""), words=("self.cache",)),
    M("linear-forward-no-bias", "Linear.forward", (" + self.b.data", ""), words=("minus the bias b",)),
    M("linear-backward-mean-over-batch", "Linear.backward",
      ("np.matmul(x.T, grad_output, out=self.W.grad)", "np.matmul(x.T, grad_output / len(x), out=self.W.grad)"),
      ("np.sum(grad_output, axis=0, out=self.b.grad)", "np.mean(grad_output, axis=0, out=self.b.grad)"),
      words=("1/N, N = 2",)),
    M("linear-backward-bias-mean", "Linear.backward",
      ("np.sum(grad_output, axis=0, out=self.b.grad)", "np.mean(grad_output, axis=0, out=self.b.grad)"),
      words=("1/N, N = 2",)),
    M("linear-backward-weights-transposed", "Linear.backward",
      ("np.matmul(x.T, grad_output, out=self.W.grad)", "self.W.grad = grad_output.T @ x"),
      words=("transpose",)),
    M("linear-backward-input-not-transposed", "Linear.backward",
      ("return grad_output @ self.W.data.T", "return grad_output @ self.W.data"), words=("crashed", "shapes")),
    M("linear-backward-returns-nothing", "Linear.backward",
      ("return grad_output @ self.W.data.T", "grad_input = grad_output @ self.W.data.T"), words=("None",)),
    M("linear-backward-ignores-compute-input-grad", "Linear.backward",
      ("if not self.compute_input_grad:\n    return None\n", ""), words=("returns None",)),
    # 02: activations
    M("sigmoid-forward-naive", "Sigmoid.forward",
      ("y = np.tanh(0.5 * x)\ny += 1\ny *= 0.5", "y = 1 / (1 + np.exp(-x))"), words=("overflow",)),
    M("sigmoid-backward-of-the-input", "Sigmoid.backward",
      ("y = self.cache\nreturn grad_output * y * (1 - y)", "x = self.cache\nreturn grad_output * x * (1 - x)"),
      others=[("Sigmoid.forward", [("self.cache = y", "self.cache = x")])], words=("where x = ", "the input x")),
    M("sigmoid-backward-no-upstream", "Sigmoid.backward",
      ("return grad_output * y * (1 - y)", "return y * (1 - y)"), words=("got",)),
    M("relu-backward-one-at-zero", "ReLU.backward",
      ("y = self.cache\nreturn grad_output * (y > 0)", "x = self.cache\nreturn grad_output * (x >= 0)"),
      others=[("ReLU.forward", [("self.cache = y", "self.cache = x")])], words=("wrong exactly where x = 0",)),
    M("relu-backward-times-output", "ReLU.backward", ("grad_output * (y > 0)", "grad_output * y"),
      words=("where x = ",)),
    M("relu-forward-max-over-axis", "ReLU.forward", ("np.maximum(x, 0)", "np.max(x, 0)"), words=("shape",)),
    M("gelu-forward-exact-erf", "GELU.forward",
      ("y = t + 1\n", "y = 1 + np.vectorize(math.erf)(x / math.sqrt(2))\n"), words=("exact GELU",)),
    M("gelu-forward-slow-power", "GELU.forward",
      ("t = x * x\nt *= GELU_A\nt += 1\nt *= x\n", "t = x + GELU_A * x ** 3\n"), words=("costs",),
      tests=("tests/test_activations.py", "tests/test_activation_cost.py")),
    M("gelu-backward-no-cubic-term", "GELU.backward", ("d *= 3 * GELU_A\n", "d *= 0\n"), words=("where x = ",)),
    # 03: losses
    M("l2-forward-mean-over-classes", "L2Loss.forward",
      ("np.sum(diff * diff) / x.shape[0]", "np.mean(diff * diff)"), words=("1/K, K = 3",)),
    M("l2-forward-no-half", "L2Loss.forward", ("0.5 * np.sum", "np.sum"), words=("2 times",)),
    M("l2-backward-no-mean", "L2Loss.backward", ("return diff / diff.shape[0]", "return diff"),
      words=("N, N = 2",)),
    M("softmax-no-shift", "softmax", ("np.exp(x - x.max(axis=1, keepdims=True))", "np.exp(x)"),
      words=("overflow",)),
    M("softmax-over-the-batch", "softmax", ("exp.sum(axis=1, keepdims=True)", "exp.sum(axis=0, keepdims=True)"),
      words=("got",)),
    M("cross-entropy-forward-sum-over-batch", "SoftmaxCrossEntropyLoss.forward",
      ("log_probs[rows, labels].mean()", "log_probs[rows, labels].sum()"), words=("N, N = 2",)),
    M("cross-entropy-backward-sign", "SoftmaxCrossEntropyLoss.backward",
      ("return grad / labels.shape[0]", "return -grad / labels.shape[0]"), words=("opposite sign",)),
    M("cross-entropy-backward-no-mean", "SoftmaxCrossEntropyLoss.backward",
      ("return grad / labels.shape[0]", "return grad"), words=("N, N = 2",)),
    M("hinge-forward-counts-the-true-class", "HingeLoss.forward", ("margins[rows, labels] = 0\n", ""),
      words=("the margin",)),
    M("hinge-backward-true-class-minus-one", "HingeLoss.backward",
      ("= -positive.sum(axis=1)", "= -1"), words=("true class",)),
    # 04: network and optimiser
    M("sequential-backward-forward-order", "Sequential.backward", ("reversed(self.layers)", "self.layers"),
      words=("wrong order",)),
    M("sequential-backward-returns-its-input", "Sequential.backward", ("return grad", "return grad_output"),
      words=("shape",)),
    M("sequential-forward-output-dropped", "Sequential.forward", ("x = layer.forward(x)", "layer.forward(x)"),
      words=("the network's input",)),
    M("sgd-decay-after-momentum", "SGD.step",
      ("if decay:\n    v += decay * p.data\np.data -= self.lr * v",
       "p.data -= self.lr * (v + decay * p.data)"), words=("enters the velocity",)),
    M("sgd-no-momentum", "SGD.step", ("v *= self.momentum\n", "v[...] = 0\n"), words=("persists",)),
    M("sgd-ascent", "SGD.step", ("p.data -= self.lr * v", "p.data += self.lr * v"), words=("got",)),
    # 05: training
    M("evaluate-mean-of-batch-means", "evaluate",
      ("total_loss += loss_fn(out, y) * len(y)", "total_loss += loss_fn(out, y) * batch_size"), words=("got",)),
    M("train-epoch-accuracy-after-the-update", "train_epoch",
      ("    batch_accs.append(accuracy(out, y))\n", ""),
      ("optimizer.step()\n", "optimizer.step()\n    batch_accs.append(accuracy(model.forward(x), y))\n"),
      words=("got",)),
    M("early-stopping-ties-improve", "EarlyStopping.step",
      ("if self.improved(value):", "if self.improved(value) or value == self.best:"), words=("decisions",)),
    # 06: dropout
    M("dropout-forward-no-scaling", "Dropout.forward",
      ("self.cache = kept.astype(x.dtype) / x.dtype.type(1 - self.p)", "self.cache = kept.astype(x.dtype)"),
      words=("divide them by 1 - p",)),
    M("dropout-forward-p-kept", "Dropout.forward",
      ("kept = self.rng.random(x.shape) >= self.p", "kept = self.rng.random(x.shape) < self.p"),
      words=("probability to DROP",)),
    M("dropout-forward-global-generator", "Dropout.forward",
      ("self.rng.random(x.shape)", "np.random.random(x.shape)"), words=("self.rng",)),
    M("dropout-forward-one-mask-per-unit", "Dropout.forward",
      ("self.rng.random(x.shape)", "self.rng.random(x.shape[1:])"), words=("every row",)),
    M("dropout-forward-drops-in-evaluation", "Dropout.forward",
      ("if not self.training or self.p == 0:", "if self.p == 0:"), words=("evaluation mode",)),
    M("dropout-forward-float64-mask", "Dropout.forward",
      ("kept.astype(x.dtype) / x.dtype.type(1 - self.p)", "kept / (1 - self.p)"), words=("dtype",)),
    M("dropout-backward-new-mask", "Dropout.backward",
      ("return grad_output * self.cache", "return grad_output * (self.rng.random(grad_output.shape) >= self.p) / "
       "(1 - self.p)"), words=("forward dropped have a gradient", "self.cache")),
    M("dropout-backward-no-scaling", "Dropout.backward",
      ("return grad_output * self.cache", "return grad_output * (self.cache > 0)"),
      words=("not divided by 1 - p",)),
    # 07: error analysis and diagnostics
    M("confusion-matrix-transposed", "confusion_matrix",
      ("np.add.at(counts, (labels, predictions), 1)", "np.add.at(counts, (predictions, labels), 1)"),
      words=("transpose",)),
    M("confusion-matrix-fancy-index", "confusion_matrix",
      ("np.add.at(counts, (labels, predictions), 1)", "counts[labels, predictions] += 1"), words=("np.add.at",)),
    M("activation-statistics-signed-slope", "activation_statistics",
      ("passes = np.abs(layer.backward(np.ones_like(out))) > threshold",
       "passes = layer.backward(np.ones_like(out)) > threshold"), words=("negative slope",)),
    M("activation-statistics-dead-for-some-sample", "activation_statistics",
      ("np.mean(~passes.any(axis=0))", "np.mean(~passes.all(axis=0))"), words=("EVERY sample",)),
    M("activation-statistics-sample-std", "activation_statistics",
      ("float(np.std(out))", "float(np.std(out, ddof=1))"), words=("ddof",)),
    M("activation-statistics-every-layer", "activation_statistics",
      ("if isinstance(layer, ACTIVATION_LAYERS):", "if layer is not None:"), words=("activation layers only",)),
)

#: Right answers written differently: every check must pass them.
RIGHT_VARIANTS: tuple[Mistake, ...] = (
    M("sgd-rebinds-the-parameter", "SGD.step", ("p.data -= self.lr * v", "p.data = p.data - self.lr * v")),
    M("relu-backward-mask-of-the-output", "ReLU.backward", ("grad_output * (y > 0)", "np.where(y > 0, grad_output, 0)")),
    M("linear-backward-new-arrays", "Linear.backward",
      ("np.matmul(x.T, grad_output, out=self.W.grad)", "self.W.grad = x.T @ grad_output")),
    M("dropout-kept-below-one-minus-p", "Dropout.forward",
      ("kept = self.rng.random(x.shape) >= self.p", "kept = self.rng.random(x.shape) < 1 - self.p")),
    M("confusion-matrix-loop", "confusion_matrix",
      ("np.add.at(counts, (labels, predictions), 1)", "for t, q in zip(labels, predictions):\n    counts[t, q] += 1")),
)


def fill_notebook_regions(kit: Path, modules: tuple[str, ...] | None = None) -> None:
    """Write the instructor's answers into the notebook cells of ``kit`` that have solution regions (by cell
    id): those of the notebooks teaching ``modules`` (default all), such as the derivations by hand of 01-03.
    A notebook with nothing left to fill is not rewritten (it may be open in JupyterLab)."""
    teaching = {e.module: Path(e.notebook).name for e in progress.exercises()}
    names = None if modules is None else {teaching[m] for m in modules}
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        if names is not None and path.name not in names:
            continue
        originals = {c.get("id"): c["source"] for c in read_notebook(path)["cells"]
                     if c["cell_type"] == "code" and find_regions(c["source"])}
        if not originals:
            continue
        target = kit / "notebooks" / path.name
        nb = read_notebook(target)
        todo = [c for c in nb["cells"] if c.get("id") in originals and "write this (see" in c["source"]]
        for cell in todo:
            cell["source"] = fill_in_solutions(cell["source"], originals[cell["id"]], path.name)
        if todo:
            write_notebook(nb, target)


def write_module(kit: Path, module: str, replacements: dict[str, str] | None = None) -> None:
    """mlp_core/<module>.py of ``kit`` as the solution fills it in, with ``replacements`` (function -> body)."""
    original = (REPO / "mlp_core" / f"{module}.py").read_text()
    released = strip_solutions(original, f"{module}.py", "nb")[0]
    (kit / "mlp_core" / f"{module}.py").write_text(
        fill_in_solutions(released, original, f"{module}.py", replacements=replacements))


def completed_kit(release_dir: Path, dest: Path, *, modules: tuple[str, ...] | None = None) -> Path:
    """A copy of a release with the answers filled in: the mlp_core modules named (default all), and the
    exercises in the notebooks that teach them (the derivations by hand of 01-03; with all, 08-11's too)."""
    shutil.copytree(release_dir, dest)
    for path in sorted((REPO / "mlp_core").glob("*.py")):
        if find_regions(path.read_text()) and (modules is None or path.stem in modules):
            write_module(dest, path.stem)
    fill_notebook_regions(dest, modules)
    return dest
