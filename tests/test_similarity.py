"""The similarity report: a planted copy among independent solutions, the starter code, hostile input.

One release of this repository is shared by the tests (module fixture).
From it a small class is written: four students who wrote the same eleven
``mlp_core`` functions and two notebook exercises each in a way of their
own (as different students would), and a fifth whose code is the first
student's with every variable renamed, the comments changed and the lines
broken differently. Every other exercise is left as released.
"""
# instructor-only

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlp_instructor.notebooks import read_notebook, write_notebook
from mlp_instructor.release.markers import fill_in_solutions, find_regions
from mlp_instructor.similarity import SimilarityError
from mlp_instructor.similarity.command import DEFAULT_THRESHOLD, similarity
from mlp_instructor.similarity.compare import matched_spans
from mlp_instructor.similarity.fingerprints import kgram_hashes, normalised_tokens, winnow

from . import grading_attacks as attacks

REPO = Path(__file__).resolve().parents[1]

#: Four students' own code: function -> body (as fill_in_solutions takes it).
STUDENTS: dict[str, dict[str, str]] = {
    "ada": {
        "Sigmoid.forward": "out = 1.0 / (1.0 + np.exp(-x))\nself.cache = out\nreturn out",
        "Sigmoid.backward": "s = self.cache\nds = s * (1.0 - s)\nreturn grad_output * ds",
        "ReLU.forward": "mask = x > 0\nself.cache = mask\nreturn np.where(mask, x, 0.0)",
        "ReLU.backward": "mask = self.cache\nreturn np.where(mask, grad_output, 0.0)",
        "Linear.forward": "self.cache = x\nout = np.dot(x, self.W.data)\nout = out + self.b.data\nreturn out",
        "Linear.backward": "inputs = self.cache\nself.W.grad[...] = np.dot(inputs.T, grad_output)\n"
                           "self.b.grad[...] = grad_output.sum(axis=0)\nif self.compute_input_grad:\n"
                           "    return np.dot(grad_output, self.W.data.T)\nreturn None",
        "softmax": "m = np.max(x, axis=1, keepdims=True)\ne = np.exp(x - m)\n"
                   "total = np.sum(e, axis=1, keepdims=True)\nreturn e / total",
        "SoftmaxCrossEntropyLoss.forward": "p = softmax(x)\nn = x.shape[0]\npicked = p[np.arange(n), labels]\n"
                                           "self.cache = (p, labels)\nreturn float(-np.mean(np.log(picked)))",
        "SoftmaxCrossEntropyLoss.backward": "p, labels = self.cache\nn = p.shape[0]\ng = p.copy()\n"
                                            "g[np.arange(n), labels] = g[np.arange(n), labels] - 1.0\nreturn g / n",
        "L2Loss.forward": "t = one_hot(labels, x.shape[1], x.dtype)\nd = x - t\nself.cache = d\n"
                          "return float(np.sum(d ** 2) / (2 * x.shape[0]))",
        "L2Loss.backward": "d = self.cache\nreturn d / d.shape[0]",
        "sigmoid_slope": "s = 1.0 / (1.0 + np.exp(-x))\nreturn s * (1.0 - s)",
        "relu_slope": "return (x > 0).astype(float)",
    },
    "bea": {
        "Sigmoid.forward": "result = np.empty_like(x)\npositive = x >= 0\n"
                           "result[positive] = 1 / (1 + np.exp(-x[positive]))\nex = np.exp(x[~positive])\n"
                           "result[~positive] = ex / (1 + ex)\nself.cache = result\nreturn result",
        "Sigmoid.backward": "return grad_output * self.cache * (1 - self.cache)",
        "ReLU.forward": "self.cache = x.copy()\nreturn x * (x > 0)",
        "ReLU.backward": "grad = grad_output.copy()\ngrad[self.cache <= 0] = 0\nreturn grad",
        "Linear.forward": "self.cache = x\nreturn np.matmul(x, self.W.data) + self.b.data[None, :]",
        "Linear.backward": "a = self.cache\nnp.copyto(self.W.grad, a.T @ grad_output)\n"
                           "np.copyto(self.b.grad, grad_output.sum(0))\n"
                           "return grad_output @ self.W.data.T if self.compute_input_grad else None",
        "softmax": "z = x - x.max(1)[:, None]\nz = np.exp(z)\nz /= z.sum(1)[:, None]\nreturn z",
        "SoftmaxCrossEntropyLoss.forward": "batch = len(labels)\nshifted = x - x.max(axis=1)[:, np.newaxis]\n"
                                           "logsum = np.log(np.exp(shifted).sum(axis=1))\n"
                                           "losses = logsum - shifted[range(batch), labels]\n"
                                           "self.cache = (np.exp(shifted - logsum[:, np.newaxis]), labels)\n"
                                           "return float(losses.sum() / batch)",
        "SoftmaxCrossEntropyLoss.backward": "probs, labels = self.cache\nonehot = np.zeros_like(probs)\n"
                                            "onehot[np.arange(len(labels)), labels] = 1\n"
                                            "return (probs - onehot) / len(labels)",
        "L2Loss.forward": "target = np.zeros_like(x)\ntarget[np.arange(len(labels)), labels] = 1\n"
                          "self.cache = x - target\nreturn float((self.cache ** 2).sum() / len(labels) / 2)",
        "L2Loss.backward": "return self.cache / len(self.cache)",
        "sigmoid_slope": "e = np.exp(-np.abs(x))\nreturn e / (1 + e) ** 2",
        "relu_slope": "out = np.zeros_like(x, dtype=float)\nout[x > 0] = 1.0\nreturn out",
    },
    "cy": {
        "Sigmoid.forward": "y = 0.5 * (1 + np.tanh(x / 2))\nself.cache = y\nreturn y",
        "Sigmoid.backward": "y = self.cache\nslope = y - y ** 2\nreturn slope * grad_output",
        "ReLU.forward": "y = np.clip(x, 0, None)\nself.cache = x\nreturn y",
        "ReLU.backward": "x = self.cache\nreturn grad_output * np.heaviside(x, 0.0)",
        "Linear.forward": "self.cache = x\nreturn np.einsum('ni,io->no', x, self.W.data) + self.b.data",
        "Linear.backward": "x = self.cache\nself.W.grad[:] = np.einsum('ni,no->io', x, grad_output)\n"
                           "self.b.grad[:] = np.einsum('no->o', grad_output)\nif not self.compute_input_grad:\n"
                           "    return None\nreturn np.einsum('no,io->ni', grad_output, self.W.data)",
        "softmax": "shifted = x - np.amax(x, axis=-1, keepdims=True)\nnumerator = np.exp(shifted)\n"
                   "return numerator / numerator.sum(axis=-1, keepdims=True)",
        "SoftmaxCrossEntropyLoss.forward": "log_p = x - x.max(axis=1, keepdims=True)\n"
                                           "log_p = log_p - np.log(np.exp(log_p).sum(axis=1, keepdims=True))\n"
                                           "chosen = np.take_along_axis(log_p, labels[:, None], axis=1)\n"
                                           "self.cache = (np.exp(log_p), labels)\nreturn float(-chosen.mean())",
        "SoftmaxCrossEntropyLoss.backward": "p, y = self.cache\nd = p.copy()\n"
                                            "np.subtract.at(d, (np.arange(y.size), y), 1)\nreturn d / y.size",
        "L2Loss.forward": "residual = x - np.eye(x.shape[1], dtype=x.dtype)[labels]\nself.cache = residual\n"
                          "return float(0.5 * np.mean(np.sum(residual * residual, axis=1)))",
        "L2Loss.backward": "residual = self.cache\nreturn residual / residual.shape[0]",
        "sigmoid_slope": "return 0.25 / np.cosh(x / 2) ** 2",
        "relu_slope": "return np.heaviside(x, 0.0)",
    },
    "dee": {
        "Sigmoid.forward": "z = np.clip(x, -500, 500)\nself.cache = 1 / (1 + np.exp(-z))\nreturn self.cache",
        "Sigmoid.backward": "sig = self.cache\nreturn grad_output * sig * (1 - sig)",
        "ReLU.forward": "self.cache = (x > 0).astype(x.dtype)\nreturn x * self.cache",
        "ReLU.backward": "return grad_output * self.cache",
        "Linear.forward": "self.cache = x\ny = x.dot(self.W.data)\ny += self.b.data\nreturn y",
        "Linear.backward": "x_in = self.cache\nself.W.grad[...] = x_in.T.dot(grad_output)\n"
                           "self.b.grad[...] = np.add.reduce(grad_output, axis=0)\n"
                           "return grad_output.dot(self.W.data.T) if self.compute_input_grad else None",
        "softmax": "out = np.exp(x - np.max(x, axis=1)[:, None])\nreturn out / np.sum(out, axis=1)[:, None]",
        "SoftmaxCrossEntropyLoss.forward": "n = x.shape[0]\nprobs = softmax(x)\nself.cache = (probs, labels)\n"
                                           "eps = 1e-12\nreturn float(-np.sum(np.log(probs[np.arange(n), labels] + eps)) / n)",
        "SoftmaxCrossEntropyLoss.backward": "probs, labels = self.cache\nn = probs.shape[0]\n"
                                            "t = np.eye(probs.shape[1], dtype=probs.dtype)[labels]\n"
                                            "return (probs - t) / n",
        "L2Loss.forward": "n, k = x.shape\ngap = x.copy()\nfor i in range(n):\n    gap[i, labels[i]] -= 1\n"
                          "self.cache = gap\nreturn float(np.square(gap).sum() * 0.5 / n)",
        "L2Loss.backward": "gap = self.cache\nreturn gap * (1.0 / gap.shape[0])",
        "sigmoid_slope": "sig = 1 / (1 + np.exp(-x))\nreturn sig - sig * sig",
        "relu_slope": "return np.greater(x, 0) * 1.0",
    },
}

