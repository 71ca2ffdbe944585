"""System description JSON files (`systems/*.json` of a submitter tree), read leniently.

`load_systems(root) -> list[SystemInfo]` reads `systems/*.json`, repairing the defects seen
upstream (missing commas between lines, tabs or control characters in strings) and recording
which file was repaired. `SystemInfo.field(name)` reads a field whatever its spelling.
`board_key(name)` normalises board spellings so that NUCLEO_L4R5ZI, NUCLEO-L4R5ZI and
nucleo_l4r5zi compare equal (and NRF5340-DK with nrf5340dk);
`match_system(systems, variant, board)` uses it to find the system description
of one results/<variant>/<board>/ folder.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from bundle.errors import ParseError

# A line that ends a JSON value, followed by a line that starts a new member/element.
_ENDS_VALUE = re.compile(r'(["}\]\d]|true|false|null)\s*$')
_STARTS_MEMBER = re.compile(r'^\s*["{\[]')
JSON_HINT = "fix the system JSON by hand or fetch it again"


@dataclass
class SystemInfo:
    path: Path
    data: dict
    repairs: list[str] = field(default_factory=list)   # what was fixed to read it

    def field(self, name: str):
        """A field by name, whatever its spelling ("Board Name", "board_name", "BoardName")."""
        want = board_key(name)
        return next((v for k, v in self.data.items() if board_key(str(k)) == want), None)

    @property
    def board_name(self) -> str:
        return str(self.field("Board Name") or "")

    @property
    def soc_name(self) -> str:
        return str(self.field("SoC Name") or "")

    def matches(self, variant: str, board: str) -> bool:
        """True if this JSON describes <variant>/<board> (by file name, else by Board Name)."""
        stem = board_key(self.path.stem)
        if board_key(variant) in stem and board_key(board) in stem:
            return True
        return board_key(self.board_name) == board_key(board) and board_key(variant) in stem


def board_key(name: str) -> str:
    """Spelling-independent key: lower case, letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def match_system(systems: list[SystemInfo], variant: str, board: str) -> SystemInfo | None:
    """The system description of results/<variant>/<board>/, or None (none, or a tie)."""
    found = [s for s in systems if s.matches(variant, board)]
    # Variant "microtvm" is inside "..._microtvm_cmsis_nn" too: the file whose name has
    # the fewest characters beyond variant and board is the closest; a tie is no match.
    extra = sorted((len(board_key(s.path.stem)) - len(board_key(variant)) - len(board_key(board)), i)
                   for i, s in enumerate(found))
    if not extra or (len(extra) > 1 and extra[0][0] == extra[1][0]):
        return None
    return found[extra[0][1]]


def _repair_missing_commas(text: str) -> tuple[str, list[int]]:
    lines = text.split("\n")
    fixed = []
    for i in range(len(lines) - 1):
        nxt = next((ln for ln in lines[i + 1:] if ln.strip()), "")
        if _ENDS_VALUE.search(lines[i]) and _STARTS_MEMBER.match(nxt) and not lines[i].rstrip().endswith(("{", "[", ",")):
            lines[i] = lines[i].rstrip() + ","
            fixed.append(i + 1)
    return "\n".join(lines), fixed


def _parse_json(text: str, path: Path) -> tuple[object, list[str]]:
    try:
        return json.loads(text), []
    except json.JSONDecodeError:
        pass
    try:
        return json.loads(text, strict=False), ["control characters inside strings accepted"]
    except json.JSONDecodeError:
        pass
    repaired, lines = _repair_missing_commas(text)
    try:
        data = json.loads(repaired, strict=False)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON ({exc.msg}), and the missing-comma repair did not help",
                         hint=JSON_HINT) from None
    return data, [f"added missing comma at end of line {n}" for n in lines]


def read_json_lenient(path: Path) -> tuple[dict, list[str]]:
    """Parse a system JSON; returns (data, repairs). ParseError if even the repair fails."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        data, repairs = _parse_json(text, path)
    except RecursionError:
        raise ParseError(f"{path}: JSON nested too deeply for a system description", hint=JSON_HINT) from None
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror or exc})", hint=JSON_HINT) from None
    if not isinstance(data, dict):
        raise ParseError(f"{path}: expected a JSON object, found {type(data).__name__}", hint=JSON_HINT)
    return data, repairs


def load_systems(root: Path, errors: list[str] | None = None) -> list[SystemInfo]:
    """Every systems/*.json. With `errors` given, a file that cannot be read even after
    repair is reported there (no number depends on it) instead of raising."""
    out = []
    for path in sorted((Path(root) / "systems").glob("*.json")):
        try:
            data, repairs = read_json_lenient(path)
        except ParseError as exc:
            if errors is None:
                raise
            errors.append(exc.message)
            continue
        out.append(SystemInfo(path, data, repairs))
    return out
