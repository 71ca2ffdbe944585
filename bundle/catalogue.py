"""The benchmark catalogue: bundle/data/benchmarks.yaml as typed, immutable records.

The one place the four benchmarks are described (dataset, model, stimulus size and type,
outputs, scoring, where the stimuli come from) and the modes with their metrics. Modules
read `benchmark(name)`, `BENCHMARKS`, `MODES` ... from here instead of writing their own table.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from bundle.datafile import load_yaml
from bundle.errors import ConfigError

FILE = "benchmarks.yaml"
HINT = "compare with bundle/data/benchmarks.yaml in the package"
DTYPE_BYTES = {"int8": 1, "uint8": 1, "float32": 4}
SCORINGS = ("classifier", "anomaly")
PINNED = "pinned"
KEYS = {"dataset", "model", "input_bytes", "input_dtype", "outputs", "db_buffer_bytes", "scoring", "stimuli",
        "stimulus_file_bytes"}


@dataclass(frozen=True)
class Benchmark:
    name: str                 # kws | ic | vww | ad
    dataset: str              # EEMBC dataset folder and the firmware's model name: kws01 ...
    model: str                # reference .tflite under models/ in the lock
    input_bytes: int          # one stimulus as `db` sends it
    input_dtype: str          # int8 | uint8 | float32
    outputs: int              # values per m-results line
    db_buffer_bytes: int      # the software DUT's db buffer
    scoring: str              # classifier | anomaly
    stimuli: str              # "pinned", or the public data set they are derived from
    stimulus_file_bytes: int | None = None   # size of every prepared file of a derived set

    @property
    def input_elements(self) -> int:
        return self.input_bytes // DTYPE_BYTES[self.input_dtype]

    @property
    def stimuli_pinned(self) -> bool:
        return self.stimuli == PINNED


@dataclass(frozen=True)
class Catalogue:
    benchmarks: dict[str, Benchmark]
    modes: dict[str, tuple[str, ...]]     # mode -> metric names, in report order


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {what}", hint=HINT)


def _benchmark(name: str, raw, where: str) -> Benchmark:
    at = f"{where}: benchmarks.{name}"
    _need(isinstance(raw, dict), at, "expected a mapping")
    _need(set(raw) <= KEYS and KEYS - {"stimulus_file_bytes"} <= set(raw), at, f"needs the keys {sorted(KEYS)}")
    for key in ("input_bytes", "outputs", "db_buffer_bytes"):
        _need(isinstance(raw[key], int) and raw[key] > 0, at, f"{key} must be a positive integer")
    _need(raw["input_dtype"] in DTYPE_BYTES, at, f"input_dtype must be one of {sorted(DTYPE_BYTES)}")
    _need(raw["scoring"] in SCORINGS, at, f"scoring must be one of {SCORINGS}")
    _need(raw["input_bytes"] % DTYPE_BYTES[raw["input_dtype"]] == 0, at, "input_bytes is not whole values")
    return Benchmark(name=name, **{k: raw[k] for k in sorted(raw)})


def load_catalogue() -> Catalogue:
    raw, where = load_yaml(None, FILE)
    _need(raw.get("version") == 1, where, f"expected version: 1, got {raw.get('version')!r}")
    benches, modes = raw.get("benchmarks"), raw.get("modes")
    _need(isinstance(benches, dict) and bool(benches), where, "`benchmarks` must map names to entries")
    _need(isinstance(modes, dict) and all(isinstance(m, list) for m in modes.values()), where,
          "`modes` must map each mode to its metric names")
    return Catalogue({n: _benchmark(n, b, where) for n, b in benches.items()},
                     {m: tuple(metrics) for m, metrics in modes.items()})


@cache
def catalogue() -> Catalogue:
    return load_catalogue()


def benchmark(name: str) -> Benchmark:
    try:
        return catalogue().benchmarks[name]
    except KeyError:
        raise ConfigError(f"unknown benchmark {name!r}", hint=f"use one of {', '.join(BENCHMARKS)}") from None


def by_dataset(dataset: str) -> Benchmark | None:
    """The benchmark whose dataset (the model name a log states) is `dataset`, or None."""
    return next((b for b in catalogue().benchmarks.values() if b.dataset == dataset), None)


BENCHMARKS: tuple[str, ...] = tuple(catalogue().benchmarks)
MODES: tuple[str, ...] = tuple(catalogue().modes)
MODE_METRICS: dict[str, tuple[str, ...]] = dict(catalogue().modes)
METRICS: tuple[str, ...] = tuple(m for metrics in catalogue().modes.values() for m in metrics)
# benchmark -> EEMBC dataset (kws -> kws01), the view most callers need.
DATASETS: dict[str, str] = {b.name: b.dataset for b in catalogue().benchmarks.values()}
# benchmark -> reference model file (models/ in the lock).
MODELS: dict[str, str] = {b.name: b.model for b in catalogue().benchmarks.values()}
