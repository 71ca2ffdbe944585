"""vww01: 96x96 Visual Wake Words images as 27648-byte HWC RGB uint8 files.

Rule, and where it comes from:
- Source: vw_coco2014_96.tar.gz, the archive the MLPerf Tiny VWW reference trains on
  (download URL in mlcommons/tiny v0.1/benchmarks/visual_wake_words/download_and_train_vww.sh
  and the visual_wake_words training README). It holds `vw_coco2014_96/person/*.jpg` and
  `vw_coco2014_96/non_person/*.jpg`, COCO 2014 train+val images already resized to 96x96 RGB
  by SiliconLabs platform_ml_models eembc/Person_detection/buildPersonDetectionDatabase.py,
  under their COCO file names (COCO_train2014_000000343218.jpg).
- File name: the 12-digit COCO image id + .bin (mlcommons/tiny
  benchmark/training/visual_wake_words/generate_y_labels.py lists the converted files of the
  person/ and non_person/ folders; the EnergyRunner names are 000000343218.bin).
- Label: 1 for person/, 0 for non_person/ (generate_y_labels.py); checked against y_labels.csv.
- Bytes: the JPEG decoded to RGB, 96 rows of 96 pixels, channels interleaved (HWC), uint8, as the
  reference feeds the model. Decoding uses Pillow (libjpeg-turbo): a different JPEG decoder can
  differ by a few levels in some pixels, which the manifest makes visible.
"""
from __future__ import annotations

import io
import re
import tarfile
import zlib
from pathlib import PurePosixPath
from pathlib import Path
from typing import Iterator

import numpy as np

from bundle.errors import ParseError

SIDE = 96
FOLDERS = {"person": 1, "non_person": 0}
_ID = re.compile(r"(\d+)$")
_HINT = ("the archive matched its pinned SHA-256 but a member is not a 96x96 JPEG of the "
         "vw_coco2014_96 layout: check the lock entry (archives: vw_coco2014_96)")


def rgb_bytes(jpeg: bytes, what: str = "image") -> bytes:
    """A 96x96 JPEG as HWC RGB uint8 bytes (27648)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(jpeg)) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ParseError(f"{what}: corrupt image ({type(err).__name__}: {err})", hint=_HINT) from None
    if rgb.size != (SIDE, SIDE):
        raise ParseError(f"{what}: {rgb.size[0]}x{rgb.size[1]} pixels, expected {SIDE}x{SIDE}", hint=_HINT)
    return np.asarray(rgb, dtype=np.uint8).tobytes()


def bin_name(member: str) -> tuple[str, int] | None:
    """(ic-style .bin name, label) for an archive member, or None if it is not an image."""
    p = PurePosixPath(member)
    if p.suffix.lower() not in (".jpg", ".jpeg") or p.parent.name not in FOLDERS:
        return None
    m = _ID.search(p.stem)
    return (f"{int(m.group(1)):012d}.bin", FOLDERS[p.parent.name]) if m else None


def stimuli(archive: Path, wanted: dict[str, int]) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) for every wanted name; names and labels are checked before any yield.
    Members are read in archive order, so the .tar.gz is decompressed twice at most."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            index: dict[str, tuple[tarfile.TarInfo, int]] = {}
            for info in tar.getmembers():
                hit = bin_name(info.name) if info.isfile() else None
                if hit and hit[0] in wanted:
                    if hit[0] in index:
                        raise ParseError(f"{archive}: {hit[0]} appears twice ({index[hit[0]][0].name}, {info.name})",
                                         hint=_HINT)
                    index[hit[0]] = (info, hit[1])
            missing = [n for n in wanted if n not in index]
            if missing:
                raise ParseError(f"{len(missing)} vww01 image(s) not in {archive.name}, e.g. {missing[:3]}", hint=_HINT)
            wrong = [n for n, lab in wanted.items() if index[n][1] != lab]
            if wrong:
                raise ParseError(f"{len(wrong)} vww01 image(s) sit in the other class folder than y_labels.csv "
                                 f"says, e.g. {index[wrong[0]][0].name}", hint=_HINT)
            for name, (info, _) in sorted(index.items(), key=lambda kv: kv[1][0].offset):
                yield name, rgb_bytes(tar.extractfile(info).read(), info.name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise ParseError(f"{archive}: corrupt archive ({type(err).__name__}: {err})", hint=_HINT) from None
