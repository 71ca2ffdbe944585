"""A source tree assembled from pinned git trees: a repository plus the submodules it records.

TVM's build needs some of its submodules (3rdparty/dlpack, dmlc-core, rang). The lock pins the
superproject and each needed submodule by commit; every tree comes through GitTreeFetcher
(cache, mirror clone, GitHub; git authenticates the objects), and each submodule commit must
equal the gitlink the superproject's tree records (its GITLINKS file), so a lock entry cannot
pair TVM with other submodule commits than TVM's own.

The assembled tree (`<cache>/src/<name>-<commit12>/`) gets every file's and folder's mtime set
to one fixed instant. A build directory kept across sessions (the resumable TVM build) then
sees the same, old sources whenever and wherever they are placed again, so ninja rebuilds
nothing that was already built.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bundle.errors import ChecksumMismatch, ConfigError
from bundle.fetch.gittree import GITLINKS, MANIFEST, GitPin, GitTreeFetcher, verify_manifest

# 2000-01-01T00:00:00Z: older than any build output, the same on every host.
SOURCE_EPOCH = 946684800
STAMP = ".tinyrepro-placed"


@dataclass(frozen=True)
class SourceSet:
    name: str                               # e.g. tvm
    root: GitPin                            # the superproject, whole tree
    submodules: tuple[tuple[str, GitPin], ...]   # (path inside the tree, pin)

    @classmethod
    def from_toolchain(cls, toolchain: dict, key: str) -> "SourceSet":
        raw = toolchain.get(key) or {}
        root = GitPin.from_entry(raw, f"toolchain.{key}", whole=True)
        subs = raw.get("submodules") or {}
        if not isinstance(subs, dict):
            raise ConfigError(f"lock toolchain.{key}.submodules must map a path to {{repo, commit}}",
                              hint="see artifacts/lock.yaml")
        pins = tuple((str(path).strip("/"), GitPin.from_entry(entry or {}, f"toolchain.{key}.submodules.{path}",
                                                              whole=True))
                     for path, entry in sorted(subs.items()))
        return cls(key, root, pins)

    @property
    def key(self) -> str:
        """Names the assembled tree: every pin that went into it."""
        h = hashlib.sha256(f"{self.root.repo}@{self.root.commit}".encode())
        for path, pin in self.submodules:
            h.update(f"\n{path}={pin.repo}@{pin.commit}".encode())
        return h.hexdigest()[:16]


def recorded_gitlinks(tree: Path) -> dict[str, str]:
    """path -> commit, from the GITLINKS file GitTreeFetcher wrote for a whole-tree pin."""
    path = tree / GITLINKS
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text().splitlines():
        sha, _, rel = line.partition(" ")
        out[rel] = sha
    return out


def check_submodules(sources: SourceSet, root_tree: Path) -> None:
    links = recorded_gitlinks(root_tree)
    for path, pin in sources.submodules:
        recorded = links.get(path)
        if recorded is None:
            raise ConfigError(f"{sources.root.repo}@{sources.root.commit[:12]} records no submodule at {path}",
                              hint=f"remove toolchain.{sources.name}.submodules.{path} from artifacts/lock.yaml")
        if recorded != pin.commit:
            raise ChecksumMismatch(
                f"lock pins {path} at {pin.commit[:12]}, but {sources.root.repo}@{sources.root.commit[:12]} "
                f"records {recorded[:12]}",
                hint=f"set toolchain.{sources.name}.submodules.{path}.commit to {recorded} in artifacts/lock.yaml")


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, dirs_exist_ok=True, symlinks=True,
                    ignore=shutil.ignore_patterns(MANIFEST, GITLINKS))


def _set_times(root: Path) -> None:
    """Bottom-up, so setting a file's time does not touch its folder's afterwards."""
    for folder, dirs, files in os.walk(root, topdown=False):
        for name in files + dirs:
            os.utime(os.path.join(folder, name), (SOURCE_EPOCH, SOURCE_EPOCH), follow_symlinks=False)
    os.utime(root, (SOURCE_EPOCH, SOURCE_EPOCH))


def placed_root(cache_dir: Path, sources: SourceSet) -> Path:
    return Path(cache_dir) / "src" / f"{sources.name}-{sources.root.commit[:12]}-{sources.key}"


def place(sources: SourceSet, fetcher: GitTreeFetcher, cache_dir: Path) -> Path:
    """The assembled tree, built once (atomically) and reused while its stamp is there."""
    dest = placed_root(cache_dir, sources)
    if (dest / STAMP).is_file():
        return dest
    root_tree = fetcher.fetch(sources.root)
    check_submodules(sources, root_tree)
    trees = [(path, fetcher.fetch(pin)) for path, pin in sources.submodules]
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        _copy_tree(root_tree, work)
        for path, tree in trees:
            verify_manifest(tree)
            _copy_tree(tree, work / path)
        _set_times(work)
        (work / STAMP).write_text(f"{sources.root.repo}@{sources.root.commit}\n" + "".join(
            f"{path} {pin.repo}@{pin.commit}\n" for path, pin in sources.submodules))
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest
