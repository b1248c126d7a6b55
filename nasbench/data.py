"""Where data lives, the data files the benchmarks read, and the cache of converted tables.

Search path for a data file (first hit wins; ``nasarena data`` prints it):

1. an explicit ``data_dir`` argument (the command line's ``--data-dir``);
2. the folders in the environment variable ``NASARENA_DATA`` (separated by ``os.pathsep``; empty
   or unset: none);
3. the folders listed in the project's ``pyproject.toml`` as ``[tool.nasarena] data = [...]``,
   relative to that file's folder (this checkout lists ``"../shared/data"``). It is read from the
   source checkout that holds this package (the folder above ``nasbench/`` when its
   ``pyproject.toml`` names the project ``nasarena``: an editable install or a script run in the
   clone); an installed copy without it has no such folders;
4. the cache folder ``$NASARENA_CACHE/data`` (default ``~/.cache/nasarena/data``).

Each file a benchmark reads from there is described once, by a :class:`DataFile` next to its loader
(name, relative paths tried in each folder, sha256, public source and commit): the loader finds it
with :func:`find_file`, whose :class:`DataNotFound` message names the source, the checksum and where
to put the file, and ``nasarena data`` lists and verifies every such file.

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
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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


PROJECT_NAME = "nasarena"
SETTING = "[tool.nasarena] data"


def _nasarena_pyproject(root: Path) -> dict | None:
    """``root/pyproject.toml`` parsed, when it exists and its ``[project] name`` is ``nasarena``."""
    try:
        with open(root / "pyproject.toml", "rb") as f:
            meta = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return None
    project = meta.get("project")
    return meta if isinstance(project, dict) and project.get("name") == PROJECT_NAME else None


def project_root(folder: str | os.PathLike[str] | None = None) -> Path | None:
    """The source checkout this package runs from: ``folder`` (default: the folder above
    ``nasbench/``) when it holds a ``pyproject.toml`` whose ``[project] name`` is ``nasarena``;
    ``None`` otherwise (e.g. a non-editable install)."""
    root = Path(folder) if folder is not None else Path(__file__).resolve().parents[1]
    return root if _nasarena_pyproject(root) is not None else None


def project_data_dirs(root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders of ``[tool.nasarena] data`` in the ``pyproject.toml`` of ``root`` (default:
    :func:`project_root`), relative to its folder; none without a project root or the setting."""
    base = project_root() if root is None else Path(root)
    meta = _nasarena_pyproject(base) if base is not None else None
    if base is None or meta is None:
        return []
    tool = meta.get("tool", {})
    tool = tool.get("nasarena", {}) if isinstance(tool, dict) else {}
    folders = tool.get("data", []) if isinstance(tool, dict) else []
    if isinstance(folders, str):
        folders = [folders]
    if not isinstance(folders, list) or not all(isinstance(p, str) for p in folders):
        raise ValueError(f"{base / 'pyproject.toml'}: {SETTING} must be a list of folder paths, got {folders!r}")
    return [Path(os.path.normpath(base / Path(p).expanduser())) for p in folders if p]


def search_folders(data_dir: str | os.PathLike[str] | None = None) -> list[tuple[Path, str]]:
    """The folders searched for data, in order, each with where it comes from (a folder named twice
    is kept at its first place)."""
    found: list[tuple[Path, str]] = []
    if data_dir is not None:
        found.append((Path(data_dir).expanduser(), "data_dir / --data-dir"))
    env = os.environ.get(ENV_DATA)
    if env:
        found.extend((Path(p).expanduser(), f"${ENV_DATA}") for p in env.split(os.pathsep) if p)
    found.extend((p, f"pyproject.toml {SETTING}") for p in project_data_dirs())
    found.append((cache_dir() / "data", f"${ENV_CACHE}/data" if os.environ.get(ENV_CACHE) else "the cache folder"))
    seen: set[str] = set()
    out = []
    for folder, why in found:
        key = os.path.normpath(os.path.abspath(folder))
        if key not in seen:
            seen.add(key)
            out.append((folder, why))
    return out


