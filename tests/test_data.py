"""The data search path (argument, $NASARENA_DATA, pyproject.toml's [tool.nasarena] data, cache), the
data-file catalogue and its missing-data messages, and ``nasarena data``."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
from conftest import require_data

import nasbench
from experiments import cli
from nasbench import data
from nasbench import registry as reg
from nasbench.data import DataFile, DataNotFound

PYPROJECT = '[project]\nname = "nasarena"\n\n[tool.nasarena]\ndata = {folders}\n'


def _fake_project(root: Path, folders: str = '["../shared/data"]', name: str = "nasarena") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(folders=folders).replace('"nasarena"', f'"{name}"', 1))
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $NASARENA_DATA, no project setting, an empty cache: only what a test adds is searched."""
    monkeypatch.delenv("NASARENA_DATA", raising=False)
    monkeypatch.setenv("NASARENA_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data, "project_root", lambda folder=None: None)
    return tmp_path


# ------------------------------------------------------------------ the search path
def test_search_path_order(isolated, monkeypatch):
    tmp = isolated
    root = _fake_project(tmp / "clone" / "main", '["../shared/data", "/abs/data"]')
    monkeypatch.setattr(data, "project_root", lambda folder=None: root)
    monkeypatch.setenv("NASARENA_DATA", os.pathsep.join([str(tmp / "env1"), str(tmp / "env2")]))
    shared = tmp / "clone" / "shared" / "data"
    assert data.search_path(tmp / "arg") == [
        tmp / "arg", tmp / "env1", tmp / "env2", shared, Path("/abs/data"), tmp / "cache" / "data"]
    labels = [why for _, why in data.search_folders(tmp / "arg")]
    assert labels[0].startswith("data_dir") and labels[1] == labels[2] == "$NASARENA_DATA"
    assert labels[3] == labels[4] == "pyproject.toml [tool.nasarena] data" and labels[5] == "$NASARENA_CACHE/data"
    # without the argument and the environment variable: the project's folders, then the cache
    monkeypatch.setenv("NASARENA_DATA", "")
    assert data.search_path() == [shared, Path("/abs/data"), tmp / "cache" / "data"]
    # a folder named twice is searched once, at its first place
    monkeypatch.setenv("NASARENA_DATA", str(shared))
    assert data.search_path() == [shared, Path("/abs/data"), tmp / "cache" / "data"]


def test_first_hit_wins_in_order(isolated, monkeypatch):
    tmp = isolated
    root = _fake_project(tmp / "clone" / "main")
    monkeypatch.setattr(data, "project_root", lambda folder=None: root)
    f = DataFile("f.csv", ("sub/f.csv", "f.csv"), "https://example.org/f.csv")
    places = {k: tmp / k for k in ("arg", "env")}
    places["project"] = tmp / "clone" / "shared" / "data"
    places["cache"] = tmp / "cache" / "data"
    for folder in places.values():
        (folder / "sub").mkdir(parents=True)
    monkeypatch.setenv("NASARENA_DATA", str(places["env"]))
    (places["cache"] / "f.csv").write_text("cache")
    assert data.find_file(f) == places["cache"] / "f.csv"
    (places["project"] / "f.csv").write_text("project")  # the second candidate, in an earlier folder
    assert data.find_file(f) == places["project"] / "f.csv"
    (places["env"] / "sub" / "f.csv").write_text("env")
    assert data.find_file(f) == places["env"] / "sub" / "f.csv"
    (places["arg"] / "f.csv").write_text("arg")
    assert data.find_file(f, places["arg"]) == places["arg"] / "f.csv"


def test_pyproject_setting(tmp_path):
    assert data.project_root(_fake_project(tmp_path / "ours")) == tmp_path / "ours"
    assert data.project_root(_fake_project(tmp_path / "other", name="something-else")) is None
    assert data.project_root(tmp_path / "none") is None  # no pyproject.toml: silently nothing
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "pyproject.toml").write_text("[project\n")
    assert data.project_root(tmp_path / "broken") is None
    assert data.project_data_dirs(tmp_path / "other") == []
    assert data.project_data_dirs(_fake_project(tmp_path / "a" / "b", '["../d", "e", "/abs"]')) == [
        tmp_path / "a" / "d", tmp_path / "a" / "b" / "e", Path("/abs")]
    assert data.project_data_dirs(_fake_project(tmp_path / "s", '"../d"')) == [tmp_path / "d"]  # a string: one folder
    (tmp_path / "none" / "pyproject.toml").parent.mkdir(exist_ok=True)
    (tmp_path / "none" / "pyproject.toml").write_text('[project]\nname = "nasarena"\n')
    assert data.project_data_dirs(tmp_path / "none") == []  # no setting: no folders
    with pytest.raises(ValueError, match=re.escape("[tool.nasarena] data must be a list")):
        data.project_data_dirs(_fake_project(tmp_path / "bad", "3"))


