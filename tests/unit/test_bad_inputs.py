"""Bad inputs for the published-results parser, the tolerance policy and the fetch layer.

Each folder under tests/corpus/published/ is one case: a small tree (`tree/`, laid
out like closed/<Submitter>/), a `policy.yaml`, or a `lock.yaml` with a `mirror/`, and an `expect.yaml` naming the
error class and a message fragment, or the rows (metric, status, reason fragment;
optionally system/benchmark to pick the row, published, parse_error) and notes the case must produce. A case
may have a `labels/` folder (datasets layout) and `on_error: row` (the mode
`tinyrepro published` uses: a parse error becomes NOT_RUN rows, not an abort).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml

from bundle import errors
from bundle.diff import load_policy
from bundle.fetch import Fetcher
from bundle.diff_published import recompute_tree
from bundle.published.parse import system_notes

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "published"
CASES = sorted(p for p in CORPUS.iterdir() if (p / "expect.yaml").is_file())


def _run(case: Path, on_error: str = "raise"):
    if (case / "lock.yaml").is_file():  # a pinned input fetched from the case's mirror
        with tempfile.TemporaryDirectory() as cache:
            fetcher = Fetcher.from_lock(case / "lock.yaml", Path(cache), case / "mirror",
                                        offline=True, progress=False)
            return fetcher.fetch_tree("published/"), []
    if (case / "policy.yaml").is_file():
        return load_policy(case / "policy.yaml"), []
    tree = case / "tree"
    labels = case / "labels" if (case / "labels").is_dir() else None
    notes = system_notes(tree)
    return recompute_tree(tree, labels, on_error=on_error), notes


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Path):
    expect = yaml.safe_load((case / "expect.yaml").read_text())
    if "error" in expect:
        with pytest.raises(getattr(errors, expect["error"])) as info:
            _run(case, expect.get("on_error", "raise"))
        assert expect["message"] in str(info.value)
        assert info.value.hint, "every error must tell the user what to do"
        return
    rows, notes = _run(case, expect.get("on_error", "raise"))
    for want in expect.get("rows", []):
        got = [r for r in rows if all(r[k] == want[k] for k in ("metric", "system", "benchmark") if k in want)]
        assert len(got) == 1, f"one row for {want['metric']}: {rows}"
        assert got[0]["status"] == want["status"], got[0]
        assert want.get("reason", "") in got[0]["reason"], got[0]
        assert got[0]["parse_error"] == want.get("parse_error", False), got[0]
        if "published" in want:
            assert got[0]["published"] == want["published"]
        if got[0]["status"] == "NOT_RUN":
            assert got[0]["recomputed"] is None or got[0]["published"] is None
    if "row_count" in expect:
        assert len(rows) == expect["row_count"], rows
    for fragment in expect.get("notes", []):
        assert any(fragment in n for n in notes), notes
