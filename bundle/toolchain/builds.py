"""The builds of the OctoML submission as data: variant x benchmark, with the pinned toolchain.

Pins come from the published system descriptions (TVM and CMSIS-NN SHAs, Zephyr 2.7.3,
SDK 0.13.2); tests check the Dockerfile uses the same values.
"""
from __future__ import annotations

from dataclasses import dataclass

from bundle.fetch.lock import load_lock

# The pins live in one place, artifacts/lock.yaml (section toolchain:).
_PINS = load_lock().toolchain
TVM_SHA = _PINS["tvm"]["commit"]
CMSIS_SHA = _PINS["cmsis"]["commit"]
ZEPHYR_VERSION = _PINS["zephyr"]["tag"]
ZEPHYR_SDK_VERSION = str(_PINS["zephyr_sdk"]["version"])
BOARD = "nucleo_l4r5zi"
RESULTS_BOARD = "NUCLEO_L4R5ZI"   # the board folder name in the published results tree
VARIANTS = ("microtvm_cmsis_nn", "microtvm_native")

# benchmark -> model file (models/ in the lock), as matched against the published C code.
MODELS = {
    "kws": "kws_ref_model.tflite",
    "ic": "pretrainedResnet_quant.tflite",
    "vww": "vww_96_int8.tflite",
    "ad": "model_ToyCar_quant_fullint_micro.tflite",
}


@dataclass(frozen=True)
class Build:
    variant: str        # microtvm_cmsis_nn | microtvm_native
    benchmark: str      # kws | ic | vww | ad
    energy: bool = False  # energy-mode firmware talks to the IO manager at 9600 baud

    @property
    def model(self) -> str:
        return MODELS[self.benchmark]

    @property
    def system(self) -> str:
        return f"{self.variant}/{RESULTS_BOARD}"

    @property
    def name(self) -> str:
        return f"{self.variant}-{self.benchmark}" + ("-energy" if self.energy else "")

    @property
    def baud(self) -> int:
        return 9600 if self.energy else 115200

    @property
    def tuning_file(self) -> str | None:
        # Only the native variant was compiled with AutoTVM records; CMSIS-NN offloads the ops.
        if self.variant != "microtvm_native":
            return None
        return f"microtvm_zephyr_nucleo_l4r5zi_{self.benchmark}.tune"


BUILDS: tuple[Build, ...] = tuple(
    Build(v, b, e) for v in VARIANTS for b in MODELS for e in (False, True)
)
