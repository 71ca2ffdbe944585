"""`script.async` parser (spec §2.2).

The file is a JavaScript array literal, not JSON: unquoted keys, single-quoted
strings that contain double quotes, regex literals for `ack`, no trailing LF.
`parse_script(path) -> list[ScriptStep]` tokenises it with a small lexer (no
eval) and returns each step's `cmd`, `ms` (None = default) and `ack` (regex
source, None = default).

Helpers: `infer_counts(steps)` gives the (N, W) of every `infer` step and
`stimuli(steps)` the (basename, offset, length) of every `bload`/`bloadp` step.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bundle.errors import ParseError
from bundle.published.logs import BLOAD_RE, INFER_RE, file_basename

TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<punct>[\[\]{}:,])
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<ident>[A-Za-z_$][\w$]*)
  | (?P<str>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<regex>/(?:[^/\\\n]|\\.)+/[a-z]*)
""", re.VERBOSE)


@dataclass(frozen=True)
class ScriptStep:
    cmd: str
    ms: int | None = None
    ack: str | None = None


class _Lexer:
    def __init__(self, text: str, path: Path):
        self.path = path
        self.tokens: list[tuple[str, str, int]] = []
        pos, line = 0, 1
        while pos < len(text):
            m = TOKEN_RE.match(text, pos)
            if not m:
                self._fail(f"unexpected character {text[pos]!r}", line)
            if m.lastgroup != "ws":
                self.tokens.append((m.lastgroup, m.group(), line))
            line += m.group().count("\n")
            pos = m.end()
        self.i = 0

    def _fail(self, what: str, line: int) -> None:
        raise ParseError(f"{self.path}:{line}: {what}", hint="script.async is corrupt; fetch it again")

    def next(self, kind: str | None = None, value: str | None = None) -> tuple[str, str, int]:
        if self.i >= len(self.tokens):
            self._fail("unexpected end of file", self.tokens[-1][2] if self.tokens else 1)
        tok = self.tokens[self.i]
        if (kind and tok[0] != kind) or (value and tok[1] != value):
            self._fail(f"expected {value or kind}, found {tok[1]!r}", tok[2])
        self.i += 1
        return tok

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None


def _unquote(tok: str) -> str:
    return re.sub(r"\\(.)", r"\1", tok[1:-1])


def _value(lex: _Lexer):
    kind, text, _ = lex.next()
    if kind == "str":
        return _unquote(text)
    if kind == "num":
        return float(text) if "." in text else int(text)
    if kind == "regex":
        return text[1:text.rindex("/")]
    lex._fail(f"unexpected value {text!r}", _)


def _object(lex: _Lexer) -> dict:
    lex.next("punct", "{")
    obj = {}
    while lex.peek() != "}":
        key_kind, key, _ = lex.next()
        if key_kind not in ("ident", "str"):
            lex._fail(f"expected a key, found {key!r}", _)
        lex.next("punct", ":")
        obj[_unquote(key) if key_kind == "str" else key] = _value(lex)
        if lex.peek() == ",":
            lex.next()
    lex.next("punct", "}")
    return obj


def parse_script(path: Path) -> list[ScriptStep]:
    path = Path(path)
    lex = _Lexer(path.read_text(encoding="utf-8", errors="replace"), path)
    lex.next("punct", "[")
    steps = []
    while lex.peek() != "]":
        obj = _object(lex)
        if not isinstance(obj.get("cmd"), str):
            lex._fail("step without a cmd string", lex.tokens[lex.i - 1][2])
        steps.append(ScriptStep(obj["cmd"], obj.get("ms"), obj.get("ack")))
        if lex.peek() == ",":
            lex.next()
    lex.next("punct", "]")
    if lex.peek() is not None:
        lex._fail(f"text after the closing bracket: {lex.peek()!r}", lex.tokens[lex.i][2])
    return steps


def infer_counts(steps: list[ScriptStep]) -> list[tuple[int, int | None]]:
    out = []
    for step in steps:
        if m := INFER_RE.match(step.cmd):
            out.append((int(m["n"]), int(m["w"]) if m["w"] is not None else None))
    return out


def stimuli(steps: list[ScriptStep]) -> list[tuple[str, int, int | None]]:
    out = []
    for step in steps:
        if m := BLOAD_RE.match(step.cmd):
            out.append((file_basename(m["file"]), int(m["off"] or 0), int(m["len"]) if m["len"] else None))
    return out
