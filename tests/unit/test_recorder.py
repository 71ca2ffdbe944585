"""The recorder writes completed stimuli on its own thread, in the order resuming relies on."""
import threading

import pytest

from bundle.errors import WriteError
from bundle.runner.logwriter import Journal, LogWriter
from bundle.runner.recorder import Recorder


def _rec(key: str) -> dict:
    return {"key": key, "values": [0.5], "block": [f"00000.001 dut: m-results-[{key}]"]}


def test_records_and_blocks_land_in_order_with_their_log_offsets(tmp_path):
    journal, logw = Journal(tmp_path / "run.jsonl"), LogWriter(tmp_path / "log.txt")
    rec = Recorder(journal, logw)
    rec.write(["00000.000 session: m-session-start-id[1]"])
    for key in "abc":
        r = _rec(key)
        rec.record(r, r["block"])
    rec.write(["00000.002 session: Saved this run to session ID 1"], final=True)
    rec.close()
    text = (tmp_path / "log.txt").read_text()
    records = journal.records()
    assert [r["key"] for r in records] == ["a", "b", "c"]
    for r in records:       # each record says where its block starts in the log
        assert text[r["log_at"]:].startswith(f"00000.001 dut: m-results-[{r['key']}]")
    assert text.endswith("ID 1")          # the trailer after every record queued before it


def test_close_writes_what_is_still_queued(tmp_path):
    journal, logw = Journal(tmp_path / "run.jsonl"), LogWriter(tmp_path / "log.txt")
    rec = Recorder(journal, logw)
    for i in range(50):
        r = _rec(str(i))
        rec.record(r, r["block"])
    rec.close()
    assert len(journal.records()) == 50
    assert (tmp_path / "log.txt").read_text().count("m-results-") == 50


def test_a_failed_write_surfaces_in_the_callers_thread_and_stops_later_writes(tmp_path):
    (tmp_path / "run.jsonl").mkdir()          # the journal cannot be opened for appending
    journal, logw = Journal(tmp_path / "run.jsonl"), LogWriter(tmp_path / "log.txt")
    rec = Recorder(journal, logw)
    r = _rec("a")
    rec.record(r, r["block"])
    with pytest.raises(WriteError, match="run.jsonl"):
        rec.flush()
    r = _rec("b")
    rec.record(r, r["block"])
    rec.write(["00000.002 runner: m-after"])
    rec.close()
    assert not (tmp_path / "log.txt").exists()    # no block without its record, nothing after the gap


def test_the_writer_is_its_own_thread(tmp_path):
    seen = []

    class Spy(Journal):
        def append(self, record):
            seen.append(threading.current_thread())
            super().append(record)

    rec = Recorder(Spy(tmp_path / "run.jsonl"), LogWriter(tmp_path / "log.txt"))
    r = _rec("a")
    rec.record(r, r["block"])
    rec.close()
    assert seen and seen[0] is not threading.current_thread()