#: ada's code, every variable renamed, comments added and changed, lines broken and spaced differently.
PLANTED = {
    "Sigmoid.forward": "# logistic function, computed directly\nsig_out = 1.0/(1.0 +\n"
                       "                np.exp(-x))\nself.cache = sig_out\nreturn sig_out",
    "Sigmoid.backward": "cached = self.cache   # the forward output\nderiv = cached*(1.0 - cached)\n"
                        "return grad_output * deriv",
    "ReLU.forward": "on = x > 0  # where the unit is active\nself.cache = on\nreturn np.where(on, x, 0.0)",
    "ReLU.backward": "on = self.cache\nreturn np.where(on,\n                grad_output, 0.0)",
    "Linear.forward": "self.cache = x\nresult = np.dot(x, self.W.data)\nresult = result + self.b.data  # bias\n"
                      "return result",
    "Linear.backward": "saved = self.cache\nself.W.grad[...] = np.dot(saved.T, grad_output)  # dE/dW\n"
                       "self.b.grad[...] = grad_output.sum(axis = 0)  # dE/db\nif self.compute_input_grad:\n"
                       "    return np.dot(grad_output,\n                  self.W.data.T)\nreturn None",
    "softmax": "row_max = np.max(x, axis=1, keepdims=True)\nexps = np.exp(x - row_max)\n"
               "denom = np.sum(exps, axis=1, keepdims=True)\nreturn exps/denom",
    "SoftmaxCrossEntropyLoss.forward": "probs = softmax(x)\nbatch = x.shape[0]\n"
                                       "correct = probs[np.arange(batch), labels]\nself.cache = (probs, labels)\n"
                                       "return float(-np.mean(np.log(correct)))",
    "SoftmaxCrossEntropyLoss.backward": "probs, labels = self.cache\nbatch = probs.shape[0]\ngrad = probs.copy()\n"
                                        "grad[np.arange(batch), labels] = grad[np.arange(batch),\n"
                                        "                                      labels] - 1.0\nreturn grad / batch",
    "L2Loss.forward": "target = one_hot(labels, x.shape[1], x.dtype)\nerr = x - target\nself.cache = err\n"
                      "return float(np.sum(err ** 2) / (2 * x.shape[0]))  # mean over the batch",
    "L2Loss.backward": "err = self.cache\nreturn err / err.shape[0]",
    "sigmoid_slope": "# sigma(x) (1 - sigma(x))\nsg = 1.0 / (1.0 + np.exp(-x))\nreturn sg * (1.0 - sg)",
    "relu_slope": "return (x > 0).astype(float)",
}
NOTEBOOK_FUNCTIONS = ("sigmoid_slope", "relu_slope")
HOSTILE_NAME = "<b onmouseover=alert('id')>bold"  # a folder name cannot hold '/'
HOSTILE_CODE = 'note = "</pre><script>alert(1)</script>"  # <img src="http://example.invalid/x.png">\nreturn x'


