"""EEMBC scoring against the spec's worked examples and small hand-checked cases."""
from __future__ import annotations

import numpy as np
import pytest

from bundle import scoring
from bundle.errors import ParseError

# microtvm_native / NUCLEO_L4R5ZI / kws / performance (spec §4.1)
LAPS = [22511000, 24077000, 38489000, 40062000, 54459000, 56032000, 70447000, 72021000,
        86403000, 87976000, 102378000]


def test_throughput_windows_reproduce_worked_example():
    windows = scoring.throughput_windows(LAPS, 100)
    assert [w.index for w in windows] == [2, 4, 6, 8, 10]
    assert [f"{w.runtime_s:.3f}" for w in windows] == ["14.412", "14.397", "14.415", "14.382", "14.402"]
    assert [f"{w.throughput:.3f}" for w in windows] == ["6.939", "6.946", "6.937", "6.953", "6.943"]
    assert all(w.valid for w in windows)
    assert f"{scoring.median_throughput(windows):.3f}" == "6.943"
    assert f"{scoring.latency_ms(6.943):.2f}" == "144.03"


def test_lap_deltas_wrap_modulo_2_32():
    assert scoring.lap_deltas_us([2**32 - 1000, 500]) == [1500]


def test_short_or_small_window_is_invalid():
    laps = [0, 1_000_000, 10_999_999, 11_000_000, 22_000_000]
    w2, w4 = scoring.throughput_windows(laps, 10)
    assert not w2.valid and w4.valid            # 9.999999 s < 10 s
    assert not scoring.throughput_windows([0, 0, 20_000_000], 9)[0].valid   # N < 10


@pytest.mark.parametrize("laps", [[1], [1, 2], [1, 2, 3, 4]])
def test_wrong_lap_count_raises(laps):
    with pytest.raises(ParseError, match="m-lap-us values"):
        scoring.throughput_windows(laps, 100)


def test_top1_takes_first_index_on_ties():
    scores = [[0.5, 0.5], [0.5, 0.5], [0.1, 0.9]]
    assert scoring.top1(scores, [0, 1, 1]) == pytest.approx(200 / 3)


def test_eembc_auc_is_not_rank_auc():
    # Scores above 0.99 share one bin: the simplified AUC cannot separate them.
    scores = [[0.005, 0.995], [0.004, 0.996], [0.996, 0.004], [0.995, 0.005]]
    labels = [1, 1, 0, 0]
    assert scoring.eembc_auc(scores, labels) == pytest.approx(1.0)
    tied = [[0.0, 0.995], [0.0, 0.996]]
    # Class 0 has no positives: left out; class 1: positive and negative in one bin -> 0.5.
    assert scoring.eembc_auc(tied, [1, 0]) == pytest.approx(0.5)


def test_eembc_auc_threshold_equal_score_is_not_above():
    # A score exactly at a threshold k/100 is not counted as "> t".
    scores = [[0.93, 0.07], [0.07, 0.93]]
    assert scoring.eembc_auc(scores, [0, 1]) == pytest.approx(1.0)


def test_ad_scores_top1_auc():
    mse = [1.0, 3.0, 2.0, 2.0, 10.0, 12.0]
    files = scoring.ad_file_scores(mse, windows_per_file=2)
    assert files == [2.0, 2.0, 11.0]
    assert scoring.ad_top1(files, [0, 0, 1]) == 100.0
    assert scoring.ad_auc(files, [0, 0, 1]) == pytest.approx(1.0)
    with pytest.raises(ParseError, match="not a multiple of 196"):
        scoring.ad_file_scores([1.0] * 195)


def test_energy_windows_sum_samples_between_edges():
    samples = np.full(30000, 2.0)                    # 2 uJ per 1 ms sample
    ts = [0.013, 1.0, 12.0, 13.0, 24.5]
    w2, w4 = scoring.energy_windows(samples, 1000.0, ts, 50)
    assert (w2.samples, w2.energy_uj, w2.energy_per_inf_uj) == (11000, 22000.0, 440.0)
    assert w2.power_uw == pytest.approx(2000.0)
    assert w4.throughput == pytest.approx(50 / 11.5)
    assert scoring.median_energy([w2, w4]) == pytest.approx((440.0 + 460.0) / 2)


def test_energy_edges_outside_trace_raise():
    with pytest.raises(ParseError, match="outside the trace"):
        scoring.energy_windows(np.ones(100), 1000.0, [0.0, 0.05, 0.2], 10)


@pytest.mark.parametrize("count, reason", [
    (11, None), (7, "incomplete run: 7 of 11 timestamps"), (3, "incomplete run: 3 of 11 timestamps"),
    (13, "incomplete run: 13 of 11 timestamps"),
])
def test_only_an_eleven_edge_run_is_complete(count, reason):
    # The window functions take any odd count (the method); a published number needs all 5 infers.
    assert scoring.incomplete_run(count) == reason
    assert len(scoring.throughput_windows(list(range(0, count * 20_000_000, 20_000_000)), 100)) == count // 2
