"""Property tests (Hypothesis): every reader of an outside file, and the CLI, on random bytes
and on random mutations of the real published files (fetched through the mirror).

The property: the reader returns a value (with only finite numbers in it) or raises a
ReproError whose exit code is documented and which carries a hint. Anything else (a
KeyError, a RecursionError, a ZeroDivisionError: a traceback for the user) fails.
The budget per reader is `EXAMPLES` (the profile in tests/conftest.py is derandomized
and keeps no example database, so CI runs the same examples every time).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bundle import errors
from bundle.cli import main
from bundle.reproduce_config import load_reproduce_config
from bundle.diff import load_policy, read_run_info
from bundle.fetch.lock import load_lock
from bundle.published.energy import read_timestamps, read_trace
from bundle.published.systems import read_json_lenient
from bundle.published.logs import parse_log
from bundle.published.parse import load_labels
from bundle.published.results import parse_results
from bundle.published.script import parse_script
from bundle.runner.logwriter import Journal
from bundle.runner.rundir import read_owner, run_owner
from bundle.runner.stimuli import _read_sums, plan_stimuli, stimuli_manifest

REPO = Path(__file__).resolve().parents[2]
DOCUMENTED = {errors.EXIT_OK, errors.EXIT_DIFFERENT, errors.EXIT_USAGE, errors.EXIT_CONFIG, errors.EXIT_FETCH,
              errors.EXIT_PARSE, errors.EXIT_DUT, errors.EXIT_IO}
EXAMPLES = 200         # per reader and per kind of input (random bytes, mutations of a real file)
CLI_EXAMPLES = 100
KWS = "results/microtvm_cmsis_nn/NUCLEO_L4R5ZI/kws"
SPECIALS = [b"nan", b"inf", b"-inf", b"NaN", b"Infinity", b"-1", b"0", b"1e999", b"9" * 60, b"", b"\xff\xfe",
            b"[" * 3000, b"\x00", b"\n", b"..", b"/", b'"', b"{", b"1_000", b"0x10"]


# -- mutations ---------------------------------------------------------------------------------
@st.composite
def mutated(draw, seed: bytes) -> bytes:
    """`seed` with one to three edits: cut, flip, insert, delete, duplicate a line, or a number
    swapped for nan/inf/overflow/garbage."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "dup-line", "number"]))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.one_of(st.binary(max_size=16), st.sampled_from(SPECIALS)))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif kind == "dup-line":
            start = data.rfind(b"\n", 0, at) + 1
            end = data.find(b"\n", at)
            end = len(data) if end < 0 else end + 1
            data[end:end] = data[start:end]
        else:
            digits = [i for i in range(len(data)) if 48 <= data[i] <= 57]
            if digits:
                i = digits[draw(st.integers(0, len(digits) - 1))]
                j = i
                while j < len(data) and (48 <= data[j] <= 57 or data[j] == 46):
                    j += 1
                data[i:j] = draw(st.sampled_from(SPECIALS))
    return bytes(data)


def inputs(seed: bytes):
    return st.one_of(st.binary(max_size=2048), mutated(seed))


def _clean(call) -> object | None:
    """Run a reader: a value, or a documented error with a hint; anything else propagates."""
    try:
        return call()
    except errors.ReproError as err:
        assert err.exit_code in DOCUMENTED, err
        assert err.hint, f"no hint: {err}"
        return None


def _finite(values) -> bool:
    return all(math.isfinite(v) for v in values)


