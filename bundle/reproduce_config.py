"""What `tinyrepro reproduce` runs and compares (bundle/data/reproduce.yaml), validated.

A user file given with --config replaces the packaged default whole (no silent merging of
half-valid files). Not to be confused with bundle/toolchain/compile_config.py, how each
published model was compiled.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from bundle.catalogue import BENCHMARKS, MODES
from bundle.datafile import load_yaml
from bundle.errors import ConfigError


HINT = "compare with the packaged default, bundle/data/reproduce.yaml"


def _type_ok(value, hint) -> bool:
    origin = typing.get_origin(hint) or hint
    if origin is typing.Union or origin is types.UnionType:
        return any(_type_ok(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if not isinstance(origin, type) or not isinstance(value, origin):
        return False
    args = typing.get_args(hint)
    if origin is list and args:
        return all(_type_ok(v, args[0]) for v in value)
    if origin is dict and args:
        return all(_type_ok(k, args[0]) and _type_ok(v, args[1]) for k, v in value.items())
    return True


def _strict(cls, raw: dict, where: str):
    """Build dataclass `cls` from `raw`, refusing unknown or missing keys and wrong types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}", hint=HINT)
    names = {f.name for f in fields(cls)}
    unknown = set(raw) - names
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}", hint=f"allowed: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    for key, value in raw.items():
        if dataclasses.is_dataclass(hints[key]):
            continue  # validated by its own _strict call
        if not _type_ok(value, hints[key]):
            raise ConfigError(f"{where}: {key} must be {hints[key]}, got {value!r}", hint=HINT)
    try:
        return cls(**raw)
    except TypeError as err:
        raise ConfigError(f"{where}: {err}", hint=HINT) from None


@dataclass(frozen=True)
class SimBackend:
    compare_with: list[str]
    informational: str | None = None   # a reason: rows shown, never a verdict


@dataclass(frozen=True)
class SimConfig:
    backends: dict[str, SimBackend]
    baud: int
    accuracy_infer_ms: float
    performance_infer_ms: float
    performance_system: str
    # Line rate the sim emulates in reproduce's performance runs; 0: unthrottled (its
    # throughput is NOT_COMPARABLE whatever the pacing, so reproduce does not wait for it).
    performance_baud: int = 0


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
        raise ConfigError(f"{where}: expected version: 1, got {raw.get('version')!r}", hint=HINT)
    raw = dict(raw)
    sim = raw.get("sim") or {}
    if not isinstance(sim, dict):
        raise ConfigError(f"{where}: sim must be a mapping, got {type(sim).__name__}", hint=HINT)
    sim = dict(sim)
    if not isinstance(sim.get("backends"), dict):
        raise ConfigError(f"{where}: sim.backends must map backend names to {{compare_with: [...]}}", hint=HINT)
    sim["backends"] = {name: _strict(SimBackend, b, f"{where}: sim.backends.{name}")
                       for name, b in sim["backends"].items()}
    raw["sim"] = _strict(SimConfig, sim, f"{where}: sim")
    cfg = _strict(ReproduceConfig, raw, where)
    bad = [b for b in cfg.offline_benchmarks if b not in BENCHMARKS] + \
          [m for m in cfg.modes if m not in MODES]
    if bad:
        raise ConfigError(f"{where}: unknown benchmarks/modes {bad}", hint=f"use {BENCHMARKS} and {MODES}")
    strays = {s for b in cfg.sim.backends.values() for s in b.compare_with} - set(cfg.compare_systems)
    if strays:
        raise ConfigError(f"{where}: sim backends compare with systems not in compare_systems: {sorted(strays)}",
                          hint="add them to compare_systems")
    return cfg
