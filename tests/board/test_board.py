"""Opt-in: a real board flashed with one of OctoML's builds, on a serial port.

    make test PYTEST_ARGS="--board /dev/ttyACM0 -m board"

Off by default (no --board: skipped with the reason). The same runner and checks as the
software-DUT tests, against the hardware: handshake, profile, and a KWS accuracy prefix whose
outputs are compared with the published log of the build on the board.
"""
from __future__ import annotations

import pytest

from bundle.published.logs import parse_log
from bundle.runner.protocol import DutClient, Link
from bundle.runner.session import run_benchmark

pytestmark = pytest.mark.board
NATIVE_KWS = "results/microtvm_native/NUCLEO_L4R5ZI/kws/accuracy/log.txt"


@pytest.fixture
def port(request) -> str:
    return request.config.getoption("--board")


def test_handshake_and_profile(port):
    link = Link.open(port, 115200)
    try:
        client = DutClient(link)
        vendor, _ = client.name(timeout_s=5)
        model, _ = client.profile()
    finally:
        link.close()
    assert vendor
    assert model in {"kws01", "ic01", "vww01", "ad01"}


def test_kws_accuracy_prefix_against_the_published_log(port, kws_dataset, published_root, tmp_path):
    result = run_benchmark(port, "kws", "accuracy", kws_dataset, tmp_path, limit=50)
    ours = parse_log(tmp_path / "log.txt").outputs
    published = parse_log(published_root / NATIVE_KWS).outputs[:50]
    assert len(ours) == 50 and result.faults == 0
    equal = sum(a.values == b.values for a, b in zip(ours, published))
    print(f"board: {equal}/50 output vectors equal to the published native KWS log")
    assert equal >= 45  # the same firmware should print the same vectors
