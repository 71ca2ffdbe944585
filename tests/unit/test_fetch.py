"""Fetch layer: mirror, cache, HTTPS-style download with resume, checksum refusal.

Downloads are tested against a real HTTP server on loopback that honours Range."""
from __future__ import annotations

import hashlib
import http.server
import os
import threading
from pathlib import Path

import pytest
import yaml

from bundle.errors import ChecksumMismatch, ConfigError, NetworkUnavailable
from bundle.fetch import Fetcher, load_lock

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "lock"


def _lock(tmp_path: Path, files: dict[str, bytes], url: str = "http://127.0.0.1:9/{upstream}") -> Path:
    entries = [{"path": rel, "source": "s", "upstream": rel, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest()} for rel, data in files.items()]
    doc = {"version": 1, "sources": {"s": {"repo": "a/b", "commit": "a" * 40, "url": url}}, "files": entries}
    path = tmp_path / "lock.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _mirror(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "mirror"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


FILES = {"d/a.bin": b"alpha" * 100, "d/b.bin": b"beta" * 50, "e/c.txt": b"gamma\n"}


def test_mirror_then_cache(tmp_path):
    f = Fetcher.from_lock(_lock(tmp_path, FILES), tmp_path / "cache", _mirror(tmp_path, FILES),
                          offline=True, progress=False)
    root = f.fetch_tree("d/")
    assert sorted(p.name for p in root.iterdir()) == ["a.bin", "b.bin"]
    assert (root / "a.bin").read_bytes() == FILES["d/a.bin"]
    assert f.stats.from_mirror == 2


def test_offline_without_mirror_names_file_and_both_fixes(tmp_path):
    f = Fetcher.from_lock(_lock(tmp_path, FILES), tmp_path / "cache", None, offline=True, progress=False)
    with pytest.raises(NetworkUnavailable) as err:
        f.fetch("e/c.txt")
    text = str(err.value)
    assert "e/c.txt" in text and "--mirror" in text and "TINYREPRO_MIRROR" in text


def test_no_network_without_mirror_is_clear(tmp_path, monkeypatch):
    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    f = Fetcher.from_lock(_lock(tmp_path, FILES), tmp_path / "cache", None, progress=False, timeout_s=2)
    with pytest.raises(NetworkUnavailable) as err:
        f.fetch("d/a.bin")  # port 9 on loopback: connection refused
    assert "d/a.bin" in str(err.value) and "--mirror" in str(err.value)


def test_mirror_checksum_mismatch_is_error_and_not_kept(tmp_path):
    mirror = _mirror(tmp_path, {**FILES, "d/a.bin": b"tampered"})
    f = Fetcher.from_lock(_lock(tmp_path, FILES), tmp_path / "cache", mirror, offline=True, progress=False)
    with pytest.raises(ChecksumMismatch) as err:
        f.fetch("d/a.bin")
    assert "d/a.bin" in str(err.value)
    sha = hashlib.sha256(FILES["d/a.bin"]).hexdigest()
    assert not (tmp_path / "cache" / "sha256" / sha).exists()
    assert not (tmp_path / "cache" / "tree" / "d" / "a.bin").exists()
    assert not [p for p in (tmp_path / "cache" / "sha256").iterdir()]  # no temp left behind


def test_corrupt_cache_entry_is_replaced(tmp_path):
    lock = _lock(tmp_path, FILES)
    mirror = _mirror(tmp_path, FILES)
    f = Fetcher.from_lock(lock, tmp_path / "cache", mirror, offline=True, progress=False)
    obj = tmp_path / "cache" / "sha256" / hashlib.sha256(FILES["e/c.txt"]).hexdigest()
    f.fetch("e/c.txt")
    obj.write_bytes(b"rotten")
    assert Fetcher.from_lock(lock, tmp_path / "cache", mirror, offline=True, progress=False) \
        .fetch("e/c.txt").read_bytes() == FILES["e/c.txt"]


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    fail_after: dict[str, int] = {}
    seen_ranges: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        data = self.files.get(self.path.lstrip("/"))
        if data is None:
            self.send_error(404)
            return
        start = 0
        rng = self.headers.get("Range")
        if rng:
            self.seen_ranges.append(rng)
            start = int(rng.split("=")[1].split("-")[0])
        body = data[start:]
        cut = self.fail_after.pop(self.path.lstrip("/"), None)
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # a dropped connection halfway: the client keeps its .part and resumes
        self.wfile.write(body if cut is None else body[:cut])

    def log_message(self, *a):
        pass


