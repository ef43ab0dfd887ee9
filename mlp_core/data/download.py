"""Downloading the files of a data set from mirrors, the user's first, then the built-in ones.

Where the files come from
-------------------------
A file is fetched as ``base + name + ".gz"`` from each base URL in turn:

1. the user's mirrors: the environment variable ``MNIST_MIRRORS`` (for
   Fashion-MNIST ``FASHION_MNIST_MIRRORS``; see
   :attr:`~mlp_core.data.registry.DatasetInfo.mirrors_env_var`), base URLs
   separated by spaces or commas; the command line's ``--mirror URL`` puts URLs
   in front of them (:func:`use_mirrors`);
2. the built-in mirrors of the registry, unless the variable also holds the
   word ``only`` (the command line's ``--mirror-only``).

Every download goes to a temporary file in the cache folder, is checked
against the published SHA-256 of its decompressed content, and only then is
renamed into place (``os.replace``): an interrupted or corrupt download never
leaves a file that looks finished, and a mirror serving a wrong file is
refused and the next one asked. A mirror that stays silent for ``timeout``
seconds (to connect, or between two reads) is given up. When every mirror has
failed, the DataError lists each URL tried and why, and the three ways out
(:func:`ways_out`).
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

from .files import BadFile, remember_verified, verified_content
from .idx import GZIP_MAGIC
from .registry import DATASETS, DataError, DatasetInfo

#: The word that, among the user's mirrors, means "and none of the built-in ones".
MIRRORS_ONLY = "only"

_URL_SCHEMES = ("http://", "https://", "file://")


def parse_mirrors(text: str, where: str) -> tuple[list[str], bool]:
    """Base URLs separated by spaces or commas, maybe with the word ``only``.

    Returns (urls, only); each URL ends with "/". ``where`` names the source
    in the DataError raised for an item that is not an http(s):// or file:// URL.
    """
    urls: list[str] = []
    only = False
    for item in text.replace(",", " ").split():
        if item.lower() == MIRRORS_ONLY:
            only = True
        elif item.lower().startswith(_URL_SCHEMES):
            url = item if item.endswith("/") else item + "/"
            if url not in urls:
                urls.append(url)
        else:
            raise DataError(
                f"{where}: {item!r} is not a mirror URL. Give base URLs starting with http://, "
                "https:// or file://, separated by spaces or commas, and the word 'only' to skip "
                'the built-in mirrors, e.g. MNIST_MIRRORS="https://mirror.example.org/mnist/ only".'
            )
    return urls, only


def mirror_urls(info: DatasetInfo) -> list[str]:
    """The base URLs to try for ``info``, in order: the user's (environment), then the built-in ones."""
    text = os.environ.get(info.mirrors_env_var, "")
    urls, only = parse_mirrors(text, f"the environment variable {info.mirrors_env_var}")
    if not only:
        urls += [u for u in info.mirrors if u not in urls]
    return urls


def use_mirrors(urls: Sequence[str], *, only: bool = False) -> None:
    """Try ``urls`` first, for every data set, in this process and the processes it starts.

    Puts them in front of each data set's mirror variable (``MNIST_MIRRORS``...),
    keeping what was there after them; ``only`` adds the word that drops the
    built-in mirrors. Calling it again with a longer list keeps the order given
    (the command line calls it once per ``--mirror``). DataError for a bad URL.
    """
    given, _ = parse_mirrors(" ".join(urls), "--mirror")
    for info in DATASETS.values():
        before, was_only = parse_mirrors(os.environ.get(info.mirrors_env_var, ""), info.mirrors_env_var)
        items = given + [u for u in before if u not in given]
        if only or was_only:
            items.append(MIRRORS_ONLY)
        os.environ[info.mirrors_env_var] = " ".join(items)


