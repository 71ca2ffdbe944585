"""What a run's DUT is, as one immutable record: `DutSpec`.

`tinyrepro run` builds it from its options, `tinyrepro reproduce` from the DUT chooser
(bundle/dut/select.py); both open it with `open_dut(spec)` through the DUT registry.

Across a container boundary the spec travels as one JSON file (`write_spec`), written by
`reproduce` and read by `tinyrepro run --dut-spec FILE`. That file holds exactly the DUT part
of the run folder's run-info.json, under run-info.json's keys, so run folders written before
the spec existed still load (`from_run_info`):
  dut_kind            board | sim | host | emulated (the kind's Capabilities.dut_kind)
  backend             sim: the model runtime; host/qemu started by reproduce: "<project>@<digest>"
  emulated_infer_ms   sim: emulated ms per inference
  dut, build, program_digest, code   host/qemu: the kind and the firmware project it runs
The port (it differs in and out of a container), the probe and the sim's start options are
not recorded: they say where and how, not what.
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from bundle.dut.base import KINDS, Dut, get_dut
from bundle.errors import ParseError, UsageError

SPEC_HINT = "the DUT spec is written by `tinyrepro reproduce`; omit --dut-spec and use --dut to run by hand"
MAX_SPEC_BYTES = 64 << 10


@dataclass(frozen=True)
class DutSpec:
    kind: str                       # registry name: sim | board | host | qemu
    runtime: str | None = None      # sim: the model runtime standing in for the firmware (bundle.models)
    infer_ms: float | None = None   # sim: emulated ms per inference
    build: str | None = None        # <variant>/<board>/<benchmark>: the firmware it runs or carries
    program: str | None = None      # host/qemu started by reproduce: "<project>@<digest>"
    program_digest: str | None = None
    code: str | None = None         # host/qemu: the code tree the program was built from
    port: str | None = None         # where it already answers; None: the run starts it
    probe: str | None = None        # board: the USB device of its flashing probe
    line_baud: int = 0              # sim: emulated line rate (0: unthrottled)
    faults: str = ""                # sim: fault injection spec
    seed: int = 0                   # sim: fault seed

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise UsageError(f"unknown DUT kind {self.kind!r}", hint=f"use one of: {', '.join(KINDS)}")
        if self.kind != "sim" and (self.runtime is not None or self.infer_ms is not None):
            raise UsageError(f"a model runtime and an emulated inference time describe a software DUT, "
                             f"not a {self.kind} DUT", hint="set them only for kind sim")
        if self.kind not in ("host", "qemu") and self.program is not None:
            raise UsageError(f"a built program describes a host or qemu DUT, not a {self.kind} DUT",
                             hint="set it only for kind host or qemu")

    @property
    def capabilities(self):
        return get_dut(self.kind).capabilities

    def at(self, port: str | None) -> "DutSpec":
        """The same DUT, reached at `port`."""
        return replace(self, port=port)

    def to_run_info(self) -> dict:
        """The DUT part of run-info.json (and the whole of a spec file)."""
        info = {"dut_kind": self.capabilities.dut_kind,
                "backend": self.runtime if self.kind == "sim" else self.program,
                "emulated_infer_ms": self.infer_ms if self.kind == "sim" else None}
        if self.kind in ("host", "qemu"):
            info["dut"] = self.kind
        extra = {"build": self.build, "program_digest": self.program_digest, "code": self.code}
        return {**info, **{k: v for k, v in extra.items() if v is not None}}


def _kind_of(info: dict) -> str:
    if info.get("dut") in KINDS:
        return info["dut"]
    by_dut_kind = {get_dut(k).capabilities.dut_kind: k for k in KINDS}
    kind = by_dut_kind.get(info.get("dut_kind"))
    if kind is None:
        raise ValueError(f"dut_kind {info.get('dut_kind')!r} is not one of {sorted(by_dut_kind)}")
    return kind


def from_run_info(info: dict) -> DutSpec:
    """The spec a run-info.json (or a spec file) describes; ValueError naming a bad field."""
    kind = _kind_of(info)
    texts = {k: info.get(k) for k in ("backend", "build", "program_digest", "code")}
    for key, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{key} {value!r} is not text")
    ms = info.get("emulated_infer_ms")
    if ms is not None and (isinstance(ms, bool) or not isinstance(ms, (int, float)) or not 0 <= ms <= 3_600_000):
        raise ValueError(f"emulated_infer_ms {ms!r} is not a time in ms")
    native = kind in ("host", "qemu")
    # a field that does not fit the kind (a board with a runtime) is refused by DutSpec
    return DutSpec(kind, runtime=None if native else texts["backend"], infer_ms=None if ms is None else float(ms),
                   program=texts["backend"] if native else None, build=texts["build"],
                   program_digest=texts["program_digest"], code=texts["code"])


def write_spec(path: Path, spec: DutSpec) -> Path:
    """The spec file `tinyrepro run --dut-spec` reads."""
    from bundle import jsonout
    from bundle.fsutil import atomic_output, writing

    path = Path(path)
    with writing(path), atomic_output(path) as tmp:
        tmp.write_text(jsonout.dumps(spec.to_run_info(), indent=2) + "\n", encoding="utf-8")
    return path


def read_spec(path: Path) -> DutSpec:
    """A spec file; ParseError (exit 5) naming the file when it is not one."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise ParseError(f"{path}: too large for a DUT spec", hint=SPEC_HINT)
        info = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(info, dict):
            raise ValueError(f"expected a JSON object, found {type(info).__name__}")
        return from_run_info(info)
    except OSError as exc:
        raise ParseError(f"{path}: cannot read the DUT spec ({exc.strerror or exc})", hint=SPEC_HINT) from None
    except UsageError as err:     # fields that contradict each other
        raise UsageError(f"{path}: {err.message}", hint=SPEC_HINT) from None
    except (ValueError, RecursionError) as exc:   # JSONDecodeError, UnicodeDecodeError too
        raise ParseError(f"{path}: not a DUT spec ({str(exc)[:160]})", hint=SPEC_HINT) from None


def make_dut(spec: DutSpec, **resources) -> Dut:
    """The DUT the spec describes, from the registry. `resources` are what the run has in hand
    and the spec does not record: `program` (host/qemu: the built program), `model`,
    `benchmark`, `mirror` (sim), `flasher` (board)."""
    return get_dut(spec.kind).from_spec(spec, **resources)


@contextlib.contextmanager
def open_dut(spec: DutSpec, build: str | None = None, dut: Dut | None = None, **resources) -> Iterator[str]:
    """`with open_dut(spec) as port:` - the DUT prepared for `build` (a board is flashed with
    it) and opened; yields its port URL. `dut`: one made before (`make_dut`) and kept across
    runs, so what it was prepared with holds (a board is not flashed again with its build)."""
    dut = make_dut(spec, **resources) if dut is None else dut
    dut.prepare(build or spec.build)
    with dut.open() as port:
        yield port
