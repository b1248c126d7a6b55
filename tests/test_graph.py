"""NAS-Bench-Graph: the canonicalisation (checked against the package's own ``Arch.valid_hash``),
the space, and the 9 tables."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pytest

from nasbench.data import DataNotFound
from nasbench.space import INVALID, InvalidArchitecture
from nasbench.spaces import graph as S
from nasbench.tables import graph as T

RAW_LINKS = list(itertools.product([0], [0, 1], [0, 1, 2], [0, 1, 2, 3]))
DATASETS = list(T.DATASETS)


@pytest.fixture(scope="module")
def space():
    return S.graph_space()


@pytest.fixture(scope="module")
def pspace():
    return S.graph_space(proteins=True)


def _package():
    return pytest.importorskip("nas_bench_graph.architecture", reason="nas-bench-graph is not installed")


def _raw_bench(dataset: str) -> dict:
    folder = T.package_data_dir()
    if folder is None:
        pytest.skip("nas-bench-graph is not installed (pip install nas-bench-graph)")
    with open(folder / f"{dataset}.bench", "rb") as f:
        return pickle.load(f)


# ----------------------------------------------------------------- canonicalisation vs the package
def _agree(ops: tuple[str, ...], stride: int) -> int:
    arch = _package()
    checked = 0
    for k, (link, op_ids) in enumerate(itertools.product(RAW_LINKS, itertools.product(range(len(ops)), repeat=4))):
        if k % stride:
            continue
        names = [ops[o] for o in op_ids]
        expect = arch.Arch(list(link), names).valid_hash()
        assert S.arch_hash(link, [S.OPS.index(n) for n in names]) == expect, (link, names)
        checked += 1
    return checked


def test_every_genotype_maps_to_the_packages_hash(space):
    """All 59,049 genotypes (9 link patterns x 9**4 ops): lookup lands on the package's key."""
    arch = _package()
    grid = np.array(list(itertools.product(*(range(c) for c in space.cardinalities))))
    idx = space.lookup(grid)
    for g, i in zip(grid.tolist(), idx.tolist()):
        ops = [S.OPS[o] for o in g[1:]]
        expect = arch.Arch(list(S.LINKS[g[0]]), ops).valid_hash()
        if all(o == "skip" for o in ops):
            assert i == INVALID and expect == S.ALL_SKIP_HASH
        else:
            assert int(space.keys[i]) == expect


def test_canonicalisation_agrees_with_package_proteins_all():
    assert _agree(S.OPS_PROTEINS, stride=1) == 24 * 5**4


def test_canonicalisation_agrees_with_package_all():
    assert _agree(S.OPS, stride=1) == 24 * 9**4  # 157,464 raw architectures


def test_package_constants_match():
    arch = _package()
    assert tuple(arch.gnn_list) == S.OPS
    assert tuple(arch.gnn_list_proteins) == S.OPS_PROTEINS
    assert [tuple(x) for x in arch.link_list] == list(S.LINKS)


# ----------------------------------------------------------------- the space
def test_space_enumeration_is_the_bench_files_keys(space, pspace):
    assert space.n == 26206 and pspace.n == 2021
    assert space.cardinalities == (9, 9, 9, 9, 9) and pspace.cardinalities == (9, 5, 5, 5, 5)
    np.testing.assert_array_equal(space.keys, sorted(_raw_bench("cora")))
    np.testing.assert_array_equal(pspace.keys, sorted(_raw_bench("proteins")))


def test_canonical_genotypes_are_fixed_points(space, pspace):
    for sp in (space, pspace):
        np.testing.assert_array_equal(sp.lookup(sp.genotypes), np.arange(sp.n))
        assert (np.diff(sp.keys) > 0).all()


