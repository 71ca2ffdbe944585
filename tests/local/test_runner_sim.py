"""The runner against the software DUT over a real pty, with the real LiteRT/TVM backends."""
from __future__ import annotations

import json
import threading

import pytest

from bundle.cli import main
from bundle.dut.harness import format_value
from bundle.dut.sim import SimProcess
from bundle.dut.spec import DutSpec, write_spec
from bundle.errors import ConfigError, PortGone, UsageError
from bundle.fetch.fetcher import default_cache_dir
from bundle.models import get_backend
from bundle.published.logs import parse_log
from bundle.published.parse import load_mode_dir, published_metrics, recomputed_metrics
from bundle.runner.logwriter import Journal
from bundle.runner.session import run_benchmark
from bundle.runner.stimuli import plan_stimuli

PUBLISHED_KWS = "results/microtvm_native/NUCLEO_L4R5ZI/kws/accuracy/log.txt"
FAST = dict(command_timeout_s=0.5, resync_timeout_s=0.5, expected_latency_s=0.1, infer_slack_s=0.5)


def _keys(outputs):
    return [f"{o.file}@{o.offset}" for o in outputs]


@pytest.fixture(scope="module")
def published_kws(published_root):
    return parse_log(published_root / PUBLISHED_KWS).outputs


def test_kws_accuracy_through_a_pty(kws_dataset, kws_model, published_kws, tmp_path):
    """All 1000 stimuli with litert (LiteRT's default int8 kernels), which reproduces the native
    firmware's outputs: the published Top-1, and at least the 998 vectors it measured here."""
    with SimProcess("litert", "kws", model=kws_model, baud=0) as port:
        result = run_benchmark(port, "kws", "accuracy", kws_dataset, tmp_path)
    print(f"sim/litert: {result.results}")
    assert result.results == ["Top-1: 90.2%", "AUC: 0.99"]
    ours = parse_log(tmp_path / "log.txt").outputs
    assert _keys(ours) == _keys(published_kws)
    equal = sum(a.values == b.values for a, b in zip(ours, published_kws))
    print(f"sim/litert: {equal}/1000 output vectors equal to the published native log")
    assert equal >= 998
    text = (tmp_path / "log.txt").read_text()
    assert not text.endswith("\n")
    assert text.count("dut: m-lap-us-") == 2001
    assert 'parser: Command "bload dut "' in text
    assert (tmp_path / "results.txt").read_text().rstrip("\n").splitlines()[-1].split(": ", 1)[1] == result.results[1]


# The other backends through the same pty: what the sim prints is exactly the backend's own
# outputs, on a prefix (the pty path is the one litert runs in full above). Their agreement
# with the published logs over all 1000 (litert-ref 632, tvm 506 vectors equal to the native
# log) is checked in-process on the same values: tests/local/test_models.py.
PREFIX = 60


@pytest.mark.parametrize("backend", ["litert-ref", "tvm"])
def test_other_backends_through_a_pty_print_their_own_outputs(backend, kws_dataset, kws_model, published_kws,
                                                              tmp_path):
    with SimProcess(backend, "kws", model=kws_model, baud=0) as port:
        result = run_benchmark(port, "kws", "accuracy", kws_dataset, tmp_path, limit=PREFIX)
    assert result.results == [f"Cannot compute accuracy metrics: partial run ({PREFIX} of 1000 stimuli)."]
    ours = parse_log(tmp_path / "log.txt").outputs
    assert _keys(ours) == _keys(published_kws)[:PREFIX]
    # the sim's own model cache (a TVM compile is reused, not redone)
    direct = get_backend(backend)(kws_model, "kws", cache_dir=default_cache_dir() / "models")
    for o in ours:
        assert list(o.values) == [float(format_value(v)) for v in direct.infer((kws_dataset / o.file).read_bytes())]
    assert (tmp_path / "log.txt").read_text().count("dut: m-lap-us-") == 2 * PREFIX + 1