@pytest.fixture
def http_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_download_resumes_and_verifies(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    _RangeHandler.files = dict(FILES)
    _RangeHandler.fail_after = {"d/a.bin": 123}
    _RangeHandler.seen_ranges = []
    url = f"http://127.0.0.1:{http_server.server_port}/{{upstream}}"
    f = Fetcher.from_lock(_lock(tmp_path, FILES, url), tmp_path / "cache", None, progress=False, timeout_s=5)
    with pytest.raises(NetworkUnavailable):
        f.fetch("d/a.bin")  # short body: requests raises on the truncated stream
    part = next((tmp_path / "cache" / "sha256").glob("*.part"))
    assert 0 < part.stat().st_size < len(FILES["d/a.bin"])
    assert f.fetch("d/a.bin").read_bytes() == FILES["d/a.bin"]
    assert _RangeHandler.seen_ranges == ["bytes=123-"]


def test_download_checksum_mismatch_not_kept(tmp_path, http_server, monkeypatch):
    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    _RangeHandler.files = {**FILES, "d/b.bin": b"x" * len(FILES["d/b.bin"])}
    _RangeHandler.fail_after = {}
    url = f"http://127.0.0.1:{http_server.server_port}/{{upstream}}"
    f = Fetcher.from_lock(_lock(tmp_path, FILES, url), tmp_path / "cache", None, progress=False, timeout_s=5)
    with pytest.raises(ChecksumMismatch):
        f.fetch("d/b.bin")
    assert not list((tmp_path / "cache" / "sha256").iterdir())


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_bad_lock_files(case):
    with pytest.raises(ConfigError) as err:
        load_lock(CORPUS / case)
    assert "invalid lock file" in str(err.value) and err.value.hint


def test_project_lock_pins_everything_in_the_mirror():
    lock = load_lock()
    assert len(lock.files) >= 1099
    assert lock.sources["tiny_results_v1.0"].commit == "c7761cf84076d601c4a0ed2ecc51e77d40696ed2"
    f = lock.get("models/kws_ref_model.tflite")
    assert f.url.startswith("https://raw.githubusercontent.com/mlcommons/tiny/1afd2c98")
    assert lock.toolchain["tvm"]["commit"] == "e3a6cb6a1bc1764e261321713ab275461b36dcc0"


def test_mirror_env_var_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYREPRO_MIRROR", str(_mirror(tmp_path, FILES)))
    f = Fetcher.from_lock(_lock(tmp_path, FILES), tmp_path / "cache", offline=True, progress=False)
    assert f.fetch("d/b.bin").read_bytes() == FILES["d/b.bin"]


def test_archive_download_resumes_verifies_and_shows_progress(tmp_path, http_server, monkeypatch):
    """Pinned archives (lock `archives:`) go through the same download code: .part, Range, SHA-256."""
    import bundle.fetch.fetcher as fetcher_mod

    monkeypatch.delenv("TINYREPRO_MIRROR", raising=False)
    monkeypatch.setattr(fetcher_mod, "BAR_ABOVE", 0)  # a bar even for this small archive
    data = os.urandom(300_000)
    _RangeHandler.files = {"big.tar.gz": data}
    _RangeHandler.fail_after = {"big.tar.gz": 100_000}
    _RangeHandler.seen_ranges = []
    lock = _lock(tmp_path, FILES)
    doc = yaml.safe_load(lock.read_text())
    doc["archives"] = {"big": {"url": f"http://127.0.0.1:{http_server.server_port}/big.tar.gz",
                               "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
                       "unset": {"url": "https://example.invalid/x.zip", "size": "UNSET", "sha256": "UNSET"}}
    lock.write_text(yaml.safe_dump(doc))
    f = Fetcher.from_lock(lock, tmp_path / "cache", None, progress=True, timeout_s=5)
    with pytest.raises(NetworkUnavailable):
        f.fetch_archive("big")
    assert f.fetch_archive("big").read_bytes() == data
    assert _RangeHandler.seen_ranges == ["bytes=100000-"]
    assert load_lock(lock).archives["big"].path == "archives/big.tar.gz"
    with pytest.raises(ConfigError, match="UNSET"):
        f.fetch_archive("unset")
    with pytest.raises(ConfigError, match="not pinned"):
        f.fetch_archive("nope")


# -- files pinned by git blob id (too large to mirror) -------------------------------------------
BLOB = b"00001.000 dut: m-results-[0.5]\n" * 1000


def _blob_lock(tmp_path: Path, blob_id: str, url: str = "http://127.0.0.1:9/{upstream}") -> Path:
    doc = {"version": 1, "sources": {"s": {"repo": "a/b", "commit": "a" * 40, "url": url}}, "files": [],
           "git_blobs": [{"path": "r/ad/accuracy/log.txt", "source": "s", "upstream": "r/ad/accuracy/log.txt",
                          "git_blob": blob_id}]}
    path = tmp_path / "lock.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_git_blob_id_is_what_git_hash_object_prints(tmp_path):
    import subprocess

    from bundle.fetch.lock import git_blob_id

    (tmp_path / "f").write_bytes(BLOB)
    assert git_blob_id(BLOB) == subprocess.run(["git", "hash-object", str(tmp_path / "f")], capture_output=True,
                                               text=True, check=True).stdout.strip()


def test_a_git_blob_is_verified_by_its_id_and_a_wrong_one_refused(tmp_path):
    from bundle.fetch.lock import git_blob_id

    mirror = _mirror(tmp_path, {"r/ad/accuracy/log.txt": BLOB})
    f = Fetcher.from_lock(_blob_lock(tmp_path, git_blob_id(BLOB)), tmp_path / "cache", mirror, offline=True,
                          progress=False)
    assert f.fetch_blob("r/ad/accuracy/log.txt").read_bytes() == BLOB
    assert f.fetch_blobs("r/") == ([tmp_path / "cache" / "tree" / "r/ad/accuracy/log.txt"], {})
    wrong = Fetcher.from_lock(_blob_lock(tmp_path, "0" * 40), tmp_path / "cache2", mirror, offline=True,
                              progress=False)
    with pytest.raises(ChecksumMismatch, match="git blob id mismatch"):
        wrong.fetch_blob("r/ad/accuracy/log.txt")
    assert not (tmp_path / "cache2" / "tree" / "r").exists()


def test_an_unreachable_git_blob_is_reported_not_replaced(tmp_path):
    f = Fetcher.from_lock(_blob_lock(tmp_path, "1" * 40), tmp_path / "cache", None, offline=True, progress=False)
    got, missing = f.fetch_blobs("r/")
    assert got == [] and "offline" in missing["r/ad/accuracy/log.txt"]


def test_the_lock_pins_the_six_ad_accuracy_files_by_git_blob():
    lock = load_lock()
    assert len(lock.git_blobs) == 6
    assert {p.split("/")[-1] for p in lock.git_blobs} == {"log.txt", "script.async"}
    assert all("/ad/accuracy/" in p and p not in lock.files for p in lock.git_blobs)
