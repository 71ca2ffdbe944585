"""One bad-input corpus per reader of an outside file: tests/corpus/readers/<reader>/.

Each reader folder holds its cases (a file, or a folder for readers that take one) and an
`expect.yaml` naming, per case, the error class (bundle.errors) and a fragment of the
message. Every case must end in that error, with a hint and a documented exit code:
never a traceback, never a silent value.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bundle import errors
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
from bundle.runner.rundir import read_owner
from bundle.runner.stimuli import plan_stimuli, stimuli_manifest

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "readers"
DOCUMENTED = {errors.EXIT_USAGE, errors.EXIT_CONFIG, errors.EXIT_FETCH, errors.EXIT_PARSE, errors.EXIT_DUT,
              errors.EXIT_IO}


def _labels(path: Path, tmp: Path):
    (tmp / "kws01").mkdir()
    shutil.copyfile(path, tmp / "kws01" / "y_labels.csv")
    return load_labels(tmp, "kws")


def _stimuli(path: Path, tmp: Path):
    folder = path / "kws01"
    return stimuli_manifest(folder, plan_stimuli(folder, "kws", "accuracy"))


def _journal(path: Path, tmp: Path):
    shutil.copyfile(path, tmp / "run.jsonl")
    return Journal(tmp / "run.jsonl").records()


# reader name -> how the product reads such a file (the same function the CLI reaches)
READERS = {
    "lock": lambda p, tmp: load_lock(p),
    "config": lambda p, tmp: load_reproduce_config(p),
    "policy": lambda p, tmp: load_policy(p),
    "labels": _labels,
    "stimuli": _stimuli,
    "log": lambda p, tmp: parse_log(p),
    "results": lambda p, tmp: parse_results(p),
    "script": lambda p, tmp: parse_script(p),
    "trace": lambda p, tmp: read_trace(p),
    "timestamps": lambda p, tmp: read_timestamps(p),
    "system_json": lambda p, tmp: read_json_lenient(p),
    "run_info": lambda p, tmp: read_run_info(p),
    "journal": _journal,
    "owner": lambda p, tmp: read_owner(p),
}


def _cases():
    for reader in sorted(READERS):
        expect = yaml.safe_load((CORPUS / reader / "expect.yaml").read_text())
        for name, want in sorted(expect.items()):
            yield pytest.param(reader, name, want, id=f"{reader}/{name}")


def test_every_reader_has_a_corpus():
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(READERS)


@pytest.mark.parametrize("reader,name,want", list(_cases()))
def test_bad_file(reader, name, want, tmp_path):
    with pytest.raises(getattr(errors, want["error"])) as info:
        READERS[reader](CORPUS / reader / name, tmp_path)
    assert want["message"] in str(info.value)
    assert info.value.hint, "every error tells the user what to do"
    assert info.value.exit_code in DOCUMENTED
