"""The published-recompute section: every published number against the one recomputed from
its own raw files (what `tinyrepro published` prints and `reproduce` reports first).

`recompute_tree(root, labels_dir, policy=None, on_error="raise") -> list[dict]`: one record per
(submitter, system, benchmark, metric) with published, recomputed, status, reason and the
matched system description (file, board_name, soc_name). `root` is one submitter's tree in any
known layout, or a round checkout (closed/) holding several. With on_error="row" a folder that
cannot be parsed gives NOT_RUN rows flagged `parse_error` instead of aborting the whole tree (and
in a round, so does a submitter tree of unknown layout). The reading is bundle.published's; the
comparison is bundle.diff's.
"""
from __future__ import annotations

from pathlib import Path

from bundle import diff
from bundle.catalogue import MODE_METRICS
from bundle.errors import ParseError
from bundle.published.describe import describe, find_descriptions
from bundle.published.detect import SessionDir, detect_tree, known_layouts
from bundle.published.metrics import published_metrics, recomputed_metrics
from bundle.published.moderun import load_mode_dir

ON_ERROR = ("raise", "row")


def recompute_tree(root: Path, labels_dir: Path | None, policy=None, on_error: str = "raise") -> list[dict]:
    """Recompute every published number under root and compare (section "published-recompute").

    root: one submitter's tree in any known layout, or a round checkout (closed/).
    on_error="raise": the first ParseError aborts (precise message, exit code 5).
    on_error="row": a folder that cannot be parsed gives NOT_RUN rows with
    `parse_error` set, and the other folders are still recomputed; in a round, a
    submitter tree of unknown layout gives one such row and the others still count.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, not {on_error!r}")
    policy = policy or diff.load_policy()
    tree = detect_tree(root)
    records = []
    for sub in tree.submitters:
        if sub.error:
            if on_error == "raise" or not tree.round:
                raise sub.error
            records.append(_layout_error_row(sub))
            continue
        records += _submitter_rows(sub, labels_dir, policy, on_error)
    return records


def _submitter_rows(sub, labels_dir: Path | None, policy, on_error: str) -> list[dict]:
    known = known_layouts()
    descriptions, _ = find_descriptions(sub.root, known)
    n_systems = len({d.system for d in sub.sessions})
    records = []
    for d in sub.sessions:
        try:
            run = load_mode_dir(d.path, d.system, d.benchmark, d.mode, files=d.files)
            rows = diff.compare_run(run, published_metrics(run), recomputed_metrics(run, labels_dir),
                                    policy.rules_for("recompute"))
        except ParseError as exc:
            if on_error == "raise":
                raise
            rows = _parse_error_rows(d, exc)
        info = describe(d.system, descriptions, sub.root, known, n_systems)
        for r in rows:
            r["section"] = "published-recompute"
            r["submitter"] = sub.name
            r.setdefault("parse_error", False)
            r["system_description"] = info.path.name if info else None
            r["board_name"] = info.board_name if info else None
            r["soc_name"] = info.soc_name if info else None
        records.extend(rows)
    return records


def _layout_error_row(sub) -> dict:
    return {"section": "published-recompute", "submitter": sub.name, "system": None, "benchmark": None,
            "mode": None, "metric": None, "published": None, "recomputed": None, "status": "NOT_RUN",
            "reason": f"cannot parse: {sub.error.message}", "detail": f"hint: {sub.error.hint}",
            "parse_error": True}


def _parse_error_rows(d: SessionDir, exc: ParseError) -> list[dict]:
    return [{"system": d.system, "benchmark": d.benchmark, "mode": d.mode, "metric": m,
             "published": None, "recomputed": None, "status": "NOT_RUN",
             "reason": f"cannot parse: {exc.message}", "detail": f"hint: {exc.hint}" if exc.hint else "",
             "parse_error": True}
            for m in MODE_METRICS[d.mode]]
