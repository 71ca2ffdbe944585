"""DUT-side harness rules and the runner's reply checks, over a real pty pair."""
from __future__ import annotations

import os
import tty
from pathlib import Path

import pytest

from bundle.dut.harness import Harness, format_value, truncate_command
from bundle.runner.protocol import DutClient, DutRebooted, Link, ReplyFault, ReplyTimeout

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "runner"


@pytest.mark.parametrize("value,text", [(0.0625, "0.062"), (0.1875, "0.187"), (1 / 256, "0.004"),
                                        (2 / 256, "0.008"), (0.99609375, "0.996"), (11.8886, "11.889")])
def test_results_round_ties_toward_zero(value, text):
    assert format_value(value) == text


def _harness():
    return Harness(infer_fn=lambda b: [b[0] / 256] + [0.0] * 11, input_size=490, benchmark="kws")


def test_harness_chunk_limit_is_38_bytes():
    h = _harness()
    assert h.command("db load 490")[0] == "m-[Expecting 490 bytes]\r\n"
    assert h.command("db " + "ab" * 38) == ["m-ready\r\n"]
    assert h.command("db " + "ab" * 39)[0] == "e-[Insufficent number of hex digits]\r\n"
    assert len(truncate_command("x" * 100)) == 80


def test_harness_quirks():
    h = _harness()
    assert h.command("db load 999999")[0].endswith("exceeds maximum of 27648\n")
    assert h.command("infer")[0] == "m-warmup-start-10\r\n"      # W defaults to 10
    assert h.command("bogus")[0] == "e-[Unknown command: bogus]\r\n"
    assert h.command("infer 0 0")[0] == "e-[Inference iterations must be >0]\r\n"


@pytest.fixture
def pty_link():
    master, slave = os.openpty()
    tty.setraw(master)
    link = Link.open(os.ttyname(slave), 115200)
    yield master, link
    link.close()
    os.close(master)
    os.close(slave)


@pytest.mark.parametrize("case", sorted(p.name for p in CORPUS.glob("*.txt")))
def test_bad_infer_replies_are_faults(case, pty_link):
    master, link = pty_link
    os.write(master, (CORPUS / case).read_bytes())
    with pytest.raises((ReplyFault, ReplyTimeout, DutRebooted)) as err:
        DutClient(link).infer(1, 0, 12, timeout_s=0.3)
    assert err.value.lines or isinstance(err.value, ReplyTimeout)


def _infer_reply(lap0: int, lap1: int) -> bytes:
    values = ",".join(["0.000"] * 7 + ["0.996"] + ["0.000"] * 4)
    lines = ["m-warmup-start-0", "m-warmup-done", "m-infer-start-1", f"m-lap-us-{lap0}",
             f"m-lap-us-{lap1}", "m-infer-done", f"m-results-[{values}]", "m-ready"]
    return "".join(f"{ln}\r\n" for ln in lines).encode()


@pytest.mark.parametrize("laps", [(24077000, 24077146), (2**32 - 100, 46)])   # the second wraps at 2^32
def test_infer_reply_with_plausible_laps_passes(laps, pty_link):
    master, link = pty_link
    os.write(master, _infer_reply(*laps))
    reply = DutClient(link).infer(1, 0, 12, timeout_s=0.3)
    assert reply.laps == list(laps) and reply.values[7] == 0.996


@pytest.mark.parametrize("laps,longest,shortest,ok", [
    ((22511000, 36923000), 14.45, 14.40, True),     # the published KWS window 2: 14.412 s
    ((22511000, 3692300), 14.45, 14.40, False),     # ... with a digit lost from the second lap
    ((2251100, 36923000), 14.45, 14.40, False),     # ... or from the first
    ((22511000, 36923000), 14.45, 0.0, True),       # both laps arrived together (buffered)
    ((22511000, 22511000), 0.30, 0.29, False),      # the clock did not advance over 0.3 s
    ((22511000, 22511000), 0.001, 0.0, True),       # a sub-tick inference on a 1 ms clock
])
def test_lap_interval_must_fit_the_host_clock(laps, longest, shortest, ok):
    from bundle.runner.protocol import check_lap_interval

    sent = 100.0
    arrived = [sent + longest - shortest, sent + longest]
    if ok:
        check_lap_interval(list(laps), arrived, sent, [])
    else:
        with pytest.raises(ReplyFault, match="implausible m-lap-us pair"):
            check_lap_interval(list(laps), arrived, sent, [])
