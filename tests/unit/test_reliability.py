"""Smaller reliability rules of issue 14: JSON output, the fetcher's mirror size check and
temp files, OS errors as exit codes, the lock file as an outside file."""
from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from bundle import jsonout
from bundle.cli import main
from bundle.errors import EXIT_CONFIG, EXIT_IO, ChecksumMismatch, WriteError
from bundle.fetch.fetcher import Fetcher
from bundle.fsutil import atomic_output, writing

SHA = "0" * 64


def test_json_output_never_holds_nan_or_infinity():
    text = jsonout.dumps({"a": float("inf"), "b": [float("nan"), 1.5, (float("-inf"),)], "c": "x"})
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {"a": None, "b": [None, 1.5, [None]],
                                                                         "c": "x"}


def _lock(tmp: Path, size: int) -> Path:
    lock = {"version": 1,
            "sources": {"s": {"repo": "r", "commit": "b" * 40, "url": "https://example.invalid/{upstream}"}},
            "files": [{"path": "data/big.bin", "source": "s", "upstream": "big.bin", "size": size, "sha256": SHA}]}
    (tmp / "lock.yaml").write_text(yaml.safe_dump(lock))
    return tmp / "lock.yaml"


def test_a_mirror_file_of_the_wrong_size_is_neither_copied_nor_hashed(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "data").mkdir(parents=True)
    with open(mirror / "data" / "big.bin", "wb") as fh:      # 64 GiB, sparse: hashing it would take minutes
        fh.truncate(64 << 30)
    fetcher = Fetcher.from_lock(_lock(tmp_path, 10), tmp_path / "cache", mirror, offline=True, progress=False)
    with pytest.raises(ChecksumMismatch, match="not copied or hashed"):
        fetcher.fetch("data/big.bin")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_a_failed_materialisation_leaves_no_temp_file(tmp_path, monkeypatch):
    data = b"x" * 10
    import hashlib

    lock = _lock(tmp_path, len(data))
    lock.write_text(lock.read_text().replace(SHA, hashlib.sha256(data).hexdigest()))
    mirror = tmp_path / "mirror"
    (mirror / "data").mkdir(parents=True)
    (mirror / "data" / "big.bin").write_bytes(data)
    fetcher = Fetcher.from_lock(lock, tmp_path / "cache", mirror, offline=True, progress=False)
    real_copy = shutil.copyfile

    def cross_device(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def disk_full(src, dst):
        if "tree" in str(dst):
            Path(dst).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(os, "link", cross_device)
    monkeypatch.setattr(shutil, "copyfile", disk_full)
    with pytest.raises(WriteError, match="No space left on device"):
        fetcher.fetch("data/big.bin")
    assert not list((tmp_path / "cache" / "tree").rglob(".fetch-*"))


def test_write_errors_name_the_file():
    with pytest.raises(WriteError, match="cannot write /x/y: No space left on device") as info:
        with writing("/x/y", "then rerun"):
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.exit_code == EXIT_IO and "then rerun" in info.value.hint


def test_atomic_output_is_as_readable_as_other_files(tmp_path):
    with atomic_output(tmp_path / "r.txt") as tmp:
        tmp.write_text("x")
    (tmp_path / "l.txt").write_text("x")
    assert (tmp_path / "r.txt").stat().st_mode == (tmp_path / "l.txt").stat().st_mode


@pytest.mark.parametrize("content", [None, b"version: 1\n# caf\xe9\n", b"- a\n", b"version: 1\nfiles: {a: 1}\n",
                                     b"version: 1\nsources: [1]\n", b"version: 1\nfiles: " + b"[" * 3000])
def test_cli_with_a_bad_lock_is_exit_3(tmp_path, monkeypatch, capsys, content):
    lock = tmp_path / "lock.yaml"
    if content is None:
        lock.mkdir()
    else:
        lock.write_bytes(content)
    monkeypatch.setenv("TINYREPRO_LOCK", str(lock))
    assert main(["fetch", "--cache", str(tmp_path / "c"), "models/"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"invalid lock file {lock}" in err and "Traceback" not in err


def test_an_unexpected_os_error_is_exit_8_not_a_traceback(tmp_path, capsys):
    (tmp_path / "script.async").mkdir()           # a folder where a file is expected
    code = main(["run", "--out", str(tmp_path / "o"), "--script", str(tmp_path / "script.async")])
    err = capsys.readouterr().err
    assert code in (EXIT_IO, 5) and "Traceback" not in err, err
