"""`tinyrepro reproduce` end to end on this host: real fetch from the mirror, real sim DUT on a
pty, real LiteRT, real report files. Only the accuracy mode and a prefix of the stimuli, to keep
it short; the full run is `make reproduce`."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick_config(tmp_path_factory) -> Path:
    raw = yaml.safe_load((REPO / "bundle" / "data" / "reproduce.yaml").read_text())
    raw["modes"] = ["accuracy"]
    raw["sim"]["backends"] = {"litert": raw["sim"]["backends"]["litert"]}
    path = tmp_path_factory.mktemp("cfg") / "reproduce.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


BASE = os.environ.get("TINYREPRO_BASE_IMAGE", "tinyrepro/debian-base:bookworm")


def _reproduce(engine: str, quick_config: Path, out: Path, fetcher, *extra: str, stage_cache: Path | None = None):
    # Each call has its own stage cache (default: a fresh one beside `out`), so what a test
    # checks was really run, not reused from another test or an earlier `make reproduce`.
    env = {**os.environ, "TINYREPRO_STAGE_CACHE": str(stage_cache or out.parent / f"{out.name}-stage-cache")}
    proc = subprocess.run(
        # --offline: tests never reach the internet, not even to probe the upstreams
        # --dut sim: these tests are about the software DUT, wherever the code tree happens to be cached
        # --no-estimate: the estimate stage's builds are tests/local/test_estimate.py's
        [sys.executable, "-m", "bundle", "reproduce", "--engine", engine, "--limit", "40", "--offline", "--dut", "sim",
         "--no-estimate", "--config", str(quick_config), "--out", str(out), "--cache", str(fetcher.cache_dir),
         "--mirror", str(fetcher.mirror), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    before = set(getattr(_reproduce, "seen", {}).get(out, set()))
    run_dirs = [d for d in out.iterdir() if d not in before]
    assert len(run_dirs) == 1, proc.stderr[-2000:]
    _reproduce.seen = {**getattr(_reproduce, "seen", {}), out: before | set(run_dirs)}
    doc = json.loads((run_dirs[0] / "report.json").read_text())
    return proc, run_dirs[0], doc


@pytest.fixture(scope="module")
def report(quick_config, tmp_path_factory, fetcher):
    return _reproduce("local", quick_config, tmp_path_factory.mktemp("runs"), fetcher)


def _docker_or_skip() -> None:
    """No engine or base image: skip here, but FAIL on CI, where Docker is part of the test bed."""
    import docker

    try:
        docker.from_env().images.get(BASE)
        return
    except docker.errors.ImageNotFound:
        reason = f"base image {BASE} missing: run `make base-image`"
    except docker.errors.DockerException as err:
        reason = f"no Docker engine: {err}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def docker_report(quick_config, tmp_path_factory, fetcher):
    _docker_or_skip()
    # --no-compile: with the tvm image built, the compile stage would put the 12 models (and two
    # cause tests) through TVM, minutes that say nothing about the runner image; it is
    # tests/toolchain's, and `make reproduce`'s.
    return _reproduce("docker", quick_config, tmp_path_factory.mktemp("runs-docker"), fetcher,
                      "--base-image", BASE, "--no-compile")


def test_report_files_and_exit_code(report):
    proc, run_dir, doc = report
    for name in ("report.md", "report.csv", "report.json", "stages.jsonl"):
        assert (run_dir / name).is_file()
    # 40 of 1000 stimuli: a partial run is NOT_COMPARABLE, never DIFFERENT, so exit 0
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # The terminal: a short summary ending with where report.html is; the runs' own lines
    # are in their log files, not on the terminal.
    assert len(proc.stdout.splitlines()) <= 40 and "published numbers" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].startswith("report") and str(run_dir / "report.html") in proc.stdout
    assert (run_dir / "report.html").is_file()
    assert not re.search(r"\d+/\d+ stimuli", proc.stdout + proc.stderr)  # no per-stimulus progress lines
    assert "40/40 stimuli" in (run_dir / "logs" / "sim-litert-kws-accuracy.log").read_text()


def test_a_rerun_with_nothing_changed_reuses_every_stage_and_force_recomputes(report, quick_config, tmp_path,
                                                                             fetcher):
    """Same inputs: the run, the recompute and the diff are reused (the run folder's files are
    the same bytes); another --limit reruns the run and the diff, not the published recompute;
    --force run runs it again."""
    _, first_dir, first = report
    cache = first_dir.parent.parent / f"{first_dir.parent.name}-stage-cache"
    out = tmp_path / "again"
    _, again_dir, again = _reproduce("local", quick_config, out, fetcher, stage_cache=cache)
    reused = again["environment"]["stage_cache"]["reused"]
    assert reused == {"published-recompute": 1, "run": 1, "diff": 1}
    log = Path("runs", "sim-litert", "kws", "accuracy", "log.txt")
    assert (again_dir / log).read_bytes() == (first_dir / log).read_bytes()
    assert [r for r in again["rows"]] == [r for r in first["rows"]]
    assert any("reused from the stage cache" in n for n in again["notes"])
    assert (again_dir / "report.html").is_file()

    _, _, other = _reproduce("local", quick_config, out, fetcher, "--limit", "39", stage_cache=cache)
    assert other["environment"]["stage_cache"]["reused"] == {"published-recompute": 1}
    _, _, forced = _reproduce("local", quick_config, out, fetcher, "--force", "run", stage_cache=cache)
    assert "run" not in forced["environment"]["stage_cache"]["reused"]
    assert forced["environment"]["stage_cache"]["forced"] == ["run"]


def test_every_published_number_recomputed(report):
    _, _, doc = report
    rows = [r for r in doc["rows"] if r["section"] == "published-recompute"]
    assert len(rows) == 56     # three systems; the nRF5340-DK published no energy runs
    assert {r["verdict"] for r in rows if r["benchmark"] != "ad" or r["mode"] != "accuracy"} <= {"MATCH", "WITHIN_TOLERANCE"}
    ad_acc = [r for r in rows if r["benchmark"] == "ad" and r["mode"] == "accuracy"]
    assert ad_acc and all(r["verdict"] == "NOT_RUN" and "log.txt" in r["reason"] for r in ad_acc)


def test_stages_say_what_ran_and_why_not(report):
    _, _, doc = report
    stages = {s["stage"]: s for s in doc["stages"]}
    assert stages["fetch"]["status"] == "RAN"
    assert stages["run"]["status"] == "RAN"
    assert stages["images"]["status"] == "NOT_RUN" and "local" in stages["images"]["reason"]
    assert stages["code"]["status"] == "RAN"      # the code tree is pinned with the published tree
    for name in ("compile", "codediff", "firmware", "flash"):
        assert stages[name]["status"] in ("NOT_RUN", "FAILED") and stages[name]["reason"]
    assert stages["latency"]["status"] == "NOT_RUN" and "--dut sim" in stages["latency"]["reason"]
    assert "no board" in stages["flash"]["reason"]
    # derived stimuli: one stage per set, NOT_RUN here with the reason, and the run goes on
    assert stages["stimuli:ic01"]["status"] == stages["stimuli:vww01"]["status"] == "NOT_RUN"
    assert stages["stimuli:ic01"]["reason"].startswith("ic01: offline:")
    # ad01's archive is pinned by its publisher's MD5 + size: offline, it is simply not there
    assert stages["stimuli:ad01"]["status"] == "NOT_RUN" and stages["stimuli:ad01"]["reason"].startswith("ad01: offline:")


def test_sim_rows_compare_outputs_and_mark_the_rest_not_run(report):
    _, _, doc = report
    rows = [r for r in doc["rows"] if r["section"] == "reproduce"]
    acc = [r for r in rows if r["benchmark"] == "kws" and r["mode"] == "accuracy" and r["verdict"] != "NOT_RUN"]
    # litert stands in for the native build only (bundle/data/reproduce.yaml)
    assert {r["system"] for r in acc} == {"microtvm_native/NUCLEO_L4R5ZI"}
    top1 = next(r for r in acc if r["metric"] == "top1_pct")
    assert top1["verdict"] == "NOT_COMPARABLE" and "partial run: 40 of 1000" in top1["reason"]
    assert top1["reproduced"] is not None and top1["dut"] == "sim-litert"
    assert top1["outputs_total"] == 1000 and top1["outputs_equal"] >= 39  # litert matches native 998/1000
    for bench in ("ic", "vww", "ad"):
        mine = [r for r in rows if r["benchmark"] == bench and r["dut"] != "estimate"
                and not r["reason"].startswith("nothing to reproduce")]
        assert mine and all(r["verdict"] == "NOT_RUN" and "not available offline" in r["reason"] for r in mine)
        assert all("tinyrepro stimuli:" in r["reason"] for r in mine if r["mode"] != "energy")
    assert any("software DUT" in n for n in doc["notes"])
    # one latency-estimate row per published build, here NOT_RUN with the reason (--no-estimate)
    estimates = [r for r in rows if r["dut"] == "estimate"]
    assert len(estimates) == 12 and {r["metric"] for r in estimates} == {"latency_ms"}
    assert all(r["verdict"] == "NOT_RUN" and "--no-estimate" in r["reason"] for r in estimates)


def test_run_folder_says_a_software_dut_answered(report):
    _, run_dir, _ = report
    info = json.loads((run_dir / "runs" / "sim-litert" / "kws" / "accuracy" / "run-info.json").read_text())
    assert info["dut_kind"] == "sim" and info["backend"] == "litert" and info["stimuli"] == 40


def _results(run_dir: Path) -> tuple[list[str], list[str]]:
    log = (run_dir / "runs" / "sim-litert" / "kws" / "accuracy" / "log.txt").read_text().splitlines()
    res = (run_dir / "runs" / "sim-litert" / "kws" / "accuracy" / "results.txt").read_text().splitlines()
    outputs = [ln.split(" ", 1)[1] for ln in log if "m-results-[" in ln]
    scores = [ln.split(" ", 1)[1] for ln in res]
    return outputs, scores


@pytest.mark.docker
def test_docker_engine_runs_the_runner_in_its_image_with_the_same_results(report, docker_report):
    """The runner image, built from the locally bootstrapped base, runs KWS accuracy against the
    sim DUT on the host, its pty passed into the container: same outputs as the local engine."""
    _, local_dir, _ = report
    proc, docker_dir, doc = docker_report
    assert doc["environment"]["engine"] == "docker", proc.stderr[-2000:]
    run = doc["environment"]["runs"][0]
    assert run["engine"] == "docker" and run["image"]["tag"].startswith("tinyrepro/runner:")
    stages = {s["stage"]: s for s in doc["stages"]}
    assert stages["images"]["status"] == "RAN"
    assert stages["compile"]["status"] == "NOT_RUN" and stages["compile"]["reason"] == "not selected (--no-compile)"
    local_outputs, local_scores = _results(local_dir)
    docker_outputs, docker_scores = _results(docker_dir)
    assert len(docker_outputs) == 40
    assert docker_outputs == local_outputs
    assert docker_scores == local_scores
    assert docker_dir.stat().st_uid == os.getuid()  # files belong to the user, not to root


def test_unfetchable_inputs_fail_the_run_with_the_fetch_exit_code(tmp_path):
    """No mirror and no upstream (a lock whose URLs point at a closed loopback port): the
    fetch stage FAILS with the file and both fixes named, nothing downstream pretends to run,
    and the exit code is the fetch error's, not 'nothing DIFFERENT'."""
    lock = yaml.safe_load((REPO / "artifacts" / "lock.yaml").read_text())
    for source in lock["sources"].values():
        source["url"] = "http://127.0.0.1:9/{upstream}"
    lock_path = tmp_path / "lock.yaml"
    lock_path.write_text(yaml.safe_dump(lock))
    env = {k: v for k, v in os.environ.items() if k != "TINYREPRO_MIRROR"}
    env["TINYREPRO_LOCK"] = str(lock_path)
    proc = subprocess.run(
        [sys.executable, "-m", "bundle", "reproduce", "--engine", "local", "--cache", str(tmp_path / "cache"),
         "--out", str(tmp_path / "runs")], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4, proc.stdout[-2000:]
    doc = json.loads(next((tmp_path / "runs").iterdir()).joinpath("report.json").read_text())
    stages = {s["stage"]: s for s in doc["stages"]}
    assert stages["fetch"]["status"] == "FAILED"
    assert "--mirror" in stages["fetch"]["reason"] and "TINYREPRO_MIRROR" in stages["fetch"]["reason"]
    assert stages["run"]["status"] == "NOT_RUN" and "fetch" in stages["run"]["reason"]
    assert not [r for r in doc["rows"] if r["verdict"] in ("MATCH", "WITHIN_TOLERANCE", "DIFFERENT")]


def test_a_prepared_stimulus_set_joins_the_run(quick_config, tmp_path, fetcher):
    """A prepared ic01 folder (here synthetic pixels under the real 200 names, with its
    SHA256SUMS) is found READY by the stimuli stage, offline, and ic is run and diffed."""
    import hashlib
    import shutil

    import numpy as np

    from bundle.stimuli.sources import labels_rows

    folder = tmp_path / "stimuli" / "ic01"
    folder.mkdir(parents=True)
    labels = fetcher.fetch("datasets/ic01/y_labels.csv")
    shutil.copyfile(labels, folder / "y_labels.csv")
    rng = np.random.default_rng(0)
    sums = []
    for name, _ in labels_rows(labels):
        data = rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
        (folder / name).write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (folder / "SHA256SUMS").write_text("".join(sums))
    env = {**os.environ, "TINYREPRO_STIMULI": str(tmp_path / "stimuli")}
    out = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "bundle", "reproduce", "--engine", "local", "--limit", "10", "--offline", "--dut", "sim",
         "--no-estimate", "--config", str(quick_config), "--out", str(out), "--cache", str(fetcher.cache_dir),
         "--mirror", str(fetcher.mirror)], cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    run_dir = next(out.iterdir())
    doc = json.loads((run_dir / "report.json").read_text())
    stages = {s["stage"]: s for s in doc["stages"]}
    assert stages["stimuli:ic01"]["status"] == "RAN", proc.stdout[-3000:] + proc.stderr[-3000:]
    assert stages["stimuli:ic01"]["details"]["manifest"] == str(folder / "SHA256SUMS")
    assert stages["stimuli:vww01"]["status"] == "NOT_RUN"
    info = json.loads((run_dir / "runs" / "sim-litert" / "ic" / "accuracy" / "run-info.json").read_text())
    assert info["stimuli"] == 10
    ic = [r for r in doc["rows"] if r["section"] == "reproduce" and r["benchmark"] == "ic" and r["mode"] == "accuracy"]
    assert ic and any(r["verdict"] != "NOT_RUN" for r in ic)
    assert any("stimuli ic01" in n and "SHA256SUMS" in n for n in doc["notes"])
