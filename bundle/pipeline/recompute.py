"""published-recompute: every published number recomputed from the published logs."""
from __future__ import annotations

from dataclasses import dataclass

from bundle.pipeline.base import Stage
from bundle.pipeline.outputs import Rows


@dataclass
class Recomputed(Rows):
    pass


class Recompute(Stage):
    name = "published-recompute"
    needs = ("fetch",)
    code = ("bundle/pipeline/recompute.py",)   # its imports follow (bundle/codedeps.py)

    def key(self, req, s) -> dict:
        from bundle.stagecache import code_digest
        from bundle.stagekeys import label_entries, lock_entries

        return {"code": code_digest(*self.code), "published": lock_entries("published/"),
                "labels": label_entries(),
                # the blob-pinned AD logs: fetched or not changes the AD accuracy rows
                "blobs_missing": sorted(s.fetched.blobs_missing)}

    def run(self, req, s) -> Recomputed:
        out = s.cached(self.name, lambda: self.key(req, s), lambda: _recompute(s.fetched))
        s.notes += out["notes"]
        return Recomputed(out["rows"])


def _recompute(fetched) -> dict:
    from bundle.published import parse
    from bundle.diff_published import recompute_tree

    notes = parse.system_notes(fetched.published)
    for _rel, why in fetched.blobs_missing.items():
        notes.append(f"not fetched (pinned by git blob id): {why}")   # the message names the file
    # One unreadable mode folder becomes rows saying so; the stage fails (exit 5) after the report.
    rows = recompute_tree(fetched.published, fetched.datasets, on_error="row")
    for row in rows:
        row["dut"] = "published logs"
    return {"rows": rows, "notes": notes}
