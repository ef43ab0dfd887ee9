"""The source order, and the public loading functions built on it.

:func:`locate_dataset` and :func:`load_dataset` look, in this order, at:

1. the ``folder`` argument (the CLI's ``--data-dir``), if given;
2. the data set's environment variable (``MNIST_DIR`` or
   ``FASHION_MNIST_DIR``), if set and non-empty;
3. for Fashion-MNIST only: ``/usr/share/datasets/fashion-mnist``, where Debian's
   package puts it (``apt-get install -y dataset-fashion-mnist``), if that
   folder holds all four files;
4. the cache folder ``<cache_dir>/<name>/``, where ``cache_dir`` defaults to
   ``data/`` at the repository root;
5. a download of the missing files into that cache folder, from the user's
   mirrors then the built-in ones (see :mod:`mlp_core.data.download`), unless
   ``download=False``. Files already in the cache are not fetched again.

A folder named explicitly (1 or 2) must hold all four files and they must be
right: if one is missing or wrong the load fails with DataError naming the
folder and the file; it never falls back to downloading behind your back. The
same holds for a complete system folder (3) whose files fail verification, and
for a corrupt file in the cache (4): the error says which file to delete or
replace; nothing is overwritten silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from . import registry
from .download import download_missing, mirror_urls, ways_out
from .files import (
    BadFile, Located, absolute, check_folder, explicit_folder_fix, scan_cache, system_folder,
    verified_content,
)
from .idx import parse_idx
from .registry import (
    DOWNLOAD_TIMEOUT, SCALINGS, DataError, Dataset, DatasetInfo, dataset_info, scaling_function,
)


def _locate(
    name: str,
    folder: str | os.PathLike | None,
    download: bool,
    cache_dir: str | os.PathLike | None,
    mirrors: Sequence[str] | None,
    timeout: float,
) -> Located:
    info = dataset_info(name)
    fix = explicit_folder_fix(info)

    # 1. explicit folder argument.
    if folder is not None:
        return check_folder(info, absolute(folder), "given as the folder argument / --data-dir", fix)

    # 2. environment variable.
    env = os.environ.get(info.env_var, "").strip()
    if env:
        return check_folder(info, absolute(env), f"from the environment variable {info.env_var}", fix)

    # 3. a folder installed by a system package, if complete.
    sysdir = system_folder(info)
    if sysdir is not None:
        return check_folder(
            info,
            sysdir,
            f"installed by the system package ({info.system_hint})",
            f"Reinstall it (apt-get install --reinstall {info.system_hint.split()[-1]}), "
            f"or set {info.env_var} to a folder holding good copies.",
        )

    # 4. cache folder (read at call time, so that tests can move it), 5. download into it.
    base = absolute(cache_dir) if cache_dir is not None else registry.DEFAULT_CACHE_DIR
    cache = base / info.name
    paths, content, missing = scan_cache(info, cache)
    if missing:
        if not download:
            raise DataError(
                f"{info.title} is not available and downloading is switched off: no folder "
                f"argument was given, {info.env_var} is not set"
                + (f", {', '.join(str(d) for d in info.system_dirs)} is not complete" if info.system_dirs else "")
                + f", and the cache folder {cache} lacks {', '.join(missing)}. Allow the "
                "download (download=True; on the command line, drop --no-download), or:\n"
                + ways_out(info, cache)
            )
        urls = list(mirrors) if mirrors is not None else mirror_urls(info)
        for stem, (path, buf) in download_missing(info, missing, cache, urls, timeout).items():
            paths[stem], content[stem] = path, buf

    return Located(cache, f"the cache folder under {base}", paths, content)


def locate_dataset(
    name: str = "mnist",
    folder: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> Path:
    """The folder holding the four verified IDX files of data set ``name``.

    Follows the source order in the module docstring (folder argument,
    environment variable, system folder for Fashion-MNIST, cache folder
    ``<cache_dir>/<name>/``, download). ``mirrors``, when given, is the whole
    list of base URLs to try (neither ``MNIST_MIRRORS`` nor the built-in ones);
    ``timeout`` is how long in seconds a mirror may stay silent. Raises
    DataError with advice on any failure and ValueError for an unknown name.
    """
    return _locate(name, folder, download, cache_dir, mirrors, timeout).folder


def _content(info: DatasetInfo, located: Located, stem: str) -> bytes:
    """Verified decompressed content of one located file."""
    buf = located.content.get(stem)
    if buf is None:
        try:  # verified earlier in this process: read it (re-checked if it changed since)
            buf = verified_content(located.paths[stem], info.sha256[stem])
        except BadFile as bad:
            raise DataError(
                bad.message("It changed on disk while being loaded; replace it with a good copy.")
            ) from None
    return buf


def _raw_splits(info: DatasetInfo, located: Located) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(train images uint8 (N, 28, 28), train labels uint8 (N,)), (test ..., test ...)]."""
    splits = []
    for img_role, lab_role in (("train_images", "train_labels"), ("test_images", "test_labels")):
        img_stem, lab_stem = info.files[img_role], info.files[lab_role]
        imgs = parse_idx(_content(info, located, img_stem), located.paths[img_stem])
        labs = parse_idx(_content(info, located, lab_stem), located.paths[lab_stem])
        if imgs.ndim != 3 or labs.ndim != 1 or imgs.shape[0] != labs.shape[0]:
            raise DataError(
                f"{located.paths[img_stem]} and {located.paths[lab_stem]} do not fit together: "
                f"images {imgs.shape}, labels {labs.shape}. Replace them with the published files."
            )
        splits.append((imgs, labs))
    return splits


