"""NAS-Bench-101 tables: TFRecord framing and CRCs, the ModelMetrics protobuf, the official-format
loader (on small files the tests write), and the real 30,001-cell subset."""

from __future__ import annotations

import base64
import gzip
import json
import struct

import numpy as np
import pytest
from conftest import require_data

from nasbench.data import CorruptData
from nasbench.space import INVALID, OUT_OF_TABLE
from nasbench.spaces import nb101 as S
from nasbench.tables import nb101 as T
from nasbench.tables import tfrecord as R

SUBSET = "nasbench101-subset/nb101_subset_30k.csv.gz"


# --------------------------------------------------------------------------------- framing
def test_crc32c_known_values():
    assert R.crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
    assert R.crc32c(b"") == 0
    assert R.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4: 32 bytes of zeros
    assert R.crc32c(bytes(range(32))) == 0x46DD794E  # RFC 3720 B.4: 0..31
    # the masked form of TFRecord
    c = R.crc32c(b"123456789")
    assert R.mask_crc(c) == ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
    rng = np.random.default_rng(0)
    recs = [bytes(rng.integers(0, 256, int(k), dtype=np.uint8)) for k in rng.integers(0, 300, 50)]
    blob = np.frombuffer(b"".join(recs), dtype=np.uint8)
    offs = np.cumsum([0] + [len(r) for r in recs[:-1]])
    got = R.crc32c_batch(blob, offs, [len(r) for r in recs])
    assert got.tolist() == [R.crc32c(r) for r in recs]


def test_tfrecord_round_trip_and_exact_framing(tmp_path):
    path = tmp_path / "x.tfrecord"
    records = [b"hello", b"", b"\x00\xff" * 1000, json.dumps(["a", 1]).encode()]
    R.write_records(path, records)
    raw = path.read_bytes()
    # first frame by hand: length, masked crc of the length, data, masked crc of the data
    assert raw[:8] == struct.pack("<Q", 5)
    assert raw[8:12] == struct.pack("<I", R.masked_crc32c(struct.pack("<Q", 5)))
    assert raw[12:17] == b"hello"
    assert raw[17:21] == struct.pack("<I", R.masked_crc32c(b"hello"))
    assert list(R.iter_records(path)) == records
    assert list(R.iter_records(path, chunk_bytes=7)) == records  # records spanning read chunks


def test_tfrecord_corruption_is_reported_with_the_record_number(tmp_path):
    path = tmp_path / "bad.tfrecord"
    R.write_records(path, [b"first", b"second", b"third"])
    raw = bytearray(path.read_bytes())
    data = bytearray(raw)
    data[16 + 5 + 12 + 2] ^= 0x01  # flip a bit inside record 1's data
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match=r"bad\.tfrecord: record 1: CRC of the data does not match"):
        list(R.iter_records(path))
    assert len(list(R.iter_records(path, check_crc=False))) == 3
    data = bytearray(raw)
    data[16 + 5 + 9] ^= 0x01  # damage record 1's length CRC
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptData, match="record 1: CRC of the length field"):
        list(R.iter_records(path))
    path.write_bytes(bytes(raw[:-3]))  # truncated
    with pytest.raises(CorruptData, match="truncated"):
        list(R.iter_records(path))


# -------------------------------------------------------------------------------- protobuf
def test_protobuf_hand_bytes_and_round_trip():
    # field 2 (varint) = 150 -> key 0x10, varint 0x96 0x01; field 3 (double) = 1.5
    mm = R.decode_model_metrics(b"\x10\x96\x01" + b"\x19" + struct.pack("<d", 1.5))
    assert mm.trainable_parameters == 150 and mm.total_time == 1.5 and mm.evaluation_data == []
    # an EvaluationData with validation_accuracy (field 4, double) and a checkpoint path (6, string),
    # plus an unknown varint field 9 that must be skipped
    ev = b"\x21" + struct.pack("<d", 0.25) + b"\x32\x03abc" + b"\x48\x07"
    mm = R.decode_model_metrics(b"\x0a" + bytes([len(ev)]) + ev)
    assert mm.evaluation_data[0].validation_accuracy == 0.25
    assert mm.evaluation_data[0].checkpoint_path == "abc"
    full = R.ModelMetrics(
        evaluation_data=[R.EvaluationData(k * 54.0, 10.0 * k, 0.1 * k, 0.2 * k + 1e-9, 1 / 3, f"ckpt-{k}") for k in range(3)],
        trainable_parameters=2_694_282,
        total_time=1234.5678,
    )
    assert R.decode_model_metrics(R.encode_model_metrics(full)) == full
    with pytest.raises(ValueError, match="truncated"):
        R.decode_model_metrics(R.encode_model_metrics(full)[:-3])


