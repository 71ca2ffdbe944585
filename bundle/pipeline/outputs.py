"""What each stage hands to the stages after it: one typed record per stage.

`details()` is what the stage record (stages.jsonl, the report's stage table) says about it;
`rows` (where present) are report rows, appended in pipeline order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PUBLISHED = "published/octoml-v1.0/"


@dataclass(frozen=True)
class Fetched:
    published: Path                      # <cache>/tree/published/octoml-v1.0
    datasets: Path
    models: Path
    blobs_missing: dict[str, str]        # lock path -> why its git-blob-pinned file was not fetched
    counts: dict[str, int]               # from_cache, from_mirror, downloaded
    mirror: Path | None

    @property
    def code(self) -> Path:
        """OctoML's code tree, pinned file by file under the published tree."""
        return self.published / "code"

    def details(self) -> dict:
        return {**self.counts, "mirror": str(self.mirror) if self.mirror else None}


@dataclass
class Rows:
    """A stage whose output is report rows."""
    rows: list[dict] = field(default_factory=list)

    def details(self) -> dict:
        return {}


@dataclass(frozen=True)
class Images:
    built: dict = field(default_factory=dict)     # target -> ImageRecord
    plans: dict = field(default_factory=dict)     # target -> ImagePlan (buildable, reason)

    def details(self) -> dict:
        return {t: (vars(r) if r else None) for t, r in self.built.items()} \
            | {f"{t} (skipped)": p.reason for t, p in self.plans.items() if not p.buildable}


@dataclass(frozen=True)
class CodeTree:
    tree: Path
    files: int

    def details(self) -> dict:
        return {"tree": str(self.tree), "files": self.files,
                "manifest": f"artifacts/lock.yaml (files: under {PUBLISHED}code/)"}


@dataclass(frozen=True)
class Compiled:
    seconds: dict[str, float]            # build -> compile seconds
    builds: Path                         # <run_dir>/builds/<build>/model.tar
    reused: bool = False
    key: str | None = None               # its stage-cache key: what the archives are a function of

    def details(self) -> dict:
        return {"seconds": self.seconds, **({"reused": True} if self.reused else {})}


@dataclass
class CodeDiff:
    compared: list[dict] = field(default_factory=list)   # one per build (toolchain/codediff.jsonl)
    regenerated: Path | None = None                  # the published projects, regenerated model swapped in

    def details(self) -> dict:
        return {r["build"]: r["verdict"] for r in self.compared}


@dataclass
class Firmware:
    records: list[dict] = field(default_factory=list)   # one per firmware built, as they finish

    def details(self) -> dict:
        return {r["build"]: {"elf_sha256": r["elf_sha256"], "reproducible": r["reproducible"]}
                for r in self.records}


@dataclass(frozen=True)
class Flashed:
    build: str                           # the firmware's name (firmware/<build>/)
    seconds: float
    carries: str | None = None           # what the board now runs: <variant>/<board>/<benchmark>

    def details(self) -> dict:
        return {"build": self.build, "seconds": self.seconds}


@dataclass(frozen=True)
class StimulusSet:
    benchmark: str
    dir: Path
    summary: dict

    def details(self) -> dict:
        return self.summary


@dataclass
class Runs:
    """Run folders: one record each (label, benchmark, mode, dir, dut_kind, backend, ...)."""
    runs: list[dict] = field(default_factory=list)

    def details(self) -> dict:
        return {}


@dataclass
class Latency(Runs):
    rows: list[dict] = field(default_factory=list)
