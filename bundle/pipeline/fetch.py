"""fetch: the published tree, the datasets and the models, verified against the lock."""
from __future__ import annotations

from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import PUBLISHED, Fetched


def fetcher_for(req, progress: bool = False):
    from bundle.fetch import Fetcher

    src = req.sources
    return Fetcher.from_lock(cache_dir=src.cache, mirror=src.mirror, offline=src.offline, progress=progress)


def fetch_inputs(fetcher) -> Fetched:
    published = fetcher.fetch_tree(PUBLISHED)
    missing = fetcher.fetch_blobs(PUBLISHED)[1]
    datasets, models = fetcher.fetch_tree("datasets/"), fetcher.fetch_tree("models/")
    s = fetcher.stats
    return Fetched(published, datasets, models, missing,
                   {"from_cache": s.from_cache, "from_mirror": s.from_mirror, "downloaded": s.downloaded},
                   fetcher.mirror)


class Fetch(Stage):
    name = "fetch"

    def dry_run_reason(self, req, s, docker: bool) -> str | None:
        # reproduce always tries (the cache may hold everything); plan warns when it cannot fill it
        if req.sources.mirror or "github" in req.network.reachable:
            return None
        return ("no mirror (--mirror / $TINYREPRO_MIRROR) and GitHub is not reachable: only files already "
                "in the cache can be used")

    def run(self, req, s) -> Fetched:
        return fetch_inputs(fetcher_for(req))
