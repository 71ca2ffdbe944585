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
write torn by a crash or a full disk is cut back first (logwriter.repair_log).

Before that, the run folder is claimed (bundle.runner.rundir: owner record and lock),
the labels' file names are checked to stay inside the stimuli folder and every
stimulus is checked against the set's SHA256SUMS (`stimuli_manifest`).
"""
from __future__ import annotations

import csv
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bundle.errors import ChecksumMismatch, ConfigError, DutError, ParseError, PortGone, UsageError
from bundle.catalogue import DATASETS as DATASET, benchmark as catalogued
from bundle.runner.logwriter import (Journal, LogWriter, accuracy_lines, performance_lines, repair_log,
                                     write_results)
from bundle.runner.rundir import claim
from bundle.runner.protocol import (MAX_CHUNK_BYTES, DutClient, Link, ReplyFault,
                                    ReplyTimeout, RxLine)

log = logging.getLogger(__name__)

CODE = "ulp-mlperf"
RUN_NAME = "ML Performance 1.0.1"
VERSION = "3.0.10"
PERF_STIMULI = 5          # median runs use the first 5 rows of y_labels.csv
STEP_MS = 5000            # EnergyRunner's default step timeout
BLOAD_MS_PER_BYTE = 16    # its bload timeout: 16 ms x file size
# Datasets whose stimuli the lock pins; the others are derived from public data sets
# (the catalogue's `stimuli`) and only their y_labels.csv is pinned.
PINNED_STIMULI = tuple(DATASET[b] for b in DATASET if catalogued(b).stimuli_pinned)
SOURCE_DATA = {DATASET[b]: catalogued(b).stimuli for b in DATASET if not catalogued(b).stimuli_pinned}


@dataclass(frozen=True)
class Stimulus:
    index: int
    path: Path
    label: int
    offset: int = 0
    length: int | None = None        # None: the whole file

    @property
    def key(self) -> str:
        return f"{self.path.name}@{self.offset}"


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


# -- stimuli ---------------------------------------------------------------------------
def plan_stimuli(stimuli_dir: Path, benchmark: str, mode: str, limit: int | None = None) -> list[Stimulus]:
    """Stimuli in y_labels.csv order: all for accuracy, the first 5 for performance.

    AD sends 2560-byte windows: in accuracy every window at the file's stride (196
    per file), in performance only the first window. Every file y_labels.csv names
    must be a plain name inside the stimuli folder.
    """
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}", hint="omit --limit to run every stimulus")
    folder = Path(stimuli_dir)
    rows = _label_rows(folder, benchmark)
    if mode == "performance":
        rows = rows[:PERF_STIMULI]
    out: list[Stimulus] = []
    root = _resolved(folder)
    for lineno, name, label, window in rows:
        path = _inside(folder, root, name, lineno)
        if not path.is_file():
            raise ConfigError(f"stimulus {path} listed in y_labels.csv is missing", hint=_dataset_hint(benchmark))
        if benchmark != "ad":
            out.append(Stimulus(len(out), path, label))
            continue
        width, stride = window
        last = path.stat().st_size - width if mode == "accuracy" else 0
        for off in range(0, last + 1, stride):
            out.append(Stimulus(len(out), path, label, off, width))
    return out[:limit] if limit else out


LABELS_HINT = "y_labels.csv rows are `file,classes,label` (AD: `,width,stride`); fetch or prepare the set again"
MAX_LABEL_ROWS = 1_000_000


def _label_rows(folder: Path, benchmark: str) -> list[tuple[int, str, int, tuple[int, int] | None]]:
    """(line, file name, label, (width, stride) for AD) per row; ParseError naming the line."""
    labels = folder / "y_labels.csv"
    if not labels.is_file():
        raise ConfigError(f"no y_labels.csv in {folder}", hint=_dataset_hint(benchmark))
    try:
        with open(labels, newline="", encoding="utf-8") as fh:
            raw = [(n, r) for n, r in enumerate(csv.reader(fh), start=1) if r]
    except UnicodeDecodeError as exc:
        raise ParseError(f"{labels}: not UTF-8 text (byte {exc.start})", hint=LABELS_HINT) from None
    except csv.Error as exc:
        raise ParseError(f"{labels}: not CSV ({exc})", hint=LABELS_HINT) from None
    if len(raw) > MAX_LABEL_ROWS:
        raise ParseError(f"{labels}: {len(raw)} rows, more than any data set", hint=LABELS_HINT)
    out = []
    for lineno, row in raw:
        try:
            label = int(row[2])
            window = (int(row[3]), int(row[4])) if benchmark == "ad" else None
        except (IndexError, ValueError):
            raise ParseError(f"{labels}:{lineno}: expected 'file,classes,label"
                             f"{',width,stride' if benchmark == 'ad' else ''}', got {row[:5]!r}",
                             hint=LABELS_HINT) from None
        if window and not (0 < window[0] <= 1 << 24 and 0 < window[1] <= 1 << 24):
            raise ParseError(f"{labels}:{lineno}: window width/stride {window} out of range", hint=LABELS_HINT)
        out.append((lineno, row[0].strip(), label, window))
    return out


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:     # symlink loops
        raise ConfigError(f"cannot resolve {path} ({exc})", hint="pass an existing stimuli folder") from None


def _inside(folder: Path, root: Path, name: str, lineno: int) -> Path:
    """The stimulus file `name` names, refused unless it resolves inside `folder` (root: resolved)."""
    where = f"{folder / 'y_labels.csv'}:{lineno}"
    if not name or "\x00" in name or len(name.encode()) > 4096 or any(
            len(p.encode()) > 255 for p in Path(name).parts):
        raise ParseError(f"{where}: empty or invalid file name {name[:60]!r}", hint=LABELS_HINT)
    path = folder / name
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or not parts:
        raise ParseError(f"{where}: {name!r} is outside the stimuli folder {folder}; nothing was read",
                         hint="a labels file may only name files in its own folder")
    # a symlink may still point out: resolve it (plain files need no resolving)
    try:
        linked = any((folder / Path(*parts[:i])).is_symlink() for i in range(1, len(parts) + 1))
        inside = path.resolve().is_relative_to(root) if linked else True
    except (OSError, RuntimeError) as exc:
        raise ParseError(f"{where}: cannot resolve {name[:60]!r} ({exc})", hint=LABELS_HINT) from None
    if not inside:
        raise ParseError(f"{where}: {name!r} links outside the stimuli folder {folder}; nothing was read",
                         hint="a labels file may only name files in its own folder")
    return path


def stimuli_manifest(stimuli_dir: Path, stimuli: list[Stimulus]) -> str:
    """SHA-256 of the set's manifest (`<sha256>  <name>` per file, labels order), after
    checking every file against the folder's SHA256SUMS when it has one. Called before
    the first byte is sent: a tampered or swapped stimulus is refused (exit 4)."""
    import hashlib

    from bundle.fsutil import sha256_file

    names = list(dict.fromkeys(s.path.relative_to(stimuli_dir).as_posix() for s in stimuli))
    digests = {n: sha256_file(Path(stimuli_dir) / n) for n in names}
    listed = _read_sums(Path(stimuli_dir) / MANIFEST)
    if listed is not None:
        for n in names:
            if listed.get(n) != digests[n]:
                why = "is not listed in" if n not in listed else "does not match"
                raise ChecksumMismatch(f"{Path(stimuli_dir) / n} {why} {Path(stimuli_dir) / MANIFEST} "
                                       f"(sha256 {digests[n][:16]}…); nothing was sent",
                                       hint="prepare the set again (tinyrepro stimuli), or restore the file")
    text = "".join(f"{digests[n]}  {n}\n" for n in names)
    return hashlib.sha256(text.encode()).hexdigest()


MANIFEST = "SHA256SUMS"
SUMS_RE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")     # sha256sum's text and binary forms


def _read_sums(path: Path) -> dict[str, str] | None:
    """`sha256sum` format; None when the folder has no manifest. ParseError naming the line."""
    if not path.is_file():
        return None
    hint = "SHA256SUMS is damaged: prepare the set again (tinyrepro stimuli)"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"{path}: not UTF-8 text (byte {exc.start})", hint=hint) from None
    out = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = SUMS_RE.match(line)
        if not m:
            raise ParseError(f"{path}:{lineno}: expected '<64 hex>  <file>', got {line[:80]!r}", hint=hint)
        out[m[2]] = m[1]
    return out


def run_owner(benchmark: str, mode: str, n: int, w: int, stimuli_digest: str, dut: dict | None = None) -> dict:
    """What a run folder's owner record says is being run (bundle.runner.rundir)."""
    return {"dut": dict(sorted((dut or {}).items())), "benchmark": benchmark, "mode": mode, "n": n, "w": w,
            "stimuli_manifest_sha256": stimuli_digest}


