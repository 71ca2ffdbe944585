"""`tinyrepro run` finds a set made by `tinyrepro stimuli` in the cache without --stimuli."""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def test_run_uses_the_prepared_set_in_the_cache(tmp_path, fetcher):
    from bundle.stimuli.sources import labels_rows

    cache = tmp_path / "cache"
    folder = cache / "stimuli" / "ic01"
    folder.mkdir(parents=True)
    labels = fetcher.fetch("datasets/ic01/y_labels.csv")
    shutil.copyfile(labels, folder / "y_labels.csv")
    rng = np.random.default_rng(1)
    sums = []
    for name, _ in labels_rows(labels):  # synthetic pixels under the real names
        data = rng.integers(0, 256, 3072, dtype=np.uint8).tobytes()
        (folder / name).write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}\n")
    (folder / "SHA256SUMS").write_text("".join(sums))
    env = {k: v for k, v in os.environ.items() if k != "TINYREPRO_STIMULI"}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "bundle", "run", "--dut", "sim", "--benchmark", "ic",
                           "--mode", "accuracy", "--limit", "3", "--out", str(out), "--cache", str(cache),
                           "--mirror", str(fetcher.mirror)], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    log = (out / "log.txt").read_text()
    assert log.count("m-results-[") == 3