def write_notebook_functions(kit: Path, bodies: dict[str, str]) -> None:
    """Write ``bodies`` (function -> body) into the notebook cells of ``kit`` asking for them, others left as released."""
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        originals = {c.get("id"): c["source"] for c in read_notebook(path)["cells"]
                     if c["cell_type"] == "code" and find_regions(c["source"])}
        target = kit / "notebooks" / path.name
        nb = read_notebook(target)
        changed = False
        for cell in nb["cells"]:
            if cell.get("id") not in originals:
                continue
            functions = {r.function for r in find_regions(originals[cell["id"]])}
            if functions & set(bodies):
                keep = {f: f"raise NotImplementedError({f!r})" for f in functions - set(bodies)}
                mine = {f: bodies[f] for f in functions & set(bodies)}
                cell["source"] = fill_in_solutions(cell["source"], originals[cell["id"]], path.name,
                                                   replacements=mine | keep)
                changed = True
        if changed:
            write_notebook(nb, target)


def write_student(kit: Path, folder: Path, code: dict[str, str]) -> Path:
    target = Path(shutil.copytree(kit, folder))
    attacks.fill_only(target, {f: c for f, c in code.items() if f not in NOTEBOOK_FUNCTIONS})
    write_notebook_functions(target, {f: c for f, c in code.items() if f in NOTEBOOK_FUNCTIONS})
    return target


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    return kit


