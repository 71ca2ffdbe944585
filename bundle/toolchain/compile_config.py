"""The compile configuration of each published build, from bundle/data/compile.yaml.

How TVM compiled each model (not what `reproduce` runs: that is bundle/reproduce_config.py).

One `CompileConfig` per (variant, board, benchmark): everything the tvm image needs to
regenerate that build's Model Library Format, plus what the published code says it must
produce (the workspace size). Validated here; the compile script only applies it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bundle.catalogue import BENCHMARKS, MODELS
from bundle.datafile import load_yaml
from bundle.errors import ConfigError

HINT = "compare with the packaged default, bundle/data/compile.yaml"
BUILD_KEYS = {"variant", "board", "benchmark", "usmp", "workspace_size", "source"}
OPTIONAL_BUILD_KEYS = {"cause_test"}
# What a cause test may change, and to what (bundle/toolchain/tvm_compile.py's options).
CAUSE_OPTIONS = {"qnn_conv2d_legalize": ("int16",), "qnn_dense_legalize": ("int16",)}


@dataclass(frozen=True)
class CompileConfig:
    variant: str            # microtvm_native | microtvm_cmsis_nn
    board: str              # board folder of the code tree: NUCLEO_L4R5ZI | NRF5340DK
    benchmark: str
    usmp: bool
    workspace_size: int     # TVMGEN_DEFAULT_WORKSPACE_SIZE of the published header
    source: str             # where workspace_size was read
    target: str
    zephyr_board: str
    system_board: str       # board folder of the results tree (NRF5340-DK)
    cmsis_nn: bool
    tuning: str | None      # lock path of the AutoTVM records, or None
    executor: str
    executor_options: tuple[tuple[str, object], ...]
    runtime: str
    opt_level: int
    disable_vectorize: bool
    flash_bytes: int
    ram_bytes: int
    # A second compile with these options, to test a cause of a code difference (the verdict
    # stays the pinned compile's); `cause` says what the test would confirm.
    cause_test: tuple[tuple[str, str], ...] = ()
    cause: str = ""

    @property
    def model(self) -> str:
        return MODELS[self.benchmark]

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.board.lower()}-{self.benchmark}"

    @property
    def system(self) -> str:
        return f"{self.variant}/{self.system_board}"

    @property
    def code_path(self) -> str:
        """The published project, relative to closed/OctoML/code/."""
        return f"{self.variant}/{self.board}/{self.benchmark}"

    def as_dict(self) -> dict:
        return {"name": self.name, "variant": self.variant, "board": self.board, "system": self.system,
                "benchmark": self.benchmark, "model": self.model, "target": self.target,
                "zephyr_board": self.zephyr_board, "usmp": self.usmp, "workspace_size": self.workspace_size,
                "cmsis_nn": self.cmsis_nn, "tuning": self.tuning, "executor": self.executor,
                "executor_options": dict(self.executor_options), "runtime": self.runtime,
                "opt_level": self.opt_level, "disable_vectorize": self.disable_vectorize,
                "source": self.source, "cause_test": dict(self.cause_test), "cause": self.cause}


def _need(cond: bool, where: str, what: str) -> None:
    if not cond:
        raise ConfigError(f"{where}: {what}", hint=HINT)


def _build(raw: dict, i: int, common: dict, boards: dict, variants: dict, where: str) -> CompileConfig:
    at = f"{where}: builds[{i}]"
    _need(isinstance(raw, dict) and BUILD_KEYS <= set(raw) <= BUILD_KEYS | OPTIONAL_BUILD_KEYS, at,
          f"needs the keys {sorted(BUILD_KEYS)}, optionally {sorted(OPTIONAL_BUILD_KEYS)}")
    _need(raw["variant"] in variants, at, f"unknown variant {raw['variant']!r}")
    _need(raw["board"] in boards, at, f"unknown board {raw['board']!r}")
    _need(raw["benchmark"] in BENCHMARKS, at, f"unknown benchmark {raw['benchmark']!r}")
    _need(isinstance(raw["usmp"], bool), at, "usmp must be true or false")
    _need(isinstance(raw["workspace_size"], int) and raw["workspace_size"] >= 0, at,
          "workspace_size must be a byte count >= 0")
    options, cause = _cause_test(raw.get("cause_test"), at)
    board, variant = boards[raw["board"]], variants[raw["variant"]]
    tuning = None
    if variant["autotvm_records"]:
        tuning = f"{common['tuning_dir']}/microtvm_zephyr_{board['zephyr_board']}_{raw['benchmark']}.tune"
    return CompileConfig(
        variant=raw["variant"], board=raw["board"], benchmark=raw["benchmark"], usmp=raw["usmp"],
        workspace_size=raw["workspace_size"], source=str(raw["source"]), target=board["target"],
        zephyr_board=board["zephyr_board"], system_board=board["system_board"],
        cmsis_nn=bool(variant["cmsis_nn"]), tuning=tuning, executor=common["executor"],
        executor_options=tuple(sorted(common["executor_options"].items())), runtime=common["runtime"],
        opt_level=int(common["opt_level"]), disable_vectorize=bool(common["disable_vectorize"]),
        flash_bytes=int(board["flash_bytes"]), ram_bytes=int(board["ram_bytes"]),
        cause_test=options, cause=cause)


def _cause_test(raw, at: str) -> tuple[tuple[tuple[str, str], ...], str]:
    if raw is None:
        return (), ""
    where = f"{at}: cause_test"
    _need(isinstance(raw, dict) and set(raw) == {"options", "cause"}, where, "needs exactly `options` and `cause`")
    _need(isinstance(raw["cause"], str) and raw["cause"].strip(), where, "`cause` must say what the test confirms")
    opts = raw["options"]
    _need(isinstance(opts, dict) and opts, where, "`options` must map option names to values")
    for name, value in opts.items():
        _need(name in CAUSE_OPTIONS, where, f"unknown option {name!r} (known: {sorted(CAUSE_OPTIONS)})")
        _need(value in CAUSE_OPTIONS[name], where, f"{name} must be one of {list(CAUSE_OPTIONS[name])}")
    return tuple(sorted(opts.items())), raw["cause"].strip()


def load_compile_configs(path: Path | None = None) -> tuple[CompileConfig, ...]:
    raw, where = load_yaml(path, "compile.yaml")
    _need(raw.get("version") == 1, where, f"expected version: 1, got {raw.get('version')!r}")
    for key in ("common", "boards", "variants", "builds"):
        _need(key in raw, where, f"missing `{key}`")
    common, boards, variants = raw["common"], raw["boards"], raw["variants"]
    for key in ("executor", "executor_options", "runtime", "opt_level", "disable_vectorize", "tuning_dir"):
        _need(key in common, where, f"common: missing `{key}`")
    for name, board in boards.items():
        need = {"system_board", "zephyr_board", "target", "flash_bytes", "ram_bytes"}
        _need(isinstance(board, dict) and need <= set(board), where, f"boards.{name}: needs {sorted(need)}")
        _need(board["target"].startswith("c "), where, f"boards.{name}: target must be a C target")
    configs = tuple(_build(b, i, common, boards, variants, where) for i, b in enumerate(raw["builds"] or []))
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    _need(not dupes, where, f"duplicate builds: {dupes}")
    return configs


@cache
def compile_configs() -> tuple[CompileConfig, ...]:
    return load_compile_configs()


def config_for(name: str) -> CompileConfig:
    for cfg in compile_configs():
        if cfg.name == name:
            return cfg
    raise ConfigError(f"no compile configuration named {name!r}", hint=HINT)
