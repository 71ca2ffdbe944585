"""The CLI (`python -m bundle run`, a real process) against the software DUT on a real pty:
the run folder rules, resume after a torn log and a full disk, stimuli checks and option ranges.

Each test is one of the attacks of issue 14, with the exit code the README documents.
"""
from __future__ import annotations

import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bundle.errors import EXIT_FETCH, EXIT_IO, EXIT_PARSE, EXIT_USAGE
from bundle.published.logs import parse_log

REPO = Path(__file__).resolve().parents[2]
COUNT = 5


@pytest.fixture(scope="module")
def stimuli(kws_dataset, tmp_path_factory) -> Path:
    """A 5-stimulus KWS set with its SHA256SUMS, laid out like a prepared set."""
    folder = tmp_path_factory.mktemp("set") / "kws01"
    folder.mkdir()
    rows = (kws_dataset / "y_labels.csv").read_text().splitlines()[:COUNT]
    (folder / "y_labels.csv").write_text("\n".join(rows) + "\n")
    sums = []
    for row in rows:
        name = row.split(",")[0]
        shutil.copyfile(kws_dataset / name, folder / name)
        sums.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}\n")
    (folder / "SHA256SUMS").write_text("".join(sums))
    return folder


def cli(fetcher, *argv: str, preexec=None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINYREPRO_CACHE": str(fetcher.cache_dir)}
    return subprocess.run([sys.executable, "-m", "bundle", "run", *argv], cwd=REPO, env=env, text=True,
                          capture_output=True, timeout=timeout, preexec_fn=preexec)


def run_args(out: Path, stimuli: Path, *extra: str) -> list[str]:
    return ["--dut", "sim", "--benchmark", "kws", "--mode", "accuracy", "--out", str(out),
            "--stimuli", str(stimuli), *extra]


def _outputs(out: Path) -> list[tuple[str, tuple]]:
    return [(o.file, o.values) for o in parse_log(out / "log.txt").outputs]


def _texts(out: Path) -> list[str]:
    """results.txt without its stamps."""
    return [line.split(": ", 1)[1] for line in (out / "results.txt").read_text().splitlines()]


def _snapshot(folder: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def clean_run(fetcher, stimuli, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("clean") / "run"
    done = cli(fetcher, *run_args(out, stimuli))
    assert done.returncode == 0, done.stderr
    return out


def test_clean_run_and_rerun_of_a_finished_run(fetcher, stimuli, clean_run):
    assert len(_outputs(clean_run)) == COUNT
    log = (clean_run / "log.txt").read_text()
    assert not log.endswith("\n") and log.count("Saved this run to session ID") == 1
    assert (clean_run / "results.txt").stat().st_mode & 0o777 == (clean_run / "log.txt").stat().st_mode & 0o777
    before = (clean_run / "log.txt").read_bytes()
    again = cli(fetcher, *run_args(clean_run, stimuli))
    assert again.returncode == 0, again.stderr
    assert (clean_run / "log.txt").read_bytes() == before        # no second trailer, nothing appended


def test_foreign_folder_is_refused_untouched(fetcher, stimuli, tmp_path):
    (tmp_path / "log.txt").write_text("someone else's log\n")
    before = _snapshot(tmp_path)
    done = cli(fetcher, *run_args(tmp_path, stimuli))
    assert done.returncode == EXIT_USAGE and "nothing was changed" in done.stderr
    assert "hint:" in done.stderr and "Traceback" not in done.stderr
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("change", [["--backend", "litert-ref"], ["--n", "2"], ["--mode", "performance"]])
def test_resume_with_another_owner_is_refused_untouched(fetcher, stimuli, clean_run, change):
    before = _snapshot(clean_run)
    args = run_args(clean_run, stimuli)
    if change[0] == "--mode":
        args[args.index("--mode") + 1] = change[1]
    else:
        args += change
    done = cli(fetcher, *args)
    assert done.returncode == EXIT_USAGE and "belongs to another run" in done.stderr, done.stderr
    assert _snapshot(clean_run) == before


def test_two_concurrent_runs(fetcher, stimuli, clean_run, tmp_path):
    out = tmp_path / "run"
    args = run_args(out, stimuli, "--sim-infer-ms", "400")
    first = subprocess.Popen([sys.executable, "-m", "bundle", "run", *args], cwd=REPO, text=True,
                             env={**os.environ, "TINYREPRO_CACHE": str(fetcher.cache_dir)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        while not (out / "owner.json").is_file():
            assert first.poll() is None, first.communicate()
            threading.Event().wait(0.05)
        second = cli(fetcher, *args)
        assert second.returncode == EXIT_USAGE and "in use by another run" in second.stderr, second.stderr
        stdout, stderr = first.communicate(timeout=120)
        assert first.returncode == 0, stderr
    finally:
        first.kill()
    assert _outputs(out) == _outputs(clean_run)          # every result once
    assert cli(fetcher, *args).returncode == 0            # and a later resume works


def test_torn_last_line_resumes(fetcher, stimuli, clean_run, tmp_path):
    out = tmp_path / "run"
    shutil.copytree(clean_run, out)
    text = (out / "log.txt").read_text()
    # a crash inside the stamp of the 4th result line, trailer never written
    cut = [i for i in range(len(text)) if text.startswith(" dut: m-results-", i)][3] - 4
    (out / "log.txt").write_text(text[:cut])
    (out / "results.txt").unlink()
    done = cli(fetcher, *run_args(out, stimuli))
    assert done.returncode == 0, done.stderr
    assert _outputs(out) == _outputs(clean_run)
    assert "runner: m-log-repaired-[" in (out / "log.txt").read_text()
    assert _texts(out) == _texts(clean_run)


def _ignore_sigxfsz_and_limit(nbytes: int):
    def preexec():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, nbytes))
    return preexec


def test_file_size_limit_is_a_clean_error_and_the_run_resumes(fetcher, stimuli, clean_run, tmp_path):
    out = tmp_path / "run"
    done = cli(fetcher, *run_args(out, stimuli), preexec=_ignore_sigxfsz_and_limit(3000))
    assert done.returncode == EXIT_IO, done.stderr
    assert "cannot write" in done.stderr and "Traceback" not in done.stderr
    again = cli(fetcher, *run_args(out, stimuli))
    assert again.returncode == 0, again.stderr
    assert _outputs(out) == _outputs(clean_run)


@pytest.fixture
def small_disk(tmp_path):
    """A real 24 KiB tmpfs (root only); grown afterwards to let the run finish."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root): the RLIMIT_FSIZE test covers the write path")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_is_a_clean_error_and_the_run_resumes(fetcher, stimuli, clean_run, small_disk):
    args = run_args(small_disk / "run", stimuli)
    # 5 stimuli of KWS take about 14 KB of log and journal: fill the disk to leave ~6 KB
    (small_disk / "filler").write_bytes(b"\0" * (12 << 10))
    done = cli(fetcher, *args)
    assert done.returncode == EXIT_IO, done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert subprocess.run(["mount", "-o", "remount,size=1m", str(small_disk)]).returncode == 0
    again = cli(fetcher, *args)
    assert again.returncode == 0, again.stderr
    assert _outputs(small_disk / "run") == _outputs(clean_run)


def test_tampered_stimulus_is_refused_before_anything_is_sent(fetcher, stimuli, tmp_path):
    folder = tmp_path / "kws01"
    shutil.copytree(stimuli, folder)
    victim = sorted(folder.glob("*.bin"))[2]
    victim.write_bytes(b"\x01" + victim.read_bytes()[1:])
    done = cli(fetcher, *run_args(tmp_path / "run", folder))
    assert done.returncode == EXIT_FETCH and "does not match" in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()


def test_labels_naming_a_file_outside_the_set_are_refused(fetcher, stimuli, tmp_path):
    folder = tmp_path / "kws01"
    shutil.copytree(stimuli, folder)
    (folder / "SHA256SUMS").unlink()
    (folder / "y_labels.csv").write_text("../../../../etc/passwd,12,0\n" + (stimuli / "y_labels.csv").read_text())
    done = cli(fetcher, *run_args(tmp_path / "run", folder))
    assert done.returncode == EXIT_PARSE and "outside the stimuli folder" in done.stderr, done.stderr
    assert "y_labels.csv:1" in done.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv", [["--limit", "0"], ["--limit", "-1"], ["--retries", "-1"], ["--n", "0"],
                                  ["--backend", "nope"], ["--fault", "bogus:0.1"], ["--fault", "drop:2"],
                                  ["--sim-infer-ms", "nan"], ["--baud", "fast"], ["--w", "-3"]])
def test_option_out_of_range_is_a_usage_error(stimuli, tmp_path, argv, capsys):
    from bundle.cli import main

    with pytest.raises(SystemExit) as info:        # argparse's own exit, before anything runs
        main(["run", *run_args(tmp_path / "run", stimuli, *argv)])
    err = capsys.readouterr().err
    assert info.value.code == EXIT_USAGE, err
    assert err.startswith("usage: tinyrepro run") and f"argument {argv[0]}" in err
    assert not (tmp_path / "run").exists()


def test_out_that_is_a_file_or_unwritable(fetcher, stimuli, tmp_path):
    (tmp_path / "file").write_text("x")
    done = cli(fetcher, *run_args(tmp_path / "file", stimuli))
    assert done.returncode == EXIT_USAGE and "is not a folder" in done.stderr
    done = cli(fetcher, *run_args(Path("/proc/self/run"), stimuli))
    assert done.returncode == EXIT_IO and "cannot write" in done.stderr and "Traceback" not in done.stderr
