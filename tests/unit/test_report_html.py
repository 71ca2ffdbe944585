"""report.md top-down, report.html and its figures, the terminal summary: from rows in memory
(the published tree's figures are checked in tests/local/test_report_browser.py)."""
from __future__ import annotations

import base64
import json
import re

from bundle.report import write_report
from bundle.report.console import MAX_LINES, final_summary
from bundle.report.figures import (AgreementSeries, LatencyPoint, TraceData, WindowSeries, energy_trace,
                                   latency_estimates, output_agreement, throughput_windows, verdict_overview)
from bundle.report.html import write_html
from bundle.report.summary import Reasons, headline, short_reason, side_by_side

LONG = ("stimuli not available offline: ic01 is derived from CIFAR-10 and must be downloaded and "
        "preprocessed on a networked machine (tinyrepro stimuli: download failed: archives/cifar-10-python.tar.gz)")
ROWS = [
    {"section": "published-recompute", "dut": "published logs", "system": "v/B", "benchmark": "kws",
     "mode": "accuracy", "metric": "top1_pct", "published": 90.2, "recomputed": 90.2, "status": "MATCH"},
    {"section": "reproduce", "dut": "sim-litert", "system": "v/B", "benchmark": "kws", "mode": "accuracy",
     "metric": "top1_pct", "published": 90.2, "reproduced": 90.2, "verdict": "MATCH", "reason": "",
     "outputs_equal": 998, "outputs_total": 1000},
    {"section": "reproduce", "dut": "sim-litert", "system": "v/B", "benchmark": "kws", "mode": "performance",
     "metric": "throughput_ips", "published": 6.943, "reproduced": 412.0, "verdict": "NOT_COMPARABLE",
     "reason": "software DUT: its timing is this CPU's"},
    {"section": "reproduce", "dut": "qemu", "system": "v/B", "benchmark": "kws", "mode": "performance",
     "metric": "latency_ms", "published": 144.03, "reproduced": 150.2, "verdict": "NOT_COMPARABLE",
     "reason": "emulated estimate"},
    {"section": "reproduce", "dut": "sim", "system": "v/B", "benchmark": "ic", "mode": "accuracy",
     "metric": "top1_pct,auc", "published": None, "reproduced": None, "verdict": "NOT_RUN", "reason": LONG},
]


def _svg_ok(svg: str) -> None:
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "</svg>" in svg
    assert "<path" in svg  # something is drawn


def test_headline_counts_each_published_number_once_by_its_best_reproduction():
    head = headline(ROWS)
    # ic's row covers two numbers (top1_pct, auc); kws accuracy, throughput, latency one each
    assert head.total == 5 and head.counts == {"MATCH": 1, "NOT_COMPARABLE": 2, "NOT_RUN": 2}
    text = head.sentence()
    assert text.startswith("Of 5 published numbers, 1 regenerated and equal, 0 within tolerance")
    assert "2 not reproducible here, for these reasons: stimuli not available offline (2)" in text
    assert head.recompute_sentence().endswith("1 of 1 published numbers equal.")


def test_short_reasons_are_short_and_numbered_once():
    assert short_reason(LONG) == "stimuli not available offline"
    assert len(short_reason("x" * 300)) <= 57
    reasons = Reasons()
    assert reasons.ref(LONG) == reasons.ref(LONG) == 1 and reasons.ref("other") == 2 and reasons.ref("") is None


def test_side_by_side_puts_published_recomputed_and_each_dut_on_one_line():
    reasons = Reasons()
    lines = side_by_side(ROWS, reasons)["v/B"]
    top1 = next(ln for ln in lines if ln.benchmark == "kws" and ln.metric == "top1_pct")
    assert top1.published == 90.2
    assert top1.cells["recomputed"].verdict == "MATCH" and top1.cells["sim-litert"].value == 90.2
    assert top1.cells["sim-litert"].outputs == "998/1000 outputs equal"
    ic = [ln for ln in lines if ln.benchmark == "ic"]
    assert {ln.metric for ln in ic} == {"top1_pct", "auc"} and all(reasons.texts[ln.cells["sim"].ref - 1] == LONG for ln in ic)