def test_lookup_canonicalises_hand_cases(space):
    gat, gcn, gin, cheb, skip = (S.OPS.index(o) for o in ("gat", "gcn", "gin", "cheb", "skip"))
    # link 0-0-0-0: four parallel layers, any order is the same architecture
    perms = [[0, *p] for p in itertools.permutations([gat, gcn, gin, cheb])]
    idx = space.lookup(perms)
    assert len(set(idx.tolist())) == 1 and idx[0] >= 0
    # link 0-0-0-1 (pattern 1): layers 2 and 3 are interchangeable, layers 1 and 4 are not
    a, b = space.lookup([[1, gat, gcn, gin, cheb], [1, gat, gin, gcn, cheb]])
    c = space.lookup([[1, gcn, gat, gin, cheb]])[0]
    assert a == b and a != c
    # only skips: not a GNN
    assert (space.lookup([[p, skip, skip, skip, skip] for p in range(9)]) == INVALID).all()
    # out of range
    np.testing.assert_array_equal(space.lookup([[9, 0, 0, 0, 0], [0, 0, 0, 0, 9]]), [INVALID, INVALID])
    with pytest.raises(InvalidArchitecture, match="5 positions"):
        space.lookup([[0, 0, 0, 0]])
    assert space.canonical_genotype(np.array([1, gat, gin, gcn, cheb])).tolist() == [1, gat, gcn, gin, cheb]
    assert space.canonical_genotype(np.array([0, skip, skip, skip, skip])) is None


def test_describe_parse_round_trip_and_raw_links(space, pspace):
    for sp in (space, pspace):
        for i in range(0, sp.n, 7):
            assert sp.parse(sp.describe(i)) == i
    assert space.describe(0) == "link=0-0-0-0 ops=gat,gat,gat,gat"
    # a raw link (layer 4 reads layer 2) is rewritten onto pattern 0-0-0-1 with the ops permuted
    assert space.parse("link=0-0-0-2 ops=gcn,gat,gin,fc") == space.parse("link=0-0-0-1 ops=gat,gcn,gin,fc")
    assert space.parse("0-0-0-2 gcn,gat,gin,fc") == space.parse("0-0-0-1 gat gin gcn fc")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("link=0-0-1-2 ops=gcn,gat,skip", "names 3 ops, expected 4"),
        ("link=0-0-1-2 ops=gcn,gat,skip,mlp", "unknown op(s) ['mlp']"),
        ("link=0-2-1-2 ops=gcn,gat,skip,fc", "is not a link"),
        ("link=0-0-1 ops=gcn,gat,skip,fc", "bad format"),
        ("gcn,gat,skip,fc", "bad format"),
        ("link=0-1-2-3 ops=skip,skip,skip,skip", "only skip layers"),
    ],
)
def test_parse_bad_input_names_the_problem(space, text, problem):
    with pytest.raises(InvalidArchitecture) as err:
        space.parse(text)
    assert problem in str(err.value), str(err.value)


def test_proteins_space_has_its_own_ops(pspace):
    with pytest.raises(InvalidArchitecture, match="unknown op"):
        pspace.parse("link=0-0-1-2 ops=gat,gcn,gcn,gcn")
    assert pspace.describe(0) == "link=0-0-0-0 ops=gcn,gcn,gcn,gcn"


def test_neighbours_symmetric_and_one_edit(space, pspace):
    for sp in (space, pspace):
        nb = sp.neighbors
        valid = nb >= 0
        rows = np.repeat(np.arange(sp.n), valid.sum(axis=1))
        cols = nb[valid]
        assert (cols != rows).all()  # no self-loops
        codes = np.sort(rows.astype(np.int64) * sp.n + cols)
        assert (np.diff(codes) > 0).all()  # no repeats
        back = cols.astype(np.int64) * sp.n + rows
        assert (codes[np.minimum(np.searchsorted(codes, back), codes.size - 1)] == back).all()  # symmetric
        # padding only at the end of a row
        assert (np.sort(~valid, axis=1) == ~valid).all()
    # brute force on a few architectures: neighbours = canonicalised one-edit changes of any of
    # the architecture's genotypes, other than itself
    cards = space.cardinalities
    grid = np.array(list(itertools.product(*(range(c) for c in cards))))
    idx_of = space.lookup(grid)
    for i in np.random.default_rng(0).integers(0, space.n, 12).tolist() + [0]:
        expect = set()
        for g in grid[idx_of == i]:
            for p, c in enumerate(cards):
                for v in range(c):
                    if v != g[p]:
                        h = g.copy()
                        h[p] = v
                        expect.add(int(space.lookup([h])[0]))
        expect -= {i, INVALID}
        assert set(space.neighbors[i][space.neighbors[i] >= 0].tolist()) == expect


