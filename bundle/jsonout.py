"""JSON for files and stdout that other programs read: always valid JSON.

Python's json writes `NaN` and `Infinity`, which no JSON parser accepts. A number
that is not finite has no value to report, so it is written as null; `allow_nan=False`
then guarantees nothing non-finite slips through another path.
"""
from __future__ import annotations

import json
import math


def finite(obj):
    """A copy of obj with every non-finite float replaced by None (containers walked)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite(v) for v in obj]
    return obj


def dumps(obj, **kw) -> str:
    return json.dumps(finite(obj), allow_nan=False, **kw)


def dump(obj, fh, **kw) -> None:
    fh.write(dumps(obj, **kw))