def _dataset_hint(benchmark: str) -> str:
    dataset = DATASET[benchmark]
    if dataset in PINNED_STIMULI:
        return f"fetch the pinned stimuli again: tinyrepro fetch datasets/{dataset}/"
    return (f"only the {', '.join(PINNED_STIMULI)} stimuli are pinned; {dataset} stimuli (derived from "
            f"{SOURCE_DATA.get(dataset, 'its source data set')}) are made on a networked machine with "
            f"`tinyrepro stimuli --set {dataset}`, then given as `tinyrepro run --stimuli "
            f"artifacts/cache/stimuli/{dataset}` (a folder named {dataset} with y_labels.csv and the .bin files)")


# -- the session -----------------------------------------------------------------------
class Session:
    def __init__(self, client: DutClient, logw: LogWriter, journal: Journal, settings: RunSettings):
        self.dut = client
        self.logw = logw
        self.journal = journal
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
        self.logw.write(out)
        self.logw.write(self._resync_lines())
        self._dut_step("dut profile", self._profile)
        self._dut_step("dut timestamp", lambda: self.dut.timestamp()[1])

    def _dut_step(self, cmd: str, fn) -> None:
        def attempt(out: list[str]) -> None:
            out += [self._seq(cmd, "dut: m-ready", STEP_MS), self.logw.line("parser", f'Command "{cmd}"'),
                    self.logw.line("parser", "m-ready-finished[dut]")]
            out += self._dut_lines(fn()) + [self.logw.line("dut", "m-ready")]

        _, block, _ = self._retrying(cmd, attempt, [])
        self.logw.write(block)

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
        self.logw.write([L("sequencer", "m-sequencer-stop"), L("session", f"m-session-stop-id[{session_id}]"),
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
        record["log_at"] = self.logw.size()    # where its block starts: a torn log is cut back here
        self.journal.append(record)
        self.logw.write(block)
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
                    self.logw.write(block)
                    raise DutError(f"{key}: failed {attempt} times, last: {err.message}",
                                   hint="the link is unreliable: check the cable and baud rate, "
                                        "or raise --retries; rerun with the same --out to resume") from None
                block.append(self._runner(f"m-retry-[{key}]-attempt[{attempt + 1}]"))
                block += self._resync_lines()
                continue
            except PortGone as err:
                block += [self._as_runner(x) for x in attempt_lines]
                block.append(self._runner(f"m-port-gone-[{key}]-[{err.message}]"))
                self.logw.write(block)
                raise
            return result, block + attempt_lines, attempt
        raise AssertionError("unreachable")

    def _as_runner(self, line: str) -> str:
        stamp, _, rest = line.partition(" ")
        return f"{stamp} runner: m-discarded-[{rest}]"

    def _attempt(self, stim: Stimulus, out: list[str]) -> dict:
        data, size = _read_stimulus(stim)
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
            self.logw.write([self._runner(f"m-replayed-[{r['key']}]-from[run.jsonl]")] + r["block"])


def _read_stimulus(stim: Stimulus) -> tuple[bytes, int]:
    raw = stim.path.read_bytes()
    if stim.length is None:
        return raw, len(raw)
    data = raw[stim.offset:stim.offset + stim.length]
    if len(data) != stim.length:
        raise ConfigError(f"{stim.path}: window {stim.offset}+{stim.length} past the end ({len(raw)} bytes)")
    return data, len(raw)


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
    try:
        session = Session(DutClient(link, s.command_timeout_s, s.chunk_bytes), logw, journal, s)
        if logw.resumed:
            if cut:
                logw.write([session._runner(f"m-log-repaired-[cut {cut} bytes of a torn write]")])
            session.replay_missing(records)
            logw.write([session._runner(f"m-resume-[{len(done)} of {len(stimuli)} done]")])
            logw.write(session._resync_lines())
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
