"""The run stage's cache key reads every bundle module a real run executes: `tinyrepro run`
against the software DUT (real fetch from the mirror, real LiteRT) in a fresh interpreter,
its imported modules against the files the key digests (bundle/codedeps.py finds them from
the source; a module loaded by a computed name would escape it, and a run reused from the
cache would then miss that module's change)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bundle.codedeps import closure
from bundle.pipeline.run import RunBenchmarks

REPO = Path(__file__).resolve().parents[2]

# The `run` command alone, as the CLI dispatches it (the CLI imports every command to list
# them in --help; those are not part of a run).
SCRIPT = """
import argparse, json, sys
from bundle.commands import run as command
parser = argparse.ArgumentParser()
command.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
code = args.func(args)
files = sorted({m.__file__ for m in list(sys.modules.values())
                if getattr(m, "__file__", None) and (m.__name__ == "bundle" or m.__name__.startswith("bundle."))})
print("MODULES " + json.dumps(files))
raise SystemExit(code)
"""


def test_every_module_a_software_dut_run_imports_is_in_its_key(fetcher, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "run", "--dut", "sim", "--backend", "litert", "--benchmark", "kws",
         "--mode", "accuracy", "--limit", "3", "--out", str(tmp_path / "run"),
         "--cache", str(fetcher.cache_dir), "--mirror", str(fetcher.mirror)],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("MODULES "))
    imported = {Path(f).resolve() for f in json.loads(line[len("MODULES "):])}
    keyed = {p.resolve() for p in closure(REPO, RunBenchmarks.code)}
    assert len(imported) > 30 and not imported - keyed, sorted(str(p) for p in imported - keyed)
