"""Compare a regenerated Model Library Format tree with OctoML's published one.

Per file: SHA-256 first; when the bytes differ, a normalized text comparison (whitespace,
generated-by/timestamp lines, absolute paths) decides whether the difference is cosmetic, and
then one that ignores the order of the AOT main's constants, which TVM itself does not fix
(see `order_free`).
A build's verdict is byte-identical, equivalent (after normalization) or different (with the
unified diff of the differing files written next to the report, and the causes the generated
code shows: model interface, target string, version string, memory planning, operator fusion,
constants, or else the function bodies).
"""
from __future__ import annotations

import difflib
import re
import tarfile
from pathlib import Path

from bundle.errors import ParseError
from bundle.fsutil import sha256_file as sha256

BYTE_IDENTICAL, EQUIVALENT, DIFFERENT = "byte-identical", "equivalent", "different"
WORKSPACE_HEADER = "codegen/host/include/tvmgen_default.h"
WORKSPACE_RE = re.compile(r"#define\s+TVMGEN_DEFAULT_WORKSPACE_SIZE\s+(\d+)")

# Lines whose content says when/where/by what a file was generated, not what it computes.
_VOLATILE = [re.compile(p, re.I) for p in (
    r"generated\s+(by|at|on)\b", r"\bexport_datetime\b", r"\btvm\s+version\b",
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}",
)]
_ABS_PATH = re.compile(r"(?<![\w.])/(?:[\w.+-]+/)+[\w.+-]*")


