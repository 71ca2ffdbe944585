"""EnergyRunner 3.0.10 sequences (spec §2.3 performance, §2.4 accuracy) over a DutClient.

`run_benchmark(port_url, benchmark, mode, stimuli_dir, out_dir, n=..., w=...)` writes
`out_dir/log.txt`, `out_dir/results.txt` and the sidecar `out_dir/run.jsonl`.
results.txt is scored by the code that scores published logs
(`bundle.published.parse`), so both sides of a diff are computed alike.

Each stimulus (bload + infer) is one block of log lines, written in one append
once its reply has been checked, with the stamps of when each line arrived. A
faulty attempt is logged as `runner:` lines (the fault, every discarded DUT line)
and retried after a `name%` resynchronisation, up to `retries` times. The sidecar
record is written before the log block; a resumed run re-appends the block of any
record the log lacks, then skips every stimulus the sidecar holds. So no result
is lost or written twice, and the log's `m-lap-us` lines keep their pairing. A
write torn by a crash or a full disk is cut back first (logwriter.repair_log). Those writes
happen on a thread of their own (bundle.runner.recorder), beside the next stimulus.

Before that, the run folder is claimed (bundle.runner.rundir: owner record and lock),
and the stimuli are planned and checked (bundle.runner.stimuli: the labels' file names stay
inside the stimuli folder, every stimulus matches the set's SHA256SUMS).
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bundle.catalogue import benchmark as catalogued
from bundle.catalogue import DATASETS as DATASET
from bundle.errors import ConfigError, DutError, PortGone, UsageError
from bundle.runner.logwriter import (Journal, LogWriter, accuracy_lines, performance_lines, repair_log,
                                     write_results)
from bundle.runner.recorder import Recorder
from bundle.runner.rundir import claim, run_owner
from bundle.runner.stimuli import Stimulus, plan_stimuli, read_stimulus, stimuli_manifest
from bundle.runner.protocol import (MAX_CHUNK_BYTES, DutClient, Link, ReplyFault,
                                    ReplyTimeout, RxLine)

log = logging.getLogger(__name__)

CODE = "ulp-mlperf"
RUN_NAME = "ML Performance 1.0.1"
VERSION = "3.0.10"
STEP_MS = 5000            # EnergyRunner's default step timeout
BLOAD_MS_PER_BYTE = 16    # its bload timeout: 16 ms x file size


@dataclass
class RunSettings:
    benchmark: str
    mode: str                         # accuracy | performance
    n: int = 1
    w: int = 0
    retries: int = 3
    chunk_bytes: int = MAX_CHUNK_BYTES
    command_timeout_s: float = 5.0
    resync_timeout_s: float = 3.0
    expected_latency_s: float = 1.0   # per inference, for the infer timeout (spec §1.8)
    infer_slack_s: float = 30.0
    limit: int | None = None
    # False for a DUT whose m-lap-us counts emulated time (DUT capability timing: emulated)
    check_laps: bool = True

    def infer_timeout_s(self) -> float:
        return (self.n + self.w) * self.expected_latency_s * 2 + self.infer_slack_s


@dataclass
class RunResult:
    out_dir: Path
    done: int
    faults: int
    results: list[str] = field(default_factory=list)


# -- the session -----------------------------------------------------------------------
class Session:
    def __init__(self, client: DutClient, logw: LogWriter, recorder: Recorder, settings: RunSettings):
        self.dut = client
        self.logw = logw                  # stamps and lines; every write goes through the recorder
        self.recorder = recorder
        self.s = settings
        self.step = 0
        self.acc = 0
        self.total_ms = 0
        self.faults = 0

    # -- log helpers ---------------------------------------------------------------------
    def _seq(self, cmd: str, ack: str, ms: int, t: float | None = None) -> str:
        self.step += 1
        text = (f"m-sequencing-i[{self.step}]-command[{cmd}]-ack[/{ack}/]-ms[{ms}]"
                f"-acc[{self.acc}]-total_ms[{self.total_ms}]")
        self.acc += ms
        return self.logw.line("sequencer", text, t)

    def _dut_lines(self, lines: list[RxLine]) -> list[str]:
        return [self.logw.line("dut", ln.text, ln.t) for ln in lines]

    def _runner(self, message: str) -> str:
        return self.logw.line("runner", message)

    def _discarded(self, lines: list[RxLine]) -> list[str]:
        return [self.logw.line("runner", f"m-discarded-[dut: {ln.text}]", ln.t) for ln in lines]

    # -- header --------------------------------------------------------------------------
    def header(self, session_id: str, n_stimuli: int, file_size: int) -> None:
        s = self.s
        self.total_ms = 4 * STEP_MS + n_stimuli * BLOAD_MS_PER_BYTE * file_size
        L = self.logw.line
        out = [L("session", f"m-session-start-id[{session_id}]"),
               L("parser", f"m-bmark-run-name[{RUN_NAME}]-code[{CODE}]"),
               L("sequencer", "m-sequencer-start"),
               self._seq("version", "parser: m-ready", STEP_MS), L("parser", 'Command "version"'),
               L("parser", f"m-version[{VERSION}]"), L("parser", "m-ready-finished[version]"),
               self._seq(f"bm cfg {CODE}", "parser: m-ready", STEP_MS),
               L("parser", f'Command "bm cfg {CODE}"')]
        cfg = {"iterWarmup": s.w, "iterInfer": s.n,
               "runMode": "multi" if s.mode == "accuracy" else "bmark", "model": DATASET[s.benchmark]}
        out += [L("parser", f"m-bm-cfg-name[{CODE}]-key[{k}]-val[{v}]") for k, v in cfg.items()]
        out.append(L("parser", "m-ready-finished[bm]"))
        self.recorder.write(out)
        self.recorder.write(self._resync_lines())
        self._dut_step("dut profile", self._profile)
        self._dut_step("dut timestamp", lambda: self.dut.timestamp()[1])

    def _dut_step(self, cmd: str, fn) -> None:
        def attempt(out: list[str]) -> None:
            out += [self._seq(cmd, "dut: m-ready", STEP_MS), self.logw.line("parser", f'Command "{cmd}"'),
                    self.logw.line("parser", "m-ready-finished[dut]")]
            out += self._dut_lines(fn()) + [self.logw.line("dut", "m-ready")]

        _, block, _ = self._retrying(cmd, attempt, [])
        self.recorder.write(block)

    def _profile(self) -> list[RxLine]:
        model, lines = self.dut.profile()
        if model != DATASET[self.s.benchmark]:
            raise DutError(f"the DUT runs model {model!r}, this run is {self.s.benchmark} "
                           f"({DATASET[self.s.benchmark]})",
                           hint="flash the firmware for this benchmark or pick --benchmark to match")
        return lines

    def _resync_lines(self) -> list[str]:
        start = time.monotonic()
        lines = self.dut.resync(self.s.resync_timeout_s)
        return [self.logw.line("runner", f"m-resync-[name]-took[{time.monotonic() - start:.3f}s]")] + \
            [self.logw.line("runner", f"m-resync-[dut: {ln.text}]", ln.t) for ln in lines]

    def trailer(self, session_id: str) -> None:
        L = self.logw.line
        self.recorder.write([L("sequencer", "m-sequencer-stop"), L("session", f"m-session-stop-id[{session_id}]"),
                         L("session", f"Saved this run to session ID {session_id}")], final=True)

    # -- stimuli -------------------------------------------------------------------------
    def run_stimulus(self, stim: Stimulus) -> dict:
        """bload + infer with retries; the record written to the sidecar."""
        block: list[str] = []
        unsolicited = self.dut.link.drain()
        if unsolicited:
            self.faults += 1
            block += [self._runner(f"m-unsolicited-[{len(unsolicited)} lines before {stim.key}]")]
            block += self._discarded(unsolicited)
        record, block, attempt = self._retrying(stim.key, lambda out: self._attempt(stim, out), block)
        record["attempts"] = attempt
        self.recorder.record(record, block)
        return record

    def _retrying(self, key: str, attempt_fn, block: list[str]) -> tuple[object, list[str], int]:
        """Call attempt_fn(lines) until it succeeds: (its result, block + its lines, attempts).

        A failed attempt's lines are kept as `runner: m-discarded-[...]` with the
        fault, then the DUT is resynchronised; the block is written only when the
        retries run out or the port goes away.
        """
        for attempt in range(1, self.s.retries + 2):
            attempt_lines: list[str] = []
            try:
                result = attempt_fn(attempt_lines)
            except (ReplyTimeout, ReplyFault) as err:
                self.faults += 1
                block += [self._as_runner(x) for x in attempt_lines] + self._discarded(err.lines)
                block.append(self._runner(f"m-fault-[{key}]-attempt[{attempt}]-"
                                          f"kind[{type(err).__name__}]-[{err.message}]"))
                if attempt > self.s.retries:
                    self.recorder.write(block)
                    raise DutError(f"{key}: failed {attempt} times, last: {err.message}",
                                   hint="the link is unreliable: check the cable and baud rate, "
                                        "or raise --retries; rerun with the same --out to resume") from None
                block.append(self._runner(f"m-retry-[{key}]-attempt[{attempt + 1}]"))
                block += self._resync_lines()
                continue
            except PortGone as err:
                block += [self._as_runner(x) for x in attempt_lines]
                block.append(self._runner(f"m-port-gone-[{key}]-[{err.message}]"))
                self.recorder.write(block)
                raise
            return result, block + attempt_lines, attempt
        raise AssertionError("unreachable")

    def _as_runner(self, line: str) -> str:
        stamp, _, rest = line.partition(" ")
        return f"{stamp} runner: m-discarded-[{rest}]"

    def _attempt(self, stim: Stimulus, out: list[str]) -> dict:
        data, size = read_stimulus(stim)
        L = self.logw.line
        ref = f'"{stim.path}"' + (f" {stim.offset} {stim.length}" if stim.length is not None else "")
        out += [self._seq(f"bload dut {ref}", "parser: m-ready", BLOAD_MS_PER_BYTE * size),
                L("parser", f'Command "bload dut {ref}"'), L("parser", f"File size is {size}, loading..."),
                L("parser", f"Starting at byte offset {stim.offset}"), L("parser", f"Sending {len(data)} bytes"),
                L("parser", "m-mute-target[dut]")]
        t0 = time.monotonic()
        self.dut.load(data)
        took = time.monotonic() - t0
        out += [L("parser", "m-unmute-target[dut]"),
                L("parser", f"Binary load took {took:.3f} sec, or {size / max(took, 1e-9) / 1000:.3f} kB/sec"),
                L("parser", "m-bload-done"), L("parser", "m-ready-finished[bload]")]
        cmd = f"dut infer {self.s.n} {self.s.w}"
        out += [self._seq(cmd, "dut.?: m-ready", -1), L("parser", f'Command "{cmd}"'),
                L("parser", "m-ready-finished[dut]")]
        reply = self.dut.infer(self.s.n, self.s.w, catalogued(self.s.benchmark).outputs, self.s.infer_timeout_s(),
                               check_laps=self.s.check_laps)
        out += self._dut_lines(reply.lines) + [L("dut", "m-ready")]
        return {"key": stim.key, "index": stim.index, "file": stim.path.name, "offset": stim.offset,
                "label": stim.label, "values": reply.values, "laps": reply.laps,
                "load_s": round(took, 6), "block": out}

    def replay_missing(self, records: list[dict]) -> None:
        """Append blocks the sidecar holds but the log lost (crash between the two writes)."""
        from bundle.published.logs import parse_log

        in_log = {f"{o.file}@{o.offset}" for o in parse_log(self.logw.path).outputs}
        missing = [r for r in records if r["key"] not in in_log]
        for r in missing:
            self.recorder.write([self._runner(f"m-replayed-[{r['key']}]-from[run.jsonl]")] + r["block"])



# -- entry point -----------------------------------------------------------------------
def run_benchmark(port_url: str, benchmark: str, mode: str, stimuli_dir: Path, out_dir: Path, *,
                  n: int = 1, w: int = 0, baud: int = 115200, retries: int = 3,
                  limit: int | None = None, progress=None, dut: dict | None = None,
                  claimed: bool = False, **settings) -> RunResult:
    """Run one EnergyRunner sequence against the DUT at `port_url`; resumes from `out_dir`.

    The folder is claimed for this run (bundle.runner.rundir) unless the caller already
    holds it (`claimed`); `dut` describes the DUT for the owner record.
    """
    if mode not in ("accuracy", "performance"):
        raise ConfigError(f"mode {mode!r} is not run over a direct DUT link",
                          hint="use accuracy or performance (energy needs an EMON and IO manager)")
    if n < 1 or w < 0 or retries < 0:
        raise UsageError(f"infer {n} {w} with {retries} retries: N must be >= 1, W and retries >= 0",
                         hint="see tinyrepro run --help")
    stimuli_dir = Path(stimuli_dir)
    if stimuli_dir.name != DATASET[benchmark]:
        # results.txt is scored with the labels at <parent>/<dataset>/y_labels.csv, as for published logs
        raise ConfigError(f"stimuli folder {stimuli_dir} is not named {DATASET[benchmark]}",
                          hint=f"put the {benchmark} stimuli and y_labels.csv in a folder named {DATASET[benchmark]}")
    planned = plan_stimuli(stimuli_dir, benchmark, mode)
    stimuli = planned[:limit] if limit else planned
    s = RunSettings(benchmark, mode, n, w, retries=retries, limit=limit, **settings)
    if claimed:
        return _run_claimed(port_url, s, stimuli_dir, Path(out_dir), stimuli, len(planned), baud, progress)
    owner = run_owner(benchmark, mode, n, w, stimuli_manifest(stimuli_dir, planned), dut)
    with claim(out_dir, owner):
        return _run_claimed(port_url, s, stimuli_dir, Path(out_dir), stimuli, len(planned), baud, progress)


def _run_claimed(port_url: str, s: RunSettings, stimuli_dir: Path, out_dir: Path, stimuli: list[Stimulus],
                 planned: int, baud: int, progress) -> RunResult:
    journal = Journal(out_dir / "run.jsonl")
    journal.repair()
    records = journal.records()
    done = {r["key"] for r in records}
    cut = repair_log(out_dir / "log.txt", records, _session_id_in(out_dir / "log.txt"))
    logw = LogWriter(out_dir / "log.txt")
    session_id = _session_id(logw)
    faults = 0
    if not (logw.finished(session_id) and all(st.key in done for st in stimuli)):
        faults = _converse(port_url, s, logw, journal, records, stimuli, baud, progress, session_id, cut)
    texts = score_run(out_dir, stimuli_dir, s.benchmark, s.mode, s.n, stimuli, planned)
    write_results(out_dir / "results.txt", logw, CODE, texts)
    return RunResult(out_dir, len(stimuli), faults, texts)


def _converse(port_url: str, s: RunSettings, logw: LogWriter, journal: Journal, records: list[dict],
              stimuli: list[Stimulus], baud: int, progress, session_id: str, cut: int) -> int:
    """The DUT part of a run: header (or resume), every stimulus not done, trailer; the faults recovered."""
    done = {r["key"] for r in records}
    link = Link.open(port_url, baud)
    recorder = Recorder(journal, logw)
    try:
        session = Session(DutClient(link, s.command_timeout_s, s.chunk_bytes), logw, recorder, s)
        if logw.resumed:
            if cut:
                recorder.write([session._runner(f"m-log-repaired-[cut {cut} bytes of a torn write]")])
            session.replay_missing(records)
            recorder.write([session._runner(f"m-resume-[{len(done)} of {len(stimuli)} done]")])
            recorder.write(session._resync_lines())
            session._profile()
            session.step, session.acc = _sequencer_state(records)
        else:
            session.header(session_id, len(stimuli), _file_size(stimuli))
        every = 1 if s.mode == "performance" else max(1, len(stimuli) // 20)
        for i, stim in enumerate(stimuli, 1):
            if stim.key not in done:
                session.run_stimulus(stim)
            if progress and (i % every == 0 or i == len(stimuli)):
                progress(i, len(stimuli), session.faults)
        session.trailer(session_id)
    finally:
        try:
            recorder.close()          # every completed stimulus is written, also on the way out
        finally:
            link.close()
    return session.faults


def _session_id_in(path: Path) -> str | None:
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        head = fh.read(4096).decode("utf-8", errors="replace")
    m = re.search(r"m-session-start-id\[(\d+)\]", head)
    return m[1] if m else None


def _session_id(logw: LogWriter) -> str:
    if logw.resumed and (found := _session_id_in(logw.path)):
        return found
    return datetime.now().strftime("%Y%m%d%H%M%S")


def _sequencer_state(records: list[dict]) -> tuple[int, int]:
    # Keep the step numbers rising after a resume; their exact values are informational.
    return 4 + 2 * len(records) + 1000, 0


def _file_size(stimuli: list[Stimulus]) -> int:
    return stimuli[0].path.stat().st_size if stimuli else 0


# -- results.txt -----------------------------------------------------------------------
def score_run(out_dir: Path, stimuli_dir: Path, benchmark: str, mode: str, n: int,
              stimuli: list[Stimulus], planned: int) -> list[str]:
    """The results.txt texts, scored by the code that scores published logs.

    A metric that cannot be computed gets a `Cannot compute ...` line with the
    reason and no number; a run cut short by --limit is such a case.
    """
    from bundle.published.parse import load_mode_dir, recomputed_metrics

    what = "performance" if mode == "performance" else "accuracy"
    run = load_mode_dir(out_dir, mode=mode, benchmark=benchmark)
    _check_complete(run.log, mode, stimuli)
    if len(stimuli) < planned:
        return [f"Cannot compute {what} metrics: partial run ({len(stimuli)} of {planned} stimuli)."]
    metrics = recomputed_metrics(run, stimuli_dir.parent)
    missing = list(dict.fromkeys(v.reason.rstrip(".") or "no value" for v in metrics.values() if v.value is None))
    if missing:
        return [f"Cannot compute {what} metrics: {'; '.join(missing)}."]
    if mode == "performance":
        from bundle import scoring

        return performance_lines(scoring.throughput_windows(run.log.laps, n), metrics["throughput_ips"].value)
    return accuracy_lines(metrics["top1_pct"].value, metrics["auc"].value)


def _check_complete(log, mode: str, stimuli: list[Stimulus]) -> None:
    """Every stimulus answered exactly once, in order, before anything is scored."""
    if mode == "performance":
        ok = len(log.laps) == 1 + 2 * len(stimuli)
        found = f"{len(log.laps)} m-lap-us values"
    else:
        ok = [f"{o.file}@{o.offset}" for o in log.outputs] == [s.key for s in stimuli]
        found = f"{len(log.outputs)} results ({len({(o.file, o.offset) for o in log.outputs})} distinct)"
    if not ok:
        raise DutError(f"{log.path}: {found} for {len(stimuli)} stimuli",
                       hint="the log is inconsistent; delete the --out folder and rerun")
