"""Toolchain pins (TVM, CMSIS, Zephyr, SDK commits and versions) from artifacts/lock.yaml.

The builds themselves are bundle/submission_builds.py; BUILDS is re-exported for the toolchain."""
from __future__ import annotations

from bundle.submission_builds import Build, load_builds, pins

TVM_SHA = pins()["tvm"]["commit"]
CMSIS_SHA = pins()["cmsis"]["commit"]
ZEPHYR_VERSION = pins()["zephyr"]["tag"]
ZEPHYR_SDK_VERSION = str(pins()["zephyr_sdk"]["version"])
BUILDS: tuple[Build, ...] = load_builds()

__all__ = ["BUILDS", "Build", "CMSIS_SHA", "TVM_SHA", "ZEPHYR_SDK_VERSION", "ZEPHYR_VERSION"]
