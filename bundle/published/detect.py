"""Find the session folders of any submitter's published tree, or of a whole round.

`detect_tree(root) -> Tree` accepts a submitter tree (`<root>/results/`) or a round checkout
(`closed/`: `<root>/<Submitter>/results/`). For each submitter it finds every EnergyRunner
session folder by what its files contain (log lines, results.txt lines) as much as by folder
and file names, places it in one of the known layouts (`bundle/data/layouts.yaml`), and names
its system, benchmark and mode. A tree that fits no known layout is refused with a
ParseError listing what was found (`Submitter.error` in a round, so the others still count).

`session_files(folder) -> {role: Path}` finds a session folder's files (roles: log, results,
script, trace, timestamps) by name, with or without a mode prefix, else by content.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bundle import eembc
from bundle.catalogue import DATASETS
from bundle.datafile import load_yaml
from bundle.errors import ConfigError, ParseError

ROLES = ("log", "results", "script", "trace", "timestamps")
SNIFF_BYTES = 64 << 10
HINT = ("pass a folder laid out like closed/<Submitter>/ (results/<system>/<benchmark>/<mode>/ or "
        "results/<variant>/<board>/<benchmark>/<mode>/), or a round checkout closed/; "
        "the known layouts are in bundle/data/layouts.yaml")
_LOG_LINE = re.compile(rb"^\d+\.\d{3} (session|parser|sequencer|dut|io|emon): ", re.M)
_RESULTS_LINE = re.compile(rb"^\S+ ulp-ml(perf)?: ?(Top[- ]1|AUC|Median |Performance results|Energy data)", re.M)
_RUN_CODE = re.compile(eembc.RUN_NAME)
_CFG = re.compile(eembc.CFG)
_DUT_MODEL = re.compile(eembc.DUT_PATTERNS["model"])


def key(name: str) -> str:
    """Spelling-independent form of a name: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


# -- the known layouts, as data ----------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    name: str
    levels: tuple[str, ...]
    what: str


@dataclass(frozen=True)
class Known:
    benchmarks: dict[str, tuple[str, ...]]     # benchmark -> folder name keys
    datasets: dict[str, str]                   # benchmark -> EEMBC dataset (model name in logs)
    modes: dict[str, tuple[str, ...]]
    typo_edits: int
    files: dict[str, tuple[str, ...]]          # role -> base file names
    layouts: tuple[Layout, ...]
    description_folders: tuple[str, ...]
    description_keys: frozenset[str]
    description_min_keys: int
    name_affixes: tuple[str, ...]


def _need(raw: dict, name: str, kind, where: str):
    value = raw.get(name)
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: {name} must be a {kind.__name__}", hint="compare with bundle/data/layouts.yaml")
    return value


@lru_cache(maxsize=4)
def known_layouts(path: Path | None = None) -> Known:
    raw, where = load_yaml(path, "layouts.yaml")
    if raw.get("version") != 1:
        raise ConfigError(f"{where}: expected version: 1", hint="compare with bundle/data/layouts.yaml")
    benches = _need(raw, "benchmarks", dict, where)
    desc = _need(raw, "system_descriptions", dict, where)
    try:
        return Known(
            benchmarks={b: tuple(key(n) for n in v["names"]) for b, v in benches.items()},
            datasets={b: DATASETS[b] for b in benches if b in DATASETS},
            modes={m: tuple(key(n) for n in names) for m, names in _need(raw, "modes", dict, where).items()},
            typo_edits=int(raw.get("mode_typo_edits", 0)),
            files={r: tuple(v) for r, v in _need(raw, "files", dict, where).items()},
            layouts=tuple(Layout(str(x["name"]), tuple(x["levels"]), str(x.get("what", "")))
                          for x in _need(raw, "layouts", list, where)),
            description_folders=tuple(desc["folders"]),
            description_keys=frozenset(key(k) for k in desc["keys"]),
            description_min_keys=int(desc["min_keys"]),
            name_affixes=tuple(key(a) for a in desc["name_affixes"]))
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{where}: malformed entry ({err!r})", hint="compare with bundle/data/layouts.yaml") from None