# -- seeds: the real published files, through the fetch layer ----------------------------------
@pytest.fixture(scope="module")
def seeds(published_root, fetcher) -> dict[str, bytes]:
    acc = (published_root / KWS / "accuracy" / "log.txt").read_bytes()
    head = acc[:acc.index(b"\n", 6000) + 1]           # the header and a few stimuli
    lock = yaml.safe_load((REPO / "artifacts" / "lock.yaml").read_text())
    small = {"version": 1, "sources": lock["sources"], "files": lock["files"][:4],
             "archives": lock.get("archives") or {}, "toolchain": {}}
    outputs = parse_log(published_root / KWS / "accuracy" / "log.txt").outputs[:3]
    journal = "".join(json.dumps({"key": f"{o.file}@{o.offset}", "block": ["00001.000 dut: m-ready"],
                                  "values": list(o.values), "log_at": 10 * i}) + "\n"
                      for i, o in enumerate(outputs))
    return {
        "log": (published_root / KWS / "performance" / "log.txt").read_bytes() + b"\n" + head,
        "results": (published_root / KWS / "performance" / "results.txt").read_bytes()
        + (published_root / KWS / "accuracy" / "results.txt").read_bytes()
        + (published_root / KWS / "energy" / "results.txt").read_bytes(),
        "script": (published_root / KWS / "performance" / "script.async").read_bytes(),
        "trace": (published_root / KWS / "energy" / "trace1-energy.bin").read_bytes()[:4096 + 5],
        "timestamps": (published_root / KWS / "energy" / "trace1-timestamps.json").read_bytes(),
        "system_json": sorted((published_root / "systems").glob("*.json"))[0].read_bytes(),
        "labels": fetcher.fetch("datasets/kws01/y_labels.csv").read_bytes()[:2000],
        "lock": yaml.safe_dump(small).encode(),
        "policy": (REPO / "bundle" / "data" / "policy.yaml").read_bytes(),
        "config": (REPO / "bundle" / "data" / "reproduce.yaml").read_bytes(),
        "run_info": json.dumps({"dut_kind": "sim", "backend": "litert", "emulated_infer_ms": 0.0,
                                "benchmark": "kws", "mode": "accuracy", "n": 1, "w": 0, "limit": 3,
                                "stimuli": 3, "system": "microtvm_native/NUCLEO_L4R5ZI"}).encode(),
        "journal": journal.encode(),
        "sums": "".join(f"{hashlib.sha256(row.encode()).hexdigest()}  {row.split(',')[0]}\n"
                        for row in fetcher.fetch("datasets/kws01/y_labels.csv").read_text().splitlines()[:20]
                        ).encode(),
        "owner": json.dumps({"version": 1, "run": run_owner("kws", "accuracy", 1, 0, "0" * 64,
                                                              {"dut": "sim"})}).encode(),
    }


def _write(data: bytes, name: str = "f") -> tuple[tempfile.TemporaryDirectory, Path]:
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / name
    path.write_bytes(data)
    return tmp, path


# reader name -> check(data): read `data` as that file and assert the property
def _check_log(data):
    tmp, path = _write(data, "log.txt")
    with tmp:
        log = _clean(lambda: parse_log(path))
        if log is not None:
            assert all(_finite(o.values) for o in log.outputs)


def _check_results(data):
    tmp, path = _write(data, "results.txt")
    with tmp:
        res = _clean(lambda: parse_results(path))
        if res is not None:
            scalars = [v for v in (res.top1_pct, res.auc, res.median_throughput, res.median_energy_uj) if v is not None]
            assert _finite(scalars) and all(_finite(b.values()) for b in res.perf_windows.values())


def _check_trace(data):
    tmp, path = _write(data)
    with tmp:
        trace = _clean(lambda: read_trace(path))
        if trace is not None:
            assert math.isfinite(trace.fs) and _finite(trace.samples)


def _check_timestamps(data):
    tmp, path = _write(data)
    with tmp:
        values = _clean(lambda: read_timestamps(path))
        assert values is None or _finite(values)


def _check_labels(data):
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "kws01").mkdir()
        (Path(tmp) / "kws01" / "y_labels.csv").write_bytes(data)
        _clean(lambda: load_labels(Path(tmp), "kws"))
        folder = Path(tmp) / "kws01"
        (folder / "tst_000000_Stop_7.bin").write_bytes(b"\0" * 490)
        _clean(lambda: stimuli_manifest(folder, plan_stimuli(folder, "kws", "accuracy")))


