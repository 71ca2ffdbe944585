"""Old path of bundle/reproduce_config.py, kept only for the pipeline branch's importers: delete after its merge."""
from bundle.reproduce_config import BENCHMARKS, MODES, ReproduceConfig, load_reproduce_config, load_yaml  # noqa: F401