# -- names ------------------------------------------------------------------------------------
def _edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def mode_of_name(name: str, known: Known) -> tuple[str | None, bool]:
    """(mode, is_typo) for a folder or file-prefix name."""
    k = key(name)
    for mode, names in known.modes.items():
        if k in names:
            return mode, False
    close = {m for m, names in known.modes.items() for n in names
             if len(n) >= 5 and _edits(k, n) <= known.typo_edits}
    return (close.pop(), True) if len(close) == 1 else (None, False)


def benchmark_of_name(name: str, known: Known) -> str | None:
    k = key(name)
    return next((b for b, names in known.benchmarks.items() if k in names), None)


def benchmark_of_model(model: str, known: Known) -> tuple[str | None, bool]:
    """(benchmark, other_version) for the model name a log states (kws01, or e.g. kws02)."""
    k = key(model)
    for bench, dataset in known.datasets.items():
        if k == key(dataset):
            return bench, False
    # another version of a benchmark's model: its name starts with a known benchmark name
    hits = sorted(((len(n), b) for b, names in known.benchmarks.items() for n in names if k.startswith(n)),
                  reverse=True)
    return (hits[0][1], True) if hits else (None, False)


# -- the files of one session folder ----------------------------------------------------------
def _role_by_name(name: str, known: Known) -> tuple[str | None, str]:
    """(role, mode prefix) of a file name: `log.txt`, `performance_log.txt`, `energy-script.async`."""
    low = name.lower()
    for role, bases in known.files.items():
        for base in bases:
            if low == base:
                return role, ""
            if low.endswith(base) and low[-len(base) - 1] in "_-":
                prefix = name[:-len(base) - 1]
                if mode_of_name(prefix, known)[0]:
                    return role, prefix
    return None, ""


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(SNIFF_BYTES)
    except OSError:
        return b""


def _role_by_content(path: Path) -> str | None:
    head = _head(path)
    if not head:
        return None
    if head[:1] == b"\xf1" and path.stat().st_size >= 9 and (path.stat().st_size - 5) % 4 == 0:
        return "trace"                      # EMON trace: tag byte 0xF1, float32 rate, float32 samples
    if b"\0" in head:
        return None
    if _RESULTS_LINE.search(head):
        return "results"
    if _LOG_LINE.search(head) and (b"m-session-start-id" in head or b"m-bmark-run-name" in head):
        return "log"
    text = head.lstrip()
    if text.startswith(b"[") and re.search(rb"\bcmd\s*:", text):
        return "script"
    if text.startswith(b"[") and path.suffix.lower() == ".json":
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError, OSError):
            return None
        if isinstance(values, list) and all(isinstance(v, (int, float)) for v in values):
            return "timestamps"
    return None


@dataclass
class SessionFiles:
    paths: dict[str, Path] = field(default_factory=dict)
    prefix: str = ""                      # the mode prefix the folder's file names use, if any
    notes: list[str] = field(default_factory=list)

    def expected_name(self, base: str) -> str:
        """The name a missing file would have in this folder (e.g. accuracy_log.txt; EMON
        traces keep EnergyRunner's own names)."""
        return f"{self.prefix}_{base}" if self.prefix and not base.startswith("trace1-") else base