def ways_out(info: DatasetInfo, cache: Path) -> str:
    """The three ways to get the files when the loader cannot: local folder, mirror, by hand."""
    files = ", ".join(s + ".gz" for s in info.files.values())
    example = info.mirrors[0] if info.mirrors else "https://mirror.example.org/mnist/"
    return (
        "Three ways out:\n"
        f"  1. a local folder: if you have the four files, set {info.env_var}=/path/to/folder "
        "(or pass --data-dir DIR on the command line, or the folder to load_dataset);\n"
        f"  2. a mirror: set {info.mirrors_env_var}=\"URL [URL...]\" (base URLs, tried before the "
        f"built-in ones; add the word '{MIRRORS_ONLY}' to use only yours), or pass --mirror URL "
        "(and --mirror-only) on the command line;\n"
        f"  3. by hand: download {files} (for example from {example}) and put them in {cache}/ "
        f"or in any folder named by {info.env_var}."
    )


def _fetch(url: str, out, timeout: float) -> None:
    """Stream ``url`` into the open binary file ``out``; the errors of urllib on failure."""
    req = urllib.request.Request(url, headers={"User-Agent": "mlp_core-data/1.0"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        shutil.copyfileobj(resp, out, length=1 << 20)


def _why(exc: BaseException, timeout: float) -> str:
    """A short reason for a failed fetch."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return f"no answer within {timeout:g} s (timed out)"
    if isinstance(reason, BaseException):
        return f"{type(reason).__name__}: {reason}"
    return str(reason)


def download_file(
    info: DatasetInfo, stem: str, cache: Path, mirrors: Sequence[str], timeout: float,
    tried: list[str],
) -> tuple[Path, bytes, str] | None:
    """Fetch ``stem.gz`` from the first mirror that serves a verified copy into ``cache``.

    Returns (final path, verified decompressed content, mirror used), or None
    when every mirror failed; each failure is appended to ``tried`` as
    "URL: why".
    """
    expected = info.sha256[stem]
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + stem + ".gz"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=cache)
        tmp = Path(tmp_name)
        try:
            print(f"downloading {url}", file=sys.stderr, flush=True)
            try:
                with os.fdopen(fd, "wb") as out:
                    _fetch(url, out, timeout)
            except (OSError, ValueError) as exc:  # URLError, HTTPError, timeouts, resets, bad URLs
                tried.append(f"{url}: {_why(exc, timeout)}")
                continue
            try:
                buf = verified_content(tmp, expected, remember=False)
            except BadFile as bad:
                tried.append(
                    f"{url}: {bad.why}; the SHA-256 of its decompressed content is "
                    f"{bad.actual}, expected {expected}"
                )
                continue
            with open(tmp, "rb") as fh:
                gz = fh.read(2) == GZIP_MAGIC
            final = cache / (stem + ".gz" if gz else stem)
            os.replace(tmp, final)
            remember_verified(final, expected)
            return final, buf, mirror
        finally:
            if tmp.exists():
                tmp.unlink()
    return None


def download_missing(
    info: DatasetInfo, stems: Sequence[str], cache: Path, mirrors: Sequence[str], timeout: float
) -> dict[str, tuple[Path, bytes]]:
    """Download the files ``stems`` of ``info`` into ``cache``: stem -> (path, content).

    The smallest file is fetched first, so a network that does not answer is
    found out before 10 MB are asked for; once a mirror has worked it is asked
    first for the remaining files. DataError listing every URL tried and why,
    and the ways out, when a file cannot be had from any mirror.
    """
    created = not cache.exists()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the cache folder {cache} for {info.title}: {exc.strerror or exc}. "
            f"Pass another cache_dir, or set {info.env_var} to a folder holding the four IDX files."
        ) from exc
    urls = list(mirrors)
    got: dict[str, tuple[Path, bytes]] = {}
    for stem in sorted(stems, key=lambda s: info.sizes.get(s, 0)):
        tried: list[str] = []
        result = download_file(info, stem, cache, urls, timeout, tried)
        if result is None:
            if created and not any(cache.iterdir()):
                cache.rmdir()  # leave no empty cache folder behind after a failed first download
            listing = "\n".join(f"  - {line}" for line in tried) or (
                f"  (no mirror to try: {info.mirrors_env_var} says '{MIRRORS_ONLY}' but names none)"
            )
            raise DataError(
                f"could not download {stem}.gz of {info.title} into {cache}. Tried each mirror "
                f"in turn:\n{listing}\n{ways_out(info, cache)}"
            )
        path, content, used = result
        got[stem] = (path, content)
        urls = [used] + [u for u in urls if u != used]
    return got
