"""Stimulus preparation (ic01, vww01, ad01) from small archives in the upstream formats,
reached through the fetch layer (test lock + mirror folder), never the network."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import yaml

from bundle.errors import ChecksumMismatch, ParseError
from bundle.fetch import Fetcher
from bundle.stimuli import prepare, prepare_all
from bundle.stimuli.cifar import hwc_bytes
from bundle.stimuli.stage import MANIFEST, NOT_RUN, PARTIAL, READY, FAILED
from stimuli_formats import cifar_archive, jpeg, tar_gz, tone, wav_int16, zip_archive

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "stimuli"
ARCHIVES = {"ic01": ("cifar-10-python", "https://example.invalid/cifar-10-python.tar.gz"),
            "vww01": ("vw_coco2014_96", "https://example.invalid/vw_coco2014_96.tar.gz"),
            "ad01": ("dev_data_ToyCar", "https://example.invalid/dev_data_ToyCar.zip")}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _setup(tmp_path: Path, name: str, labels: str, archive: bytes | None, pinned: bytes | None = None,
           unset: bool = False, in_mirror: bool = True, url: str | None = None, offline: bool = True) -> Fetcher:
    """A lock pinning y_labels.csv and the set's archive (by `pinned`'s digest, default the
    archive's own), a mirror holding both, and a fetcher over them."""
    aid, default_url = ARCHIVES[name]
    url = url or default_url
    pinned = archive if pinned is None else pinned
    labels_b = labels.encode()
    rel = f"datasets/{name}/y_labels.csv"
    doc = {"version": 1, "sources": {"s": {"repo": "a/b", "commit": "a" * 40, "url": "http://127.0.0.1:9/{upstream}"}},
           "files": [{"path": rel, "source": "s", "upstream": rel, "size": len(labels_b), "sha256": _sha(labels_b)}],
           "archives": {aid: {"url": url, "size": "UNSET" if unset else len(pinned),
                              "sha256": "UNSET" if unset else _sha(pinned)}}}
    tmp_path.mkdir(parents=True, exist_ok=True)
    lock = tmp_path / "lock.yaml"
    lock.write_text(yaml.safe_dump(doc))
    mirror = tmp_path / "mirror"
    (mirror / rel).parent.mkdir(parents=True, exist_ok=True)
    (mirror / rel).write_bytes(labels_b)
    if archive is not None and in_mirror:
        (mirror / "archives").mkdir(exist_ok=True)
        (mirror / "archives" / url.rsplit("/", 1)[-1]).write_bytes(archive)
    return Fetcher.from_lock(lock, tmp_path / "cache", mirror, offline=offline, progress=False, timeout_s=2)


def _manifest(folder: Path) -> dict[str, str]:
    return {line.split()[1]: line.split()[0] for line in (folder / MANIFEST).read_text().splitlines()}


