"""Old path of bundle/submission_builds.py, kept only for the pipeline/dut branches' importers: delete after their merge."""
from bundle.submission_builds import MODELS, Build, check_system, iterations, iterations_from_script, load_builds, pins  # noqa: F401
