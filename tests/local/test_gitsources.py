"""TVM-like source trees assembled from pinned git repositories (real git, fixture repos):
a superproject recording submodule gitlinks, and the submodules fetched by their own pins."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from bundle.errors import ChecksumMismatch, ConfigError
from bundle.fetch.gitsources import SOURCE_EPOCH, STAMP, SourceSet, place, placed_root, recorded_gitlinks
from bundle.fetch.gittree import GITLINKS, MANIFEST, GitTreeFetcher


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def _repo(path: Path, files: dict[str, str]) -> str:
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    _git(path, "add", "-A")
    _git(path, "commit", "-qm", "c")
    return _git(path, "rev-parse", "HEAD")


@pytest.fixture()
def mirror(tmp_path: Path) -> tuple[Path, dict]:
    """mirror/git/{tvm,dlpack,rang}.git; tvm records dlpack and rang (and an unfetched one)."""
    git = tmp_path / "mirror" / "git"
    dlpack = _repo(git / "dlpack.git", {"include/dlpack/dlpack.h": "#define DLPACK 1\n"})
    rang = _repo(git / "rang.git", {"include/rang.hpp": "// rang\n"})
    tvm = git / "tvm.git"
    _repo(tvm, {"CMakeLists.txt": "project(tvm)\n", "python/tvm/__init__.py": "", "3rdparty/picojson/p.h": "x\n"})
    for path, sha in (("3rdparty/dlpack", dlpack), ("3rdparty/rang", rang), ("3rdparty/cutlass", "c" * 40)):
        _git(tvm, "update-index", "--add", "--cacheinfo", f"160000,{sha},{path}")
    _git(tvm, "commit", "-qm", "submodules")
    pins = {"tvm": {"repo": "apache/tvm", "commit": _git(tvm, "rev-parse", "HEAD"), "submodules": {
        "3rdparty/dlpack": {"repo": "dmlc/dlpack", "commit": dlpack},
        "3rdparty/rang": {"repo": "agauniyal/rang", "commit": rang}}}}
    return tmp_path / "mirror", pins


def test_places_the_tree_with_its_submodules_and_fixed_times(mirror, tmp_path):
    mirror_dir, pins = mirror
    sources = SourceSet.from_toolchain(pins, "tvm")
    fetcher = GitTreeFetcher(tmp_path / "cache", mirror_dir, offline=True)
    root = place(sources, fetcher, tmp_path / "cache")
    assert root == placed_root(tmp_path / "cache", sources)
    assert (root / "3rdparty" / "dlpack" / "include" / "dlpack" / "dlpack.h").read_text() == "#define DLPACK 1\n"
    assert (root / "3rdparty" / "rang" / "include" / "rang.hpp").is_file()
    assert (root / "python" / "tvm" / "__init__.py").is_file()
    # the submodule not pinned stays an empty folder; no git metadata or manifests in the tree
    assert (root / "3rdparty" / "cutlass").is_dir() and not any((root / "3rdparty" / "cutlass").iterdir())
    assert not list(root.rglob(".git")) and not list(root.rglob(MANIFEST)) and not list(root.rglob(GITLINKS))
    times = {p.stat().st_mtime for p in root.rglob("*") if p.name != STAMP}
    assert times == {SOURCE_EPOCH}   # a kept build folder sees the same, old sources every time
    assert "3rdparty/rang agauniyal/rang@" in (root / STAMP).read_text()


def test_the_gitlinks_recorded_by_the_superproject_are_kept(mirror, tmp_path):
    mirror_dir, pins = mirror
    fetcher = GitTreeFetcher(tmp_path / "cache", mirror_dir, offline=True)
    tree = fetcher.fetch(SourceSet.from_toolchain(pins, "tvm").root)
    links = recorded_gitlinks(tree)
    assert links["3rdparty/dlpack"] == pins["tvm"]["submodules"]["3rdparty/dlpack"]["commit"]
    assert links["3rdparty/cutlass"] == "c" * 40


def test_placing_again_reuses_the_tree(mirror, tmp_path):
    mirror_dir, pins = mirror
    sources = SourceSet.from_toolchain(pins, "tvm")
    fetcher = GitTreeFetcher(tmp_path / "cache", mirror_dir, offline=True)
    root = place(sources, fetcher, tmp_path / "cache")
    marker = root / "CMakeLists.txt"
    inode = marker.stat().st_ino
    assert place(sources, GitTreeFetcher(tmp_path / "cache", None, offline=True), tmp_path / "cache") == root
    assert marker.stat().st_ino == inode


def test_a_submodule_pin_other_than_the_recorded_gitlink_is_refused(mirror, tmp_path):
    mirror_dir, pins = mirror
    rang = pins["tvm"]["submodules"]["3rdparty/rang"]
    rang["commit"] = pins["tvm"]["submodules"]["3rdparty/dlpack"]["commit"]   # a real commit, wrong one
    with pytest.raises(ChecksumMismatch, match="records") as err:
        place(SourceSet.from_toolchain(pins, "tvm"), GitTreeFetcher(tmp_path / "cache", mirror_dir, offline=True),
              tmp_path / "cache")
    assert "submodules.3rdparty/rang.commit" in err.value.hint
    assert not (tmp_path / "cache" / "src").exists() or not any((tmp_path / "cache" / "src").iterdir())


def test_a_submodule_the_tree_does_not_record_is_a_config_error(mirror, tmp_path):
    mirror_dir, pins = mirror
    pins["tvm"]["submodules"]["3rdparty/vta-hw"] = {"repo": "apache/tvm-vta", "commit": "d" * 40}
    with pytest.raises(ConfigError, match="no submodule at 3rdparty/vta-hw"):
        place(SourceSet.from_toolchain(pins, "tvm"), GitTreeFetcher(tmp_path / "cache", mirror_dir, offline=True),
              tmp_path / "cache")


@pytest.mark.parametrize("bad", [{"submodules": ["3rdparty/dlpack"]},
                                 {"submodules": {"3rdparty/dlpack": {"repo": "dmlc/dlpack", "commit": "v0.6"}}},
                                 {"commit": "main"}])
def test_bad_lock_entries_are_config_errors(bad):
    entry = {"repo": "apache/tvm", "commit": "a" * 40, **bad}
    with pytest.raises(ConfigError):
        SourceSet.from_toolchain({"tvm": entry}, "tvm")


def test_the_project_lock_pins_the_submodules_tvm_records():
    """The real lock against the real mirror (when there): TVM's own gitlinks decide."""
    from bundle.fetch.lock import load_lock

    mirror = os.environ.get("TINYREPRO_MIRROR")
    if not mirror or not (Path(mirror) / "git" / "tvm.git").exists():
        pytest.skip("no mirror with git/tvm.git (make test sets TINYREPRO_MIRROR)")
    sources = SourceSet.from_toolchain(load_lock().toolchain, "tvm")
    listing = subprocess.run(["git", "--git-dir", str(Path(mirror) / "git" / "tvm.git"), "ls-tree",
                              sources.root.commit, "3rdparty/"], capture_output=True, text=True, check=True).stdout
    recorded = {line.split("\t")[1]: line.split()[2] for line in listing.splitlines() if line.startswith("160000")}
    for path, pin in sources.submodules:
        assert recorded[path] == pin.commit, path