def search_path(data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for data, in order (see the module docstring)."""
    return [folder for folder, _ in search_folders(data_dir)]


WHERE_TO_PUT = (f"pass --data-dir (data_dir=), set {ENV_DATA}=<folder>, or list the folder in "
                f"pyproject.toml {SETTING}")


def find_data(
    candidates: list[str],
    how_to_get: str,
    data_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Return the first existing ``folder / candidate`` over the search path.

    ``candidates`` are relative paths (e.g. ``"nasbench101-subset/nb101_subset_30k.csv.gz"``);
    raises :class:`DataNotFound` naming every place looked in and ``how_to_get``. A file the project
    describes with a :class:`DataFile` is found with :func:`find_file` instead.
    """
    looked = _candidate_paths(candidates, data_dir)
    for p in looked:
        if p.is_file():
            return p
    where = "\n  ".join(str(p) for p in looked)
    raise DataNotFound(
        f"data file not found; looked for:\n  {where}\n"
        f"How to get it: {how_to_get}\n"
        f"Then put it in one of those folders, or {WHERE_TO_PUT}."
    )


@dataclass(frozen=True)
class DataFile:
    """A data file a benchmark reads: the one definition its loader, its :class:`DataNotFound`
    message and ``nasarena data`` share.

    ``candidates`` are paths relative to a folder of the search path, tried in order (the first is
    where to put it); ``source`` is the public place to get it (a release URL, or a repository URL
    and the path in it, at ``commit``); ``sha256`` is that of the file as published (``None``: not
    recorded). Files sharing a ``group`` serve the same benchmarks (one of them suffices); an
    ``optional`` file no suite needs, so ``nasarena data`` does not count it missing."""

    name: str
    candidates: tuple[str, ...]
    source: str
    commit: str | None = None
    sha256: str | None = None
    note: str = ""
    group: str = ""
    optional: bool = False

    def origin(self) -> str:
        """``source`` and, when known, the commit."""
        return f"{self.source} at commit {self.commit}" if self.commit else self.source

    def how_to_get(self) -> str:
        """One line: where to get the file, its checksum and where to put it."""
        return how_to_get((self,))

    def _get_it(self) -> str:
        note = f" ({self.note})" if self.note else ""
        return (f"get {self.name} (sha256 {self.sha256 or 'not recorded'}) from {self.origin()}{note} into "
                f"<data folder>/{self.candidates[0]}")

    def locate(self, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
        """The first existing ``folder / candidate`` over the search path, or ``None``."""
        return next((p for p in _candidate_paths(list(self.candidates), data_dir) if p.is_file()), None)


def how_to_get(files: Sequence[DataFile]) -> str:
    """The ``how_to_get`` line of a benchmark reading one of ``files``: where to get each, its
    checksum and where to put it."""
    return "; or ".join(f._get_it() for f in files) + " (`nasarena data` prints the data folders)"


def find_file(
    files: DataFile | Sequence[DataFile],
    data_dir: str | os.PathLike[str] | None = None,
    what: str | None = None,
) -> Path:
    """The path of the first of ``files`` found on the search path (alternatives, in order of
    preference). Raises :class:`DataNotFound` naming every place looked in, each file's public source
    and sha256, and where to put it; ``what`` names the data in its first line."""
    files = (files,) if isinstance(files, DataFile) else tuple(files)
    for f in files:
        path = f.locate(data_dir)
        if path is not None:
            return path
    names = " or ".join(f.name for f in files)
    rels = [rel for f in files for rel in f.candidates]
    lines = [f"{what or names} not found: {names} is in no folder of the data search path; looked for:"]
    lines += ["  " + ", ".join(str(folder / rel) for rel in rels) for folder in search_path(data_dir)]
    for f in files:
        note = f" ({f.note})" if f.note else ""
        lines.append(f"Source of {f.name}: {f.origin()}{note}; sha256 {f.sha256 or 'not recorded'}.")
    lines.append(f"Put it in one of those folders as {' or '.join(f.candidates[0] for f in files)}, or {WHERE_TO_PUT}.")
    raise DataNotFound("\n".join(lines))


def file_status(f: DataFile, data_dir: str | os.PathLike[str] | None = None,
                verify: bool = True) -> tuple[str, Path | None, str | None]:
    """``(status, path, sha256)`` of a data file: status ``"ok"`` (found, checksum matches),
    ``"found"`` (found; no recorded checksum, or not verified), ``"mismatch"`` or ``"missing"``."""
    path = f.locate(data_dir)
    if path is None:
        return "missing", None, None
    if not verify:
        return "found", path, None
    digest = sha256_file(path)
    if f.sha256 is None:
        return "found", path, digest
    return ("ok" if digest == f.sha256 else "mismatch"), path, digest


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