# ------------------------------------------------------------------- official-format tables
CELLS = [
    ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", S.CONV3X3, "output"]),
    ([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], ["input", S.CONV1X1, S.MAXPOOL3X3, "output"]),
    ([[0, 1], [0, 0]], ["input", "output"]),
]


def _metrics(val: float, test: float, train: float, time: float, params: int) -> R.ModelMetrics:
    evs = [
        R.EvaluationData(0.0, 0.0, 0.1, 0.1, 0.1, "c0"),
        R.EvaluationData(54.0, time / 2, train / 2, val / 2, test / 2, "c1"),  # halfway: not used
        R.EvaluationData(108.0, time, train, val, test, "c2"),
    ]
    return R.ModelMetrics(evs, params, time + 1.0)


def write_official_file(path, epochs=(108,)):
    """A small file in exactly the official format; returns the expected values by hash."""
    records, expect = [], {}
    for c, (m, ops) in enumerate(CELLS):
        h = S.module_hash(m, ops)
        for e in epochs:
            for r in range(3):
                val, test, train, t = 0.9 - 0.1 * c + 0.001 * r + e * 1e-5, 0.8 + 0.01 * r, 0.99, 1000.0 * (c + 1) + r
                mm = _metrics(val, test, train, t, 1000 + c)
                adjacency = "".join(str(x) for row in m for x in row)
                records.append(json.dumps([h, e, adjacency, ",".join(ops), base64.b64encode(R.encode_model_metrics(mm)).decode()]).encode())
                expect[(h, e, r)] = (val, test, train, t)
    R.write_records(path, records)
    return expect


def test_official_tfrecord_is_converted_exactly(tmp_path):
    path = tmp_path / "nasbench_full.tfrecord"
    expect = write_official_file(path, epochs=(4, 108))
    arrays = T.convert_tfrecord(path)
    assert arrays["epochs"].tolist() == [4, 108]
    hashes = [arrays["hash"][i].tobytes().hex() for i in range(3)]
    assert hashes == sorted(S.module_hash(*c) for c in CELLS)  # cells sorted by hash
    for i, h in enumerate(hashes):
        for e_i, e in enumerate((4, 108)):
            for r in range(3):
                val, test, train, t = expect[(h, e, r)]
                assert arrays["val"][i, e_i, r] == val
                assert arrays["test"][i, e_i, r] == test
                assert arrays["train"][i, e_i, r] == train
                assert arrays["time"][i, e_i, r] == t
    assert sorted(arrays["params"].tolist()) == [1000, 1001, 1002]
    assert arrays["neighbors"].shape == (3, 31)


def test_official_benchmarks_nb101_and_test(tmp_path):
    folder = tmp_path / "nasbench101"
    folder.mkdir()
    expect = write_official_file(folder / "nasbench_only108.tfrecord")
    bench = T.load_full(tmp_path)
    assert bench.name == "nb101" and bench.n_space == 3 and bench.values.shape == (3, 3)
    assert bench.metric == "val_acc_108" and bench.noise == "sample"
    for i in range(3):
        h = bench.space.hash_of(i)
        vals = [expect[(h, 108, r)][0] for r in range(3)]
        np.testing.assert_array_equal(bench.values[i], vals)
        assert bench.truth.truth[i] == pytest.approx(np.mean(vals), abs=1e-15)
        assert bench.cost[i] == pytest.approx(np.mean([expect[(h, 108, r)][3] for r in range(3)]))
    chain = bench.space.index_of_cell(*CELLS[0])
    assert bench.truth.optimum == pytest.approx(0.9 + 0.001 + 108e-5)
    assert int(np.nanargmax(bench.truth.truth)) == chain
    test = T.load_full_test(tmp_path)
    assert test.name == "nb101-test" and test.truth.optimum == pytest.approx(0.81)
    # neighbours of the chain: conv3x3 -> conv1x1 is not in this 3-cell table
    assert bench.space.neighbors[chain, 21] == OUT_OF_TABLE
    assert bench.space.neighbors[chain, S.EDGE_POSITIONS.index((0, 1))] == INVALID