def load_dataset(
    name: str = "mnist",
    folder: str | os.PathLike | None = None,
    *,
    scaling: str = "course",
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> tuple[Dataset, Dataset]:
    """Load (train, test) of data set ``name`` ("mnist" or "fashion-mnist").

    train.images: float32 (60000, 784); train.labels: int64 (60000,)
    test.images:  float32 (10000, 784); test.labels:  int64 (10000,)

    Images are scaled by ``SCALINGS[scaling]`` ("course": (x - 128) / 255,
    "unit": x / 255). The files are found, verified and if need be downloaded
    as :func:`locate_dataset` does; see the module docstring for the order.
    Raises DataError (with advice) when the data cannot be had, ValueError
    for an unknown name or scaling.
    """
    info = dataset_info(name)
    scale = scaling_function(scaling)  # fail fast, before touching any file
    located = _locate(name, folder, download, cache_dir, mirrors, timeout)
    train, test = (
        Dataset(scale(imgs.reshape(imgs.shape[0], -1)), labs.astype(np.int64))
        for imgs, labs in _raw_splits(info, located)
    )
    return train, test


def load_mnist(folder: str | os.PathLike | None = None, **kw) -> tuple[Dataset, Dataset]:
    """``load_dataset("mnist", folder, **kw)``: (train, test) with images (N, 784) float32."""
    return load_dataset("mnist", folder, **kw)


def describe_dataset(
    name: str = "mnist",
    folder: str | os.PathLike | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    mirrors: Sequence[str] | None = None,
) -> str:
    """A multi-line human summary of data set ``name`` as this loader sees it.

    Lists the folder used and where it came from, each file with its SHA-256
    and OK (every file is verified), the shapes and dtypes of the train/test
    images and labels as :func:`load_dataset` returns them, the pixel range
    under each of :data:`SCALINGS`, and the class counts of both splits.
    Raises what :func:`locate_dataset` raises. This is what
    ``python -m mlp_core data`` prints.
    """
    info = dataset_info(name)
    located = _locate(name, folder, download, cache_dir, mirrors, DOWNLOAD_TIMEOUT)
    (tr_img, tr_lab), (te_img, te_lab) = _raw_splits(info, located)
    lines = [
        f"Data set: {info.name} - {info.title}",
        f"Folder:   {located.folder}",
        f"Source:   {located.source}",
        "Files (SHA-256 of the decompressed content):",
    ]
    width = max(len(p.name) for p in located.paths.values())
    for stem in info.files.values():
        p = located.paths[stem]
        lines.append(f"  {p.name:<{width}}  {info.sha256[stem]}  OK")
    lines.append("As loaded by load_dataset (images flattened, scaled to float32):")
    for split_name, imgs, labs in (("train", tr_img, tr_lab), ("test", te_img, te_lab)):
        shape = (imgs.shape[0], imgs.shape[1] * imgs.shape[2])
        lines.append(
            f"  {split_name + ':':<6} images {shape} float32, labels {labs.shape} int64"
        )
    lo, hi = int(tr_img.min()), int(tr_img.max())
    for sname in SCALINGS:
        vals = SCALINGS[sname](np.array([lo, hi], dtype=np.uint8))
        lines.append(
            f"  scaling {sname!r}: train pixels {lo}..{hi} -> [{vals[0]:.4f}, {vals[1]:.4f}]"
        )
    lines.append("Class counts:")
    named = list(info.classes) != [str(k) for k in range(len(info.classes))]
    names = list(info.classes) if named else [""] * len(info.classes)
    cw = max(len(c) for c in names) if named else 0
    lines.append(f"  {'label':>5} {'':<{cw}}  {'train':>6}  {'test':>6}")
    tr_counts = np.bincount(tr_lab, minlength=len(info.classes))
    te_counts = np.bincount(te_lab, minlength=len(info.classes))
    for k, cname in enumerate(names):
        lines.append(f"  {k:>5} {cname:<{cw}}  {tr_counts[k]:>6}  {te_counts[k]:>6}")
    lines.append(f"  {'total':>5} {'':<{cw}}  {tr_counts.sum():>6}  {te_counts.sum():>6}")
    return "\n".join(lines)
