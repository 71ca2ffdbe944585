"""One row of a report: one number, published beside where it was reproduced, with its verdict.

The same field names in every section: `reproduced` is the other side of the comparison (the
number recomputed from the published logs in the published-recompute section, a DUT's in the
reproduce section) and `verdict` its outcome. `Row.from_dict` also reads the producers'
older keys (`recomputed`, `status`), so code that still builds dicts keeps working.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class Row:
    section: str | None = None            # published-recompute | reproduce
    dut: str | None = None                # where the reproduced number came from
    submitter: str | None = None
    system: str | None = None
    benchmark: str | None = None
    mode: str | None = None
    metric: str | None = None             # one metric, or several joined by "," (a NOT_RUN row)
    published: float | None = None
    reproduced: float | None = None
    verdict: str = ""
    reason: str = ""
    detail: str | None = None
    outputs_equal: int | None = None
    outputs_total: int | None = None
    first_mismatches: list | None = None
    system_description: str | None = None
    board_name: str | None = None
    soc_name: str | None = None
    ratio: float | None = None

    @classmethod
    def from_dict(cls, raw: dict) -> Row:
        """A row from a record; `recomputed`/`status` stand for `reproduced`/`verdict`."""
        known = {f.name: raw.get(f.name) for f in fields(cls)}
        if known["reproduced"] is None:
            known["reproduced"] = raw.get("recomputed")
        known["verdict"] = str(raw.get("verdict") or raw.get("status") or "")
        known["reason"] = raw.get("reason") or ""
        return cls(**known)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def metrics(self) -> list[str]:
        return [m for m in str(self.metric or "").split(",") if m]


FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Row))


def as_row(row: Row | dict) -> Row:
    return row if isinstance(row, Row) else Row.from_dict(row)


def as_rows(rows: Iterable[Row | dict]) -> list[Row]:
    return [as_row(r) for r in rows]