def test_graph_form_hand_case(space):
    adj, feats = space.graph
    assert adj.shape == (space.n, 6, 6) and feats.shape == (space.n, 6, 11)
    i = space.parse("link=0-0-1-2 ops=gat,gcn,sage,fc")
    edges = sorted(zip(*np.nonzero(adj[i])))
    # input feeds layers 1, 2; layer 1 feeds 3; layer 2 feeds 4; layers 3 and 4 are read by no layer
    assert edges == [(0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 5)]
    types = feats[i].argmax(axis=1).tolist()
    assert types == [
        0,
        1 + S.OPS.index("gat"),
        1 + S.OPS.index("gcn"),
        1 + S.OPS.index("sage"),
        1 + S.OPS.index("fc"),
        10,
    ]
    j = space.parse("link=0-1-2-3 ops=gcn,gcn,gcn,gcn")
    assert sorted(zip(*np.nonzero(adj[j]))) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]


# ----------------------------------------------------------------- the tables
#: test-performance optimum (percent) of each table, as this loader first read it: a regression
#: check that the table does not change under the loader (the raw file's own maximum is checked too)
OPTIMA = {
    "cora": 83.13,
    "citeseer": 71.57,
    "pubmed": 78.60,
    "cs": 91.26,
    "photo": 92.79,
    "physics": 93.00,
    "computers": 85.58,
    "arxiv": 72.39,
    "proteins": 79.26,
}


@pytest.mark.parametrize("dataset", DATASETS)
def test_table_against_the_raw_file(dataset):
    raw = _raw_bench(dataset)
    b = T.load(dataset)
    assert b.name == f"graph-{dataset}"
    assert b.n_space == b.n_table == len(raw) == (2021 if dataset == "proteins" else 26206)
    assert b.values.shape == (b.n_space, 1)
    for key in list(raw)[:: max(1, len(raw) // 50)]:
        i = int(np.searchsorted(b.space.keys, key))
        assert int(b.space.keys[i]) == key
        assert b.values[i, 0] == pytest.approx(100 * raw[key]["valid_perf"])
        assert b.truth.truth[i] == pytest.approx(100 * raw[key]["perf"])
        assert b.cost[i] == pytest.approx(raw[key]["latency"])
    assert b.truth.optimum == pytest.approx(100 * max(float(r["perf"]) for r in raw.values()))
    assert round(b.truth.optimum, 2) == OPTIMA[dataset]
    assert 1 < np.nanmin(b.values) and np.nanmax(b.values) <= 100  # percent


def test_table_lookup_through_a_raw_architecture():
    """A raw architecture is found by its package hash, through the space's canonicalisation."""
    raw = _raw_bench("cora")
    b = T.load("cora")
    link, names = [0, 1, 0, 2], ["gcn", "skip", "sage", "gat"]
    h = S.arch_hash(link, [S.OPS.index(n) for n in names])
    i = b.space.parse(f"link={'-'.join(map(str, link))} ops={','.join(names)}")
    assert b.truth.truth[i] == pytest.approx(100 * raw[h]["perf"])
    arch = _package()
    assert arch.Arch(link, names).valid_hash() == h


def test_missing_data_names_where_it_looked(tmp_path, monkeypatch):
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("NASARENA_DATA", str(empty))
    monkeypatch.setattr(T, "package_data_dir", lambda: None)
    with pytest.raises(DataNotFound) as err:
        T.load("cora")
    msg = str(err.value)
    assert str(empty / "nas-bench-graph" / "cora.bench") in msg
    assert "pip install nas-bench-graph" in msg
    with pytest.raises(KeyError, match="unknown NAS-Bench-Graph dataset"):
        T.load("reddit")
