"""Typed, range-checked option values for argparse.

An option whose value fails its type or range is refused by argparse itself:
exit 2 with the usage line and the option named, before anything runs.
"""
from __future__ import annotations

import argparse
import math


def int_in(lo: int | None = None, hi: int | None = None):
    """An integer in [lo, hi] (either bound may be open)."""
    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        _check(value, lo, hi, text)
        return value
    parse.__name__ = "integer"
    return parse


def float_in(lo: float | None = None, hi: float | None = None):
    """A finite number in [lo, hi] (nan and inf are refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        _check(value, lo, hi, text)
        return value
    parse.__name__ = "number"
    return parse


def _check(value, lo, hi, text: str) -> None:
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        span = f"{lo if lo is not None else '-inf'}..{hi if hi is not None else 'inf'}"
        raise argparse.ArgumentTypeError(f"{text} is out of range ({span})")


def fault_spec(text: str) -> str:
    """--fault: checked here so a bad spec is a usage error, not a DUT failure later."""
    from bundle.dut.faults import FaultPlan
    from bundle.errors import UsageError

    try:
        FaultPlan.parse(text)
    except UsageError as err:
        raise argparse.ArgumentTypeError(err.message) from None
    return text


def backend_name(text: str) -> str:
    """A registered model backend (bundle.models.base); installed or not is checked when it loads."""
    from bundle.models.base import BACKENDS

    if text not in BACKENDS:
        raise argparse.ArgumentTypeError(f"unknown model backend {text!r} (use one of {', '.join(sorted(BACKENDS))})")
    return text


def backend_list(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: empty backend name")
    return [backend_name(n) for n in names]


# Limits no run needs to exceed; far past them a value is a typo, not a setting.
MAX_ITER = 1_000_000        # infer N / W
MAX_RETRIES = 100
BAUDS = (1, 10_000_000)
