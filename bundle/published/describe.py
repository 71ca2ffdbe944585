"""System descriptions of a submitter tree, and which one describes each results folder.

`find_descriptions(root, known) -> (descriptions, notes)` reads every JSON object in
`<root>/systems/` (or a subfolder of it), and every one inside `<root>/results/` that looks like a system description
(enough of the keys in bundle/data/layouts.yaml: a description per folder), with the
lenient reader of bundle.published.layout (upstream files miss commas). Field names are
compared spelling-independently ("Board Name", "board_name", "BoardName").

`describe(system, descriptions, root, known) -> SystemInfo | None`, in this order:
a description inside the system's own results folder; the one in `systems/<system>/`
(a folder per system, as STMicroelectronics' v1.0 tree); one whose file name, less
"system_description" affixes, is the system id (its levels in any order); one whose name
holds the id's levels with the fewest other characters (no tie); one whose System Name or
Board Name is the system id or its board level; the only description when there is one
system. Otherwise None: the rows then carry no board/SoC, and a note says so.
"""
from __future__ import annotations

from pathlib import Path

from bundle.errors import ParseError
from bundle.published.names import Known, key
from bundle.published.systems import SystemInfo, read_json_lenient


def _is_description(data, known: Known) -> bool:
    return isinstance(data, dict) and len({key(k) for k in data} & known.description_keys) >= known.description_min_keys


def _candidates(root: Path, known: Known) -> list[Path]:
    # systems/*.json, and systems/<system>/*.json (a folder per system)
    paths = [p for folder in known.description_folders for p in sorted((root / folder).rglob("*.json"))]
    results = root / "results"
    if results.is_dir():  # a description per folder: JSON files beside the benchmark folders
        paths += sorted(p for p in results.rglob("*.json") if not p.name.startswith("trace1-"))
    return paths


def _in_systems(path: Path, root: Path, known: Known) -> bool:
    return any(Path(root) / folder in path.parents for folder in known.description_folders)


def find_descriptions(root: Path, known: Known) -> tuple[list[SystemInfo], list[str]]:
    found, notes = [], []
    for path in _candidates(Path(root), known):
        try:
            data, repairs = read_json_lenient(path)
        except ParseError as exc:
            if _in_systems(path, root, known):
                notes.append(f"system description not read, ignored: {exc.message}")
            continue
        in_systems = _in_systems(path, root, known)
        if not in_systems and not _is_description(data, known):
            continue                    # another JSON inside results/: only described by its keys
        if repairs:
            notes.append(f"{path.name}: repaired to read it ({'; '.join(repairs)})")
        found.append(SystemInfo(path, data, repairs))
    return found, notes


def _stem_key(info: SystemInfo, known: Known) -> str:
    stem = key(info.path.stem)
    changed = True
    while changed:
        changed = False
        for affix in known.name_affixes:
            if stem.startswith(affix) and len(stem) > len(affix):
                stem, changed = stem[len(affix):], True
            if stem.endswith(affix) and len(stem) > len(affix):
                stem, changed = stem[:-len(affix)], True
    return stem


def _unique(hits: list[SystemInfo]) -> SystemInfo | None:
    return hits[0] if len({id(h) for h in hits}) == 1 else None


def describe(system: str, descriptions: list[SystemInfo], root: Path, known: Known,
             systems_in_tree: int = 1) -> SystemInfo | None:
    parts = [key(p) for p in system.split("/")]
    folder = (Path(root) / "results" / system).resolve()
    own = [d for d in descriptions if folder in d.path.resolve().parents]
    if own:
        return own[0]
    # systems/<system>/*.json: a folder per system, named as its results folder
    foldered = [d for d in descriptions if _in_systems(d.path, root, known)
                and d.path.parent.name not in known.description_folders and key(d.path.parent.name) == key(system)]
    if foldered:
        return _unique(foldered)
    exact = [d for d in descriptions if sorted_concat(_stem_key(d, known), parts)]
    if exact:
        return _unique(exact)
    holding = sorted((len(_stem_key(d, known)) - sum(map(len, parts)), i) for i, d in enumerate(descriptions)
                     if all(p in _stem_key(d, known) for p in parts))
    if holding and (len(holding) == 1 or holding[0][0] != holding[1][0]):
        return descriptions[holding[0][1]]
    named = [d for d in descriptions
             if key(str(d.field("system name") or "")) in (key(system), parts[-1])
             or key(d.board_name) in (key(system), parts[-1])]
    if named:
        return _unique(named)
    if systems_in_tree == 1 and len(descriptions) == 1:
        return descriptions[0]
    return None


def sorted_concat(stem: str, parts: list[str]) -> bool:
    """True if `stem` is the parts concatenated in some order (variant/board or board/variant)."""
    if len(stem) != sum(map(len, parts)):
        return False
    if len(parts) == 1:
        return stem == parts[0]
    return any(stem.startswith(p) and sorted_concat(stem[len(p):], parts[:i] + parts[i + 1:])
               for i, p in enumerate(parts))