@pytest.fixture(scope="module")
def planted_class(kit, tmp_path_factory):
    """(submissions folder, the comparison's report, output folder): four students, ada's planted copy as a zip."""
    subs = tmp_path_factory.mktemp("class") / "submissions"
    for name, code in STUDENTS.items():
        write_student(kit, subs / name, code)
    copy = write_student(kit, tmp_path_factory.mktemp("scratch") / "ada_copy", PLANTED)
    with zipfile.ZipFile(subs / "zed.zip", "w") as archive:  # the copier hands in a zip, its kit one folder down
        for path in sorted(copy.rglob("*")):
            archive.write(path, f"my-kit/{path.relative_to(copy).as_posix()}")
    out = subs.parent / "report"
    return subs, similarity(subs, out, release=kit, log=lambda line: None), out


def test_renaming_comments_and_line_breaks_change_no_token():
    a = "def f(x):\n    s = np.exp(x - x.max(axis=1, keepdims=True))  # stable\n    return s / s.sum(axis=1)\n"
    b = ("def g(values):\n    # softmax\n    e = np.exp(values -\n               values.max(axis = 1, keepdims=True)); "
         "return e/e.sum(axis=1)\n")
    kinds = [t.kind for t in normalised_tokens(a)]
    assert kinds == [t.kind for t in normalised_tokens(b)]
    assert "max" in kinds and "axis" in kinds and "x" not in kinds  # attributes and keywords kept, names not
    changed = a.replace("x.max(", "x.min(")
    assert winnow(kgram_hashes(normalised_tokens(changed))) != winnow(kgram_hashes(normalised_tokens(a)))


