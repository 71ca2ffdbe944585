"""ic01: CIFAR-10 test images as 3072-byte HWC uint8 files.

Rule, and where it comes from:
- Source: cifar-10-python.tar.gz, member `cifar-10-batches-py/test_batch`, a pickle of
  {data: uint8 (10000, 3072), labels: [int], filenames: [b'name.png']} (CIFAR-10 page;
  read the same way by mlcommons/tiny benchmark/training/image_classification/train.py,
  `load_cifar_10_data`, with pickle encoding='bytes').
- A row of `data` is planar: 1024 red, 1024 green, 1024 blue bytes, each 32x32 row-major.
  The reference reshapes it to (3, 32, 32) and moves the channel axis last (np.rollaxis(.., 1, 4)
  in train.py / test.py), so the model input, and the EnergyRunner file, is HWC: byte
  (y*32 + x)*3 + c is channel c of pixel (y, x).
- File name: the CIFAR `filenames` entry with .png replaced by .bin (the names in
  mlcommons/tiny benchmark/evaluation/datasets/ic01/y_labels.csv, e.g. emu_s_002009.bin).
- The CIFAR label of that image must equal the y_labels.csv label (checked, not assumed).
"""
from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

from bundle.errors import ParseError

MEMBER = "cifar-10-batches-py/test_batch"
SIDE, CHANNELS = 32, 3
_HINT = ("the archive matched its pinned SHA-256 but its content is not the CIFAR-10 python "
         "format: check the lock entry (archives: cifar-10-python) against the CIFAR-10 page")


def hwc_bytes(row: np.ndarray) -> bytes:
    """One CIFAR row (3072 planar bytes) as interleaved HWC bytes."""
    planes = np.asarray(row, dtype=np.uint8).reshape(CHANNELS, SIDE, SIDE)
    return np.ascontiguousarray(planes.transpose(1, 2, 0)).tobytes()


class _NumpyOnly(pickle.Unpickler):
    """The batch pickle holds only numpy arrays, lists and bytes: refuse anything else
    (_codecs.encode is how a Python 3 pickler writes bytes at protocol 2)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected global {module}.{name}")
        return super().find_class(module, name)


def read_batch(data: bytes) -> tuple[np.ndarray, list[int], list[str]]:
    """(data (N, 3072) uint8, labels, file names) of one CIFAR-10 python batch pickle."""
    try:
        batch = _NumpyOnly(io.BytesIO(data), encoding="bytes").load()
        get = lambda key: batch[key] if key in batch else batch[key.decode()]  # noqa: E731
        pixels = np.asarray(get(b"data"), dtype=np.uint8)
        labels = [int(v) for v in get(b"labels")]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in get(b"filenames")]
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as err:
        raise ParseError(f"{MEMBER}: not a CIFAR-10 batch pickle ({type(err).__name__}: {err})", hint=_HINT) from None
    if pixels.ndim != 2 or pixels.shape[1] != SIDE * SIDE * CHANNELS or not len(pixels) == len(labels) == len(names):
        raise ParseError(f"{MEMBER}: data {pixels.shape}, {len(labels)} labels, {len(names)} names do not agree",
                         hint=_HINT)
    return pixels, labels, names


def read_archive(archive: Path) -> tuple[np.ndarray, list[int], list[str]]:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            fh = tar.extractfile(MEMBER)
            if fh is None:
                raise KeyError(MEMBER)
            return read_batch(fh.read())
    except KeyError:
        raise ParseError(f"{archive}: no member {MEMBER}", hint=_HINT) from None
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ParseError(f"{archive}: corrupt archive member ({type(err).__name__}: {err})", hint=_HINT) from None


def stimuli(archive: Path, wanted: dict[str, int]) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) for every wanted name; every name and label is checked first."""
    pixels, labels, names = read_archive(archive)
    index = {Path(n).stem + ".bin": i for i, n in enumerate(names)}
    missing = [n for n in wanted if n not in index]
    if missing:
        raise ParseError(f"{len(missing)} ic01 name(s) not in the CIFAR-10 test batch, e.g. {missing[:3]}", hint=_HINT)
    wrong = [(n, labels[index[n]], lab) for n, lab in wanted.items() if labels[index[n]] != lab]
    if wrong:
        raise ParseError(f"CIFAR-10 labels differ from y_labels.csv for {len(wrong)} image(s), e.g. "
                         f"{wrong[0][0]}: CIFAR {wrong[0][1]}, y_labels {wrong[0][2]}", hint=_HINT)
    for name in wanted:
        yield name, hwc_bytes(pixels[index[name]])