def session_files(folder: Path, known: Known | None = None) -> SessionFiles:
    known = known or known_layouts()
    out = SessionFiles()
    try:
        entries = sorted(p for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return out
    unnamed = []
    for path in entries:
        role, prefix = _role_by_name(path.name, known)
        if role and role not in out.paths:
            out.paths[role] = path
            out.prefix = out.prefix or prefix
        elif role:
            out.notes.append(f"{folder}: {path.name} ignored, {out.paths[role].name} is the {role} file")
        else:
            unnamed.append(path)
    for path in unnamed:
        role = _role_by_content(path)
        if role and role not in out.paths:
            out.paths[role] = path
            out.notes.append(f"{folder}: {path.name} read as the {role} file (by its content)")
    return out


# -- what a session folder's files say --------------------------------------------------------
def _mode_and_model(files: SessionFiles) -> tuple[str | None, str | None]:
    mode = model = None
    log = files.paths.get("log")
    if log:
        head = _head(log).decode("utf-8", "replace")
        cfg = {m["key"]: m["val"] for m in _CFG.finditer(head) if m["key"] in ("runMode", "model")}
        code = _RUN_CODE.search(head)
        if code and code["code"] == "ulp-ml":
            mode = "energy"
        else:
            mode = {"multi": "accuracy", "bmark": "performance"}.get(cfg.get("runMode", ""))
        dut = _DUT_MODEL.search(head)
        model = (dut["model"] if dut else None) or cfg.get("model")
    res = files.paths.get("results")
    if mode is None and res:
        text = _head(res).decode("utf-8", "replace")
        if "Median energy cost" in text or "Energy data for window" in text:
            mode = "energy"
        elif re.search(r"Top[- ]1|AUC", text):
            mode = "accuracy"
        elif "Median throughput" in text:
            mode = "performance"
    return mode, model


@dataclass(frozen=True)
class SessionDir:
    """One session folder of a published tree, placed in its submitter's layout."""

    submitter: str
    system: str
    benchmark: str
    mode: str
    path: Path
    files: SessionFiles
    model: str | None = None              # the model the log names (kws01, ...)
    other_model: bool = False             # a model name other than the benchmark's dataset

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.system.split("/"))

    @property
    def variant(self) -> str:
        return self.parts[0] if len(self.parts) > 1 else ""

    @property
    def board(self) -> str:
        return self.parts[-1]


@dataclass
class _Found:
    rel: tuple[str, ...]
    path: Path
    files: SessionFiles
    mode: str | None
    benchmark: str | None
    model: str | None
    other_model: bool
    notes: list[str]

    def describe(self) -> str:
        names = ", ".join(p.name for p in self.files.paths.values()) or "no session files"
        return (f"results/{'/'.join(self.rel)}/ ({names}; benchmark {self.benchmark or '?'}, "
                f"mode {self.mode or '?'})")


def _examine(results: Path, folder: Path, has_subdirs: bool, known: Known) -> _Found | None:
    files = session_files(folder, known)
    rel = folder.relative_to(results).parts
    name_mode, typo = mode_of_name(folder.name, known)
    name_bench = benchmark_of_name(folder.parent.name, known) if len(rel) > 1 else None
    if not files.paths and (has_subdirs or not name_mode or not name_bench):
        return None                        # not a session folder (an empty one counts only by its names)
    mode, model = _mode_and_model(files)
    bench, other = benchmark_of_model(model, known) if model else (None, False)
    notes = list(files.notes)
    if name_mode and mode and name_mode != mode:
        notes.append(f"results/{'/'.join(rel)}: folder named {folder.name!r}, files say mode {mode}")
    elif typo and (mode or name_mode):
        notes.append(f"results/{'/'.join(rel)}: mode folder {folder.name!r} read as {mode or name_mode}")
    if name_bench and bench and name_bench != bench:
        notes.append(f"results/{'/'.join(rel)}: benchmark folder {folder.parent.name!r}, log names model {model!r}")
    return _Found(rel, folder, files, mode or name_mode, bench or name_bench, model, other, notes)


def _walk(results: Path, known: Known) -> list[_Found]:
    found = []
    for dirpath, dirnames, _ in os.walk(results):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        folder = Path(dirpath)
        if folder == results:
            continue
        hit = _examine(results, folder, bool(dirnames), known)
        if hit:
            found.append(hit)
    return found


def _fits(found: _Found, layout: Layout, known: Known) -> bool:
    """The folder's depth is the layout's, and its benchmark and mode levels are named so, or
    named otherwise (not as the other kind) while its files say which they are."""
    if len(found.rel) != len(layout.levels) or found.mode is None or found.benchmark is None:
        return False
    named = {lvl: found.rel[i] for i, lvl in enumerate(layout.levels) if lvl != "system"}
    bench_name, mode_name = named.get("benchmark", ""), named.get("mode", "")
    bench_ok = benchmark_of_name(bench_name, known) or not mode_of_name(bench_name, known)[0]
    mode_ok = mode_of_name(mode_name, known)[0] or not benchmark_of_name(mode_name, known)
    return bool(bench_ok and mode_ok)


