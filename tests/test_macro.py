"""NAS-Bench-Macro: the space (keys, indices, neighbours) and the CIFAR-10 table."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require_data

from nasbench.data import CorruptData, DataNotFound
from nasbench.space import INVALID, InvalidArchitecture
from nasbench.spaces import macro as S
from nasbench.tables import macro as T

REL = "nas-bench-macro/nas-bench-macro_cifar10.json"


@pytest.fixture(scope="module")
def space():
    return S.macro_space()


@pytest.fixture(scope="module")
def bench():
    path = require_data(REL)
    return T.load(path.parent.parent)


def test_space_size_and_index(space):
    assert space.n == 6561 == 3**8
    assert int(space.lookup([[2, 2, 2, 1, 2, 2, 2, 0]])[0]) == int("22212220", 3) == 6477
    np.testing.assert_array_equal(space.lookup(space.genotypes), np.arange(space.n))
    np.testing.assert_array_equal(space.lookup([[3, 0, 0, 0, 0, 0, 0, 0]]), [INVALID])
    with pytest.raises(InvalidArchitecture, match="8 layers"):
        space.lookup([[0, 1, 2]])


def test_describe_parse(space):
    assert space.describe(0) == "00000000" and space.describe(6477) == "22212220"
    for i in range(space.n):
        assert space.parse(space.describe(i)) == i
    assert space.parse("MB6_K5-MB6_K5-MB6_K5-MB3_K3-MB6_K5-MB6_K5-MB6_K5-identity") == 6477
    assert space.parse("identity, identity,identity identity identity identity identity MB3_K3") == 1


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2221222", "7 characters, expected 8"),
        ("222122203", "9 characters"),
        ("22212a20", "character(s) ['a']"),
        ("22212320", "character(s) ['3']"),
        ("MB6_K5-MB6_K5", "names 2 layers, expected 8"),
        ("MB6_K5-MB6_K5-MB6_K5-MB3_K3-MB6_K5-MB6_K5-MB6_K5-conv", "unknown layer choice(s) ['conv']"),
    ],
)
def test_bad_keys_name_the_problem(space, text, problem):
    with pytest.raises(InvalidArchitecture) as err:
        space.parse(text)
    assert problem in str(err.value), str(err.value)


def test_neighbours(space):
    nb = space.neighbors
    assert nb.shape == (space.n, 16) and (nb >= 0).all()
    assert sorted(nb[0].tolist()) == sorted(v * 3**k for k in range(8) for v in (1, 2))
    diff = (space.genotypes[nb] != space.genotypes[:, None, :]).sum(axis=2)
    assert (diff == 1).all()
    assert all(len(set(r)) == 16 for r in nb[:500].tolist())


def test_encodings(space):
    x = space.encode("onehot")
    assert x.shape == (space.n, 24)
    assert np.flatnonzero(x[6477]).tolist() == [2, 5, 8, 10, 14, 17, 20, 21]
    assert space.tokens[6477].tolist() == [3, 6, 9, 11, 15, 18, 21, 22] and space.vocab == 25
    assert space.graph is None


def test_table_optimum_and_size(bench):
    assert bench.n_space == bench.n_table == 6561
    assert round(bench.truth.optimum, 2) == 93.13
    # two keys tie at the optimum: the best network and its twin with the identity layer moved
    thr, k = bench.truth.target()
    assert k == 2
    best = sorted(bench.space.describe(i) for i in np.flatnonzero(bench.truth.truth == thr))
    assert best == ["22212202", "22212220"]
    assert (bench.n_repeats == 3).all()


def test_table_matches_json_on_hand_cases(bench):
    raw = json.loads(require_data(REL).read_text())
    for key in ["02012100", "11111221", "00000000", "22222222"]:
        i = bench.space.parse(key)
        np.testing.assert_allclose(bench.values[i], raw[key]["test_acc"])
        assert bench.truth.truth[i] == pytest.approx(raw[key]["mean_acc"])
        assert bench.cost[i] == pytest.approx(raw[key]["flops"] / 1e6)
    # ground truth is the mean of the three runs
    np.testing.assert_allclose(bench.truth.truth, bench.values.mean(axis=1), atol=1e-9)
    assert bench.metric.startswith("test accuracy (%)")


def test_missing_file_names_where_it_looked(tmp_path, monkeypatch):
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("NASARENA_DATA", str(empty))
    monkeypatch.setattr("nasbench.data.project_root", lambda folder=None: None)  # not the checkout's ../shared/data
    with pytest.raises(DataNotFound) as err:
        T.load()
    msg = str(err.value)
    assert str(empty / "nas-bench-macro" / "nas-bench-macro_cifar10.json") in msg
    assert str(empty / "nas-bench-macro_cifar10.json") in msg
    assert "xiusu/NAS-Bench-Macro" in msg


def test_corrupt_file_is_reported(tmp_path, monkeypatch):
    d = tmp_path / "data" / "nas-bench-macro"
    d.mkdir(parents=True)
    (d / "nas-bench-macro_cifar10.json").write_text('{"0000": {"test_acc": [1, 2, 3]}')
    monkeypatch.setenv("NASARENA_DATA", str(tmp_path / "data"))
    with pytest.raises(CorruptData, match="not readable JSON"):
        T.load()
