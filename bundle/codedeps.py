"""Which of the bundle's source files a stage's code runs: the paths it lists (bundle/pipeline/*,
each stage's `code`) and every bundle module those import, followed to the end.

A stage lists its entry points (and the data files it reads); the modules they import come
along here, so a helper added later (a pacing module the software DUT imports, the writer
of run-info.json) is in the stage's cache key without anyone remembering to list it. A key
that missed a file the stage runs would reuse a result that file's change alters: a silent
wrong number. What a stage does not import stays out of its key: a report-only module never
re-runs a DUT.

Followed: `import bundle.x`, `from bundle.x import y` (y a module or a name in bundle.x),
relative imports, at module level or inside functions, the packages' `__init__.py` on the way,
and registries that name a module in a string ("bundle.dut.sim:SimDut"). Not followed: a
module name computed at run time (`import_module(f"bundle.commands.{name}")`): a stage that
loads code that way lists its package itself. Data files: a string that is the name of a
file in bundle/data/ (`load_yaml(path, "builds.yaml")`) brings that file; a stage lists any
other file it reads.
"""
from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

PACKAGE = "bundle"
DATA = "bundle/data"      # the packaged data files, named by their file name where they are read
# A module named in a string: "bundle.models.litert:LiteRTBackend", "bundle.dut.sim".
_NAMED = re.compile(r"^bundle(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?$")
_FILE_NAME = re.compile(r"^[\w-]+\.(yaml|yml|json|csv|txt)$")


def listed_files(repo: Path, part: str) -> list[Path]:
    """A listed path's files (a folder: all of them, byte-compiled caches left out)."""
    base = repo / part
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def closure(repo: Path, parts: tuple[str, ...]) -> list[Path]:
    """The listed files and the bundle modules they import, transitively, sorted."""
    files = {f for part in parts for f in listed_files(repo, part)}
    todo = [f for f in files if f.suffix == ".py"]
    while todo:
        for found in _imported_files(repo, todo.pop()):
            if found not in files:
                files.add(found)
                if found.suffix == ".py":
                    todo.append(found)
    return sorted(files)


def _imported_files(repo: Path, path: Path) -> set[Path]:
    """The bundle files a module imports (its own packages' __init__.py too: they run before
    it), and the data files it names."""
    stat, name = path.stat(), _module_name(repo, path)
    modules, names = _references(path, name, stat.st_mtime_ns, stat.st_size)
    out = {repo / DATA / n for n in names if (repo / DATA / n).is_file()}
    for module in modules | {name}:
        out |= _module_files(repo, module)
    return out


def _module_name(repo: Path, path: Path) -> str:
    parts = list(path.relative_to(repo).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.lru_cache(maxsize=None)
def _references(path: Path, module: str, mtime_ns: int, size: int) -> tuple[frozenset[str], frozenset[str]]:
    """(the bundle modules a module imports or names in a registry string, the plain file
    names it mentions, which may be data files). Candidates only: `from a import b` gives
    both a.b (if b is a module) and a. Parsed once per process and file version (the
    stages' lists share most of their modules)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError):
        return frozenset(), frozenset()     # not ours to judge here: its bytes are in the digest all the same
    is_package = path.name == "__init__.py"
    modules: set[str] = set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, module, is_package)
            if base:
                modules.add(base)
                modules.update(f"{base}.{a.name}" for a in node.names if a.name != "*")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _NAMED.match(node.value):
                modules.add(node.value.split(":")[0])
            elif _FILE_NAME.match(node.value):
                names.add(node.value)
    return frozenset(m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")), frozenset(names)


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str | None:
    if level == 0:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    if not base:
        return None
    return ".".join(base + ([module] if module else []))


def _module_files(repo: Path, name: str) -> set[Path]:
    """The files importing `name` runs: each package's __init__.py on the way and the module;
    the prefixes that exist when the last part is a name inside a module, not a module."""
    found, parts = set(), name.split(".")
    for i in range(1, len(parts) + 1):
        base = repo.joinpath(*parts[:i])
        if (base / "__init__.py").is_file():
            found.add(base / "__init__.py")
        elif base.with_suffix(".py").is_file():
            found.add(base.with_suffix(".py"))
            break            # what follows names something inside this module
        else:
            break
    return found