def files_of(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def extract_mlf(archive: Path, dest: Path) -> Path:
    """Unpack an MLF .tar, refusing members that would land outside `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                target = (dest / member.name).resolve()
                if not target.is_relative_to(dest.resolve()) or member.issym() or member.islnk():
                    raise ParseError(f"{archive}: unsafe member {member.name!r}",
                                     hint="the archive was not written by export_model_library_format")
            tar.extractall(dest)
    except tarfile.TarError as err:
        raise ParseError(f"{archive}: not a readable tar ({err})", hint="rerun the compile stage") from None
    return dest


def normalize(text: str) -> list[str]:
    """The lines that carry meaning: volatile lines dropped, paths masked, whitespace folded."""
    out = []
    for line in text.splitlines():
        if any(p.search(line) for p in _VOLATILE):
            continue
        line = " ".join(_ABS_PATH.sub("<PATH>", line).split())
        if line:
            out.append(line)
    return out


# TVM e3a6cb6a emits the AOT main's constants (`static const ... constant_N[...]` blocks without
# USMP, `void* constant_N_let = ...;` lines with it) and its intermediate buffers (`void* sid_N_let
# = ...;` with USMP) by iterating std::unordered_maps keyed by object address (apache/tvm
# src/relay/backend/aot_executor_codegen.cc: `constant_map_`, and `StorageMap`
# storage_device_map_, in the loops that wrap __tvm_main__'s body in AllocateConst and Allocate
# nodes), so their order changes from one compiler process to the next; the names
# (constant_<creation index>, sid_<storage id>), types, sizes, values and offsets do not.
# OctoML's own KWS cmsis_nn code for the two boards shows it: same lines, other order.
_CONST_BLOCK_START = re.compile(r"^static const \w+ .*\bconstant_\d+\[\d+\] = \{$")
_CONST_LET = re.compile(r"^void\* (?:constant|sid)_\d+_let = .*;$")
ORDER_CAUSE = ("declaration order only: TVM emits the AOT main's constants and buffers in "
               "std::unordered_map order, keyed by object address (apache/tvm e3a6cb6a, "
               "src/relay/backend/aot_executor_codegen.cc: constant_map_, storage_device_map_), which "
               "differs from one compile to the next; same names, types, values and offsets")


# TVM e3a6cb6a names the Arm DSP micro-kernels it inlines (gemm, pooling, depthwise) with an
# unseeded random 8-letter suffix (apache/tvm python/tvm/topi/arm_cpu/mprofile/dsp/micro_kernel/
# gemm.py: `uniq_id = "".join(random.choices(string.ascii_uppercase, k=UNIQ_ID_LEN))`, the same
# in avg_pool.py, max_pool.py and dsp/depthwise_conv2d.py), so every compile names them anew.
_UNIQ_ID = re.compile(r"\b([a-z][a-z0-9_]*?_)([A-Z]{8})\b")
UNIQ_CAUSE = ("random kernel names only: TVM gives its Arm DSP micro-kernels an unseeded random 8-letter "
              "suffix (apache/tvm e3a6cb6a, python/tvm/topi/arm_cpu/mprofile/dsp/micro_kernel/gemm.py, "
              "uniq_id = random.choices(...)), new on every compile; same kernels and calls")


def uniq_free(lines: list[str]) -> list[str]:
    """Each random micro-kernel suffix renamed by its order of first appearance."""
    names: dict[str, str] = {}

    def rename(m: re.Match) -> str:
        return m[1] + names.setdefault(m[2], f"<uniq{len(names)}>")
    return [_UNIQ_ID.sub(rename, line) for line in lines]


def order_free(lines: list[str]) -> list[str]:
    """Normalized lines with the constant blocks gathered and sorted and each run of constant
    let-bindings sorted: equal results mean the files differ only in that order."""
    body, blocks, lets = [], [], []
    block: list[str] | None = None
    for line in lines:
        if block is not None:
            block.append(line)
            if line == "};":
                blocks.append("\n".join(block))
                block = None
        elif _CONST_LET.match(line):
            lets.append(line)
        else:
            body += sorted(lets)
            lets = []
            if _CONST_BLOCK_START.match(line):
                block = [line]
                body.append("<constant block>")
            else:
                body.append(line)
    body += sorted(lets) + (block or [])  # an unterminated block is compared as it stands
    return body + sorted(blocks)


def _cosmetic(a: str, b: str) -> str | None:
    """The cause when two texts differ only in what TVM does not fix from one compile to the
    next (declaration order, random kernel names), else None."""
    na, nb = normalize(a), normalize(b)
    if order_free(na) == order_free(nb):
        return ORDER_CAUSE
    ua, ub = uniq_free(na), uniq_free(nb)
    if ua == ub:
        return UNIQ_CAUSE
    if order_free(ua) == order_free(ub):
        return f"{ORDER_CAUSE}; {UNIQ_CAUSE}"
    return None


def _text(path: Path) -> str | None:
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def workspace_size(tree: Path) -> int | None:
    header = tree / WORKSPACE_HEADER
    if not header.is_file():
        return None
    m = WORKSPACE_RE.search(header.read_text(errors="replace"))
    return int(m.group(1)) if m else None


# -- cause attribution ------------------------------------------------------------------
# What tells two generated model trees apart, checked in this order: each found difference is
# named in the row ("causes"), most telling first.
_TARGET_LINE = re.compile(r"^// tvm target: (.*)$", re.M)
_IO_STRUCT = re.compile(r"struct tvmgen_default_(inputs|outputs) \{([^}]*)\}", re.S)
_FUNC = re.compile(r"TVM_DLL int32_t (\w+)\(")
_CONST = re.compile(r"static const (\w+) [^=]*?\b(\w+)\[(\d+)\]")
_TVM_VERSION = re.compile(r"tvm[_ ]version\W+([0-9][\w.]*)", re.I)


def _read_all(files: dict[str, Path]) -> dict[str, str]:
    return {rel: t for rel, p in files.items() if (t := _text(p)) is not None}


def _io_names(texts: dict[str, str]) -> dict[str, list[str]]:
    out = {}
    for text in texts.values():
        for kind, body in _IO_STRUCT.findall(text):
            out[kind] = re.findall(r"void\*\s*(\w+);", body)
    return out


def _collect(pattern: re.Pattern, texts: dict[str, str]) -> set:
    return {m if isinstance(m, str) else tuple(m) for t in texts.values() for m in pattern.findall(t)}


def _kinds(funcs: set[str]) -> set[str]:
    """Operator kinds: fused function names without the numeric/hash suffixes TVM adds."""
    return {re.sub(r"(_[0-9a-f]{16}|_\d+)+$", "", f) for f in funcs}


def attribute(published: dict[str, Path], regenerated: dict[str, Path], different: list[str]) -> list[str]:
    """Why the differing files differ, as far as the generated code shows it."""
    if not different:
        return []
    pub, reg = _read_all(published), _read_all(regenerated)
    causes = []
    pio, rio = _io_names(pub), _io_names(reg)
    if pio and rio and pio != rio:
        causes.append(f"model interface: published inputs/outputs {pio}, regenerated {rio} (tensor names come "
                      "from the model and its frontend: a different model file or import path)")
    pt, rt = _collect(_TARGET_LINE, pub), _collect(_TARGET_LINE, reg)
    if pt != rt:
        causes.append(f"target string: published {sorted(pt)}, regenerated {sorted(rt)}")
    pv, rv = _collect(_TVM_VERSION, pub), _collect(_TVM_VERSION, reg)
    if pv and rv and pv != rv:
        causes.append(f"version string: published {sorted(pv)}, regenerated {sorted(rv)}")
    pw, rw = [_ws(pub)], [_ws(reg)]
    if pw != rw and None not in pw + rw:
        causes.append(f"memory planning: workspace {pw[0]} published, {rw[0]} regenerated")
    pk, rk = _kinds(_collect(_FUNC, pub)), _kinds(_collect(_FUNC, reg))
    if pk != rk:
        only_p, only_r = sorted(pk - rk), sorted(rk - pk)
        causes.append(f"operator fusion/lowering: {len(only_p)} fused-operator kinds only published "
                      f"{only_p[:3]}, {len(only_r)} only regenerated {only_r[:3]}")
    elif _collect(_FUNC, pub) != _collect(_FUNC, reg):
        causes.append("operator instances: same fused-operator kinds, different instances or numbering")
    pc, rc = _collect(_CONST, pub), _collect(_CONST, reg)
    if pc != rc:
        causes.append(f"constants: {len(pc - rc)} constant arrays only published, {len(rc - pc)} only "
                      "regenerated (type, name or length)")
    if not causes:
        causes.append("function bodies: same interface, operators and constant arrays; the schedule "
                      "(loop structure) or constant values differ, see the diff")
    return causes


def _ws(texts: dict[str, str]) -> int | None:
    for text in texts.values():
        m = WORKSPACE_RE.search(text)
        if m:
            return int(m.group(1))
    return None


def compare_trees(name: str, published: Path, regenerated: Path, diff_file: Path,
                  expected_workspace: int | None = None) -> dict:
    """One report row. Files under `published` are the reference; extra regenerated files
    (runtime sources, metadata OctoML did not ship) are listed, not judged."""
    pub, reg = files_of(published), files_of(regenerated)
    if not pub:  # a wrong path or a changed upstream layout must not read as "identical"
        raise ParseError(f"{published}: no published files to compare with",
                         hint="check code_path in bundle/data/compile.yaml against the fetched code tree")
    identical, equivalent, different, missing = [], [], [], []
    cosmetic: dict[str, list[str]] = {}
    diffs: list[str] = []
    for rel, path in pub.items():
        other = reg.get(rel)
        if other is None:
            missing.append(rel)
        elif sha256(path) == sha256(other):
            identical.append(rel)
        else:
            a, b = _text(path), _text(other)
            if a is not None and b is not None and normalize(a) == normalize(b):
                equivalent.append(rel)
                continue
            why = _cosmetic(a, b) if a is not None and b is not None else None
            if why:
                equivalent.append(rel)
                cosmetic.setdefault(why, []).append(rel)
                continue
            different.append(rel)
            if a is not None and b is not None:
                diffs += difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                              f"published/{rel}", f"regenerated/{rel}")
            else:
                diffs.append(f"Binary files published/{rel} and regenerated/{rel} differ\n")
    verdict = DIFFERENT if (different or missing) else EQUIVALENT if equivalent else BYTE_IDENTICAL
    if diffs or missing:
        diff_file.parent.mkdir(parents=True, exist_ok=True)
        diff_file.write_text("".join(diffs) + "".join(f"Only in published: {m}\n" for m in missing))
    return {"build": name, "verdict": verdict, "files": len(pub), "byte_identical": len(identical),
            "equivalent": equivalent, "different": different, "missing": missing,
            "extra": sorted(set(reg) - set(pub)), "diff": str(diff_file) if (diffs or missing) else None,
            "causes": attribute(pub, reg, different) + [f"missing file: {m}" for m in missing]
            + [f"{why} ({', '.join(files)})" for why, files in cosmetic.items()],
            "workspace_size": {"expected": expected_workspace, "published": workspace_size(published),
                               "regenerated": workspace_size(regenerated)}}


def with_cause_test(row: dict, cfg, test: dict) -> dict:
    """The pinned compile's row, with the outcome of its build's cause test (the same model
    compiled with `cfg.cause_test`'s options, `test` its comparison). The verdict stays the
    pinned compile's: the test says whether the cause in compile.yaml accounts for it."""
    options = " ".join(f"--{name.replace('_', '-')} {value}" for name, value in cfg.cause_test)
    confirmed = test["verdict"] != DIFFERENT
    note = (f"cause confirmed: compiled with {options}, the code is {test['verdict']} to the published "
            f"one: {cfg.cause}" if confirmed else
            f"cause not confirmed: compiled with {options}, the code is still different "
            f"({'; '.join(test['causes']) or 'see its diff'})")
    return {**row, "causes": [note] + row["causes"],   # first: the short reason the report shows
            "cause_test": {"options": dict(cfg.cause_test), "verdict": test["verdict"], "confirmed": confirmed,
                           "causes": test["causes"], "diff": test["diff"]}}
