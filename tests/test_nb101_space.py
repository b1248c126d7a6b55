"""NAS-Bench-101 space: validation, pruning, the official hash, genotypes, encodings, neighbours.

Hash checks use two independent references: a literal transcription of the official
``graph_util.hash_module`` (numpy, hashlib, ``str`` formatting exactly as upstream) and, in
``test_nb101_tables.py``, the hashes published in the real data.
"""

from __future__ import annotations

import hashlib
import itertools

import numpy as np
import pytest

from nasbench.space import INVALID, OUT_OF_TABLE, InvalidArchitecture
from nasbench.spaces import nb101 as S

IN, OUT = S.INPUT, S.OUTPUT
C3, C1, MP = S.CONV3X3, S.CONV1X1, S.MAXPOOL3X3

CHAIN = ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [IN, C3, OUT])
INCEPTION = S.EXAMPLE_CELL  # the Inception-like cell of the official api.py docstring


def reference_hash(matrix, ops) -> str:
    """The official ``ModelSpec.hash_spec`` -> ``graph_util.hash_module``, transcribed literally
    (on an already pruned cell)."""
    matrix = np.asarray(matrix)
    labeling = [-1] + [S.OPS.index(op) for op in ops[1:-1]] + [-2]
    vertices = np.shape(matrix)[0]
    in_edges = np.sum(matrix, axis=0).tolist()
    out_edges = np.sum(matrix, axis=1).tolist()
    hashes = list(zip(out_edges, in_edges, labeling))
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in hashes]
    for _ in range(vertices):
        new_hashes = []
        for v in range(vertices):
            in_neighbors = [hashes[w] for w in range(vertices) if matrix[w, v]]
            out_neighbors = [hashes[w] for w in range(vertices) if matrix[v, w]]
            new_hashes.append(
                hashlib.md5(
                    ("".join(sorted(in_neighbors)) + "|" + "".join(sorted(out_neighbors)) + "|" + hashes[v]).encode("utf-8")
                ).hexdigest()
            )
        hashes = new_hashes
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def random_valid_cells(n: int, seed: int) -> list[tuple[np.ndarray, list[str]]]:
    rng = np.random.default_rng(seed)
    return [S.canonical_cell(*S.random_spec(rng)) for _ in range(n)]


# ------------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("matrix", "ops", "rule"),
    [
        ([[0, 1, 0], [0, 0, 1]], [IN, C3, OUT], "square"),
        ([[0, 1], [0, 0]], [IN, C3, OUT], "3 op labels for a 2x2"),
        ([[0, 2], [0, 0]], [IN, OUT], "0 or 1"),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], [IN, C3, OUT], r"upper-triangular.*\(2, 0\)"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [IN, C3, OUT], "not connected"),
        ([[0]], [IN], "at least 2 vertices"),
        (np.eye(8, k=1, dtype=int), [IN] + [C3] * 6 + [OUT], "too many vertices after pruning: 8"),
        (np.triu(np.ones((6, 6), dtype=int), 1), [IN] + [C3] * 4 + [OUT], "too many edges after pruning: 15"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, OUT], "first op must be 'input'"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [IN, C3, C3], "last op must be 'output'"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [IN, "conv5x5", OUT], "unsupported op 'conv5x5'"),
    ],
)
def test_validate_names_the_broken_rule(matrix, ops, rule):
    with pytest.raises(InvalidArchitecture, match=rule):
        S.validate(matrix, ops)


def test_validate_accepts_official_examples():
    S.validate(*CHAIN)
    S.validate(*INCEPTION)
    S.validate([[0, 1], [0, 0]], [IN, OUT])  # input straight to output


def test_limits_apply_after_pruning_as_official_is_valid():
    # 10 edges, but one vertex (5) is a dead end: pruning removes it and its edge -> 9 edges, valid
    m = np.zeros((7, 7), dtype=int)
    for i, j in [(0, 1), (0, 2), (0, 3), (0, 4), (1, 6), (2, 6), (3, 6), (4, 6), (1, 2), (0, 5)]:
        m[i, j] = 1
    assert m.sum() == 10
    S.validate(m, [IN, C3, C3, C3, C3, C3, OUT])
    # a dangling vertex may carry any label (official checks labels of the pruned cell only)
    S.validate(m, [IN, C3, C3, C3, C3, "anything", OUT])
    # an 8-vertex matrix whose pruned form has 7 vertices is valid: 0-1-2-3-4-5-7, 6 a dead end
    m8 = np.zeros((8, 8), dtype=int)
    for i, j in [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 7), (1, 6)]:
        m8[i, j] = 1
    pm, pops = S.prune(m8, [IN] + [C3] * 6 + [OUT])
    assert len(pops) == 7 and pm.sum() == 6
    S.validate(m8, [IN] + [C3] * 6 + [OUT])


