#!/usr/bin/env python3
"""Regenerate the `files:` section of artifacts/lock.yaml from a verified copy of the inputs.

usage: scripts/make_lock.py MIRROR_DIR [LOCK]

MIRROR_DIR holds the inputs at their lock-relative paths plus a SHA256SUMS file
(as ../shared/data does). Every file gets its upstream repository, commit and path from
the rules below, its size, and its SHA-256 (recomputed here and checked against
SHA256SUMS). The other sections of the lock (sources, toolchain) are kept as they are.
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import yaml

# (lock-relative prefix, source id, upstream prefix). First match wins.
RULES = [
    ("published/octoml-v1.0/tuning/microtvm_zephyr_nucleo_l4r5zi_", "tiny_results_v1.0",
     "closed/OctoML/code/microtvm_native/NUCLEO_L4R5ZI/{model}/microtvm_zephyr_nucleo_l4r5zi_"),
    ("published/octoml-v1.0/", "tiny_results_v1.0", "closed/OctoML/"),
    ("samples/silicon_labs-v1.0/", "tiny_results_v1.0", "closed/silicon_labs/"),
    ("models/model_ToyCar_quant_fullint_micro.tflite", "tiny",
     "benchmark/training/anomaly_detection/trained_models/ToyCar/baseline_tf23/model/model_ToyCar_quant_fullint_micro.tflite"),
    ("models/ad01_int8.tflite", "tiny", "benchmark/training/anomaly_detection/trained_models/ad01_int8.tflite"),
    ("models/kws_ref_model.tflite", "tiny", "benchmark/training/keyword_spotting/trained_models/kws_ref_model.tflite"),
    ("models/pretrainedResnet_quant.tflite", "tiny",
     "benchmark/training/image_classification/trained_models/pretrainedResnet_quant.tflite"),
    ("models/vww_96_int8.tflite", "tiny", "benchmark/training/visual_wake_words/trained_models/vww_96_int8.tflite"),
    ("datasets/ic01/", "tiny", "benchmark/evaluation/datasets/ic01/"),
    ("datasets/", "energyrunner", "datasets/"),
]


# In the mirror but not inputs of the reproduction: the mirror's own description, and a sample
# of another submitter's layout (tests build their own copies from it).
NOT_INPUTS = ("README.md", "samples/")


def upstream_for(rel: str) -> tuple[str, str]:
    for prefix, source, upstream in RULES:
        if rel.startswith(prefix):
            rest = rel[len(prefix):]
            if "{model}" in upstream:
                model = rest.split(".")[0]
                upstream = upstream.format(model=model)
            return source, upstream + rest
    raise SystemExit(f"no upstream rule for {rel}")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str]) -> int:
    mirror = Path(argv[1])
    lock_path = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parents[1] / "artifacts/lock.yaml"
    lock = yaml.safe_load(lock_path.read_text())
    files = []
    for line in (mirror / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split(maxsplit=1)
        rel = rel.lstrip("*")
        if rel.startswith(NOT_INPUTS):
            continue
        path = mirror / rel
        if sha256(path) != digest:
            raise SystemExit(f"{rel}: SHA-256 differs from SHA256SUMS")
        source, upstream = upstream_for(rel)
        files.append({"path": rel, "source": source, "upstream": upstream,
                      "size": path.stat().st_size, "sha256": digest})
    lock["files"] = sorted(files, key=lambda f: f["path"])
    head = lock_path.read_text().split("\nfiles:")[0]
    body = yaml.safe_dump({"files": lock["files"]}, sort_keys=False, width=200)
    lock_path.write_text(head.rstrip() + "\n" + body)
    print(f"{lock_path}: {len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