# -- ic01 ---------------------------------------------------------------------------------
def _cifar_images(n: int = 4, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [(f"img{i}_s_00000{i}.png", i % 10, rng.integers(0, 256, (3, 32, 32), dtype=np.uint8)) for i in range(n)]


def test_cifar_row_becomes_hwc():
    planes = np.random.default_rng(0).integers(0, 256, (3, 32, 32), dtype=np.uint8)
    data = hwc_bytes(planes.reshape(3072))
    assert len(data) == 3072
    for y, x in [(0, 0), (0, 31), (5, 7), (31, 0), (31, 31)]:
        off = (y * 32 + x) * 3
        assert tuple(data[off:off + 3]) == (planes[0, y, x], planes[1, y, x], planes[2, y, x])


def test_ic01_prepared_through_the_fetch_layer(tmp_path):
    images = _cifar_images()
    labels = "img2_s_000002.bin,10,2\nimg0_s_000000.bin,10,0\n"
    f = _setup(tmp_path, "ic01", labels, cifar_archive(images))
    r = prepare("ic01", f, tmp_path / "out")
    assert r.status == READY and r.files == 2 and r.written == 2 and r.kept == 0 and r.bytes == 6144
    folder = tmp_path / "out" / "ic01"
    assert sorted(p.name for p in folder.iterdir()) == [MANIFEST, "SOURCE.json", "img0_s_000000.bin",
                                                        "img2_s_000002.bin", "y_labels.csv"]
    data = (folder / "img2_s_000002.bin").read_bytes()
    planes = images[2][2]
    assert len(data) == 3072 and data[(3 * 32 + 4) * 3:(3 * 32 + 4) * 3 + 3] == bytes(planes[:, 3, 4])
    assert (folder / "y_labels.csv").read_text() == labels
    man = _manifest(folder)
    assert list(man) == ["img2_s_000002.bin", "img0_s_000000.bin"]  # y_labels order
    assert all(man[n] == _sha((folder / n).read_bytes()) for n in man)
    assert r.manifest == folder / MANIFEST and r.manifest_sha256 == _sha((folder / MANIFEST).read_bytes())
    assert r.summary()["manifest"] == str(folder / MANIFEST)


def test_ic01_label_disagreeing_with_cifar_is_refused_before_writing(tmp_path):
    f = _setup(tmp_path, "ic01", "img2_s_000002.bin,10,7\n", cifar_archive(_cifar_images()))
    with pytest.raises(ParseError) as err:
        prepare("ic01", f, tmp_path / "out")
    assert "CIFAR 2, y_labels 7" in str(err.value) and err.value.hint
    assert not (tmp_path / "out" / "ic01").exists()


# -- vww01 --------------------------------------------------------------------------------
def _halves() -> np.ndarray:
    img = np.zeros((96, 96, 3), dtype=np.uint8)
    img[:, :48] = (250, 10, 10)
    img[:, 48:] = (10, 10, 250)
    return img


def test_vww01_layout_names_and_labels(tmp_path):
    from PIL import Image
    import io

    top = np.zeros((96, 96, 3), dtype=np.uint8)
    top[:48] = (10, 240, 10)
    members = {"vw_coco2014_96/person/COCO_train2014_000000343218.jpg": jpeg(_halves()),
               "vw_coco2014_96/non_person/COCO_val2014_000000000042.jpg": jpeg(top),
               "vw_coco2014_96/person/COCO_val2014_000000000007.jpg": jpeg(np.full((96, 96, 3), 99))}
    f = _setup(tmp_path, "vww01", "000000000042.bin,2,0\n000000343218.bin,2,1\n", tar_gz(members))
    r = prepare("vww01", f, tmp_path / "out")
    assert r.status == READY and r.written == 2
    folder = tmp_path / "out" / "vww01"
    halves = (folder / "000000343218.bin").read_bytes()
    assert len(halves) == 27648
    px = lambda data, y, x: tuple(data[(y * 96 + x) * 3:(y * 96 + x) * 3 + 3])  # noqa: E731
    assert all(abs(a - b) <= 8 for a, b in zip(px(halves, 50, 10), (250, 10, 10)))   # left: red
    assert all(abs(a - b) <= 8 for a, b in zip(px(halves, 50, 90), (10, 10, 250)))   # right: blue
    topb = (folder / "000000000042.bin").read_bytes()
    assert all(abs(a - b) <= 8 for a, b in zip(px(topb, 10, 50), (10, 240, 10)))     # top rows: green
    assert all(v <= 8 for v in px(topb, 90, 50))
    decoded = np.asarray(Image.open(io.BytesIO(members["vw_coco2014_96/person/COCO_train2014_000000343218.jpg"])))
    assert halves == decoded.astype(np.uint8).tobytes()
    assert set(_manifest(folder)) == {"000000000042.bin", "000000343218.bin"}


def test_vww01_wrong_class_folder_is_refused(tmp_path):
    members = {"vw_coco2014_96/non_person/COCO_val2014_000000000042.jpg": jpeg(_halves())}
    f = _setup(tmp_path, "vww01", "000000000042.bin,2,1\n", tar_gz(members))
    with pytest.raises(ParseError, match="other class folder"):
        prepare("vww01", f, tmp_path / "out")
    assert not (tmp_path / "out" / "vww01").exists()


# -- ad01 ---------------------------------------------------------------------------------
AD_NAMES = ["normal_id_01_00000003_hist_librosa.bin", "anomaly_id_02_00000010_hist_librosa.bin"]


def _toycar() -> tuple[bytes, dict[str, np.ndarray]]:
    clips = {"normal_id_01_00000003": tone(1000.0, seed=1), "anomaly_id_02_00000010": tone(3000.0, seed=2),
             "normal_id_01_00000004": tone(500.0, seed=3)}
    members = {f"ToyCar/test/{k}.wav": wav_int16(v) for k, v in clips.items()}
    # train/ reuses test/'s clip names: only test/ clips are ad01 stimuli
    members["ToyCar/train/normal_id_01_00000003.wav"] = wav_int16(tone(200.0, seed=4))
    return zip_archive(members), clips


def test_ad01_log_mel_rule_layout_and_byte_order(tmp_path):
    import librosa

    archive, clips = _toycar()
    f = _setup(tmp_path, "ad01", "".join(f"{n},2,{int(n.startswith('anomaly'))},2560,512\n" for n in AD_NAMES), archive)
    r = prepare("ad01", f, tmp_path / "out")
    assert r.status == READY and r.written == 2 and r.bytes == 2 * 102400
    data = (tmp_path / "out" / "ad01" / AD_NAMES[0]).read_bytes()
    assert len(data) == 102400
    frames = np.frombuffer(data, dtype="<f4").reshape(200, 128)
    # The reference rule written out independently: librosa.load(sr=None) scaling, 128-band power
    # mel, 10*log10(+eps), frames 50..249, transposed to (frames, mels), little-endian float32.
    y = clips["normal_id_01_00000003"].astype(np.float32) / 32768.0
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=1024, hop_length=512, n_mels=128, power=2.0)
    expect = (10.0 * np.log10(mel + np.finfo(float).eps))[:, 50:250].T
    np.testing.assert_allclose(frames, expect, rtol=0, atol=1e-3)
    assert frames.dtype.byteorder in "<=" and data[:4] == np.float32(frames[0, 0]).astype("<f4").tobytes()
    # a 1 kHz tone: the loudest band is the one whose centre is nearest 1 kHz, in every frame
    centres = librosa.mel_frequencies(n_mels=130, fmax=8000)[1:-1]
    assert set(frames.argmax(axis=1)) == {int(np.abs(centres - 1000).argmin())}
    # EnergyRunner windows: 2560 bytes at a 512-byte stride = 5 consecutive frames, 196 per clip
    k = 37
    window = np.frombuffer(data[k * 512:k * 512 + 2560], dtype="<f4")
    assert np.array_equal(window, frames[k:k + 5].reshape(640)) and (len(data) - 2560) // 512 + 1 == 196


