"""A small Dockerfile reader and pin checker (the 20.10 engine has no `docker build --check`).

Rules, each returning a problem string:
  * every FROM resolves to an image@sha256:<64 hex> or to an earlier stage;
  * every download (curl, wget, ADD http) in a RUN is checked by sha256sum -c in the same RUN
    (or ADD --checksum);
  * every git fetch/clone is checked against a 40-hex commit (`test "$(git rev-parse HEAD)" = ...`);
  * no `latest` tag, no floating branch checkout.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
SHA40 = re.compile(r"^[0-9a-f]{40}$")
VAR = re.compile(r"\$\{(\w+)(?::-([^{}]*|\$\{\w+\}))?\}|\$(\w+)")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    base: str               # FROM argument as written
    name: str | None
    line: int
    args: dict[str, str] = field(default_factory=dict)   # ARG defaults declared in the stage
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    global_args: dict[str, str]
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def targets(self) -> list[str]:
        return [s.name for s in self.stages if s.name]


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    out, buf, start = [], "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, args = buf.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
        buf = ""
    return out


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--platform")]
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, ins.line))
        elif ins.keyword == "ARG":
            key, _, default = ins.args.partition("=")
            (stages[-1].args if stages else global_args)[key.strip()] = default.strip().strip('"')
        elif stages:
            stages[-1].instructions.append(ins)
    return Dockerfile(global_args, stages)


def expand(value: str, args: dict[str, str]) -> str:
    """Substitute ${X}, ${X:-default} (default may itself be ${Y}) with ARG defaults."""
    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        got = args.get(name, "")
        if got:
            return got
        return expand(m.group(2), args) if m.group(2) else ""
    for _ in range(3):
        value = VAR.sub(sub, value)
    return value


def check_from(df: Dockerfile) -> list[str]:
    problems, seen = [], set()
    for st in df.stages:
        image = expand(st.base, df.global_args)
        if image in seen:
            pass
        elif not DIGEST.search(image):
            problems.append(f"line {st.line}: FROM {st.base} -> {image!r} is not pinned by @sha256 digest")
        elif ":latest@" in image:
            problems.append(f"line {st.line}: FROM uses the 'latest' tag")
        if st.name:
            seen.add(st.name)
    return problems


def check_run(df: Dockerfile) -> list[str]:
    problems = []
    for st in df.stages:
        for ins in st.instructions:
            body = ins.args
            if ins.keyword == "ADD" and re.search(r"https?://", body) and "--checksum=sha256:" not in body:
                problems.append(f"line {ins.line}: ADD of a URL without --checksum")
            if ins.keyword != "RUN":
                continue
            if re.search(r"\b(curl|wget)\b[^;&|]*(https?|ftp)://", body) and "sha256sum -c" not in body:
                problems.append(f"line {ins.line}: download without a sha256sum -c check in the same RUN")
            if re.search(r"\bgit (clone|fetch)\b", body):
                problems += _check_git(ins, {**df.global_args, **st.args})
            if re.search(r"\blatest\b", body) and re.search(r"(curl|wget|git|releases)", body):
                problems.append(f"line {ins.line}: refers to 'latest'")
    return problems


def _check_git(ins: Instruction, args: dict[str, str]) -> list[str]:
    m = re.search(r'test "\$\(git rev-parse HEAD\)" = "?\$\{?(\w+)\}?"?', ins.args)
    if not m:
        return [f"line {ins.line}: git checkout not verified against a commit SHA "
                f'(add: test "$(git rev-parse HEAD)" = "$SHA")']
    pinned = args.get(m.group(1), "")
    if SHA40.match(pinned) or pinned.startswith("UNSET_"):
        return []
    return [f"line {ins.line}: {m.group(1)}={pinned!r} is not a 40-hex commit SHA"]


def placeholders(df: Dockerfile) -> dict[str, str]:
    """ARGs still set to UNSET_* (the builds that need them fail loudly until filled in)."""
    found = {k: v for k, v in df.global_args.items() if v.startswith("UNSET_")}
    for st in df.stages:
        found.update({k: v for k, v in st.args.items() if v.startswith("UNSET_")})
    return found


def lint(text: str) -> list[str]:
    df = parse(text)
    if not df.stages:
        return ["no FROM instruction"]
    return check_from(df) + check_run(df)


def lint_file(path: str | Path) -> list[str]:
    return lint(Path(path).read_text())
