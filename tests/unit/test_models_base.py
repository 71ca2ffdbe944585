"""The backend registry, capability data and error paths (no runtime needed)."""
from __future__ import annotations

import pytest

from bundle.errors import ConfigError, ReproError
from bundle.models import base
from bundle.models.base import (INPUT_SIZES, BackendUnavailable, available_backends,
                                check_benchmark, get_backend, require_packages)


def test_unknown_backend_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError) as exc:
        get_backend("onnx")
    assert "litert" in exc.value.hint and "tvm" in exc.value.hint


@pytest.mark.parametrize("name", ["litert", "litert-ref", "tvm"])
def test_backends_declare_capabilities_as_data(name):
    cls = get_backend(name)
    assert cls.name == name
    caps = cls.capabilities
    assert set(caps["benchmarks"]) <= set(INPUT_SIZES)
    assert isinstance(caps["compiles"], bool) and isinstance(caps["bit_exact_reference"], bool)
    assert all(isinstance(m, str) for m in caps["requires"])


def test_available_backends_gives_none_or_a_reason():
    avail = available_backends()
    assert set(avail) == {"litert", "litert-ref", "tvm"}
    assert all(v is None or isinstance(v, str) and v for v in avail.values())


def test_missing_package_names_the_pip_package(monkeypatch):
    monkeypatch.setitem(base._PIP_NAMES, "no_such_module_b2", "no-such-dist")
    with pytest.raises(BackendUnavailable) as exc:
        require_packages("x", ["no_such_module_b2"])
    assert isinstance(exc.value, ReproError)
    assert "pip install no-such-dist" in exc.value.hint


def test_missing_package_makes_a_backend_unavailable(monkeypatch):
    cls = get_backend("tvm")
    monkeypatch.setitem(cls.capabilities, "requires", ["no_such_module_b2"])
    assert "no_such_module_b2" in available_backends()["tvm"]


@pytest.mark.parametrize("bench", ["kws01", "", "sww", "AD"])
def test_unknown_benchmark_is_a_config_error(bench):
    with pytest.raises(ConfigError):
        check_benchmark(bench, list(INPUT_SIZES))


def test_input_sizes_are_the_eembc_stimulus_sizes():
    assert INPUT_SIZES == {"kws": 490, "ic": 3072, "vww": 27648, "ad": 2560}
