"""TVM backend: compiles the .tflite with the Relax TFLite frontend and runs it
on the host with the Relax VM.

This is today's TVM, not OctoML's 2022 microTVM: there is no microTVM in 0.27,
and the Relax frontend lowers quantised ops through float (dequantize -> op ->
quantize), so its outputs need not equal the integer kernels. On the 1000 KWS stimuli
(3 decimals) it gives Top-1 89.7 % and 507/1000 vectors equal to the litert
backend (991 same class); that is reported as it comes out, not tuned.

Compiled libraries are cached on disk, keyed by model SHA-256, TVM version and
target; an entry whose recorded hash does not match is rebuilt, never loaded.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from bundle.catalogue import BENCHMARKS
from bundle.errors import ConfigError, EngineError
from bundle.fsutil import sha256_file as _sha256
from bundle.models.base import ModelBackend
from bundle.models.tensors import TensorSpec, check_fits, to_input, to_values

log = logging.getLogger(__name__)

_LIB = "model.so"
_META = "meta.json"


class TvmRelaxBackend(ModelBackend):
    name = "tvm"
    capabilities = {
        "bit_exact_reference": False,
        "compiles": True,
        "requires": ["tvm", "tflite"],
        "benchmarks": list(BENCHMARKS),   # every catalogued benchmark
    }

    def __init__(self, model_path: Path, benchmark: str, cache_dir: Path | None = None):
        super().__init__(model_path, benchmark, cache_dir)
        import tvm
        from tvm import relax

        model_bytes = self.model_path.read_bytes()
        self.input_spec, self.output_spec = _io_specs(model_bytes, self.model_path.name)
        check_fits(self.benchmark, self.input_spec, self.model_path.name)
        self.target = host_target()
        self.cache_hit = False
        key = cache_key(model_bytes, tvm.__version__, self.target)
        if self.cache_dir is None:
            module = _compile(model_bytes, self.target, self.model_path.name)
        else:
            module = self._cached_module(model_bytes, key)
        self._vm = relax.VirtualMachine(module, tvm.cpu())
        self._tensor = tvm.runtime.tensor

    def infer(self, data: bytes) -> list[float]:
        self._check_size(data)
        x = to_input(data, self.benchmark, self.input_spec)
        out = self._vm["main"](self._tensor(x)).numpy()
        return to_values(out, self.benchmark, self.output_spec, data)

    def _cached_module(self, model_bytes: bytes, key: dict):
        entry = self.cache_dir / key["digest"]
        module = _load_entry(entry, key)
        if module is not None:
            self.cache_hit = True
            return module
        executable = _compile(model_bytes, self.target, self.model_path.name)
        try:
            _store_entry(entry, key, executable)
        except (OSError, RuntimeError) as exc:
            # A cache that cannot be written costs time, not correctness.
            log.warning("TVM cache not written (%s): %s", entry, exc)
        return executable


def host_target() -> str:
    """llvm when this TVM build has it, else the C backend (needs a host cc)."""
    import tvm

    try:
        return "llvm" if tvm.runtime.enabled("llvm") else "c"
    except RuntimeError:  # TVM's errors derive from it; an unknown runtime name raises
        return "c"


def cache_key(model_bytes: bytes, tvm_version: str, target: str) -> dict:
    fields = {"model_sha256": hashlib.sha256(model_bytes).hexdigest(),
              "tvm": tvm_version, "target": target}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:32]
    return {**fields, "digest": digest}


def _compile(model_bytes: bytes, target: str, label: str):
    import tflite
    import tvm
    from tvm.relax.frontend.tflite import from_tflite

    try:
        mod = from_tflite(tflite.Model.GetRootAsModel(model_bytes, 0))
        return tvm.compile(mod, target=tvm.target.Target(target))
    except Exception as exc:  # TVM raises many unrelated types for unsupported graphs
        raise EngineError(f"TVM could not compile {label}: {type(exc).__name__}: {exc}",
                          hint="use the litert backend, or report the unsupported operator") from exc


def _load_entry(entry: Path, key: dict):
    """The cached module, or None when absent, stale or corrupt."""
    import tvm

    try:
        meta = json.loads((entry / _META).read_text())
        lib = entry / _LIB
        if {k: meta.get(k) for k in key} != key or meta.get("lib_sha256") != _sha256(lib):
            raise ValueError("cache entry does not match its record")
        return tvm.runtime.load_module(str(lib))
    except FileNotFoundError:
        return None
    except Exception as exc:  # corrupt JSON, truncated .so, dlopen failure: rebuild
        log.warning("discarding TVM cache entry %s: %s", entry, exc)
        return None


def _store_entry(entry: Path, key: dict, executable) -> None:
    entry.mkdir(parents=True, exist_ok=True)
    # Write to temporary names and rename, so a crash never leaves a half entry
    # that matches its record; the record is written last.
    fd, tmp_lib = tempfile.mkstemp(suffix=".so", dir=entry)
    os.close(fd)
    try:
        executable.export_library(tmp_lib)
        os.replace(tmp_lib, entry / _LIB)
    finally:
        Path(tmp_lib).unlink(missing_ok=True)
    meta = {**key, "lib_sha256": _sha256(entry / _LIB)}
    tmp_meta = entry / f"{_META}.tmp"
    tmp_meta.write_text(json.dumps(meta, indent=1))
    os.replace(tmp_meta, entry / _META)


def _io_specs(model_bytes: bytes, label: str) -> tuple[TensorSpec, TensorSpec]:
    """Input and output tensor specs read from the flatbuffer itself."""
    import tflite

    bad = ConfigError(f"{label} is not a readable .tflite model",
                      hint="re-fetch it: the file is truncated or of another format")
    # Without this check a non-model file is read as if it were one.
    if len(model_bytes) < 8 or model_bytes[4:8] != b"TFL3":
        raise bad
    try:
        graph = tflite.Model.GetRootAsModel(model_bytes, 0).Subgraphs(0)
        n_in, n_out = graph.InputsLength(), graph.OutputsLength()
        specs = (_tensor_spec(graph.Tensors(graph.Inputs(0))),
                 _tensor_spec(graph.Tensors(graph.Outputs(0))))
    except (struct.error, IndexError, TypeError, AttributeError) as exc:
        raise bad from exc
    if n_in != 1 or n_out != 1:
        raise ConfigError(f"{label}: expected one input and one output tensor",
                          hint="the MLPerf Tiny reference models have exactly one of each")
    return specs


_DTYPES = {"INT8": np.int8, "UINT8": np.uint8, "FLOAT32": np.float32, "INT16": np.int16}


def _tensor_spec(tensor) -> TensorSpec:
    from tflite.TensorType import TensorType

    type_name = {v: k for k, v in vars(TensorType).items() if k.isupper()}[tensor.Type()]
    if type_name not in _DTYPES:
        raise ConfigError(f"unsupported model I/O type {type_name}",
                          hint="use an int8, uint8 or float32 I/O model")
    q = tensor.Quantization()
    scale = float(q.ScaleAsNumpy()[0]) if q is not None and q.ScaleLength() else 0.0
    zero = int(q.ZeroPointAsNumpy()[0]) if q is not None and q.ZeroPointLength() else 0
    return TensorSpec(tuple(int(d) for d in tensor.ShapeAsNumpy()), np.dtype(_DTYPES[type_name]),
                      scale, zero)