@dataclass
class Submitter:
    name: str                         # from the system descriptions' Submitter field, else the folder
    root: Path
    layout: Layout | None = None
    sessions: list[SessionDir] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: ParseError | None = None   # the tree fits no known layout


@dataclass
class Tree:
    root: Path
    submitters: list[Submitter]
    round: bool                       # a closed/ checkout with several submitter trees


def _refusal(results: Path, found: list[_Found], known: Known, why: str) -> ParseError:
    listed = [f"  {f.describe()}" for f in found[:12]]
    if len(found) > 12:
        listed.append(f"  ... and {len(found) - 12} more")
    layouts = "; ".join(f"{lay.name}: {lay.what}" for lay in known.layouts)
    return ParseError(f"{results}: {why}. Found:\n" + ("\n".join(listed) or "  nothing") +
                      f"\nKnown layouts: {layouts}", hint=HINT)


def _listing(folder: Path) -> list[str]:
    try:
        return sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())[:12]
    except OSError as exc:
        return [f"(cannot list: {exc.strerror or exc})"]


def _place(results: Path, found: list[_Found], known: Known) -> tuple[Layout, list[_Found]]:
    if not found:
        sub = _listing(results)
        raise ParseError(f"{results}: no EnergyRunner session folders (<system>/<benchmark>/<mode>/ holding "
                         f"log or results files); it holds: {', '.join(sub) or 'nothing'}", hint=HINT)
    for layout in known.layouts:
        if all(_fits(f, layout, known) for f in found):
            return layout, found
    raise _refusal(results, found, known, "layout not recognized (each session folder must sit at one "
                   "known layout's depth, with its benchmark and mode told by its files or folder names)")


def _submitter_name(root: Path, descriptions) -> str:
    names = {str(d.field("submitter")).strip() for d in descriptions if d.field("submitter")}
    return names.pop() if len(names) == 1 else root.name


def detect_submitter(root: Path, known: Known | None = None) -> Submitter:
    from bundle.published.describe import find_descriptions

    known = known or known_layouts()
    root = Path(root)
    sub = Submitter(root.name, root)
    descriptions, sub.notes = find_descriptions(root, known)
    sub.name = _submitter_name(root, descriptions)
    results = root / "results"
    if not results.is_dir():
        sub.error = ParseError(f"{root}: no results/ folder", hint=HINT)
        return sub
    try:
        found = _walk(results, known)
        sub.layout, placed = _place(results, found, known)
    except ParseError as err:
        sub.error = err
        return sub
    seen: dict[tuple, Path] = {}
    for f in placed:
        system = "/".join(f.rel[i] for i, lvl in enumerate(sub.layout.levels) if lvl == "system")
        ident = (system, f.benchmark, f.mode)
        if ident in seen:
            sub.error = ParseError(f"{results}: two session folders for {system} {f.benchmark} {f.mode}: "
                                   f"{seen[ident]} and {f.path}", hint="keep one of them")
            return sub
        seen[ident] = f.path
        sub.notes += f.notes
        sub.sessions.append(SessionDir(sub.name, system, f.benchmark, f.mode, f.path, f.files, f.model,
                                       f.other_model))
    return sub


def detect_tree(root: Path, known: Known | None = None) -> Tree:
    known = known or known_layouts()
    root = Path(root)
    if not root.is_dir():
        raise ParseError(f"{root}: not a folder", hint=HINT)
    if root.name == "results" and not (root / "results").is_dir():
        root = root.parent                 # given the results/ folder itself: its submitter tree
    if (root / "results").is_dir():
        return Tree(root, [detect_submitter(root, known)], round=False)
    try:
        trees = sorted(c for c in root.iterdir() if c.is_dir() and (c / "results").is_dir())
    except OSError as exc:
        raise ParseError(f"{root}: cannot list ({exc.strerror or exc})", hint=HINT) from None
    if not trees:
        sub = _listing(root)
        raise ParseError(f"{root}: no results/ folder, and no <Submitter>/results/ under it; it holds: "
                         f"{', '.join(sub) or 'nothing'}", hint=HINT)
    return Tree(root, [detect_submitter(t, known) for t in trees], round=True)
