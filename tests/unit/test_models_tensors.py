"""Stimulus -> input tensor and output -> printed value conversions."""
from __future__ import annotations

import numpy as np
import pytest

from bundle.errors import ConfigError
from bundle.models.tensors import (TensorSpec, check_fits, dequantize, quantize, to_input,
                                   to_values)
from bundle.models.tvm_relax import cache_key

INT8_IMG = TensorSpec((1, 2, 2, 1), np.dtype(np.int8), 1.0, -128)


def test_image_pixels_are_shifted_by_128_like_the_reference_firmware():
    x = to_input(bytes([0, 127, 128, 255]), "ic", INT8_IMG)
    assert x.dtype == np.int8 and x.shape == (1, 2, 2, 1)
    assert x.reshape(-1).tolist() == [-128, -1, 0, 127]


def test_uint8_image_model_gets_raw_pixels():
    spec = TensorSpec((1, 4), np.dtype(np.uint8), 1 / 255, 0)
    assert to_input(bytes([0, 9, 200, 255]), "vww", spec).tolist() == [[0, 9, 200, 255]]


def test_image_model_with_other_zero_point_is_refused():
    with pytest.raises(ConfigError):
        to_input(bytes(4), "ic", TensorSpec((1, 4), np.dtype(np.int8), 1.0, 0))


def test_kws_bytes_are_the_int8_tensor():
    spec = TensorSpec((1, 2, 2, 1), np.dtype(np.int8), 0.58, 83)
    assert to_input(bytes([0x80, 0xFF, 0, 5]), "kws", spec).reshape(-1).tolist() == [-128, -1, 0, 5]


def test_ad_window_is_float32_little_endian_and_result_is_mse():
    window = np.array([1.0, -2.0, 0.5, 4.0], dtype="<f4")
    spec = TensorSpec((1, 4), np.dtype(np.float32))
    assert to_input(window.tobytes(), "ad", spec).tolist() == [window.tolist()]
    recon = np.array([[1.0, -1.0, 0.5, 2.0]], dtype=np.float32)
    assert to_values(recon, "ad", spec, window.tobytes()) == [pytest.approx((1 + 4) / 4)]


def test_ad_int8_model_quantises_the_window_and_dequantises_the_reconstruction():
    spec = TensorSpec((1, 2), np.dtype(np.int8), 0.5, 10)
    window = np.array([1.0, -1.0], dtype="<f4").tobytes()
    assert to_input(window, "ad", spec).tolist() == [[12, 8]]
    out = np.array([[12, 10]], dtype=np.int8)      # dequantised: [1.0, 0.0]
    assert to_values(out, "ad", spec, window) == [pytest.approx(0.5)]


def test_quantize_rounds_half_away_from_zero_and_saturates():
    spec = TensorSpec((5,), np.dtype(np.int8), 1.0, 0)
    assert quantize(np.array([0.5, -0.5, 1.5, 300.0, -300.0]), spec).tolist() == [1, -1, 2, 127, -128]


def test_dequantize_uses_scale_and_zero_point():
    spec = TensorSpec((3,), np.dtype(np.int8), 1 / 256, -128)
    assert dequantize(np.array([-128, 127, 0], dtype=np.int8), spec).tolist() == [0.0, 255 / 256, 0.5]


def test_classifier_values_are_plain_floats():
    spec = TensorSpec((1, 2), np.dtype(np.int8), 1 / 256, -128)
    vals = to_values(np.array([[127, -128]], dtype=np.int8), "vww", spec, b"")
    assert vals == [255 / 256, 0.0] and all(type(v) is float for v in vals)


@pytest.mark.parametrize("bench,shape,ok", [
    ("kws", (1, 49, 10, 1), True), ("ic", (1, 32, 32, 3), True), ("vww", (1, 96, 96, 3), True),
    ("ad", (1, 640), True), ("ic", (1, 49, 10, 1), False), ("ad", (1, 2560), False)])
def test_model_must_take_one_stimulus(bench, shape, ok):
    spec = TensorSpec(shape, np.dtype(np.int8), 1.0, -128)
    if ok:
        check_fits(bench, spec, "m.tflite")
    else:
        with pytest.raises(ConfigError):
            check_fits(bench, spec, "m.tflite")


def test_tvm_cache_key_changes_with_model_version_and_target():
    base = cache_key(b"model", "0.27.0", "llvm")
    assert base == cache_key(b"model", "0.27.0", "llvm")
    others = [cache_key(b"model2", "0.27.0", "llvm"), cache_key(b"model", "0.28.0", "llvm"),
              cache_key(b"model", "0.27.0", "c")]
    assert len({base["digest"], *(k["digest"] for k in others)}) == 4