def test_this_checkout_lists_the_shared_data():
    """The project root is the folder above the ``nasbench`` package; its pyproject lists ../shared/data."""
    root = Path(nasbench.__file__).resolve().parents[1]
    assert data.project_root() == root
    assert Path(os.path.normpath(root / ".." / "shared" / "data")) in data.project_data_dirs()
    assert Path(os.path.normpath(root / ".." / "shared" / "data")) in data.search_path()


# ------------------------------------------------------------------ the catalogue and its messages
def test_every_data_file_is_described():
    files = reg.data_files()
    names = [f.name for f, _ in files]
    assert len(names) == len(set(names))
    assert {"nb101_subset_30k.csv.gz", "nas-bench-macro_cifar10.json", "cifar10_jpg.tar.gz"} <= set(names)
    for f, users in files:
        assert users and f.candidates and f.candidates[0].endswith(f.name)
        assert f.source.startswith("https://")
        assert f.sha256 is None or re.fullmatch("[0-9a-f]{64}", f.sha256)
        assert f.commit is None or re.fullmatch("[0-9a-f]{40}", f.commit)
        assert f.name in reg.entry(users[0]).how_to_get
    shared = {f.name: f for f, _ in files if f.name in ("nb101_subset_30k.csv.gz", "nas-bench-macro_cifar10.json",
                                                        "cifar10_jpg.tar.gz")}
    assert all(f.sha256 and f.commit for f in shared.values())  # the files of the shared data set: both recorded


def test_missing_data_message_names_source_checksum_and_where(isolated):
    from nasbench.tables import macro, nb101

    empty = isolated / "empty"
    empty.mkdir()
    for load, f in ((macro.load, macro.FILE), (nb101.load_subset, nb101.SUBSET_FILE)):
        with pytest.raises(DataNotFound) as err:
            load(empty)
        msg = str(err.value)
        assert f.name in msg and f.sha256 in msg and f.source in msg and f.commit in msg
        for folder in (empty, isolated / "cache" / "data"):  # where it looked, i.e. where to put it
            assert str(folder / f.candidates[0]) in msg
        assert "NASARENA_DATA" in msg and "[tool.nasarena] data" in msg and "--data-dir" in msg
        assert len(msg.splitlines()) <= 6


def test_missing_alternatives_name_each_source(isolated):
    from nasbench.train import cifar

    with pytest.raises(DataNotFound) as err:
        cifar.load_cifar10()
    msg = str(err.value)
    for f in cifar.FILES:
        assert f.name in msg and f.sha256 in msg and f.source in msg
    assert msg.startswith("CIFAR-10 not found")


