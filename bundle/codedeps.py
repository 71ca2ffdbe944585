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
and registries that name a module in a string (the DUT kinds' and model backends':
`<dotted module>:<class>`). Not followed: a
module name computed at run time (`import_module(f"bundle.commands.{name}")`): a stage that
loads code that way lists its package itself. Data files: a string that is the name of a
file in bundle/data/ (`load_yaml(path, "builds.yaml")`) brings that file; a stage lists any
other file it reads.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path

PACKAGE = "bundle"
DATA = "bundle/data"      # the packaged data files, named by their file name where they are read
# A module named in a string, as the registries do (`<dotted module>:<class>`). (No real
# module is quoted in this file: every stage's key reads it.)
_NAMED = re.compile(r"^bundle(\.[A-Za-z_]\w*)+(:[A-Za-z_]\w*)?$")
_FILE_NAME = re.compile(r"^[\w-]+\.(yaml|yml|json|csv|txt)$")
# Import statements, read from the text (an AST of every module costs a second per process,
# a warm reproduce takes four): at the start of a line, at module level or inside a function,
# a parenthesised or backslash-continued name list included. One in a docstring only adds a
# file to a key; tests/unit/test_codedeps.py checks nothing the AST sees is missed.
_IMPORT = re.compile(r"^[ \t]*import[ \t]+((?:[^\n\\]|\\\n)*)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|(?:[^\n\\]|\\\n)*)", re.M)
_STRING = re.compile(r"""["']([\w.:-]+)["']""")


def listed_files(repo: Path, part: str) -> list[Path]:
    """A listed path's files (a folder: all of them, byte-compiled caches left out)."""
    base = repo / part
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")


def closure(repo: Path, parts: tuple[str, ...]) -> list[Path]:
    """The listed files and the bundle modules they import, transitively, sorted."""
    modules = _module_index(repo)
    files = {f for part in parts for f in listed_files(repo, part)}
    todo = [f for f in files if f.suffix == ".py"]
    while todo:
        for found in _imported_files(repo, modules, todo.pop()):
            if found not in files:
                files.add(found)
                if found.suffix == ".py":
                    todo.append(found)
    return sorted(files)


@functools.lru_cache(maxsize=None)
def _module_index(repo: Path) -> dict[str, Path]:
    """Dotted module name -> its file, for every module of the package (listed once per
    process, like the code digests)."""
    return {_module_name(repo, p): p for p in listed_files(repo, PACKAGE) if p.suffix == ".py"}


def _imported_files(repo: Path, modules: dict[str, Path], path: Path) -> set[Path]:
    """The bundle files a module imports (its own packages' __init__.py too: they run before
    it), and the data files it names."""
    stat, name = path.stat(), _module_name(repo, path)
    imported, names = _references(path, name, stat.st_mtime_ns, stat.st_size)
    out = {repo / DATA / n for n in names if (repo / DATA / n).is_file()}
    for module in imported | {name}:
        out |= _module_files(modules, module)
    return out


def _module_name(repo: Path, path: Path) -> str:
    parts = list(path.relative_to(repo).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.lru_cache(maxsize=None)
def _references(path: Path, module: str, mtime_ns: int, size: int) -> tuple[frozenset[str], frozenset[str]]:
    """(the bundle modules a module imports or names in a registry string, the plain file
    names it mentions, which may be data files). Candidates only: `from a import b` gives
    both a.b (if b is a module) and a. Read once per process and file version (the stages'
    lists share most of their modules)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    is_package = path.name == "__init__.py"
    modules: set[str] = set()
    for match in _IMPORT.finditer(text):
        modules.update(_names(match.group(1)))
    for match in _FROM.finditer(text):
        dotted = match.group(1)
        base = _absolute(dotted.lstrip(".") or None, len(dotted) - len(dotted.lstrip(".")), module, is_package)
        if base:
            modules.add(base)
            modules.update(f"{base}.{n}" for n in _names(match.group(2)) if n != "*")
    strings = [m.group(1) for m in _STRING.finditer(text)]
    modules.update(v.split(":")[0] for v in strings if _NAMED.match(v))
    return (frozenset(m for m in modules if m == PACKAGE or m.startswith(PACKAGE + ".")),
            frozenset(v for v in strings if _FILE_NAME.match(v)))


def _names(listed: str) -> list[str]:
    """The names of an import's list: `a.b as c, d` -> a.b, d (parentheses, continuation
    lines, comments and a `;` ending the statement dropped)."""
    listed = re.sub(r"#[^\n]*", "", listed).split(";")[0]
    listed = listed.replace("\\\n", " ").replace("(", " ").replace(")", " ")
    return [item.split()[0] for item in listed.split(",") if item.split()]


def _absolute(module: str | None, level: int, importer: str, is_package: bool) -> str | None:
    if level == 0:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (level - 1)] if level > 1 else base
    if not base:
        return None
    return ".".join(base + ([module] if module else []))


def _module_files(modules: dict[str, Path], name: str) -> set[Path]:
    """The files importing `name` runs: each package's __init__.py on the way and the module;
    the prefixes that exist when the last part is a name inside a module, not a module."""
    parts = name.split(".")
    prefixes = (".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {modules[p] for p in prefixes if p in modules}