def test_the_planted_copy_ranks_first_and_alone_above_the_threshold(planted_class):
    _, report, out = planted_class
    pairs = report.comparison.pairs
    assert (pairs[0].a, pairs[0].b) == ("ada", "zed")
    assert pairs[0].score > 0.9, pairs[0]
    others = [p.score for p in pairs[1:]]
    assert max(others) < DEFAULT_THRESHOLD, pairs[:4]
    assert pairs[0].score - max(others) > 0.4
    with open(out / "similarity.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["student_a"], r["student_b"], r["flagged"]) for r in rows[:2]] == [("ada", "zed", "yes"),
                                                                             (rows[1]["student_a"], rows[1]["student_b"], "")]


def test_the_copy_is_found_in_both_mlp_core_and_the_notebook(planted_class):
    _, report, out = planted_class
    page = (out / "similarity.html").read_text()
    assert page.count('id="pair-') == 1
    for label in ("mlp_core/losses.py: SoftmaxCrossEntropyLoss.backward", "mlp_core/layers.py: Linear.backward",
                  "notebooks/02_activations.ipynb: sigmoid_slope"):
        assert page.count(f"<h4>{label}</h4>") == 2, label
    assert "<mark>" in page and "sig_out = 1.0/(1.0 +" in page.replace("<mark>", "").replace("</mark>", "")
    docs = report.comparison.documents
    assert {f.label.split(": ")[1] for f in docs["zed"].fragments} >= set(PLANTED)


def test_starter_code_alone_scores_nothing(kit, tmp_path):
    subs = tmp_path / "submissions"
    shutil.copytree(kit, subs / "untouched1")
    shutil.copytree(kit, subs / "untouched2")
    attacks.fill(Path(shutil.copytree(kit, subs / "solution")))
    report = similarity(subs, tmp_path / "out", release=kit, log=lambda line: None)
    docs = report.comparison.documents
    assert len(docs["untouched1"].fragments) > 30  # every exercise function was read, and nothing of it counts
    assert docs["untouched1"].fingerprints == docs["untouched2"].fingerprints == set()
    assert len(docs["solution"].fingerprints) > 100
    assert report.comparison.pairs == []


def test_hostile_names_and_code_are_escaped_and_nothing_is_loaded(kit, tmp_path):
    subs = tmp_path / "submissions"
    for name in (HOSTILE_NAME, "=cmd|' /C calc'!A0"):
        write_student(kit, subs / name, STUDENTS["cy"] | {"ReLU.backward": HOSTILE_CODE})
    (subs / "linked").mkdir()
    (subs / "linked" / "mlp_core").symlink_to(REPO / "mlp_core", target_is_directory=True)
    (subs / "not_a_zip.zip").write_bytes(b"PK\x03\x04 truncated")
    broken = write_student(kit, subs / "broken", STUDENTS["bea"])
    (broken / "mlp_core" / "activations.py").write_text("def f(x):\n    return " + "-" * 200_000 + "x\n")
    (broken / "mlp_core" / "layers.py").write_bytes(b"def f(x):\n    return x\0\xff\n")
    (broken / "notebooks" / "02_activations.ipynb").write_bytes(b"\xff not JSON")
    report = similarity(subs, tmp_path / "out", release=kit, log=lambda line: None)
    page = (tmp_path / "out" / "similarity.html").read_text()
    assert "<script" not in page and "<img" not in page
    assert html_escaped(HOSTILE_NAME) in page and "&lt;/pre&gt;&lt;script&gt;" in page
    assert not re.search(r"\b(src|href)=\"(?!#)", page)  # only links within the page
    assert "default-src 'none'" in page
    unread = report.comparison.unread
    assert unread["linked"] == "mlp_core is a symbolic link: a submission must contain its own code"
    assert unread["not_a_zip"].startswith("the zip cannot be read")
    notes = report.comparison.notes["broken"]
    assert "mlp_core/activations.py does not parse: the whole file is compared" in notes
    assert "mlp_core/layers.py does not parse: the whole file is compared" in notes
    assert "notebooks/02_activations.ipynb cannot be read (UnicodeDecodeError): its exercises are not compared" in notes
    assert "mlp_core/losses.py: softmax" in {f.label for f in report.comparison.documents["broken"].fragments}
    table = (tmp_path / "out" / "similarity.csv").read_text()
    assert "'=cmd" in table  # not a spreadsheet formula


