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

import os
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import ParseError
from bundle.published.describe import find_descriptions
from bundle.published.names import (Known, Layout, benchmark_of_model, benchmark_of_name,  # noqa: F401
                                    key, known_layouts, mode_of_name)
from bundle.published.sessionfiles import SessionFiles, mode_and_model, session_files  # noqa: F401

HINT = ("pass a folder laid out like closed/<Submitter>/ (results/<system>/<benchmark>/<mode>/ or "
        "results/<variant>/<board>/<benchmark>/<mode>/), or a round checkout closed/; "
        "the known layouts are in bundle/data/layouts.yaml")


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
    mode, model = mode_and_model(files)
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
