"""Stage-cache keys follow the code a stage runs, and only that: the run and latency keys on a
copy of bundle/ in which one file at a time is changed. A report-only change re-runs no DUT; a
change anywhere the runs reach (the runner, the sim DUT's pacing, a DUT program's C source,
the pinned Python packages) does."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bundle import stagecache, stagekeys
from bundle.codedeps import closure
from bundle.pipeline.latency import QemuLatency, latency_builds
from bundle.pipeline.run import RunBenchmarks
from bundle.pipeline.session import session_for
from bundle.reproduce_config import load_reproduce_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A copy of the package and its Python lock files that the stage keys read instead."""
    shutil.copytree(REPO / "bundle", tmp_path / "bundle", ignore=shutil.ignore_patterns("__pycache__"))
    for name in stagekeys.PYTHON_LOCKS:
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.setattr(stagecache, "REPO", tmp_path)
    yield tmp_path
    stagecache._code_digest.cache_clear()
    stagekeys.python_env.cache_clear()


def _keys(tmp_path: Path) -> dict[str, str]:
    """The cache keys of a software-DUT run, a host-DUT run, the QEMU latency runs and the
    report's figures, as a reproduce started now would compute them."""
    stagecache._code_digest.cache_clear()     # read once per process: a "new process" here
    stagekeys.python_env.cache_clear()
    s = session_for(load_reproduce_config(), tmp_path / "run")
    cache, run, latency = stagecache.StageCache(tmp_path / "stages"), RunBenchmarks(), QemuLatency()
    sim = {"kind": "sim", "pacing": {"baud": 0, "infer_ms": 0}}
    host = {"kind": "host", "system": "microtvm_native/NUCLEO_L4R5ZI"}
    return {"run sim": cache.key("run", run.key(s.request, s, "sim-litert", "litert", "kws", "accuracy", sim)),
            "run host": cache.key("run", run.key(s.request, s, "host", "host", "kws", "accuracy", host)),
            "latency": cache.key("latency", latency.key(s.request, s, latency_builds())),
            "figures": cache.key("figures", stagekeys.figures([], [], None))}


def _touch(path: Path) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n# changed by a test\n")


def test_a_report_only_change_re_runs_no_dut(repo):
    before = _keys(repo)
    _touch(repo / "bundle" / "report" / "html.py")
    after = _keys(repo)
    assert after["figures"] != before["figures"]      # the change is seen where it is read
    assert {k: v for k, v in after.items() if k != "figures"} == {k: v for k, v in before.items() if k != "figures"}


@pytest.mark.parametrize("changed, rerun", [
    ("bundle/runner/session.py", {"run sim", "run host", "latency"}),      # the runner's sequences
    ("bundle/commands/run.py", {"run sim", "run host"}),                   # what the runner container runs
    ("bundle/scheduling.py", {"run sim", "run host", "latency"}),          # the sim DUT's pacing (imported, not listed)
    ("bundle/jsonout.py", {"run sim", "run host", "latency"}),             # writes run-info.json
    ("bundle/dut/native/src/shim.c", {"run sim", "run host", "latency"}),  # a DUT program's source, read by path
    ("bundle/models/litert.py", {"run sim", "run host", "latency"}),       # named in the backend registry
    ("requirements.lock", {"run sim", "run host", "latency"}),             # the software DUT's runtimes
])
def test_a_change_the_runs_read_re_runs_them(repo, changed, rerun):
    before = _keys(repo)
    _touch(repo / changed)
    after = _keys(repo)
    assert {k for k in before if after[k] != before[k] and k != "figures"} == rerun


def _files(stage) -> set[str]:
    return {p.relative_to(REPO).as_posix() for p in closure(REPO, stage.code)}


def test_no_run_or_latency_key_reads_the_report():
    for stage in (RunBenchmarks, QemuLatency):
        assert not [f for f in _files(stage) if f.startswith("bundle/report/") or f.endswith("/reproduce.py")]


def test_the_stages_that_run_no_dut_are_not_keyed_by_the_duts():
    """Every stage's key reads the key-making modules (stagecache, stagekeys, codedeps): they
    must not bring the DUTs into the keys of the stages that never start one."""
    from bundle.pipeline.codediff import Codediff
    from bundle.pipeline.compile import Compile
    from bundle.pipeline.recompute import Recompute

    for stage in (Recompute, Compile, Codediff):
        files = _files(stage)
        assert "bundle/codedeps.py" in files and "bundle/scheduling.py" not in files
        assert not [f for f in files if f.startswith(("bundle/dut/", "bundle/models/", "bundle/runner/"))]


def test_the_runner_image_tag_is_not_in_the_run_key(tmp_path):
    """The image hashes all of bundle/ (a report-only change rebuilds it): the run is keyed by
    the sources it runs instead."""
    from bundle.engine.base import ImageRecord
    from bundle.pipeline.outputs import Images

    def key(tag: str) -> dict:
        image = ImageRecord(target="runner", tag=f"tinyrepro/runner:{tag}", image_id=f"sha256:{tag}",
                            repo_digests=[], base_image="base", inputs_hash=tag)
        s = session_for(load_reproduce_config(), tmp_path, outputs={"images": Images({"runner": image})})
        return RunBenchmarks().key(s.request, s, "sim-litert", "litert", "kws", "accuracy", {"kind": "sim"})

    assert key("a" * 12) == key("b" * 12)