def test_official_file_with_a_wrong_hash_is_corrupt(tmp_path):
    m, ops = CELLS[0]
    mm = base64.b64encode(R.encode_model_metrics(_metrics(0.9, 0.9, 0.9, 1.0, 1))).decode()
    rec = json.dumps(["0" * 32, 108, "010001000", ",".join(ops), mm]).encode()
    R.write_records(tmp_path / "nasbench_only108.tfrecord", [rec])
    with pytest.raises(CorruptData, match="hashes to"):
        T.convert_tfrecord(tmp_path / "nasbench_only108.tfrecord")


def test_subset_checksum_is_verified(tmp_path):
    folder = tmp_path / "nasbench101-subset"
    folder.mkdir()
    with gzip.open(folder / "nb101_subset_30k.csv.gz", "wt") as f:
        f.write(",".join(T.SUBSET_COLUMNS) + "\n")
    with pytest.raises(CorruptData, match="sha256"):
        T.load_subset(tmp_path)


# ------------------------------------------------------------------------- the real subset
@pytest.fixture(scope="module")
def subset():
    folder = require_data(SUBSET).parents[1]
    from nasbench.registry import get_benchmark

    return get_benchmark("nb101-30k", data_dir=folder)


def test_subset_benchmark_published_numbers(subset):
    assert subset.n_space == 30001 and subset.n_table == 30001
    assert round(subset.truth.optimum, 4) == 0.9491
    best = int(np.argmax(subset.truth.truth))
    assert subset.space.hash_of(best) == "096f593e0f12d65f6220bf8565b764a9"
    assert round(float(np.mean(subset.truth.truth)), 4) == 0.9105  # README: mean 0.9105
    assert subset.values.shape == (30001, 1) and subset.metric == "val_acc_108"
    assert np.all(subset.cost > 0)


def test_subset_hashes_reproduce_the_published_ones(subset):
    """Re-hash 300 cells of the file (matrix, ops as written) against its hash column."""
    import pandas as pd

    df = pd.read_csv(require_data(SUBSET), dtype={"hash": str, "matrix": str})
    rows = np.random.default_rng(0).choice(len(df), 300, replace=False)
    for r in rows:
        n = int(df.n_vertices[r])
        m = np.array([int(c) for c in df.matrix[r]]).reshape(n, n)
        assert S.module_hash(m, df.ops[r].split(",")) == df.hash[r]
        assert subset.space.index_of_cell(m, df.ops[r].split(",")) == r  # file order is index order


def test_subset_neighbours_agree_with_exact_lookup(subset):
    space = subset.space
    rows = np.random.default_rng(1).choice(space.n, 60, replace=False)
    muts = S.mutations(space.genotypes[rows]).reshape(-1, S.GENOTYPE_LEN)
    np.testing.assert_array_equal(space.lookup(muts).reshape(-1, S.N_NEIGHBORS), space.neighbors[rows])
    codes = space.neighbors
    assert (codes >= 0).any() and (codes == OUT_OF_TABLE).any() and (codes == INVALID).any()


def test_six_vertex_subset_is_the_subsets_cells_of_at_most_six_vertices(subset):
    """nb101-30k-v6: the file's 4,627 cells with n_vertices <= 6 (counted from its column), the
    same values, costs and hashes as in nb101-30k, and neighbours looked up within itself."""
    import pandas as pd

    from nasbench.registry import get_benchmark

    six = get_benchmark("nb101-30k-v6", data_dir=require_data(SUBSET).parents[1])
    df = pd.read_csv(require_data(SUBSET), usecols=["hash", "n_vertices"], dtype={"hash": str})
    small = np.flatnonzero(df.n_vertices.to_numpy() <= 6)
    assert six.n_table == small.size == 4627
    assert [six.space.hash_of(i) for i in range(0, 4627, 97)] == [df.hash[small[i]] for i in range(0, 4627, 97)]
    np.testing.assert_array_equal(six.truth.truth, subset.truth.truth[small])
    np.testing.assert_array_equal(six.cost, subset.cost[small])
    assert round(six.truth.optimum, 5) == 0.94902 and six.truth.target(0.001)[1] == 5
    assert (S.prune_batch(six.space.genotypes).n_vertices <= 6).all()
    rows = np.random.default_rng(2).choice(six.space.n, 60, replace=False)
    muts = S.mutations(six.space.genotypes[rows]).reshape(-1, S.GENOTYPE_LEN)
    np.testing.assert_array_equal(six.space.lookup(muts).reshape(-1, S.N_NEIGHBORS), six.space.neighbors[rows])
