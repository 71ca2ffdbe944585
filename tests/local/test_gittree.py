"""A git-pinned tree (lock toolchain.<name>; today CMSIS_5) is fetched by commit through a real
git, from a mirror clone. A made-up repository stands in for it here."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bundle.errors import ChecksumMismatch, ConfigError, FetchError, NetworkUnavailable
from bundle.fetch.gittree import MANIFEST, GitPin, GitTreeFetcher, read_manifest

UPSTREAM = "closed/OctoML/code/"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture()
def upstream(tmp_path: Path) -> tuple[Path, str, str]:
    """A mirror holding a clone with two commits; returns (mirror, old commit, new commit)."""
    repo = tmp_path / "mirror" / "git" / "tiny_results_v1.0"
    (repo / UPSTREAM / "kws").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / UPSTREAM / "kws" / "model.c").write_text("int v1;\n")
    (repo / "closed" / "Other").mkdir(parents=True)
    (repo / "closed" / "Other" / "big.bin").write_bytes(b"x" * 100)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "one")
    old = _git(repo, "rev-parse", "HEAD")
    (repo / UPSTREAM / "kws" / "model.c").write_text("int v2;\n")
    _git(repo, "commit", "-qam", "two")
    return tmp_path / "mirror", old, _git(repo, "rev-parse", "HEAD")


def test_fetches_the_pinned_commit_only_the_pinned_folder(upstream, tmp_path):
    mirror, old, _new = upstream
    fetcher = GitTreeFetcher(tmp_path / "cache", mirror, offline=True)
    tree = fetcher.fetch(GitPin("mlcommons/tiny_results_v1.0", old, UPSTREAM))
    assert (tree / "kws" / "model.c").read_text() == "int v1;\n"
    assert not (tree.parents[1] / "Other").exists()
    assert set(read_manifest(tree)) == {"kws/model.c"}
    assert not (fetcher.cached_root(GitPin("x/y", old, UPSTREAM)) / ".git").exists()


def test_cached_tree_is_reused_and_a_tampered_one_refused(upstream, tmp_path):
    mirror, old, _ = upstream
    pin = GitPin("mlcommons/tiny_results_v1.0", old, UPSTREAM)
    tree = GitTreeFetcher(tmp_path / "cache", mirror, offline=True).fetch(pin)
    # no mirror now: only the cache can answer
    assert GitTreeFetcher(tmp_path / "cache", None, offline=True).fetch(pin) == tree
    (tree / "kws" / "model.c").write_text("tampered\n")
    with pytest.raises(ChecksumMismatch):
        GitTreeFetcher(tmp_path / "cache", None, offline=True).fetch(pin)


def test_unknown_commit_fails_and_leaves_nothing(upstream, tmp_path):
    mirror, _, _ = upstream
    fetcher = GitTreeFetcher(tmp_path / "cache", mirror, offline=True)
    with pytest.raises(FetchError):
        fetcher.fetch(GitPin("mlcommons/tiny_results_v1.0", "0" * 40, UPSTREAM))
    assert not any((tmp_path / "cache" / "git").iterdir())


def test_offline_without_mirror_names_both_fixes(tmp_path):
    with pytest.raises(NetworkUnavailable) as err:
        GitTreeFetcher(tmp_path / "cache", None, offline=True).fetch(GitPin("a/b", "1" * 40, UPSTREAM))
    assert "--offline" in err.value.hint and "<mirror>/git/b" in err.value.hint


@pytest.mark.parametrize("raw", [{"repo": "a/b", "commit": "v2.7.3", "upstream": "x/"},
                                 {"repo": "a/b", "upstream": "x/"}])
def test_pin_must_be_a_full_commit(raw):
    with pytest.raises(ConfigError):
        GitPin.from_toolchain({"octoml_code": raw}, "octoml_code")


def test_lock_pins_cmsis_by_commit_and_the_code_tree_file_by_file(fetcher):
    from bundle.fetch.lock import load_lock

    lock = load_lock()
    pin = GitPin.from_toolchain(lock.toolchain, "cmsis")
    assert pin.repo == "ARM-software/CMSIS_5" and pin.commit.startswith("51263182") and pin.upstream == "CMSIS/"
    assert "octoml_code" not in lock.toolchain       # one mechanism for published material: files:
    assert len(lock.under("published/octoml-v1.0/code/")) == 647
    tree = GitTreeFetcher(fetcher.cache_dir, fetcher.mirror, offline=True).fetch(pin)   # <mirror>/git/CMSIS_5.git
    assert (tree / "NN" / "Include" / "arm_nnfunctions.h").is_file() and MANIFEST == "MANIFEST.sha256"
