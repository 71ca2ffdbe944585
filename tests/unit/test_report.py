"""Report files and exit codes."""
from __future__ import annotations

import json

import pandas as pd

from bundle.errors import EXIT_DIFFERENT, EXIT_OK
from bundle.report import exit_code_for, terminal_report, write_report

ROWS = [
    {"section": "published-recompute", "system": "v/B", "benchmark": "kws", "mode": "performance",
     "metric": "throughput_ips", "published": 6.943, "recomputed": 6.94348, "status": "MATCH", "reason": ""},
    {"section": "reproduce", "system": "v/B", "benchmark": "kws", "mode": "accuracy", "metric": "top1_pct",
     "published": 90.2, "reproduced": 89.0, "verdict": "DIFFERENT", "reason": "89.0 vs 90.2",
     "outputs_equal": 998, "outputs_total": 1000,
     "first_mismatches": [{"file": "a.bin", "published": [0.1, 0.9], "reproduced": [0.9, 0.1]}]},
    {"section": "reproduce", "system": "v/B", "benchmark": "ad", "mode": "accuracy", "metric": "auc",
     "published": 0.86, "reproduced": None, "verdict": "NOT_RUN", "reason": "log.txt missing"},
]


def test_write_report_files(tmp_path):
    stages = [{"stage": "compile", "status": "NOT_RUN", "reason": "no docker"}]
    paths = write_report(ROWS, tmp_path, "OctoML v1.0", ["a note"], stages=stages, environment={"host": "x"})
    doc = json.loads(paths["json"].read_text())
    assert doc["summary"]["MATCH"] == 1 and doc["summary"]["DIFFERENT"] == 1 and doc["summary"]["NOT_RUN"] == 1
    assert doc["stages"] == stages and doc["environment"] == {"host": "x"} and doc["notes"] == ["a note"]
    assert doc["rows"][0]["reproduced"] == 6.94348 and doc["rows"][0]["verdict"] == "MATCH"
    assert doc["rows"][2]["reproduced"] is None
    frame = pd.read_csv(paths["csv"])
    assert list(frame["verdict"]) == ["MATCH", "DIFFERENT", "NOT_RUN"]
    assert frame["reproduced"].isna().tolist() == [False, False, True]
    md = paths["md"].read_text()
    assert "# OctoML v1.0" in md and "## Stages" in md and "a.bin" in md and "998/1000" in md


def test_terminal_report_never_prints_missing_numbers():
    text = terminal_report(ROWS)
    ad_line = next(line for line in text.splitlines() if " ad " in line)
    assert "None" not in ad_line and "nan" not in ad_line.lower() and " - " in ad_line
    assert "MATCH 1, DIFFERENT 1, NOT_RUN 1" in text


def test_exit_code_for():
    assert exit_code_for(ROWS) == EXIT_DIFFERENT
    assert exit_code_for([ROWS[0], ROWS[2]]) == EXIT_OK