@pytest.fixture(scope="module")
def clean_run(kws_dataset, kws_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean")
    with SimProcess("litert", "kws", model=kws_model, baud=0) as port:
        result = run_benchmark(port, "kws", "accuracy", kws_dataset, out, limit=40)
    return out, result


@pytest.fixture(scope="module")
def clean_prefix(clean_run):
    return parse_log(clean_run[0] / "log.txt").outputs


def test_partial_run_states_no_accuracy_numbers(clean_run):
    out, result = clean_run
    reason = "Cannot compute accuracy metrics: partial run (40 of 1000 stimuli)."
    assert result.results == [reason]
    lines = (out / "results.txt").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [f"ulp-mlperf: {reason}"]


@pytest.mark.parametrize("kind,rate", [("garbage", 0.03), ("drop", 0.03), ("stall", 0.01), ("reset", 0.02)])
def test_faults_lose_nothing_and_show_in_log(kind, rate, kws_dataset, kws_model, clean_prefix, tmp_path):
    injected = tmp_path / "injected.txt"
    with SimProcess("litert", "kws", model=kws_model, baud=0, faults=f"{kind}:{rate}", seed=7,
                    stall_s=1.0, fault_log=injected) as port:
        result = run_benchmark(port, "kws", "accuracy", kws_dataset, tmp_path / "run", limit=40,
                               retries=5, **FAST)
    ours = parse_log(tmp_path / "run" / "log.txt").outputs
    assert _keys(ours) == _keys(clean_prefix)                     # none lost, none twice
    assert [o.values for o in ours] == [o.values for o in clean_prefix]
    n_injected = len(injected.read_text().split())
    log_text = (tmp_path / "run" / "log.txt").read_text()
    logged = log_text.count("runner: m-fault-[") + log_text.count("runner: m-unsolicited-[")
    assert n_injected >= 2 and result.faults == logged >= 1
    if kind == "reset":     # each reboot is seen: in a reply, or before the next command
        assert logged == n_injected and "m-init-done" in log_text
    assert len(Journal(tmp_path / "run" / "run.jsonl").records()) == 40


def test_port_gone_then_resume(kws_dataset, kws_model, clean_prefix, tmp_path):
    out = tmp_path / "run"
    sim = SimProcess("litert", "kws", model=kws_model, baud=0, infer_ms=20)
    def kill_after_a_few_records():     # mid-run whatever the machine's load, not after a fixed time
        journal = out / "run.jsonl"
        while not (journal.is_file() and journal.read_bytes().count(b"\n") >= 3):
            threading.Event().wait(0.02)
        sim.kill()

    with sim as port:
        threading.Thread(target=kill_after_a_few_records, daemon=True).start()
        with pytest.raises(PortGone):
            run_benchmark(port, "kws", "accuracy", kws_dataset, out, limit=40, **FAST)
    done = len(Journal(out / "run.jsonl").records())
    assert 0 < done < 40
    assert _keys(parse_log(out / "log.txt").outputs) == _keys(clean_prefix)[:done]
    assert "runner: m-port-gone-[" in (out / "log.txt").read_text()
    with SimProcess("litert", "kws", model=kws_model, baud=0) as port:
        run_benchmark(port, "kws", "accuracy", kws_dataset, out, limit=40, **FAST)
    ours = parse_log(out / "log.txt").outputs
    assert _keys(ours) == _keys(clean_prefix)
    assert [o.values for o in ours] == [o.values for o in clean_prefix]
    assert "runner: m-resume-[" in (out / "log.txt").read_text()


def test_resume_replays_a_block_the_log_lost(kws_dataset, kws_model, clean_prefix, tmp_path):
    out = tmp_path / "run"
    with SimProcess("litert", "kws", model=kws_model, baud=0) as port:
        run_benchmark(port, "kws", "accuracy", kws_dataset, out, limit=5, **FAST)
        # a crash after the sidecar record but before the log block: cut the last block
        text = (out / "log.txt").read_text()
        cut = text.rindex("\n", 0, text.rindex("sequencing-i[13]"))
        (out / "log.txt").write_text(text[:cut])
        run_benchmark(port, "kws", "accuracy", kws_dataset, out, limit=6, **FAST)
    assert _keys(parse_log(out / "log.txt").outputs) == _keys(clean_prefix)[:6]


def test_performance_laps_wrap_at_32_bits(kws_dataset, kws_model, tmp_path):
    # Boot 0.7 s before the u32 microsecond counter wraps; windows must stay positive.
    with SimProcess("litert", "kws", model=kws_model, baud=0, infer_ms=40,
                    clock_start_us=2**32 - 700_000) as port:
        result = run_benchmark(port, "kws", "performance", kws_dataset, tmp_path, n=3, w=1, **FAST)
    laps = parse_log(tmp_path / "log.txt").laps
    assert len(laps) == 11 and any(b < a for a, b in zip(laps, laps[1:]))
    runtimes = [float(t.split(":")[1].split()[0]) for t in result.results if "Runtime" in t]
    assert len(runtimes) == 5 and all(0.11 <= r < 0.5 for r in runtimes)
    assert result.results.count(
        "e-[The run must take at least 10 seconds and 10 iterations to be valid]") == 5
    # results.txt reads back through the published-side parser exactly as it recomputes
    run = load_mode_dir(tmp_path, mode="performance", benchmark="kws")
    thr = recomputed_metrics(run, kws_dataset.parent)["throughput_ips"]
    assert thr.windows_equal == thr.windows_total == 5
    assert published_metrics(run)["throughput_ips"].value == round(thr.value, 3)


def test_performance_dropped_lap_digits_are_retried(kws_dataset, kws_model, tmp_path):
    # `digit` loses one digit of an m-lap-us value (the line still parses); `drop` any byte.
    injected = tmp_path / "injected.txt"
    with SimProcess("litert", "kws", model=kws_model, baud=0, infer_ms=40, faults="drop:0.03,digit:0.3",
                    seed=7, fault_log=injected) as port:
        result = run_benchmark(port, "kws", "performance", kws_dataset, tmp_path / "run", n=3, w=1,
                               retries=5, **FAST)
    kinds = injected.read_text().split()
    log_text = (tmp_path / "run" / "log.txt").read_text()
    print(f"injected {kinds}; {result.faults} faults")
    assert "digit" in kinds and "drop" in kinds
    # every lost digit is caught by the lap check, unless a drop in the same reply failed it first
    assert log_text.count("implausible m-lap-us pair") >= max(1, kinds.count("digit") - kinds.count("drop"))
    assert result.faults == log_text.count("runner: m-fault-[") + log_text.count("runner: m-unsolicited-[")
    keys = [r["key"] for r in Journal(tmp_path / "run" / "run.jsonl").records()]
    assert keys == [s.key for s in plan_stimuli(kws_dataset, "kws", "performance")]   # none lost, none twice
    log = parse_log(tmp_path / "run" / "log.txt")
    assert len(log.laps) == 11 and len(log.outputs) == 5
    runtimes = [float(t.split(":")[1].split()[0]) for t in result.results if "Runtime" in t]
    assert len(runtimes) == 5 and all(0.11 <= r < 0.5 for r in runtimes)


def test_cli_writes_run_info_for_a_sim_reached_as_a_board(fetcher, kws_model, tmp_path, capsys):
    out = tmp_path / "run"
    spec = write_spec(tmp_path / "dut.json", DutSpec("sim", runtime="litert", infer_ms=144.03))
    with SimProcess("litert", "kws", model=kws_model, baud=0) as port:
        code = main(["run", "--port", port, "--dut-spec", str(spec), "--mode", "accuracy", "--limit", "3",
                     "--out", str(out), "--cache", str(fetcher.cache_dir)])
    assert code == 0, capsys.readouterr().err
    assert json.loads((out / "run-info.json").read_text()) == {
        "dut_kind": "sim", "backend": "litert", "emulated_infer_ms": 144.03, "benchmark": "kws",
        "mode": "accuracy", "n": 1, "w": 0, "limit": 3, "stimuli": 3,
        "system": "microtvm_native/NUCLEO_L4R5ZI", "input": "pinned stimuli: datasets/kws01/"}
    assert not list(out.glob(".*.part"))


@pytest.mark.parametrize("info, argv", [({"dut_kind": "board", "backend": "litert"}, ["--port", "x"]),
                                        ({"dut_kind": "board"}, ["--dut", "sim", "--port", "x"]),
                                        ({"dut_kind": "sim", "emulated_infer_ms": 144}, ["--dut", "sim"])])
def test_cli_rejects_dut_labels_that_do_not_fit(info, argv, tmp_path):
    from bundle.runner.onerun import dut_spec
    from bundle.cli import build_parser

    (tmp_path / "dut.json").write_text(json.dumps(info))
    args = build_parser().parse_args(["run", "--out", str(tmp_path), "--dut-spec", str(tmp_path / "dut.json"), *argv])
    with pytest.raises(UsageError):
        dut_spec(args)


def test_stimulus_plan_kws(kws_dataset):
    acc = plan_stimuli(kws_dataset, "kws", "accuracy")
    perf = plan_stimuli(kws_dataset, "kws", "performance")
    assert len(acc) == 1000 and [s.path.name for s in perf] == [s.path.name for s in acc[:5]]
    assert acc[0].path.name == "tst_000000_Stop_7.bin" and acc[0].label == 7


def test_unpinned_stimuli_hint_says_where_they_come_from(tmp_path):
    (tmp_path / "ic01").mkdir()
    (tmp_path / "ic01" / "y_labels.csv").write_text("emu_s_002009.bin,10,2\n")
    with pytest.raises(ConfigError) as err:
        plan_stimuli(tmp_path / "ic01", "ic", "accuracy")
    assert "kws01" in err.value.hint and "networked machine" in err.value.hint


def test_ad_accuracy_sends_196_windows_per_file(tmp_path):
    (tmp_path / "a.bin").write_bytes(bytes(102400))
    (tmp_path / "y_labels.csv").write_text("a.bin,2,0,2560,512\n")
    plan = plan_stimuli(tmp_path, "ad", "accuracy")
    assert len(plan) == 196 and plan[-1].offset == 102400 - 2560 and plan[1].offset == 512
    assert len(plan_stimuli(tmp_path, "ad", "performance")) == 1
