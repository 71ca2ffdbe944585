"""OctoML's own generated code shows that TVM e3a6cb6a does not fix the order of the AOT main's
constants and buffers: the cmsis_nn `default_lib1.c` of each benchmark, compiled once per board,
differs between NUCLEO-L4R5ZI and nRF5340-DK only in the target line and in that order. This is
what lets codediff call a reordered regenerated file equivalent (bundle/toolchain/codediff.py)."""
from __future__ import annotations

import pytest

from bundle.dut.native_project import published_code_tree
from bundle.toolchain.codediff import normalize, order_free

LIB1 = "microtvm_cmsis_nn/{board}/{bench}/model/codegen/host/src/default_lib1.c"


@pytest.fixture(scope="module")
def code(fetcher):
    return published_code_tree(fetcher.cache_dir, fetcher.mirror, offline=True)


def _lines(code, board: str, bench: str) -> list[str]:
    lines = normalize((code / LIB1.format(board=board, bench=bench)).read_text())
    assert lines[0].startswith("// tvm target: c ")
    return lines[1:]


@pytest.mark.parametrize("bench", ["kws", "ic", "vww", "ad"])
def test_the_two_boards_differ_only_in_declaration_order(code, bench):
    nucleo, nrf = _lines(code, "NUCLEO_L4R5ZI", bench), _lines(code, "NRF5340DK", bench)
    assert nucleo != nrf                               # the order really differs...
    assert order_free(nucleo) == order_free(nrf)       # ...and nothing else does
