"""`tinyrepro reproduce` picks its DUT: a board, else the published code on the host, else the sim."""
from __future__ import annotations

from pathlib import Path

from bundle.dut.select import choose_dut
from bundle.errors import NetworkUnavailable


def _unreachable() -> Path:
    raise NetworkUnavailable("mlcommons/tiny_results_v1.0@c7761cf84076 is not in the cache or the mirror, and offline")


def test_a_board_wins_without_probing_anything():
    choice = choose_dut("/dev/ttyACM0", fetch_code=_unreachable, have_compiler=lambda: False)
    assert choice.kind == "board" and "/dev/ttyACM0" in choice.reason


def test_host_when_the_published_code_is_reachable(tmp_path):
    choice = choose_dut(None, fetch_code=lambda: tmp_path, have_compiler=lambda: True)
    assert choice.kind == "host" and choice.code_root == tmp_path and "published firmware code" in choice.reason


def test_sim_with_the_reason_when_the_code_is_not_reachable():
    choice = choose_dut(None, fetch_code=_unreachable, have_compiler=lambda: True)
    assert choice.kind == "sim" and "not reachable" in choice.reason and "offline" in choice.reason


def test_sim_when_there_is_no_compiler(tmp_path):
    choice = choose_dut(None, fetch_code=lambda: tmp_path, have_compiler=lambda: False)
    assert choice.kind == "sim" and "compiler" in choice.reason


def test_sim_when_asked_for_even_with_the_code_reachable(tmp_path):
    def must_not_fetch() -> Path:
        raise AssertionError("the code tree was fetched although the sim was asked for")

    choice = choose_dut(None, fetch_code=must_not_fetch, have_compiler=lambda: True, requested="sim")
    assert choice.kind == "sim" and "asked for" in choice.reason
