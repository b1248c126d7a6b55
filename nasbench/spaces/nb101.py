"""The NAS-Bench-101 cell space (Ying et al., ICML 2019): <= 7 vertices, <= 9 edges, 3 ops.

A *cell* is an upper-triangular 0/1 adjacency matrix (``matrix[i][j] = 1``: an edge ``i -> j``)
with one label per vertex: ``input`` first, ``output`` last, and ``conv3x3-bn-relu``,
``conv1x1-bn-relu`` or ``maxpool3x3`` in between (:data:`OPS`). As in the official ``nasbench``
code, a cell is first *pruned* (vertices not on an input-to-output path are removed, see
:func:`prune`) and then checked (:func:`validate`); two cells are the same architecture when their
pruned forms have the same official *module hash* (:func:`module_hash`, an iterated-md5
Weisfeiler-Lehman fingerprint that reproduces the published hashes of the dataset).

Genotype (26 categorical positions, :data:`CARDINALITIES`):

* positions 0..20: the 21 upper-triangle bits of a 7x7 matrix, row-major (``(0,1), (0,2), ...,
  (0,6), (1,2), ..., (5,6)``; :data:`EDGE_POSITIONS`);
* positions 21..25: the ops of vertices 1..5 (0 = conv3x3-bn-relu, 1 = conv1x1-bn-relu,
  2 = maxpool3x3, the official ``available_ops`` order).

A cell with fewer than 7 vertices is *embedded*: its vertices ``0 .. V-2`` keep their indices, its
output becomes vertex 6, and vertices ``V-1 .. 5`` are isolated (so pruning removes them again)
with the placeholder op 0. The space's genotypes are the embedded pruned cells of the table.

Encodings (``NB101Space.features``, all ``[n, d]`` float32, computed vectorised):

* ``"onehot"`` (36): the 21 edge bits of the embedded cell, then a one-hot block of 3 per op
  vertex 1..5 (all zero for an absent, i.e. padding, vertex).
* ``"adjacency"`` (49): LaNAS's 49-float vector (42 padded adjacency entries + 7 op codes), as we
  reconstruct it: LaNAS reads it from AlphaX's preprocessed ``nasbench_dataset`` (a Google Drive
  download we do not have), and no released code shows its exact layout. Ours: rows 0..5 of the
  embedded 7x7 matrix, row-major (42 entries; row 6, the output's, is always zero), then 7 vertex
  codes with AlphaX's Meta-DNN numbering (input 2, conv1x1 3, maxpool 4, conv3x3 5, output 6) and
  0 for a padding vertex.
* ``"path"`` (364): BANANAS's path encoding (naszilla/bananas ``Cell.encode_paths``): one bit per
  input-to-output path, a path being the sequence of ops on it; a path of ops ``o_0 .. o_{k-1}``
  (k = 0..5) has index ``sum_i 3**i * (code(o_i) + 1)`` with code conv3x3 0, conv1x1 1, maxpool 2.
* ``"metadnn"`` (56): AlphaX's Meta-DNN input (``net_predictor.predict_encoder``): the *pruned*
  ``V x V`` matrix flattened row-major and zero-padded at the end to 49 entries (not embedded in
  7x7), then the codes of all labels but the last (AlphaX's ``net_encoder`` iterates
  ``range(len(node_list) - 1)``, so ``output`` gets no code): input 2, conv1x1 3, maxpool 4,
  conv3x3 5, padded with 9 to 7 codes. A 7-vertex cell therefore ends with a single 9.

Sequence form (NAO / SemiNAS ``convert_arch_to_seq``): for columns 1..6 of the pruned cell, the
edge tokens of rows ``0 .. col-1`` (1 no edge, 2 edge), then the op token of the column's vertex
(3 conv1x1, 4 conv3x3, 5 maxpool, 6 output); columns past the output are all 0 (padding).
Length 27, vocabulary 7. ``token_types`` follows SemiNAS's decoder, which forces ``{1, 2}`` at edge
positions and ``{3, 4, 5, 6}`` at op positions (padding is never decoded; it only appears in the
encodings of cells with fewer than 7 vertices). :func:`tokens_to_cell` decodes.

Graph form (``graph``): adjacency ``[n, 7, 7]`` of the embedded cell and node features
``[n, 7, 5]`` one-hot over ``(input, conv3x3, conv1x1, maxpool, output)``, zero rows for padding
vertices (the output is always vertex 6).

Mutation neighbours (``neighbors [n, 31]``): every single edge flip (21) of the embedded genotype,
then every op change (vertex 1..5, to op ``(v + 1) % 3`` then ``(v + 2) % 3``). Each maps to the
architecture's index, ``OUT_OF_TABLE`` or ``INVALID``. A mutation that touches only a padding
vertex gives the cell itself (its own index), as mutating the 7x7 matrix does in the official code.
The table is computed vectorised with an integer Weisfeiler-Lehman fingerprint that refines
exactly as the md5 one does (two independent 64-bit lanes; see :func:`wl_keys`): the 13 million
mutations of all 423,624 cells take under a minute, against about half an hour of md5 hashing.
:meth:`NB101Space.lookup` itself always uses the official md5 hash.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from binascii import hexlify as _hexlify
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasbench.space import INVALID, OUT_OF_TABLE, InvalidArchitecture, Space

try:  # CPython's built-in md5 is about twice as fast as OpenSSL's on short inputs
    from _md5 import md5 as _md5
except ImportError:  # pragma: no cover - CPython built without it
    from hashlib import md5 as _md5

log = logging.getLogger(__name__)

INPUT = "input"
OUTPUT = "output"
CONV3X3 = "conv3x3-bn-relu"
CONV1X1 = "conv1x1-bn-relu"
MAXPOOL3X3 = "maxpool3x3"
#: The op labels in the official ``config['available_ops']`` order (genotype op values 0, 1, 2).
OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
MAX_VERTICES = 7
MAX_EDGES = 9
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


# =========================================================================== vectorised
_POPCOUNT = np.array([bin(x).count("1") for x in range(256)], dtype=np.int64)


# row offsets of the 21 edge bits: row i holds bits off[i] .. off[i] + 5 - i (columns i+1 .. 6)
_ROW_OFFSET = [sum(MAX_VERTICES - 1 - r for r in range(i)) for i in range(MAX_VERTICES - 1)]
_BITS = np.arange(MAX_VERTICES, dtype=np.uint8)


def _edge_codes(genotypes: np.ndarray) -> np.ndarray:
    """The 21 edge bits of each genotype as one integer (bit ``k`` = position ``k``)."""
    g = np.asarray(genotypes)
    return (g[:, :N_EDGE_BITS].astype(np.int64) << np.arange(N_EDGE_BITS, dtype=np.int64)).sum(axis=1)


@dataclass(frozen=True)
class PrunedBatch:
    """Pruning of a batch of 7-vertex genotypes (vectorised ``ModelSpec._prune`` + checks).

    Vertices keep their 7-vertex positions; ``succ[:, v]`` is the bitmask of ``v``'s successors
    among kept vertices (0 for a removed vertex).
    """

    succ: np.ndarray  # [m, 7] uint8 successor bitmasks after pruning
    labels: np.ndarray  # [m, 7] int label codes (0..2 ops, 3 input, 4 output)
    keep: np.ndarray  # [m, 7] bool, vertices on an input -> output path
    n_vertices: np.ndarray  # [m] vertices after pruning (0 when disconnected)
    n_edges: np.ndarray  # [m] edges after pruning
    valid: np.ndarray  # [m] bool: connected and at most 9 edges

    @property
    def adj(self) -> np.ndarray:
        """``[m, 7, 7] bool`` pruned adjacency (7-vertex positions)."""
        return ((self.succ[:, :, None] >> _BITS[None, None, :]) & 1).astype(bool)


def prune_batch(genotypes: np.ndarray) -> PrunedBatch:
    """Prune and check many genotypes at once (same result as :func:`validate` per row)."""
    g = np.asarray(genotypes)
    m = g.shape[0]
    code = _edge_codes(g)
    succ = np.zeros((m, MAX_VERTICES), dtype=np.uint8)
    for i in range(MAX_VERTICES - 1):
        width = MAX_VERTICES - 1 - i
        succ[:, i] = ((code >> _ROW_OFFSET[i]) & ((1 << width) - 1)).astype(np.uint8) << np.uint8(i + 1)
    fwd = np.ones(m, dtype=np.uint8)
    for v in range(MAX_VERTICES - 1):
        on = ((fwd >> np.uint8(v)) & np.uint8(1)) * np.uint8(0xFF)
        fwd |= succ[:, v] & on
    bwd = np.full(m, 1 << (MAX_VERTICES - 1), dtype=np.uint8)
    for v in range(MAX_VERTICES - 2, -1, -1):
        bwd |= ((succ[:, v] & bwd) != 0).astype(np.uint8) << np.uint8(v)
    connected = ((fwd >> np.uint8(MAX_VERTICES - 1)) & 1).astype(bool)
    keepmask = np.where(connected, fwd & bwd, np.uint8(0))
    keep = ((keepmask[:, None] >> _BITS[None, :]) & 1).astype(bool)
    succ &= keepmask[:, None]
    succ[~keep] = 0
    n_vertices = _POPCOUNT[keepmask]
    n_edges = _POPCOUNT[succ].sum(axis=1)
    labels = np.empty((m, MAX_VERTICES), dtype=np.int64)
    labels[:, 0] = _IN_CODE
    labels[:, 1:-1] = g[:, N_EDGE_BITS:]
    labels[:, -1] = _OUT_CODE
    valid = connected & (n_edges <= MAX_EDGES)
    return PrunedBatch(succ, labels, keep, n_vertices, n_edges, valid)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser on a uint64 array, in place (wrapping arithmetic); returns ``x``."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


# per lane: (k_init, k_in, k_fin, k_n), digits of pi
_LANE_SEEDS = (
    tuple(np.uint64(s) for s in (0x243F6A8885A308D3, 0x13198A2E03707344, 0xA4093822299F31D0, 0x082EFA98EC4E6C89)),
    tuple(np.uint64(s) for s in (0x452821E638D01377, 0xBE5466CF34E90C6C, 0xC0AC29B7C97C50DD, 0x3F84D5B5B5470917)),
)


_P_IN = np.uint64(0x9E3779B97F4A7C15)
_P_OUT = np.uint64(0xC2B2AE3D27D4EB4F)


def _wl_lane(a: np.ndarray, labels: np.ndarray, keep: np.ndarray, nv: np.ndarray, seeds: tuple) -> np.ndarray:
    """One 64-bit lane of :func:`wl_keys`; ``a`` is the ``[m, 7, 7] uint64`` pruned adjacency.

    Colour of a vertex: ``mix(label, out-degree, in-degree)``; each round
    ``c' = mix(c + P_in * sum_{u -> v} g(c_u) + P_out * sum_{v -> w} g(c_w))`` with
    ``g = mix(. ^ k)`` (sums of mixed values hash the multisets); after ``V`` rounds the key is
    ``sum_v mix(c_v ^ k_fin) + mix(V + k_n)`` over the kept vertices.
    """
    k_init, k_in, k_fin, k_n = seeds
    outdeg = a.sum(axis=2, dtype=np.uint64)
    indeg = a.sum(axis=1, dtype=np.uint64)
    c = _mix((labels.astype(np.uint64) << np.uint64(8)) + (outdeg << np.uint64(4)) + indeg + k_init)
    final = np.zeros_like(c)
    for r in range(1, int(nv.max(initial=0)) + 1):
        gc = _mix(c ^ k_in)
        s_in = np.einsum("muv,mu->mv", a, gc)
        s_out = np.einsum("mvw,mw->mv", a, gc)
        s_in *= _P_IN
        s_out *= _P_OUT
        c += s_in
        c += s_out
        c = _mix(c)
        at = nv == r
        final[at] = c[at]
    final ^= k_fin
    fin = np.where(keep, _mix(final), np.uint64(0)).sum(axis=1, dtype=np.uint64)
    return fin + _mix(nv.astype(np.uint64) + k_n)


def wl_lane_keys(batch: PrunedBatch, lane: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Lane ``lane`` (0 or 1) of :func:`wl_keys` for ``rows`` (default all; 0 where invalid)."""
    sel = np.flatnonzero(batch.valid) if rows is None else np.asarray(rows)[batch.valid[rows]]
    out = np.zeros(batch.valid.shape[0] if rows is None else len(rows), dtype=np.uint64)
    if sel.size:
        a = ((batch.succ[sel][:, :, None] >> _BITS[None, None, :]) & 1).astype(np.uint64)
        keys = _wl_lane(a, batch.labels[sel], batch.keep[sel], batch.n_vertices[sel], _LANE_SEEDS[lane])
        if rows is None:
            out[sel] = keys
        else:
            out[batch.valid[rows]] = keys
    return out


