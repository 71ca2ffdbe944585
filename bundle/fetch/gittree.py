"""Fetch a pinned folder of a git repository (lock `toolchain.<name>` with repo, commit, upstream;
today ARM-software/CMSIS_5 for the board-free DUTs' CMSIS-NN builds, and TVM's sources).

Such a source is not pinned file by file (the published tree is, in `files:`): it is pinned by
commit, and git authenticates every object it fetches against that commit's hash. Sources,
in order: the cache
(`<cache>/git/<commit>/<upstream>`, complete only with its manifest), a mirror holding a
clone at `<mirror>/git/<repo name>` (or `<name>.git`), then `https://github.com/<repo>`.
The fetched tree gets a manifest of per-file SHA-256 sums (`MANIFEST.sha256`), which the
run report records. Nothing lands in the cache unless the whole checkout succeeded.
A pin without `upstream` is the whole repository; its submodule commits (gitlinks) are kept
in `GITLINKS`, as the fetched tree records them, for bundle.fetch.gitsources to check.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bundle.errors import ChecksumMismatch, ConfigError, FetchError, NetworkUnavailable
from bundle.fsutil import sha256_file

MANIFEST = "MANIFEST.sha256"
GITLINKS = "GITLINKS"
Runner = Callable[..., subprocess.CompletedProcess]


@dataclass(frozen=True)
class GitPin:
    repo: str        # owner/name
    commit: str      # full 40-hex commit
    upstream: str = ""   # folder inside the repository, e.g. closed/OctoML/code/; "" = all

    @classmethod
    def from_toolchain(cls, toolchain: dict, key: str, whole: bool = False) -> "GitPin":
        return cls.from_entry(toolchain.get(key) or {}, f"toolchain.{key}", whole)

    @classmethod
    def from_entry(cls, raw: dict, where: str, whole: bool = False) -> "GitPin":
        """A lock entry {repo, commit, upstream}; `whole` pins the whole tree (no upstream)."""
        need = ("repo", "commit") if whole else ("repo", "commit", "upstream")
        missing = [k for k in need if not raw.get(k)]
        if missing:
            raise ConfigError(f"lock {where}: missing {', '.join(missing)}",
                              hint="see artifacts/lock.yaml")
        commit = str(raw["commit"])
        if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
            raise ConfigError(f"lock {where}.commit is not a full commit hash: {commit!r}",
                              hint="pin a 40-hex commit, not a tag or branch")
        upstream = "" if whole else str(raw["upstream"]).strip("/") + "/"
        return cls(str(raw["repo"]), commit, upstream)

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repo}"


def manifest_of(root: Path) -> dict[str, str]:
    """relative path -> SHA-256 of every file under `root` (the manifest itself excluded)."""
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != MANIFEST}


def write_manifest(root: Path) -> Path:
    lines = [f"{digest}  {rel}\n" for rel, digest in manifest_of(root).items()]
    out = root / MANIFEST
    out.write_text("".join(lines))
    return out


def read_manifest(root: Path) -> dict[str, str]:
    out = {}
    for line in (root / MANIFEST).read_text().splitlines():
        digest, _, rel = line.partition("  ")
        out[rel] = digest
    return out


def verify_manifest(root: Path) -> None:
    """A cached tree is trusted only if every file still has its recorded digest."""
    if manifest_of(root) != read_manifest(root):
        raise ChecksumMismatch(f"cached git tree {root} differs from its manifest",
                               hint=f"delete {root.parent} and fetch again")


class GitTreeFetcher:
    def __init__(self, cache_dir: Path, mirror: Path | None = None, offline: bool = False,
                 run: Runner = subprocess.run, timeout_s: float = 900.0):
        self.cache_dir = Path(cache_dir)
        self.mirror = Path(mirror) if mirror else None
        self.offline = offline
        self.run = run
        self.timeout_s = timeout_s
        self._local_remote: str | None = None

    def cached_root(self, pin: GitPin) -> Path:
        return self.cache_dir / "git" / pin.commit

    def fetch(self, pin: GitPin) -> Path:
        """The verified folder `<cache>/git/<commit>/<upstream>`."""
        root = self.cached_root(pin)
        tree = root / pin.upstream
        if (tree / MANIFEST).is_file():
            verify_manifest(tree)
            return tree
        remote = self._remote(pin)
        self._local_remote = None if remote == pin.url else remote
        root.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{pin.commit[:12]}-", dir=root.parent))
        try:
            self._checkout(pin, remote, work)
            shutil.rmtree(work / ".git")   # before the manifest: a whole-tree pin's root holds it
            write_manifest(work / pin.upstream)
            shutil.rmtree(root, ignore_errors=True)
            os.replace(work, root)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return tree

    def _mirror_clone(self, pin: GitPin) -> Path | None:
        name = pin.repo.split("/")[-1]
        if self.mirror:
            for candidate in (self.mirror / "git" / name, self.mirror / "git" / f"{name}.git"):
                if candidate.exists():
                    return candidate.resolve()
        return None

    def has_without_network(self, pin: GitPin) -> bool:
        """Already cached, or a mirror clone is there to fetch it from."""
        return (self.cached_root(pin) / pin.upstream / MANIFEST).is_file() or self._mirror_clone(pin) is not None

    def _remote(self, pin: GitPin) -> str:
        name = pin.repo.split("/")[-1]
        clone = self._mirror_clone(pin)
        if clone:
            return str(clone)
        if self.offline:
            where = f" or the mirror ({self.mirror}/git/{name})" if self.mirror else ""
            raise NetworkUnavailable(
                f"{pin.repo}@{pin.commit[:12]}:{pin.upstream} is not in the cache{where}, and offline",
                hint=f"drop --offline on a networked host, or put a clone of {pin.url} at <mirror>/git/{name}")
        return pin.url

    def _git(self, work: Path, *args: str) -> str:
        try:
            done = self.run(["git", "-C", str(work), *args], capture_output=True, text=True,
                            timeout=self.timeout_s, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
        except FileNotFoundError:
            raise FetchError("git is not installed", hint="install git (apt-get install git)") from None
        except subprocess.TimeoutExpired:
            raise NetworkUnavailable(f"git {args[0]} timed out after {self.timeout_s:.0f} s",
                                     hint="check the network and retry") from None
        if done.returncode != 0:
            err = (done.stderr or "").strip().splitlines()
            what = f"git {' '.join(args[:2])} failed: {err[-1] if err else done.returncode}"
            if self._local_remote:  # a mirror clone that lacks the commit: not a network problem
                raise FetchError(what, hint=f"update the mirror clone: git -C {self._local_remote} fetch origin")
            raise NetworkUnavailable(what, hint="check the network (github.com) or use a mirror clone at <mirror>/git/")
        return done.stdout

    def _checkout(self, pin: GitPin, remote: str, work: Path) -> None:
        self._git(work, "init", "-q")
        self._git(work, "remote", "add", "origin", remote)
        if pin.upstream:
            self._git(work, "sparse-checkout", "set", "--no-cone", f"/{pin.upstream}")
        self._git(work, "fetch", "-q", "--depth", "1", "origin", pin.commit)
        got = self._git(work, "rev-parse", "FETCH_HEAD^{commit}").strip()
        if got != pin.commit:  # git checked every object against this hash
            raise ChecksumMismatch(f"{pin.repo}: fetched commit {got[:12]}, pinned {pin.commit[:12]}",
                                   hint="the source does not hold the pinned commit")
        self._git(work, "-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD")
        if not (work / pin.upstream).is_dir():
            raise FetchError(f"{pin.repo}@{pin.commit[:12]} has no folder {pin.upstream}",
                             hint="the lock's toolchain pin has the wrong upstream folder")
        self._write_gitlinks(pin, work)

    def _write_gitlinks(self, pin: GitPin, work: Path) -> None:
        """`<commit> <path>` of each submodule the tree records (mode 160000), if any."""
        listing = self._git(work, "ls-tree", "-r", "HEAD", "--", pin.upstream or ".")
        links = []
        for line in listing.splitlines():   # "<mode> <type> <sha>\t<path>"
            meta, _, path = line.partition("\t")
            mode, _, sha = meta.split(" ")
            if mode == "160000":
                links.append(f"{sha} {path}\n")
        if links:
            (work / pin.upstream / GITLINKS).write_text("".join(links))

