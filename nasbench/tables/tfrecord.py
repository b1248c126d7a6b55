"""TFRecord files and NAS-Bench-101's ``ModelMetrics`` protobuf, without TensorFlow.

TFRecord framing, per record: ``uint64 length`` (little-endian), ``uint32 masked_crc32c(length
bytes)``, ``length`` bytes of data, ``uint32 masked_crc32c(data)``; ``masked(c) = ((c >> 15) |
(c << 17)) + 0xa282ead8 (mod 2**32)``, CRC-32C being the Castagnoli CRC (reflected polynomial
``0x82f63b78``). :func:`iter_records` checks both CRCs of every record, vectorised over batches of
records with numpy (a table-driven CRC, all records of a batch advanced one byte per step), so the
check keeps up with reading; a mismatch raises :class:`~nasbench.data.CorruptData` naming the file
and the record.

The protobuf messages of the official ``nasbench/lib/model_metrics.proto``::

    message ModelMetrics {
      repeated EvaluationData evaluation_data = 1;
      optional int32 trainable_parameters = 2;
      optional double total_time = 3;
    }
    message EvaluationData {
      optional double current_epoch = 1;
      optional double training_time = 2;
      optional double train_accuracy = 3;
      optional double validation_accuracy = 4;
      optional double test_accuracy = 5;
      optional string checkpoint_path = 6;
    }

are decoded (and, for tests, encoded) by a minimal wire-format codec: varints (wire type 0),
64-bit doubles (1), length-delimited fields (2) and 32-bit fields (5, skipped); unknown fields are
skipped as the protobuf rules say.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nasbench.data import CorruptData, atomic_write_bytes

_MASK_DELTA = 0xA282EAD8
_POLY = 0x82F63B78


def _make_table() -> list[int]:
    table = []
    for b in range(256):
        c = b
        for _ in range(8):
            c = (c >> 1) ^ _POLY if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _make_table()
_TABLE_NP = np.array(_TABLE, dtype=np.uint32)


def crc32c(data: bytes, crc: int = 0) -> int:
    """CRC-32C (Castagnoli) of ``data``, continuing from ``crc`` (pure Python, for small inputs)."""
    c = crc ^ 0xFFFFFFFF
    table = _TABLE
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def mask_crc(crc: int) -> int:
    """TFRecord's masked CRC."""
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    return mask_crc(crc32c(data))


def crc32c_batch(buf: np.ndarray, offsets: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """CRC-32C of the byte ranges ``buf[offsets[k] : offsets[k] + lengths[k]]``, vectorised.

    Records are sorted by length so that at byte step ``s`` the ones still running are a prefix;
    each step is a table lookup over that prefix. Returns ``[k] uint32``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    off = offsets[order]
    ln = lengths[order]
    crc = np.full(len(off), 0xFFFFFFFF, dtype=np.uint32)
    if len(off) == 0:
        return crc
    # number of records longer than s, for each step s
    active = np.searchsorted(-ln, -np.arange(int(ln[0])), side="left")
    for s in range(int(ln[0])):
        k = int(active[s])
        byte = buf[off[:k] + s]
        c = crc[:k]
        crc[:k] = _TABLE_NP[(c ^ byte) & 0xFF] ^ (c >> 8)
    out = np.empty_like(crc)
    out[order] = crc ^ np.uint32(0xFFFFFFFF)
    return out


def _mask_np(crc: np.ndarray) -> np.ndarray:
    c = crc.astype(np.uint64)
    rot = ((c >> np.uint64(15)) | (c << np.uint64(17))) & np.uint64(0xFFFFFFFF)
    return ((rot + np.uint64(_MASK_DELTA)) & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def encode_record(data: bytes) -> bytes:
    """One TFRecord frame around ``data``."""
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc32c(header)) + data + struct.pack("<I", masked_crc32c(data))


def write_records(path: str | os.PathLike[str], records: Iterable[bytes]) -> None:
    """Write a TFRecord file (atomically; CRCs computed vectorised)."""
    recs = [bytes(r) for r in records]
    n = len(recs)
    lengths = np.array([len(r) for r in recs], dtype=np.int64)
    headers = b"".join(struct.pack("<Q", len(r)) for r in recs)
    blob = np.frombuffer(headers + b"".join(recs), dtype=np.uint8)
    data_off = 8 * n + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    hcrc = _mask_np(crc32c_batch(blob, 8 * np.arange(n), np.full(n, 8)))
    dcrc = _mask_np(crc32c_batch(blob, data_off, lengths))
    parts = []
    for k, r in enumerate(recs):
        parts += [headers[8 * k : 8 * k + 8], struct.pack("<I", int(hcrc[k])), r, struct.pack("<I", int(dcrc[k]))]
    atomic_write_bytes(path, b"".join(parts))


def iter_records(
    path: str | os.PathLike[str],
    check_crc: bool = True,
    chunk_bytes: int = 32 << 20,
) -> Iterator[bytes]:
    """The records of a TFRecord file, in order.

    Raises :class:`~nasbench.data.CorruptData` for a truncated file or a CRC mismatch (of a
    record's length or data), naming the file and the 0-based record number.
    """
    path = Path(path)
    record_no = 0
    with open(path, "rb") as f:
        tail = b""
        eof = False
        while not eof:
            block = f.read(chunk_bytes)
            eof = not block
            data = tail + block
            buf = np.frombuffer(data, dtype=np.uint8)
            starts: list[int] = []
            lengths: list[int] = []
            pos = 0
            size = len(data)
            unpack = struct.unpack_from
            while pos + 12 <= size:
                (length,) = unpack("<Q", data, pos)
                if pos + 16 + length > size:
                    break
                starts.append(pos)
                lengths.append(length)
                pos += 16 + length
            if eof and pos != size:
                if pos + 12 <= size and struct.unpack_from("<I", data, pos + 8)[0] != masked_crc32c(data[pos : pos + 8]):
                    raise CorruptData(
                        f"{path}: record {record_no + len(starts)}: CRC of the length field does not "
                        "match; the file is damaged, download it again"
                    )
                raise CorruptData(
                    f"{path}: truncated after record {record_no + len(starts) - 1} "
                    f"({size - pos} stray bytes at the end); the file is incomplete, download it again"
                )
            if check_crc and starts:
                st = np.asarray(starts, dtype=np.int64)
                ln = np.asarray(lengths, dtype=np.int64)
                stored_len = buf[(st[:, None] + 8 + np.arange(4))].copy().view("<u4").reshape(-1)
                got_len = _mask_np(crc32c_batch(buf, st, np.full(len(st), 8)))
                bad = np.flatnonzero(stored_len != got_len)
                if bad.size:
                    k = int(bad[0])
                    raise CorruptData(
                        f"{path}: record {record_no + k}: CRC of the length field does not match "
                        f"(stored {int(stored_len[k]):#010x}, computed {int(got_len[k]):#010x}); "
                        "the file is damaged, download it again"
                    )
                data_end = st + 12 + ln
                stored = buf[(data_end[:, None] + np.arange(4))].copy().view("<u4").reshape(-1)
                got = _mask_np(crc32c_batch(buf, st + 12, ln))
                bad = np.flatnonzero(stored != got)
                if bad.size:
                    k = int(bad[0])
                    raise CorruptData(
                        f"{path}: record {record_no + k}: CRC of the data does not match "
                        f"(stored {int(stored[k]):#010x}, computed {int(got[k]):#010x}); "
                        "the file is damaged, download it again"
                    )
            for s, n in zip(starts, lengths):
                yield data[s + 12 : s + 12 + n]
            record_no += len(starts)
            tail = data[pos:]


# ============================================================================ protobuf
@dataclass
class EvaluationData:
    current_epoch: float = 0.0
    training_time: float = 0.0
    train_accuracy: float = 0.0
    validation_accuracy: float = 0.0
    test_accuracy: float = 0.0
    checkpoint_path: str = ""


@dataclass
class ModelMetrics:
    evaluation_data: list[EvaluationData] = field(default_factory=list)
    trainable_parameters: int = 0
    total_time: float = 0.0


_EVAL_DOUBLES = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy", 5: "test_accuracy"}
_unpack_double = struct.Struct("<d").unpack_from


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    """``(field number, wire type, value)``: int for varints, float for doubles, bytes for
    length-delimited fields, int for 32-bit fields."""
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
            yield num, wire, val
        elif wire == 1:
            if pos + 8 > n:
                raise ValueError("truncated 64-bit field")
            yield num, wire, _unpack_double(buf, pos)[0]
            pos += 8
        elif wire == 2:
            ln, pos = _varint(buf, pos)
            if pos + ln > n:
                raise ValueError("truncated length-delimited field")
            yield num, wire, buf[pos : pos + ln]
            pos += ln
        elif wire == 5:
            if pos + 4 > n:
                raise ValueError("truncated 32-bit field")
            yield num, wire, struct.unpack_from("<I", buf, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire} (field {num})")


def decode_evaluation_data(buf: bytes) -> EvaluationData:
    ev = EvaluationData()
    for num, wire, val in _fields(buf):
        if wire == 1 and num in _EVAL_DOUBLES:
            setattr(ev, _EVAL_DOUBLES[num], val)
        elif num == 6 and wire == 2:
            ev.checkpoint_path = bytes(val).decode("utf-8", errors="replace")  # type: ignore[call-overload]
    return ev


def decode_model_metrics(buf: bytes) -> ModelMetrics:
    """Parse a serialised ``ModelMetrics`` (raises ``ValueError`` on malformed input)."""
    mm = ModelMetrics()
    for num, wire, val in _fields(buf):
        if num == 1 and wire == 2:
            mm.evaluation_data.append(decode_evaluation_data(val))  # type: ignore[arg-type]
        elif num == 2 and wire == 0:
            v = int(val)  # type: ignore[call-overload]
            mm.trainable_parameters = v - (1 << 64) if v >= 1 << 63 else v  # int32 as varint
        elif num == 3 and wire == 1:
            mm.total_time = float(val)  # type: ignore[arg-type]
    return mm


def _enc_varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _enc_double(num: int, v: float) -> bytes:
    return _enc_varint(num << 3 | 1) + struct.pack("<d", v)


def _enc_bytes(num: int, b: bytes) -> bytes:
    return _enc_varint(num << 3 | 2) + _enc_varint(len(b)) + b


def encode_evaluation_data(ev: EvaluationData) -> bytes:
    out = b"".join(_enc_double(num, getattr(ev, name)) for num, name in _EVAL_DOUBLES.items())
    if ev.checkpoint_path:
        out += _enc_bytes(6, ev.checkpoint_path.encode())
    return out


def encode_model_metrics(mm: ModelMetrics) -> bytes:
    """Serialise a ``ModelMetrics`` (as protobuf would, fields in number order)."""
    out = b"".join(_enc_bytes(1, encode_evaluation_data(ev)) for ev in mm.evaluation_data)
    out += _enc_varint(2 << 3 | 0) + _enc_varint(mm.trainable_parameters)
    out += _enc_double(3, mm.total_time)
    return out
