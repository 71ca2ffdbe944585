"""An archive pinned by its publisher's digest (MD5 + exact size, as the lock pins
dev_data_ToyCar.zip): verified on download before anything reads it, its SHA-256 recorded
(cache record, stimuli manifest, stage result) and checked by SHA-256 from then on.
Downloads go to a loopback HTTP server (test_fetch's) serving a small synthetic ToyCar zip."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from bundle.pipeline.session import session_for
from bundle.reproduce_config import load_reproduce_config
from bundle.errors import ChecksumMismatch, ConfigError
from bundle.fetch import Fetcher, load_lock
from bundle.fetch.learned import learned_sha256, record_path
from bundle.commands.plan import plan
from bundle.stimuli import prepare
from bundle.stimuli.stage import MANIFEST, NOT_RUN, READY, SOURCE
from stimuli_formats import tone, wav_int16, zip_archive
from test_fetch import _RangeHandler, http_server  # noqa: F401  (the loopback server fixture)

LABELS = b"normal_id_01_00000003_hist_librosa.bin,2,0,2560,512\n"
AID = "dev_data_ToyCar"


def _zip(seed: int = 1) -> bytes:
    return zip_archive({"ToyCar/test/normal_id_01_00000003.wav": wav_int16(tone(1000.0, seed=seed))})


def _fetcher(tmp_path: Path, port: int, pinned: bytes, mirror_archive: bytes | None = None) -> Fetcher:
    """A lock pinning ad01's labels (in a mirror) and the archive by MD5 + size only."""
    rel = "datasets/ad01/y_labels.csv"
    doc = {"version": 1, "sources": {"s": {"repo": "a/b", "commit": "a" * 40, "url": "http://127.0.0.1:9/{upstream}"}},
           "files": [{"path": rel, "source": "s", "upstream": rel, "size": len(LABELS),
                      "sha256": hashlib.sha256(LABELS).hexdigest()}],
           "archives": {AID: {"url": f"http://127.0.0.1:{port}/dev_data_ToyCar.zip", "size": len(pinned),
                              "md5": hashlib.md5(pinned).hexdigest()}}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "lock.yaml").write_text(yaml.safe_dump(doc))
    mirror = tmp_path / "mirror"
    (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
    (mirror / rel).write_bytes(LABELS)
    if mirror_archive is not None:
        (mirror / "archives").mkdir()
        (mirror / "archives" / "dev_data_ToyCar.zip").write_bytes(mirror_archive)
    return Fetcher.from_lock(tmp_path / "lock.yaml", tmp_path / "cache", mirror, progress=False, timeout_s=5)


def _serve(data: bytes, cut: int | None = None) -> None:
    _RangeHandler.files = {"dev_data_ToyCar.zip": data}
    _RangeHandler.fail_after = {"dev_data_ToyCar.zip": cut} if cut else {}
    _RangeHandler.seen_ranges = []


def test_md5_pinned_archive_is_downloaded_verified_and_its_sha256_recorded(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    data = _zip()
    sha = hashlib.sha256(data).hexdigest()
    _serve(data, cut=len(data) // 2)              # the first connection drops halfway: resumed
    f = _fetcher(tmp_path, http_server.server_port, data)
    assert f.archive_sha256(AID) is None          # not known before the first verified fetch
    first = prepare("ad01", f, tmp_path / "out")
    assert first.status == NOT_RUN and first.reason.startswith("download failed")
    r = prepare("ad01", f, tmp_path / "out")
    assert _RangeHandler.seen_ranges and r.status == READY and r.written == 1
    assert r.archive_sha256 == sha and f.archive_sha256(AID) == sha
    assert (tmp_path / "cache" / "sha256" / sha).read_bytes() == data
    rec = json.loads(record_path(tmp_path / "cache", f.lock.archives[AID]).read_text())
    assert rec["sha256"] == sha and rec["md5"] == hashlib.md5(data).hexdigest() and rec["size"] == len(data)
    source = json.loads((tmp_path / "out" / "ad01" / SOURCE).read_text())
    assert (source["archive"], source["sha256"], source["md5"]) == (AID, sha, hashlib.md5(data).hexdigest())
    assert source["pinned_by"].startswith("md5 + size")
    assert all(len(line.split()[0]) == 64 for line in (tmp_path / "out" / "ad01" / MANIFEST).read_text().splitlines())
    # a set found complete later keeps naming its source archive, without touching it
    again = prepare("ad01", f, tmp_path / "out")
    assert (again.status, again.written, again.archive_sha256) == (READY, 0, sha)


def test_later_fetches_are_checked_by_the_learned_sha256(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    data = _zip()
    _serve(data)
    f = _fetcher(tmp_path, http_server.server_port, data)
    obj = f.fetch_archive(AID)
    obj.unlink()                                   # the cache object is gone, the record stays
    other = _zip(seed=2)
    assert len(other) == len(data)
    _serve(other)
    with pytest.raises(ChecksumMismatch, match="got sha256"):
        f.fetch_archive(AID)
    _serve(data)
    assert f.fetch_archive(AID).read_bytes() == data


def test_wrong_md5_is_refused_before_anything_reads_it(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    good, bad = _zip(), _zip(seed=3)
    _serve(bad)
    f = _fetcher(tmp_path, http_server.server_port, good)
    with pytest.raises(ChecksumMismatch, match="got md5") as err:
        prepare("ad01", f, tmp_path / "out")
    assert err.value.hint and not (tmp_path / "out" / "ad01").exists()
    assert learned_sha256(tmp_path / "cache", f.lock.archives[AID]) is None
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file() and p.stat().st_size == len(bad)]


def test_mirror_copy_is_checked_by_md5_too(tmp_path, http_server):
    good = _zip()
    f = _fetcher(tmp_path, http_server.server_port, good, mirror_archive=_zip(seed=4))
    f.offline = True
    with pytest.raises(ChecksumMismatch, match="mirror file"):
        f.fetch_archive(AID)
    g = _fetcher(tmp_path / "b", http_server.server_port, good, mirror_archive=good)
    g.offline = True
    assert g.fetch_archive(AID).name == hashlib.sha256(good).hexdigest()


@pytest.mark.parametrize("bad, message", [
    ({"md5": "xyz"}, "md5 must be 32 hex digits"),
    ({"md5": "a" * 32, "size": "UNSET"}, "size must be a positive byte count"),
    ({"size": 10}, "needs url, size and sha256 (or the publisher's md5)"),
])
def test_md5_lock_entries_are_validated(tmp_path, bad, message):
    entry = {"url": "https://x/a.zip", "size": 10, **bad}
    doc = {"version": 1, "archives": {"a": entry}}
    (tmp_path / "lock.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="invalid lock file") as err:
        load_lock(tmp_path / "lock.yaml")
    assert message in str(err.value)


def test_project_lock_has_no_unset_archive_and_ad01_is_runnable_given_the_network(tmp_path):
    lock = load_lock()
    assert all(a.pinned for a in lock.archives.values())
    toycar = lock.archives[AID]
    assert (toycar.md5, toycar.size) == ("4dec75ca8d9f666aa9e4c1894a740501", 1_816_443_231)
    assert "UNSET" not in yaml.safe_dump(yaml.safe_load(lock.path.read_text())["archives"])
    ctx = session_for(load_reproduce_config(None), tmp_path, port=None, engine="local",
                      base_image=None, limit=None, backends=[], system="microtvm_native/NUCLEO_L4R5ZI",
                      cache=tmp_path / "cache", mirror=None,
                      reachable=frozenset({"pypi", "debian", "github", "zenodo"}))
    by = {s["name"]: s for s in plan(ctx, docker=False)["stages"]}
    assert by["stimuli:ad01"]["runnable"], by["stimuli:ad01"]