# -- refusal, resume, NOT_RUN -----------------------------------------------------------------
GOOD = {"ic01": lambda: cifar_archive([("x_s_000001.png", 3, np.ones((3, 32, 32), dtype=np.uint8))]),
        "vww01": lambda: tar_gz({"vw_coco2014_96/person/COCO_val2014_000000000001.jpg": jpeg(_halves())}),
        "ad01": lambda: _toycar()[0]}
ONE = {"ic01": "x_s_000001.bin,10,3\n", "vww01": "000000000001.bin,2,1\n",
       "ad01": "normal_id_01_00000003_hist_librosa.bin,2,0,2560,512\n"}


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.iterdir() if p.name.startswith(("checksum-", "member-"))))
def test_bad_archives_are_refused_before_any_output(tmp_path, case):
    """checksum-*: the lock pins the good archive, the mirror holds this file (wrong or truncated):
    refused by SHA-256. member-*: the lock pins this very file, whose content is corrupt: an error
    with a hint. Either way no stimulus is written."""
    kind, name = case.split("-")[:2]
    bad = (CORPUS / case).read_bytes()
    f = _setup(tmp_path, name, ONE[name], bad, pinned=GOOD[name]() if kind == "checksum" else bad)
    with pytest.raises(ChecksumMismatch if kind == "checksum" else ParseError) as err:
        prepare(name, f, tmp_path / "out")
    assert err.value.hint
    written = list((tmp_path / "out").rglob("*.bin")) if (tmp_path / "out").exists() else []
    assert written == []
    assert not (tmp_path / "cache" / "sha256" / _sha(bad)).exists() or kind == "member"


def test_resume_keeps_checked_files_and_redoes_the_rest(tmp_path):
    images = _cifar_images(5)
    labels = "".join(f"{n[:-4]}.bin,10,{lab}\n" for n, lab, _ in images)
    f = _setup(tmp_path, "ic01", labels, cifar_archive(images))
    out = tmp_path / "out"
    first = prepare("ic01", f, out)
    folder = out / "ic01"
    good = {p.name: p.read_bytes() for p in folder.glob("*.bin")}
    # an interrupted run: only the partial record is there, one file missing, one damaged
    (folder / MANIFEST).rename(folder / PARTIAL)
    (folder / "img1_s_000001.bin").unlink()
    (folder / "img3_s_000003.bin").write_bytes(b"\0" * 3072)
    r = prepare("ic01", f, out)
    assert (first.written, r.kept, r.written) == (5, 3, 2)
    assert {p.name: p.read_bytes() for p in folder.glob("*.bin")} == good
    assert not (folder / PARTIAL).exists() and _manifest(folder) == {n: _sha(d) for n, d in good.items()}


