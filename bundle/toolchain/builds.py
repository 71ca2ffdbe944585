"""Old path of bundle/toolchain/pins.py, kept only for the pipeline branch's importers: delete after its merge."""
from bundle.toolchain.pins import BUILDS, CMSIS_SHA, TVM_SHA, ZEPHYR_SDK_VERSION, ZEPHYR_VERSION, Build  # noqa: F401
