"""Small source archives in the upstream formats, made inside the tests (and for the corpus)."""
from __future__ import annotations

import io
import pickle
import tarfile
import wave
import zipfile

import numpy as np


def tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cifar_batch(images: list[tuple[str, int, np.ndarray]]) -> bytes:
    """A CIFAR-10 python batch pickle: bytes keys, planar (N, 3072) uint8 rows, b'name.png'."""
    batch = {b"batch_label": b"testing batch 1 of 1",
             b"labels": [lab for _, lab, _ in images],
             b"data": np.stack([np.asarray(px, dtype=np.uint8).reshape(3072) for _, _, px in images]),
             b"filenames": [name.encode() for name, _, _ in images]}
    return pickle.dumps(batch, protocol=2)


def cifar_archive(images) -> bytes:
    return tar_gz({"cifar-10-batches-py/batches.meta": b"", "cifar-10-batches-py/test_batch": cifar_batch(images)})


def jpeg(rgb: np.ndarray, quality: int = 95) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, dtype=np.uint8), "RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def wav_int16(samples: np.ndarray, sr: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


def zip_archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tone(freq: float, seconds: float = 10.0, sr: int = 16000, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).normal(0, 0.01, t.size)
    return np.round((amp * np.sin(2 * np.pi * freq * t) + noise) * 32767).astype(np.int16)
