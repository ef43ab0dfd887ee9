"""Tests of mlp_core.data: IDX parsing, finding/verifying/downloading, splits.

The real-data tests use MNIST from the folder tests/_mnist.py finds ($MNIST_DIR,
the cache data/mnist, or one download) and skip, saying how to get it, only when
there is none. Download tests run against local HTTP servers on 127.0.0.1
(good, corrupt, missing and silent mirrors); nothing here touches the internet.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import socket
import threading
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from mlp_core import data
from mlp_core.data import (
    DATASETS,
    SCALINGS,
    DataError,
    Dataset,
    describe_dataset,
    load_dataset,
    load_mnist,
    locate_dataset,
    read_idx,
    subset,
    train_validation_split,
)
from mlp_core.data import registry
from mlp_lab.cli import build_parser
from mlp_lab.cli import main as cli_main
from tests._mnist import find_mnist, notebook_needs_mnist, require_mnist

STEMS = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]
MNIST_SHA = DATASETS["mnist"].sha256
REAL_MIRRORS = {name: info.mirrors for name, info in DATASETS.items()}
# Published class counts of the MNIST splits.
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


def needs_mnist(test):
    """For tests on the real MNIST: skipped (by require_mnist, in one folded line) when there is none."""

    @functools.wraps(test)
    def run_with_mnist(*args, **kwargs):
        require_mnist()
        return test(*args, **kwargs)

    return run_with_mnist


def mnist_folder() -> Path:
    """The real MNIST folder (only call it from a test marked ``needs_mnist``)."""
    return require_mnist()


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    """Encode arr as IDX (big-endian dims and values)."""
    dt = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(arr, dtype=dt).tobytes()


@pytest.fixture(autouse=True)
def _isolate(monkeypatch, tmp_path):
    """No test sees the user's env vars or writes to the repo's data/ cache."""
    find_mnist()  # where the real MNIST is, looked up once per session before the environment is hidden
    monkeypatch.delenv("MNIST_DIR", raising=False)
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    # set, not deleted, so that what use_mirrors (--mirror) writes is undone after each test
    monkeypatch.setenv("MNIST_MIRRORS", "")
    monkeypatch.setenv("FASHION_MNIST_MIRRORS", "")
    monkeypatch.setattr(registry, "DEFAULT_CACHE_DIR", tmp_path / "default-cache")
    # Any real mirror in the registry would be an internet access: forbid.
    for name, info in list(DATASETS.items()):
        monkeypatch.setitem(
            DATASETS, name, dataclasses.replace(info, mirrors=("http://127.0.0.1:9/",))
        )


# --------------------------------------------------------------------------- #
# read_idx
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_roundtrip(tmp_path, compressed):
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labs = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    for name, arr in (("imgs", imgs), ("labs", labs)):
        raw = idx_bytes(arr)
        p = tmp_path / (name + (".gz" if compressed else ""))
        p.write_bytes(gzip.compress(raw) if compressed else raw)
        out = read_idx(p)
        assert out.dtype == np.uint8 and out.shape == arr.shape
        np.testing.assert_array_equal(out, arr)
        out[...] = 0  # returned array is writable and independent of the file
    assert read_idx(tmp_path / ("imgs.gz" if compressed else "imgs")).any()


def test_read_idx_other_dtypes(tmp_path):
    ints = np.array([[1, -2, 70000], [3, 4, -5]], dtype=np.int32)
    (tmp_path / "i").write_bytes(idx_bytes(ints, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "i"), ints)
    floats = np.array([0.5, -1.25, 3.0], dtype=np.float32)
    (tmp_path / "f").write_bytes(idx_bytes(floats, 0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "f"), floats)


def test_read_idx_bad_magic(tmp_path):
    p = tmp_path / "bad-magic"
    raw = bytearray(idx_bytes(np.zeros((2, 3), np.uint8)))
    raw[0] = 0x12
    p.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="not an IDX file") as e:
        read_idx(p)
    assert "bad-magic" in str(e.value)
    # A text file is not IDX either.
    (tmp_path / "text.gz").write_bytes(gzip.compress(b"hello, world"))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "text.gz")


@pytest.mark.parametrize("compressed", [False, True])
def test_read_idx_truncated_and_too_long(tmp_path, compressed):
    raw = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    enc = gzip.compress if compressed else (lambda b: b)
    p = tmp_path / "short"
    p.write_bytes(enc(raw[:-7]))
    with pytest.raises(DataError, match="truncated") as e:
        read_idx(p)
    assert "short" in str(e.value) and "(3, 4, 5)" in str(e.value)
    p = tmp_path / "long"
    p.write_bytes(enc(raw + b"\0"))
    with pytest.raises(DataError, match="longer than its header"):
        read_idx(p)
    p = tmp_path / "header-only"
    p.write_bytes(enc(raw[:6]))
    with pytest.raises(DataError, match="truncated"):
        read_idx(p)


def test_read_idx_truncated_gzip_stream(tmp_path):
    gz = gzip.compress(idx_bytes(np.arange(1000, dtype=np.uint8) % 7))
    p = tmp_path / "cut.gz"
    p.write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match="gzip stream is truncated") as e:
        read_idx(p)
    assert "cut.gz" in str(e.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------- #
# Registry and argument checking
# --------------------------------------------------------------------------- #


def test_registry_is_complete():
    assert {"mnist", "fashion-mnist"} <= set(DATASETS)
    for name, info in DATASETS.items():
        assert sorted(info.files.values()) == sorted(STEMS)
        assert set(info.sha256) == set(STEMS) == set(info.sizes)
        for h in info.sha256.values():
            assert len(h) == 64 and int(h, 16) >= 0
        assert len(info.classes) == 10
    assert DATASETS["mnist"].env_var == "MNIST_DIR"
    assert DATASETS["fashion-mnist"].env_var == "FASHION_MNIST_DIR"


def test_registry_real_mirrors():
    # At least two public mirrors per data set, as captured before the fixture replaced them.
    assert REAL_MIRRORS["mnist"][:2] == (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    )
    assert REAL_MIRRORS["fashion-mnist"][:2] == (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
    )


def test_unknown_name_and_scaling():
    with pytest.raises(ValueError, match="fashion-mnist.*mnist"):
        load_dataset("cifar10")
    with pytest.raises(ValueError, match="course.*unit"):
        load_dataset("mnist", scaling="zscore")
    assert set(SCALINGS) == {"course", "unit"}


def test_scalings_values():
    x = np.array([0, 1, 127, 128, 255], dtype=np.uint8)
    c = SCALINGS["course"](x)
    u = SCALINGS["unit"](x)
    assert c.dtype == np.float32 and u.dtype == np.float32
    np.testing.assert_allclose(c, (x.astype(np.float64) - 128) / 255, rtol=1e-6)
    np.testing.assert_allclose(u, x.astype(np.float64) / 255, rtol=1e-6)
    assert c[3] == 0.0 and u[0] == 0.0 and u[-1] == 1.0


# --------------------------------------------------------------------------- #
# Real MNIST
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def mnist_course():
    """(train, test) loaded through the MNIST_DIR environment variable, course scaling; None without MNIST."""
    folder = find_mnist()[0]
    if folder is None:
        return None  # the test, marked needs_mnist, skips
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MNIST_DIR", str(folder))
        mp.setattr(registry, "DEFAULT_CACHE_DIR", Path("/nonexistent-cache"))
        return load_dataset("mnist", download=False)


@needs_mnist
def test_mnist_via_env_var(monkeypatch, mnist_course):
    monkeypatch.setenv("MNIST_DIR", str(mnist_folder()))
    assert locate_dataset("mnist", download=False) == mnist_folder()
    train, test = mnist_course
    assert isinstance(train, Dataset) and isinstance(test, Dataset)
    assert train.images.shape == (60000, 784) and test.images.shape == (10000, 784)
    assert train.labels.shape == (60000,) and test.labels.shape == (10000,)
    assert train.images.dtype == np.float32 and test.images.dtype == np.float32
    assert train.labels.dtype == np.int64 and test.labels.dtype == np.int64


@needs_mnist
def test_mnist_labels_and_course_range(mnist_course):
    train, test = mnist_course
    assert set(np.unique(train.labels)) == set(range(10))
    assert list(test.labels[:5]) == [7, 2, 1, 0, 4]
    assert list(train.labels[:5]) == [5, 0, 4, 1, 9]
    assert np.bincount(test.labels).tolist() == MNIST_TEST_COUNTS
    assert np.bincount(train.labels).tolist() == MNIST_TRAIN_COUNTS
    for ds in (train, test):
        assert ds.images.min() == np.float32(-128 / 255)
        assert ds.images.max() == np.float32(127 / 255)
    # Rows are the 28x28 images flattened row by row (C order), pixel for pixel.
    raw = read_idx(mnist_folder() / "t10k-images-idx3-ubyte.gz")
    assert raw.shape == (10000, 28, 28)
    expected = ((raw[:50].reshape(50, 784) - 128.0) / 255).astype(np.float32)
    np.testing.assert_array_equal(test.images[:50], expected)
    img = test.images[0].reshape(28, 28)  # a 7: blank top rows, a horizontal bar near the top
    assert (img[:5] == np.float32(-128 / 255)).all()
    bar = (img > 0).sum(axis=1)
    assert bar.argmax() < 12 and bar.max() > 10


@needs_mnist
def test_mnist_unit_scaling(mnist_course):
    train, test = load_mnist(mnist_folder(), scaling="unit")
    assert train.images.dtype == np.float32
    assert train.images.min() == 0.0 and train.images.max() == 1.0
    assert test.images.min() == 0.0 and test.images.max() == 1.0
    # Same pixels as the course scaling, just shifted by 128/255.
    np.testing.assert_allclose(test.images - 128 / 255, mnist_course[1].images, atol=1e-6)
    np.testing.assert_array_equal(test.labels, mnist_course[1].labels)


def _copy_mnist(dst: Path, stems=STEMS, *, decompress=(), copy=False) -> Path:
    """A folder with the given MNIST files: symlinks to the real ones (cheap,
    and their verification is remembered), real copies if ``copy``, or
    decompressed copies for the stems in ``decompress``."""
    dst.mkdir(parents=True, exist_ok=True)
    for s in stems:
        src = mnist_folder() / (s + ".gz")
        if s in decompress:
            (dst / s).write_bytes(gzip.decompress(src.read_bytes()))
        elif copy:
            shutil.copy(src, dst / (s + ".gz"))
        else:
            (dst / (s + ".gz")).symlink_to(src.resolve())
    return dst


@needs_mnist
def test_folder_argument_beats_env_var(monkeypatch, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    # Env var names an empty folder; the argument wins.
    monkeypatch.setenv("MNIST_DIR", str(empty))
    assert locate_dataset("mnist", mnist_folder(), download=False) == mnist_folder()
    # Env var names the good folder; an empty argument folder still wins (and fails).
    monkeypatch.setenv("MNIST_DIR", str(mnist_folder()))
    with pytest.raises(DataError) as e:
        locate_dataset("mnist", empty)
    assert str(empty) in str(e.value) and "train-images-idx3-ubyte" in str(e.value)


@needs_mnist
def test_plain_and_gz_files_both_accepted(tmp_path):
    folder = _copy_mnist(tmp_path / "mixed", decompress={"t10k-labels-idx1-ubyte"})
    assert locate_dataset("mnist", folder, download=False) == folder
    text = describe_dataset("mnist", folder)
    line = next(l for l in text.splitlines() if "t10k-labels" in l)
    assert line.split() == ["t10k-labels-idx1-ubyte", MNIST_SHA["t10k-labels-idx1-ubyte"], "OK"]
    assert "(10000,) int64" in text


@needs_mnist
@pytest.mark.parametrize("via_env", [False, True])
def test_explicit_folder_missing_file_fails_without_download(monkeypatch, tmp_path, http_mirrors, via_env):
    folder = _copy_mnist(tmp_path / "partial", STEMS[:3])
    if via_env:
        monkeypatch.setenv("MNIST_DIR", str(folder))
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as e:
        load_dataset("mnist", None if via_env else folder, cache_dir=cache, mirrors=[http_mirrors.url("good")])
    msg = str(e.value)
    assert str(folder) in msg and "t10k-labels-idx1-ubyte" in msg
    assert ("MNIST_DIR" in msg) and ("--data-dir" in msg)
    assert http_mirrors.requests == []  # never fell back to downloading
    assert not cache.exists()


def test_explicit_folder_does_not_exist(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        locate_dataset("mnist", tmp_path / "no-such-folder")
    assert "no-such-folder" in str(e.value)


def _corrupt_labels(dst_dir: Path) -> tuple[Path, str]:
    """Copy of MNIST with one flipped label byte in t10k-labels (re-gzipped)."""
    folder = _copy_mnist(dst_dir, STEMS[:3])
    raw = bytearray(gzip.decompress((mnist_folder() / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] ^= 0x01
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    return folder, sha256(bytes(raw))


@needs_mnist
def test_corrupted_file_refused(tmp_path):
    folder, actual = _corrupt_labels(tmp_path / "corrupt")
    with pytest.raises(DataError) as e:
        load_mnist(folder)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg
    assert MNIST_SHA["t10k-labels-idx1-ubyte"] in msg and actual in msg
    assert "delete" in msg.lower()


@needs_mnist
def test_truncated_files_refused(tmp_path):
    raw = gzip.decompress((mnist_folder() / "t10k-labels-idx1-ubyte.gz").read_bytes())
    # Plain file cut short.
    folder = _copy_mnist(tmp_path / "trunc", STEMS[:3])
    (folder / "t10k-labels-idx1-ubyte").write_bytes(raw[:5000])
    with pytest.raises(DataError) as e:
        load_mnist(folder)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte" in msg
    assert MNIST_SHA["t10k-labels-idx1-ubyte"] in msg and sha256(raw[:5000]) in msg
    # A .gz cut short: the gzip stream ends early.
    (folder / "t10k-labels-idx1-ubyte").unlink()
    gz = (mnist_folder() / "t10k-labels-idx1-ubyte.gz").read_bytes()
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gz[:2000])
    with pytest.raises(DataError) as e:
        load_mnist(folder)
    msg = str(e.value)
    assert "t10k-labels-idx1-ubyte.gz" in msg and "truncated" in msg
    assert MNIST_SHA["t10k-labels-idx1-ubyte"] in msg


@needs_mnist
def test_verification_cache_notices_changed_file(tmp_path):
    folder = _copy_mnist(tmp_path / "changing", STEMS[:3])
    shutil.copy(mnist_folder() / "t10k-labels-idx1-ubyte.gz", folder)
    locate_dataset("mnist", folder)  # verified and remembered
    p = folder / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(p.read_bytes()))
    raw[200] ^= 0x02
    st = p.stat()
    p.write_bytes(gzip.compress(bytes(raw)))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(DataError, match=sha256(bytes(raw))):
        locate_dataset("mnist", folder)


@needs_mnist
def test_describe_dataset(monkeypatch):
    monkeypatch.setenv("MNIST_DIR", str(mnist_folder()))
    text = describe_dataset("mnist")
    assert str(mnist_folder()) in text and "MNIST_DIR" in text
    for s in STEMS:
        line = next(l for l in text.splitlines() if s in l)
        assert MNIST_SHA[s] in line and line.rstrip().endswith("OK")
    assert "(60000, 784) float32" in text and "(10000,) int64" in text
    assert "1135" in text and "6742" in text  # class-1 counts, test and train


# --------------------------------------------------------------------------- #
# Downloads, against a local HTTP server
# --------------------------------------------------------------------------- #


class _Mirrors:
    """A local HTTP server with sub-folders good/ (real files), bad/ (t10k-labels corrupt)."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, sub: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{sub}/"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def http_mirrors(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    if find_mnist()[0] is not None:
        good = _copy_mnist(root / "good")
        bad = _copy_mnist(root / "bad", STEMS[:3])
        raw = bytearray(gzip.decompress((good / "t10k-labels-idx1-ubyte.gz").read_bytes()))
        raw[50] ^= 0xFF
        (bad / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    m = _Mirrors(root)
    yield m
    m.close()


@pytest.fixture
def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connection refused
    return f"http://127.0.0.1:{port}/mnist/"


def _no_partials(folder: Path):
    if folder.exists():
        assert [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".part"] == []


@needs_mnist
def test_download_falls_through_to_working_mirror(tmp_path, http_mirrors, closed_port_url, capsys):
    cache = tmp_path / "cache"
    mirrors = [closed_port_url, http_mirrors.url("missing"), http_mirrors.url("good")]
    folder = locate_dataset("mnist", cache_dir=cache, mirrors=mirrors, timeout=5)
    assert folder == cache / "mnist"
    for s in STEMS:
        p = folder / (s + ".gz")
        assert p.is_file()
        assert sha256(gzip.decompress(p.read_bytes())) == MNIST_SHA[s]
    _no_partials(folder)
    assert "downloading" in capsys.readouterr().err
    # Once a mirror worked, the dead ones are not asked again for the other files.
    # The smallest file is asked for first.
    assert [r for r in http_mirrors.requests if r.startswith("/missing/")] == ["/missing/t10k-labels-idx1-ubyte.gz"]
    # Second run: everything is cached, no request is made.
    before = len(http_mirrors.requests)
    _, test = load_dataset("mnist", cache_dir=cache, mirrors=mirrors)
    assert len(http_mirrors.requests) == before
    assert test.images.shape == (10000, 784) and list(test.labels[:5]) == [7, 2, 1, 0, 4]


@needs_mnist
def test_download_default_cache_and_partial_cache(tmp_path, http_mirrors):
    # Default cache dir (patched to tmp by the autouse fixture) with one file already there.
    cache = registry.DEFAULT_CACHE_DIR / "mnist"
    _copy_mnist(cache, ["train-images-idx3-ubyte"])
    locate_dataset("mnist", mirrors=[http_mirrors.url("good")])
    fetched = sorted(Path(r).name for r in http_mirrors.requests)
    assert fetched == sorted(s + ".gz" for s in STEMS[1:])


@needs_mnist
def test_download_bad_mirror_refused_next_used(tmp_path, http_mirrors):
    cache = tmp_path / "cache"
    folder = locate_dataset("mnist", cache_dir=cache, mirrors=[http_mirrors.url("bad"), http_mirrors.url("good")])
    p = folder / "t10k-labels-idx1-ubyte.gz"
    assert sha256(gzip.decompress(p.read_bytes())) == MNIST_SHA["t10k-labels-idx1-ubyte"]
    assert "/bad/t10k-labels-idx1-ubyte.gz" in http_mirrors.requests
    assert "/good/t10k-labels-idx1-ubyte.gz" in http_mirrors.requests
    _no_partials(folder)


@needs_mnist
def test_download_all_mirrors_fail(tmp_path, http_mirrors, closed_port_url):
    cache = tmp_path / "cache"
    mirrors = [closed_port_url, http_mirrors.url("missing"), http_mirrors.url("bad")]
    with pytest.raises(DataError) as e:
        # bad/ serves three good files and a corrupt t10k-labels
        locate_dataset("mnist", cache_dir=cache, mirrors=mirrors, timeout=5)
    msg = str(e.value)
    for m in mirrors:
        assert m + "t10k-labels-idx1-ubyte.gz" in msg
    assert "404" in msg and "MNIST_DIR" in msg and "by hand" in msg
    assert MNIST_SHA["t10k-labels-idx1-ubyte"] in msg
    folder = cache / "mnist"
    assert not (folder / "t10k-labels-idx1-ubyte.gz").exists()
    _no_partials(folder)


def test_download_disabled(tmp_path):
    with pytest.raises(DataError) as e:
        locate_dataset("mnist", download=False, cache_dir=tmp_path)
    msg = str(e.value)
    assert "MNIST_DIR" in msg and "download" in msg and str(tmp_path / "mnist") in msg


def test_registry_mirrors_used_by_default(tmp_path, closed_port_url, monkeypatch):
    info = DATASETS["mnist"]
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(info, mirrors=(closed_port_url,)))
    with pytest.raises(DataError) as e:
        locate_dataset("mnist", cache_dir=tmp_path, timeout=5)
    assert closed_port_url in str(e.value)
    _no_partials(tmp_path / "mnist")


@needs_mnist
def test_corrupt_cache_file_refused(tmp_path):
    folder, actual = _corrupt_labels(tmp_path / "cache" / "mnist")
    with pytest.raises(DataError) as e:
        locate_dataset("mnist", cache_dir=tmp_path / "cache")
    msg = str(e.value)
    assert actual in msg and MNIST_SHA["t10k-labels-idx1-ubyte"] in msg
    assert "cache" in msg and str(folder / "t10k-labels-idx1-ubyte.gz") in msg


@pytest.fixture
def silent_url():
    """A server that accepts connections and never answers (a mirror that hangs)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)  # the kernel completes the handshakes; nobody ever reads or writes
    yield f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"
    s.close()


@needs_mnist
def test_user_mirrors_first_then_builtin(tmp_path, http_mirrors, closed_port_url, monkeypatch, silent_url):
    """MNIST_MIRRORS comes before the built-in mirrors; a silent one and a corrupt one are passed over."""
    info = DATASETS["mnist"]
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(info, mirrors=(http_mirrors.url("good"),)))
    monkeypatch.setenv("MNIST_MIRRORS", f"{silent_url}, {http_mirrors.url('bad')} {closed_port_url}")
    assert data.mirror_urls(DATASETS["mnist"]) == [
        silent_url, http_mirrors.url("bad"), closed_port_url, http_mirrors.url("good"),
    ]
    start = time.monotonic()
    folder = locate_dataset("mnist", cache_dir=tmp_path, timeout=0.5)
    assert time.monotonic() - start < 10  # the silent mirror cost about 0.5 s, not 30
    labels = folder / "t10k-labels-idx1-ubyte.gz"
    assert sha256(gzip.decompress(labels.read_bytes())) == MNIST_SHA["t10k-labels-idx1-ubyte"]
    assert http_mirrors.requests[:2] == ["/bad/t10k-labels-idx1-ubyte.gz", "/good/t10k-labels-idx1-ubyte.gz"]
    _no_partials(folder)


def test_mirrors_only_never_asks_the_builtin_ones(tmp_path, closed_port_url, monkeypatch):
    monkeypatch.setenv("MNIST_MIRRORS", f"{closed_port_url} only")
    assert data.mirror_urls(DATASETS["mnist"]) == [closed_port_url]
    with pytest.raises(DataError) as e:
        locate_dataset("mnist", cache_dir=tmp_path, timeout=2)
    tried = [line for line in str(e.value).splitlines() if line.startswith("  - ")]
    assert len(tried) == 1 and closed_port_url in tried[0]  # not the built-in http://127.0.0.1:9/
    monkeypatch.setenv("MNIST_MIRRORS", "only")
    with pytest.raises(DataError, match="no mirror to try"):
        locate_dataset("mnist", cache_dir=tmp_path, timeout=2)


def test_silent_mirror_times_out_and_every_way_out_is_named(tmp_path, silent_url, closed_port_url):
    start = time.monotonic()
    with pytest.raises(DataError) as e:
        locate_dataset("mnist", cache_dir=tmp_path, mirrors=[silent_url, closed_port_url], timeout=0.5)
    assert time.monotonic() - start < 5
    msg = str(e.value)
    lines = msg.splitlines()
    # what was tried, one line per URL with the reason
    assert any(silent_url + "t10k-labels-idx1-ubyte.gz: no answer within 0.5 s" in line for line in lines)
    assert any(closed_port_url + "t10k-labels-idx1-ubyte.gz: " in line and "refused" in line.lower() for line in lines)
    # the three ways out: a local folder, a mirror, by hand with the exact file names and the place
    assert "MNIST_DIR=" in msg and "--data-dir" in msg
    assert "MNIST_MIRRORS=" in msg and "--mirror URL" in msg
    assert "by hand" in msg and str(tmp_path / "mnist") in msg
    for s in STEMS:
        assert s + ".gz" in msg
    assert not (tmp_path / "mnist").exists()  # no empty cache folder left behind


@pytest.mark.parametrize("text", ["ftp://example.org/mnist/", "mirror.example.org/mnist", "http://a/ nope"])
def test_bad_mirror_setting_is_refused(text, monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_MIRRORS", text)
    with pytest.raises(DataError, match="MNIST_MIRRORS.*is not a mirror URL"):
        locate_dataset("mnist", cache_dir=tmp_path)


def test_mirror_option_of_the_command_line(monkeypatch):
    monkeypatch.setenv("MNIST_MIRRORS", "http://from-env.example/")
    for command in ("data", "train", "reproduce"):
        monkeypatch.setenv("MNIST_MIRRORS", "http://from-env.example/")
        args = build_parser().parse_args(
            [command, "--mirror", "http://a.example/mnist", "--mirror", "https://b.example/"]
        )
        assert args.mirror == ["http://a.example/mnist", "https://b.example/"] and not args.mirror_only
        assert os.environ["MNIST_MIRRORS"] == "http://a.example/mnist/ https://b.example/ http://from-env.example/"
        assert data.mirror_urls(DATASETS["mnist"])[:3] == os.environ["MNIST_MIRRORS"].split()
    monkeypatch.setenv("FASHION_MNIST_MIRRORS", "http://from-env.example/")
    build_parser().parse_args(["data", "--mirror-only", "--mirror", "http://c.example/"])
    assert data.mirror_urls(DATASETS["fashion-mnist"]) == ["http://c.example/", "http://from-env.example/"]
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--mirror", "not-a-url"])
    assert e.value.code == 2


@needs_mnist
def test_data_command_downloads_from_the_mirror_given(http_mirrors, capsys):
    assert cli_main(["data", "--mirror", http_mirrors.url("good"), "--mirror-only"]) == 0
    out = capsys.readouterr()
    assert str(registry.DEFAULT_CACHE_DIR / "mnist") in out.out and "6742" in out.out
    assert out.err.count("downloading " + http_mirrors.url("good")) == 4


def _notebook(path: Path, *sources: str) -> Path:
    cells = [{"cell_type": "code", "source": src.splitlines(True), "metadata": {}, "outputs": [],
              "execution_count": None} for src in sources]
    cells.append({"cell_type": "markdown", "source": ["load_mnist() in prose does not count"], "metadata": {}})
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_notebooks_that_load_mnist_are_recognised(tmp_path):
    assert notebook_needs_mnist(_notebook(tmp_path / "a.ipynb", "import numpy as np", "train, test = load_mnist()"))
    assert notebook_needs_mnist(_notebook(tmp_path / "b.ipynb", "splits = load_splits(config)"))
    assert notebook_needs_mnist(_notebook(tmp_path / "c.ipynb", "print(data.describe_dataset ('mnist'))"))
    assert not notebook_needs_mnist(_notebook(tmp_path / "d.ipynb", "from mlp_core import ReLU", "ReLU()"))


# --------------------------------------------------------------------------- #
# Fashion-MNIST
# --------------------------------------------------------------------------- #

FASHION_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
_fashion_env = os.environ.get("FASHION_MNIST_DIR", "").strip()
FASHION_DIR = Path(_fashion_env) if _fashion_env else FASHION_SYSTEM_DIR
needs_fashion = pytest.mark.skipif(
    not FASHION_DIR.is_dir(),
    reason=f"Fashion-MNIST folder {FASHION_DIR} does not exist: install it with "
    "`apt-get install -y dataset-fashion-mnist` or set FASHION_MNIST_DIR",
)


@needs_fashion
def test_fashion_mnist_loads_and_verifies():
    info = DATASETS["fashion-mnist"]
    for s in STEMS:
        p = FASHION_DIR / (s + ".gz")
        if not p.exists():
            p = FASHION_DIR / s
        content = p.read_bytes()
        if content[:2] == b"\x1f\x8b":
            content = gzip.decompress(content)
        assert sha256(content) == info.sha256[s], s
        assert len(content) == info.sizes[s]
    train, test = load_dataset("fashion-mnist", FASHION_DIR, download=False)
    assert train.images.shape == (60000, 784) and test.images.shape == (10000, 784)
    assert train.images.dtype == np.float32 and test.labels.dtype == np.int64
    # Fashion-MNIST is balanced: 6000 / 1000 images per class.
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert np.bincount(test.labels).tolist() == [1000] * 10


@pytest.mark.skipif(
    not FASHION_SYSTEM_DIR.is_dir(),
    reason="Debian's Fashion-MNIST is not installed (apt-get install -y dataset-fashion-mnist)",
)
def test_fashion_mnist_system_folder_is_a_source(tmp_path):
    assert locate_dataset("fashion-mnist", download=False, cache_dir=tmp_path) == FASHION_SYSTEM_DIR
    assert "system package" in describe_dataset("fashion-mnist", download=False)


# --------------------------------------------------------------------------- #
# Splits
# --------------------------------------------------------------------------- #


def _toy(n: int = 100) -> Dataset:
    images = np.repeat(np.arange(n, dtype=np.float32)[:, None], 784, axis=1)  # row i is all i
    return Dataset(images, np.arange(n, dtype=np.int64) % 10)


def test_train_validation_split():
    ds = _toy(100)
    tr, va = train_validation_split(ds, val_size=30, seed=3)
    assert tr.images.shape == (70, 784) and va.images.shape == (30, 784)
    assert tr.labels.shape == (70,) and va.labels.shape == (30,)
    ids_tr, ids_va = tr.images[:, 0].astype(int), va.images[:, 0].astype(int)
    assert set(ids_tr).isdisjoint(ids_va)
    assert sorted(set(ids_tr) | set(ids_va)) == list(range(100))
    np.testing.assert_array_equal(tr.labels, ids_tr % 10)  # rows stay paired with labels
    np.testing.assert_array_equal(va.labels, ids_va % 10)
    tr2, va2 = train_validation_split(ds, val_size=30, seed=3)
    np.testing.assert_array_equal(va.images, va2.images)
    _, va3 = train_validation_split(ds, val_size=30, seed=4)
    assert not np.array_equal(va.images, va3.images)
    assert list(ids_va) != list(range(30)), "validation set must be random, not the first rows"


@pytest.mark.parametrize("bad", [0, -1, 100, 101, 2.5, True])
def test_train_validation_split_bad_size(bad):
    with pytest.raises(ValueError, match="val_size"):
        train_validation_split(_toy(100), val_size=bad)


def test_split_does_not_use_global_rng():
    np.random.seed(0)
    a = train_validation_split(_toy(50), 10, seed=1)[1].labels
    np.random.seed(12345)
    b = train_validation_split(_toy(50), 10, seed=1)[1].labels
    np.testing.assert_array_equal(a, b)


def test_subset():
    ds = _toy(100)
    s1 = subset(ds, 20, seed=5)
    s2 = subset(ds, 20, seed=5)
    s3 = subset(ds, 20, seed=6)
    assert s1.images.shape == (20, 784) and s1.labels.shape == (20,)
    np.testing.assert_array_equal(s1.images, s2.images)
    assert not np.array_equal(s1.images, s3.images)
    ids = s1.images[:, 0].astype(int)
    assert len(set(ids)) == 20
    np.testing.assert_array_equal(s1.labels, ids % 10)
    assert subset(ds, 100) is ds and subset(ds, 1000) is ds
    with pytest.raises(ValueError):
        subset(ds, 0)