def test_complete_set_is_ready_offline_without_its_archive(tmp_path):
    images = _cifar_images(2)
    labels = "img0_s_000000.bin,10,0\nimg1_s_000001.bin,10,1\n"
    out = tmp_path / "out"
    assert prepare("ic01", _setup(tmp_path / "a", "ic01", labels, cifar_archive(images)), out).status == READY
    f = _setup(tmp_path / "b", "ic01", labels, cifar_archive(images), in_mirror=False)
    r = prepare("ic01", f, out)
    assert (r.status, r.kept, r.written) == (READY, 2, 0)


def test_not_run_reasons(tmp_path):
    archive = cifar_archive(_cifar_images(1))
    labels = "img0_s_000000.bin,10,0\n"
    unset = prepare("ic01", _setup(tmp_path / "u", "ic01", labels, archive, unset=True), tmp_path / "o1")
    assert unset.status == NOT_RUN and unset.reason.startswith("pin UNSET") and "cifar-10-python" in unset.reason
    offline = prepare("ic01", _setup(tmp_path / "o", "ic01", labels, archive, in_mirror=False), tmp_path / "o2")
    assert offline.status == NOT_RUN and offline.reason.startswith("offline:") and "--mirror" in offline.reason
    failed = prepare("ic01", _setup(tmp_path / "d", "ic01", labels, archive, in_mirror=False, offline=False,
                                    url="https://127.0.0.1:9/cifar-10-python.tar.gz"), tmp_path / "o3")
    assert failed.status == NOT_RUN and failed.reason.startswith("download failed:")
    for r in (unset, offline, failed):
        assert not (tmp_path / r.dir.parent.name / "ic01").exists()


def test_prepare_all_records_a_failed_set_and_goes_on(tmp_path):
    bad = (CORPUS / "member-ic01-not-a-pickle.tar.gz").read_bytes()
    f = _setup(tmp_path, "ic01", ONE["ic01"], bad)
    results = prepare_all(["ic01", "ic01"], f, tmp_path / "out")
    assert [r.status for r in results] == [FAILED, FAILED] and "hint:" in results[0].reason


def test_labels_not_reachable_offline_is_not_run(tmp_path):
    f = _setup(tmp_path, "vww01", "000000000001.bin,2,1\n", None, pinned=b"x")
    (tmp_path / "mirror" / "datasets" / "vww01" / "y_labels.csv").unlink()
    r = prepare("vww01", f, tmp_path / "out")
    assert r.status == NOT_RUN and r.reason.startswith("offline:") and "y_labels.csv" in r.reason


def test_missing_rule_package_is_not_run_reason(tmp_path):
    from dataclasses import replace

    from bundle.stimuli.sources import SETS
    from bundle.stimuli.stage import _blocker

    f = _setup(tmp_path, "ic01", "img0_s_000000.bin,10,0\n", cifar_archive(_cifar_images(1)))
    spec = replace(SETS["ic01"], needs=("no_such_package_for_tinyrepro",))
    reason = _blocker(spec, f, f.lock.archives["cifar-10-python"])
    assert "no_such_package_for_tinyrepro" in reason and "make venv" in reason
    assert _blocker(SETS["ic01"], f, f.lock.archives["cifar-10-python"]) == ""


def test_cli_reports_each_set_and_exits_4_on_a_bad_archive(tmp_path):
    import os
    import subprocess
    import sys

    good = _setup(tmp_path / "g", "ic01", "img0_s_000000.bin,10,0\n", cifar_archive(_cifar_images(1)))
    cmd = [sys.executable, "-m", "bundle", "stimuli", "--set", "ic01", "--offline", "--out", str(tmp_path / "out"),
           "--mirror", str(good.mirror), "--cache", str(tmp_path / "cache")]
    env = {**os.environ, "TINYREPRO_LOCK": str(good.lock.path)}
    ok = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert ok.returncode == 0 and "READY    ic01: 1 files" in ok.stdout and "SHA256SUMS" in ok.stdout
    bad = _setup(tmp_path / "b", "ic01", ONE["ic01"], (CORPUS / "member-ic01-not-a-pickle.tar.gz").read_bytes())
    cmd[cmd.index("--mirror") + 1] = str(bad.mirror)
    cmd[cmd.index("--out") + 1] = str(tmp_path / "out2")
    failed = subprocess.run(cmd, capture_output=True, text=True, env={**env, "TINYREPRO_LOCK": str(bad.lock.path)},
                            timeout=120)
    # not a pickle: a parse error (exit 5), not a fetch error
    assert failed.returncode == 5 and "FAILED   ic01" in failed.stdout and "hint:" in failed.stdout