def wl_keys(batch: PrunedBatch) -> np.ndarray:
    """``[m, 2] uint64`` isomorphism-invariant keys of pruned cells (0 rows where invalid).

    The same colour refinement as the official hash (initial colour from out-degree, in-degree and
    label; ``V`` rounds, each combining a vertex's colour with the multisets of its in- and
    out-neighbours' colours; the multiset of final colours), with 64-bit mixing instead of md5,
    in two independent lanes. Two cells get the same key exactly when they get the same official
    hash, unless two 128-bit values collide (probability ~1e-26 for the 13M mutations of the
    full space). Checked: over all 1,293,208 pruned labelled cells of the space the keys take
    exactly 423,624 values, the published number of unique models.
    """
    return np.stack([wl_lane_keys(batch, 0), wl_lane_keys(batch, 1)], axis=1)


@dataclass(frozen=True)
class Compact:
    """Pruned cells in compact form: kept vertices first, in order (``V x V`` top-left block)."""

    adj: np.ndarray  # [m, 7, 7] uint8, zero outside the top-left V x V block
    labels: np.ndarray  # [m, 7] label codes, -1 past the last vertex
    n_vertices: np.ndarray  # [m]


def compact(batch: PrunedBatch) -> Compact:
    """Move the kept vertices of each pruned cell to the front (their order kept)."""
    m = batch.keep.shape[0]
    order = np.argsort(~batch.keep, axis=1, kind="stable")
    rows = np.arange(m)[:, None, None]
    adj = batch.adj[rows, order[:, :, None], order[:, None, :]].astype(np.uint8)
    inside = np.arange(MAX_VERTICES)[None, :] < batch.n_vertices[:, None]
    adj &= (inside[:, :, None] & inside[:, None, :]).astype(np.uint8)
    labels = np.where(inside, np.take_along_axis(batch.labels, order, axis=1), _PAD_CODE)
    return Compact(adj, labels, batch.n_vertices.copy())


