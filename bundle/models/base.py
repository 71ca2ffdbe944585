"""The model-runtime interface used by the software DUT (bundle/dut/sim.py).

A backend plays the part of the board firmware's model code: `infer` takes the
stimulus bytes exactly as EnergyRunner downloads them with `db` (what
th_load_tensor reads) and returns the floats that th_results prints, before
3-decimal formatting (which is the DUT's job, not ours).

Backends are chosen by name and declare what they can do as data
(`capabilities`), so callers never import a runtime they cannot use.
"""
from __future__ import annotations

import importlib
import importlib.util
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from bundle.catalogue import catalogue
from bundle.errors import ConfigError, DutError, StageUnavailable

# Bytes per stimulus, as EnergyRunner sends them (the catalogue's input_bytes).
INPUT_SIZES: dict[str, int] = {name: b.input_bytes for name, b in catalogue().benchmarks.items()}

# name -> "module:Class"; imported lazily so that listing backends never
# imports TVM or LiteRT.
_REGISTRY: dict[str, str] = {
    "litert": "bundle.models.litert:LiteRTBackend",
    "litert-ref": "bundle.models.litert:LiteRTRefBackend",
    "tvm": "bundle.models.tvm_relax:TvmRelaxBackend",
}
BACKENDS = tuple(_REGISTRY)   # the names a --backend option accepts


class BackendUnavailable(StageUnavailable):
    """A backend's optional runtime package is not installed on this host."""


class ModelInputError(DutError):
    """The stimulus does not fit the model (wrong byte count)."""


class ModelBackend(ABC):
    name: ClassVar[str]
    # e.g. {"bit_exact_reference": True, "compiles": False,
    #       "requires": ["ai_edge_litert"], "benchmarks": ["kws", "ic", "vww", "ad"]}
    capabilities: ClassVar[dict]

    def __init__(self, model_path: Path, benchmark: str, cache_dir: Path | None = None):
        self.model_path = Path(model_path)
        self.benchmark = check_benchmark(benchmark, self.capabilities["benchmarks"])
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.input_size: int = INPUT_SIZES[self.benchmark]
        if not self.model_path.is_file():
            raise ConfigError(f"model file not found: {self.model_path}",
                              hint="fetch it first: tinyrepro fetch models/")
        require_packages(self.name, self.capabilities["requires"])

    @abstractmethod
    def infer(self, data: bytes) -> list[float]:
        """Stimulus bytes -> the values th_results prints (unformatted floats)."""

    def _check_size(self, data: bytes) -> None:
        if len(data) != self.input_size:
            raise ModelInputError(
                f"{self.benchmark}: stimulus has {len(data)} bytes, model needs {self.input_size}",
                hint="send exactly one stimulus (for ad: one 2560-byte window) per inference")


def check_benchmark(benchmark: str, supported: list[str]) -> str:
    if benchmark not in INPUT_SIZES or benchmark not in supported:
        raise ConfigError(f"unknown benchmark {benchmark!r}",
                          hint=f"use one of: {', '.join(supported)}")
    return benchmark


def require_packages(backend: str, modules: list[str]) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pip_names = " ".join(_PIP_NAMES.get(m, m) for m in missing)
        raise BackendUnavailable(
            f"model backend {backend!r} needs {', '.join(missing)}, which is not installed",
            hint=f"pip install {pip_names}  (or: pip install 'tinyrepro[models]')")


# import name -> PyPI name, for hints
_PIP_NAMES = {"ai_edge_litert": "ai-edge-litert", "tvm": "apache-tvm", "tflite": "tflite"}


def get_backend(name: str) -> type[ModelBackend]:
    target = _REGISTRY.get(name)
    if target is None:
        raise ConfigError(f"unknown model backend {name!r}",
                          hint=f"use one of: {', '.join(sorted(_REGISTRY))}")
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def available_backends() -> dict[str, str | None]:
    """name -> None if usable on this host, else the reason it is not."""
    out: dict[str, str | None] = {}
    for name in _REGISTRY:
        try:
            require_packages(name, get_backend(name).capabilities["requires"])
            out[name] = None
        except BackendUnavailable as exc:
            out[name] = exc.message
    return out