def _check_run_info(data):
    tmp, path = _write(data, "run-info.json")
    with tmp:
        _clean(lambda: read_run_info(path.parent))


def _check_journal(data):
    tmp, path = _write(data, "run.jsonl")
    with tmp:
        records = _clean(lambda: Journal(path).records())
        if records is not None:
            assert all(isinstance(r["key"], str) and _finite(r["values"]) for r in records)


def _simple(reader):
    def check(data):
        tmp, path = _write(data)
        with tmp:
            _clean(lambda: reader(path))
    return check


CHECKS = {
    "log": _check_log, "results": _check_results, "script": _simple(parse_script), "trace": _check_trace,
    "timestamps": _check_timestamps, "system_json": _simple(read_json_lenient), "labels": _check_labels,
    "lock": _simple(load_lock), "policy": _simple(load_policy), "config": _simple(load_reproduce_config),
    "run_info": _check_run_info, "journal": _check_journal, "owner": _simple(read_owner),
    "sums": _simple(_read_sums),
}


@pytest.mark.parametrize("reader", sorted(CHECKS))
def test_reader_never_ends_in_a_traceback(reader, seeds):
    @settings(max_examples=EXAMPLES)
    @given(data=inputs(seeds[reader]))
    def prop(data):
        CHECKS[reader](data)

    prop()


def test_seeds_are_read_cleanly(seeds):
    """The unmutated published files are valid input: the property is not vacuous."""
    for reader, check in CHECKS.items():
        check(seeds[reader])


# -- the CLI ------------------------------------------------------------------------------------
def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _strict_json(text: str) -> None:
    def refuse(name):
        raise AssertionError(f"{name} in JSON output")
    json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def small_tree(published_root, tmp_path_factory) -> Path:
    """A closed/OctoML-like tree with one system's KWS performance and energy folders."""
    root = tmp_path_factory.mktemp("tree")
    for mode in ("performance", "energy"):
        shutil.copytree(published_root / KWS / mode, root / KWS / mode)
    shutil.copytree(published_root / "systems", root / "systems")
    return root


TREE_FILES = [f"{KWS}/performance/log.txt", f"{KWS}/performance/results.txt", f"{KWS}/performance/script.async",
              f"{KWS}/energy/results.txt", f"{KWS}/energy/trace1-timestamps.json", f"{KWS}/energy/log.txt",
              "systems/system_description_NUCLEO_L4R5ZI_microtvm_cmsis_nn.json"]


@settings(max_examples=CLI_EXAMPLES)
@given(data=st.data())
def test_cli_published_on_mutated_trees(small_tree, data):
    rel = data.draw(st.sampled_from(TREE_FILES))
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(small_tree, tree)
        (tree / rel).write_bytes(data.draw(inputs((small_tree / rel).read_bytes())))
        code, out, err = _cli(["published", "--source", str(tree), "--format", "json"])
        assert code in DOCUMENTED and "Traceback" not in err, (code, err)
        if code in (0, 1):
            _strict_json(out)


@settings(max_examples=CLI_EXAMPLES)
@given(data=st.data())
def test_cli_diff_on_mutated_run_folders(small_tree, data):
    rel = data.draw(st.sampled_from(["log.txt", "run-info.json", "results.txt"]))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(small_tree / KWS / "performance", run)
        (run / "run-info.json").write_text(json.dumps({"dut_kind": "board", "backend": None}))
        seed = (run / rel).read_bytes()
        (run / rel).write_bytes(data.draw(inputs(seed)))
        code, out, err = _cli(["diff", "--published", str(small_tree / KWS / "performance"),
                               "--reproduced", str(run), "--labels", tmp, "--format", "json"])
        assert code in DOCUMENTED and "Traceback" not in err, (code, err)
        if code in (0, 1):
            _strict_json(out)
