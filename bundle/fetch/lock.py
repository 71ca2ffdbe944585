"""The lock file: every external input pinned by repository, commit, path, size, SHA-256.

Schema (version 1), validated on load:
  sources: {id: {repo, commit, url}}        url is a template: {repo} {commit} {upstream}
  toolchain: {...}                          pins the container images build from
  files: [{path, source, upstream, size, sha256}]
  git_blobs: [{path, source, upstream, git_blob}]  optional: files pinned by git blob id (too large to
                                            mirror), verified by hashing as git does
  archives: {id: {url, size, sha256 | md5, what}}  optional: source datasets fetched whole (stimuli),
                                            http(s). An archive whose publisher gives no SHA-256 is pinned
                                            by the publisher's digest instead (md5 + exact size), checked
                                            on download; the SHA-256 computed then is recorded and checked
                                            from there on (bundle/fetch/learned.py). sha256 UNSET with no
                                            md5: the archive is never fetched.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bundle.errors import ConfigError

LOCK_VERSION = 1
_SHA = re.compile(r"^[0-9a-f]{64}$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")   # also a git blob id (SHA-1)
_MD5 = re.compile(r"^[0-9a-f]{32}$")
UNSET = "UNSET"


def default_lock_path() -> Path:
    env = os.environ.get("TINYREPRO_LOCK")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "artifacts" / "lock.yaml"


@dataclass(frozen=True)
class Source:
    id: str
    repo: str
    commit: str
    url: str


@dataclass(frozen=True)
class LockedFile:
    path: str
    source: Source
    upstream: str
    size: int
    sha256: str

    @property
    def url(self) -> str:
        s = self.source
        return s.url.format(repo=s.repo, commit=s.commit, upstream=self.upstream)


@dataclass(frozen=True)
class GitBlob:
    """A published file pinned by its git blob id at the source's commit (its size and
    SHA-256 are not known from anything reachable offline). Fetched like a LockedFile, cached
    under `<cache>/gitblob/<id>`, verified by `git_blob_id` of its content."""
    path: str
    source: Source
    upstream: str
    git_blob: str

    @property
    def url(self) -> str:
        s = self.source
        return s.url.format(repo=s.repo, commit=s.commit, upstream=self.upstream)


def git_blob_id(content: bytes) -> str:
    """What `git hash-object` prints: SHA-1 of b"blob <size>\\0" + content."""
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass(frozen=True)
class Archive:
    """A whole upstream archive (a source dataset). Duck-types LockedFile for the fetcher:
    it is cached by digest and looked up in a mirror at `archives/<file name>`.
    `md5` is the publisher's digest, for an archive published without a SHA-256."""
    id: str
    url: str
    size: int
    sha256: str
    what: str = ""
    md5: str = ""

    @property
    def path(self) -> str:
        return "archives/" + self.url.rsplit("/", 1)[-1].split("?", 1)[0]

    @property
    def pinned(self) -> bool:
        return self.sha256 != UNSET or bool(self.md5)

    @property
    def by_publisher_digest(self) -> bool:
        """Pinned by MD5 + size only: its SHA-256 is learned on the first verified fetch."""
        return self.sha256 == UNSET and bool(self.md5)


@dataclass(frozen=True)
class Lock:
    path: Path
    sources: dict[str, Source]
    files: dict[str, LockedFile]
    toolchain: dict
    archives: dict[str, Archive] = field(default_factory=dict)
    git_blobs: dict[str, GitBlob] = field(default_factory=dict)

    def under(self, prefix: str) -> list[LockedFile]:
        return [f for p, f in sorted(self.files.items()) if p.startswith(prefix)]

    def get(self, rel: str) -> LockedFile:
        try:
            return self.files[rel]
        except KeyError:
            raise ConfigError(f"{rel!r} is not pinned in {self.path}",
                              hint="only locked inputs can be fetched; add it with scripts/make_lock.py") from None


def _fail(path: Path, what: str) -> ConfigError:
    return ConfigError(f"invalid lock file {path}: {what}",
                       hint="restore artifacts/lock.yaml from git, or regenerate files: with scripts/make_lock.py")


def _source(path: Path, sid, raw) -> Source:
    if not isinstance(sid, str) or not isinstance(raw, dict) or not {"repo", "commit", "url"} <= raw.keys():
        raise _fail(path, f"source {sid!r} needs repo, commit and url")
    if not _COMMIT.match(str(raw["commit"])):
        raise _fail(path, f"source {sid!r}: commit must be a full 40-hex SHA, got {raw['commit']!r}")
    return Source(sid, str(raw["repo"]), str(raw["commit"]), str(raw["url"]))


def _file(path: Path, raw, sources: dict[str, Source]) -> LockedFile:
    need = {"path", "source", "upstream", "size", "sha256"}
    if not isinstance(raw, dict) or not need <= raw.keys():
        raise _fail(path, f"file entry {raw!r} needs {sorted(need)}")
    if not isinstance(raw["path"], str) or not isinstance(raw["source"], str) or raw["source"] not in sources:
        raise _fail(path, f"{raw['path']}: unknown source {raw['source']!r}")
    if not _SHA.match(str(raw["sha256"])) or not isinstance(raw["size"], int) or isinstance(raw["size"], bool) \
            or raw["size"] < 0:
        raise _fail(path, f"{raw['path']}: bad sha256 or size")
    rel = raw["path"]
    if rel.startswith("/") or ".." in rel.split("/") or "." in rel.split("/") or "" in rel.split("/") \
            or "\\" in rel or "\0" in rel:
        raise _fail(path, f"{rel!r}: paths must be relative, normalised (no '.', '..' or '//') and stay inside the tree")
    return LockedFile(rel, sources[raw["source"]], str(raw["upstream"]), raw["size"], raw["sha256"])


