"""Pinned inputs: the lock file and the verifying fetcher."""
from bundle.fetch.fetcher import Fetcher, default_cache_dir
from bundle.fetch.lock import Archive, Lock, LockedFile, load_lock

__all__ = ["Archive", "Fetcher", "Lock", "LockedFile", "default_cache_dir", "load_lock"]