# ----------------------------------------------------------------------------------- pruning
def test_prune_removes_vertices_off_input_output_paths():
    # 0 -> 1 -> 3(out); 2 hangs off the input (no way out); vertex 1 also feeds 2
    m = [[0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    pm, pops = S.prune(m, [IN, C3, MP, OUT])
    np.testing.assert_array_equal(pm, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert pops == [IN, C3, OUT]
    # a vertex the input cannot reach is removed too
    m = [[0, 0, 1, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]]
    pm, pops = S.prune(m, [IN, C1, C3, OUT])
    np.testing.assert_array_equal(pm, [[0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert pops == [IN, C3, OUT]
    # a full DAG is unchanged
    pm, pops = S.prune(*INCEPTION)
    np.testing.assert_array_equal(pm, INCEPTION[0])
    assert pops == INCEPTION[1]
    with pytest.raises(InvalidArchitecture, match="not connected"):
        S.prune([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [IN, C3, OUT])


# -------------------------------------------------------------------------------------- hash
def test_hash_matches_the_literal_official_algorithm():
    assert S.module_hash(*CHAIN) == reference_hash(*CHAIN)
    assert S.module_hash(*INCEPTION) == reference_hash(*INCEPTION)
    for m, ops in random_valid_cells(200, seed=0):
        assert S.module_hash(m, ops) == reference_hash(m, ops)


def test_hash_is_invariant_to_isomorphic_relabelling_and_pruning():
    m, ops = (np.asarray(INCEPTION[0]), INCEPTION[1])
    h = S.module_hash(m, ops)
    # every relabelling of the interior vertices that keeps the matrix upper-triangular
    n_iso = 0
    for perm in itertools.permutations(range(1, 6)):
        p = [0, *perm, 6]
        pm = m[np.ix_(p, p)]
        if np.tril(pm).any():
            continue
        n_iso += 1
        assert S.module_hash(pm, [ops[k] for k in p]) == h
    assert n_iso > 1
    # adding a dead-end vertex does not change the architecture
    m8 = np.zeros((8, 8), dtype=int)
    m8[:7, :7] = m
    m8[:, [6, 7]] = m8[:, [7, 6]]  # old output column moves to 7
    m8[1, 6] = 1  # vertex 6 is a dead end hanging off vertex 1
    assert S.module_hash(m8, [*ops[:6], MP, OUT]) == h


def test_hash_changes_with_an_op_or_an_edge():
    h = S.module_hash(*INCEPTION)
    m, ops = INCEPTION
    assert S.module_hash(m, [IN, C3, C3, C3, C3, MP, OUT]) != h  # conv1x1 -> conv3x3
    m2 = np.asarray(m).copy()
    m2[0, 6] = 1
    assert S.module_hash(m2, ops) != h
    # two chains of the same length with different ops differ; same ops in another order differ
    assert S.module_hash([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0] * 4], [IN, C3, C1, OUT]) != S.module_hash(
        [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0] * 4], [IN, C1, C3, OUT]
    )


def test_two_parallel_branches_in_either_order_are_one_architecture():
    m = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    assert S.module_hash(m, [IN, C3, C1, OUT]) == S.module_hash(m, [IN, C1, C3, OUT])
    assert S.module_hash(m, [IN, C3, C1, OUT]) != S.module_hash(m, [IN, C3, C3, OUT])


def test_integer_fingerprint_agrees_with_the_md5_hash():
    """``wl_keys`` (used for the neighbour table) partitions cells exactly as the official hash."""
    rng = np.random.default_rng(3)
    g = np.concatenate([rng.integers(0, 2, (3000, 21)), rng.integers(0, 3, (3000, 5))], axis=1)
    keys = S.wl_keys_of_genotypes(g)
    batch = S.prune_batch(g)
    hashes = {}
    for k in np.flatnonzero(batch.valid):
        m, ops = S.genotype_to_cell(g[k])
        hashes.setdefault(S.module_hash(m, ops), set()).add(tuple(keys[k]))
    assert all(len(v) == 1 for v in hashes.values())  # same hash -> same key
    assert len({next(iter(v)) for v in hashes.values()}) == len(hashes)  # different hash -> different key
    assert len(hashes) > 500
    # invalid rows agree with validate()
    for k in range(300):
        m, ops = S.genotype_to_cell(g[k])
        try:
            S.validate(m, ops)
            ok = True
        except InvalidArchitecture:
            ok = False
        assert ok == bool(batch.valid[k])


# --------------------------------------------------------------------------------- genotypes
def test_genotype_layout_and_round_trip():
    g = S.cell_to_genotype(*CHAIN)
    # chain embedded: edges (0,1) and (1,6); ops conv3x3 at 1, placeholders 0 elsewhere
    expect = np.zeros(26, dtype=np.int8)
    expect[S.EDGE_POSITIONS.index((0, 1))] = 1
    expect[S.EDGE_POSITIONS.index((1, 6))] = 1
    np.testing.assert_array_equal(g, expect)
    assert S.EDGE_POSITIONS[:7] == ((0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (0, 6), (1, 2))
    m, ops = S.genotype_to_cell(g)
    pm, pops = S.prune(m, ops)
    np.testing.assert_array_equal(pm, CHAIN[0])
    assert pops == CHAIN[1]
    for cm, cops in random_valid_cells(100, seed=1):
        pm, pops = S.prune(*S.genotype_to_cell(S.cell_to_genotype(cm, cops)))
        np.testing.assert_array_equal(pm, cm)
        assert pops == cops
    canon, valid = S.canonical_genotypes(np.stack([S.cell_to_genotype(*c) for c in random_valid_cells(50, 2)]))
    assert valid.all()
    with pytest.raises(InvalidArchitecture, match="position 21 is 3"):
        S.genotype_to_cell([0] * 21 + [3, 0, 0, 0, 0])


def test_random_spec_is_valid_and_seeded():
    a = [S.random_spec(np.random.default_rng(5)) for _ in range(2)]
    np.testing.assert_array_equal(a[0][0], a[1][0])
    assert a[0][1] == a[1][1]
    for m, ops in (S.random_spec(np.random.default_rng(s)) for s in range(30)):
        S.validate(m, ops)
        assert m.shape == (7, 7)


# ------------------------------------------------------------------------------------ tokens
def test_tokens_hand_case_and_round_trip():
    t = S.cell_to_tokens(*CHAIN)
    assert t.tolist() == [2, 4, 1, 2, 6] + [0] * 22
    m, ops = S.tokens_to_cell(t)
    np.testing.assert_array_equal(m, CHAIN[0])
    assert ops == CHAIN[1]
    assert S.cell_to_tokens(*INCEPTION)[:5].tolist() == [2, 3, 2, 1, 4]  # col 1: edge, conv1x1; col 2
    cells = random_valid_cells(100, seed=4)
    g = np.stack([S.cell_to_genotype(*c) for c in cells])
    vec = S.encode_tokens(g)
    for k, (cm, cops) in enumerate(cells):
        np.testing.assert_array_equal(vec[k], S.cell_to_tokens(cm, cops))
        dm, dops = S.tokens_to_cell(vec[k])
        np.testing.assert_array_equal(dm, cm)
        assert dops == cops
    types = S.nao_token_types()
    assert len(types) == 27 and types[0] == (1, 2) and types[1] == (3, 4, 5, 6) and types[26] == (3, 4, 5, 6)
    assert [p for p, ty in enumerate(types) if ty == (3, 4, 5, 6)] == [1, 4, 8, 13, 19, 26]  # SemiNAS offsets


@pytest.mark.parametrize(
    ("tokens", "msg"),
    [
        ([2, 4, 1, 2, 4] + [0] * 22, "padding at column 3 before any output"),
        ([2, 6, 1, 2, 6] + [0] * 22, "column 2 follows the output"),
        ([3, 4, 1, 2, 6] + [0] * 22, "edge token 3"),
        ([2, 2, 1, 2, 6] + [0] * 22, "op token 2"),
        ([2, 4], "27 tokens"),
    ],
)
def test_tokens_to_cell_rejects_malformed_sequences(tokens, msg):
    with pytest.raises(InvalidArchitecture, match=msg):
        S.tokens_to_cell(tokens)


# --------------------------------------------------------------------------------- encodings
def test_encodings_hand_case_chain():
    g = S.cell_to_genotype(*CHAIN)[None, :]
    path = S.encode_path(g)
    assert path.shape == (1, 364) and path.sum() == 1 and path[0, 1] == 1  # 3**0 * (conv3x3 0 + 1)
    # add input -> output: the empty path (index 0) appears too
    g2 = S.cell_to_genotype([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [IN, MP, OUT])[None, :]
    assert np.flatnonzero(S.encode_path(g2)[0]).tolist() == [0, 3]  # maxpool: 3**0 * (2 + 1)
    # a 2-op chain conv1x1 -> maxpool: index 3**0*(1+1) + 3**1*(2+1) = 11
    g3 = S.cell_to_genotype([[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0] * 4], [IN, C1, MP, OUT])[None, :]
    assert np.flatnonzero(S.encode_path(g3)[0]).tolist() == [11]

    onehot = S.encode_onehot(g)[0]
    assert onehot.shape == (36,)
    assert np.flatnonzero(onehot[:21]).tolist() == [S.EDGE_POSITIONS.index((0, 1)), S.EDGE_POSITIONS.index((1, 6))]
    assert onehot[21:].tolist() == [1, 0, 0] + [0] * 12  # conv3x3 at vertex 1, padding vertices all zero

    adj = S.encode_adjacency(g)[0]
    assert adj.shape == (49,)
    rows = adj[:42].reshape(6, 7)
    assert rows[0].tolist() == [0, 1, 0, 0, 0, 0, 0] and rows[1].tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert adj[42:].tolist() == [2, 5, 0, 0, 0, 0, 6]

    meta = S.encode_metadnn(g)[0]
    assert meta.shape == (56,)
    assert meta[:9].tolist() == [0, 1, 0, 0, 0, 1, 0, 0, 0] and not meta[9:49].any()
    assert meta[49:].tolist() == [2, 5, 9, 9, 9, 9, 9]  # output gets no code (AlphaX's net_encoder)
    meta7 = S.encode_metadnn(S.cell_to_genotype(*INCEPTION)[None, :])[0]
    assert meta7[:49].tolist() == np.asarray(INCEPTION[0]).reshape(-1).tolist()
    assert meta7[49:].tolist() == [2, 3, 5, 5, 5, 4, 9]

    a, x = S.encode_graph(g)
    assert a.shape == (1, 7, 7) and x.shape == (1, 7, 5)
    assert a[0, 0, 1] == 1 and a[0, 1, 6] == 1 and a.sum() == 2
    assert x[0].tolist() == [[1, 0, 0, 0, 0], [0, 1, 0, 0, 0]] + [[0] * 5] * 4 + [[0, 0, 0, 0, 1]]


def test_path_encoding_matches_path_enumeration():
    cells = random_valid_cells(60, seed=6)
    enc = S.encode_path(np.stack([S.cell_to_genotype(*c) for c in cells]))
    code = {C3: 0, C1: 1, MP: 2}
    for k, (m, ops) in enumerate(cells):
        n = len(ops)
        paths = [[] for _ in range(n)]
        paths[0] = [[]]
        for v in range(n):  # all paths from the input, in topological order
            for w in range(v + 1, n):
                if m[v, w]:
                    paths[w] += [p + ([ops[v]] if v else []) for p in paths[v]]
        want = {sum(3**i * (code[op] + 1) for i, op in enumerate(p)) for p in paths[-1]}
        assert set(np.flatnonzero(enc[k]).tolist()) == want


# -------------------------------------------------------------------------- space, neighbours
CELLS = [
    CHAIN,
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [IN, C1, OUT]),
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [IN, MP, OUT]),
    ([[0, 1], [0, 0]], [IN, OUT]),
    ([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [IN, C3, OUT]),
    INCEPTION,
]


@pytest.fixture(scope="module")
def tiny():
    return S.NB101Space.from_cells(CELLS, name="tiny")


def test_tiny_space_lookup_describe_parse(tiny):
    assert tiny.n == 6 and tiny.cardinalities == S.CARDINALITIES
    np.testing.assert_array_equal(tiny.lookup(tiny.genotypes), np.arange(6))
    assert tiny.hash_of(0) == S.module_hash(*CHAIN)
    assert tiny.describe(0) == "010|001|000 input,conv3x3-bn-relu,output"
    for i in range(tiny.n):
        assert tiny.parse(tiny.describe(i)) == i
    assert tiny.parse("0110|0001|0001|0000 input,conv3x3-bn-relu,conv3x3-bn-relu,output") == OUT_OF_TABLE
    with pytest.raises(InvalidArchitecture, match="not connected"):
        tiny.parse("010|000|000 input,conv3x3-bn-relu,output")
    with pytest.raises(InvalidArchitecture, match="cannot parse"):
        tiny.parse("hello")
    # an isomorphic, unpruned form of the Inception cell is the same index
    m = np.asarray(INCEPTION[0])
    p = [0, 2, 1, 3, 4, 5, 6]
    assert tiny.index_of_cell(m[np.ix_(p, p)], [INCEPTION[1][k] for k in p]) == 5
    # out-of-range values and disconnected cells are INVALID
    bad = np.zeros((2, 26), dtype=int)
    bad[0, 21] = 7
    np.testing.assert_array_equal(tiny.lookup(bad), [INVALID, INVALID])
    assert tiny.canonical_genotype(bad[1]) is None
    np.testing.assert_array_equal(tiny.canonical_genotype(tiny.genotypes[2]), tiny.genotypes[2])
    with pytest.raises(ValueError, match="same architecture"):
        S.NB101Space.from_cells([CHAIN, ([[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0], [0] * 4], [IN, C3, MP, OUT])])


def test_tiny_space_neighbours_by_hand_and_by_hash(tiny):
    nb = tiny.neighbors
    assert nb.shape == (6, 31) and nb.dtype == np.int32
    e = S.EDGE_POSITIONS.index
    row = nb[0]  # the chain input -> conv3x3 -> output, embedded as 0 -> 1 -> 6
    assert row[e((0, 1))] == INVALID and row[e((1, 6))] == INVALID  # cut the only path
    assert row[e((0, 6))] == 4  # adds input -> output: cell 4
    assert row[e((0, 2))] == 0  # an edge into a padding vertex is pruned away: itself
    assert row[21] == 1 and row[22] == 2  # vertex 1: conv3x3 -> conv1x1, -> maxpool
    assert (row[23:] == 0).all()  # op changes of padding vertices: itself
    assert nb[3][e((0, 1))] == 3  # input -> output plus a dead end: itself
    assert nb[3][e((0, 6))] == INVALID
    # every entry equals the exact (md5) lookup of the mutated genotype
    for i in range(tiny.n):
        np.testing.assert_array_equal(nb[i], tiny.lookup(S.mutations(tiny.genotypes[i : i + 1])[0]))


def test_features_and_tokens_shapes(tiny):
    assert sorted(tiny.features) == ["adjacency", "metadnn", "onehot", "path"]
    dims = {"onehot": 36, "adjacency": 49, "path": 364, "metadnn": 56}
    for kind, d in dims.items():
        x = tiny.encode(kind)
        assert x.shape == (6, d) and x.dtype == np.float32
    assert tiny.tokens.shape == (6, 27) and tiny.vocab == 7
    assert tiny.graph[0].shape == (6, 7, 7) and tiny.graph[1].shape == (6, 7, 5)
    assert tiny.info()["n"] == 6


def test_lookup_memo_bound_never_drops_a_batch_half_way():
    """Regression: the memo used to be cleared *inside* a batch when it reached its bound, so the
    batch's first rows were gone when the answers were gathered (a KeyError mid-search)."""
    space = S.NB101Space.from_cells(CELLS, name="tiny-memo")
    space._cache.update({i.to_bytes(4, "little"): 0 for i in range((1 << 20) - 1)})  # crosses mid-batch
    np.testing.assert_array_equal(space.lookup(space.genotypes), np.arange(6))
    assert len(space._cache) == (1 << 20) - 1 + 6
    np.testing.assert_array_equal(space.lookup(space.genotypes[:2]), [0, 1])  # over the bound: cleared first
    assert len(space._cache) == 2
