"""`tinyrepro fetch [PREFIX ...]`: download and verify pinned inputs into the cache."""
from __future__ import annotations

from bundle.fetch import Fetcher


def add_fetch_options(p) -> None:
    """Options every command that reads pinned inputs shares."""
    p.add_argument("--mirror", metavar="DIR", default=None,
                   help="local folder with the inputs at their lock paths, tried before the network "
                        "(default: $TINYREPRO_MIRROR)")
    p.add_argument("--offline", action="store_true", help="never use the network")
    p.add_argument("--cache", metavar="DIR", default=None, help="download cache (default: artifacts/cache)")


def fetcher_from_args(args, progress: bool = True) -> Fetcher:
    return Fetcher.from_lock(cache_dir=args.cache, mirror=args.mirror, offline=args.offline, progress=progress)


def register(sub) -> None:
    p = sub.add_parser("fetch", help="download and verify pinned inputs (artifacts/lock.yaml)")
    p.add_argument("prefixes", nargs="*", default=[""], metavar="PREFIX",
                   help="lock-relative path prefixes, e.g. published/ models/ (default: everything)")
    add_fetch_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    fetcher = fetcher_from_args(args)
    for prefix in args.prefixes:
        path = fetcher.fetch_tree(prefix)
        print(f"{prefix or '(all)'} -> {path}")
        _got, missing = fetcher.fetch_blobs(prefix)   # pinned by git blob id: reported when out of reach
        for why in missing.values():   # each message names its file
            print(f"not fetched (pinned by git blob id): {why}")
    s = fetcher.stats
    print(f"verified: {s.from_cache} from cache, {s.from_mirror} from mirror, {s.downloaded} downloaded")
    return 0
