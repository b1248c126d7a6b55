"""NAS-Bench-101 cells one at a time: the space's constants, pruning and validation as the official
``ModelSpec``, the official module hash, genotypes and NAO token sequences.

The layout of a genotype, the encodings and the sequence form are described in
:mod:`nasbench.spaces.nb101`.
"""

from __future__ import annotations

import functools
from binascii import hexlify as _hexlify
from collections.abc import Sequence
from typing import Any

import numpy as np

from nasbench.space import InvalidArchitecture

try:  # CPython's built-in md5 is about twice as fast as OpenSSL's on short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - CPython built without it
    from hashlib import md5 as _md5


INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: The op labels in the official ``config['available_ops']`` order (genotype op values 0, 1, 2).
OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
#: The Inception-like example cell of the official ``nasbench/api.py`` docstring and README: a 1x1
#: conv, a 3x3 conv, two chained 3x3 convs and a 3x3 max-pool, four branches concatenated at the output.
EXAMPLE_CELL: tuple[list[list[int]], list[str]] = (
    [
        [0, 1, 1, 1, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ],
    [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT],
)
N_OP_VERTICES = MAX_VERTICES - 2
EDGE_POSITIONS: tuple[tuple[int, int], ...] = tuple(
    (i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES)
)
N_EDGE_BITS = len(EDGE_POSITIONS)  # 21
GENOTYPE_LEN = N_EDGE_BITS + N_OP_VERTICES  # 26
CARDINALITIES: tuple[int, ...] = (2,) * N_EDGE_BITS + (len(OPS),) * N_OP_VERTICES
N_NEIGHBORS = N_EDGE_BITS + N_OP_VERTICES * (len(OPS) - 1)  # 31
N_PATHS = sum(len(OPS) ** k for k in range(N_OP_VERTICES + 1))  # 364

# vertex label codes used by the vectorised code: 0..2 the ops, then input and output
_IN_CODE, _OUT_CODE, _PAD_CODE = 3, 4, -1
# AlphaX / LaNAS vertex codes by our label code (conv3x3, conv1x1, maxpool, input, output)
_ALPHAX_CODE = np.array([5, 3, 4, 2, 6], dtype=np.float32)
# SemiNAS op tokens by our label code (conv3x3 4, conv1x1 3, maxpool 5, -, output 6)
_NAO_OP_TOKEN = np.array([4, 3, 5, 0, 6], dtype=np.int32)
NAO_LENGTH = sum(range(2, MAX_VERTICES + 1))  # 27
NAO_VOCAB = 7
_NAO_TOKEN_TO_OP = {3: CONV1X1, 4: CONV3X3, 5: MAXPOOL3X3, 6: OUTPUT}
# graph node feature column by our label code: (input, conv3x3, conv1x1, maxpool, output)
_GRAPH_COLUMN = np.array([1, 2, 3, 0, 4], dtype=np.int64)

_EDGE_I = np.array([i for i, _ in EDGE_POSITIONS])
_EDGE_J = np.array([j for _, j in EDGE_POSITIONS])


# =========================================================================== single cells
def _to_lists(matrix: Any, ops: Sequence[str]) -> tuple[list[list[int]], list[str]]:
    """``matrix`` as a square list of 0/1 int rows and ``ops`` as a list of str, or an error.

    Pure Python on purpose: for 7x7 cells it is several times faster than numpy.
    """
    raw = matrix.tolist() if isinstance(matrix, np.ndarray) else matrix
    try:
        rows = [list(r) for r in raw]
    except TypeError:
        raise InvalidArchitecture(f"NB101 cell: the matrix must be square 2-D, got {matrix!r}") from None
    v = len(rows)
    if any(len(r) != v for r in rows) or any(isinstance(x, (list, tuple, np.ndarray)) for r in rows for x in r):
        shape = np.shape(matrix) if not isinstance(matrix, np.ndarray) else matrix.shape
        raise InvalidArchitecture(f"NB101 cell: the matrix must be square 2-D, got shape {shape}")
    if v < 2:
        raise InvalidArchitecture(f"NB101 cell: a cell needs at least 2 vertices (input, output), got {v}")
    ops = [str(o) for o in ops]
    if len(ops) != v:
        raise InvalidArchitecture(
            f"NB101 cell: {len(ops)} op labels for a {v}x{v} matrix; give one label per vertex"
        )
    for i, row in enumerate(rows):
        for j, x in enumerate(row):
            if x != 0 and x != 1:
                raise InvalidArchitecture(f"NB101 cell: matrix entries must be 0 or 1, got {x!r} at ({i}, {j})")
            if x and j <= i:
                raise InvalidArchitecture(
                    f"NB101 cell: the matrix must be upper-triangular (edges i -> j with i < j only), "
                    f"but entry ({i}, {j}) is 1"
                )
        rows[i] = [int(x) for x in row]
    return rows, ops


def _keep_vertices(rows: list[list[int]]) -> list[int]:
    """Vertices on an input-to-output path, as ``ModelSpec._prune`` finds them ([] if none)."""
    v = len(rows)
    fwd = {0}
    frontier = [0]
    while frontier:
        top = frontier.pop()
        for w in range(top + 1, v):
            if rows[top][w] and w not in fwd:
                fwd.add(w)
                frontier.append(w)
    bwd = {v - 1}
    frontier = [v - 1]
    while frontier:
        top = frontier.pop()
        for w in range(top):
            if rows[w][top] and w not in bwd:
                bwd.add(w)
                frontier.append(w)
    keep = sorted(fwd & bwd)
    return keep if len(keep) >= 2 else []


def prune(matrix: Any, ops: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The pruned cell, exactly as the official ``ModelSpec._prune``.

    Vertices not reachable from the input, or from which the output is not reachable, are
    removed (with their edges and labels); the rest keep their order. Raises
    :class:`InvalidArchitecture` when the input is not connected to the output.
    """
    rows, ops = _to_lists(matrix, ops)
    keep = _keep_vertices(rows)
    if not keep:
        raise InvalidArchitecture(
            f"NB101 cell: the input is not connected to the output (no path from vertex 0 to "
            f"vertex {len(rows) - 1})"
        )
    m = np.array([[rows[i][j] for j in keep] for i in keep], dtype=np.int8)
    return m, [ops[i] for i in keep]


def _check_pruned(m: np.ndarray, ops: list[str]) -> None:
    """The official ``NASBench._check_spec`` rules, on a pruned cell."""
    v = len(ops)
    if v > MAX_VERTICES:
        raise InvalidArchitecture(f"NB101 cell: too many vertices after pruning: {v} (max {MAX_VERTICES})")
    e = int(m.sum())
    if e > MAX_EDGES:
        raise InvalidArchitecture(f"NB101 cell: too many edges after pruning: {e} (max {MAX_EDGES})")
    if ops[0] != INPUT:
        raise InvalidArchitecture(f"NB101 cell: the first op must be {INPUT!r}, got {ops[0]!r}")
    if ops[-1] != OUTPUT:
        raise InvalidArchitecture(f"NB101 cell: the last op must be {OUTPUT!r}, got {ops[-1]!r}")
    for k, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise InvalidArchitecture(
                f"NB101 cell: unsupported op {op!r} at pruned vertex {k}; allowed: {', '.join(OPS)}"
            )


def validate(matrix: Any, ops: Sequence[str]) -> None:
    """Raise :class:`InvalidArchitecture`, naming the broken rule, unless the cell is in the space.

    Same semantics as the official ``NASBench.is_valid(ModelSpec(matrix, ops))``: the matrix must
    be square, one label per vertex, 0/1 and upper-triangular; then the cell is pruned, and the
    *pruned* cell must connect input to output and have at most 7 vertices, at most 9 edges,
    ``input`` first, ``output`` last and known ops in between. (So a vertex that pruning removes
    may carry any label, and an 8-vertex matrix whose pruned form has 7 vertices is valid.)
    """
    m, pops = prune(matrix, ops)
    _check_pruned(m, pops)


def canonical_cell(matrix: Any, ops: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The validated, pruned cell (``int8`` matrix, labels); raises :class:`InvalidArchitecture`."""
    m, pops = prune(matrix, ops)
    _check_pruned(m, pops)
    return m, pops


# ------------------------------------------------------------------- the official hash
@functools.lru_cache(maxsize=64)
def _initial_hash(out_degree: int, in_degree: int, label: int) -> bytes:
    return _md5(str((out_degree, in_degree, label)).encode()).hexdigest().encode()


def _fingerprint(n: int, succ: tuple[int, ...], labels: tuple[int, ...]) -> str:
    """``graph_util.hash_module`` on a cell given as successor bitmasks (uncached).

    Bit-for-bit the official computation: md5 of ``str((out, in, label))`` per vertex, ``n``
    rounds of md5 over ``sorted(in-neighbour hashes) | sorted(out-neighbour hashes) | own``, then
    md5 of ``str(sorted(hashes))``. Strings are handled as ASCII bytes (same bytes, same md5).
    """
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        s = succ[v]
        for w in range(v + 1, n):
            if (s >> w) & 1:
                succs[v].append(w)
                preds[w].append(v)
    hashes = [_initial_hash(len(succs[v]), len(preds[v]), labels[v]) for v in range(n)]
    join = b"".join
    vertices = range(n)
    for _ in vertices:
        new = []
        for v in vertices:
            p, q = preds[v], succs[v]
            if len(p) == 1:
                a = hashes[p[0]]
            else:
                a = join(sorted([hashes[w] for w in p])) if p else b""
            if len(q) == 1:
                b = hashes[q[0]]
            else:
                b = join(sorted([hashes[w] for w in q])) if q else b""
            new.append(_hexlify(_md5(b"%s|%s|%s" % (a, b, hashes[v])).digest()))
        hashes = new
    hashes.sort()
    return _md5(b"['" + b"', '".join(hashes) + b"']").hexdigest()


_cached_fingerprint = functools.lru_cache(maxsize=1 << 18)(_fingerprint)


def _labels_of(ops: list[str]) -> tuple[int, ...]:
    """Official integer labelling: input -1, output -2, ops by index in :data:`OPS`."""
    for k, op in enumerate(ops[1:-1], start=1):
        if op not in OPS:
            raise InvalidArchitecture(
                f"NB101 cell: unsupported op {op!r} at pruned vertex {k}; allowed: {', '.join(OPS)}"
            )
    return (-1, *(OPS.index(op) for op in ops[1:-1]), -2)


def _succ_masks(m: np.ndarray | list[list[int]]) -> tuple[int, ...]:
    return tuple(sum(1 << j for j, x in enumerate(row) if x) for row in (m.tolist() if isinstance(m, np.ndarray) else m))


def module_hash(matrix: Any, ops: Sequence[str]) -> str:
    """The official NAS-Bench-101 module hash (32 hex digits) of the cell's pruned form.

    Reproduces ``ModelSpec(matrix, ops).hash_spec(config['available_ops'])``: isomorphic cells
    hash equal. Needs a connected cell with ``input`` first, ``output`` last and known ops; the
    vertex and edge limits are not checked (use :func:`validate`). Results are cached.
    """
    m, pops = prune(matrix, ops)
    if pops[0] != INPUT or pops[-1] != OUTPUT:
        raise InvalidArchitecture(f"NB101 cell: labels must start with {INPUT!r} and end with {OUTPUT!r}, got {pops}")
    return _cached_fingerprint(len(pops), _succ_masks(m), _labels_of(pops))


# ------------------------------------------------------------------------ genotypes
def cell_to_genotype(matrix: Any, ops: Sequence[str]) -> np.ndarray:
    """The 26-position genotype of a cell of at most 7 vertices (not pruned; embedded if smaller).

    Vertices ``0 .. V-2`` keep their index, the output becomes vertex 6, and the vertices in
    between are isolated with op 0, so that ``genotype_to_cell`` then pruning gives the cell back.
    """
    rows, ops = _to_lists(matrix, ops)
    v = len(rows)
    if v > MAX_VERTICES:
        raise InvalidArchitecture(f"NB101 cell: {v} vertices, a genotype holds at most {MAX_VERTICES}")
    if ops[0] != INPUT or ops[-1] != OUTPUT:
        raise InvalidArchitecture(f"NB101 cell: labels must start with {INPUT!r} and end with {OUTPUT!r}, got {ops}")
    pos = list(range(v - 1)) + [MAX_VERTICES - 1]
    g = np.zeros(GENOTYPE_LEN, dtype=np.int8)
    index = {e: k for k, e in enumerate(EDGE_POSITIONS)}
    for i in range(v):
        for j in range(i + 1, v):
            if rows[i][j]:
                g[index[(pos[i], pos[j])]] = 1
    for k in range(1, v - 1):
        if ops[k] not in OPS:
            raise InvalidArchitecture(f"NB101 cell: unsupported op {ops[k]!r} at vertex {k}; allowed: {', '.join(OPS)}")
        g[N_EDGE_BITS + k - 1] = OPS.index(ops[k])
    return g


def genotype_to_cell(genotype: Sequence[int] | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The 7-vertex cell (``int8`` matrix, labels) of a genotype; it may still need pruning."""
    g = np.asarray(genotype).astype(np.int64).reshape(-1)
    if g.size != GENOTYPE_LEN:
        raise InvalidArchitecture(f"NB101 genotype: {GENOTYPE_LEN} positions expected, got {g.size}")
    card = np.asarray(CARDINALITIES)
    bad = np.flatnonzero((g < 0) | (g >= card))
    if bad.size:
        p = int(bad[0])
        raise InvalidArchitecture(f"NB101 genotype: position {p} is {g[p]}, must be in 0..{card[p] - 1}")
    m = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int8)
    m[_EDGE_I, _EDGE_J] = g[:N_EDGE_BITS]
    ops = [INPUT, *(OPS[int(x)] for x in g[N_EDGE_BITS:]), OUTPUT]
    return m, ops


def random_spec(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    """A random valid cell as the official notebook draws it (NOT uniform over architectures).

    Each upper-triangle bit of a 7x7 matrix is Bernoulli(0.5) and each op uniform over
    :data:`OPS`; invalid cells are rejected and redrawn. This over-represents architectures with
    many isomorphic or prunable forms; sample indices uniformly for a uniform draw. Returns the
    unpruned matrix and labels, like the notebook's ``ModelSpec`` (its ``matrix`` attribute is the
    pruned form: see :func:`canonical_cell`).
    """
    while True:
        g = np.concatenate(
            [rng.integers(0, 2, N_EDGE_BITS), rng.integers(0, len(OPS), N_OP_VERTICES)]
        )
        m, ops = genotype_to_cell(g)
        try:
            validate(m, ops)
        except InvalidArchitecture:
            continue
        return m, ops


# ------------------------------------------------------------------------ NAO tokens
def cell_to_tokens(matrix: Any, ops: Sequence[str]) -> np.ndarray:
    """SemiNAS's 27-token sequence of a cell (given as is; prune it first for the official form)."""
    rows, ops = _to_lists(matrix, ops)
    v = len(rows)
    if v > MAX_VERTICES:
        raise InvalidArchitecture(f"NB101 cell: {v} vertices, the token sequence holds at most {MAX_VERTICES}")
    op_token = {CONV1X1: 3, CONV3X3: 4, MAXPOOL3X3: 5, OUTPUT: 6}
    seq: list[int] = []
    for col in range(1, MAX_VERTICES):
        if col >= v:
            seq += [0] * (col + 1)
            continue
        seq += [rows[r][col] + 1 for r in range(col)]
        if ops[col] not in op_token:
            raise InvalidArchitecture(f"NB101 cell: label {ops[col]!r} at vertex {col} has no token")
        seq.append(op_token[ops[col]])
    return np.asarray(seq, dtype=np.int32)


def nao_token_types() -> tuple[tuple[int, ...], ...]:
    """Tokens allowed at each of the 27 positions (SemiNAS's decoder constraint)."""
    types: list[tuple[int, ...]] = []
    for col in range(1, MAX_VERTICES):
        types += [(1, 2)] * col
        types.append((3, 4, 5, 6))
    return tuple(types)


def tokens_to_cell(tokens: Sequence[int] | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Decode a 27-token sequence into a cell (``int8`` matrix, labels); not validated.

    The cell ends at the first column whose op token is 6 (output); later columns must be padding
    (all 0). Raises :class:`InvalidArchitecture` for a malformed sequence.
    """
    t = [int(x) for x in np.asarray(tokens).reshape(-1)]
    if len(t) != NAO_LENGTH:
        raise InvalidArchitecture(f"NB101 tokens: {NAO_LENGTH} tokens expected, got {len(t)}")
    n = 0
    edges: list[tuple[int, int]] = []
    ops = [INPUT]
    off = 0
    for col in range(1, MAX_VERTICES):
        seg, op = t[off : off + col], t[off + col]
        off += col + 1
        if n:  # after the output: padding only
            if any(seg) or op:
                raise InvalidArchitecture(
                    f"NB101 tokens: column {col} follows the output column {n - 1} but is not padding (0)"
                )
            continue
        if not any(seg) and op == 0:
            raise InvalidArchitecture(f"NB101 tokens: padding at column {col} before any output token (6)")
        for r, x in enumerate(seg):
            if x not in (1, 2):
                raise InvalidArchitecture(f"NB101 tokens: edge token {x} at column {col}, row {r}; must be 1 or 2")
            if x == 2:
                edges.append((r, col))
        if op not in _NAO_TOKEN_TO_OP:
            raise InvalidArchitecture(f"NB101 tokens: op token {op} at column {col}; must be 3, 4, 5 or 6")
        ops.append(_NAO_TOKEN_TO_OP[op])
        if op == 6:
            n = col + 1
    if not n:
        raise InvalidArchitecture("NB101 tokens: no output token (6) in any column")
    m = np.zeros((n, n), dtype=np.int8)
    for r, c in edges:
        m[r, c] = 1
    return m, ops