# ------------------------------------------------------------------ nasarena data
def test_cli_data_missing_everything(isolated, capsys):
    assert cli.main(["data"]) == 1
    out, err = capsys.readouterr()
    assert "data search path" in out and str(isolated / "cache" / "data") in out
    assert "nb101_subset_30k.csv.gz: MISSING" in out and "nas-bench-macro_cifar10.json: MISSING" in out
    assert "nasbench_only108.tfrecord: missing (optional)" in out
    assert "https://github.com/xiusu/NAS-Bench-Macro" in out
    line = err.strip().splitlines()
    assert len(line) == 1 and line[0].startswith("data incomplete: missing: ")
    assert "cifar-10-python.tar.gz or cifar10_jpg.tar.gz" in line[0] and "nasbench_only108" not in line[0]
    assert "Traceback" not in out + err


def test_cli_data_checksum_mismatch(isolated, capsys):
    from nasbench.tables import macro

    folder = isolated / "data"
    (folder / "nas-bench-macro").mkdir(parents=True)
    bad = folder / macro.FILE.candidates[0]
    bad.write_text("{}")
    assert cli.main(["--data-dir", str(folder), "data"]) == 1
    out, err = capsys.readouterr()
    digest = hashlib.sha256(b"{}").hexdigest()
    assert f"nas-bench-macro_cifar10.json: CHECKSUM MISMATCH (its sha256 is {digest})" in out
    assert str(bad) in out and f"1. {folder}" in out
    assert "checksum mismatch: nas-bench-macro_cifar10.json" in err and len(err.strip().splitlines()) == 1
    # not verified: the file counts as found
    assert cli.main(["--data-dir", str(folder), "data", "--no-verify"]) == 1  # the other files are still missing
    out, err = capsys.readouterr()
    assert "nas-bench-macro_cifar10.json: found (not verified)" in out and "mismatch" not in err


def test_cli_data_complete_exits_0(isolated, monkeypatch, capsys):
    """A catalogue whose needed files are all found and match: exit 0, whatever optional or
    alternative files are absent."""
    folder = isolated / "data"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a")
    (folder / "c.bin").write_bytes(b"c")
    sha = {k: hashlib.sha256(k.encode()).hexdigest() for k in "abc"}
    a = DataFile("a.bin", ("a.bin",), "https://example.org/a", sha256=sha["a"])
    b = DataFile("b.bin", ("b.bin",), "https://example.org/b", sha256=sha["b"], group="bc")  # c serves instead
    c = DataFile("c.bin", ("c.bin",), "https://example.org/c", group="bc")  # no sha256 recorded
    d = DataFile("d.bin", ("d.bin",), "https://example.org/d", optional=True)
    monkeypatch.setattr(reg, "data_files", lambda: [(a, ["bench-a"]), (b, ["bench-b"]), (c, ["bench-b"]), (d, ["x"])])
    assert cli.main(["--data-dir", str(folder), "data"]) == 0
    out, err = capsys.readouterr()
    assert "a.bin: ok (sha256 verified)" in out and "c.bin: found (no sha256 recorded)" in out
    assert "b.bin: missing (not needed: c.bin is found)" in out and "d.bin: missing (optional)" in out
    assert out.strip().splitlines()[-1].startswith("data complete: 2 file(s) found") and err == ""
    (folder / "c.bin").unlink()  # now neither of the group is found: both named, one needed
    assert cli.main(["--data-dir", str(folder), "data"]) == 1
    assert "missing: b.bin or c.bin" in capsys.readouterr().err


@pytest.mark.data
def test_cli_data_verifies_the_shared_data(capsys):
    """With the real shared data, every file it holds is found and matches its recorded sha256."""
    folder = require_data("nas-bench-macro/nas-bench-macro_cifar10.json").parents[1]
    for rel in ("nasbench101-subset/nb101_subset_30k.csv.gz", "cifar10-jpg/cifar10_jpg.tar.gz"):
        require_data(rel)
    assert cli.main(["--data-dir", str(folder), "data"]) == 0
    out = capsys.readouterr().out
    for name in ("nb101_subset_30k.csv.gz", "nas-bench-macro_cifar10.json", "cifar10_jpg.tar.gz"):
        assert f"{name}: ok (sha256 verified)" in out