def test_markdown_reads_top_down_with_short_cells(tmp_path):
    stages = [{"stage": "stimuli:ic01", "status": "NOT_RUN", "reason": LONG, "seconds": 0.0}]
    paths = write_report(ROWS, tmp_path, "T", ["a note"], stages=stages, environment={"host": "x"})
    md = paths["md"].read_text()
    first = md.split("\n## ")[0]
    assert "**Of 5 published numbers" in first          # the headline comes before any table
    assert md.index("## Published and reproduced") < md.index("## Reasons") < md.index("## Stages")
    assert "998/1000" in md and LONG in md              # the full reason, once, below the tables
    table_lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    assert max(len(ln) for ln in table_lines) < 200
    assert md.count(LONG) == 1


def test_figures_are_svg_and_say_so_when_there_is_nothing_to_draw():
    _svg_ok(verdict_overview({"reproduce: kws": {"MATCH": 2, "NOT_RUN": 1}}))
    _svg_ok(output_agreement([AgreementSeries("sim vs v/B kws", [0.0, 0.0, 0.0039, float("nan")], 2, 4)]))
    _svg_ok(throughput_windows([WindowSeries("published", [2, 4], [6.9, 6.9], [True, True], "kws"),
                                WindowSeries("sim", [2, 4], [400.0, 410.0], [False, False], "kws")]))
    _svg_ok(energy_trace(TraceData("v/B kws", 1000.0, [45.0, 52.0, 52.0, 45.0], 0.5, [(2, 0.5, 1.5)], 7950.5)))
    _svg_ok(latency_estimates([LatencyPoint("v/B kws (qemu)", 144.03, 150.2)]))
    empty = latency_estimates([])
    assert "no latency estimate in this run" in empty and "<svg" in empty


def test_html_is_self_contained_with_headline_tables_and_figures(tmp_path):
    stages = [{"stage": "run", "status": "RAN", "reason": "", "seconds": 1.0}]
    write_report(ROWS, tmp_path, "T", ["a note"], stages=stages, environment={"runs": []})
    page = write_html(tmp_path).read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)   # nothing fetched: no CDN, no network
    assert "<script" not in page
    assert re.search(r'id="headline">Of 5 published numbers', page)
    assert page.count('<table class="results"') == 1 and '<table class="stages"' in page
    kinds = re.findall(r'<img class="figure" data-kind="([a-z]+)"', page)
    assert kinds == ["verdicts", "agreement", "windows", "latency"]   # no published tree: no energy traces
    for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', page):
        assert "<svg" in base64.b64decode(data).decode()
    assert "v/B kws (qemu)" in page or "v/B kws (qemu)" in "".join(
        base64.b64decode(d).decode() for d in re.findall(r'base64,([^"]+)"', page))


def test_html_survives_a_missing_report_json(tmp_path):
    import pytest

    from bundle.errors import ParseError

    with pytest.raises(ParseError) as err:
        write_html(tmp_path)
    assert err.value.hint


def test_terminal_summary_is_short_and_ends_with_the_report_path(tmp_path):
    many = ROWS + [dict(ROWS[1], dut=f"sim-{i}", verdict="DIFFERENT", reproduced=80.0) for i in range(60)]
    stages = [{"stage": f"s{i}", "status": "NOT_RUN", "reason": LONG} for i in range(30)]
    text = final_summary(many, stages, tmp_path / "report.html", 3.2)
    lines = text.splitlines()
    assert len(lines) <= MAX_LINES
    assert lines[0].startswith("Of ") and lines[-1].startswith("report in 3.2 s: ") and "report.html" in lines[-1]


def test_report_json_keeps_full_reasons(tmp_path):
    paths = write_report(ROWS, tmp_path, "T")
    doc = json.loads(paths["json"].read_text())
    assert doc["rows"][-1]["reason"] == LONG


def test_a_figure_that_cannot_be_drawn_is_a_note_not_a_lost_report(tmp_path, monkeypatch):
    from bundle.report import figures

    def broken(series):
        raise ValueError("no finite values")

    monkeypatch.setattr(figures, "throughput_windows", broken)
    write_report(ROWS, tmp_path, "T", environment={"runs": []})
    page = write_html(tmp_path).read_text()
    assert "figure windows: not drawn: ValueError: no finite values" in page
    assert len(re.findall(r'<img class="figure"', page)) == 4
