"""Run folder ownership (bundle.runner.rundir): each rule, with real files and a real second process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bundle.errors import EXIT_USAGE, ParseError, UsageError
from bundle.runner.rundir import LOCK, OWNER, check_folder, claim

REPO = Path(__file__).resolve().parents[2]
OWNER_A = {"dut": {"backend": "litert"}, "benchmark": "kws", "mode": "accuracy", "n": 1, "w": 0,
           "stimuli_manifest_sha256": "0" * 64}
OWNER_B = {**OWNER_A, "dut": {"backend": "tvm"}}


def _snapshot(folder: Path) -> dict[str, tuple[bytes, float]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime) for p in sorted(folder.iterdir())}


def test_new_folder_gets_the_owner_record_first(tmp_path):
    out = tmp_path / "run"
    with claim(out, OWNER_A) as resumed:
        assert not resumed
        assert json.loads((out / OWNER).read_text()) == {"version": 1, "run": OWNER_A}
        assert sorted(p.name for p in out.iterdir()) == [LOCK, OWNER]


def test_same_owner_resumes(tmp_path):
    out = tmp_path / "run"
    with claim(out, OWNER_A):
        (out / "log.txt").write_text("x")
    with claim(out, OWNER_A) as resumed:
        assert resumed


def test_other_owner_is_refused_and_nothing_changes(tmp_path):
    out = tmp_path / "run"
    with claim(out, OWNER_A):
        (out / "log.txt").write_text("x")
    before = _snapshot(out)
    with pytest.raises(UsageError, match=r"belongs to another run \(dut.backend: 'litert' there, 'tvm' now\)") as info:
        with claim(out, OWNER_B):
            pass
    assert info.value.exit_code == EXIT_USAGE and info.value.hint
    assert _snapshot(out) == before


@pytest.mark.parametrize("files", [{"log.txt": "someone's log"}, {"notes.md": "mine"},
                                   {"log.txt": "x", "results.txt": "y"}])
def test_foreign_content_is_refused_and_nothing_changes(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    before = _snapshot(tmp_path)
    with pytest.raises(UsageError, match="nothing was changed"):
        with claim(tmp_path, OWNER_A):
            pass
    assert _snapshot(tmp_path) == before


def test_out_that_is_a_file_is_a_usage_error(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(UsageError, match="is not a folder"):
        check_folder(tmp_path / "f", OWNER_A)


def test_damaged_owner_record_is_a_parse_error(tmp_path):
    (tmp_path / OWNER).write_text("[" * 5000)
    with pytest.raises(ParseError, match="owner.json"):
        check_folder(tmp_path, OWNER_A)


HOLD = """
import sys, time
from pathlib import Path
from bundle.runner.rundir import claim
with claim(Path(sys.argv[1]), {"n": 1}):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def test_a_second_concurrent_run_is_refused_at_once(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out), "30"], cwd=REPO,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(UsageError, match="in use by another run"):
            with claim(out, {"n": 1}):
                pass
        assert time.monotonic() - start < 2, "refused at once, not after waiting"
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the dead holder's lock: the folder is usable again
    with claim(out, {"n": 1}) as resumed:
        assert resumed


def test_two_runs_racing_for_a_new_folder_one_wins(tmp_path):
    out = tmp_path / "run"
    procs = [subprocess.Popen([sys.executable, "-c", HOLD, str(out), "3"], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    held = [r for r in results if "held" in r[0]]
    assert len(held) == 1, results
    loser = next(r for r in results if "held" not in r[0])
    assert "in use by another run" in loser[1]
    assert sorted(os.listdir(out)) == [LOCK, OWNER]