def _git_blob(path: Path, raw, sources: dict[str, Source]) -> GitBlob:
    need = {"path", "source", "upstream", "git_blob"}
    if not isinstance(raw, dict) or not need <= raw.keys():
        raise _fail(path, f"git_blobs entry {raw!r} needs {sorted(need)}")
    if raw["source"] not in sources:
        raise _fail(path, f"{raw['path']}: unknown source {raw['source']!r}")
    if not _COMMIT.match(str(raw["git_blob"])):
        raise _fail(path, f"{raw['path']}: git_blob must be 40 lowercase hex digits, got {raw['git_blob']!r}")
    rel = str(raw["path"])
    if rel.startswith("/") or ".." in Path(rel).parts:
        raise _fail(path, f"{rel}: paths must be relative and stay inside the tree")
    return GitBlob(rel, sources[raw["source"]], str(raw["upstream"]), str(raw["git_blob"]))


def _archive(path: Path, aid, raw) -> Archive:
    if not isinstance(aid, str) or not isinstance(raw, dict) or not {"url", "size"} <= raw.keys() \
            or not ({"sha256", "md5"} & raw.keys()):
        raise _fail(path, f"archive {aid!r} needs url, size and sha256 (or the publisher's md5)")
    url, size = str(raw["url"]), raw["size"]
    sha, md5 = str(raw.get("sha256", UNSET)), str(raw.get("md5", "")).lower()
    if not url.startswith(("https://", "http://")):  # integrity comes from the digest, not the transport
        raise _fail(path, f"archive {aid!r}: url must be http(s)://, got {url!r}")
    if sha != UNSET and not _SHA.match(sha):
        raise _fail(path, f"archive {aid!r}: sha256 must be 64 lowercase hex digits or {UNSET}, got {sha!r}")
    if "md5" in raw and not _MD5.match(md5):
        raise _fail(path, f"archive {aid!r}: md5 must be 32 hex digits (the publisher's), got {raw['md5']!r}")
    if sha == UNSET and not md5 and size == UNSET:
        size = 0  # unknown with the digest; never used, since an UNSET archive is never fetched
    elif not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise _fail(path, f"archive {aid!r}: size must be a positive byte count"
                          f"{' (UNSET only with sha256 UNSET and no md5)' if size == UNSET else ''}, got {size!r}")
    return Archive(aid, url, size, sha, str(raw.get("what", "")), md5)


def _no_nested_paths(path: Path, files: dict) -> None:
    """A pinned path may not also be a folder of other pinned paths (both cannot be materialised)."""
    dirs = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    clash = sorted(dirs & files.keys())
    if clash:
        raise _fail(path, f"{clash[0]!r} is both a pinned file and the folder of other pinned files")


# libyaml's parser when PyYAML has it: the lock has thousands of entries (the code tree's 647
# files among them), about 10x faster than the pure-Python one; same safe subset.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_lock(path: Path | None = None) -> Lock:
    """The lock, parsed once per process for each (path, mtime, size) of the file."""
    path = Path(path) if path else default_lock_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"lock file not found: {path}", hint="run from a clone of the repository, or set TINYREPRO_LOCK") from None
    except OSError as err:
        raise _fail(path, f"cannot read it ({err.strerror or err})") from None
    return _load_lock(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=8)
def _load_lock(path: Path, _mtime_ns: int, _size: int) -> Lock:
    """Parsed once per content version (the key changes when the file does)."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"lock file not found: {path}", hint="run from a clone of the repository, or set TINYREPRO_LOCK") from None
    except UnicodeDecodeError as err:
        raise _fail(path, f"not UTF-8 text (byte {err.start})") from None
    except OSError as err:                  # a folder, no permission
        raise _fail(path, f"cannot read it ({err.strerror or err})") from None
    except (yaml.YAMLError, RecursionError) as err:
        raise _fail(path, f"not YAML ({str(err)[:200]})") from None
    if not isinstance(data, dict) or data.get("version") != LOCK_VERSION:
        raise _fail(path, f"expected a mapping with version: {LOCK_VERSION}")
    for key, kind in (("sources", dict), ("files", list), ("toolchain", dict), ("archives", dict), ("git_blobs", list)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise _fail(path, f"{key} must be a {'mapping' if kind is dict else 'list'}, got {type(data[key]).__name__}")
    sources = {sid: _source(path, sid, raw) for sid, raw in (data.get("sources") or {}).items()}
    files = {}
    for raw in data.get("files") or []:
        f = _file(path, raw, sources)
        if f.path in files:
            raise _fail(path, f"{f.path} is listed twice")
        files[f.path] = f
    _no_nested_paths(path, files)
    raw_archives = data.get("archives") or {}
    if not isinstance(raw_archives, dict):
        raise _fail(path, "archives must be a mapping id -> {url, size, sha256}")
    archives = {aid: _archive(path, aid, raw) for aid, raw in raw_archives.items()}
    blobs = {}
    for raw in data.get("git_blobs") or []:
        b = _git_blob(path, raw, sources)
        if b.path in files or b.path in blobs:
            raise _fail(path, f"{b.path} is listed twice")
        blobs[b.path] = b
    return Lock(path, sources, files, data.get("toolchain") or {}, archives, blobs)