def embed(c: Compact) -> np.ndarray:
    """Embedded genotypes ``[m, 26] int8`` of compact cells (output moved to vertex 6)."""
    m = c.adj.shape[0]
    nv = c.n_vertices
    # source vertex (in the compact cell, 7 = none) of each of the 7 embedded positions
    p = np.arange(MAX_VERTICES)[None, :]
    src = np.where(p < (nv - 1)[:, None], p, MAX_VERTICES)
    src[:, -1] = nv - 1
    adj8 = np.zeros((m, MAX_VERTICES + 1, MAX_VERTICES + 1), dtype=np.uint8)
    adj8[:, :MAX_VERTICES, :MAX_VERTICES] = c.adj
    rows = np.arange(m)[:, None, None]
    emb = adj8[rows, src[:, :, None], src[:, None, :]]
    lab8 = np.concatenate([c.labels, np.zeros((m, 1), dtype=c.labels.dtype)], axis=1)
    ops = np.take_along_axis(lab8, src, axis=1)[:, 1:-1]
    ops = np.where((ops >= 0) & (ops < len(OPS)), ops, 0)
    g = np.concatenate([emb[:, _EDGE_I, _EDGE_J], ops], axis=1)
    return g.astype(np.int8)


def canonical_genotypes(genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embedded pruned genotypes ``[m, 26]`` and validity ``[m]`` of arbitrary genotypes."""
    batch = prune_batch(genotypes)
    return embed(compact(batch)), batch.valid


# ------------------------------------------------------------------------ encodings
def _embedded_view(genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pruned embedded adjacency ``[m,7,7]``, labels ``[m,7]`` (-1 padding), keep ``[m,7]``."""
    batch = prune_batch(genotypes)
    labels = np.where(batch.keep, batch.labels, _PAD_CODE)
    return batch.adj, labels, batch.keep


def encode_onehot(genotypes: np.ndarray) -> np.ndarray:
    """``[m, 36]``: 21 edge bits, then 3 one-hot op columns per vertex 1..5 (zeros if absent)."""
    adj, labels, keep = _embedded_view(genotypes)
    m = adj.shape[0]
    out = np.zeros((m, N_EDGE_BITS + 3 * N_OP_VERTICES), dtype=np.float32)
    out[:, :N_EDGE_BITS] = adj[:, _EDGE_I, _EDGE_J]
    for k in range(N_OP_VERTICES):
        lab = labels[:, k + 1]
        present = (lab >= 0) & (lab < len(OPS))
        out[np.flatnonzero(present), N_EDGE_BITS + 3 * k + lab[present]] = 1.0
    return out


def encode_adjacency(genotypes: np.ndarray) -> np.ndarray:
    """``[m, 49]``: rows 0..5 of the embedded matrix (42) + 7 AlphaX vertex codes (0 if absent)."""
    adj, labels, _ = _embedded_view(genotypes)
    m = adj.shape[0]
    codes = np.where(labels >= 0, _ALPHAX_CODE[np.clip(labels, 0, None)], 0.0)
    return np.concatenate(
        [adj[:, :-1, :].reshape(m, -1).astype(np.float32), codes.astype(np.float32)], axis=1
    )


# the 32 candidate paths through the embedded cell: increasing subsets of vertices 1..5
_PATH_SUBSETS = [s for k in range(N_OP_VERTICES + 1) for s in itertools.combinations(range(1, MAX_VERTICES - 1), k)]


def encode_path(genotypes: np.ndarray) -> np.ndarray:
    """``[m, 364]`` BANANAS path encoding (bit per input->output op sequence present)."""
    adj, labels, _ = _embedded_view(genotypes)
    m = adj.shape[0]
    out = np.zeros((m, N_PATHS), dtype=np.float32)
    rows = np.arange(m)
    for subset in _PATH_SUBSETS:
        chain = (0, *subset, MAX_VERTICES - 1)
        present = np.ones(m, dtype=bool)
        for a, b in zip(chain[:-1], chain[1:]):
            present &= adj[:, a, b]
        index = np.zeros(m, dtype=np.int64)
        for i, v in enumerate(subset):
            index += len(OPS) ** i * (np.clip(labels[:, v], 0, len(OPS) - 1) + 1)
        out[rows[present], index[present]] = 1.0
    return out


def encode_metadnn(genotypes: np.ndarray) -> np.ndarray:
    """``[m, 56]`` AlphaX Meta-DNN input: flattened pruned ``VxV`` matrix padded to 49, 7 codes."""
    c = compact(prune_batch(genotypes))
    m = c.adj.shape[0]
    out = np.zeros((m, 56), dtype=np.float32)
    for v in np.unique(c.n_vertices):
        sel = c.n_vertices == v
        if v == 0:
            continue
        out[sel, : v * v] = c.adj[sel, :v, :v].reshape(-1, v * v)
    codes = np.full((m, MAX_VERTICES), 9.0, dtype=np.float32)
    lab = c.labels
    k = np.arange(MAX_VERTICES)[None, :]
    encoded = (k < (c.n_vertices - 1)[:, None]) & (lab >= 0)
    codes[encoded] = _ALPHAX_CODE[lab[encoded]]
    out[:, 49:] = codes
    return out


def encode_tokens(genotypes: np.ndarray) -> np.ndarray:
    """``[m, 27] int32`` SemiNAS token sequences of the pruned cells."""
    c = compact(prune_batch(genotypes))
    m = c.adj.shape[0]
    out = np.zeros((m, NAO_LENGTH), dtype=np.int32)
    off = 0
    for col in range(1, MAX_VERTICES):
        present = col < c.n_vertices
        out[:, off : off + col] = np.where(present[:, None], c.adj[:, :col, col].astype(np.int32) + 1, 0)
        lab = np.clip(c.labels[:, col], 0, None)
        out[:, off + col] = np.where(present, _NAO_OP_TOKEN[lab], 0)
        off += col + 1
    return out


def encode_graph(genotypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Embedded adjacency ``[m, 7, 7]`` and node features ``[m, 7, 5]`` (float32)."""
    adj, labels, keep = _embedded_view(genotypes)
    m = adj.shape[0]
    feats = np.zeros((m, MAX_VERTICES, 5), dtype=np.float32)
    r, v = np.nonzero(keep)
    feats[r, v, _GRAPH_COLUMN[labels[r, v]]] = 1.0
    return adj.astype(np.float32), feats


ENCODERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "onehot": encode_onehot,
    "adjacency": encode_adjacency,
    "path": encode_path,
    "metadnn": encode_metadnn,
}


class LazyFeatures(MutableMapping[str, np.ndarray]):
    """The encodings of a space, each computed (vectorised) on first use and then kept.

    Behaves as the ``features`` dict of :class:`~nasbench.space.Space`; assigning a key adds or
    replaces an encoding.
    """

    def __init__(self, genotypes: np.ndarray, encoders: Mapping[str, Callable[[np.ndarray], np.ndarray]] = ENCODERS):
        self._genotypes = genotypes
        self._encoders: dict[str, Callable[[np.ndarray], np.ndarray] | None] = dict(encoders)
        self._done: dict[str, np.ndarray] = {}

    def __getitem__(self, kind: str) -> np.ndarray:
        if kind not in self._done:
            encoder = self._encoders[kind]
            assert encoder is not None
            self._done[kind] = encoder(self._genotypes)
        return self._done[kind]

    def __setitem__(self, kind: str, value: np.ndarray) -> None:
        self._encoders[kind] = None
        self._done[kind] = value

    def __delitem__(self, kind: str) -> None:
        del self._encoders[kind]
        self._done.pop(kind, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._encoders)

    def __len__(self) -> int:
        return len(self._encoders)

    def __contains__(self, kind: object) -> bool:
        return kind in self._encoders


# ------------------------------------------------------------------------ neighbours
def mutations(genotypes: np.ndarray) -> np.ndarray:
    """``[m, 31, 26]`` every single mutation of each genotype (21 edge flips, 10 op changes)."""
    g = np.asarray(genotypes).astype(np.int8)
    m = g.shape[0]
    out = np.repeat(g[:, None, :], N_NEIGHBORS, axis=1)
    k = np.arange(N_EDGE_BITS)
    out[:, k, k] = 1 - g[:, :N_EDGE_BITS]
    col = N_EDGE_BITS
    for v in range(N_OP_VERTICES):
        p = N_EDGE_BITS + v
        for shift in range(1, len(OPS)):
            out[:, col, p] = (g[:, p] + shift) % len(OPS)
            col += 1
    assert out.shape == (m, N_NEIGHBORS, GENOTYPE_LEN)
    return out


class KeyIndex:
    """Map :func:`wl_keys` of cells to the index of the table cell with the same key."""

    def __init__(self, keys: np.ndarray):
        lane = keys[:, 0]
        self._order = np.argsort(lane, kind="stable")
        self._sorted = lane[self._order]
        self._second = keys[self._order, 1]
        if self._sorted.size > 1 and (self._sorted[1:] == self._sorted[:-1]).any():
            dup = int(self._order[1:][self._sorted[1:] == self._sorted[:-1]][0])
            raise ValueError(
                f"two cells of the table share a fingerprint (cell {dup}): duplicate architectures "
                "(isomorphic cells) in the table, or a 64-bit fingerprint collision"
            )

    def find(self, batch: PrunedBatch) -> np.ndarray:
        """Index per cell of ``batch``: the table index, ``OUT_OF_TABLE`` or ``INVALID``.

        The second lane is computed only for cells whose first lane matches a table cell.
        """
        first = wl_lane_keys(batch, 0)
        pos = np.searchsorted(self._sorted, first)
        pos_c = np.clip(pos, 0, max(self._sorted.size - 1, 0))
        hit = batch.valid & (pos < self._sorted.size) & (self._sorted[pos_c] == first)
        rows = np.flatnonzero(hit)
        hit[rows] = wl_lane_keys(batch, 1, rows) == self._second[pos_c[rows]]
        out = np.where(hit, self._order[pos_c], OUT_OF_TABLE).astype(np.int64)
        return np.where(batch.valid, out, INVALID)


def neighbor_table(genotypes: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """``[n, 31] int32`` mutation neighbours of a table of (canonical, distinct) cells.

    Raises ``ValueError`` when two cells of the table are the same architecture.
    """
    g = np.asarray(genotypes)
    index = KeyIndex(wl_keys(prune_batch(g)))
    out = np.empty((g.shape[0], N_NEIGHBORS), dtype=np.int32)
    for start in range(0, g.shape[0], chunk):
        mut = mutations(g[start : start + chunk]).reshape(-1, GENOTYPE_LEN)
        # identical mutants (neighbours shared by several cells) are fingerprinted once
        _, first, inverse = np.unique(_genotype_codes(mut), return_index=True, return_inverse=True)
        found = index.find(prune_batch(mut[first]))
        out[start : start + chunk] = found[inverse.reshape(-1)].reshape(-1, N_NEIGHBORS)
    return out


def _genotype_codes(genotypes: np.ndarray) -> np.ndarray:
    """Each genotype as one int64 (21 edge bits, then 2 bits per op)."""
    g = np.asarray(genotypes).astype(np.int64)
    shifts = np.concatenate([np.arange(N_EDGE_BITS), N_EDGE_BITS + 2 * np.arange(N_OP_VERTICES)])
    return (g << shifts).sum(axis=1)


# =========================================================================== the space
_DESCRIBE_RE = re.compile(r"^\s*([01|]+)\s+([A-Za-z0-9,\-]+)\s*$")


@dataclass(eq=False)
class NB101Space(Space):
    """A NAS-Bench-101 space: the cells of a table (all 423,624, or a subset).

    ``hash_bytes[i]`` is the official module hash of cell ``i`` (16 bytes); ``genotypes[i]`` its
    embedded pruned cell. :meth:`lookup` canonicalises any genotype (prune, validate, hash).
    """

    hash_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 16), dtype=np.uint8))

    def __post_init__(self) -> None:
        self._hash_index: dict[str, int] | None = None
        self._cache: dict[bytes, int] = {}

    # ----------------------------------------------------------- construction
    @classmethod
    def from_arrays(
        cls,
        genotypes: np.ndarray,
        hash_bytes: np.ndarray,
        neighbors: np.ndarray | None = None,
        name: str = "nb101",
    ) -> NB101Space:
        """A space from embedded pruned genotypes ``[n, 26]`` and their hashes ``[n, 16] uint8``.

        ``neighbors`` (from :func:`neighbor_table`) is computed when not given.
        """
        g = np.ascontiguousarray(genotypes, dtype=np.int8)
        if g.ndim != 2 or g.shape[1] != GENOTYPE_LEN:
            raise ValueError(f"genotypes must be [n, {GENOTYPE_LEN}], got {g.shape}")
        hb = np.ascontiguousarray(hash_bytes, dtype=np.uint8)
        if hb.shape != (g.shape[0], 16):
            raise ValueError(f"hash_bytes must be [{g.shape[0]}, 16] uint8, got {hb.shape}")
        if neighbors is None:
            neighbors = neighbor_table(g)
        adj, feats = encode_graph(g)
        return cls(
            name=name,
            genotypes=g,
            cardinalities=CARDINALITIES,
            neighbors=np.asarray(neighbors, dtype=np.int32),
            features=LazyFeatures(g),  # type: ignore[arg-type]
            tokens=encode_tokens(g),
            vocab=NAO_VOCAB,
            token_types=nao_token_types(),
            graph=(adj, feats),
            hash_bytes=hb,
        )

    @classmethod
    def from_cells(
        cls,
        cells: Sequence[tuple[Any, Sequence[str]]],
        name: str = "nb101",
        hashes: Sequence[str] | None = None,
    ) -> NB101Space:
        """A space of the given cells ``[(matrix, ops), ...]`` (validated, pruned, hashed).

        Raises :class:`InvalidArchitecture` for an invalid cell and ``ValueError`` when two cells
        are the same architecture.
        """
        genotypes = np.zeros((len(cells), GENOTYPE_LEN), dtype=np.int8)
        hb = np.zeros((len(cells), 16), dtype=np.uint8)
        seen: dict[str, int] = {}
        for i, (matrix, ops) in enumerate(cells):
            m, pops = canonical_cell(matrix, ops)
            h = hashes[i] if hashes is not None else module_hash(m, pops)
            if h in seen:
                raise ValueError(f"cells {seen[h]} and {i} are the same architecture (module hash {h})")
            seen[h] = i
            genotypes[i] = cell_to_genotype(m, pops)
            hb[i] = np.frombuffer(bytes.fromhex(h), dtype=np.uint8)
        return cls.from_arrays(genotypes, hb, name=name)

    # ---------------------------------------------------------------- hashes
    def hash_of(self, idx: int) -> str:
        """The official module hash (32 hex digits) of architecture ``idx``."""
        return self.hash_bytes[int(idx)].tobytes().hex()

    @property
    def hash_index(self) -> dict[str, int]:
        """``{module hash: index}`` over the space."""
        if self._hash_index is None:
            raw = self.hash_bytes.tobytes()
            self._hash_index = {raw[16 * i : 16 * i + 16].hex(): i for i in range(self.n)}
        return self._hash_index

    def cell(self, idx: int) -> tuple[np.ndarray, list[str]]:
        """The pruned cell (``int8`` matrix, labels) of architecture ``idx``."""
        m, ops = genotype_to_cell(self.genotypes[int(idx)])
        return prune(m, ops)

    def index_of_cell(self, matrix: Any, ops: Sequence[str]) -> int:
        """The index of a cell (any form: unpruned, relabelled), or ``OUT_OF_TABLE``.

        Raises :class:`InvalidArchitecture` (naming the broken rule) when it is not a cell of the
        NAS-Bench-101 space.
        """
        m, pops = canonical_cell(matrix, ops)
        return self.hash_index.get(module_hash(m, pops), OUT_OF_TABLE)

    # ---------------------------------------------------------------- lookup
    def canonical_genotype(self, genotype: np.ndarray) -> np.ndarray | None:
        """The table's genotype of the architecture, the embedded pruned cell if it is out of the
        table, or ``None`` when the genotype is not a valid cell."""
        i = int(self.lookup(np.asarray(genotype)[None, :])[0])
        if i == INVALID:
            return None
        if i >= 0:
            return self.genotypes[i].copy()
        g, _ = canonical_genotypes(np.asarray(genotype)[None, :])
        return g[0]

    def lookup(self, genotypes: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Indices of genotypes ``[m, 26]``: prune, validate, hash, then look the hash up."""
        g = np.atleast_2d(np.asarray(genotypes, dtype=np.int64))
        if g.shape[1] != GENOTYPE_LEN:
            raise InvalidArchitecture(f"{self.name}: a genotype has {GENOTYPE_LEN} positions, got {g.shape[1]}")
        out = np.full(g.shape[0], INVALID, dtype=np.int64)
        card = np.asarray(CARDINALITIES)
        in_range = ((g >= 0) & (g < card)).all(axis=1)
        if not in_range.any():
            return out
        rows = np.flatnonzero(in_range)
        g8 = g[rows].astype(np.int8)
        if len(self._cache) > 1 << 20:  # bound the memo; cleared between batches, never inside one
            self._cache.clear()
        todo = [k for k, row in enumerate(g8) if row.tobytes() not in self._cache]
        if todo:
            batch = prune_batch(g8[todo])
            comp = compact(batch)
            index = self.hash_index
            for t, k in enumerate(todo):
                if not batch.valid[t]:
                    res = INVALID
                else:
                    nv = int(comp.n_vertices[t])
                    succ = tuple(
                        sum(1 << j for j in range(nv) if comp.adj[t, v, j]) for v in range(nv)
                    )
                    lab = tuple(int(x) for x in comp.labels[t, :nv])
                    official = (-1, *lab[1:-1], -2)
                    res = index.get(_cached_fingerprint(nv, succ, official), OUT_OF_TABLE)
                self._cache[g8[k].tobytes()] = res
        out[rows] = [self._cache[row.tobytes()] for row in g8]
        return out

    # --------------------------------------------------------- readable forms
    def describe(self, idx: int) -> str:
        """``"<matrix rows joined by |> <comma-separated labels>"`` of the pruned cell."""
        m, ops = self.cell(idx)
        rows = "|".join("".join(str(int(x)) for x in row) for row in m)
        return f"{rows} {','.join(ops)}"

    def parse(self, text: str) -> int:
        """Index of a cell written as :meth:`describe` writes it (``OUT_OF_TABLE`` if absent)."""
        mt = _DESCRIBE_RE.match(text)
        if not mt:
            raise InvalidArchitecture(
                f"{self.name}: cannot parse {text!r}; expected e.g. "
                "'011|001|000 input,conv3x3-bn-relu,output' (matrix rows, then labels)"
            )
        rows = mt.group(1).split("|")
        if any(len(r) != len(rows) for r in rows):
            raise InvalidArchitecture(f"{self.name}: matrix rows of {text!r} do not form a square matrix")
        m = np.array([[int(c) for c in r] for r in rows], dtype=np.int8)
        return self.index_of_cell(m, mt.group(2).split(","))

    def info(self) -> dict[str, Any]:
        return {**super().info(), "neighbors": N_NEIGHBORS, "tokens": NAO_LENGTH}


def wl_keys_of_genotypes(genotypes: np.ndarray) -> np.ndarray:
    """Convenience: :func:`wl_keys` of genotypes (rows of invalid cells are 0)."""
    return wl_keys(prune_batch(np.asarray(genotypes)))
