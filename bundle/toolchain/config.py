"""Old path of bundle/toolchain/compile_config.py, kept only for the pipeline branch's importers: delete after its merge."""
from bundle.toolchain.compile_config import CompileConfig, compile_configs, config_for, load_compile_configs  # noqa: F401
