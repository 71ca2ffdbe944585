"""LiteRT (TFLite) backends: run the .tflite file on the host.

Two kernel sets, chosen by backend name, because they round int8
requantisation differently and each matches a different published variant
(KWS, 1000 stimuli, printed at 3 decimals):
  litert      default kernels with the XNNPACK delegate: 998/1000 vectors equal
              to OctoML's microtvm_native log, Top-1 90.2 %
  litert-ref  TFLite reference kernels (what TFLite Micro is ported from):
              991/1000 equal to the microtvm_cmsis_nn log, Top-1 90.1 %
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

from bundle.catalogue import BENCHMARKS
from bundle.errors import ConfigError
from bundle.models.base import ModelBackend
from bundle.models.tensors import TensorSpec, check_fits, to_input, to_values


class LiteRTBackend(ModelBackend):
    name = "litert"
    capabilities = {
        "bit_exact_reference": False,
        "compiles": False,
        "kernels": "xnnpack",
        "requires": ["ai_edge_litert"],
        "benchmarks": list(BENCHMARKS),   # every catalogued benchmark
    }

    _op_resolver: ClassVar[str] = "AUTO"

    def __init__(self, model_path: Path, benchmark: str, cache_dir: Path | None = None):
        super().__init__(model_path, benchmark, cache_dir)
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        try:
            self._interp = Interpreter(
                model_path=str(self.model_path), num_threads=1,
                experimental_op_resolver_type=OpResolverType[self._op_resolver])
        except ValueError as exc:
            raise ConfigError(f"LiteRT cannot load {self.model_path.name}: {exc}",
                              hint="check that the file is a .tflite model (re-fetch it)") from exc
        self._interp.allocate_tensors()
        inputs, outputs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ConfigError(f"{self.model_path.name}: expected one input and one output tensor",
                              hint="the MLPerf Tiny reference models have exactly one of each")
        (inp,), (out,) = inputs, outputs
        self._in_index, self._out_index = inp["index"], out["index"]
        self.input_spec, self.output_spec = _spec(inp), _spec(out)
        check_fits(self.benchmark, self.input_spec, self.model_path.name)

    def infer(self, data: bytes) -> list[float]:
        self._check_size(data)
        self._interp.set_tensor(self._in_index, to_input(data, self.benchmark, self.input_spec))
        self._interp.invoke()
        return to_values(self._interp.get_tensor(self._out_index), self.benchmark,
                         self.output_spec, data)


class LiteRTRefBackend(LiteRTBackend):
    name = "litert-ref"
    capabilities = {**LiteRTBackend.capabilities, "bit_exact_reference": True,
                    "kernels": "reference"}
    _op_resolver = "BUILTIN_REF"


def _spec(detail: dict) -> TensorSpec:
    scale, zero_point = detail["quantization"]
    return TensorSpec(tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"]),
                      float(scale), int(zero_point))
