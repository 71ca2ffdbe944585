"""The EEMBC line grammar, once: what the DUT harness prints and what EnergyRunner logs.

Read by the runner (bundle/runner/protocol.py checks a live DUT's replies), by the parser of
published session logs (bundle/published/logs.py) and by the layout sniffer
(bundle/published/detect.py), so a line means the same to all three. Source: the EEMBC
harness, mlcommons/tiny benchmark/reference_submissions/*/api/internally_implemented.c
(`m-...` lines; spec §1.2-§1.6), and EnergyRunner 3.0.10's log.txt (spec §3.1).
"""
from __future__ import annotations

import re

READY = "m-ready"   # ends every DUT reply

# The DUT harness's lines, one per line, without anchors (spec §1.2-§1.6).
DUT_PATTERNS = {
    "init": r"m-init-done",
    "name": r"m-name-(?P<dev>[^-\[]+)-\[(?P<vendor>[^\]]*)\]",
    "profile": r"m-profile-\[(?P<profile>[^\]]*)\]",
    "model": r"m-model-\[(?P<model>[^\]]*)\]",
    "expecting": r"m-\[Expecting (?P<n>\d+) bytes\]",
    "load_done": r"m-load-done",
    "warmup_start": r"m-warmup-start-(?P<w>\d+)",
    "warmup_done": r"m-warmup-done",
    "infer_start": r"m-infer-start-(?P<n>\d+)",
    "lap": r"m-lap-us-(?P<us>\d+)",
    "infer_done": r"m-infer-done",
    "results": r"m-results-\[(?P<vals>[^\]]*)\]",
    "error": r"e-\[(?P<msg>.*)\]",
}
DUT_LINES = {kind: re.compile(f"^{body}$") for kind, body in DUT_PATTERNS.items()}
# A result value as the harness prints it: 3 decimals (th_printf("%0.3f")).
DUT_VALUE = re.compile(r"^-?\d+\.\d{3}$")
# The one harness error without `e-` or CR (spec §1.3).
OVERSIZE = re.compile(r"^Supplied buffer size \d+ exceeds maximum of \d+$")

# EnergyRunner's own `m-` lines in a session log (spec §3.1).
RUN_NAME = r"m-bmark-run-name\[(?P<name>[^\]]*)\]-code\[(?P<code>[^\]]*)\]"
CFG = r"m-bm-cfg-name\[[^\]]*\]-key\[(?P<key>[^\]]*)\]-val\[(?P<val>.*)\]"
RUN_NAME_LINE = re.compile(f"^{RUN_NAME}$")
CFG_LINE = re.compile(f"^{CFG}$")

# A session log line and the commands EnergyRunner logs (spec §3.1).
LOG_LINE = re.compile(r"^(?P<t>\d{5,}\.\d{3}) (?P<src>[a-z][a-z0-9-]*): (?P<msg>.*)$")
COMMAND = re.compile(r'^Command "(?P<cmd>.*)"$')
BLOAD = re.compile(r'^(?:bload dut|bloadp) "(?P<file>[^"]+)"(?: (?P<off>\d+) (?P<len>\d+))?$')
INFER = re.compile(r"^(?:io )?dut infer (?P<n>\d+)(?: (?P<w>\d+))?$")
