"""Stimulus bytes -> model input, model output -> printed values.

Shared by every backend so that LiteRT and TVM see identical inputs and their
outputs go through identical post-processing; only the runtime differs.
The rules follow the mlcommons/tiny reference firmware (th_load_tensor and
th_results); OctoML's published KWS log agrees with them (998/1000 vectors).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bundle.errors import ConfigError


@dataclass(frozen=True)
class TensorSpec:
    """Shape, dtype and affine quantisation of one model input or output."""

    shape: tuple[int, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0

    @property
    def quantized(self) -> bool:
        return self.scale != 0.0 and np.issubdtype(self.dtype, np.integer)


def check_fits(benchmark: str, spec: TensorSpec, model_name: str) -> None:
    """Refuse a model whose input cannot hold one stimulus of this benchmark."""
    from bundle.catalogue import benchmark as catalogued

    elements = catalogued(benchmark).input_elements
    if int(np.prod(spec.shape)) != elements:
        raise ConfigError(f"{model_name}: input shape {spec.shape} does not take a {benchmark} "
                          f"stimulus ({elements} values)",
                          hint="pair each benchmark with its own model (see bundle/dut/sim.py)")


def to_input(data: bytes, benchmark: str, spec: TensorSpec) -> np.ndarray:
    """What th_load_tensor puts in the model's input tensor."""
    if benchmark == "kws":
        x = _kws_input(data, spec)
    elif benchmark in ("ic", "vww"):
        x = _image_input(data, spec)
    elif benchmark == "ad":
        x = quantize(ad_window(data), spec) if spec.quantized else ad_window(data)
    else:
        raise ConfigError(f"unknown benchmark {benchmark!r}", hint="use kws, ic, vww or ad")
    return x.astype(spec.dtype, copy=False).reshape(spec.shape)


def to_values(output: np.ndarray, benchmark: str, spec: TensorSpec, data: bytes) -> list[float]:
    """What th_results prints, as floats (formatting is the DUT's job)."""
    y = dequantize(output, spec)
    if benchmark == "ad":
        # The AD firmware prints the reconstruction error of the window it was sent.
        x = ad_window(data).astype(np.float64)
        return [float(np.mean((x - y.reshape(-1)) ** 2))]
    return [float(v) for v in y.reshape(-1)]


def ad_window(data: bytes) -> np.ndarray:
    """An AD window is 5x128 float32, little-endian, as the .bin file holds it."""
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    info = np.iinfo(spec.dtype)
    # TFLite Micro rounds half away from zero (C round()), numpy's rint does not.
    q = np.trunc(x.astype(np.float64) / spec.scale + np.copysign(0.5, x)) + spec.zero_point
    return np.clip(q, info.min, info.max).astype(spec.dtype)


def dequantize(q: np.ndarray, spec: TensorSpec) -> np.ndarray:
    if not spec.quantized:
        return np.asarray(q, dtype=np.float64)
    # float32 arithmetic, as the firmware's (q - zero_point) * scale in C floats
    return ((q.astype(np.int32) - spec.zero_point).astype(np.float32)
            * np.float32(spec.scale)).astype(np.float64)


def _kws_input(data: bytes, spec: TensorSpec) -> np.ndarray:
    # The kws01 .bin files are already quantised with the model's input parameters.
    if spec.dtype != np.int8:
        raise ConfigError(f"kws model input is {spec.dtype}, the stimuli are int8 MFCCs",
                          hint="use kws_ref_model.tflite (int8 input)")
    return np.frombuffer(data, dtype=np.int8)


def _image_input(data: bytes, spec: TensorSpec) -> np.ndarray:
    pixels = np.frombuffer(data, dtype=np.uint8)
    if spec.dtype == np.uint8:
        return pixels
    # The reference firmware subtracts 128 from each uint8 pixel; that equals
    # quantising the pixel only when the input zero point is -128.
    if spec.dtype == np.int8 and spec.zero_point == -128:
        return (pixels.astype(np.int16) - 128).astype(np.int8)
    raise ConfigError(f"image model input {spec.dtype} (zero point {spec.zero_point}) does not "
                      "match the firmware's uint8-128 conversion",
                      hint="use the reference int8 model (input zero point -128)")
