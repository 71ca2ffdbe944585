"""Boards on other hosts, on loopback: a labgrid coordinator and exporter (both started here,
on 127.0.0.1) export two software DUTs' ptys through ser2net as two places; the run stage
acquires them, spreads the work over them in parallel through rfc2217://, and releases them.

Missing labgrid or ser2net: skip here, FAIL on CI (CI=true), where `make venv deps` installs them.
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import signal
import subprocess
from pathlib import Path

import pytest

from bundle.errors import StageUnavailable
from bundle.pipeline.session import Session, session_for
from bundle.reproduce_config import load_reproduce_config
from bundle.engine.local import LocalEngine
from bundle.lab.coordinator import Coordinator, PlaceError, acquired
from bundle.lab.loopback import LoopbackLab, missing_tools
from bundle.lab.run import run_on_places
from bundle.published.logs import parse_log

# pyserial 3.5's rfc2217 reader thread (upstream, not ours)
pytestmark = pytest.mark.filterwarnings("ignore:setDaemon:DeprecationWarning")
REPO = Path(__file__).resolve().parents[2]
SYSTEM = "microtvm_native/NUCLEO_L4R5ZI"
# The published native KWS build's latency (its performance results.txt), emulated by the sim,
# with the UART at 115200 baud: the time a board would take.
EMULATED = dict(baud=115200, infer_ms=146.0)


@pytest.fixture(scope="module", autouse=True)
def lab_tools():
    reason = missing_tools()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)


def _lab(tmp_path, kws_model, n=2, **pacing):
    return LoopbackLab(tmp_path, [dict(backend="litert", benchmark="kws", model=kws_model, **pacing)] * n)


@pytest.fixture(scope="module")
def fast_lab(tmp_path_factory, kws_model):
    """Two places whose software DUTs answer as fast as they can."""
    with _lab(tmp_path_factory.mktemp("lab"), kws_model, baud=0) as lab:
        yield lab


def _ctx(tmp_path, fetcher, lab, limit=None) -> Session:
    cfg = dataclasses.replace(load_reproduce_config(), modes=["accuracy"])
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    return session_for(cfg, run_dir, port=None, engine="local", base_image=None, limit=limit,
                       backends=[], cache=fetcher.cache_dir, system=SYSTEM,
                       coordinator=lab.address, places=list(lab.places))


def _held(lab) -> dict[str, str | None]:
    client = Coordinator(lab.address)
    try:
        return {name: client.acquired_by(name) for name in lab.places}
    finally:
        client.close()


def test_kws_accuracy_on_two_places_in_parallel_1000_of_1000_each(tmp_path, fetcher, kws_dataset, fast_lab):
    lab = fast_lab
    # one accuracy run per place: the same work twice, once on each place
    done = _run_both(_ctx(tmp_path, fetcher, lab), lab)
    assert set(_held(lab).values()) == {None}          # released
    assert sorted(d["place"] for d in done) == sorted(lab.places)
    for d in done:
        assert d["dir"] is not None, d
        outputs = parse_log(d["dir"] / "log.txt").outputs
        assert len(outputs) == 1000
        assert (d["dir"] / "results.txt").read_text().splitlines()[-2].endswith("Top-1: 90.2%")
        info = json.loads((d["dir"] / "run-info.json").read_text())
        assert info["dut_kind"] == "board" and info["stimuli"] == 1000
        assert d["label"] == f"place {d['place']} (NUCLEO_L4R5ZI)" and d["system"] == SYSTEM


def _run_both(ctx, lab):
    """The kws accuracy item twice (one per place): the queue hands one to each place."""
    from bundle.lab import run as lab_run
    from bundle.lab.places import Work

    original = lab_run.plan_work

    def twice(*args, **kwargs):
        work, notes = original(*args, **kwargs)
        return work + [Work(SYSTEM, "kws", "accuracy")], notes

    lab_run.plan_work = twice
    try:
        return run_on_places(ctx, LocalEngine(), ["kws"])
    finally:
        lab_run.plan_work = original


def test_two_places_take_at_most_0_6_of_the_time_of_one_after_the_other(tmp_path, kws_dataset, kws_model):
    """Emulated board latency, a bounded prefix (1000 per place is `make bench`: 0.47 here). The
    runner runs in this process, one thread per place, so the figure is the places' own, not
    the start-up of a runner process on a loaded 2-core machine."""
    from bundle.runner.session import run_benchmark

    limit = 20
    with _lab(tmp_path, kws_model, **EMULATED) as lab:
        client = Coordinator(lab.address)
        try:
            with acquired(client, lab.places):
                urls = [client.serial_url(name) for name in lab.places]

                def one(i: int, tag: str) -> None:
                    results[tag].append(run_benchmark(urls[i], "kws", "accuracy", kws_dataset,
                                                      tmp_path / tag / str(i), limit=limit))

                results: dict[str, list] = {"seq": [], "par": []}
                start = time.monotonic()
                one(0, "seq")
                one(1, "seq")
                sequential = time.monotonic() - start
                threads = [threading.Thread(target=one, args=(i, "par")) for i in (0, 1)]
                start = time.monotonic()
                [t.start() for t in threads]
                [t.join() for t in threads]
                parallel = time.monotonic() - start
        finally:
            client.close()
    print(f"{limit} stimuli per place: sequential {sequential:.1f} s, parallel {parallel:.1f} s, "
          f"ratio {parallel / sequential:.2f}")
    assert [r.done for r in results["seq"] + results["par"]] == [limit] * 4
    assert parallel <= 0.6 * sequential


def test_killing_the_exporter_mid_run_is_a_clean_error_with_the_place_released(tmp_path, fetcher, kws_dataset,
                                                                             kws_model):
    with _lab(tmp_path, kws_model, n=1, **EMULATED) as lab:
        ctx = _ctx(tmp_path, fetcher, lab, limit=200)
        out = ctx.request.run_dir / "runs" / "places" / lab.places[0] / "kws" / "accuracy"

        def kill_when_started():
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                journal = out / "run.jsonl"
                if journal.is_file() and len(journal.read_text().splitlines()) >= 5:
                    lab.kill_exporter()
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_when_started)
        killer.start()
        with pytest.raises(StageUnavailable) as err:
            run_on_places(ctx, LocalEngine(), ["kws"])
        killer.join()
        print(err.value.message)
        assert "FAILED on place loop0" in err.value.message
        assert "exit" in err.value.message or "port" in err.value.message
        assert _held(lab) == {lab.places[0]: None}
    records = [json.loads(x) for x in (out / "run.jsonl").read_text().splitlines()]
    assert 5 <= len(records) < 200
    logged = parse_log(out / "log.txt").outputs
    assert [f"{o.file}@{o.offset}" for o in logged] == [r["key"] for r in records]
    assert "m-port-gone" in (out / "log.txt").read_text()


def _other_user(lab, *command: str) -> None:
    """labgrid-client as someone else (labgrid allows one client session per process)."""
    import sys

    env = {**os.environ, "LG_USERNAME": "someone-else"}
    subprocess.run([str(Path(sys.executable).with_name("labgrid-client")), "-x", lab.address, *command],
                   env=env, check=True, capture_output=True, timeout=60)


def test_an_unknown_or_busy_place_is_a_clean_error_and_nothing_stays_held(fast_lab):
    lab = fast_lab
    _other_user(lab, "-p", lab.places[1], "acquire")
    client = Coordinator(lab.address)
    try:
        with pytest.raises(PlaceError) as err:
            client.acquire("nosuch")
        assert "loop0" in err.value.hint
        with pytest.raises(PlaceError) as err, acquired(client, lab.places):
            pass
        assert "already acquired" in err.value.message and lab.places[1] in err.value.message
        assert client.acquired_by(lab.places[0]) is None           # acquired first, released again
        assert client.acquired_by(lab.places[1]).endswith("/someone-else")
    finally:
        client.close()
        _other_user(lab, "-p", lab.places[1], "release")
    assert set(_held(lab).values()) == {None}


def _reproduce_argv(tmp_path, fetcher, lab, *extra) -> list[str]:
    import sys

    import yaml

    raw = yaml.safe_load((REPO / "bundle" / "data" / "reproduce.yaml").read_text())
    raw["modes"] = ["accuracy"]
    config = tmp_path / "reproduce.yaml"
    config.write_text(yaml.safe_dump(raw))
    # --dut sim --no-estimate: the places run whatever --dut says; these flags only keep out the
    # QEMU latency and estimate stages (24 cold cross builds and 12 full-length QEMU runs, about
    # 10 minutes on 2 cores), which say nothing about places. Their parts are tested in
    # test_published_code.py and test_estimate.py; the full stages are `make reproduce`'s.
    return [sys.executable, "-m", "bundle", "reproduce", "--engine", "local", "--offline", "--config", str(config),
            "--out", str(tmp_path / "runs"), "--cache", str(fetcher.cache_dir), "--mirror", str(fetcher.mirror),
            "--dut", "sim", "--no-estimate", "--coordinator", lab.address, "--place", " ".join(lab.places), *extra]


def test_reproduce_on_places_says_which_place_and_board_ran_each_row(tmp_path, fetcher, kws_dataset, fast_lab):
    lab = fast_lab
    proc = subprocess.run(_reproduce_argv(tmp_path, fetcher, lab, "--limit", "20"), cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    held = _held(lab)
    assert set(held.values()) == {None}, held
    run_dir = next((tmp_path / "runs").iterdir())
    doc = json.loads((run_dir / "report.json").read_text())
    rows = [r for r in doc["rows"] if r["section"] == "reproduce" and r["benchmark"] == "kws"
            and r["mode"] == "accuracy" and r["verdict"] != "NOT_RUN"]
    assert rows, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert {r["dut"] for r in rows} <= {f"place {p} (NUCLEO_L4R5ZI)" for p in lab.places}
    assert {r["system"] for r in rows} == {SYSTEM}
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert doc["environment"]["places"] == lab.places
    flash = next(s for s in doc["stages"] if s["stage"] == "flash")
    assert flash["status"] == "NOT_RUN" and "labgrid" in flash["reason"]


def test_sigterm_during_a_run_on_places_releases_them_and_keeps_what_ran(tmp_path, fetcher, kws_dataset, fast_lab):
    """A CI cancel: SIGTERM mid-run ends reproduce as interrupted (130), places released."""
    lab = fast_lab
    proc = subprocess.Popen(_reproduce_argv(tmp_path, fetcher, lab), cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        journals: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            journals = list((tmp_path / "runs").glob("*/runs/places/*/kws/accuracy/run.jsonl"))
            if journals and len(journals[0].read_text().splitlines()) >= 5:
                break
            time.sleep(0.2)
        assert journals, "the run on a place never started"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert set(_held(lab).values()) == {None}
    assert len(journals[0].read_text().splitlines()) >= 5
    run_dir = next((tmp_path / "runs").iterdir())
    assert (run_dir / "report.json").is_file()