def html_escaped(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_bad_input_gives_one_clear_error(kit, tmp_path):
    with pytest.raises(SimilarityError, match="does not exist"):
        similarity(tmp_path / "missing", tmp_path / "out", release=kit)
    (tmp_path / "subs" / "one").mkdir(parents=True)
    with pytest.raises(SimilarityError, match="at least two"):
        similarity(tmp_path / "subs", tmp_path / "out", release=kit)
    (tmp_path / "subs" / "two").mkdir()
    with pytest.raises(SimilarityError, match="inside the submissions folder"):
        similarity(tmp_path / "subs", tmp_path / "subs" / "out", release=kit)
    with pytest.raises(SimilarityError, match="--release"):
        similarity(tmp_path / "subs", tmp_path / "out", release=tmp_path)
    with pytest.raises(SimilarityError, match="--threshold"):
        similarity(tmp_path / "subs", tmp_path / "out", release=kit, threshold=1.5)
    assert not (tmp_path / "out").exists()
    run = subprocess.run([sys.executable, "-m", "mlp_core", "similarity", str(tmp_path / "missing"),
                          "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"python -m mlp_core similarity: error: submissions folder {tmp_path / 'missing'} does not exist"]


def test_the_command_builds_the_release_itself_and_prints_the_flagged_pairs(planted_class, tmp_path):
    subs, report, _ = planted_class
    first = report.comparison.pairs[0]
    run = subprocess.run([sys.executable, "-m", "mlp_core", "similarity", str(subs), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[1] == "compared 5 submission(s) in " + lines[1].split(" in ")[1]
    assert lines[1].endswith(f"s: {len(report.comparison.pairs)} pair(s) share code, 1 flagged (score >= 0.50)")
    assert lines[2] == f"  {first.score:.2f}  ada and zed ({first.shared} shared fingerprints)"  # the same as --release
    assert (tmp_path / "out" / "similarity.html").is_file()


def test_a_partial_copy_ranks_first_and_the_page_marks_what_was_copied(kit, tmp_path):
    """Three of thirteen functions copied (renamed, reformatted) into code of one's own: the pair ranks first,
    far above the independent pairs, and the page marks most of those three functions and less of any other."""
    copied = ("Linear.backward", "SoftmaxCrossEntropyLoss.forward", "SoftmaxCrossEntropyLoss.backward")
    subs = tmp_path / "submissions"
    for name in ("ada", "bea", "cy"):
        write_student(kit, subs / name, STUDENTS[name])
    write_student(kit, subs / "pat", STUDENTS["dee"] | {f: PLANTED[f] for f in copied})
    report = similarity(subs, tmp_path / "out", release=kit, threshold=0.3, log=lambda line: None)
    first, *others = report.comparison.pairs
    assert (first.a, first.b) == ("ada", "pat")
    assert first.score > 2 * max(p.score for p in others), report.comparison.pairs[:3]
    assert first.score < DEFAULT_THRESHOLD  # as the README says: such pairs are read in the CSV, or a lower threshold
    c = report.comparison
    marked = {}  # pat's function -> the share of the code pat wrote (not the release's lines) marked as ada's
    for fragment, spans in zip(c.documents["pat"].fragments, matched_spans(c.documents["pat"], c.documents["ada"],
                                                                           c.excluded, c.given)):
        own = "".join(line for line in fragment.text.splitlines() if line.strip() not in c.given[fragment.label])
        if own.strip():
            marked[fragment.label.split(": ")[1]] = (sum(len("".join(fragment.text[a:b].split())) for a, b in spans)
                                                     / len("".join(own.split())))
    assert {f for f, share in marked.items() if share > 0.8} == set(copied), sorted(marked.items())
    page = (tmp_path / "out" / "similarity.html").read_text()
    assert page.count('id="pair-') == 1 and "np.dot(saved.T, grad_output)" in page
