"""Shared fixtures. Inputs come through the project's own fetch layer, with the
offline mirror (TINYREPRO_MIRROR, set by the Makefile and .ci/run) as its source."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]


# Property tests run the same examples on every machine (derandomized, no example database
# written into the clone); each test sets its own small max_examples (see the test modules).
settings.register_profile("tinyrepro", derandomize=True, database=None, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "tinyrepro"))


def pytest_addoption(parser):
    parser.addoption("--board", action="store", default=None,
                     help="serial port of a real board; enables tests marked 'board'")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--board"):
        return
    skip = pytest.mark.skip(reason="needs a real board: pass --board /dev/ttyACM0")
    for item in items:
        if "board" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fetcher(tmp_path_factory):
    from bundle.fetch.fetcher import Fetcher

    mirror = os.environ.get("TINYREPRO_MIRROR")
    if not mirror:
        pytest.skip("no mirror: set TINYREPRO_MIRROR (make test sets it to ../shared/data)")
    cache = Path(os.environ.get("TINYREPRO_CACHE", REPO / "artifacts" / "cache"))
    return Fetcher.from_lock(cache_dir=cache, mirror=Path(mirror), offline=True, progress=False)


@pytest.fixture(scope="session")
def published_root(fetcher) -> Path:
    """A folder laid out like upstream closed/OctoML/ (results/, systems/, tuning/)."""
    return fetcher.fetch_tree("published/octoml-v1.0/")


@pytest.fixture(scope="session")
def kws_dataset(fetcher) -> Path:
    """datasets/kws01/: 1000 stimuli plus y_labels.csv."""
    return fetcher.fetch_tree("datasets/kws01/")


@pytest.fixture(scope="session")
def kws_model(fetcher) -> Path:
    return fetcher.fetch("models/kws_ref_model.tflite")
