"""stimuli:<set>: one stage per derived stimulus set (ic01, vww01, ad01) of the benchmarks not
pinned as files; a prepared set's benchmark joins the run stage."""
from __future__ import annotations

from pathlib import Path

from bundle.errors import ReproError, StageUnavailable
from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import StimulusSet


def set_names(cfg) -> list[str]:
    from bundle.stimuli import SETS

    return [name for name, s in SETS.items() if s.benchmark not in cfg.offline_benchmarks]


class PrepareStimuli(Stage):
    needs = ("fetch",)

    def __init__(self, set_name: str):
        self.set_name = set_name
        self.name = f"stimuli:{set_name}"

    def dry_run_reason(self, req, s, docker: bool) -> str | None:
        """Why the set cannot be prepared here (None when it is, or can be)."""
        from bundle.fetch.learned import archive_sha256
        from bundle.fetch.lock import load_lock
        from bundle.stimuli import SETS
        from bundle.stimuli.stage import prepared_dir

        cache, mirror = req.sources.cache, req.sources.mirror
        if prepared_dir(cache, self.set_name):
            return None
        archive = load_lock().archives.get(SETS[self.set_name].archive)
        if archive is None or not archive.pinned:
            return f"pin UNSET: archives.{SETS[self.set_name].archive} in artifacts/lock.yaml has no SHA-256"
        in_mirror = bool(mirror) and (Path(mirror) / archive.path).is_file()
        sha = archive_sha256(cache, archive)   # an MD5 pin: known once fetched
        in_cache = bool(sha) and (cache / "sha256" / sha).is_file()
        if req.sources.offline and not (in_mirror or in_cache):
            return f"offline, and {archive.path} is neither in the cache nor in the mirror"
        return None

    def run(self, req, s) -> StimulusSet:
        """Prepare the set (or find it prepared); NOT_RUN with the reason when its source archive
        cannot be had here (offline, download failed, pin UNSET); a set that fails (wrong archive,
        corrupt member) is FAILED and the others go on."""
        from bundle.pipeline.fetch import fetcher_for
        from bundle.stimuli import SETS, prepare

        benchmark = SETS[self.set_name].benchmark
        try:
            result = prepare(self.set_name, fetcher_for(req))
        except ReproError as err:
            s.stimuli_reasons[benchmark] = f"stimuli: {self.set_name} preparation failed: {err.message}"
            raise
        if result.status != "READY":
            base = req.cfg.missing_stimuli_reason.get(benchmark, f"stimuli not available: {self.set_name}")
            s.stimuli_reasons[benchmark] = f"{base} (tinyrepro stimuli: {result.reason})"
            raise StageUnavailable(f"{self.set_name}: {result.reason}")
        s.notes.append(f"stimuli {self.set_name}: {result.files} files in {result.dir}, manifest {result.manifest} "
                       f"(sha256 {result.manifest_sha256})"
                       + (f", source archive sha256 {result.archive_sha256}" if result.archive_sha256 else ""))
        return StimulusSet(benchmark, result.dir, result.summary())
