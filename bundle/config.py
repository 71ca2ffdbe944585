"""Versioned YAML configuration, validated into dataclasses.

Package defaults live in bundle/data/*.yaml; a user file given with --config
replaces the defaults whole (no silent merging of half-valid files).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import yaml

from bundle.errors import ConfigError

BENCHMARKS = ("kws", "ic", "vww", "ad")
MODES = ("accuracy", "performance", "energy")


def load_yaml(path: Path | None, default_name: str) -> tuple[dict, str]:
    """Load a user file, or the package default `bundle/data/<default_name>`."""
    try:
        if path is None:
            text = resources.files("bundle.data").joinpath(default_name).read_text()
            where = f"bundle/data/{default_name}"
        else:
            text, where = Path(path).read_text(), str(path)
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path or default_name}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at top level")
    return data, where


def _strict(cls, raw: dict, where: str):
    """Build dataclass `cls` from `raw`, refusing unknown or missing keys."""
    names = {f.name for f in fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}", hint=f"allowed: {sorted(names)}")
    try:
        return cls(**raw)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}") from None


@dataclass(frozen=True)
class SimConfig:
    backends: list[str]
    baud: int
    accuracy_infer_ms: float
    performance_infer_ms: float
    performance_system: str


@dataclass(frozen=True)
class ReproduceConfig:
    version: int
    compare_systems: list[str]
    offline_benchmarks: list[str]
    missing_stimuli_reason: dict[str, str]
    modes: list[str]
    sim: SimConfig


def load_reproduce_config(path: Path | None = None) -> ReproduceConfig:
    raw, where = load_yaml(path, "reproduce.yaml")
    if raw.get("version") != 1:
        raise ConfigError(f"{where}: expected version: 1, got {raw.get('version')!r}")
    raw = dict(raw)
    raw["sim"] = _strict(SimConfig, raw.get("sim") or {}, f"{where}: sim")
    cfg = _strict(ReproduceConfig, raw, where)
    bad = [b for b in cfg.offline_benchmarks if b not in BENCHMARKS] + \
          [m for m in cfg.modes if m not in MODES]
    if bad:
        raise ConfigError(f"{where}: unknown benchmarks/modes {bad}", hint=f"use {BENCHMARKS} and {MODES}")
    return cfg
