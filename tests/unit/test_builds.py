"""The builds description (bundle/data/builds.yaml) against the published script.async files."""
from __future__ import annotations

from pathlib import Path

import pytest

from bundle.submission_builds import iterations, iterations_from_script, load_builds
from bundle.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "builds"


def test_every_published_system_and_benchmark_is_a_build():
    builds = load_builds()
    names = {b.name for b in builds}
    assert len(names) == len(builds) == 20  # 2 NUCLEO systems x 4 x (perf, energy) + nRF5340 x 4
    nrf = [b for b in builds if "NRF5340" in b.system]
    assert {b.zephyr_board for b in nrf} == {"nrf5340dk_nrf5340_cpuapp"} and not any(b.energy for b in nrf)


def test_iteration_counts_equal_the_published_scripts(published_root):
    """Each N/W in builds.yaml is what OctoML's own script.async sent."""
    checked = 0
    for script in sorted((published_root / "results").glob("*/*/*/*/script.async")):
        mode = script.parent.name
        if mode == "accuracy":
            continue
        bench, board, variant = script.parts[-3], script.parts[-4], script.parts[-5]
        assert iterations(f"{variant}/{board}", bench, mode) == iterations_from_script(script), script
        checked += 1
    assert checked == 20  # 2 NUCLEO systems x 4 benchmarks x (performance, energy) + nRF5340-DK performance


def test_accuracy_is_always_infer_1_0():
    assert iterations("microtvm_cmsis_nn/NRF5340-DK", "vww", "accuracy") == (1, 0)


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_bad_builds_files(case):
    with pytest.raises(ConfigError):
        load_builds(CORPUS / case)
