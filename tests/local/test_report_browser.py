"""report.html in a real headless browser (Debian's chromium): the page renders offline, the
headline and tables are there, every figure decodes to a non-empty image, one per published
energy trace; a screenshot is kept as a test artifact (artifacts/test-output/, not in git).

The report is built from real parts: the published tree from the mirror, rows from the real
diff, and published accuracy/performance folders standing in for a reproduced run.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "test-output"
NATIVE = "microtvm_native/NUCLEO_L4R5ZI"
CMSIS = "microtvm_cmsis_nn/NUCLEO_L4R5ZI"
# Appended to a copy of the page only: the report itself has no script. After load, each
# image's decoded size is written into the DOM that --dump-dom prints.
PROBE = """<script>window.addEventListener("load", () => { for (const img of document.images) {
  img.setAttribute("data-decoded", img.complete ? img.naturalWidth + "x" + img.naturalHeight : "pending"); } });
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path:
        return path
    reason = "chromium not installed (make test installs it: apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def _browser(chromium: str, page: Path, *args: str) -> subprocess.CompletedProcess:
    # --no-sandbox: the test may run as root in a container, where chromium's sandbox cannot start
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", "--disable-extensions", "--virtual-time-budget=5000", *args,
                           page.as_uri()], capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def html_report(published_root, kws_dataset, tmp_path_factory) -> tuple[Path, int]:
    from bundle.diff import diff_mode_dirs
    from bundle.published.layout import find_mode_dirs
    from bundle.diff_published import recompute_tree
    from bundle.report import write_report
    from bundle.report.html import write_html

    out = tmp_path_factory.mktemp("html-report")
    rows = recompute_tree(published_root, kws_dataset.parent, on_error="row")
    for r in rows:
        r["dut"] = "published logs"
    runs = []
    # the CMSIS-NN build's folders stand in for a run diffed against the native build
    for mode in ("accuracy", "performance"):
        run_dir = published_root / "results" / CMSIS / "kws" / mode
        runs.append({"label": "stand-in", "benchmark": "kws", "mode": mode, "dir": str(run_dir)})
        for row in diff_mode_dirs(published_root / "results" / NATIVE / "kws" / mode, run_dir,
                                  kws_dataset.parent, "board"):
            rows.append({**row, "dut": "stand-in"})
    stages = [{"stage": "run", "status": "RAN", "reason": "", "seconds": 1.0},
              {"stage": "compile", "status": "NOT_RUN", "reason": "GitHub is not reachable from this host"}]
    write_report(rows, out, "tinyrepro browser test", ["a note"], stages=stages, environment={"runs": runs})
    page = write_html(out, published_root)
    traces = sum(1 for d in find_mode_dirs(published_root)
                 if d.mode == "energy" and (d.path / "trace1-energy.bin").is_file())
    return page, traces


def test_report_renders_in_chromium_with_every_figure(html_report, tmp_path):
    chromium = _chromium()
    page, traces = html_report
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = _browser(chromium, probe, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert re.search(r'id="headline">Of \d+ published numbers, \d+ regenerated and equal', html)
    assert html.count('<table class="results"') >= 1 and '<table class="stages"' in html
    figures = re.findall(r'<img class="figure" data-kind="([a-z]+)"[^>]*data-decoded="([^"]+)"', html)
    kinds = [k for k, _ in figures]
    assert kinds[:4] == ["verdicts", "agreement", "windows", "latency"] and kinds.count("energy") == traces > 0
    for kind, size in figures:
        width, _, height = size.partition("x")
        assert width.isdigit() and int(width) > 100 and int(height) > 50, (kind, size)


def test_screenshot_is_kept_and_not_blank(html_report):
    from PIL import Image

    chromium = _chromium()
    page, _ = html_report
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "report-html.png"
    proc = _browser(chromium, page, f"--screenshot={shot}", "--window-size=1200,2400")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as img:
        assert img.size == (1200, 2400)
        colours = img.convert("RGB").resize((300, 600)).getcolors(maxcolors=1 << 16)
    assert colours and len(colours) > 50   # text, tables and figures, not a blank page
