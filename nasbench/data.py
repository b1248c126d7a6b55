"""Where data lives, and the cache of converted tables.

Search path for a data file (first hit wins):

1. an explicit ``data_dir`` argument;
2. the environment variable ``NASARENA_DATA``;
3. the cache folder ``$NASARENA_CACHE/data`` (default ``~/.cache/nasarena/data``).

Converted tables (the compact columnar form every loader produces) are cached as ``.npz`` files in
``$NASARENA_CACHE/tables``, keyed by the source file's checksum, and written atomically.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ENV_DATA = "NASARENA_DATA"
ENV_CACHE = "NASARENA_CACHE"


class DataNotFound(FileNotFoundError):
    """A data file is missing: the message says where it was looked for and how to get it."""


class CorruptData(ValueError):
    """A data file exists but is damaged (bad checksum, bad framing, bad content)."""


def cache_dir() -> Path:
    """The cache folder: ``$NASARENA_CACHE`` or ``~/.cache/nasarena``."""
    root = os.environ.get(ENV_CACHE)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "nasarena"


def search_path(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for data, in order."""
    paths: list[Path] = []
    if data_dir is not None:
        paths.append(Path(data_dir).expanduser())
    env = os.environ.get(ENV_DATA)
    if env:
        paths.extend(Path(p).expanduser() for p in env.split(os.pathsep) if p)
    paths.append(cache_dir() / "data")
    return paths


def find_data(
    candidates: list[str],
    how_to_get: str,
    data_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the first existing ``folder / candidate`` over the search path.

    ``candidates`` are relative paths (e.g. ``"nasbench101-subset/nb101_subset_30k.csv.gz"``);
    raises :class:`DataNotFound` naming every place looked in and ``how_to_get``.
    """
    looked = _candidate_paths(candidates, data_dir)
    for p in looked:
        if p.is_file():
            return p
    where = "\n  ".join(str(p) for p in looked)
    raise DataNotFound(
        f"data file not found; looked for:\n  {where}\n"
        f"How to get it: {how_to_get}\n"
        f"Then pass data_dir=..., set {ENV_DATA}=<folder>, or put it under {cache_dir() / 'data'}."
    )


def _candidate_paths(candidates: list[str], data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """Every ``folder / candidate`` over the search path, in the order they are tried."""
    return [folder / rel for folder in search_path(data_dir) for rel in candidates]


def installed_folder(package: str, *parts: str) -> Path | None:
    """The folder ``parts`` inside the installed ``package`` (found without importing it), or
    ``None`` when the package is not installed or lacks the folder."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        folder = Path(root).joinpath(*parts)
        if folder.is_dir():
            return folder
    return None


def find_data_or_installed(
    candidates: list[str],
    how_to_get: str,
    data_dir: str | os.PathLike[str] | None,
    what: str,
    installed: Path | None,
    pip_name: str,
) -> Path:
    """:func:`find_data`, then the file ``installed`` that a pip package ships (``None``: the package
    is not installed). Raises :class:`DataNotFound` naming ``what``, every place looked in and
    ``how_to_get``."""
    try:
        return find_data(candidates, how_to_get, data_dir)
    except DataNotFound:
        pass
    if installed is not None and installed.is_file():
        return installed
    looked = [str(p) for p in _candidate_paths(candidates, data_dir)]
    looked.append(str(installed) if installed is not None else f"the installed package {pip_name!r} (not installed)")
    where = "\n  ".join(looked)
    raise DataNotFound(f"{what} not found; looked in:\n  {where}\nHow to get it: {how_to_get}")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _umask() -> int:
    """The process's umask (read by setting it and restoring it at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a written file follows the umask
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode())


def _source_key(source: Path) -> str:
    """A cheap identity of a source file (size and mtime), checked before the full checksum."""
    st = source.stat()
    return f"{source.resolve()}:{st.st_size}:{int(st.st_mtime_ns)}"


def cached_arrays(
    name: str,
    source: Path,
    build: Callable[[Path], dict[str, np.ndarray]],
    version: int = 1,
    expected_sha256: str | None = None,
) -> dict[str, np.ndarray]:
    """Load the converted arrays of ``source``, building and caching them on first use.

    The cache file holds the source's sha256; a cache whose source changed is rebuilt. With
    ``expected_sha256``, a source whose checksum differs raises :class:`CorruptData`.
    """
    target = cache_dir() / "tables" / f"{name}.v{version}.npz"
    meta_path = target.with_suffix(".json")
    key = _source_key(source)
    if target.is_file() and meta_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            if meta.get("source_key") == key:
                with np.load(target, allow_pickle=False) as z:
                    return {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # damaged cache: named, rebuilt
            log.warning("table cache %s is damaged (%s: %s); rebuilding it from %s", target, type(exc).__name__, exc, source.name)
    digest = sha256_file(source)
    if expected_sha256 is not None and digest != expected_sha256:
        raise CorruptData(
            f"{source} has sha256 {digest}, expected {expected_sha256}: the file is damaged or a "
            "different version; download it again."
        )
    log.info("converting %s into the columnar cache %s", source, target)
    arrays = build(source)
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # (numpy 2 stubs type the keywords as allow_pickle)
    atomic_write_bytes(target, buf.getvalue())
    atomic_write_text(meta_path, json.dumps({"source_key": key, "sha256": digest, "source": str(source)}))
    return arrays


def source_checksum(source: Path) -> str:
    """The sha256 of a source, read from the table cache when it is known there."""
    for meta_path in (cache_dir() / "tables").glob("*.json"):
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if meta.get("source_key") == _source_key(source):
            return str(meta["sha256"])
    return sha256_file(source)
