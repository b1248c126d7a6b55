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

The package's modules, one section each: :mod:`~nasbench.spaces.nb101.cells` (constants, one cell
at a time: pruning, the official hash, genotypes, NAO tokens), :mod:`~nasbench.spaces.nb101.batch`
(the same in numpy batches, the encodings, the mutation neighbours) and
:mod:`~nasbench.spaces.nb101.space` (:class:`NB101Space`). Every public name (and the hash helpers the tables use) is importable from here.
"""

from __future__ import annotations

from nasbench.space import InvalidArchitecture  # noqa: F401  (raised by validate)
from nasbench.spaces.nb101.batch import (  # noqa: F401
    ENCODERS,
    Compact,
    KeyIndex,
    LazyFeatures,
    PrunedBatch,
    canonical_genotypes,
    compact,
    embed,
    encode_adjacency,
    encode_graph,
    encode_metadnn,
    encode_onehot,
    encode_path,
    encode_tokens,
    mutations,
    neighbor_table,
    prune_batch,
    wl_keys,
    wl_lane_keys,
)
from nasbench.spaces.nb101.cells import (  # noqa: F401
    CARDINALITIES,
    CONV1X1,
    CONV3X3,
    EDGE_POSITIONS,
    EXAMPLE_CELL,
    GENOTYPE_LEN,
    INPUT,
    MAX_EDGES,
    MAX_VERTICES,
    MAXPOOL3X3,
    N_EDGE_BITS,
    N_NEIGHBORS,
    N_OP_VERTICES,
    N_PATHS,
    NAO_LENGTH,
    NAO_VOCAB,
    OPS,
    OUTPUT,
    _cached_fingerprint,
    _fingerprint,
    _labels_of,
    _succ_masks,
    canonical_cell,
    cell_to_genotype,
    cell_to_tokens,
    genotype_to_cell,
    module_hash,
    nao_token_types,
    prune,
    random_spec,
    tokens_to_cell,
    validate,
)
from nasbench.spaces.nb101.space import (  # noqa: F401
    NB101Space,
    wl_keys_of_genotypes,
)
